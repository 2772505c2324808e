"""The predict body: every bad or hostile input is a 4xx in the service's error shape."""

import gzip
import json
import logging
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from httpx2 import Response

from {{ cookiecutter.package_name }}.api.schemas import ErrorResponse
from {{ cookiecutter.package_name }}.settings import Settings

from ..conftest import FEATURES, Row

FIRST, SECOND = FEATURES[0], FEATURES[1]
JSON = {"Content-Type": "application/json"}


def errors_of(response: Response) -> dict[str, str]:
    body = response.json()
    ErrorResponse.model_validate(body, strict=True)
    assert body["request_id"] == response.headers["X-Request-ID"]
    return {error["field"]: error["message"] for error in body["errors"]}


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (lambda r: r | {FIRST: "14.1"}, f"instances[1].{FIRST}", "valid number"),
        (lambda r: r | {FIRST: True}, f"instances[1].{FIRST}", "valid number"),
        (lambda r: r | {FIRST: None}, f"instances[1].{FIRST}", "valid number"),
        (
            lambda r: {k: v for k, v in r.items() if k != SECOND},
            f"instances[1].{SECOND}",
            "required",
        ),
        (lambda r: r | {"colour": 1.0}, "instances[1].colour", "not permitted"),
        (lambda r: r | {FIRST: 1e39}, f"instances[1].{FIRST}", "less than or equal"),
        (lambda r: r | {FIRST: -1e39}, f"instances[1].{FIRST}", "greater than or"),
        (lambda r: r | {FIRST: 10**400}, f"instances[1].{FIRST}", "finite number"),
    ],
    ids=["string", "bool", "null", "missing", "extra", "too large", "too small", "huge int"],
)
def test_bad_row_is_rejected_naming_the_feature(
    client: TestClient, row: Row, change: Any, field: str, message: str
) -> None:
    response = client.post("/predict", json={"instances": [row, change(row)]})
    assert response.status_code == 422
    assert message in errors_of(response)[field]


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({"instances": []}, "instances", "at least 1"),
        ({}, "instances", "required"),
        ({"rows": []}, "rows", "not permitted"),
        ({"instances": {"a": 1}}, "instances", "valid array"),
        ([], "body", "an object"),
    ],
    ids=["empty", "no-instances", "unknown-key", "not-a-list", "not-an-object"],
)
def test_malformed_body_is_rejected_naming_the_field(
    client: TestClient, payload: Any, field: str, message: str
) -> None:
    response = client.post("/predict", json=payload)
    assert response.status_code == 422
    assert message in errors_of(response)[field]


def text_body(row: Row, replace: str) -> bytes:
    """The row's body as text, the second feature's value replaced by `replace`."""
    pairs = [f'"{name}": {replace if name == SECOND else json.dumps(v)}' for name, v in row.items()]
    return ('{"instances": [{' + ", ".join(pairs) + "}]}").encode()


def deep(levels: int) -> str:
    """JSON nested `levels` deep."""
    return "[" * levels + "]" * levels


def hostile_bodies(row: Row, settings: Settings) -> list[tuple[str, bytes, dict[str, str], int]]:
    """(name, body, headers, status): each must get that 4xx, in the error shape."""
    limit = settings.max_body_bytes
    good = json.dumps({"instances": [row]}).encode()
    return [
        ("deep in instances", ('{"instances": ' + deep(1000) + "}").encode(), JSON, 400),
        ("deep as a value", text_body(row, deep(1000)), JSON, 400),
        (
            "deep under an unknown key",
            ('{"x": ' + deep(1000) + ', "instances": []}').encode(),
            JSON,
            400,
        ),
        ("empty", b"", JSON, 400),
        ("truncated", good[:-3], JSON, 400),
        ("not JSON", b"instances=1", JSON, 400),
        ("huge number", text_body(row, "1" + "0" * 5000), JSON, 400),  # out of JSON's range
        ("huge exponent", text_body(row, "1e999999"), JSON, 422),
        ("NaN", text_body(row, "NaN"), JSON, 422),
        ("Infinity", text_body(row, "Infinity"), JSON, 422),
        ("-Infinity", text_body(row, "-Infinity"), JSON, 422),
        ("duplicate keys", text_body(row, '1.0, "' + SECOND + '": "x"'), JSON, 422),
        ("100,000 rows", b'{"instances": [' + b",".join([b"{}"] * 100_000) + b"]}", JSON, 422),
        (
            "50,000 unknown keys",
            json.dumps({"instances": [{f"k{i}": 1.0 for i in range(50_000)}]}).encode(),
            JSON,
            422,
        ),
        ("too large", b" " * (limit + 1), JSON, 413),
        (
            "Content-Length of leading zeros",
            good,
            {**JSON, "Content-Length": "0" * 5000 + str(len(good))},
            200,
        ),
        ("wrong type", good, {"Content-Type": "text/plain"}, 415),
        ("form type", good, {"Content-Type": "application/x-www-form-urlencoded"}, 415),
        ("no type", good, {}, 415),
        ("compressed", gzip.compress(good), {**JSON, "Content-Encoding": "gzip"}, 415),
    ]


def test_hostile_bodies_get_a_4xx_and_the_worker_keeps_serving(
    client: TestClient, row: Row, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    for name, body, headers, status in hostile_bodies(row, settings):
        response = client.post("/predict", content=body, headers=headers)
        assert response.status_code == status, name
        if status != 200:
            assert errors_of(response), name
    assert client.post("/predict", json={"instances": [row]}).status_code == 200
    assert [record for record in caplog.records if record.levelno > logging.INFO] == []


def test_a_body_too_large_without_content_length_is_a_413(
    client: TestClient, settings: Settings
) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(settings.max_body_bytes // 1024 + 2):
            yield b" " * 1024

    response = client.post("/predict", content=chunks(), headers=JSON)
    assert response.status_code == 413
    assert response.headers["Connection"] == "close"
    assert "larger than" in errors_of(response)["body"]


def test_a_body_of_the_wrong_type_is_refused_before_it_is_read(
    client: TestClient, settings: Settings
) -> None:
    body = b"x" * (settings.max_body_bytes + 1)  # too large too, but never read
    response = client.post("/predict", content=body, headers={"Content-Type": "text/plain"})
    assert response.status_code == 415
    assert "application/json" in errors_of(response)["Content-Type"]


def test_a_compressed_body_is_refused_whichever_content_encoding_header_says_so(
    client: TestClient, row: Row
) -> None:
    body = gzip.compress(json.dumps({"instances": [row]}).encode())
    headers = [*JSON.items(), ("Content-Encoding", "identity"), ("Content-Encoding", "gzip")]
    response = client.post("/predict", content=body, headers=headers)
    assert response.status_code == 415
    assert errors_of(response)["Content-Encoding"] == "the body must be uncompressed"
    plain = client.post(
        "/predict", json={"instances": [row]}, headers={"Content-Encoding": "identity"}
    )
    assert plain.status_code == 200


def test_json_media_type_with_parameters_is_accepted(client: TestClient, row: Row) -> None:
    headers = {"Content-Type": "application/json; charset=utf-8"}
    response = client.post("/predict", content=json.dumps({"instances": [row]}), headers=headers)
    assert response.status_code == 200


def test_many_bad_rows_get_the_first_bad_rows_problems_only(client: TestClient, row: Row) -> None:
    response = client.post("/predict", json={"instances": [row] + [{}] * 5000})
    assert response.status_code == 422
    assert set(errors_of(response)) == {f"instances[1].{name}" for name in FEATURES}


def test_a_few_unknown_keys_are_named_and_many_are_refused_unread(
    client: TestClient, row: Row
) -> None:
    few = client.post("/predict", json={"instances": [row | {"a": 1.0, "b": 2.0}]})
    assert set(errors_of(few)) == {"instances[0].a", "instances[0].b"}
    unknown = {f"unknown_{i}": 1.0 for i in range(5000)}
    many = client.post("/predict", json={"instances": [row, row | unknown]})
    assert many.status_code == 422
    assert "keys more than Features has fields" in errors_of(many)["instances"]


def test_an_error_body_lists_the_first_problems_only(client: TestClient) -> None:
    unknown = {f"unknown_{i}": 1.0 for i in range(200)}
    response = client.post("/predict", json={"instances": [unknown]})
    body = response.json()
    assert body["detail"].endswith("problems, the first 50 listed")
    assert len(body["errors"]) == 50


def test_an_error_body_cuts_long_names_short(client: TestClient, row: Row) -> None:
    response = client.post("/predict", json={"instances": [row | {"x" * 100_000: 1.0}]})
    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert error["field"].startswith("instances[0].xxx")
    assert error["field"].endswith("…")
    assert len(error["field"]) == 200
    assert len(response.content) < 1000


def test_too_many_rows_is_rejected(client: TestClient, settings: Settings, row: Row) -> None:
    limit = settings.max_rows
    response = client.post("/predict", json={"instances": [row] * (limit + 1)})
    assert response.status_code == 422
    assert f"at most {limit} rows" in errors_of(response)["instances"]


def test_max_rows_rows_at_full_precision_fit_in_the_body_limit(
    client: TestClient, settings: Settings, row: Row
) -> None:
    """The two limits agree: a request of as many rows as are allowed is not too large."""
    rng = np.random.default_rng(0)
    rows = [
        {name: value * float(rng.uniform(0.9, 1.1)) if isinstance(value, float) else value
         for name, value in row.items()}
        for _ in range(settings.max_rows)
    ]  # fmt: skip
    body = json.dumps({"instances": rows}).encode()  # every float with all its 17 digits
    assert len(body) <= settings.max_body_bytes
    response = client.post("/predict", content=body, headers=JSON)
    assert response.status_code == 200
    assert len(response.json()["predictions"]) == settings.max_rows
