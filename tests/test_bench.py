"""`make bench` runs end to end and reports against its references (numbers are not checked:
they are benchmark figures for docs/benchmarks.md, not test assertions)."""

import os
import re
import subprocess
from pathlib import Path

import pytest

from .conftest import project_env, require


@pytest.mark.slow
def test_bench_reports_the_service_against_its_limits() -> None:
    for tool in ("uv", "make", "wrk", "taskset"):
        require(tool)
    if (os.cpu_count() or 1) < 2:
        pytest.skip("the benchmark pins the server and the load to two different CPUs")
    result = subprocess.run(
        # Under `make test` this make is a sub-make, which would print its directory last.
        ["make", "--no-print-directory", "bench"],
        cwd=Path(__file__).resolve().parents[1],
        env=project_env() | {"BENCH_SECONDS": "1", "BENCH_RUNS": "2"},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    lines = result.stdout.strip().splitlines()
    assert re.fullmatch(r"single: \d+\.\d% of limit, batch: \d+\.\d% of limit", lines[-1])
    report = "\n".join(lines)
    for reference in (
        "(a) the model in-process",
        "for comparison, the service's predictor",
        "(b) a minimal ASGI app",
        "worker RSS",
        "start to ready",
    ):
        assert reference in report
    assert "micro-batching on, 1 row, concurrency 32" in report
    v2 = r"^the Open Inference Protocol \(V2\), 100 rows as one tensor, concurrency 32: \d+\.\d+x"
    assert re.search(v2, report, re.M)
    v2_row = r"^  v2 batch, micro-batching off, concurrency 32 .* 100\.0 rows a call$"
    assert re.search(v2_row, report, re.M)
    assert re.search(r"^micro-batching on, 1 row, concurrency 1: p50 \d+\.\d+ ms", report, re.M)
    instead = (
        r"^with the predictor's time as t_model instead: .* single \d+%, batch \d+%, "
        r"micro-batching on \d+%; \(d\), which calls the predictor, single \d+%, batch \d+%$"
    )
    assert re.search(instead, report, re.M)
    # The service's throughput with its drift monitoring on, to that with it off.
    ratio = r"^monitoring on .* / off .*: single concurrency 32 \d+\.\d%, batch concurrency 32 "
    assert re.search(ratio + r"\d+\.\d%$", report, re.M), report
    # The model's own time inside the service, read from its metrics during the run.
    service_line = (
        r"single, micro-batching off, concurrency 32 .* model \d+\.\d+ ms, 1\.0 rows a call$"
    )
    assert re.search(service_line, report, re.MULTILINE)
    # With micro-batching, 32 clients on one worker share model calls.
    micro = re.search(
        r"1 row, micro-batching on, concurrency 32 .* ([\d.]+) rows a call$", report, re.M
    )
    assert micro is not None, report
    assert float(micro.group(1)) > 1.5, report
