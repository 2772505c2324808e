"""The dashboards and alert rules, proven against the real service and a real Prometheus.

The live tests share one stack: the default project baked, installed and trained, served by
gunicorn with two workers, and scraped every second by Prometheus under two jobs: one as docker
compose sees it (no namespace or pod label), one as a Kubernetes ServiceMonitor would (both). After
about 30 seconds of varied traffic, during which one worker is killed, every query of both
dashboards and every alert rule runs through Prometheus's HTTP API. Last, the project's locust
profile runs twice, drawing rows as in training and then with one feature shifted, to prove the
drift rules on the service's own counts.
"""

import json
import math
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models import prometheus as prometheus_query
from grafana_foundation_sdk.models.dashboard import Dashboard, Panel

from .conftest import TEMPLATE, bake, free_port, project_env, require, run

FLEET_DASHBOARD = TEMPLATE / "grafana" / "fleet.json"
SERVICE_DASHBOARD = Path("grafana") / "dashboards" / "service.json"
SERVICE_RULES = Path("prometheus") / "rules" / "service.yml"
PROMETHEUS_RULE = TEMPLATE / "k8s" / "prometheusrule.yaml"
ADAPTER_VALUES = TEMPLATE / "k8s" / "prometheus-adapter-values.yaml"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}

# Series that only a cluster has; a panel query that reads one may return nothing here.
CLUSTER_ONLY = {
    "kube_deployment_status_replicas_ready": "kube-state-metrics, which runs only in a cluster",
    "kube_horizontalpodautoscaler_status_desired_replicas": "kube-state-metrics, in a cluster",
    "kube_horizontalpodautoscaler_spec_max_replicas": "kube-state-metrics, in a cluster",
}

LOCAL_JOB = "model-service"
CLUSTER_JOB = "model-service-in-cluster"
CLUSTER_NAMESPACE = "serving"
CLUSTER_POD = "model-service-6d5f7b9c4-x7k2p"

SCRAPE_SECONDS = 1
RATE_INTERVAL = "10s"  # what Grafana's $__rate_interval is at this scrape interval, rounded up
LOAD_SECONDS = 30
KILL_AFTER_SECONDS = 10
# Bounds on waiting, not speed targets: generous, so that only a hang fails them.
START_TIMEOUT = 120
# The drift rules read the last hour, and their alerts wait 30 minutes or more. The stack loads
# them reading the last PSI_WINDOW instead and waiting 5 seconds, so that each locust run of
# DRIFT_LOAD_SECONDS, longer than the window, has a PSI of its own rows alone.
DRIFT_GROUP = "model-service-drift"
PSI_WINDOW = "15s"
DRIFT_LOAD_SECONDS = 25


def http(url: str, body: Any = None, timeout: float = 10) -> tuple[int, bytes]:
    """Status and body of one request; an HTTP error status is an answer, not an exception."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_until(what: str, check: Any, process: subprocess.Popen[bytes] | None = None) -> Any:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if process is not None and process.poll() is not None:
            pytest.fail(f"exited with {process.returncode} while waiting until {what}")
        try:
            result = check()
        except (OSError, urllib.error.URLError):
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {START_TIMEOUT} s waiting until {what}")
        time.sleep(0.3)


@dataclass
class Prometheus:
    url: str

    def api(self, path: str, **params: Any) -> Any:
        query = urllib.parse.urlencode(params, doseq=True)
        status, body = http(f"{self.url}/api/v1/{path}?{query}")
        answer = json.loads(body)
        assert answer["status"] == "success", f"{path} {params}: {answer}"
        assert status == 200
        return answer["data"]

    def query(self, expr: str, at: float) -> list[dict[str, Any]]:
        data = self.api("query", query=expr, time=at)
        assert data["resultType"] == "vector", f"{expr} gave a {data['resultType']}"
        result: list[dict[str, Any]] = data["result"]
        return result

    def label_values(self, label: str, selector: str) -> list[str]:
        values: list[str] = self.api(f"label/{label}/values", **{"match[]": selector})
        return values


@dataclass
class Stack:
    project: Path
    prometheus: Prometheus
    service_url: str
    load_end: float
    killed_pid: int
    statuses: Counter[int]
    # Rows of the predict requests that were answered 200, and of those that got no answer.
    rows_answered: int
    rows_unanswered: int


def worker_pids(service_url: str) -> set[int]:
    """The pids of the workers that publish their process metrics, from one scrape."""
    _, text = http(f"{service_url}/metrics")
    return {
        int(pid)
        for pid in re.findall(r'^process_resident_memory_bytes\{pid="(\d+)"\}', text.decode(), re.M)
    }


def example_row(service_url: str) -> dict[str, float]:
    _, body = http(f"{service_url}/openapi.json")
    content = json.loads(body)["paths"]["/predict"]["post"]["requestBody"]["content"]
    example = content["application/json"]["examples"]["median"]["value"]
    row: dict[str, float] = example["instances"][0]
    return row


def drive_load(
    service_url: str, seconds: float, interrupt: Callable[[], None]
) -> tuple[Counter[int], Counter[int]]:
    """Varied traffic for `seconds`: predictions of 1 to 150 rows, client errors, other routes;
    `interrupt()` runs KILL_AFTER_SECONDS into it.

    Returns how many answers of each status came back (0: no answer, as when a worker dies), and
    how many rows of valid predict requests got each status.
    """
    row = example_row(service_url)
    missing_feature = dict(list(row.items())[1:])
    requests: list[tuple[str, Any]] = [
        *[("/predict", {"instances": [row] * rows}) for rows in (1, 1, 1, 3, 8, 20, 60, 150)],
        ("/predict", {"instances": [missing_feature]}),  # 422
        ("/predict", {"instances": []}),  # 422
        ("/model", None),
        ("/health/ready", None),
        ("/no-such-route", None),  # 404
    ]
    deadline = time.monotonic() + seconds
    interrupt_at = time.monotonic() + KILL_AFTER_SECONDS

    def client(offset: int) -> tuple[Counter[int], Counter[int]]:
        statuses: Counter[int] = Counter()
        rows: Counter[int] = Counter()
        for count in range(100_000):  # bounded, however fast the service answers
            if time.monotonic() > deadline:
                break
            path, body = requests[(offset + count) % len(requests)]
            try:
                status, _ = http(f"{service_url}{path}", body)
            except (OSError, urllib.error.URLError):
                status = 0
            statuses[status] += 1
            if path == "/predict" and body["instances"] and len(body["instances"][0]) == len(row):
                rows[status] += len(body["instances"])
            time.sleep(0.01)
        return statuses, rows

    with ThreadPoolExecutor(4) as pool:
        clients = [pool.submit(client, offset) for offset in range(4)]
        time.sleep(max(0.0, interrupt_at - time.monotonic()))
        interrupt()
        results = [future.result() for future in clients]
        return sum((r[0] for r in results), Counter()), sum((r[1] for r in results), Counter())


def scrape_config(service_port: int, rules: Path) -> dict[str, Any]:
    target = f"127.0.0.1:{service_port}"
    return {
        "global": {
            "scrape_interval": f"{SCRAPE_SECONDS}s",
            "scrape_timeout": f"{SCRAPE_SECONDS}s",
            "evaluation_interval": f"{SCRAPE_SECONDS}s",
        },
        "rule_files": [str(rules)],
        "scrape_configs": [
            {"job_name": LOCAL_JOB, "static_configs": [{"targets": [target]}]},
            {
                "job_name": CLUSTER_JOB,
                "static_configs": [
                    {
                        "targets": [target],
                        "labels": {"namespace": CLUSTER_NAMESPACE, "pod": CLUSTER_POD},
                    }
                ],
            },
        ],
    }


def rules_for_a_short_test(rules: Path) -> dict[str, Any]:
    """The project's rules, those of the drift group over PSI_WINDOW and with `for: 5s`."""
    loaded = yaml.safe_load(rules.read_text())
    (group,) = [group for group in loaded["groups"] if group["name"] == DRIFT_GROUP]
    for rule in group["rules"]:
        assert "1h" in rule["expr"], rule  # each reads the last hour, or a rule that does
        rule["expr"] = rule["expr"].replace("[1h]", f"[{PSI_WINDOW}]")
        if "for" in rule:
            rule["for"] = "5s"
    return loaded


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    require("uv")
    require("make")
    require("prometheus")
    require("promtool")
    tmp = tmp_path_factory.mktemp("observability")
    project = bake(tmp)
    run(["make", "install"], cwd=project)
    run(["make", "train"], cwd=project)

    service_port = free_port()
    service_url = f"http://127.0.0.1:{service_port}"
    env = {
        **project_env(),
        "MODEL_SERVICE_HOST": "127.0.0.1",
        "MODEL_SERVICE_PORT": str(service_port),
        "MODEL_SERVICE_LOG_FORMAT": "json",
        "WEB_CONCURRENCY": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp / "metrics"),
    }
    with (tmp / "gunicorn.log").open("wb") as log:
        gunicorn = subprocess.Popen(
            [str(project / ".venv" / "bin" / "gunicorn"), "--config", "gunicorn.conf.py"],
            cwd=project,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    prometheus_process = None
    try:
        wait_until("both workers serve", lambda: len(worker_pids(service_url)) == 2, gunicorn)

        rules = tmp / "rules.yml"
        rules.write_text(yaml.safe_dump(rules_for_a_short_test(project / SERVICE_RULES)))
        config = tmp / "prometheus.yml"
        config.write_text(yaml.safe_dump(scrape_config(service_port, rules)))
        run(["promtool", "check", "config", str(config)], cwd=tmp)
        prometheus_port = free_port()
        with (tmp / "prometheus.log").open("wb") as log:
            prometheus_process = subprocess.Popen(
                [
                    "prometheus",
                    f"--config.file={config}",
                    f"--storage.tsdb.path={tmp / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{prometheus_port}",
                ],
                cwd=tmp,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        prometheus = Prometheus(f"http://127.0.0.1:{prometheus_port}")
        wait_until(
            "Prometheus scrapes both jobs",
            lambda: len(prometheus.query("up == 1", time.time())) == 2,
            prometheus_process,
        )

        victim = min(worker_pids(service_url))
        statuses, rows = drive_load(
            service_url, LOAD_SECONDS, lambda: os.kill(victim, signal.SIGKILL)
        )
        load_end = time.time()

        def replaced() -> bool:
            pids = worker_pids(service_url)
            return len(pids) == 2 and victim not in pids

        wait_until("the killed worker is replaced", replaced, gunicorn)
        settled = time.time()
        # Until a scrape after that has been stored, and the rules have run on it.
        wait_until(
            "Prometheus has scraped since",
            lambda: prometheus.query(f"timestamp(up) > {settled + SCRAPE_SECONDS}", time.time()),
        )
        yield Stack(
            project, prometheus, service_url, load_end, victim, statuses, rows[200], rows[0]
        )
    finally:
        if prometheus_process is not None:
            stop(prometheus_process)
        stop(gunicorn)


# --- The dashboards as Grafana models -------------------------------------------------------


def dashboards(baked: Path) -> dict[str, dict[str, Any]]:
    return {
        "fleet": json.loads(FLEET_DASHBOARD.read_text()),
        "service": json.loads((baked / SERVICE_DASHBOARD).read_text()),
    }


def query_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [panel for panel in dashboard["panels"] if panel["type"] != "row"]


def test_dashboards_load_as_grafana_dashboard_models(baked: Path) -> None:
    register_default_plugins()
    for name, raw in dashboards(baked).items():
        assert isinstance(raw["schemaVersion"], int), name
        assert raw["uid"], name
        assert raw["title"], name
        model = Dashboard.from_json(raw)
        panels = [panel for panel in model.panels or [] if isinstance(panel, Panel)]
        assert len(panels) == len(query_panels(raw)) >= 8, name
        for panel in panels:
            assert panel.targets, f"{name}: {panel.title} has no query"
            for target in panel.targets:
                # Decoded as a Prometheus query: the panel names its data source type.
                assert isinstance(target, prometheus_query.Dataquery), f"{name}: {panel.title}"
                assert target.expr, f"{name}: {panel.title}"
            # Each panel type's options decode into that plugin's own model.
            assert type(panel.options).__module__.endswith(f".{panel.type_val}"), panel.title


def test_dashboard_panels_have_unique_ids_and_a_place_on_the_grid(baked: Path) -> None:
    for name, dashboard in dashboards(baked).items():
        ids = [panel["id"] for panel in dashboard["panels"]]
        assert len(ids) == len(set(ids)), f"{name}: panel ids repeat"
        cells: dict[tuple[int, int], str] = {}
        for panel in dashboard["panels"]:
            grid = panel["gridPos"]
            assert {"h", "w", "x", "y"} <= grid.keys(), f"{name}: {panel['title']}"
            assert grid["x"] + grid["w"] <= 24, f"{name}: {panel['title']} is too wide"
            for x in range(grid["x"], grid["x"] + grid["w"]):
                for y in range(grid["y"], grid["y"] + grid["h"]):
                    assert (x, y) not in cells, f"{name}: {panel['title']} covers {cells[x, y]}"
                    cells[x, y] = panel["title"]


def test_dashboards_use_the_data_source_variable(baked: Path) -> None:
    for name, dashboard in dashboards(baked).items():
        variables = dashboard["templating"]["list"]
        assert variables[0]["type"] == "datasource"
        assert variables[0]["query"] == "prometheus"
        for variable in variables[1:]:
            if variable["type"] == "query":
                assert variable["datasource"] == DATASOURCE, f"{name}: ${variable['name']}"
        for panel in query_panels(dashboard):
            assert panel["datasource"] == DATASOURCE, f"{name}: {panel['title']}"
            for target in panel["targets"]:
                assert target["datasource"] == DATASOURCE, f"{name}: {panel['title']}"


def test_service_dashboard_and_rules_are_copied_without_rendering(baked: Path) -> None:
    source = TEMPLATE / "{{cookiecutter.project_slug}}"
    for relative in (SERVICE_DASHBOARD, SERVICE_RULES):
        assert (baked / relative).read_text() == (source / relative).read_text()
    assert "{{handler}}" in (baked / SERVICE_DASHBOARD).read_text()
    assert "{{ $labels.job }}" in (baked / SERVICE_RULES).read_text()


def test_prometheus_rule_carries_exactly_the_service_alerts(baked: Path) -> None:
    rule = yaml.safe_load(PROMETHEUS_RULE.read_text())
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["kind"] == "PrometheusRule"
    assert rule["spec"]["groups"] == yaml.safe_load((baked / SERVICE_RULES).read_text())["groups"]


def test_generated_readme_gives_the_adapter_rule_of_the_values_file(baked: Path) -> None:
    readme = (baked / "README.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", readme, flags=re.DOTALL)
    (block,) = [block for block in blocks if "http_requests_per_second" in block]
    expected = yaml.safe_load(ADAPTER_VALUES.read_text())["rules"]
    assert yaml.safe_load(block)["rules"] == expected


def test_alert_rules_pass_promtool_and_their_unit_tests(baked: Path) -> None:
    require("make")
    require("promtool")
    output = run(["make", "test-alerts"], cwd=baked)
    assert "SUCCESS: 14 rules found" in output
    assert "SUCCESS" in output.rsplit("Unit Testing:", 1)[1]


# --- Every query against the real service ---------------------------------------------------


def substitute(expr: str, values: dict[str, str]) -> str:
    """Grafana's interpolation of $name and ${name}; an unknown variable fails the test."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        assert name in values, f"unknown variable ${name} in {expr}"
        return values[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", value, expr)


def grafana_regex_escape(value: str) -> str:
    """A value as Grafana writes it into a Prometheus regex: each special character escaped
    with two backslashes, one for the PromQL string and one for the regex."""
    return re.sub(r"([$^*{}\[\]'+?.()|])", r"\\\\\1", value)


def resolve_variables(
    dashboard: dict[str, Any], prometheus: Prometheus, chosen: dict[str, str]
) -> dict[str, str]:
    """The value of each template variable as Grafana would set it.

    A text box takes its default. Any other variable is `chosen`, or All when it offers All (its
    allValue, or else every value it lists as one regex), or else its first value.
    label_values() is Grafana's, not PromQL: it runs as Prometheus's label values API, as Grafana
    runs it.
    """
    values = {"__rate_interval": RATE_INTERVAL}
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "datasource":
            continue
        if variable["type"] == "textbox":  # a number the reader types; its default here
            values[variable["name"]] = variable["query"]
            continue
        query = substitute(variable["definition"], values)
        found = re.fullmatch(r"label_values\((.+), (\w+)\)", query)
        assert found, f"${variable['name']}: {query} is not label_values(selector, label)"
        listed = prometheus.label_values(found.group(2), found.group(1))
        name = variable["name"]
        if name in chosen:
            assert chosen[name] in listed, f"${name} does not list {chosen[name]}: {listed}"
            values[name] = chosen[name]
        elif variable["includeAll"]:
            everything = "(" + "|".join(map(grafana_regex_escape, listed)) + ")"
            values[name] = variable.get("allValue") or everything
        else:
            assert listed, f"${name} lists nothing"
            values[name] = listed[0]
    return values


def cluster_only(expr: str) -> bool:
    return any(name in expr for name in CLUSTER_ONLY)


SCENARIOS = {
    "service, docker compose": ("service", {"job": LOCAL_JOB}),
    "service, Kubernetes": (
        "service",
        {"namespace": CLUSTER_NAMESPACE, "job": CLUSTER_JOB, "pod": CLUSTER_POD},
    ),
    "fleet, every service": ("fleet", {}),
}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_dashboard_query_shows_data_from_the_service(stack: Stack, scenario: str) -> None:
    name, chosen = SCENARIOS[scenario]
    dashboard = dashboards(stack.project)[name]
    values = resolve_variables(dashboard, stack.prometheus, chosen)
    empty = []
    checked = 0
    for panel in query_panels(dashboard):
        for target in panel["targets"]:
            expr = substitute(target["expr"], values)
            series = stack.prometheus.query(expr, at=stack.load_end)  # fails unless it parses
            checked += 1
            numbers = [float(sample["value"][1]) for sample in series]
            if not any(math.isfinite(number) for number in numbers) and not cluster_only(expr):
                empty.append(f"{panel['title']} [{target['refId']}]: {expr} -> {numbers}")
    assert not empty, "panels without data:\n" + "\n".join(empty)
    assert checked >= 10


def test_only_series_of_a_cluster_are_exempt(baked: Path) -> None:
    exprs = [
        target["expr"]
        for dashboard in dashboards(baked).values()
        for panel in query_panels(dashboard)
        for target in panel["targets"]
    ]
    for name in CLUSTER_ONLY:
        assert any(name in expr for expr in exprs), f"{name} is exempt but no panel reads it"
    assert sum(cluster_only(expr) for expr in exprs) < len(exprs) / 5


def test_the_load_exercised_successes_client_errors_and_many_row_counts(stack: Stack) -> None:
    assert stack.statuses.get(200, 0) > 100
    assert stack.statuses.get(422, 0) > 10
    assert stack.statuses.get(404, 0) > 5
    rows = stack.prometheus.query(
        f'sum by (le) (increase(model_request_rows_bucket{{job="{LOCAL_JOB}"}}[1h])) > 0',
        at=stack.load_end,
    )
    assert len({sample["metric"]["le"] for sample in rows}) >= 6


def test_predictions_and_their_cost_follow_the_load(stack: Stack) -> None:
    # Every row answered was counted, and at most the rows that the killed worker took with it
    # besides (its counter file outlives it).
    (total,) = stack.prometheus.query(
        f'sum(model_predictions_total{{job="{LOCAL_JOB}"}})', at=time.time()
    )
    counted = float(total["value"][1])
    assert stack.rows_answered > 1000
    assert stack.rows_answered <= counted <= stack.rows_answered + stack.rows_unanswered

    # The cost panel, at the end of the load and at twice the price: CPU per row, as money.
    dashboard = dashboards(stack.project)["service"]
    (panel,) = [p for p in query_panels(dashboard) if p["title"] == "Cost per million predictions"]
    values = resolve_variables(dashboard, stack.prometheus, {"job": LOCAL_JOB})
    price = float(values["cpu_hour_price"])
    at = stack.load_end - SCRAPE_SECONDS
    (cost,) = stack.prometheus.query(substitute(panel["targets"][0]["expr"], values), at=at)
    doubled = values | {"cpu_hour_price": str(2 * price)}
    (cost_doubled,) = stack.prometheus.query(
        substitute(panel["targets"][0]["expr"], doubled), at=at
    )
    per_million = float(cost["value"][1])
    assert float(cost_doubled["value"][1]) == pytest.approx(2 * per_million)
    # Above zero, and below what every core of the machine busy all along would cost at half
    # the load's mean rate of rows.
    rows_per_second = stack.rows_answered / LOAD_SECONDS
    ceiling = (os.cpu_count() or 1) / (rows_per_second / 2) * price / 3600 * 1e6
    assert 0 < per_million < ceiling


def test_every_alert_rule_parses_and_evaluates(stack: Stack) -> None:
    groups = yaml.safe_load((stack.project / SERVICE_RULES).read_text())["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    for rule in rules:
        stack.prometheus.query(rule["expr"], at=stack.load_end)  # fails unless it parses
    loaded = {
        rule["name"]: rule
        for group in stack.prometheus.api("rules")["groups"]
        for rule in group["rules"]
    }
    assert set(loaded) == {rule.get("alert") or rule["record"] for rule in rules}
    for name, rule in loaded.items():
        assert rule["health"] == "ok", f"{name}: {rule.get('lastError')}"


def test_killed_worker_fires_the_restart_alert(stack: Stack) -> None:
    live = stack.prometheus.query(
        f'process_resident_memory_bytes{{job="{LOCAL_JOB}"}}', at=time.time()
    )
    pids = {int(sample["metric"]["pid"]) for sample in live}
    assert len(pids) == 2
    assert stack.killed_pid not in pids
    firing = [
        alert["labels"]
        for alert in stack.prometheus.api("alerts")["alerts"]
        if alert["labels"]["alertname"] == "ModelServiceWorkerRestarts"
        and alert["state"] == "firing"
    ]
    assert {labels["job"] for labels in firing} == {LOCAL_JOB, CLUSTER_JOB}
    assert all(labels["severity"] == "warning" for labels in firing)


def test_adapter_rule_serves_requests_per_second_per_pod(stack: Stack) -> None:
    rules = yaml.safe_load(ADAPTER_VALUES.read_text())["rules"]["custom"]
    (rule,) = [rule for rule in rules if rule["name"]["as"] == "http_requests_per_second"]
    assert re.search(rule["name"]["matches"], "http_requests_total")
    found = stack.prometheus.api("series", **{"match[]": rule["seriesQuery"]})
    assert {series["pod"] for series in found} == {CLUSTER_POD}
    # The adapter fills in the series and the selector of the pods the HPA asks about.
    expr = (
        rule["metricsQuery"]
        .replace("<<.Series>>", "http_requests_total")
        .replace("<<.LabelMatchers>>", f'namespace="{CLUSTER_NAMESPACE}",pod=~"{CLUSTER_POD}"')
        .replace("<<.GroupBy>>", "pod")
    )
    (sample,) = stack.prometheus.query(expr, at=stack.load_end)
    assert sample["metric"] == {"pod": CLUSTER_POD}
    assert float(sample["value"][1]) > 1


# --- Drift, on the locust profile's rows (these run last: they add predictions) ---------------


@dataclass
class Drift:
    shifted: str
    tracked: set[str]
    # PSI per feature, and the features whose drift alert fired, at the end of each locust run.
    psi_as_trained: dict[str, float]
    psi_shifted: dict[str, float]
    firing_as_trained: set[str]
    firing_shifted: set[str]


@pytest.fixture(scope="module")
def drift(stack: Stack) -> Drift:
    prometheus = stack.prometheus
    tracked = set(
        prometheus.label_values("feature", f'model_input_bin_training_ratio{{job="{LOCAL_JOB}"}}')
    )
    metadata = json.loads((stack.project / "models" / "model.metadata.json").read_text())
    shifted = metadata["features"][0]["name"]

    def locust(**env: str) -> float:
        """Run the project's locust profile; return when it ended, with a scrape and a rule
        evaluation after its last rows."""
        run(
            [
                str(stack.project / ".venv" / "bin" / "locust"), "--locustfile",
                "loadtest/locustfile.py", "--headless", "--host", stack.service_url, "--users", "4",
                "--spawn-rate", "4", "--run-time", f"{DRIFT_LOAD_SECONDS}s", "--only-summary",
            ],
            cwd=stack.project,
            env={"MODEL_SERVICE_MODEL_PATH": "models/model.ubj", "P95_MS": "10000", **env},
        )  # fmt: skip
        return time.time() - 2 * SCRAPE_SECONDS

    def psi(at: float) -> dict[str, float]:
        series = prometheus.query(f'job_feature:model_input_psi:1h{{job="{LOCAL_JOB}"}}', at)
        return {sample["metric"]["feature"]: float(sample["value"][1]) for sample in series}

    def firing(at: float) -> set[str]:
        selector = f'alertname="ModelServiceInputDrift", alertstate="firing", job="{LOCAL_JOB}"'
        return {
            sample["metric"]["feature"] for sample in prometheus.query(f"ALERTS{{{selector}}}", at)
        }

    as_trained = locust()
    shifted_end = locust(SHIFT_FEATURE=shifted, SHIFT_BY="1")
    return Drift(
        shifted, tracked, psi(as_trained), psi(shifted_end), firing(as_trained), firing(shifted_end)
    )


def test_the_first_features_are_tracked(drift: Drift) -> None:
    assert len(drift.tracked) == 10  # DRIFT_FEATURES' default, of the sample's 30 features
    assert drift.shifted in drift.tracked


def test_rows_drawn_as_in_training_keep_every_feature_stable(drift: Drift) -> None:
    assert set(drift.psi_as_trained) == drift.tracked
    assert all(psi < 0.1 for psi in drift.psi_as_trained.values()), drift.psi_as_trained
    assert drift.firing_as_trained == set()


def test_a_shifted_feature_drifts_alone_and_fires_the_drift_alert(drift: Drift) -> None:
    assert drift.psi_shifted[drift.shifted] > 0.2
    others = {name: psi for name, psi in drift.psi_shifted.items() if name != drift.shifted}
    assert set(others) == drift.tracked - {drift.shifted}
    assert all(psi < 0.1 for psi in others.values()), others
    assert drift.firing_shifted == {drift.shifted}
