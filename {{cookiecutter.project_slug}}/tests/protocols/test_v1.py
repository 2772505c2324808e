"""KServe V1: model status, predictions for rows as lists or as named objects, and each error as
{"error": ...}."""

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from {{ cookiecutter.package_name }}.serving.metadata import ModelMetadata
from {{ cookiecutter.package_name }}.settings import Settings

from ..conftest import FEATURES, Row, varied_rows
from .test_v2 import assert_error


@pytest.fixture
def name(settings: Settings) -> str:
    return settings.model_name


def test_the_model_status(client: TestClient, name: str) -> None:
    assert client.get(f"/v1/models/{name}").json() == {"name": name, "ready": True}


def test_rows_as_lists_or_objects_are_predicted_as_by_predict(
    client: TestClient, name: str, metadata: ModelMetadata
) -> None:
    rows = varied_rows(metadata, 30, seed=5)
    expected = client.post("/predict", json={"instances": rows}).json()["predictions"]
    positional = [[row[feature] for feature in FEATURES] for row in rows]
    for instances in (rows, positional):
        response = client.post(f"/v1/models/{name}:predict", json={"instances": instances})
        assert response.json() == {"predictions": expected}


def bad_requests(row: Row) -> dict[str, tuple[Any, str]]:
    first = FEATURES[0]
    positional = [row[feature] for feature in FEATURES]
    return {
        "no instances": ({"instances": []}, "instances"),
        "not JSON": (b"{", "JSON"),
        "a row too short": ({"instances": [positional[1:]]}, f"{len(FEATURES)} numbers"),
        "text in a row": ({"instances": [["1"] * len(FEATURES)]}, "numbers"),
        "rows and objects mixed": ({"instances": [positional, row]}, "instances"),
        "a missing feature": (
            {"instances": [{k: v for k, v in row.items() if k != first}]},
            f"instances[0].{first}",
        ),
        "a value out of range": ({"instances": [[1e39, *positional[1:]]]}, f"row 0, {first}"),
    }


@pytest.mark.parametrize("case", list(bad_requests(dict.fromkeys(FEATURES, 0.0))))
def test_a_bad_request_is_a_400_naming_the_problem(
    client: TestClient, name: str, row: Row, case: str
) -> None:
    body, words = bad_requests(row)[case]
    path = f"/v1/models/{name}:predict"
    response = (
        client.post(path, content=body) if isinstance(body, bytes) else client.post(path, json=body)
    )
    assert_error(response, 400, words)


def test_too_many_rows_is_a_400(
    client: TestClient, name: str, settings: Settings, row: Row
) -> None:
    instances = [row] * (settings.max_rows + 1)
    response = client.post(f"/v1/models/{name}:predict", json={"instances": instances})
    assert response.status_code == 400
    assert f"from 1 to {settings.max_rows} rows" in response.json()["error"]


def test_an_unknown_model_is_a_404(client: TestClient, name: str, row: Row) -> None:
    for response in (
        client.get("/v1/models/another"),
        client.post("/v1/models/another:predict", json={"instances": [row]}),
        client.post("/v1/models/another:explain", json={"instances": [row]}),
    ):
        assert response.status_code == 404
        assert response.json() == {"error": f"unknown model 'another'; this is {name!r}"}


def test_before_the_model_is_loaded_it_is_a_503(app: FastAPI, name: str, row: Row) -> None:
    client = TestClient(app)  # no `with`: the lifespan has not loaded the model
    for response in (
        client.get(f"/v1/models/{name}"),
        client.post(f"/v1/models/{name}:predict", json={"instances": [row]}),
    ):
        assert response.status_code == 503
        assert response.json() == {"error": "the model is not loaded yet"}


def test_every_prediction_route_counts_its_rows_alike(
    app: FastAPI, client: TestClient, name: str, metadata: ModelMetadata
) -> None:
    """/predict, V1 and V2 share one path: the rows predicted and their drift bins count each."""
    rows = varied_rows(metadata, 7, seed=11)
    positional = [[row[feature] for feature in FEATURES] for row in rows]
    tensor = {"name": "rows", "shape": [7, len(FEATURES)], "datatype": "FP64", "data": positional}
    bodies = {
        "/predict": {"instances": rows},
        f"/v1/models/{name}:predict": {"instances": positional},
        f"/v2/models/{name}/infer": {"inputs": [tensor]},
    }

    def counted() -> tuple[float, float]:
        app.state.monitor.drift.flush()  # counts reach the counters at most once a second
        samples = [
            sample
            for family in text_string_to_metric_families(client.get("/metrics").text)
            for sample in family.samples
        ]
        predicted = sum(s.value for s in samples if s.name == "model_predictions_total")
        binned = sum(
            s.value
            for s in samples
            if s.name == "model_input_bin_rows_total" and s.labels["feature"] == FEATURES[0]
        )
        return predicted, binned

    for path, body in bodies.items():
        before = counted()
        assert client.post(path, json=body).status_code == 200, path
        assert [after - was for after, was in zip(counted(), before, strict=True)] == [7, 7], path
