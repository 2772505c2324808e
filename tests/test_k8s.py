"""The Kubernetes manifests of a baked project: rendered, validated and scanned by real tools, and
checked against the service they deploy (its routes, its settings, gunicorn's configuration).
"""

import json
import math
import re
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from . import crd_schemas
from .conftest import bake, checkov_report, free_port, project_env, require, run

OVERLAYS = ("dev", "prod")
# The oldest release whose kubelets run the preStop `sleep` action by default (beta in 1.30,
# GA in 1.34), and the newest schemas that kubernetes-validate bundles.
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")
# The ServiceMonitor is a custom resource of the Prometheus Operator: kubernetes-validate has
# no schema for it (it only warns, and passes), so it is left out of that run and validated
# against its CRD's own schema instead (tests/crd_schemas.py).
CUSTOM_KINDS = {"ServiceMonitor"}

Manifest = dict[str, Any]

# Run in the baked project's own environment, with the pod's environment variables: the GET routes
# of the app's OpenAPI document, which settings exist, and the values gunicorn reads from its
# configuration file. (/metrics is left out of the document;
# test_the_pods_configuration_serves_probes_and_metrics requests it from a running server.)
INTROSPECT = """
import json, os, runpy, sys
os.environ.update(json.loads(sys.argv[1]))
from {package}.app import create_app
from {package}.settings import Settings
app = create_app()
config = runpy.run_path("gunicorn.conf.py")
prefix = Settings.model_config["env_prefix"]
print(json.dumps({{
    "get_routes": [path for path, item in app.openapi()["paths"].items() if "get" in item],
    "settings": [prefix + name.upper() for name in Settings.model_fields],
    "gunicorn": {{key: config[key] for key in ("bind", "workers", "timeout", "graceful_timeout")}},
    "model_threads": Settings().model_threads,
}}))
"""


# --- rendering ---------------------------------------------------------------------------------


def render(directory: Path) -> list[Manifest]:
    kubectl = require("kubectl")
    output = run([kubectl, "kustomize", str(directory)], cwd=directory)
    return [document for document in yaml.safe_load_all(output) if document]


def one(manifests: list[Manifest], kind: str) -> Manifest:
    matches = [manifest for manifest in manifests if manifest["kind"] == kind]
    assert len(matches) == 1, f"expected one {kind}, found {len(matches)}"
    return matches[0]


def pod_spec(manifests: list[Manifest]) -> Manifest:
    return one(manifests, "Deployment")["spec"]["template"]["spec"]


def container(manifests: list[Manifest]) -> Manifest:
    containers = pod_spec(manifests)["containers"]
    assert len(containers) == 1
    return containers[0]


def container_port(manifests: list[Manifest], port: int | str) -> int:
    """The container port that a probe or a Service names, by number or by name."""
    ports = container(manifests)["ports"]
    if isinstance(port, int):
        assert port in [entry["containerPort"] for entry in ports]
        return port
    return next(entry["containerPort"] for entry in ports if entry["name"] == port)


def pod_env(manifests: list[Manifest]) -> dict[str, str]:
    """The container's environment: the ConfigMap it loads, then its own `env` entries."""
    config_map = one(manifests, "ConfigMap")
    (source,) = container(manifests)["envFrom"]
    assert source["configMapRef"]["name"] == config_map["metadata"]["name"]
    own = {entry["name"]: entry["value"] for entry in container(manifests).get("env", [])}
    assert not own.keys() & config_map["data"].keys(), "an env entry hides the ConfigMap's"
    return config_map["data"] | own


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and selector.items() <= labels.items()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bake(tmp_path_factory.mktemp("k8s"))


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request: pytest.FixtureRequest, project: Path) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def rendered(project: Path) -> dict[str, list[Manifest]]:
    return {name: render(project / "k8s" / "overlays" / name) for name in OVERLAYS}


@pytest.fixture
def manifests(rendered: dict[str, list[Manifest]], overlay: str) -> list[Manifest]:
    return rendered[overlay]


# --- the service, installed -------------------------------------------------------------------


@pytest.fixture(scope="module")
def installed(project: Path) -> Path:
    """The baked project installed with its dev group, its sample model trained."""
    uv = require("uv")
    run([uv, "sync"], cwd=project)
    run([uv, "run", "python", "-m", "model_service.train"], cwd=project)
    return project


@pytest.fixture(scope="module")
def service(
    installed: Path, rendered: dict[str, list[Manifest]], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, Any]]:
    """Per overlay: the app's routes, its settings and gunicorn's values under the pod's env."""
    found = {}
    for name, manifests in rendered.items():
        # The app writes its metrics there as soon as it is built: a folder of this machine
        # stands in for the pod's emptyDir.
        env = pod_env(manifests) | {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path_factory.mktemp(name))}
        output = run(
            [
                str(installed / ".venv" / "bin" / "python"),
                "-c",
                INTROSPECT.format(package="model_service"),
                json.dumps(env),
            ],
            cwd=installed,
        )
        found[name] = json.loads(output.splitlines()[-1])
    return found


# --- the tools ---------------------------------------------------------------------------------


def test_each_overlay_renders_every_object_named_after_the_slug(
    rendered: dict[str, list[Manifest]],
) -> None:
    base_kinds = {
        "Namespace",
        "ServiceAccount",
        "ConfigMap",
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "NetworkPolicy",
    }
    assert {manifest["kind"] for manifest in rendered["dev"]} == base_kinds
    assert {manifest["kind"] for manifest in rendered["prod"]} == base_kinds | {"ServiceMonitor"}
    namespaces = {"dev": "model-service-dev", "prod": "model-service"}
    for overlay, manifests in rendered.items():
        for manifest in manifests:
            name = manifest["metadata"]["name"]
            if manifest["kind"] == "Namespace":
                assert name == namespaces[overlay]
                continue
            assert manifest["metadata"]["namespace"] == namespaces[overlay]
            # A generated ConfigMap's name carries a hash of its content.
            assert re.fullmatch(r"model-service(-[a-z0-9]{10})?", name), name


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_rendered_objects_pass_the_kubernetes_schemas_strictly(
    manifests: list[Manifest], version: str, tmp_path: Path
) -> None:
    for custom in (manifest for manifest in manifests if manifest["kind"] in CUSTOM_KINDS):
        assert crd_schemas.errors(custom) == [], custom["kind"]
    built_in = [manifest for manifest in manifests if manifest["kind"] not in CUSTOM_KINDS]
    kubernetes_validate(built_in, version, tmp_path)


def kubernetes_validate(objects: list[Manifest], version: str, tmp_path: Path) -> None:
    """kubernetes-validate --strict passes every object, each against a built-in schema."""
    validate = require("kubernetes-validate")
    rendered_file = tmp_path / "rendered.yaml"
    rendered_file.write_text(yaml.safe_dump_all(objects))
    output = run([validate, "--strict", "-k", version, str(rendered_file)], cwd=tmp_path)
    # Every object was checked against a schema: an unknown kind would only be warned about.
    assert output.count(" passed for resource ") == len(objects), output
    assert "WARN" not in output


def test_kubernetes_validate_rejects_an_unknown_field(
    rendered: dict[str, list[Manifest]], tmp_path: Path
) -> None:
    """The strict run above could fail: a misspelt field is refused."""
    validate = require("kubernetes-validate")
    deployment = json.loads(json.dumps(one(rendered["prod"], "Deployment")))
    spec = deployment["spec"]["template"]["spec"]
    spec["terminationGracePeriod"] = spec.pop("terminationGracePeriodSeconds")
    rendered_file = tmp_path / "misspelt.yaml"
    rendered_file.write_text(yaml.safe_dump(deployment))
    result = subprocess.run(
        [validate, "--strict", "-k", KUBERNETES_VERSIONS[-1], str(rendered_file)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "terminationGracePeriod" in result.stdout


def test_checkov_reports_no_failed_check(
    manifests: list[Manifest], overlay: str, tmp_path: Path
) -> None:
    (tmp_path / f"{overlay}.yaml").write_text(yaml.safe_dump_all(manifests))
    report = checkov_report("--directory", ".", "--framework", "kubernetes", cwd=tmp_path)
    summary = report["summary"]
    assert summary["failed"] == 0, json.dumps(report["results"]["failed_checks"])[-5000:]
    assert summary["parsing_errors"] == 0
    assert summary["passed"] >= 80, summary
    checked = {check["check_id"] for check in report["results"]["passed_checks"]}
    # A sample of what the pods must get right: non-root, read-only root, no capabilities,
    # probes, resources, seccomp, no service account token, a NetworkPolicy.
    for check_id in ("CKV_K8S_8", "CKV_K8S_9", "CKV_K8S_11", "CKV_K8S_22", "CKV_K8S_28"):
        assert check_id in checked
    for check_id in ("CKV_K8S_31", "CKV_K8S_37", "CKV_K8S_38", "CKV_K8S_40", "CKV2_K8S_6"):
        assert check_id in checked
    # Every skipped check says why, in a checkov.io/skip annotation of the manifests.
    for skipped in report["results"]["skipped_checks"]:
        assert len(skipped["check_result"]["suppress_comment"]) > 20, skipped["check_id"]


# --- agreement with the service ------------------------------------------------------------------


def test_configmap_sets_every_setting_of_the_service_and_no_other(
    manifests: list[Manifest], overlay: str, service: dict[str, dict[str, Any]]
) -> None:
    data = one(manifests, "ConfigMap")["data"]
    prefixed = {key for key in data if key.startswith("MODEL_SERVICE_")}
    # A misspelt variable would be ignored by the service, not refused.
    assert prefixed == set(service[overlay]["settings"])
    assert data["MODEL_SERVICE_LOG_FORMAT"] == "json"


def test_gunicorn_binds_every_address_on_the_container_port(
    manifests: list[Manifest], overlay: str, service: dict[str, dict[str, Any]]
) -> None:
    port = container_port(manifests, "http")
    assert port == 8000
    assert pod_env(manifests)["MODEL_SERVICE_PORT"] == str(port)
    assert service[overlay]["gunicorn"]["bind"] == f"0.0.0.0:{port}"


def test_probes_are_get_routes_of_the_app_on_the_bind_port(
    manifests: list[Manifest], overlay: str, service: dict[str, dict[str, Any]]
) -> None:
    routes = service[overlay]["get_routes"]
    bind_port = int(service[overlay]["gunicorn"]["bind"].rsplit(":", 1)[1])
    app = container(manifests)
    expected = {
        "startupProbe": "/health/ready",
        "readinessProbe": "/health/ready",
        "livenessProbe": "/health/live",
    }
    for probe, path in expected.items():
        action = app[probe]["httpGet"]
        assert action["path"] == path
        assert action["path"] in routes
        assert container_port(manifests, action["port"]) == bind_port


def metrics_paths(manifests: list[Manifest]) -> set[str]:
    """Where Prometheus scrapes the pods: the ServiceMonitor's path, or the pod annotations'."""
    monitors = [manifest for manifest in manifests if manifest["kind"] == "ServiceMonitor"]
    if monitors:
        return {point["path"] for monitor in monitors for point in monitor["spec"]["endpoints"]}
    annotations = one(manifests, "Deployment")["spec"]["template"]["metadata"]["annotations"]
    return {annotations["prometheus.io/path"]}


def test_metrics_are_scraped_one_way_from_the_metrics_route_on_the_container_port(
    manifests: list[Manifest],
) -> None:
    metadata = one(manifests, "Deployment")["spec"]["template"]["metadata"]
    scrape_annotations = {
        name: value for name, value in metadata.get("annotations", {}).items()
        if name.startswith("prometheus.io/")
    }  # fmt: skip
    if any(manifest["kind"] == "ServiceMonitor" for manifest in manifests):
        # Both, and a Prometheus that discovers pods both ways scrapes each twice.
        assert scrape_annotations == {}
    else:
        assert scrape_annotations["prometheus.io/scrape"] == "true"
        assert int(scrape_annotations["prometheus.io/port"]) == container_port(manifests, "http")
    # test_the_pods_configuration_serves_probes_and_metrics requests it from the server.
    assert metrics_paths(manifests) == {"/metrics"}


def test_service_monitor_selects_the_service_and_its_port(
    rendered: dict[str, list[Manifest]],
) -> None:
    """What its CRD's schema cannot say: that it selects this Service, and which release."""
    manifests = rendered["prod"]
    monitor = one(manifests, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    # What kube-prometheus-stack's Prometheus selects ServiceMonitors by, as for PrometheusRules.
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert set(monitor) == {"apiVersion", "kind", "metadata", "spec"}
    assert set(monitor["spec"]) == {"selector", "endpoints"}
    kubernetes_service = one(manifests, "Service")
    labels = kubernetes_service["metadata"]["labels"]
    assert selects(monitor["spec"]["selector"]["matchLabels"], labels)
    port_names = {port["name"] for port in kubernetes_service["spec"]["ports"]}
    (endpoint,) = monitor["spec"]["endpoints"]
    assert set(endpoint) <= {"port", "path", "interval", "scrapeTimeout"}
    assert endpoint["port"] in port_names
    assert re.fullmatch(r"\d+[smh]", endpoint["interval"])


def test_pods_run_as_the_image_user(project: Path, manifests: list[Manifest]) -> None:
    uid, gid = image_user(project)
    pod_security = pod_spec(manifests)["securityContext"]
    container_security = container(manifests)["securityContext"]
    for security in (pod_security, container_security):
        assert security["runAsNonRoot"] is True
        assert security["runAsUser"] == uid
        assert security["runAsGroup"] == gid
        assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container_security["allowPrivilegeEscalation"] is False
    assert container_security["capabilities"] == {"drop": ["ALL"]}


def image_user(project: Path) -> tuple[int, int]:
    """The UID and GID the image runs as, read from the baked Dockerfile."""
    text = (project / "Dockerfile").read_text().replace("\\\n", " ")
    users = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert users, "the Dockerfile sets no USER"
    user, _, group = users[-1].partition(":")
    if user.isdigit():
        return int(user), int(group or user)
    uid = re.search(r"useradd\b.*?(?:-u|--uid)[ =]?(\d+)", text)
    assert uid, f"the Dockerfile's USER {user} is created without a fixed UID"
    gid = re.search(r"(?:groupadd|useradd)\b.*?(?:-g|--gid)[ =]?(\d+)", text)
    return int(uid.group(1)), int(gid.group(1) if gid else uid.group(1))


def test_the_root_filesystem_is_read_only_and_the_service_writes_to_volumes(
    manifests: list[Manifest],
) -> None:
    app = container(manifests)
    assert app["securityContext"]["readOnlyRootFilesystem"] is True
    volumes = {volume["name"]: volume for volume in pod_spec(manifests)["volumes"]}
    mounts = {mount["mountPath"]: mount for mount in app["volumeMounts"]}
    for path in (pod_env(manifests)["PROMETHEUS_MULTIPROC_DIR"], "/tmp"):  # noqa: S108
        mount = mounts[path]
        assert not mount.get("readOnly", False)
        assert "emptyDir" in volumes[mount["name"]]


def test_shutdown_fits_in_the_grace_period(
    manifests: list[Manifest], overlay: str, service: dict[str, dict[str, Any]]
) -> None:
    pause = container(manifests)["lifecycle"]["preStop"]["sleep"]["seconds"]
    graceful_timeout = service[overlay]["gunicorn"]["graceful_timeout"]
    assert pause > 0
    assert pause + graceful_timeout < pod_spec(manifests)["terminationGracePeriodSeconds"]


def test_startup_probe_waits_longer_than_gunicorn_lets_a_model_load(
    manifests: list[Manifest], overlay: str, service: dict[str, dict[str, Any]]
) -> None:
    startup = container(manifests)["startupProbe"]
    window = startup["periodSeconds"] * startup["failureThreshold"]
    # Minutes, and more than the worker timeout after which gunicorn itself gives up a load.
    assert window >= 120
    assert window > service[overlay]["gunicorn"]["timeout"]
    # The kubelet starts the liveness probe only once the startup probe has succeeded.
    assert container(manifests)["livenessProbe"]["httpGet"]["path"] == "/health/live"


def test_workers_and_model_threads_fit_the_cpu_limit(
    manifests: list[Manifest], overlay: str, service: dict[str, dict[str, Any]]
) -> None:
    resources = container(manifests)["resources"]
    cpu_limit = cpu_cores(resources["limits"]["cpu"])
    assert cpu_cores(resources["requests"]["cpu"]) <= cpu_limit
    assert resources["requests"]["memory"] == resources["limits"]["memory"]
    workers = service[overlay]["gunicorn"]["workers"]
    threads = service[overlay]["model_threads"]
    assert (workers, threads) == (1, 1)
    assert workers * threads <= math.ceil(cpu_limit)
    assert cpu_limit <= 1


def cpu_cores(quantity: str) -> float:
    return int(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def test_rollouts_keep_every_ready_pod_until_its_successor_is_ready(
    manifests: list[Manifest],
) -> None:
    deployment = one(manifests, "Deployment")
    rolling = deployment["spec"]["strategy"]["rollingUpdate"]
    assert rolling["maxUnavailable"] == 0
    assert rolling["maxSurge"] in (1, "25%")
    assert container(manifests)["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    # The HPA owns the replica count; a count in the Deployment would reset it on each apply.
    assert "replicas" not in deployment["spec"]


def test_autoscaler_scales_the_deployment(manifests: list[Manifest], overlay: str) -> None:
    autoscaler = one(manifests, "HorizontalPodAutoscaler")
    deployment = one(manifests, "Deployment")
    target = autoscaler["spec"]["scaleTargetRef"]
    assert autoscaler["apiVersion"] == "autoscaling/v2"
    assert (target["apiVersion"], target["kind"]) == ("apps/v1", "Deployment")
    assert target["name"] == deployment["metadata"]["name"]
    assert autoscaler["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] >= 300
    metrics = {metric["type"]: metric for metric in autoscaler["spec"]["metrics"]}
    assert metrics["Resource"]["resource"]["name"] == "cpu"
    assert metrics["Resource"]["resource"]["target"]["type"] == "Utilization"
    if overlay == "prod":
        assert autoscaler["spec"]["minReplicas"] >= 2
        assert metrics["Pods"]["pods"]["metric"]["name"] == "http_requests_per_second"
        assert metrics["Pods"]["pods"]["target"]["type"] == "AverageValue"
    else:
        assert autoscaler["spec"]["minReplicas"] == 1
        assert "Pods" not in metrics


def test_prod_has_more_pods_and_resources_than_dev(rendered: dict[str, list[Manifest]]) -> None:
    dev, prod = (container(rendered[name])["resources"] for name in ("dev", "prod"))
    assert cpu_cores(prod["requests"]["cpu"]) > cpu_cores(dev["requests"]["cpu"])
    assert cpu_cores(prod["limits"]["cpu"]) > cpu_cores(dev["limits"]["cpu"])
    dev_hpa, prod_hpa = (one(rendered[name], "HorizontalPodAutoscaler") for name in OVERLAYS)
    assert prod_hpa["spec"]["minReplicas"] > dev_hpa["spec"]["minReplicas"]
    assert prod_hpa["spec"]["maxReplicas"] > dev_hpa["spec"]["maxReplicas"]


def test_service_and_policies_select_the_deployments_pods(manifests: list[Manifest]) -> None:
    deployment = one(manifests, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selects(deployment["spec"]["selector"]["matchLabels"], pod_labels)
    kubernetes_service = one(manifests, "Service")
    assert selects(kubernetes_service["spec"]["selector"], pod_labels)
    (port,) = kubernetes_service["spec"]["ports"]
    assert container_port(manifests, port["targetPort"]) == 8000
    assert selects(
        one(manifests, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"], pod_labels
    )
    policy = one(manifests, "NetworkPolicy")
    assert selects(policy["spec"]["podSelector"]["matchLabels"], pod_labels)
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    (rule,) = policy["spec"]["ingress"]
    assert rule["ports"] == [{"port": 8000, "protocol": "TCP"}]
    (spread,) = pod_spec(manifests)["topologySpreadConstraints"]
    assert spread["topologyKey"] == "kubernetes.io/hostname"
    assert selects(spread["labelSelector"]["matchLabels"], pod_labels)
    account = one(manifests, "ServiceAccount")
    assert pod_spec(manifests)["serviceAccountName"] == account["metadata"]["name"]
    assert account["automountServiceAccountToken"] is False
    assert pod_spec(manifests)["automountServiceAccountToken"] is False


def test_the_image_is_set_with_kustomize_images(project: Path, tmp_path: Path) -> None:
    assert container(render(project / "k8s" / "overlays" / "prod"))["image"] == (
        "model-service:latest"
    )
    k8s = tmp_path / "k8s"
    shutil.copytree(project / "k8s", k8s)
    release = k8s / "overlays" / "release"
    release.mkdir()
    (release / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\n"
        "kind: Kustomization\n"
        "resources: [../prod]\n"
        "images:\n"
        "  - name: model-service\n"
        "    newName: registry.example.com/team/model-service\n"
        '    newTag: "1.4.2"\n'
    )
    image = container(render(release))["image"]
    assert image == "registry.example.com/team/model-service:1.4.2"


def test_names_derive_from_the_project_name(tmp_path: Path) -> None:
    project = bake(tmp_path, project_name="Fraud Scorer")
    manifests = render(project / "k8s" / "overlays" / "prod")
    for manifest in manifests:
        assert manifest["metadata"]["name"].startswith("fraud-scorer")
        assert manifest["metadata"].get("namespace", "fraud-scorer") == "fraud-scorer"
    assert container(manifests)["image"] == "fraud-scorer:latest"
    assert one(manifests, "ConfigMap")["data"]["FRAUD_SCORER_PORT"] == "8000"
    assert "model-service" not in yaml.safe_dump_all(manifests)


# --- the pod's configuration, served ------------------------------------------------------------


def http_get(url: str) -> tuple[int, str]:
    try:
        # Only the loopback server that the test started.
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""
    except OSError:
        return 0, ""


@pytest.fixture
def gunicorn_with_pod_env(
    installed: Path, rendered: dict[str, list[Manifest]], tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """gunicorn started as the prod pod starts it, but on a loopback port of this machine."""
    env = project_env() | pod_env(rendered["prod"])
    port = free_port()
    # Loopback instead of every address, a free port instead of 8000, a temporary folder
    # instead of the pod's emptyDir: everything else is the pod's own environment.
    env |= {"MODEL_SERVICE_HOST": "127.0.0.1", "MODEL_SERVICE_PORT": str(port)}
    env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / "metrics")
    server = subprocess.Popen(
        [str(installed / ".venv" / "bin" / "gunicorn"), "--config", "gunicorn.conf.py"],
        cwd=installed,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield server, f"http://127.0.0.1:{port}"
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def test_the_pods_configuration_serves_probes_and_metrics(
    gunicorn_with_pod_env: tuple[subprocess.Popen[bytes], str],
    rendered: dict[str, list[Manifest]],
) -> None:
    server, url = gunicorn_with_pod_env
    app = container(rendered["prod"])
    startup = app["startupProbe"]
    deadline = time.monotonic() + startup["periodSeconds"] * startup["failureThreshold"]
    while http_get(url + startup["httpGet"]["path"])[0] != 200:
        assert server.poll() is None, "gunicorn exited while starting"
        assert time.monotonic() < deadline, "the startup probe would have failed"
        time.sleep(0.2)
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert http_get(url + app[probe]["httpGet"]["path"])[0] == 200
    for path in metrics_paths(rendered["prod"]):
        status, metrics = http_get(url + path)
        assert status == 200
        assert "http_requests_total{" in metrics
    # SIGTERM after the preStop pause: gunicorn must exit cleanly before the kubelet's SIGKILL.
    server.send_signal(signal.SIGTERM)
    pause = app["lifecycle"]["preStop"]["sleep"]["seconds"]
    budget = pod_spec(rendered["prod"])["terminationGracePeriodSeconds"] - pause
    assert server.wait(timeout=budget) == 0
