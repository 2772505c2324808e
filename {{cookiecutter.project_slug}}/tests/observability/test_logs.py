import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import structlog
from fastapi import Request
from fastapi.testclient import TestClient
from starlette.types import Message, Scope

from {{ cookiecutter.package_name }}.api.deps import get_model
from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.observability.logs import configure_logging
from {{ cookiecutter.package_name }}.serving.loader import LoadedModel
from {{ cookiecutter.package_name }}.settings import Settings

from ..conftest import Row


@contextmanager
def logged(capsys: pytest.CaptureFixture[str], settings: Settings) -> Iterator[TestClient]:
    """A client of an app built inside the test, where capsys replaces stdout: its log handler
    writes to the capture."""
    with TestClient(create_app(settings)) as client:
        capsys.readouterr()
        yield client


def json_lines(captured: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in captured.splitlines() if line.strip()]


def access_lines(captured: str) -> list[dict[str, Any]]:
    return [line for line in json_lines(captured) if line.get("event") == "request"]


def test_every_line_is_json_and_one_access_line_per_request(
    settings: Settings, capsys: pytest.CaptureFixture[str], row: Row
) -> None:
    with logged(capsys, settings) as client:
        client.post("/predict", json={"instances": [row]})
        client.get("/health/ready")
        client.post("/predict", json={"instances": []})
        lines = access_lines(capsys.readouterr().out)  # json.loads fails on any non-JSON line
    assert [(line["method"], line["path"], line["status"]) for line in lines] == [
        ("POST", "/predict", 200),
        ("GET", "/health/ready", 200),
        ("POST", "/predict", 422),
    ]
    for line in lines:
        assert line["level"] == "info"
        assert line["duration_ms"] >= 0
        assert line["timestamp"].endswith("Z")
        assert line["request_id"]


def test_request_id_from_the_header_is_returned_and_logged(
    settings: Settings, capsys: pytest.CaptureFixture[str], row: Row
) -> None:
    with logged(capsys, settings) as client:
        response = client.post(
            "/predict", json={"instances": [row]}, headers={"X-Request-ID": "order-42.retry-1"}
        )
    assert response.headers["X-Request-ID"] == "order-42.retry-1"
    assert response.json()["request_id"] == "order-42.retry-1"
    assert access_lines(capsys.readouterr().out)[0]["request_id"] == "order-42.retry-1"


def test_request_id_is_generated_when_absent_or_unsafe(client: TestClient) -> None:
    generated = client.get("/health/live").headers["X-Request-ID"]
    assert len(generated) == 32
    assert client.get("/health/live").headers["X-Request-ID"] != generated
    unsafe = client.get("/health/live", headers={"X-Request-ID": 'a" b\nc'})
    assert unsafe.headers["X-Request-ID"] != 'a" b\nc'
    assert len(unsafe.headers["X-Request-ID"]) == 32


def test_unexpected_error_is_a_500_that_hides_details_but_logs_them(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    def explode() -> None:
        raise RuntimeError("secret detail")

    app = create_app(settings)
    app.dependency_overrides[get_model] = explode
    # The client would raise the error had it reached the server, which would log it again.
    with TestClient(app, raise_server_exceptions=True) as failing:
        capsys.readouterr()
        response = failing.get("/model", headers={"X-Request-ID": "trace-7"})
    assert response.status_code == 500
    assert response.json() == {
        "detail": "internal server error",
        "errors": [],
        "request_id": "trace-7",
    }
    assert response.headers["X-Request-ID"] == "trace-7"
    assert "secret" not in response.text
    lines = json_lines(capsys.readouterr().out)
    (error,) = [line for line in lines if "exception" in line]  # logged once
    assert error["event"] == "unhandled_error"
    assert error["request_id"] == "trace-7"
    assert error["level"] == "error"
    assert "RuntimeError" in json.dumps(error["exception"])
    access = next(line for line in lines if line.get("event") == "request")
    assert (access["status"], access["request_id"]) == (500, "trace-7")


def test_a_client_that_leaves_mid_body_is_a_499_not_a_server_error(
    settings: Settings, capsys: pytest.CaptureFixture[str], row: Row
) -> None:
    body = json.dumps({"instances": [row]}).encode()
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/predict",
        "raw_path": b"/predict",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    messages: list[Message] = [
        {"type": "http.request", "body": body[:10], "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return messages.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    with logged(capsys, settings) as client:
        assert client.portal is not None
        client.portal.call(client.app, scope, receive, send)
        assert sent[0]["status"] == 499
        lines = json_lines(capsys.readouterr().out)
        metrics = client.get("/metrics").text
    assert [line["level"] for line in lines] == ["info"]
    assert (lines[0]["event"], lines[0]["status"]) == ("request", 499)
    assert 'http_requests_total{handler="/predict",method="POST",status="499"} 1.0' in metrics
    assert 'status="500"' not in metrics


def test_lines_logged_while_serving_a_request_carry_its_id_and_only_those(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    library = logging.getLogger("some_library")

    async def model_that_logs(request: Request) -> LoadedModel:
        library.warning("called from a request")  # through the standard library's logging
        return await get_model(request)

    app = create_app(settings)
    app.dependency_overrides[get_model] = model_that_logs
    with TestClient(app) as client:
        capsys.readouterr()
        assert client.get("/model", headers={"X-Request-ID": "trace-8"}).status_code == 200
        library.warning("called outside any request")
    lines = {line["event"]: line for line in json_lines(capsys.readouterr().out)}
    assert lines["called from a request"]["request_id"] == "trace-8"
    assert lines["called from a request"]["logger"] == "some_library"
    assert "request_id" not in lines["called outside any request"]


def test_a_value_json_has_no_type_for_is_logged_as_its_repr(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("info", "json")
    log = structlog.get_logger("test")
    log.info("odd_value", raw=b"\xff\xfe", at=Path("/models"))
    log.info("after")
    first, second = json_lines(capsys.readouterr().out)
    assert (first["event"], first["raw"]) == ("odd_value", repr(b"\xff\xfe"))
    assert second["event"] == "after"
