"""Static checks of the generated Dockerfile and local stack, for every framework.

The image itself is built and run in test_container.py; docker compose cannot run here, so its
file is checked against the Compose specification and against the project it lives in.
"""

import fnmatch
import json
import re
import subprocess
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from .conftest import checkov_report, require, run

COMPOSE = "docker-compose.yml"


def compose(project: Path) -> dict[str, Any]:
    return yaml.safe_load((project / COMPOSE).read_text())


def bind_mounts(service: dict[str, Any]) -> dict[str, str]:
    """Container path -> host path (relative to the project) of each bind mount."""
    mounts = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
            if source.startswith((".", "/")):
                mounts[target] = source
        elif volume.get("type") == "bind":
            mounts[volume["target"]] = volume["source"]
    return mounts


def host_path(project: Path, service: dict[str, Any], container_path: str) -> Path | None:
    """Where `container_path` comes from on the host, through the service's bind mounts."""
    path = PurePosixPath(container_path)
    for target, source in bind_mounts(service).items():
        if path == PurePosixPath(target) or PurePosixPath(target) in path.parents:
            return project / source / path.relative_to(target)
    return None


def dockerfile_healthcheck(project: Path) -> list[str]:
    """The exec-form command of the Dockerfile's HEALTHCHECK."""
    text = (project / "Dockerfile").read_text().replace("\\\n", " ")
    found = re.search(r"^HEALTHCHECK .*?CMD (\[.*\])$", text, re.MULTILINE)
    assert found, "the Dockerfile has no exec-form HEALTHCHECK"
    return json.loads(found.group(1))


def excluded_from_context(patterns: list[str], path: str) -> bool:
    """Whether .dockerignore `patterns` leave `path` out of the build context.

    Docker's rules: the last pattern that matches decides, `!` lets a path back in, and a
    pattern that matches a folder matches everything in it.
    """
    parts = PurePosixPath(path).parts
    candidates = ["/".join(parts[:end]) for end in range(1, len(parts) + 1)]
    excluded = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        glob = pattern.removeprefix("!").strip("/")
        if any(fnmatch.fnmatchcase(candidate, glob) for candidate in candidates):
            excluded = not negated
    return excluded


def test_dockerfile_passes_hadolint(baked: Path) -> None:
    result = subprocess.run(
        [require("hadolint"), "--no-color", "--failure-threshold", "style", "Dockerfile"],
        cwd=baked,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_dockerfile_passes_checkov_with_every_skip_justified(baked: Path) -> None:
    report = checkov_report("--file", "Dockerfile", "--framework", "dockerfile", cwd=baked)
    assert report["summary"]["failed"] == 0, json.dumps(report["results"]["failed_checks"])
    assert report["summary"]["passed"] > 0
    for skipped in report["results"]["skipped_checks"]:
        assert skipped["check_result"].get("suppress_comment", "").strip(), skipped["check_id"]


def test_compose_file_follows_the_compose_specification(baked: Path) -> None:
    check = require("check-jsonschema")
    run([check, "--builtin-schema", "vendor.compose-spec", COMPOSE], cwd=baked)


def test_compose_builds_and_mounts_only_what_the_project_holds(baked: Path) -> None:
    spec = compose(baked)
    build = spec["services"]["app"]["build"]
    assert (baked / build["context"] / build.get("dockerfile", "Dockerfile")).is_file()
    named_volumes = set(spec.get("volumes") or {})
    checked = 0
    for name, service in spec["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0] if isinstance(volume, str) else volume.get("source")
            if source.startswith((".", "/")):
                assert (baked / source).exists(), f"{name} mounts {source}, which is missing"
                checked += 1
            else:
                assert source in named_volumes, f"{name} uses undeclared volume {source}"
    assert checked >= 5


def test_every_service_has_a_healthcheck_and_waits_for_healthy_dependencies(
    baked: Path,
) -> None:
    services = compose(baked)["services"]
    assert {"app", "prometheus", "grafana", "locust"} <= set(services)
    for name, service in services.items():
        assert service["healthcheck"]["test"][0] == "CMD", f"{name} has no exec-form healthcheck"
        for dependency, condition in (service.get("depends_on") or {}).items():
            assert dependency in services
            assert condition == {"condition": "service_healthy"}, f"{name} -> {dependency}"
    assert "app" in services["prometheus"]["depends_on"]
    assert "prometheus" in services["grafana"]["depends_on"]
    assert "app" in services["locust"]["depends_on"]
    # The app's check is the image's own: the two must not drift apart.
    assert services["app"]["healthcheck"]["test"][1:] == dockerfile_healthcheck(baked)


def test_compose_gives_the_app_longer_to_stop_than_gunicorns_graceful_timeout(
    baked: Path,
) -> None:
    grace = compose(baked)["services"]["app"]["stop_grace_period"]
    example = (baked / ".env.example").read_text()
    graceful = re.search(r"^\w+_GRACEFUL_TIMEOUT=(\d+)$", example, re.MULTILINE)
    assert graceful is not None
    # Docker sends SIGKILL after the grace period: requests in flight need gunicorn's whole time.
    assert re.fullmatch(r"\d+s", grace)
    assert int(grace[:-1]) > int(graceful.group(1))


def test_load_generator_runs_only_in_its_profile_with_the_locustfile_mounted(baked: Path) -> None:
    locust = compose(baked)["services"]["locust"]
    assert locust["profiles"] == ["loadtest"]
    command = locust["command"]
    locustfile = command[command.index("-f") + 1]
    assert host_path(baked, locust, locustfile) == baked / "loadtest" / "locustfile.py"
    assert (baked / "loadtest" / "locustfile.py").is_file()
    # It samples its rows from the metadata saved beside the model, which `make train` writes.
    # The same model path setting as the app's, from .env, resolved in its working directory.
    app = compose(baked)["services"]["app"]
    setting = next(name for name in locust["environment"] if name.endswith("_MODEL_PATH"))
    assert locust["environment"][setting] == app["environment"][setting]
    variable, default = re.fullmatch(r"\$\{(\w+):-(.+)\}", app["environment"][setting]).groups()  # type: ignore[union-attr]
    assert variable == setting  # .env's value, or the service's default
    model = host_path(baked, locust, str(PurePosixPath(locust["working_dir"]) / default))
    assert model == baked / "models" / Path(default).name
    assert model.with_suffix(".metadata.json") == baked / "models" / "model.metadata.json"
    assert command[command.index("--host") + 1] == "http://app:8000"


def test_prometheus_config_passes_promtool_as_compose_mounts_it(
    baked: Path, tmp_path: Path
) -> None:
    promtool = require("promtool")
    prometheus = compose(baked)["services"]["prometheus"]
    config_path = host_path(baked, prometheus, "/etc/prometheus/prometheus.yml")
    assert config_path == baked / "prometheus" / "prometheus.yml"
    config = yaml.safe_load(config_path.read_text())
    assert config["rule_files"] == ["/etc/prometheus/rules/*.yml"]
    targets = [
        target
        for job in config["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
    ]
    assert targets == ["app:8000"]
    # Checked with the rule files compose mounts, wherever they lie on this machine.
    rules = [host_path(baked, prometheus, pattern) for pattern in config["rule_files"]]
    assert all(rule is not None and rule.parent.is_dir() for rule in rules)
    config["rule_files"] = [str(rule) for rule in rules]
    checked = tmp_path / "prometheus.yml"
    checked.write_text(yaml.safe_dump(config))
    output = run([promtool, "check", "config", str(checked)], cwd=tmp_path)
    assert "SUCCESS" in output


def test_grafana_is_provisioned_with_the_stack_prometheus_and_dashboards(baked: Path) -> None:
    services = compose(baked)["services"]
    grafana = services["grafana"]
    provisioning = host_path(baked, grafana, "/etc/grafana/provisioning")
    assert provisioning == baked / "grafana" / "provisioning"

    datasources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    (source,) = datasources["datasources"]
    assert (source["uid"], source["type"], source["isDefault"]) == (
        "prometheus",
        "prometheus",
        True,
    )
    assert source["url"] == "http://prometheus:9090"
    assert any(port.endswith(":9090") for port in services["prometheus"]["ports"])

    providers = yaml.safe_load((provisioning / "dashboards" / "provider.yml").read_text())
    (provider,) = providers["providers"]
    assert provider["type"] == "file"
    dashboards = host_path(baked, grafana, provider["options"]["path"])
    assert dashboards == baked / "grafana" / "dashboards"
    assert dashboards.is_dir()


def test_every_variable_compose_reads_is_in_env_example(baked: Path) -> None:
    variables = set(re.findall(r"\$\{(\w+)", (baked / COMPOSE).read_text()))
    assert variables == {"GRAFANA_ADMIN_PASSWORD", "MODEL_SERVICE_MODEL_PATH"}
    example = (baked / ".env.example").read_text()
    for variable in variables:
        assert re.search(rf"^{variable}=\S+", example, re.MULTILINE), variable


def test_readme_gives_the_address_of_every_published_port(baked: Path) -> None:
    readme = (baked / "README.md").read_text()
    assert "make lock" in readme
    assert "docker compose up" in readme
    for name, service in compose(baked)["services"].items():
        for port in service.get("ports", []):
            address, _, _ = port.rpartition(":")
            assert f"http://{address}" in readme, f"README does not give {name}'s {address}"


@pytest.mark.parametrize(
    ("path", "excluded"),
    [
        (".venv/bin/python", True),
        (".git/HEAD", True),
        (".env", True),
        ("tests/test_predict.py", True),
        (".mypy_cache/3.11/cache.db", True),
        (".ruff_cache/CACHEDIR.TAG", True),
        ("src/PACKAGE/__pycache__/app.cpython-311.pyc", True),
        ("docker-compose.yml", True),
        ("pyproject.toml", False),
        ("uv.lock", False),
        ("README.md", False),
        ("gunicorn.conf.py", False),
        ("src/PACKAGE/app.py", False),
        ("models/model.metadata.json", False),
    ],
)
def test_dockerignore_sends_only_what_the_image_needs(
    baked: Path, path: str, excluded: bool
) -> None:
    patterns = [
        line.strip()
        for line in (baked / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    package = next((baked / "src").iterdir()).name
    assert excluded_from_context(patterns, path.replace("PACKAGE", package)) == excluded
