"""Dead workers' metric files, folded into the archives: every total stays the same."""

import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from {{ cookiecutter.package_name }}.metric_files import folder_lock, retire_worker, served_totals

# A sample: metric, sample name, label names, label values, help text.
Sample = tuple[str, str, tuple[str, ...], tuple[str, ...], str]

COUNTER: Sample = ("rows", "rows_total", (), (), "Rows.")
BUCKET: Sample = ("latency_seconds", "latency_seconds_bucket", ("le",), ("0.1",), "Latency.")
OVERFLOW: Sample = ("latency_seconds", "latency_seconds_bucket", ("le",), ("+Inf",), "Latency.")
SUM: Sample = ("latency_seconds", "latency_seconds_sum", (), (), "Latency.")
IN_FLIGHT: Sample = ("in_flight", "in_flight", (), (), "In flight.")

# Process ids that no process can have: above the kernel's largest.
DEAD = int(Path("/proc/sys/kernel/pid_max").read_text()) + 1
OTHER_DEAD = DEAD + 1
LIVE = os.getpid()


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


def files(folder: Path) -> set[str]:
    return {path.name for path in folder.glob("*.db")}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    worker(tmp_path, DEAD, rows=5, latency=0.25, in_flight=2)
    worker(tmp_path, LIVE, rows=7, latency=0.5, in_flight=1)
    return tmp_path


def test_retiring_a_worker_keeps_every_total_and_drops_its_live_gauges(folder: Path) -> None:
    before = scrape(folder)
    assert before["rows_total[]"] == 12
    assert before["latency_seconds_count[]"] == 12
    assert before["in_flight[]"] == 3

    assert retire_worker(DEAD, folder)
    assert scrape(folder) == before | {"in_flight[]": 1}
    assert files(folder) == {
        "counter_archive.db",
        f"counter_{LIVE}.db",
        f"gauge_livesum_{LIVE}.db",
        "histogram_archive.db",
        f"histogram_{LIVE}.db",
    }


def test_a_live_worker_adds_to_the_archived_totals(folder: Path) -> None:
    worker(folder, OTHER_DEAD, rows=3, latency=0.125, in_flight=0)
    assert retire_worker(DEAD, folder)  # and the other dead one's files with it
    assert files(folder) & {f"counter_{OTHER_DEAD}.db", f"histogram_{OTHER_DEAD}.db"} == set()
    write(folder, f"counter_{LIVE}.db", {COUNTER: 10})  # the live worker counts on
    totals = scrape(folder)
    assert totals["rows_total[]"] == 18
    assert totals["latency_seconds_sum[]"] == 0.875
    assert totals["latency_seconds_bucket[('le', '0.1')]"] == 12


def test_retiring_a_worker_that_wrote_nothing_changes_nothing(folder: Path) -> None:
    (folder / f"counter_{DEAD}.db").unlink()
    (folder / f"histogram_{DEAD}.db").unlink()
    (folder / f"gauge_livesum_{DEAD}.db").unlink()
    before = scrape(folder)
    assert retire_worker(DEAD, folder)
    assert scrape(folder) == before
    assert not (folder / "counter_archive.db").exists()


def test_folding_never_lowers_a_float_total(tmp_path: Path) -> None:
    # Added in another grouping, floats can come out one unit in the last place apart.
    rng = random.Random(7)
    for trial in range(300):
        folder = tmp_path / str(trial)
        folder.mkdir()
        write(folder, "histogram_archive.db", {SUM: rng.uniform(0, 1e4)})
        for pid in (DEAD, LIVE, LIVE + 1):
            write(folder, f"histogram_{pid}.db", {SUM: rng.uniform(0, 1e4)})
        before = scrape(folder)["latency_seconds_sum[]"]
        assert retire_worker(DEAD, folder)
        assert scrape(folder)["latency_seconds_sum[]"] >= before, f"trial {trial}"


def test_folding_a_small_archive_under_large_live_totals_never_lowers_them(tmp_path: Path) -> None:
    # One step up of a small archive's value can be far less than one step of the total.
    rng = random.Random(11)
    for trial in range(300):
        folder = tmp_path / str(trial)
        folder.mkdir()
        write(folder, f"histogram_{DEAD}.db", {SUM: rng.uniform(0.001, 10)})
        write(folder, "histogram_archive.db", {SUM: rng.uniform(0.001, 10)})
        for pid in (LIVE, LIVE + 1):
            write(folder, f"histogram_{pid}.db", {SUM: rng.uniform(1e3, 1e5)})
        before = scrape(folder)["latency_seconds_sum[]"]
        assert retire_worker(DEAD, folder)
        assert scrape(folder)["latency_seconds_sum[]"] >= before, f"trial {trial}"


def test_only_the_archived_types_are_compared_across_a_fold(folder: Path) -> None:
    # Gauges move on their own (requests in flight): no archive value could make up for them.
    compared = {name for name, _ in served_totals(folder)}
    assert compared == {
        "rows_total",
        "latency_seconds_bucket",
        "latency_seconds_count",
        "latency_seconds_sum",
    }


def test_a_fold_waits_for_the_scrape_reading_the_folder(folder: Path) -> None:
    retiring = threading.Thread(target=retire_worker, args=(DEAD, folder))
    with folder_lock(folder):
        retiring.start()
        time.sleep(0.2)
        assert (folder / f"counter_{DEAD}.db").exists(), "folded during a scrape"
    retiring.join(timeout=10)
    assert not retiring.is_alive()
    assert not (folder / f"counter_{DEAD}.db").exists()


def test_a_fold_left_for_later_by_a_long_scrape_is_done_at_the_next_exit(folder: Path) -> None:
    before = scrape(folder)
    with folder_lock(folder):
        assert not retire_worker(DEAD, folder, wait=0.1)
    assert (folder / f"counter_{DEAD}.db").exists()
    assert scrape(folder) == before | {"in_flight[]": 1}  # still counted, gauges dropped
    assert retire_worker(OTHER_DEAD, folder)
    assert not list(folder.glob(f"*_{DEAD}.db"))
    assert scrape(folder) == before | {"in_flight[]": 1}


# Run in a mount namespace of its own, on a tmpfs of 1 MiB that it fills before the fold.
FULL_DISK_FOLD = """
import json, shutil, sys
from pathlib import Path
from {{ cookiecutter.package_name }}.metric_files import retire_worker, served_totals

small, source, dead = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
for path in source.glob("*.db"):  # not the gauges, whose removal would make room
    if not path.name.startswith("gauge_"):
        shutil.copy(path, small)
before = served_totals(small)
with (small / "filler").open("wb", buffering=0) as filler:
    try:
        while True:
            filler.write(bytes(4096))
    except OSError:
        pass
try:
    retire_worker(dead, small)
    error = None
except OSError as raised:
    error = raised.strerror
print(json.dumps({
    "error": error,
    "same_totals": served_totals(small) == before,
    "files": sorted(path.name for path in small.iterdir()),
}))
"""


def test_a_fold_on_a_full_disk_fails_with_an_error_and_keeps_the_files(
    folder: Path, tmp_path: Path
) -> None:
    unshare = shutil.which("unshare")
    if unshare is None or subprocess.run([unshare, "-Urm", "true"], check=False).returncode:
        pytest.skip("needs unshare and user namespaces, to mount a small tmpfs")
    small = tmp_path / "small"
    small.mkdir()
    mount_then_run = 'mount -t tmpfs -o size=1m tmpfs "$1" && shift && exec "$@"'
    result = subprocess.run(
        [
            unshare, "-Urm", "sh", "-c", mount_then_run, "sh", str(small),
            sys.executable, "-c", FULL_DISK_FOLD, str(small), str(folder), str(DEAD),
        ],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    # Not killed by SIGBUS, as writes to a memory map of a file the disk cannot hold would be.
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["error"] == "No space left on device"
    assert outcome["same_totals"]
    assert f"counter_{DEAD}.db" in outcome["files"]
    assert f"histogram_{DEAD}.db" in outcome["files"]
    assert not [name for name in outcome["files"] if name.endswith((".staging", ".folded"))]
