from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from {{ cookiecutter.package_name }}.serving.metadata import ModelMetadata
from {{ cookiecutter.package_name }}.settings import Settings

from ..conftest import Row


def sample(text: str, name: str, **labels: str) -> float:
    """The value of the one sample called `name` whose labels include `labels`."""
    values = [
        found.value
        for family in text_string_to_metric_families(text)
        for found in family.samples
        if found.name == name and labels.items() <= found.labels.items()
    ]
    assert len(values) == 1, f"{len(values)} samples {name} {labels} in /metrics"
    return values[0]


def test_metrics_count_requests_and_predicted_rows(client: TestClient, row: Row) -> None:
    for rows in (1, 3, 5):
        assert client.post("/predict", json={"instances": [row] * rows}).status_code == 200
    client.post("/predict", json={"instances": []})
    text = client.get("/metrics").text
    assert sample(text, "model_predictions_total") == 9
    assert sample(text, "model_inference_duration_seconds_count") == 3
    assert sample(text, "model_request_rows_sum") == 9
    assert sample(text, "http_requests_total", handler="/predict", method="POST", status="200") == 3
    assert sample(text, "http_requests_total", handler="/predict", method="POST", status="422") == 1


def test_metrics_carry_the_model_version(client: TestClient, metadata: ModelMetadata) -> None:
    text = client.get("/metrics").text
    info = sample(text, "model_info", framework=metadata.framework, version=metadata.version)
    assert info == 1


def test_requests_are_counted_by_route_template_even_when_answered_early(
    client: TestClient, settings: Settings
) -> None:
    too_large = b" " * (settings.max_body_bytes + 1)
    headers = {"Content-Type": "application/json"}
    assert client.post("/predict", content=too_large, headers=headers).status_code == 413
    for path in ("/nope", "/nope/again"):
        assert client.get(path).status_code == 404
    text = client.get("/metrics").text
    assert sample(text, "http_requests_total", handler="/predict", status="413") == 1
    # Unknown paths share one series, so that a scan of random URLs adds no series.
    assert sample(text, "http_requests_total", handler="none", method="GET", status="404") == 2
    assert 'handler="/nope' not in text
    assert sample(text, "http_request_duration_seconds_count", handler="none", status="404") == 2


def test_docs_pages_are_counted_by_path(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    assert client.get("/openapi.json").status_code == 200
    text = client.get("/metrics").text
    assert sample(text, "http_requests_total", handler="/docs", method="GET", status="200") == 1
    assert sample(text, "http_requests_total", handler="/openapi.json", status="200") == 1


def test_metrics_route_is_not_itself_counted(client: TestClient) -> None:
    client.get("/metrics")
    text = client.get("/metrics").text
    assert 'handler="/metrics"' not in text
    assert sample(text, "http_requests_inprogress") == 0  # nor the scrape under way


def test_metrics_report_the_process_cpu_memory_and_runtime(client: TestClient) -> None:
    text = client.get("/metrics").text
    assert sample(text, "process_cpu_seconds_total") > 0
    assert sample(text, "process_resident_memory_bytes") > 10_000_000
    assert sample(text, "process_start_time_seconds") > 0
    assert sample(text, "python_info", implementation="CPython") == 1
    assert sample(text, "python_gc_collections_total", generation="0") >= 0
