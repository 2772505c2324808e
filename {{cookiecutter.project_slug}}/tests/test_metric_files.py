"""A dead worker's metric files, folded into the archives: every total stays the same."""

import threading
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from {{ cookiecutter.package_name }}.metric_files import folder_lock, retire_worker

# A sample: metric, sample name, label names, label values, help text.
Sample = tuple[str, str, tuple[str, ...], tuple[str, ...], str]

COUNTER: Sample = ("rows", "rows_total", (), (), "Rows.")
BUCKET: Sample = ("latency_seconds", "latency_seconds_bucket", ("le",), ("0.1",), "Latency.")
OVERFLOW: Sample = ("latency_seconds", "latency_seconds_bucket", ("le",), ("+Inf",), "Latency.")
SUM: Sample = ("latency_seconds", "latency_seconds_sum", (), (), "Latency.")
IN_FLIGHT: Sample = ("in_flight", "in_flight", (), (), "In flight.")


def write(folder: Path, file_name: str, samples: dict[Sample, float]) -> None:
    """Write samples the way a worker does, into a file of the folder."""
    values = MmapedDict(str(folder / file_name))
    for (metric, name, label_names, label_values, help_text), value in samples.items():
        key = mmap_key(metric, name, list(label_names), list(label_values), help_text)
        values.write_value(key, value, 0.0)
    values.close()


def worker(folder: Path, pid: int, rows: float, latency: float, in_flight: float) -> None:
    write(folder, f"counter_{pid}.db", {COUNTER: rows})
    write(folder, f"histogram_{pid}.db", {BUCKET: rows - 1, OVERFLOW: 1.0, SUM: latency})
    write(folder, f"gauge_livesum_{pid}.db", {IN_FLIGHT: in_flight})


def scrape(folder: Path) -> dict[str, float]:
    """What /metrics would serve from the folder, by sample name and labels."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(folder))
    text = generate_latest(registry).decode()
    return {
        f"{sample.name}{sorted(sample.labels.items())}": sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    worker(tmp_path, 11, rows=5, latency=0.25, in_flight=2)
    worker(tmp_path, 12, rows=7, latency=0.5, in_flight=1)
    return tmp_path


def test_retiring_workers_keeps_every_total_and_drops_their_live_gauges(folder: Path) -> None:
    before = scrape(folder)
    assert before["rows_total[]"] == 12
    assert before["latency_seconds_count[]"] == 12
    assert before["in_flight[]"] == 3

    retire_worker(11, folder)
    after_one = scrape(folder)
    assert after_one == before | {"in_flight[]": 1}
    assert not list(folder.glob("*_11.db"))
    assert (folder / "counter_archive.db").exists()
    assert (folder / "histogram_archive.db").exists()

    retire_worker(12, folder)
    after_both = scrape(folder)
    assert after_both == {key: value for key, value in before.items() if key != "in_flight[]"}
    assert sorted(path.name for path in folder.glob("*.db")) == [
        "counter_archive.db",
        "histogram_archive.db",
    ]


def test_a_new_worker_adds_to_the_archived_totals(folder: Path) -> None:
    retire_worker(11, folder)
    retire_worker(12, folder)
    worker(folder, 13, rows=3, latency=0.125, in_flight=0)
    totals = scrape(folder)
    assert totals["rows_total[]"] == 15
    assert totals["latency_seconds_sum[]"] == 0.875
    assert totals["latency_seconds_bucket[('le', '0.1')]"] == 12


def test_retiring_a_worker_that_wrote_nothing_changes_nothing(folder: Path) -> None:
    before = scrape(folder)
    retire_worker(99, folder)
    assert scrape(folder) == before
    assert not (folder / "counter_archive.db").exists()


def test_a_worker_is_retired_only_once_no_scrape_is_reading(folder: Path) -> None:
    retiring = threading.Thread(target=retire_worker, args=(11, folder))
    with folder_lock(folder, exclusive=False):
        retiring.start()
        time.sleep(0.2)
        assert (folder / "counter_11.db").exists(), "the worker was retired during a scrape"
    retiring.join(timeout=10)
    assert not retiring.is_alive()
    assert not (folder / "counter_11.db").exists()
