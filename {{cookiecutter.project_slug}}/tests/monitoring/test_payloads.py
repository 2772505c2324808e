import json
from typing import Any

import numpy as np
import pytest
import structlog
from fastapi.testclient import TestClient

from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.monitoring.payloads import REDACTED, PayloadLog
from {{ cookiecutter.package_name }}.serving.metadata import ModelMetadata
from {{ cookiecutter.package_name }}.serving.prediction import Predictions
from {{ cookiecutter.package_name }}.settings import Settings

from ..conftest import FEATURES, Row


def payload_lines(captured: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in captured.splitlines() if line.strip()]
    return [line for line in lines if line.get("event") == "payload"]


def test_a_sampled_request_is_logged_with_its_id_rows_and_predictions_redacted_as_set(
    settings: Settings, capsys: pytest.CaptureFixture[str], row: Row
) -> None:
    redacted = FEATURES[0]
    settings = settings.model_copy(update={"payload_log_rate": 1.0, "payload_log_redact": redacted})
    with TestClient(create_app(settings)) as client:
        capsys.readouterr()
        response = client.post("/predict", json={"instances": [row, row]})
        (line,) = payload_lines(capsys.readouterr().out)
    answer = response.json()
    assert line["request_id"] == answer["request_id"]
    assert line["predictions"] == answer["predictions"]
    assert [logged[redacted] for logged in line["rows"]] == [REDACTED, REDACTED]
    for name in FEATURES[1:]:
        assert line["rows"][0][name] == pytest.approx(row[name])


def test_payloads_are_not_logged_by_default(
    settings: Settings, capsys: pytest.CaptureFixture[str], row: Row
) -> None:
    app = create_app(settings)
    with TestClient(app) as client:
        capsys.readouterr()
        assert client.post("/predict", json={"instances": [row]}).status_code == 200
        assert payload_lines(capsys.readouterr().out) == []
    assert app.state.monitor.payloads is None  # no work at all per request


def test_about_the_rate_of_requests_is_logged(metadata: ModelMetadata, row: Row) -> None:
    x = np.array([[row[name] for name in FEATURES]], dtype=float)
    result = Predictions(outputs=[0.5])
    with structlog.testing.capture_logs() as logs:
        payloads = PayloadLog(0.25, FEATURES, set())
        for _ in range(800):
            payloads.sample(x, result)
    assert 100 < len(logs) < 300  # 200 expected; outside, a chance below one in a million
    assert logs[0]["rows"] == [dict(zip(FEATURES, x[0].tolist(), strict=True))]


def test_a_redacted_name_that_is_no_feature_stops_the_service_from_starting(
    settings: Settings,
) -> None:
    """A misspelt name would log the values it was meant to hide: refused, named, at startup."""
    misspelt = FEATURES[0] + "_typo"
    update = {"payload_log_rate": 0.5, "payload_log_redact": f"{FEATURES[0]}, {misspelt}"}
    with (
        pytest.raises(ValueError, match=f"PAYLOAD_LOG_REDACT.*{misspelt}"),
        TestClient(create_app(settings.model_copy(update=update))),
    ):
        pass
