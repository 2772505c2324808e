"""The metric files of gunicorn's workers, and what becomes of a dead worker's.

In Prometheus multiprocess mode each worker writes its samples to files of its own, one per metric
type, named with its pid (`counter_1234.db`), and /metrics adds up every file in the folder. A
dead worker's counters and histograms must stay counted, or the totals would go backwards. But
kept as they are, a dead worker's files make every scrape read one more file each: with
MAX_REQUESTS restarting workers all day they pile up by thousands, and scrapes take seconds.

So when a worker dies, the master folds the counter and histogram files of every process that
no longer exists into one archive file per type (`counter_archive.db`) and removes them: the
totals stay the same, and the folder holds the files of the live workers and the archives,
whatever the number of restarts. Scrapes read the folder under a shared lock, and the master
folds under an exclusive one, so no scrape sees a worker's samples both in the archive and in
its own file, or in neither. The master waits for the lock a moment at most: if a scrape holds
it longer, the files stay counted where they are, and the next worker's exit folds them.

Imported by the gunicorn master (gunicorn.conf.py), so it imports nothing but prometheus_client.
"""

import fcntl
import json
import math
import os
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from prometheus_client import multiprocess
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.multiprocess import MultiProcessCollector

# The types whose samples are summed over the workers, dead ones included. Gauges are not
# archived: the live modes this service uses drop a dead worker's series (mark_process_dead).
ARCHIVED_TYPES = ("counter", "histogram", "summary")
ARCHIVE = "archive"
LOCK_FILE = "folder.lock"
# A new archive being written, and a dead worker's file between its fold and its removal.
STAGING_SUFFIX = ".staging"
FOLDED_SUFFIX = ".folded"
# How long the master waits for scrapes to let go of the folder before leaving the fold for later.
LOCK_WAIT_SECONDS = 1.0
# Rounds of keep_served_totals: one nearly always does, a second absorbs the rounding of the first.
MAX_NUDGES = 8

# A sample as /metrics serves it: name and sorted labels.
SampleId = tuple[str, tuple[tuple[str, str], ...]]


def archive_path(directory: Path, kind: str) -> Path:
    """Where the dead workers' samples of one metric type are kept."""
    return directory / f"{kind}_{ARCHIVE}.db"


def clear_folder(directory: Path) -> None:
    """Remove every metric file, and what a master stopped in the middle of a fold left."""
    for pattern in ("*.db", f"*{STAGING_SUFFIX}", f"*{FOLDED_SUFFIX}"):
        for stale in directory.glob(pattern):
            stale.unlink()


@contextmanager
def folder_lock(directory: Path) -> Iterator[None]:
    """Hold the folder's lock shared, as a scrape does while it reads the files."""
    with (directory / LOCK_FILE).open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_SH)
        yield  # closing the file releases the lock, as does the death of its holder


@contextmanager
def exclusive_folder_lock(directory: Path, wait: float) -> Iterator[bool]:
    """Try for `wait` seconds to hold the folder's lock alone; yield whether it is held."""
    with (directory / LOCK_FILE).open("a") as lock:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                held = True
                break
            except BlockingIOError:
                held = False
                if time.monotonic() >= deadline:
                    break
            time.sleep(0.01)
        yield held


def retire_worker(pid: int, directory: Path, wait: float = LOCK_WAIT_SECONDS) -> bool:
    """Drop a dead worker's live gauges, and fold the files of every process that has ended.

    Those of earlier workers included, whose fold was left for later. A process that still
    exists keeps its files, even one that is not this master's worker.

    Returns False when scrapes held the folder for longer than `wait` seconds: the files are
    then left where they are, still counted, for a later call to fold.
    """
    # Outside the lock: scrapes expect live gauges' files to disappear at any time.
    multiprocess.mark_process_dead(pid, str(directory))
    with exclusive_folder_lock(directory, wait) as locked:
        if not locked:
            return False
        dead = {kind: dead_files(directory, kind) for kind in ARCHIVED_TYPES}
        if any(dead.values()):
            before = served_totals(directory)
            for kind, files in dead.items():
                if files:
                    fold(files, archive_path(directory, kind))
            keep_served_totals(directory, before)
        return True


def dead_files(directory: Path, kind: str) -> list[Path]:
    """The files of one metric type written by processes that no longer exist."""
    files = []
    for path in directory.glob(f"{kind}_*.db"):
        owner = path.stem.removeprefix(f"{kind}_")
        if owner.isdigit() and not process_exists(int(owner)):
            files.append(path)
    return files


def process_exists(pid: int) -> bool:
    """True for a running process, and for one that has ended but not been reaped yet."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's
    return True


def fold(dead: list[Path], archive: Path) -> None:
    """Add the samples of the `dead` files to `archive`, then remove them.

    Call under the exclusive lock, so that scrapes see the folder before the fold or after it.
    The new archive is written aside, and the dead files are renamed out of the *.db files that
    scrapes read before it replaces the old one; if that fails, they are renamed back.
    """
    sources = [source for source in (archive, *dead) if source.exists()]
    totals: dict[str, float] = {}
    for source in sources:
        for key, value, _, _ in MmapedDict.read_all_values_from_file(str(source)):
            totals[key] = totals.get(key, 0.0) + value
    staging = archive.with_suffix(STAGING_SUFFIX)
    staging.unlink(missing_ok=True)
    try:
        # Every key of the new archive is in a source, so the sources' entries bound its size.
        reserve(staging, sum(used_bytes(source) for source in sources))
        written = MmapedDict(str(staging))
        try:
            for key, value in totals.items():
                written.write_value(key, value, 0.0)
        finally:
            written.close()
    except OSError:
        staging.unlink(missing_ok=True)
        raise
    set_aside: list[tuple[Path, Path]] = []
    try:
        for path in dead:
            set_aside.append((path.rename(path.with_suffix(FOLDED_SUFFIX)), path))
        os.replace(staging, archive)
    except OSError:
        for aside, path in set_aside:
            aside.rename(path)
        raise
    for aside, _ in set_aside:
        aside.unlink(missing_ok=True)


def used_bytes(path: Path) -> int:
    """How much of a metric file its samples take: the count in its first 4 bytes (MmapedDict)."""
    with path.open("rb") as opened:
        header = opened.read(4)
    return int.from_bytes(header, sys.byteorder, signed=True) if len(header) == 4 else 0


def reserve(path: Path, size: int) -> None:
    """Create `path` with `size` bytes of disk allocated to it, or raise OSError if it cannot.

    MmapedDict writes through a memory map, and writes to a map whose pages the disk cannot
    hold are not errors but SIGBUS: the master would die, and every worker with it. Written
    into space allocated beforehand, they cannot fail that way.
    """
    size = max(size, 8)  # at least MmapedDict's header
    with path.open("wb") as created:
        if hasattr(os, "posix_fallocate"):  # not on macOS, where the map's pages stay unreserved
            os.posix_fallocate(created.fileno(), 0, size)
        else:
            created.truncate(size)


def served_totals(directory: Path) -> dict[SampleId, float]:
    """The samples of the archived types that /metrics would serve now, added up as it does."""
    collector = MultiProcessCollector(None, path=str(directory))
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for metric in collector.collect()
        if metric.type in ARCHIVED_TYPES
        for sample in metric.samples
    }


def keep_served_totals(directory: Path, before: dict[SampleId, float]) -> None:
    """Raise archived values until no sample served is below what it was before a fold.

    /metrics adds the files' values in the order it lists them, and a fold groups the dead
    workers' values with the archive's: a float total such as a histogram's _sum can then come
    out one unit in the last place lower. Prometheus would read that as a counter reset.
    """
    for _ in range(MAX_NUDGES):
        after = served_totals(directory)
        short = {
            sample: value - after[sample]
            for sample, value in before.items()
            if sample in after and after[sample] < value
        }
        if not short:
            return
        for kind in ARCHIVED_TYPES:
            archive = archive_path(directory, kind)
            if archive.exists():
                nudge(archive, short)


def nudge(archive: Path, shortfalls: Mapping[SampleId, float]) -> None:
    """Raise these samples' values in `archive` by their shortfall, or to the next float up."""
    values = MmapedDict(str(archive))
    try:
        for key, value, timestamp in values.read_all_values():
            _, name, labels, _ = json.loads(key)
            shortfall = shortfalls.get((name, tuple(sorted(labels.items()))))
            if shortfall is not None:
                raised = value + shortfall
                if raised == value:
                    raised = math.nextafter(value, math.inf)
                values.write_value(key, raised, timestamp)
    finally:
        values.close()
