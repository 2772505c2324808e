"""POST /predict and GET /model: answers, the OpenAPI document, and FastAPI's dependencies."""

from pathlib import Path
from typing import Annotated

import numpy as np
import pytest
from fastapi import Depends, FastAPI, Header, HTTPException
from fastapi.testclient import TestClient

from {{ cookiecutter.package_name }}.api.deps import get_model
from {{ cookiecutter.package_name }}.api.schemas import ErrorResponse, PredictResponse
from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.predictor import Features
from {{ cookiecutter.package_name }}.serving.loader import LoadedModel, load_model
from {{ cookiecutter.package_name }}.serving.metadata import ModelMetadata
from {{ cookiecutter.package_name }}.serving.prediction import Matrix, Predictions
from {{ cookiecutter.package_name }}.settings import Settings

from ..conftest import FEATURES, Row, assert_prediction, varied_rows


def test_predict_one_row(client: TestClient, row: Row, metadata: ModelMetadata) -> None:
    response = client.post("/predict", json={"instances": [row]})
    assert response.status_code == 200
    body = response.json()
    assert len(body["predictions"]) == 1
    assert_prediction(body["predictions"][0], metadata)
    if metadata.classes:
        assert body["probabilities"][0].keys() == set(metadata.classes)
    assert body["model_version"] == metadata.version
    assert body["request_id"] == response.headers["X-Request-ID"]
    assert list(body) == list(PredictResponse.model_fields)


def test_rows_reach_the_model_as_columns_in_feature_order(
    client: TestClient, model_path: Path, metadata: ModelMetadata
) -> None:
    rows = varied_rows(metadata, 50)
    # Each row's keys in reverse: the columns follow Features, never the order of the keys.
    instances = [dict(reversed(row.items())) for row in rows]
    body = client.post("/predict", json={"instances": instances}).json()
    x = np.array([[row[name] for name in FEATURES] for row in rows], dtype=np.float64)
    expected = load_model(model_path, threads=1).predictor.predict(x)
    assert body["predictions"] == expected.outputs
    assert body["probabilities"] == expected.probabilities


def test_large_batch_is_predicted_off_the_event_loop_with_the_same_result(
    client: TestClient, settings: Settings, row: Row
) -> None:
    small = client.post("/predict", json={"instances": [row]}).json()
    count = settings.inline_predict_max_rows + 1
    large = client.post("/predict", json={"instances": [row] * count}).json()
    assert large["predictions"] == small["predictions"] * count


@pytest.mark.parametrize("end", ["maximum", "minimum"])
def test_the_largest_numbers_each_feature_allows_are_predicted(
    client: TestClient, metadata: ModelMetadata, end: str
) -> None:
    # Every feature at once at the edge of its range (±3.4e38 for a BoundedFloat): the model
    # gets finite input, and its arithmetic does not overflow on the way to an answer.
    bounds = Features.model_json_schema()["properties"]
    unbounded = 2**53 if end == "maximum" else -(2**53)  # an int without a bound: exact in floats
    edge = {name: bounds[name].get(end, unbounded) for name in FEATURES}
    response = client.post("/predict", json={"instances": [edge]})
    assert response.status_code == 200
    assert_prediction(response.json()["predictions"][0], metadata)


def override_model(app: FastAPI, predictor: object) -> None:
    """Serve the loaded model's metadata with `predictor`, through FastAPI's overrides."""
    loaded: LoadedModel = app.state.model
    model = LoadedModel(predictor, loaded.metadata, loaded.loaded_at)  # type: ignore[arg-type]
    app.dependency_overrides[get_model] = lambda: model


@pytest.mark.parametrize("lost", ["outputs", "probabilities"])
def test_a_model_that_loses_a_row_is_a_500_never_a_shifted_answer(
    app: FastAPI, row: Row, lost: str
) -> None:
    class LosesOne:
        def predict(self, x: Matrix) -> Predictions:
            outputs, probabilities = ["a"] * len(x), [{"a": 1.0}] * len(x)
            if lost == "outputs":
                return Predictions(outputs[1:], probabilities)
            return Predictions(outputs, probabilities[1:])

    with TestClient(app) as client:
        override_model(app, LosesOne())
        response = client.post("/predict", json={"instances": [row, row]})
    assert response.status_code == 500
    assert response.json()["detail"] == "internal server error"


def test_an_override_of_the_model_dependency_is_what_predict_uses(app: FastAPI, row: Row) -> None:
    class Constant:
        def predict(self, x: Matrix) -> Predictions:
            return Predictions(outputs=[42.0] * len(x))

    with TestClient(app) as client:
        override_model(app, Constant())
        body = client.post("/predict", json={"instances": [row, row]}).json()
    assert body["predictions"] == [42.0, 42.0]
    assert body["probabilities"] is None


def test_an_app_level_api_key_dependency_guards_predict(settings: Settings, row: Row) -> None:
    async def check_key(x_api_key: Annotated[str | None, Header()] = None) -> None:
        if x_api_key != "secret":
            raise HTTPException(status_code=401, detail="a valid X-API-Key is required")

    with TestClient(create_app(settings, dependencies=[Depends(check_key)])) as client:
        refused = client.post("/predict", json={"instances": [row]})
        accepted = client.post(
            "/predict", json={"instances": [row]}, headers={"X-API-Key": "secret"}
        )
    assert refused.status_code == 401
    assert refused.json()["detail"] == "a valid X-API-Key is required"
    assert accepted.status_code == 200


def test_openapi_example_request_gets_a_prediction(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    content = schema["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    example = content["examples"]["median"]["value"]
    assert list(example["instances"][0]) == FEATURES
    assert client.post("/predict", json=example).status_code == 200


def test_openapi_documents_the_predict_body_with_its_features(
    client: TestClient, settings: Settings
) -> None:
    schema = client.get("/openapi.json").json()
    body = schema["paths"]["/predict"]["post"]["requestBody"]
    assert body["required"] is True
    assert body["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/PredictRequest"
    }
    components = schema["components"]["schemas"]
    assert list(components["Features"]["properties"]) == FEATURES
    assert set(components["Features"]["required"]) == set(FEATURES)
    assert components["PredictRequest"]["properties"]["instances"]["maxItems"] == settings.max_rows
    response = schema["paths"]["/predict"]["post"]["responses"]["200"]
    assert response["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/PredictResponse"
    }


def test_openapi_documents_every_error_with_the_error_body(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    error_ref = {"$ref": "#/components/schemas/ErrorResponse"}
    documented = {
        (path, method, status)
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        for status, response in operation["responses"].items()
        if int(status) >= 400 and response["content"]["application/json"]["schema"] == error_ref
    }
    statuses = ("400", "413", "415", "422", "500", "503")
    assert {("/predict", "post", status) for status in statuses} <= documented
    assert ("/model", "get", "503") in documented
    assert ("/health/ready", "get", "503") in documented
    assert set(schema["components"]["schemas"]["ErrorResponse"]["properties"]) == set(
        ErrorResponse.model_fields
    )


def test_the_docs_can_be_turned_off(settings: Settings) -> None:
    with TestClient(create_app(settings.model_copy(update={"openapi_docs": False}))) as client:
        for path in ("/openapi.json", "/docs", "/redoc"):
            assert client.get(path).status_code == 404
        assert client.get("/health/ready").status_code == 200


def test_model_route_describes_the_model(client: TestClient, metadata: ModelMetadata) -> None:
    body = client.get("/model").json()
    assert body["version"] == metadata.version
    assert body["framework"] == metadata.framework
    assert body["classes"] == metadata.classes
    assert [f["name"] for f in body["features"]] == list(Features.model_fields)
    assert body["loaded_at"]
