"""The Open Inference Protocol (V2): metadata, health, inference in every input layout it accepts,
the same numbers as /predict and KServe V1, and each error as {"error": ...}."""

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx2 import Response

from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.serving.metadata import ModelMetadata
from {{ cookiecutter.package_name }}.settings import Settings

from ..conftest import FEATURES, Row, varied_rows

WIDTH = len(FEATURES)


@pytest.fixture
def name(settings: Settings) -> str:
    return settings.model_name


def matrix_input(rows: list[Row], nested: bool = False) -> dict[str, Any]:
    values = [[row[feature] for feature in FEATURES] for row in rows]
    data = values if nested else [value for row in values for value in row]
    return {"name": "input-0", "shape": [len(rows), WIDTH], "datatype": "FP64", "data": data}


def feature_inputs(rows: list[Row], metadata: ModelMetadata, column: bool) -> list[dict[str, Any]]:
    """One input per feature, as the model's metadata describes them."""
    shape = [len(rows), 1] if column else [len(rows)]
    return [
        {
            "name": spec.name,
            "shape": shape,
            "datatype": "INT64" if spec.type == "int" else "FP32",
            "data": [row[spec.name] for row in rows],
        }
        for spec in metadata.features
    ]


def test_server_metadata_and_health(client: TestClient, name: str) -> None:
    server = client.get("/v2").json()
    assert server["name"] == name
    assert server["version"]
    assert server["extensions"] == []
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    assert client.get(f"/v2/models/{name}/ready").json() == {"name": name, "ready": True}


def test_model_metadata_comes_from_the_saved_feature_schema(
    client: TestClient, name: str, metadata: ModelMetadata
) -> None:
    body = client.get(f"/v2/models/{name}").json()
    assert client.get(f"/v2/models/{name}/versions/{metadata.version}").json() == body
    assert (body["name"], body["versions"], body["platform"]) == (
        name,
        [metadata.version],
        metadata.framework,
    )
    types = {"float": "FP64", "int": "INT64"}
    assert body["inputs"] == [
        {"name": spec.name, "datatype": types[spec.type], "shape": [-1]}
        for spec in metadata.features
    ]
    outputs = {output["name"]: output for output in body["outputs"]}
    if metadata.classes:
        assert outputs["predictions"] == {"name": "predictions", "datatype": "BYTES", "shape": [-1]}
        assert outputs["probabilities"]["shape"] == [-1, len(metadata.classes)]


@pytest.mark.parametrize("layout", ["flat", "nested", "per feature [N]", "per feature [N, 1]"])
def test_every_layout_gives_the_numbers_of_predict_and_v1(
    client: TestClient, name: str, metadata: ModelMetadata, layout: str
) -> None:
    rows = varied_rows(metadata, 40, seed=3)
    if layout.startswith("per feature"):
        inputs = feature_inputs(rows, metadata, column=layout.endswith("1]"))
    else:
        inputs = [matrix_input(rows, nested=layout == "nested")]

    v2 = client.post(f"/v2/models/{name}/infer", json={"inputs": inputs}).json()
    predict = client.post("/predict", json={"instances": rows}).json()
    positional = [[row[feature] for feature in FEATURES] for row in rows]
    v1 = client.post(f"/v1/models/{name}:predict", json={"instances": positional}).json()

    outputs = {output["name"]: output for output in v2["outputs"]}
    assert outputs["predictions"]["shape"] == [len(rows)]
    assert outputs["predictions"]["data"] == predict["predictions"] == v1["predictions"]
    if metadata.classes:
        probabilities = outputs["probabilities"]
        assert probabilities["shape"] == [len(rows), len(metadata.classes)]
        expected = [p[label] for p in predict["probabilities"] for label in metadata.classes]
        assert probabilities["data"] == expected
    assert v2["model_version"] == predict["model_version"]


def test_the_request_id_is_echoed_or_the_services_given(
    client: TestClient, name: str, row: Row
) -> None:
    body = {"inputs": [matrix_input([row])]}
    assert client.post(f"/v2/models/{name}/infer", json=body | {"id": "a-1"}).json()["id"] == "a-1"
    response = client.post(f"/v2/models/{name}/infer", json=body)
    assert response.json()["id"] == response.headers["X-Request-ID"]


def test_the_versioned_path_and_the_outputs_selection(
    client: TestClient, name: str, metadata: ModelMetadata, row: Row
) -> None:
    body = {"inputs": [matrix_input([row])], "outputs": [{"name": "predictions"}]}
    path = f"/v2/models/{name}/versions/{metadata.version}/infer"
    answer = client.post(path, json=body).json()
    assert [output["name"] for output in answer["outputs"]] == ["predictions"]


def test_predictions_count_in_the_model_metrics(client: TestClient, name: str, row: Row) -> None:
    client.post(f"/v2/models/{name}/infer", json={"inputs": [matrix_input([row] * 7)]})
    assert "model_predictions_total 7.0" in client.get("/metrics").text


def assert_error(response: Response, status: int, words: str) -> None:
    """The protocols' error: `{"error": "..."}` with `status`, the message naming `words`."""
    assert response.status_code == status
    assert list(response.json()) == ["error"]
    assert words in response.json()["error"]


def bad_requests(row: Row) -> dict[str, tuple[Any, str]]:
    """Bodies, each with the words its error names."""
    one = matrix_input([row])
    first = FEATURES[0]
    per_feature = [
        {"name": feature, "shape": [1], "datatype": "FP64", "data": [row[feature]]}
        for feature in FEATURES
    ]
    return {
        "shape does not fit the data": ({"inputs": [one | {"shape": [2, WIDTH]}]}, "shape"),
        "negative shape": ({"inputs": [one | {"shape": [-1, WIDTH]}]}, "shape"),
        "unknown datatype": ({"inputs": [one | {"datatype": "FP16"}]}, "datatype 'FP16'"),
        "text in the data": ({"inputs": [one | {"data": ["1.5"] * WIDTH}]}, "numbers"),
        "floats for an int datatype": ({"inputs": [one | {"datatype": "INT64"}]}, "integers"),
        "numbers for a bool datatype": ({"inputs": [one | {"datatype": "BOOL"}]}, "true or false"),
        "ragged nested data": (
            {"inputs": [one | {"data": [[1.0], [1.0, 2.0]]}]},
            "rows of one length",
        ),
        "missing input": ({"inputs": per_feature[1:]}, f"missing input '{first}'"),
        "unknown input": ({"inputs": [one | {"shape": [WIDTH, 1]}]}, "unknown input"),
        "same input twice": ({"inputs": [*per_feature, per_feature[0]]}, "same name"),
        "rows of different counts": (
            {"inputs": [per_feature[0] | {"shape": [2], "data": [1.0, 2.0]}, *per_feature[1:]]},
            "of the same N",
        ),
        "no inputs": ({"inputs": []}, "inputs"),
        "no rows": ({"inputs": [one | {"shape": [0, WIDTH], "data": []}]}, "0"),
        "a huge shape of no values": (
            {"inputs": [one | {"shape": [2**62, 0], "data": []}]},
            "shape",
        ),
        "more dimensions than numpy's": (
            {"inputs": [one | {"shape": [1] * 70, "data": [1.0]}]},
            "shape",
        ),
        "a value out of range": (
            {"inputs": [one | {"data": [1e39, *one["data"][1:]]}]},
            f"row 0, {first}",
        ),
        "unknown output": ({"inputs": [one], "outputs": [{"name": "score"}]}, "'score'"),
    }


@pytest.mark.parametrize("case", list(bad_requests(dict.fromkeys(FEATURES, 0.0))))
def test_a_bad_request_is_a_400_naming_the_problem(
    client: TestClient, name: str, row: Row, case: str
) -> None:
    body, words = bad_requests(row)[case]
    assert_error(client.post(f"/v2/models/{name}/infer", json=body), 400, words)


def test_invalid_json_too_many_rows_and_a_large_body(
    client: TestClient, name: str, settings: Settings, row: Row
) -> None:
    path = f"/v2/models/{name}/infer"
    response = client.post(path, content=b"{")
    assert (response.status_code, list(response.json())) == (400, ["error"])
    rows = [row] * (settings.max_rows + 1)
    response = client.post(path, json={"inputs": [matrix_input(rows)]})
    assert response.status_code == 400
    assert f"from 1 to {settings.max_rows} rows" in response.json()["error"]
    response = client.post(path, content=b" " * (settings.max_body_bytes + 1))
    assert response.status_code == 413
    assert "larger than" in response.json()["error"]


def test_an_unknown_model_or_version_is_a_404(
    client: TestClient, name: str, metadata: ModelMetadata, row: Row
) -> None:
    body = {"inputs": [matrix_input([row])]}
    for response in (
        client.get("/v2/models/another"),
        client.get("/v2/models/another/ready"),
        client.get(f"/v2/models/{name}/versions/0"),
        client.post("/v2/models/another/infer", json=body),
        client.post(f"/v2/models/{name}/versions/0/infer", json=body),
    ):
        assert response.status_code == 404
        assert "unknown" in response.json()["error"]


def test_before_the_model_is_loaded_it_is_a_503(app: FastAPI, name: str, row: Row) -> None:
    client = TestClient(app)  # no `with`: the lifespan has not loaded the model
    body = {"inputs": [matrix_input([row])]}
    assert client.get("/v2/health/live").status_code == 200
    for response in (
        client.get("/v2/health/ready"),
        client.get(f"/v2/models/{name}/ready"),
        client.get(f"/v2/models/{name}"),
        client.post(f"/v2/models/{name}/infer", json=body),
    ):
        assert response.status_code == 503
        assert response.json() == {"error": "the model is not loaded yet"}


def test_a_setting_turns_the_protocol_routes_off(settings: Settings, name: str) -> None:
    app = create_app(settings.model_copy(update={"protocol_routes": False}))
    with TestClient(app) as client:
        assert client.get("/v2/health/ready").status_code == 404
        assert client.get(f"/v1/models/{name}").status_code == 404
        assert client.get("/health/ready").status_code == 200


def test_whole_numbers_as_int64_give_the_answer_of_the_same_floats(
    client: TestClient, name: str, row: Row
) -> None:
    whole = {feature: float(round(value)) for feature, value in row.items()}
    as_floats = matrix_input([whole])
    as_ints = as_floats | {"datatype": "INT32", "data": [int(v) for v in as_floats["data"]]}
    path = f"/v2/models/{name}/infer"
    answers = [client.post(path, json={"inputs": [tensor]}) for tensor in (as_floats, as_ints)]
    assert [answer.status_code for answer in answers] == [200, 200]
    assert answers[0].json()["outputs"] == answers[1].json()["outputs"]
