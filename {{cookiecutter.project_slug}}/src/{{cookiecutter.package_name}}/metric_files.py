"""The metric files of gunicorn's workers, and what becomes of a dead worker's.

In Prometheus multiprocess mode each worker writes its samples to files of its own, one per metric
type, named with its pid (`counter_1234.db`), and /metrics adds up every file in the folder. A
dead worker's counters and histograms must stay counted, or the totals would go backwards. But
kept as they are, a dead worker's files make every scrape read one more file each: with
MAX_REQUESTS restarting workers all day they pile up by thousands, and scrapes take seconds.

So when a worker dies, the master folds its counter and histogram files into one archive file
per type (`counter_archive.db`) and removes them: the totals stay the same, and the folder holds
the files of the live workers and the archives, whatever the number of restarts. Scrapes read the
folder under a shared lock and the master folds under an exclusive one, so no scrape sees a
worker's samples both in the archive and in its own file, or in neither.

Imported by the gunicorn master (gunicorn.conf.py), so it imports nothing but prometheus_client.
"""

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from prometheus_client import multiprocess
from prometheus_client.mmap_dict import MmapedDict

# The types whose samples are summed over the workers, dead ones included. Gauges are not
# archived: the live modes this service uses drop a dead worker's series (mark_process_dead).
ARCHIVED_TYPES = ("counter", "histogram", "summary")
ARCHIVE = "archive"
LOCK_FILE = "folder.lock"


@contextmanager
def folder_lock(directory: Path, *, exclusive: bool) -> Iterator[None]:
    """Hold the folder's lock: shared to read the files, exclusive to change them."""
    with (directory / LOCK_FILE).open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield  # closing the file releases the lock, as does the death of its holder


def retire_worker(pid: int, directory: Path) -> None:
    """Fold a dead worker's counters and histograms into the archives; drop its live gauges."""
    with folder_lock(directory, exclusive=True):
        multiprocess.mark_process_dead(pid, str(directory))
        for kind in ARCHIVED_TYPES:
            dead = directory / f"{kind}_{pid}.db"
            if dead.exists():
                fold(dead, directory / f"{kind}_{ARCHIVE}.db")


def fold(dead: Path, archive: Path) -> None:
    """Add the samples of `dead` to `archive`, then remove `dead`. Call under the exclusive lock."""
    totals: dict[str, float] = {}
    for source in (archive, dead):
        if source.exists():
            for key, value, _, _ in MmapedDict.read_all_values_from_file(str(source)):
                totals[key] = totals.get(key, 0.0) + value
    # Written aside and renamed over the archive: if the master dies meanwhile, the archive and
    # the dead worker's file are both still whole.
    staging = archive.with_suffix(".staging")
    staging.unlink(missing_ok=True)
    written = MmapedDict(str(staging))
    try:
        for key, value in totals.items():
            written.write_value(key, value, 0.0)
    finally:
        written.close()
    os.replace(staging, archive)
    dead.unlink()
