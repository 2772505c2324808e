"""`make loadtest` for real: locust against the real service, with targets."""

import csv
import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from {{ cookiecutter.package_name }}.settings import Settings

from .conftest import FEATURES
from .servers import PREFIX, Gunicorn, request, start_gunicorn, stop

PROJECT = Path(__file__).parents[1]
LOCUSTFILE = PROJECT / "loadtest" / "locustfile.py"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, model_path: Path) -> Iterator[Gunicorn]:
    server = start_gunicorn(tmp_path_factory.mktemp("loadtest"), model_path, workers=1)
    try:
        server.wait_for_ready_workers(1)
        yield server
    finally:
        stop(server)


def locust(
    service: Gunicorn,
    model_path: Path,
    results: Path,
    *,
    p95_ms: str,
    max_error_ratio: str = "0",
    batch_rows: str = "20",
    protocol: str = "predict",
    shift: tuple[str, str] = ("", "1"),
) -> subprocess.CompletedProcess[str]:
    results.mkdir()
    return subprocess.run(
        [
            sys.executable, "-m", "locust", "--locustfile", str(LOCUSTFILE), "--headless",
            "--host", service.url, "--users", "4", "--spawn-rate", "4", "--run-time", "4s",
            "--csv", str(results / "stats"), "--html", str(results / "report.html"),
            "--only-summary",
        ],
        env={
            "PATH": "/usr/bin:/bin",
            f"{PREFIX}MODEL_PATH": str(model_path),
            "P95_MS": p95_ms,
            "MAX_ERROR_RATIO": max_error_ratio,
            "BATCH_ROWS": batch_rows,
            "PROTOCOL": protocol,
            "SHIFT_FEATURE": shift[0],
            "SHIFT_BY": shift[1],
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )  # fmt: skip


def test_load_test_meets_generous_targets(
    service: Gunicorn, model_path: Path, tmp_path: Path
) -> None:
    earlier = len(service.events("request"))
    result = locust(service, model_path, tmp_path / "results", p95_ms="10000")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "targets met" in result.stdout
    with (tmp_path / "results" / "stats_stats.csv").open() as stats:
        rows = {row["Name"]: row for row in csv.DictReader(stats)}
    assert set(rows) == {"/predict 1 row", "/predict 20 rows", "Aggregated"}
    assert int(rows["Aggregated"]["Request Count"]) > 0
    assert int(rows["Aggregated"]["Failure Count"]) == 0
    assert (tmp_path / "results" / "report.html").stat().st_size > 0
    # Every row the load test sent was valid: the service answered each with a prediction.
    assert not [line for line in service.events("request")[earlier:] if line["status"] != 200]


def test_the_load_test_can_send_the_same_rows_over_the_open_inference_protocol(
    service: Gunicorn, model_path: Path, tmp_path: Path
) -> None:
    result = locust(service, model_path, tmp_path / "results", p95_ms="10000", protocol="v2")
    assert result.returncode == 0, result.stdout + result.stderr
    with (tmp_path / "results" / "stats_stats.csv").open() as stats:
        rows = {row["Name"]: row for row in csv.DictReader(stats)}
    assert set(rows) == {"/v2 infer 1 row", "/v2 infer 20 rows", "Aggregated"}
    assert int(rows["Aggregated"]["Request Count"]) > 0
    assert int(rows["Aggregated"]["Failure Count"]) == 0


def test_load_test_fails_an_impossible_latency_target(
    service: Gunicorn, model_path: Path, tmp_path: Path
) -> None:
    result = locust(service, model_path, tmp_path / "results", p95_ms="0.001")
    assert result.returncode != 0
    assert "TARGET MISSED: p95 latency" in result.stdout


def test_errors_pass_within_max_error_ratio_and_fail_beyond_it(
    service: Gunicorn, model_path: Path, tmp_path: Path
) -> None:
    # Batches of more rows than the service takes (MAX_ROWS, 500 by default) are refused, so
    # about one request in ten fails.
    within = locust(
        service, model_path, tmp_path / "within", p95_ms="10000", max_error_ratio="0.5",
        batch_rows="501",
    )  # fmt: skip
    assert within.returncode == 0, within.stdout + within.stderr
    assert "targets met" in within.stdout
    with (tmp_path / "within" / "stats_stats.csv").open() as stats:
        rows = {row["Name"]: row for row in csv.DictReader(stats)}
    assert int(rows["/predict 501 rows"]["Failure Count"]) > 0

    beyond = locust(
        service, model_path, tmp_path / "beyond", p95_ms="10000", max_error_ratio="0.01",
        batch_rows="501",
    )  # fmt: skip
    assert beyond.returncode != 0
    assert "TARGET MISSED: error ratio" in beyond.stdout


def test_make_loadtest_draws_its_rows_from_the_model_the_setting_names(
    service: Gunicorn, model_path: Path, tmp_path: Path
) -> None:
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")

    def make_loadtest(model: Path) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, f"{PREFIX}MODEL_PATH": str(model)}
        env.pop("VIRTUAL_ENV", None)
        return subprocess.run(
            [make, "loadtest", f"HOST={service.url}", "USERS=2", "SPAWN_RATE=2", "RUN_TIME=2s"],
            cwd=PROJECT, env=env, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip

    served = make_loadtest(model_path)
    assert served.returncode == 0, served.stdout + served.stderr
    assert "targets met" in served.stdout
    elsewhere = tmp_path / "elsewhere" / model_path.name
    missing = make_loadtest(elsewhere)
    assert missing.returncode != 0
    assert str(elsewhere.with_suffix(".metadata.json")) in missing.stdout + missing.stderr


def bin_rows(service: Gunicorn) -> Counter[tuple[str, str]]:
    """Rows counted so far per (feature, training-decile bin), from the service's /metrics."""
    _, text = request(f"{service.url}/metrics")
    return Counter(
        {
            (sample.labels["feature"], sample.labels["bin"]): sample.value
            for family in text_string_to_metric_families(text.decode())
            for sample in family.samples
            if sample.name == "model_input_bin_rows_total"
        }
    )


def test_a_shift_profile_moves_the_named_feature_and_no_other(
    service: Gunicorn, model_path: Path, tmp_path: Path
) -> None:
    shifted, others = FEATURES[0], FEATURES[1 : Settings(_env_file=None).drift_features]
    before = bin_rows(service)
    result = locust(service, model_path, tmp_path / "results", p95_ms="10000", shift=(shifted, "3"))
    assert result.returncode == 0, result.stdout + result.stderr
    counted = bin_rows(service)
    counted.subtract(before)

    def top_bin_share(feature: str) -> float:
        bins = {int(bin_): rows for (name, bin_), rows in counted.items() if name == feature}
        return bins[max(bins)] / sum(bins.values())

    # Three standard deviations up puts most rows above the training data's ninth decile; a
    # feature drawn as in training puts about a tenth there.
    assert top_bin_share(shifted) > 0.5
    for feature in others:
        assert top_bin_share(feature) < 0.3, feature


def test_a_shift_of_an_unknown_feature_fails_naming_the_features(
    service: Gunicorn, model_path: Path, tmp_path: Path
) -> None:
    result = locust(service, model_path, tmp_path / "results", p95_ms="10000", shift=("nope", "1"))
    assert result.returncode != 0
    assert "SHIFT_FEATURE=nope is none of the features" in result.stdout + result.stderr
