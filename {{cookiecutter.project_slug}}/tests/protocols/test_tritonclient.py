"""The Open Inference Protocol with a client its users already have: Triton's own Python HTTP
client (`tritonclient[http]`), against a running server, as its documentation uses it."""

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from {{ cookiecutter.package_name }}.serving.loader import load_model
from {{ cookiecutter.package_name }}.serving.metadata import ModelMetadata
from {{ cookiecutter.package_name }}.settings import Settings

from ..conftest import FEATURES, varied_rows
from ..servers import start_gunicorn, stop

NAME = Settings(_env_file=None).model_name


@pytest.fixture(scope="module")
def client(
    tmp_path_factory: pytest.TempPathFactory, model_path: Path
) -> Iterator[triton.InferenceServerClient]:
    server = start_gunicorn(tmp_path_factory.mktemp("triton"), model_path, workers=1)
    try:
        server.wait_for_ready_workers(1)
        client = triton.InferenceServerClient(url=f"127.0.0.1:{server.port}")
        yield client
        client.close()  # its connection pool's sockets
    finally:
        assert stop(server) == 0


@pytest.fixture(scope="module")
def x(metadata: ModelMetadata) -> np.ndarray:
    rows = varied_rows(metadata, 25, seed=11)
    return np.array([[row[name] for name in FEATURES] for row in rows])


def test_health_and_metadata(client: triton.InferenceServerClient, metadata: ModelMetadata) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready(NAME)
    assert client.is_model_ready(NAME, model_version=metadata.version)
    assert not client.is_model_ready("another")
    described = client.get_model_metadata(NAME)
    assert [tensor["name"] for tensor in described["inputs"]] == FEATURES
    assert client.get_server_metadata()["name"] == NAME


def test_a_matrix_input_gives_the_predictors_answers(
    client: triton.InferenceServerClient, model_path: Path, metadata: ModelMetadata, x: np.ndarray
) -> None:
    tensor = triton.InferInput("input-0", list(x.shape), "FP64")
    tensor.set_data_from_numpy(x, binary_data=False)
    outputs = [
        triton.InferRequestedOutput(name, binary_data=False)
        for name in ("predictions", "probabilities")
    ]
    result = client.infer(NAME, [tensor], outputs=outputs, request_id="triton-1")

    expected = load_model(model_path, threads=1).predictor.predict(x)
    assert result.get_response()["id"] == "triton-1"
    labels = [
        label.decode() if isinstance(label, bytes) else label
        for label in result.as_numpy("predictions")
    ]
    assert labels == expected.outputs
    if metadata.classes and expected.probabilities is not None:
        probabilities = result.as_numpy("probabilities")
        assert probabilities.shape == (len(x), len(metadata.classes))
        np.testing.assert_array_equal(
            probabilities,
            [[row[label] for label in metadata.classes] for row in expected.probabilities],
        )
        # Asked for no output, the client wants binary ones: it reads the JSON it gets as well.
        everything = client.infer(NAME, [tensor])
        np.testing.assert_array_equal(everything.as_numpy("probabilities"), probabilities)


def test_one_input_per_feature_from_the_models_metadata(
    client: triton.InferenceServerClient, x: np.ndarray
) -> None:
    described = client.get_model_metadata(NAME)
    inputs = []
    for column, spec in enumerate(described["inputs"]):
        tensor = triton.InferInput(spec["name"], [len(x)], spec["datatype"])
        dtype = np.int64 if spec["datatype"] == "INT64" else np.float64
        tensor.set_data_from_numpy(
            x[:, column].round().astype(dtype) if dtype is np.int64 else x[:, column],
            binary_data=False,
        )
        inputs.append(tensor)
    by_feature = client.infer(
        NAME, inputs, outputs=[triton.InferRequestedOutput("predictions", binary_data=False)]
    )
    assert by_feature.as_numpy("predictions").shape == (len(x),)
    assert by_feature.as_numpy("probabilities") is None  # not asked for


def test_errors_reach_the_client_with_their_message(
    client: triton.InferenceServerClient, x: np.ndarray
) -> None:
    tensor = triton.InferInput("input-0", [len(x), 1], "FP64")
    tensor.set_data_from_numpy(x[:, :1], binary_data=False)
    with pytest.raises(InferenceServerException, match="unknown input 'input-0'"):
        client.infer(NAME, [tensor])
    with pytest.raises(InferenceServerException, match="unknown model 'another'"):
        client.get_model_metadata("another")
