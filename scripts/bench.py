"""Benchmark the default generated service against the limits of its hardware.

    make bench            (BENCH_SECONDS=N sets each load run's length, default 2;
                           BENCH_RUNS=N how many runs of each load, default 3)

Bakes the default project, serves it with one gunicorn worker pinned to CPU 0, and loads it with
wrk pinned to CPU 1, on 127.0.0.1. Everything is compared with references measured in the same
run, never with absolute numbers: (a) the model's own in-process predict time (XGBoost's
`Booster.inplace_predict`, and the service's predictor for comparison), (b) a minimal ASGI app
under the same server, which reads the body and returns constant JSON, (c) a bare Python process
that imports the same libraries and loads the model, and (d) the minimal app of (b), also calling
the model once per request on rows validated in advance. The service also runs with its drift
monitoring off, for the throughput ratio of monitoring on to off. The last line reads
`single: N% of limit, batch: M% of limit`, where limit = 1 / (t_model + t_http), t_model from
inplace_predict and t_http from (b).

The machine may be shared: other work on the host only ever slows a run down. So every figure is
the best of several runs: the fastest load, the fastest model time. The loads take turns, so that
a slow spell of the host costs each of them one run rather than all of one load's runs.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from cookiecutter.main import cookiecutter
from processes import free_port, project_env, stop_group, wait_ready

TEMPLATE = Path(__file__).resolve().parents[1]
SECONDS = int(os.environ.get("BENCH_SECONDS", "2"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
SERVER_CPU, LOAD_CPU = "0", "1"
Key = TypeVar("Key")
BATCH_ROWS = 100
MICRO_BATCH_ROWS = 64
UNMONITORED = -1  # the service with its drift monitoring off (DRIFT_FEATURES=0)

# (b) the minimal app: reads the body, calls `handle` (a no-op here), returns constant JSON.
MINIMAL_APP = """
def handle(scope):
    pass


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    handle(scope)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b'{"predictions": ["benign"]}'})
"""

# (d) the same app whose `handle` calls the model once per request on rows validated in advance,
# as many as the request's path says: what any server that calls the model per request can reach.
MODEL_HANDLER = """
from pathlib import Path
import numpy
from {package}.serving.loader import load_model

model = load_model(Path("{model}"), threads=1)
row = numpy.array([list(model.metadata.example_row().values())], dtype=numpy.float64)
batches = {{"/1": row, "/{batch}": numpy.repeat(row, {batch}, axis=0)}}


def handle(scope):
    model.predictor.predict(batches[scope["path"]])
"""

# Imports what the service imports, loads the model, and reports its time and memory.
BARE_PROCESS = """
import time, sys
start = float(sys.argv[1])
import fastapi, uvicorn, gunicorn, pydantic, pydantic_settings, structlog, prometheus_client
import numpy, xgboost
booster = xgboost.Booster(model_file=sys.argv[2])
rss = next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmRSS"))
print(time.time() - start, rss)
"""

# The model's own predict time, XGBoost's Booster.inplace_predict on rows in a float64 matrix,
# the call the service makes (t_model), and for comparison that of the service's predictor on
# the same rows (that call, plus labelling each answer): the fastest of four half-second loops.
MODEL_TIMING = """
import json, sys, time
from pathlib import Path
import numpy, xgboost
from {package}.serving.loader import load_model
model = load_model(Path(sys.argv[1]), threads=1)
booster = xgboost.Booster(model_file=sys.argv[1])
booster.set_param({{"nthread": 1}})
row = numpy.array([list(model.metadata.example_row().values())], dtype=numpy.float64)


def fastest(call):
    for _ in range(200):
        call()
    per_call = []
    for _ in range(4):
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < 0.5:
            call()
            count += 1
        per_call.append((time.perf_counter() - start) / count)
    return min(per_call)


for rows in (1, {batch}):
    x = numpy.repeat(row, rows, axis=0)
    print(rows, fastest(lambda: booster.inplace_predict(x)),
          fastest(lambda: model.predictor.predict(x)))
"""


@dataclass
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    model_ms: float | None = None
    """The model's mean time per call inside the service during the run, from its metrics."""
    rows_per_call: float | None = None
    """Rows per model call inside the service during the run: above 1 with micro-batching."""


def to_ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(url: str, script: Path, connections: int, seconds: int) -> str:
    return subprocess.run(
        ["taskset", "-c", LOAD_CPU, "wrk", "-t1", f"-c{connections}", f"-d{seconds}s",
         "--latency", "-s", str(script), url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip


@dataclass(frozen=True)
class Target:
    """One load: wrk posting `script` to `url` over `connections` connections."""

    url: str
    script: Path
    connections: int
    metrics_url: str | None = None
    """The service's /metrics: the load then also reads the model's time and rows per call."""


def load_once(target: Target) -> Load:
    """One run of SECONDS. With a metrics URL, the load carries the model's mean time per call
    and the rows each call predicted, from the service's own counts during the run."""
    before = model_totals(target.metrics_url) if target.metrics_url else None
    output = run_wrk(target.url, target.script, target.connections, SECONDS)
    if "Non-2xx" in output or "Socket errors" in output:
        raise SystemExit(f"wrk saw errors:\n{output}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    # wrk pads a latency in seconds with a space: "99%    1.17s ".
    percentile = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", output, re.MULTILINE))
    load = Load(rps, to_ms(percentile["50"]), to_ms(percentile["99"]))
    if target.metrics_url and before is not None:
        after = model_totals(target.metrics_url)
        seconds, calls, rows = (end - start for end, start in zip(after, before, strict=True))
        load.model_ms = seconds / calls * 1000
        load.rows_per_call = rows / calls
    return load


def fastest_loads(targets: dict[Key, Target]) -> dict[Key, Load]:
    """The fastest of RUNS runs of each target, the targets taking turns.

    Each target is first warmed up for a second, its figures dropped: the first requests pay
    for new connections, cold caches and lazy setup. Then come RUNS rounds of one run of each.
    In turns, a slow spell of the shared machine costs each target one run at most, where runs
    in a row could lose all of one target's runs and skew its ratio to the others.
    """
    for target in targets.values():
        run_wrk(target.url, target.script, target.connections, 1)
    best: dict[Key, Load] = {}
    for _ in range(RUNS):
        for key, target in targets.items():
            load = load_once(target)
            if key not in best or load.rps > best[key].rps:
                best[key] = load
    return best


def post_script(path: Path, body: str) -> Path:
    path.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = [[{body}]]\n"
    )
    return path


def serve(command: list[str], cwd: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            ["taskset", "-c", SERVER_CPU, *command], cwd=cwd, env=env, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip


def worker_rss(log: Path) -> int:
    pids = re.findall(r"Booting worker with pid: (\d+)", log.read_text())
    status = Path(f"/proc/{pids[-1]}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) * 1024  # type: ignore[union-attr]


def model_totals(metrics_url: str) -> tuple[float, float, float]:
    """Seconds and calls of the model, and rows predicted, that the service has counted so far."""
    with urllib.request.urlopen(metrics_url, timeout=5) as response:
        text = response.read().decode()
    calls = dict(re.findall(r"^model_inference_duration_seconds_(sum|count) (\S+)$", text, re.M))
    rows = re.search(r"^model_request_rows_sum (\S+)$", text, re.M).group(1)  # type: ignore[union-attr]
    return float(calls["sum"]), float(calls["count"]), float(rows)


def row(text: str, load: Load) -> str:
    line = (
        f"  {text:<42} {load.rps:>7.0f} req/s  p50 {load.p50_ms:7.3f} ms  p99 {load.p99_ms:7.3f} ms"
    )
    if load.model_ms is not None:
        line += f"  model {load.model_ms:.3f} ms, {load.rows_per_call:.1f} rows a call"
    return line


def main() -> None:
    for tool in ("wrk", "taskset", "uv"):
        if shutil.which(tool) is None:
            raise SystemExit(f"make bench needs {tool}")
    if (os.cpu_count() or 1) < 2:
        raise SystemExit("make bench needs two CPUs: one for the server, one for the load")
    if SECONDS < 1 or RUNS < 1:
        raise SystemExit("BENCH_SECONDS and BENCH_RUNS must be at least 1")

    with tempfile.TemporaryDirectory(prefix="bench-") as workdir:
        work = Path(workdir)
        project = Path(cookiecutter(str(TEMPLATE), no_input=True, output_dir=workdir))
        env = project_env()
        subprocess.run(["make", "install", "train"], cwd=project, env=env, check=True,
                       capture_output=True)  # fmt: skip
        python = str(project / ".venv" / "bin" / "python")
        model = project / "models" / "model.ubj"
        metadata = json.loads((project / "models" / "model.metadata.json").read_text())
        example = {name: s["quantiles"]["p50"] for name, s in metadata["summary"].items()}
        single = post_script(work / "single.lua", json.dumps({"instances": [example]}))
        batch = post_script(work / "batch.lua", json.dumps({"instances": [example] * BATCH_ROWS}))
        # The same rows as one positional [N, F] tensor, for the Open Inference Protocol (V2).
        values = [example[feature["name"]] for feature in metadata["features"]] * BATCH_ROWS
        tensor = {"name": "input-0", "shape": [BATCH_ROWS, len(example)], "datatype": "FP64"}
        v2_batch = post_script(
            work / "v2_batch.lua", json.dumps({"inputs": [tensor | {"data": values}]})
        )

        # (c) a bare process: imports and model load, time and memory
        bare_runs = []
        for _ in range(3):
            command = [python, "-c", BARE_PROCESS, str(time.time()), str(model)]
            out = subprocess.run(
                ["taskset", "-c", SERVER_CPU, *command],
                capture_output=True, text=True, check=True, cwd=project,
            ).stdout.split()  # fmt: skip
            bare_runs.append((float(out[0]), int(out[1])))
        bare_seconds = min(seconds for seconds, _ in bare_runs)
        bare_rss = min(rss for _, rss in bare_runs)

        # (a) the model in-process
        timing = subprocess.run(
            ["taskset", "-c", SERVER_CPU, python, "-c",
             MODEL_TIMING.format(package="model_service", batch=BATCH_ROWS), str(model)],
            capture_output=True, text=True, check=True, cwd=project,
        ).stdout  # fmt: skip
        timings = [line.split() for line in timing.splitlines()]
        t_model = {int(n): float(t) for n, t, _ in timings}
        t_predictor = {int(n): float(t) for n, _, t in timings}

        # The servers, all on the server's CPU: the service with micro-batching off and on (the
        # first started alone, for its time to ready), (b) the minimal app, and (d) the minimal
        # app calling the model, in the project's environment.
        gunicorn = str(project / ".venv" / "bin" / "gunicorn")
        servers = []
        try:
            service_urls = {}
            # Keyed by micro-batch rows; UNMONITORED: micro-batching off, drift counting off.
            for batching in (0, MICRO_BATCH_ROWS, UNMONITORED):
                port = free_port()
                log = work / f"service-{batching}.log"
                service_env = project_env(
                    MODEL_SERVICE_PORT=str(port), MODEL_SERVICE_LOG_FORMAT="json",
                    MODEL_SERVICE_BATCH_MAX_ROWS=str(max(batching, 0)), WEB_CONCURRENCY="1",
                    MODEL_SERVICE_DRIFT_FEATURES="0" if batching == UNMONITORED else "10",
                )  # fmt: skip
                servers.append(serve([gunicorn, "--config", "gunicorn.conf.py"], project,
                                     service_env, log))  # fmt: skip
                ready = wait_ready(f"http://127.0.0.1:{port}/health/ready", servers[-1])
                if not batching:
                    cold_start, service_log = ready, log
                service_urls[batching] = f"http://127.0.0.1:{port}"

            (work / "minimal_app.py").write_text(textwrap.dedent(MINIMAL_APP))
            handler = MODEL_HANDLER.format(package="model_service", model=model, batch=BATCH_ROWS)
            # The handler's definition comes after the minimal app's no-op one, and replaces it.
            (work / "model_app.py").write_text(textwrap.dedent(MINIMAL_APP) + handler)
            app_urls = {}
            for name, module, threads in (
                ("minimal", "minimal_app", {}),
                ("model", "model_app", {"OMP_NUM_THREADS": "1"}),
            ):
                port = free_port()
                servers.append(serve(
                    [gunicorn, "--worker-class", "uvicorn_worker.UvicornWorker", "--workers", "1",
                     "--bind", f"127.0.0.1:{port}", f"{module}:app"],
                    cwd=work, env=project_env(**threads), log=work / f"{module}.log",
                ))  # fmt: skip
                wait_ready(f"http://127.0.0.1:{port}/1", servers[-1])
                app_urls[name] = f"http://127.0.0.1:{port}"

            bodies = {"single": (single, 1), "batch": (batch, BATCH_ROWS)}
            targets: dict[tuple[str, str, int], Target] = {}
            for name, (script, rows) in bodies.items():
                for c in (1, 32):
                    targets["minimal", name, c] = Target(app_urls["minimal"] + "/", script, c)
                    targets["model", name, c] = Target(f"{app_urls['model']}/{rows}", script, c)
                    targets["service", name, c] = Target(
                        service_urls[0] + "/predict", script, c, service_urls[0] + "/metrics"
                    )
                targets["unmonitored", name, 32] = Target(
                    service_urls[UNMONITORED] + "/predict", script, 32
                )
            for c in (1, 32):
                targets["service", "v2 batch", c] = Target(
                    service_urls[0] + "/v2/models/model-service/infer", v2_batch, c,
                    service_urls[0] + "/metrics",
                )  # fmt: skip
            for c in (1, 32):
                targets["service", "micro", c] = Target(
                    service_urls[MICRO_BATCH_ROWS] + "/predict", single, c,
                    service_urls[MICRO_BATCH_ROWS] + "/metrics",
                )  # fmt: skip
            loads = fastest_loads(targets)
            rss = worker_rss(service_log)
        finally:
            for server in servers:
                stop_group(server)

    def loads_of(kind: str) -> dict[tuple[str, int], Load]:
        return {(name, c): load for (k, name, c), load in loads.items() if k == kind}

    minimal_loads = loads_of("minimal")
    model_app_loads = loads_of("model")
    service_loads = loads_of("service")
    unmonitored_loads = loads_of("unmonitored")
    t_http = {name: 1 / minimal_loads[name, 32].rps for name in ("single", "batch")}

    def limits(t: dict[int, float]) -> dict[str, float]:
        """1 / (t_model + t_http) for each body, with the model's times per call `t`."""
        return {
            "single": 1 / (t[1] + t_http["single"]),
            "batch": 1 / (t[BATCH_ROWS] + t_http["batch"]),
        }

    def per_call(t: dict[int, float]) -> list[str]:
        return [
            f"  {n:>3} rows: {s * 1000:.3f} ms per call, {1 / s:.0f} calls/s" for n, s in t.items()
        ]

    limit = limits(t_model)
    report = [
        f"One gunicorn worker on CPU {SERVER_CPU}, wrk on CPU {LOAD_CPU}; each figure the best "
        f"of {RUNS} runs of {SECONDS} s.",
        "(a) the model in-process, XGBoost's own Booster.inplace_predict on rows in a matrix:",
        *per_call(t_model),
        "    for comparison, the service's predictor on the same rows:",
        *per_call(t_predictor),
        "(b) a minimal ASGI app under the same server:",
        *(row(f"{name} body, concurrency {c}", load) for (name, c), load in minimal_loads.items()),
        "(d) the minimal app, also calling the model per request on rows validated in advance:",
        *(row(f"{n} body, concurrency {c}", load) for (n, c), load in model_app_loads.items()),
        "the service (metrics, JSON access log, request ids, validation), with the model's mean",
        "time per call inside it and the rows each call predicted:",
    ]
    for (name, c), load in service_loads.items():
        label = "1 row, micro-batching on" if name == "micro" else f"{name}, micro-batching off"
        report.append(row(f"{label}, concurrency {c}", load))
    micro_share = service_loads["micro", 32].rps / limit["single"]
    alone = {name: service_loads[name, 1] for name in ("micro", "single")}
    single_share = service_loads["single", 32].rps / limit["single"]
    batch_share = service_loads["batch", 32].rps / limit["batch"]
    strict = limits(t_predictor)
    ceiling = {name: model_app_loads[name, 32].rps / strict[name] for name in strict}
    plumbing = {name: service_loads[name, 32].rps / model_app_loads[name, 32].rps for name in limit}
    v2_gain = service_loads["v2 batch", 32].rps / service_loads["batch", 32].rps
    report += [
        f"limit = 1 / (t_model + t_http): single {limit['single']:.0f} req/s, "
        f"batch {limit['batch']:.0f} req/s (t_http from (b) at concurrency 32)",
        f"the service at concurrency 32: single {plumbing['single']:.0%} of (d), "
        f"batch {plumbing['batch']:.0%} of (d)",
        f"with the predictor's time as t_model instead: limit single {strict['single']:.0f} "
        f"req/s, batch {strict['batch']:.0f} req/s; the service at concurrency 32: single "
        f"{service_loads['single', 32].rps / strict['single']:.0%}, batch "
        f"{service_loads['batch', 32].rps / strict['batch']:.0%}, micro-batching on "
        f"{service_loads['micro', 32].rps / strict['single']:.0%}; (d), which calls the "
        f"predictor, single {ceiling['single']:.0%}, batch {ceiling['batch']:.0%}",
        f"micro-batching on, 1 row, concurrency 32: {micro_share:.1%} of the single-row limit",
        f"the Open Inference Protocol (V2), {BATCH_ROWS} rows as one tensor, concurrency 32: "
        f"{v2_gain:.2f}x the rate of /predict with the same rows",
        "monitoring on (drift of 10 features and the predictions) / off (DRIFT_FEATURES=0): "
        + ", ".join(
            f"{name} concurrency {c} {service_loads[name, c].rps / load.rps:.1%}"
            for (name, c), load in unmonitored_loads.items()
        ),
        f"micro-batching on, 1 row, concurrency 1: p50 {alone['micro'].p50_ms:.3f} ms, "
        f"against {alone['single'].p50_ms:.3f} ms with it off",
        f"worker RSS {rss / 2**20:.1f} MiB: {rss / bare_rss:.2f}x a bare process "
        f"that imports the same libraries and loads the model ({bare_rss / 2**20:.1f} MiB)",
        f"start to ready {cold_start:.2f} s: {cold_start / bare_seconds:.2f}x the time "
        f"to import those libraries and load the model ({bare_seconds:.2f} s)",
        # To a tenth of a percent: a share just under a target must not print as the target.
        f"single: {single_share:.1%} of limit, batch: {batch_share:.1%} of limit",
    ]
    print("\n" + "\n".join(report))


if __name__ == "__main__":
    sys.exit(main())
