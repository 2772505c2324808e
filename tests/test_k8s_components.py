"""The optional Kubernetes components of a baked project (Ingress, Gateway API, canary, scale to
zero), rendered in each combination that the generated README shows, validated strictly (the
custom resources against their CRDs' schemas), scanned, and checked against the service.

The README's `kubectl apply` and `rollout status` need a cluster; its `kubectl patch` commands run
here with `--local` on the rendered route, which is what they would change in the cluster.
"""

import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from . import crd_schemas
from .conftest import TEMPLATE, bake, checkov_report, require, run
from .test_k8s import (
    KUBERNETES_VERSIONS,
    Manifest,
    container,
    kubernetes_validate,
    one,
    pod_env,
    render,
    selects,
)

SLUG = "model-service"

Components = tuple[str, ...]


def yaml_blocks(project: Path) -> list[str]:
    text = (project / "README.md").read_text()
    return re.findall(r"^```yaml\n(.*?)^```", text, re.MULTILINE | re.DOTALL)


def documented_fragments(project: Path) -> dict[Components, dict[str, Any]]:
    """The README's fragments of overlays/prod/kustomization.yaml, by the components they list."""
    fragments = [yaml.safe_load(block) for block in yaml_blocks(project)]
    return {
        tuple(Path(entry).name for entry in fragment["components"]): fragment
        for fragment in fragments
        if isinstance(fragment, dict) and "components" in fragment
    }


def render_with(project: Path, work: Path, fragment: dict[str, Any]) -> list[Manifest]:
    """The prod overlay rendered with the fragment's keys in its kustomization.yaml, as the
    README says to write them."""
    k8s = work / "k8s"
    if k8s.exists():
        shutil.rmtree(k8s)
    shutil.copytree(project / "k8s", k8s)
    kustomization = k8s / "overlays" / "prod" / "kustomization.yaml"
    kustomization.write_text(yaml.safe_dump(yaml.safe_load(kustomization.read_text()) | fragment))
    return render(kustomization.parent)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bake(tmp_path_factory.mktemp("components"))


@pytest.fixture(scope="module")
def combinations(
    project: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[Components, list[Manifest]]:
    work = tmp_path_factory.mktemp("rendered")
    return {
        components: render_with(project, work, fragment)
        for components, fragment in documented_fragments(project).items()
    }


def including(combinations: dict[Components, list[Manifest]], component: str) -> list[Manifest]:
    """The documented combination that adds `component`: each lists it last."""
    (manifests,) = [found for names, found in combinations.items() if names[-1] == component]
    return manifests


def named(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    (match,) = [m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == name]
    return match


# --- what the README shows, rendered and validated ------------------------------------------


def test_the_readme_shows_each_component_in_an_overlay(
    project: Path, combinations: dict[Components, list[Manifest]]
) -> None:
    listed = {name for names in combinations for name in names}
    assert listed >= {"ingress", "gateway", "canary", "scale-to-zero"}
    # Every component on disk is in one of the README's lists.
    on_disk = {path.name for path in (project / "k8s" / "components").iterdir()}
    assert on_disk == listed
    for manifests in combinations.values():
        for manifest in manifests:
            if manifest["kind"] != "Namespace":
                assert manifest["metadata"]["namespace"] == SLUG, manifest["metadata"]["name"]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_object_passes_its_schema_strictly(
    combinations: dict[Components, list[Manifest]], version: str, tmp_path: Path
) -> None:
    for components, manifests in combinations.items():
        custom = [manifest for manifest in manifests if crd_schemas.has_schema(manifest)]
        for manifest in custom:
            assert crd_schemas.errors(manifest) == [], (components, manifest["kind"])
        kubernetes_validate([m for m in manifests if m not in custom], version, tmp_path)


def test_the_crd_schemas_refuse_an_unknown_field(
    combinations: dict[Components, list[Manifest]],
) -> None:
    """The strict check above could fail: a misspelt field of each custom kind is refused."""
    route = json.loads(json.dumps(one(including(combinations, "canary"), "HTTPRoute")))
    backend = route["spec"]["rules"][0]["backendRefs"][1]
    backend["weigth"] = backend.pop("weight")
    assert any("'weigth' was unexpected" in error for error in crd_schemas.errors(route))
    scaled = json.loads(json.dumps(one(including(combinations, "scale-to-zero"), "ScaledObject")))
    scaled["spec"]["minReplicas"] = scaled["spec"].pop("minReplicaCount")
    assert any("'minReplicas' was unexpected" in error for error in crd_schemas.errors(scaled))
    gateway = json.loads(json.dumps(one(including(combinations, "gateway"), "Gateway")))
    gateway["spec"]["listeners"][0]["tls"]["certificateRef"] = {"name": f"{SLUG}-tls"}
    assert any("'certificateRef' was unexpected" in e for e in crd_schemas.errors(gateway))
    monitor = json.loads(json.dumps(one(including(combinations, "gateway"), "ServiceMonitor")))
    monitor["spec"]["endpoints"][0]["intervall"] = "15s"
    assert any("'intervall' was unexpected" in e for e in crd_schemas.errors(monitor))


def test_checkov_reports_no_failed_check(
    combinations: dict[Components, list[Manifest]], tmp_path: Path
) -> None:
    for components, manifests in combinations.items():
        (tmp_path / f"{'-'.join(components)}.yaml").write_text(yaml.safe_dump_all(manifests))
    report = checkov_report("--directory", ".", "--framework", "kubernetes", cwd=tmp_path)
    summary = report["summary"]
    assert summary["failed"] == 0, json.dumps(report["results"]["failed_checks"])[-5000:]
    assert summary["parsing_errors"] == 0
    checked = {check["resource"] for check in report["results"]["passed_checks"]}
    # The canary's Deployment was scanned as the current version's is (resources are named
    # kind.namespace.name).
    assert f"Deployment.{SLUG}.{SLUG}-canary" in checked
    # Every skipped check says why, in a checkov.io/skip annotation of the manifests.
    for skipped in report["results"]["skipped_checks"]:
        assert len(skipped["check_result"]["suppress_comment"]) > 20, skipped["check_id"]


def kubectl_lines(project: Path) -> list[list[str]]:
    text = (project / "README.md").read_text()
    blocks = re.findall(r"^```sh\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    lines = [line.split("  #")[0] for block in blocks for line in block.splitlines()]
    return [shlex.split(line) for line in lines if line.startswith("kubectl ")]


def test_the_readmes_kubectl_commands_name_what_the_overlays_render(
    project: Path, combinations: dict[Components, list[Manifest]]
) -> None:
    """A cluster would run them; here each must name an overlay that renders, and objects that
    it renders in the namespace named."""
    rendered = [*combinations.values()]
    for overlay in ("dev", "prod"):
        rendered.append(render(project / "k8s" / "overlays" / overlay))
    objects = {
        (m["kind"].lower(), m["metadata"]["name"], m["metadata"].get("namespace"))
        for manifests in rendered
        for m in manifests
    }
    lines = kubectl_lines(project)
    verbs = set()
    for words in lines:
        if words[1] in ("kustomize", "apply"):
            assert render(project / words[-1])
            verbs.add(words[1])
            continue
        assert words[1] == "-n"
        namespace, verb = words[2], words[3]
        verbs.add(verb)
        if verb == "rollout":
            kind, name = words[5].split("/")
            assert (kind, name, namespace) in objects, words
        elif verb == "patch":
            assert (words[4], words[5], namespace) in objects, words
        elif verb == "create":
            # Tested by test_the_readmes_secret_is_the_one_the_ingress_and_gateway_use.
            assert words[4:6] == ["secret", "tls"], words
        else:
            assert verb == "delete", f"a kubectl command no test covers: {words}"
            for kind in words[4].split(","):
                assert (kind, words[5], namespace) in objects, words
    assert verbs == {"kustomize", "apply", "rollout", "create", "patch", "delete"}


# --- Ingress and Gateway API -----------------------------------------------------------------


def test_the_ingress_ends_tls_and_limits_the_body_to_the_services_limit(
    combinations: dict[Components, list[Manifest]],
) -> None:
    manifests = including(combinations, "ingress")
    ingress = one(manifests, "Ingress")
    body_limit = pod_env(manifests)["MODEL_SERVICE_MAX_BODY_BYTES"]
    assert body_limit == "1048576"
    # nginx reads a bare number as bytes: the controller refuses what the service would.
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"] == (
        body_limit
    )
    (tls,) = ingress["spec"]["tls"]
    (rule,) = ingress["spec"]["rules"]
    assert tls["hosts"] == [rule["host"]]
    assert tls["secretName"] == f"{SLUG}-tls"
    (path,) = rule["http"]["paths"]
    assert (path["path"], path["pathType"]) == ("/", "Prefix")
    assert_backend_is_the_service(manifests, path["backend"]["service"])


def test_the_ingress_body_limit_follows_the_setting(project: Path, tmp_path: Path) -> None:
    """The annotation is copied from the base's settings, not written twice."""
    changed = tmp_path / "project"
    shutil.copytree(project / "k8s", changed / "k8s")
    settings = changed / "k8s" / "base" / "settings.env"
    text = settings.read_text()
    assert "MAX_BODY_BYTES=1048576\n" in text
    settings.write_text(text.replace("MAX_BODY_BYTES=1048576\n", "MAX_BODY_BYTES=4096\n"))
    fragment = documented_fragments(project)[("servicemonitor", "requests-per-second", "ingress")]
    manifests = render_with(changed, tmp_path / "work", fragment)
    annotations = one(manifests, "Ingress")["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-body-size"] == "4096"
    assert pod_env(manifests)["MODEL_SERVICE_MAX_BODY_BYTES"] == "4096"


def test_the_readmes_secret_is_the_one_the_ingress_and_gateway_use(
    project: Path, combinations: dict[Components, list[Manifest]], tmp_path: Path
) -> None:
    """The README's `kubectl create secret tls`, run with --dry-run=client on a certificate made
    here, makes the Secret that both components name, in their namespace."""
    kubectl, openssl = require("kubectl"), require("openssl")
    (words,) = [words for words in kubectl_lines(project) if "create" in words]
    run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", "tls.key", "-out", "tls.crt", "-subj", f"/CN={SLUG}.example.com"],
        cwd=tmp_path,
    )  # fmt: skip
    secret = yaml.safe_load(
        run([kubectl, *words[1:], "--dry-run=client", "-o", "yaml"], cwd=tmp_path)
    )
    assert secret["type"] == "kubernetes.io/tls"
    ingress = one(including(combinations, "ingress"), "Ingress")
    gateway = one(including(combinations, "gateway"), "Gateway")
    assert secret["metadata"]["namespace"] == ingress["metadata"]["namespace"]
    assert secret["metadata"]["namespace"] == gateway["metadata"]["namespace"]
    assert ingress["spec"]["tls"][0]["secretName"] == secret["metadata"]["name"]
    (certificate,) = gateway["spec"]["listeners"][0]["tls"]["certificateRefs"]
    assert certificate["name"] == secret["metadata"]["name"]


def assert_backend_is_the_service(manifests: list[Manifest], backend: dict[str, Any]) -> None:
    kubernetes_service = named(manifests, "Service", backend["name"])
    assert backend["name"] == SLUG
    (port,) = kubernetes_service["spec"]["ports"]
    assert backend.get("port", {}) in ({"name": port["name"]}, {"number": port["port"]})


def test_the_route_attaches_to_the_gateways_https_listener(
    combinations: dict[Components, list[Manifest]],
) -> None:
    manifests = including(combinations, "gateway")
    gateway, route = one(manifests, "Gateway"), one(manifests, "HTTPRoute")
    (parent,) = route["spec"]["parentRefs"]
    assert parent["name"] == gateway["metadata"]["name"]
    listeners = {listener["name"]: listener for listener in gateway["spec"]["listeners"]}
    listener = listeners[parent["sectionName"]]
    assert (listener["protocol"], listener["port"]) == ("HTTPS", 443)
    assert listener["tls"]["mode"] == "Terminate"
    assert listener["tls"]["certificateRefs"] == [{"kind": "Secret", "name": f"{SLUG}-tls"}]
    assert route["spec"]["hostnames"] == [listener["hostname"]]
    (rule,) = route["spec"]["rules"]
    (backend,) = rule["backendRefs"]
    assert backend["name"] == SLUG
    (port,) = one(manifests, "Service")["spec"]["ports"]
    assert backend["port"] == port["port"]


# --- canary ----------------------------------------------------------------------------------


def test_the_canary_runs_the_current_pod_template_with_its_own_image_and_labels(
    combinations: dict[Components, list[Manifest]],
) -> None:
    manifests = including(combinations, "canary")
    current = named(manifests, "Deployment", SLUG)
    canary = named(manifests, "Deployment", f"{SLUG}-canary")
    # The README's images: the current version and the new one, from the same repository.
    assert container([current])["image"] == f"registry.example.com/team/{SLUG}:1.4.2"
    assert container([canary])["image"] == f"registry.example.com/team/{SLUG}:1.5.0"
    current_spec = json.loads(json.dumps(current["spec"]["template"]["spec"]))
    canary_spec = json.loads(json.dumps(canary["spec"]["template"]["spec"]))
    for spec in (current_spec, canary_spec):
        spec["containers"][0].pop("image")
        spec["topologySpreadConstraints"][0].pop("labelSelector")
    # Same settings, probes, resources (the overlay's patch reaches both), security context.
    assert canary_spec == current_spec
    assert canary["spec"]["replicas"] == 1
    canary_labels = canary["spec"]["template"]["metadata"]["labels"]
    current_labels = current["spec"]["template"]["metadata"]["labels"]
    (spread,) = canary["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert selects(spread["labelSelector"]["matchLabels"], canary_labels)
    assert selects(canary["spec"]["selector"]["matchLabels"], canary_labels)
    # Neither version's Deployment, Service or policy selects the other's pods; the HPA scales
    # the current version only.
    for selector_of, pods, other in (
        (current, current_labels, canary_labels),
        (canary, canary_labels, current_labels),
    ):
        name = selector_of["metadata"]["name"]
        assert not selects(selector_of["spec"]["selector"]["matchLabels"], other)
        service_selector = named(manifests, "Service", name)["spec"]["selector"]
        assert selects(service_selector, pods)
        assert not selects(service_selector, other)
        policy = named(manifests, "NetworkPolicy", name)["spec"]
        assert selects(policy["podSelector"]["matchLabels"], pods)
        assert policy["ingress"] == [{"ports": [{"port": 8000, "protocol": "TCP"}]}]
    hpa = one(manifests, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == SLUG


def test_the_servicemonitor_scrapes_both_versions_under_their_services_names(
    combinations: dict[Components, list[Manifest]],
) -> None:
    manifests = including(combinations, "canary")
    selector = one(manifests, "ServiceMonitor")["spec"]["selector"]["matchLabels"]
    services = [manifest for manifest in manifests if manifest["kind"] == "Service"]
    assert {
        s["metadata"]["name"] for s in services if selects(selector, s["metadata"]["labels"])
    } == {
        SLUG,
        f"{SLUG}-canary",
    }
    # Scraped one way only: no pod keeps the annotations of annotation-based discovery.
    for deployment in (m for m in manifests if m["kind"] == "Deployment"):
        annotations = deployment["spec"]["template"]["metadata"].get("annotations", {})
        assert not [name for name in annotations if name.startswith("prometheus.io/")]


def weights(route: Manifest) -> dict[str, int]:
    (rule,) = route["spec"]["rules"]
    return {backend["name"]: backend["weight"] for backend in rule["backendRefs"]}


def readme_patches(project: Path, route: Manifest, tmp_path: Path) -> list[dict[str, int]]:
    """Each of the README's `kubectl patch httproute` commands, run on the rendered route with
    --local instead of on the cluster's; the weights after each, in the README's order."""
    kubectl = require("kubectl")
    route_file = tmp_path / "route.yaml"
    route_file.write_text(yaml.safe_dump(route))
    text = (project / "README.md").read_text()
    commands = [line for line in text.splitlines() if " patch httproute " in line]
    assert commands
    results = []
    for line in commands:
        words = shlex.split(line)
        assert words[:6] == [
            "kubectl", "-n", route["metadata"]["namespace"],
            "patch", "httproute", route["metadata"]["name"],
        ]  # fmt: skip
        patched = run(
            [kubectl, "patch", "--local", "-f", str(route_file), *words[6:], "-o", "yaml"],
            cwd=tmp_path,
        )
        results.append(weights(yaml.safe_load(patched)))
    return results


def test_the_canary_gets_a_tenth_of_the_routes_requests(
    combinations: dict[Components, list[Manifest]],
) -> None:
    route = one(including(combinations, "canary"), "HTTPRoute")
    assert weights(route) == {SLUG: 90, f"{SLUG}-canary": 10}
    (rule,) = route["spec"]["rules"]
    for backend in rule["backendRefs"]:
        assert backend["port"] == 80


def test_the_readmes_commands_shift_the_traffic_and_roll_it_back(
    project: Path, combinations: dict[Components, list[Manifest]], tmp_path: Path
) -> None:
    route = one(including(combinations, "canary"), "HTTPRoute")
    half, all_to_canary, rolled_back = readme_patches(project, route, tmp_path)
    canary = f"{SLUG}-canary"
    for shifted in (half, all_to_canary, rolled_back):
        assert sum(shifted.values()) == 100
    assert half == {SLUG: 50, canary: 50}
    assert all_to_canary == {SLUG: 0, canary: 100}
    assert rolled_back == {SLUG: 100, canary: 0}
    # The rollback's delete removes exactly what the component added for the canary.
    text = (project / "README.md").read_text()
    (delete,) = [line for line in text.splitlines() if " delete " in line and canary in line]
    kinds = shlex.split(delete)[4].split(",")
    added = {
        (m["kind"].lower(), m["metadata"]["name"])
        for m in including(combinations, "canary")
        if m["metadata"]["name"] == canary
    }
    assert added == {(kind, canary) for kind in kinds}


def test_without_the_canary_component_the_route_has_one_backend(
    combinations: dict[Components, list[Manifest]],
) -> None:
    """What the overlay renders after the rollback's last step takes the component out."""
    manifests = including(combinations, "gateway")
    route = one(manifests, "HTTPRoute")
    assert [backend["name"] for backend in route["spec"]["rules"][0]["backendRefs"]] == [SLUG]
    assert [m["metadata"]["name"] for m in manifests if m["kind"] == "Deployment"] == [SLUG]


# --- scale to zero ---------------------------------------------------------------------------


def test_keda_scales_the_deployment_from_zero_instead_of_the_hpa(
    project: Path, combinations: dict[Components, list[Manifest]]
) -> None:
    manifests = including(combinations, "scale-to-zero")
    scaled = one(manifests, "ScaledObject")
    deployment = one(manifests, "Deployment")
    target = scaled["spec"]["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"]) == ("apps/v1", "Deployment")
    assert target["name"] == deployment["metadata"]["name"]
    assert scaled["spec"]["minReplicaCount"] == 0
    assert scaled["spec"]["maxReplicaCount"] >= 2
    # KEDA makes its own HPA: a second one on the same Deployment would fight it.
    assert not [m for m in manifests if m["kind"] == "HorizontalPodAutoscaler"]
    assert "replicas" not in deployment["spec"]
    behavior = scaled["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] >= 300
    assert scaled["spec"]["cooldownPeriod"] >= 300


def test_keda_reads_the_request_rate_of_this_service_and_of_its_ingress(
    project: Path, combinations: dict[Components, list[Manifest]]
) -> None:
    manifests = including(combinations, "scale-to-zero")
    triggers = {
        trigger["name"]: trigger for trigger in one(manifests, "ScaledObject")["spec"]["triggers"]
    }
    assert set(triggers) == {"requests-per-second", "wake"}
    namespace = one(manifests, "Deployment")["metadata"]["namespace"]
    rate = triggers["requests-per-second"]["metadata"]
    # The metric and the target of components/requests-per-second, per pod.
    patch = yaml.safe_load(
        (project / "k8s" / "components" / "requests-per-second" / "kustomization.yaml").read_text()
    )["patches"][0]["patch"]
    hpa_target = yaml.safe_load(patch)[0]["value"]["pods"]["target"]["averageValue"]
    assert rate["threshold"] == hpa_target
    assert rate.get("metricType", "AverageValue") == "AverageValue"
    pods_rate = (
        r'sum\(rate\(http_requests_total\{namespace="(.+)", job="(.+)", handler!~"/health/\.\*"\}'
    )
    assert re.match(pods_rate, rate["query"])
    assert f'namespace="{namespace}"' in rate["query"]
    # The ServiceMonitor's job is the Service's name.
    assert f'job="{one(manifests, "Service")["metadata"]["name"]}"' in rate["query"]
    wake = triggers["wake"]["metadata"]
    assert "nginx_ingress_controller_requests" in wake["query"]
    assert f'ingress="{one(manifests, "Ingress")["metadata"]["name"]}"' in wake["query"]
    assert f'exported_namespace="{namespace}"' in wake["query"]
    # Any request at the controller wakes the Deployment.
    assert wake["activationThreshold"] == "0"
    for trigger in triggers.values():
        assert trigger["type"] == "prometheus"
        assert trigger["metadata"]["serverAddress"].startswith(
            "http://prometheus-operated.monitoring.svc"
        )


def test_the_readme_states_the_cold_start_with_the_measured_time_to_ready(project: Path) -> None:
    measured = re.search(
        r"start to ready (\d+\.\d+) s", (TEMPLATE / "docs" / "benchmarks.md").read_text()
    )
    assert measured
    text = " ".join((project / "README.md").read_text().split())
    section = text[text.index("### Scale to zero") :]
    assert "cold start = pod scheduling + image pull + the service's time to ready" in section
    assert f"was {measured.group(1)} s" in section


def test_the_promql_of_the_triggers_parses(
    combinations: dict[Components, list[Manifest]], tmp_path: Path
) -> None:
    """Each trigger's query, as a recording rule that promtool checks."""
    promtool = require("promtool")
    triggers = one(including(combinations, "scale-to-zero"), "ScaledObject")["spec"]["triggers"]
    rules = [
        {
            "record": "keda:" + trigger["name"].replace("-", "_"),
            "expr": trigger["metadata"]["query"],
        }
        for trigger in triggers
    ]
    rules_file = tmp_path / "rules.yml"
    rules_file.write_text(yaml.safe_dump({"groups": [{"name": "keda", "rules": rules}]}))
    result = subprocess.run(
        [promtool, "check", "rules", str(rules_file)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
