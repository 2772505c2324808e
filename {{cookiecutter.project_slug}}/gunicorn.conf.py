"""gunicorn settings for production: `make serve`, or `gunicorn` in this folder.

Most values come from the service's Settings ({{ cookiecutter.env_prefix }}* variables), the
worker count from WEB_CONCURRENCY (default 1). See README.md, "Production server".
"""

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

from gunicorn.arbiter import Arbiter
from gunicorn.errors import HaltServer
from gunicorn.workers.base import Worker

from {{ cookiecutter.package_name }}.settings import read_settings

settings = read_settings()

wsgi_app = "{{ cookiecutter.package_name }}.app:create_app()"
# uvicorn's worker, draining keep-alive connections when it stops (see worker.py).
worker_class = "{{ cookiecutter.package_name }}.worker.Worker"
workers_text = os.environ.get("WEB_CONCURRENCY", "1")
workers = int(workers_text) if workers_text.strip().isdecimal() else 0
if workers < 1:  # gunicorn would start with no worker at all, or fail with a traceback
    sys.exit(f"invalid setting WEB_CONCURRENCY={workers_text!r}: worker processes, 1 or more")
# An IPv6 address in brackets: gunicorn splits "host:port" at the last colon.
host = f"[{settings.host}]" if ":" in settings.host else settings.host
bind = f"{host}:{settings.port}"

# Each worker loads the model in its own lifespan. No preload_app: a model loaded before the
# fork can hang on its first prediction in the child, whose copy of the OpenMP threads that its
# library started in the master is dead.
preload_app = False
# A worker is silent while it loads the model, so the timeout must exceed the load time.
timeout = settings.worker_timeout
graceful_timeout = settings.graceful_timeout
# Longer than the idle timeout of the proxies in front (60 s for most load balancers), so
# that a proxy never reuses a connection the worker is closing.
keepalive = 65
max_requests = settings.max_requests
max_requests_jitter = settings.max_requests_jitter
# The workers' heartbeat files, in memory: a disk-backed /tmp can stall them.
worker_tmp_dir = "/dev/shm" if Path("/dev/shm").is_dir() else None  # noqa: S108 - only heartbeats

# The control socket (for gunicornc) would be written under $HOME, which is read-only in a
# hardened container; signals (TERM, HUP, TTIN, TTOU) do the same job.
control_socket_disable = True

logger_class = "{{ cookiecutter.package_name }}.logs.GunicornLogger"
loglevel = settings.log_level
accesslog = None

# Workers inherit this environment. OpenMP reads its thread count when the library loads, so it
# is set here, before any worker imports the model's library: workers x threads = cores.
os.environ.setdefault("OMP_NUM_THREADS", str(settings.model_threads))


def remove_metrics_dir(path: str, master_pid: int) -> None:
    """Remove the folder, from the master only: forked workers run its exit handlers too."""
    if os.getpid() == master_pid:
        shutil.rmtree(path, ignore_errors=True)


# Prometheus multiprocess mode: every worker writes its metrics to files in this folder and
# /metrics adds them up, whichever worker answers. It must be set before a worker imports
# prometheus_client, so it is set here in the master.
# Without one given, a temporary folder of its own, removed when the master exits, whether at
# the end or because it could not start (a port in use stops it without on_exit). A reload
# (HUP) reads this file again with the variable set, and makes none.
made_metrics_dir = None
if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
    made_metrics_dir = tempfile.mkdtemp(prefix="{{ cookiecutter.project_slug }}-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = made_metrics_dir


def on_starting(server: Arbiter) -> None:
    if made_metrics_dir is not None:
        # Registered here, in the master itself: with --daemon, gunicorn forks it after reading
        # this file.
        atexit.register(remove_metrics_dir, made_metrics_dir, os.getpid())
    reset_metrics_dir()
    halt_once_on_boot_failure(server)


def reset_metrics_dir() -> None:
    """Start from an empty metrics folder: files of a previous run would be counted again."""
    # Imported here, not at the top: see child_exit.
    from {{ cookiecutter.package_name }}.metric_files import clear_folder  # noqa: PLC0415

    metrics_dir = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    metrics_dir.mkdir(parents=True, exist_ok=True)
    clear_folder(metrics_dir)


def halt_once_on_boot_failure(server: Arbiter) -> None:
    """Stop after the first worker that fails to boot, however many fail.

    A worker whose model does not load exits with gunicorn's boot-error code, and gunicorn
    halts rather than respawn it. But when a second worker fails while gunicorn stops the
    others, gunicorn raises the same error again from inside its own shutdown and dies with a
    traceback instead of its exit code. Once halting, later boot failures are expected.
    """
    reap_workers = server.reap_workers
    halting = False

    def reap_workers_once_halting() -> None:
        nonlocal halting
        try:
            reap_workers()
        except HaltServer:
            if halting:
                return
            halting = True
            raise

    server.reap_workers = reap_workers_once_halting  # type: ignore[method-assign]


def child_exit(server: Arbiter, worker: Worker) -> None:
    """Fold dead workers' counters into the archives (totals never go back); drop their gauges."""
    # Imported here, not at the top: a worker forked from a master that had already imported
    # prometheus_client would keep its single-process mode.
    from {{ cookiecutter.package_name }}.metric_files import retire_worker  # noqa: PLC0415

    try:
        folded = retire_worker(int(worker.pid), Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]))
    except Exception:
        # An error here would stop the master, and every worker with it. Left where they are,
        # the dead workers' files still count.
        if server.log is not None:  # set once the master has read its config
            server.log.exception("could not fold the metric files of worker %s", worker.pid)
        return
    if not folded and server.log is not None:
        server.log.info("scrapes held the metrics folder: worker %s's files fold later", worker.pid)
