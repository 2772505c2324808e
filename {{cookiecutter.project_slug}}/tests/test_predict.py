import gzip
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi import APIRouter, Request, Response
from fastapi.testclient import TestClient
from pydantic import ValidationError

from {{ cookiecutter.package_name }}.loader import load_model
from {{ cookiecutter.package_name }}.metadata import FLOAT32_MAX, ModelMetadata
from {{ cookiecutter.package_name }}.payload import first_problems
from {{ cookiecutter.package_name }}.prediction import Matrix, Predictions
from {{ cookiecutter.package_name }}.predictor import Features
from {{ cookiecutter.package_name }}.routes import DirectRoute
from {{ cookiecutter.package_name }}.sample_data import load_sample_data
from {{ cookiecutter.package_name }}.schemas import ErrorResponse, PredictRequest, PredictResponse
from {{ cookiecutter.package_name }}.settings import Settings

Row = dict[str, float | int]


def test_predict_one_row(client: TestClient, row: Row, metadata: ModelMetadata) -> None:
    response = client.post("/predict", json={"instances": [row]})
    assert response.status_code == 200
    body = response.json()
    assert len(body["predictions"]) == 1
    assert body["predictions"][0] in (metadata.classes or [])
    assert body["probabilities"][0].keys() == set(metadata.classes or [])
    assert body["model_version"] == metadata.version
    assert body["request_id"] == response.headers["X-Request-ID"]
    # The body the OpenAPI document gives, its fields in the same order.
    assert list(body) == list(PredictResponse.model_fields)
    PredictResponse.model_validate_json(response.content)


def test_numpy_values_from_a_predictor_are_served_as_plain_ones(
    client: TestClient, row: Row, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = client.post("/predict", json={"instances": [row]}).json()
    predictor = client.app.state.service.model.predictor  # type: ignore[attr-defined]
    predict = predictor.predict

    def numpy_values(x: Matrix) -> Predictions:
        result = predict(x)
        return Predictions(
            outputs=[np.str_(output) for output in result.outputs],  # type: ignore[arg-type]
            probabilities=[
                {label: np.float64(p) for label, p in probabilities.items()}
                for probabilities in result.probabilities or []
            ],
        )

    monkeypatch.setattr(predictor, "predict", numpy_values)
    response = client.post("/predict", json={"instances": [row]})
    assert response.status_code == 200
    body = response.json()
    assert body["predictions"] == expected["predictions"]
    assert body["probabilities"] == expected["probabilities"]


@pytest.mark.parametrize("lost", ["outputs", "probabilities"])
def test_a_model_that_loses_a_row_is_a_500_never_a_shifted_answer(
    client: TestClient, row: Row, monkeypatch: pytest.MonkeyPatch, lost: str
) -> None:
    predictor = client.app.state.service.model.predictor  # type: ignore[attr-defined]
    predict = predictor.predict

    def lose_one(x: Matrix) -> Predictions:
        result = predict(x)
        if lost == "outputs":
            return Predictions(outputs=result.outputs[1:], probabilities=result.probabilities)
        return Predictions(outputs=result.outputs, probabilities=(result.probabilities or [])[1:])

    monkeypatch.setattr(predictor, "predict", lose_one)
    response = client.post("/predict", json={"instances": [row, row]})
    assert response.status_code == 500
    assert response.json()["detail"] == "internal server error"


def test_predict_many_rows_in_request_order(client: TestClient, metadata: ModelMetadata) -> None:
    low = {n: s.quantiles["p05"] for n, s in metadata.summary.items()}
    high = {n: s.quantiles["p95"] for n, s in metadata.summary.items()}
    body = client.post("/predict", json={"instances": [low, high, low]}).json()
    assert len(body["predictions"]) == 3
    assert body["predictions"][0] == body["predictions"][2] != body["predictions"][1]


def test_rows_reach_the_model_as_columns_in_feature_order(
    client: TestClient, model_path: Path
) -> None:
    x = load_sample_data(Features).x_test  # held-out rows, which the model puts in both classes
    names = list(Features.model_fields)
    # Each row's keys in reverse: the columns follow Features, never the order of the keys.
    instances = [dict(reversed(list(zip(names, values, strict=True)))) for values in x.tolist()]
    body = client.post("/predict", json={"instances": instances}).json()
    expected = load_model(model_path, threads=1).predictor.predict(x)
    assert body["predictions"] == expected.outputs
    assert body["probabilities"] == expected.probabilities
    assert len(set(body["predictions"])) > 1


def test_large_batch_is_predicted_off_the_event_loop_with_the_same_result(
    client: TestClient, settings: Settings, row: Row
) -> None:
    small = client.post("/predict", json={"instances": [row]}).json()
    count = settings.inline_predict_max_rows + 1
    large = client.post("/predict", json={"instances": [row] * count}).json()
    assert large["predictions"] == small["predictions"] * count


def test_openapi_example_request_gets_a_prediction(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    content = schema["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    example = content["examples"]["median"]["value"]
    assert list(example["instances"][0]) == list(Features.model_fields)
    assert client.post("/predict", json=example).status_code == 200


def test_model_route_describes_the_model(client: TestClient, metadata: ModelMetadata) -> None:
    body = client.get("/model").json()
    assert body["version"] == metadata.version
    assert body["framework"] == metadata.framework
    assert [f["name"] for f in body["features"]] == list(Features.model_fields)
    assert body["loaded_at"]


def errors_of(response: Any) -> dict[str, str]:
    body = response.json()
    assert body["request_id"] == response.headers["X-Request-ID"]
    return {error["field"]: error["message"] for error in body["errors"]}


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (lambda r: r | {"mean_radius": "14.1"}, "instances[0].mean_radius", "valid number"),
        (lambda r: r | {"mean_radius": True}, "instances[0].mean_radius", "valid number"),
        (lambda r: r | {"mean_radius": None}, "instances[0].mean_radius", "valid number"),
        (
            lambda r: {k: v for k, v in r.items() if k != "mean_area"},
            "instances[0].mean_area",
            "required",
        ),
        (lambda r: r | {"colour": 1.0}, "instances[0].colour", "not permitted"),
        (lambda r: r | {"mean_radius": 1e39}, "instances[0].mean_radius", "less than or equal"),
        (lambda r: r | {"mean_radius": -1e39}, "instances[0].mean_radius", "greater than or"),
    ],
    ids=["string", "bool", "null", "missing", "extra", "too large", "too small"],
)
def test_bad_row_is_rejected_naming_the_feature(
    client: TestClient, row: Row, change: Any, field: str, message: str
) -> None:
    response = client.post("/predict", json={"instances": [row, change(row)]})
    assert response.status_code == 422
    errors = errors_of(response)
    assert field.replace("[0]", "[1]") in errors
    assert message in errors[field.replace("[0]", "[1]")]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_rejected(client: TestClient, row: Row, literal: str) -> None:
    # Python's JSON parser accepts these literals, so they reach validation.
    body = (
        '{"instances": [{'
        + ", ".join(
            f'"{name}": {literal if name == "mean_texture" else value}'
            for name, value in row.items()
        )
        + "}]}"
    )
    response = client.post("/predict", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert "finite" in errors_of(response)["instances[0].mean_texture"]


@pytest.mark.parametrize("sign", [1, -1])
def test_the_largest_numbers_a_feature_allows_are_predicted(
    client: TestClient, metadata: ModelMetadata, sign: int
) -> None:
    # Every feature at once at the edge of its range: the model gets finite input, and its
    # arithmetic does not overflow on the way to a class.
    edge = dict.fromkeys(Features.model_fields, sign * FLOAT32_MAX)
    response = client.post("/predict", json={"instances": [edge]})
    assert response.status_code == 200
    assert response.json()["predictions"][0] in (metadata.classes or [])


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


@pytest.mark.parametrize("body", [b'{"instances": [', b"", b"instances=1"])
def test_invalid_json_is_a_400_naming_the_body(client: TestClient, body: bytes) -> None:
    response = client.post("/predict", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert "line 1 column" in errors_of(response)["body"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_non_json_content_type_is_a_415(
    client: TestClient, row: Row, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post("/predict", content=json.dumps({"instances": [row]}), headers=headers)
    assert response.status_code == 415
    assert "application/json" in errors_of(response)["Content-Type"]


@pytest.mark.parametrize(
    "encodings",
    [
        [("Content-Encoding", "gzip")],
        [("Content-Encoding", "identity"), ("Content-Encoding", "gzip")],
    ],
    ids=["gzip", "identity-then-gzip"],
)
def test_a_compressed_body_is_a_415_naming_its_encoding(
    client: TestClient, row: Row, encodings: list[tuple[str, str]]
) -> None:
    body = gzip.compress(json.dumps({"instances": [row]}).encode())
    headers = [("Content-Type", "application/json"), *encodings]
    response = client.post("/predict", content=body, headers=headers)
    assert response.status_code == 415
    assert errors_of(response)["Content-Encoding"].endswith("not as gzip")
    assert response.headers["Connection"] == "close"


def test_a_body_of_the_wrong_type_is_refused_before_it_is_read(
    client: TestClient, settings: Settings
) -> None:
    # Larger than the limit too, but never read: the type is checked first.
    response = client.post(
        "/predict",
        content=b"x" * (settings.max_body_bytes + 1),
        headers={"Content-Type": "text/plain"},
    )
    assert response.status_code == 415


def test_json_media_type_with_parameters_is_accepted(client: TestClient, row: Row) -> None:
    response = client.post(
        "/predict",
        content=json.dumps({"instances": [row]}),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 200


def test_openapi_documents_the_predict_body_with_its_features(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    body = schema["paths"]["/predict"]["post"]["requestBody"]
    assert body["required"] is True
    assert body["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/PredictRequest"
    }
    features = schema["components"]["schemas"]["Features"]
    assert list(features["properties"]) == list(Features.model_fields)
    assert set(features["required"]) == set(Features.model_fields)
    response = schema["paths"]["/predict"]["post"]["responses"]["200"]
    assert response["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/PredictResponse"
    }


def test_openapi_documents_every_error_with_the_error_body(
    client: TestClient, settings: Settings, row: Row
) -> None:
    schema = client.get("/openapi.json").json()
    error_ref = {"$ref": "#/components/schemas/ErrorResponse"}
    documented = {
        (path, method, status)
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        for status, response in operation["responses"].items()
        if int(status) >= 400 and response["content"]["application/json"]["schema"] == error_ref
    }
    assert {("/predict", "post", status) for status in ("400", "413", "415", "422", "503")} <= (
        documented
    )
    assert ("/model", "get", "503") in documented
    assert ("/health/ready", "get", "503") in documented
    request = schema["components"]["schemas"]["PredictRequest"]
    assert request["properties"]["instances"]["maxItems"] == settings.max_rows
    # And what the service sends is that body.
    answers = [
        client.post("/predict", content=b"{", headers={"Content-Type": "application/json"}),
        client.post("/predict", json={"instances": [{}]}),
        client.post("/predict", content=b"{}", headers={"Content-Type": "text/plain"}),
        client.post("/predict", json={"instances": [row] * (settings.max_rows + 1)}),
    ]
    assert [answer.status_code for answer in answers] == [400, 422, 415, 422]
    for answer in answers:
        ErrorResponse.model_validate(answer.json(), strict=True)
        assert set(answer.json()) == set(ErrorResponse.model_fields)


def test_many_bad_rows_get_the_first_bad_rows_problems_only(client: TestClient, row: Row) -> None:
    # Thousands of empty rows are a small body, but each lacks every feature.
    response = client.post("/predict", json={"instances": [row] + [{}] * 5000})
    assert response.status_code == 422
    assert set(errors_of(response)) == {f"instances[1].{name}" for name in Features.model_fields}


def test_an_error_body_lists_the_first_problems_only(client: TestClient, row: Row) -> None:
    unknown = {f"unknown_{i}": 1.0 for i in range(5000)}
    response = client.post("/predict", json={"instances": [row | unknown]})
    assert response.status_code == 422
    body = response.json()
    assert body["detail"] == "the request is not valid: 5000 problems, the first 50 listed"
    assert [error["field"] for error in body["errors"]] == [
        f"instances[0].unknown_{i}" for i in range(50)
    ]


def test_a_row_with_more_keys_than_features_is_refused_by_its_unknown_keys(
    client: TestClient, row: Row
) -> None:
    # pydantic's time for an unknown key grows with the number of fields; these are counted
    # before it sees them. The rows before are valid, the row itself lacks every feature.
    unknown = {f"unknown_{i}": 1.0 for i in range(20_000)}
    response = client.post("/predict", json={"instances": [row, row, unknown]})
    assert response.status_code == 422
    body = response.json()
    assert body["detail"] == "the request is not valid: 20000 problems, the first 50 listed"
    assert [error["field"] for error in body["errors"]] == [
        f"instances[2].unknown_{i}" for i in range(50)
    ]
    assert {error["message"] for error in body["errors"]} == {"Extra inputs are not permitted"}


def test_a_long_row_of_known_keys_is_left_to_pydantic(client: TestClient, row: Row) -> None:
    # Long with spaces, and with every key given twice: as many keys as fields, once counted.
    name = next(iter(Features.model_fields))
    pairs = [f'"{key}": {json.dumps(value)}' for key, value in (row | {name: "x"}).items()]
    text = "{" + (" " * 200 + ", ").join(pairs * 2) + "}"
    response = client.post(
        "/predict",
        content='{"instances": [' + text + "]}",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert list(errors_of(response)) == [f"instances[0].{name}"]


@pytest.mark.parametrize("unknown", [3, 5000])
def test_the_first_problems_are_those_pydantic_lists_first(row: Row, unknown: int) -> None:
    body = json.dumps({"instances": [row | {f"unknown_{i}": 1.0 for i in range(unknown)}]})
    with pytest.raises(ValidationError) as raised:
        PredictRequest.model_validate_json(body)
    every = raised.value.errors(include_url=False, include_context=False, include_input=False)
    assert first_problems(raised.value, 50) == every[:50]


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
    response = client.post("/predict", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 200
    assert len(response.json()["predictions"]) == settings.max_rows


def test_body_too_large_is_a_413(client: TestClient, settings: Settings) -> None:
    limit = settings.max_body_bytes
    response = client.post(
        "/predict", content=b" " * (limit + 1), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["detail"]
    assert response.headers["Connection"] == "close"


def test_body_too_large_without_content_length_is_a_413(
    client: TestClient, settings: Settings
) -> None:
    limit = settings.max_body_bytes

    def chunks() -> Any:
        for _ in range(limit // 1024 + 2):
            yield b" " * 1024

    response = client.post(
        "/predict", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413


def test_direct_route_refuses_an_endpoint_that_declares_more_than_the_request() -> None:
    async def with_query(request: Request, limit: int) -> Response:
        return Response()

    router = APIRouter()
    with pytest.raises(TypeError, match="/limited"):
        router.add_api_route("/limited", with_query, route_class_override=DirectRoute)


def test_unknown_route_is_a_json_404(client: TestClient) -> None:
    response = client.get("/nope")
    assert response.status_code == 404
    assert response.json()["detail"] == "Not Found"


def test_a_trailing_slash_is_a_404_not_a_redirect_to_the_host_header(client: TestClient) -> None:
    response = client.get(
        "/health/live/", headers={"Host": "elsewhere.example"}, follow_redirects=False
    )
    assert response.status_code == 404
    assert "location" not in response.headers


def test_service_keeps_serving_after_bad_requests(client: TestClient, row: Row) -> None:
    payloads: list[dict[str, Any]] = [
        {"instances": []},
        {"instances": [{"x": 1}]},
        {"instances": "a"},
    ]
    for payload in payloads:
        assert client.post("/predict", json=payload).status_code == 422
    assert client.post("/predict", json={"instances": [row]}).status_code == 200
