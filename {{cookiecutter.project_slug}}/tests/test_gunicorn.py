"""The production server for real: gunicorn, uvicorn workers, HTTP on 127.0.0.1."""

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import time
import urllib.error
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from {{ cookiecutter.package_name }}.serving.metadata import ModelMetadata, metadata_path

from .servers import (
    FAILURE_TIMEOUT,
    GRACEFUL_TIMEOUT,
    PREFIX,
    STARTUP_TIMEOUT,
    WORKERS,
    Gunicorn,
    request,
    start_gunicorn,
    stop,
)


@pytest.fixture
def server(tmp_path: Path, model_path: Path) -> Iterator[Gunicorn]:
    server = start_gunicorn(tmp_path, model_path)
    try:
        server.wait_for_ready_workers(WORKERS)
        yield server
    finally:
        stop(server)
    server.lines()  # every line, shutdown included, is JSON


def scrape(server: Gunicorn) -> dict[str, float]:
    """Totals of the counters this file checks, from one /metrics scrape.

    Tried again when the connection is reset: a restarting worker closes the connections it
    accepted but has not read (see predict_counting_answers).
    """
    for _ in range(20):
        try:
            _, text = request(f"{server.url}/metrics")
            break
        except (ConnectionError, http.client.HTTPException, urllib.error.URLError):
            time.sleep(0.1)
    else:
        pytest.fail("every scrape was reset")
    totals = {"predictions": 0.0, "predict_requests": 0.0, "in_flight": 0.0}
    for family in text_string_to_metric_families(text.decode()):
        for sample in family.samples:
            if sample.name == "model_predictions_total":
                totals["predictions"] += sample.value
            elif sample.name == "http_requests_total" and sample.labels["handler"] == "/predict":
                totals["predict_requests"] += sample.value
            elif sample.name == "http_requests_inprogress":
                totals["in_flight"] += sample.value
    return totals


def wait_until_counted(server: Gunicorn, predict_requests: int) -> None:
    """Wait until /metrics counts `predict_requests` requests to /predict.

    A worker counts a request just after it has sent the response, so a client can hold its
    answer a moment before the count includes it.
    """
    deadline = time.monotonic() + FAILURE_TIMEOUT
    while scrape(server)["predict_requests"] < predict_requests:
        assert time.monotonic() < deadline, f"fewer than {predict_requests} requests counted"
        time.sleep(0.1)


def scrape_every_worker(server: Gunicorn) -> list[dict[str, float]]:
    """Scrape concurrently until each live worker has answered at least once."""
    scrapes: list[dict[str, float]] = []
    with ThreadPoolExecutor(8) as pool:
        for _ in range(10):
            scrapes += pool.map(lambda _: scrape(server), range(16))
            answered = {
                line["pid"] for line in server.events("request") if line["path"] == "/metrics"
            }
            if set(server.live_worker_pids()) <= answered:
                return scrapes
    pytest.fail("some worker never answered a scrape")


def predict_concurrently(server: Gunicorn, row: dict[str, Any], count: int) -> None:
    with ThreadPoolExecutor(12) as pool:
        statuses = list(
            pool.map(
                lambda _: request(f"{server.url}/predict", {"instances": [row]})[0],
                range(count),
            )
        )
    assert statuses == [200] * count


def predict_on_every_worker(server: Gunicorn, row: dict[str, Any], round_size: int) -> int:
    """Predict in rounds until every live worker has served one; return how many were sent.

    The kernel hands each new connection to whichever worker accepts first, and a fast worker
    can take a whole round on its own.
    """
    sent = 0
    for _ in range(20):
        predict_concurrently(server, row, round_size)
        sent += round_size
        served_by = {line["pid"] for line in server.events("request") if line["path"] == "/predict"}
        if set(server.live_worker_pids()) <= served_by:
            return sent
    pytest.fail(f"{sent} requests never reached every worker")


def test_metrics_add_up_every_worker(server: Gunicorn, metadata: ModelMetadata) -> None:
    count = predict_on_every_worker(server, metadata.example_row(), 150)
    wait_until_counted(server, count)
    for totals in scrape_every_worker(server):
        assert totals["predictions"] == count
        assert totals["predict_requests"] == count


def worker_readings(server: Gunicorn) -> dict[str, dict[int, float]]:
    """Each worker's process metrics from one scrape: metric name, then pid, then value."""
    _, text = request(f"{server.url}/metrics")
    readings: dict[str, dict[int, float]] = {}
    for family in text_string_to_metric_families(text.decode()):
        for sample in family.samples:
            if sample.name.startswith("process_") and "pid" in sample.labels:
                readings.setdefault(sample.name, {})[int(sample.labels["pid"])] = sample.value
    return readings


def kill_and_reap(server: Gunicorn, victim: int) -> int:
    """SIGKILL a worker and wait until the master has reaped it (and run child_exit)."""
    os.kill(victim, signal.SIGKILL)
    wait_reaped(server, victim)
    return victim


def wait_reaped(server: Gunicorn, victim: int) -> None:
    # Until the master reaps it, the dead worker is a zombie that still looks alive (and ready).
    deadline = time.monotonic() + FAILURE_TIMEOUT
    while victim in server.live_worker_pids():
        assert time.monotonic() < deadline, "the master never reaped the killed worker"
        time.sleep(0.1)


def test_each_worker_reports_its_own_cpu_and_memory(server: Gunicorn) -> None:
    readings = worker_readings(server)
    workers = set(server.live_worker_pids())
    assert len(workers) == WORKERS
    for name in ("process_cpu_seconds_total", "process_resident_memory_bytes"):
        assert set(readings[name]) == workers, name
    assert all(value > 10_000_000 for value in readings["process_resident_memory_bytes"].values())
    assert all(value > 0 for value in readings["process_cpu_seconds_total"].values())
    started = readings["process_start_time_seconds"]
    assert all(time.time() - STARTUP_TIMEOUT < value <= time.time() for value in started.values())

    victim = kill_and_reap(server, min(workers))
    server.wait_for_ready_workers(WORKERS)
    after = worker_readings(server)["process_resident_memory_bytes"]
    assert victim not in after, "a dead worker's series is still served"
    assert set(after) == set(server.live_worker_pids())


def test_killed_worker_is_replaced_and_counters_never_go_back(
    server: Gunicorn, metadata: ModelMetadata
) -> None:
    row = metadata.example_row()
    before = predict_on_every_worker(server, row, 40)
    # Killed between its response and its count, a worker would take the count with it.
    wait_until_counted(server, before)
    victim = server.live_worker_pids()[0]
    os.kill(victim, signal.SIGKILL)
    # The other worker keeps answering while the master replaces the dead one.
    predict_concurrently(server, row, 20)
    wait_reaped(server, victim)
    server.wait_for_ready_workers(WORKERS)
    assert len(server.booted_pids()) == WORKERS + 1

    predict_concurrently(server, row, 20)
    wait_until_counted(server, before + 40)
    for totals in scrape_every_worker(server):
        assert totals["predictions"] == before + 40
        assert totals["predict_requests"] == before + 40


def predict_counting_answers(server: Gunicorn, row: dict[str, Any], count: int) -> int:
    """Send `count` requests; return how many were answered.

    A worker that restarts closes the connections it accepted but has not read yet, as uvicorn
    does (README.md, "Production server"): those clients see a reset.
    """

    def answered(_: int) -> bool:
        try:
            return request(f"{server.url}/predict", {"instances": [row]})[0] == 200
        except (ConnectionError, http.client.HTTPException, urllib.error.URLError):
            return False

    with ThreadPoolExecutor(12) as pool:
        return sum(pool.map(answered, range(count)))


def test_restarted_workers_leave_their_counts(
    tmp_path: Path, model_path: Path, metadata: ModelMetadata
) -> None:
    # Each worker restarts after 10 requests, once it notices: it checks a few times a second.
    server = start_gunicorn(tmp_path, model_path, WORKERS, **{f"{PREFIX}MAX_REQUESTS": "10"})
    try:
        server.wait_for_ready_workers(WORKERS)
        # At least 100 requests, and more until two workers have restarted: how many a worker
        # serves past its 10 depends on how fast it serves them.
        count = 0
        deadline = time.monotonic() + FAILURE_TIMEOUT
        while count < 100 or len(server.booted_pids()) < WORKERS + 2:
            assert time.monotonic() < deadline, "too few workers were restarted"
            count += predict_counting_answers(server, metadata.example_row(), 20)
        wait_until_counted(server, count)
        # Whichever worker answers, dead workers' counts included, and never going back.
        for _ in range(5):
            totals = scrape(server)
            assert (totals["predictions"], totals["predict_requests"]) == (count, count)
    finally:
        stop(server)


def predict_head(body: bytes, zeros: int = 0) -> bytes:
    """The head of a POST /predict of `body`, its Content-Length led by `zeros` zeros."""
    return (
        f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {'0' * zeros}{len(body)}\r\n\r\n"
    ).encode()


@pytest.mark.parametrize("zeros", [1, 5000])
def test_a_content_length_with_leading_zeros_is_read_as_its_number(
    server: Gunicorn, metadata: ModelMetadata, zeros: int
) -> None:
    # The HTTP parser accepts it; Python refuses to convert a number of over 4,300 digits.
    body = json.dumps({"instances": [metadata.example_row()]}).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as client:
        client.sendall(predict_head(body, zeros) + body)
        response = http.client.HTTPResponse(client)
        response.begin()
        assert response.status == 200
        assert len(json.loads(response.read())["predictions"]) == 1
    assert not [line for line in server.lines() if line["level"] in ("error", "critical")]


def test_sigterm_lets_requests_in_flight_finish(server: Gunicorn, metadata: ModelMetadata) -> None:
    body = json.dumps({"instances": [metadata.example_row()] * 20}).encode()
    head = predict_head(body)
    half = len(body) // 2
    # Slow clients: each sends half its body, so its request is in flight until it sends the rest.
    clients = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(24)]
    for client in clients:
        client.sendall(head + body[:half])
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while scrape(server)["in_flight"] < len(clients):
        assert time.monotonic() < deadline, "the slow requests never all started"
        time.sleep(0.1)

    server.process.send_signal(signal.SIGTERM)
    time.sleep(1)
    with pytest.raises(urllib.error.URLError):  # no new connections after the signal
        request(f"{server.url}/health/live")
    for client in clients:
        client.sendall(body[half:])
    statuses = []
    for client in clients:
        response = http.client.HTTPResponse(client)
        response.begin()
        statuses.append(response.status)
        assert json.loads(response.read())["predictions"]
        client.close()
    assert statuses == [200] * len(clients)
    assert server.process.wait(timeout=GRACEFUL_TIMEOUT + 20) == 0


def start_with_a_metrics_folder_of_its_own(
    tmp_path: Path, model_path: Path, **env: str
) -> tuple[Gunicorn, Path]:
    """One worker, and no metrics folder given: gunicorn.conf.py makes one under TMPDIR, which is
    returned, empty until then."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    server = start_gunicorn(
        tmp_path, model_path, workers=1, PROMETHEUS_MULTIPROC_DIR=None, TMPDIR=str(temp), **env
    )
    return server, temp


def test_a_metrics_folder_of_its_own_outlives_worker_restarts_and_reloads(
    tmp_path: Path, model_path: Path
) -> None:
    server, temp = start_with_a_metrics_folder_of_its_own(
        tmp_path, model_path, **{f"{PREFIX}MAX_REQUESTS": "5"}
    )
    try:
        server.wait_for_ready_workers(1)
        (made,) = temp.iterdir()
        # The folder is made once, by the master: restarted workers and a reload keep it.
        first = server.ready_pids()
        deadline = time.monotonic() + FAILURE_TIMEOUT
        while not server.ready_pids() - first:
            assert time.monotonic() < deadline, "the worker did not restart"
            with contextlib.suppress(OSError):
                request(f"{server.url}/health/live")
        assert made.is_dir()
        second = server.ready_pids()
        server.process.send_signal(signal.SIGHUP)  # reloads gunicorn.conf.py, new workers
        server.wait_for_a_new_worker(second, STARTUP_TIMEOUT)
        assert list(made.glob("*.db"))
    finally:
        assert stop(server) == 0


def test_an_ipv6_address_is_served(tmp_path: Path, model_path: Path) -> None:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError as error:
        pytest.skip(f"this machine has no IPv6 loopback: {error}")
    server = start_gunicorn(tmp_path, model_path, workers=1, **{f"{PREFIX}HOST": "::1"})
    try:
        server.wait_for_ready_workers(1)
        status, _ = request(f"http://[::1]:{server.port}/health/ready")
        assert status == 200
    finally:
        assert stop(server) == 0


# (gunicorn itself reads WEB_CONCURRENCY when it is imported, and fails on a value that is not
# a number with a traceback of its own.)
@pytest.mark.parametrize(
    ("variable", "value"), [("WEB_CONCURRENCY", "0"), (f"{PREFIX}PORT", "abc")]
)
def test_an_invalid_setting_stops_gunicorn_with_one_line_naming_it(
    tmp_path: Path, model_path: Path, variable: str, value: str
) -> None:
    server = start_gunicorn(tmp_path, model_path, 1, **{variable: value})
    code = server.process.wait(timeout=FAILURE_TIMEOUT)
    assert code != 0
    output = server.log_path.read_text()
    assert output.startswith(f"invalid setting {variable}={value!r}: "), output
    assert len(output.splitlines()) == 1
    assert "Booting worker" not in output


@pytest.mark.parametrize("damage", ["missing", "corrupt"])
def test_bad_model_stops_gunicorn_with_the_path_and_cause(
    tmp_path: Path, model_path: Path, damage: str
) -> None:
    bad = tmp_path / "models" / model_path.name
    bad.parent.mkdir()
    if damage == "corrupt":
        bad.write_bytes(b"\x00not a model\xff" * 64)
        shutil.copy(metadata_path(model_path), metadata_path(bad))
    server = start_gunicorn(tmp_path, bad)
    try:
        code = server.process.wait(timeout=FAILURE_TIMEOUT)
    finally:
        stop(server)
    assert code != 0
    # When a second worker fails while gunicorn is already halting for the first, gunicorn
    # raises its HaltServer again from inside its own shutdown and prints that traceback, in
    # plain text, after the JSON lines (README.md, "Production server").
    text = server.log_path.read_text().splitlines()
    plain = next((i for i, line in enumerate(text) if not line.startswith("{")), len(text))
    assert plain == len(text) or "gunicorn.errors.HaltServer" in text[-1], text[plain:]
    lines = [json.loads(line) for line in text[:plain]]
    failures = [line for line in lines if line["event"] == "model_load_failed"]
    assert 1 <= len(failures) <= WORKERS
    for failure in failures:
        assert failure["path"] == str(bad)
        assert failure["error"]
    booted = [line for line in lines if line["event"].startswith("Booting worker")]
    assert len(booted) <= WORKERS, "gunicorn respawned failing workers"
