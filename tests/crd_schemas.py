"""Strict validation of custom resources against their CRDs' own schemas (tests/crds/README.md).

kubernetes-validate bundles the schemas of the built-in kinds only. A CRD carries the schema of
each of its versions as an OpenAPI v3 subset, which jsonschema checks. What the API server adds,
this module adds too: an object schema that lists its properties admits no others, unless it is
marked x-kubernetes-preserve-unknown-fields, as the server prunes or (with kubectl's default
`--validate=strict`) refuses unknown fields.
"""

import copy
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

CRDS = Path(__file__).parent / "crds"

Schema = dict[str, Any]


@cache
def schemas() -> dict[tuple[str, str], Schema]:
    """Each served version's schema of every CRD in tests/crds, by (apiVersion, kind)."""
    found = {}
    for path in sorted(CRDS.glob("*.yaml")):
        for crd in yaml.safe_load_all(path.read_text()):
            if not crd:
                continue
            spec = crd["spec"]
            for version in spec["versions"]:
                if version["served"]:
                    api_version = f"{spec['group']}/{version['name']}"
                    schema = version["schema"]["openAPIV3Schema"]
                    found[api_version, spec["names"]["kind"]] = strict(schema)
    return found


def strict(schema: Schema) -> Schema:
    """The schema with additionalProperties false where the API server keeps known fields only."""
    schema = copy.deepcopy(schema)

    def close(node: Any) -> None:
        if isinstance(node, dict):
            if (
                node.get("type") == "object"
                and "properties" in node
                and "additionalProperties" not in node
                and not node.get("x-kubernetes-preserve-unknown-fields")
            ):
                node["additionalProperties"] = False
            for value in node.values():
                close(value)
        elif isinstance(node, list):
            for value in node:
                close(value)

    close(schema)
    return schema


def has_schema(manifest: dict[str, Any]) -> bool:
    return (manifest["apiVersion"], manifest["kind"]) in schemas()


def errors(manifest: dict[str, Any]) -> list[str]:
    """What the CRD's schema refuses in `manifest`, one line per error."""
    schema = schemas()[manifest["apiVersion"], manifest["kind"]]
    # OpenAPI v3.0's keywords are those of JSON Schema draft 4 (a boolean exclusiveMinimum, say).
    validator = jsonschema.Draft4Validator(schema)
    return [
        f"{'.'.join(str(part) for part in error.absolute_path)}: {error.message}"
        for error in validator.iter_errors(manifest)
    ]
