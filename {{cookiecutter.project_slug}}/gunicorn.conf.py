"""gunicorn settings for production (`make serve`): from the service's Settings, and the worker
count from WEB_CONCURRENCY (default 1). See README.md, "Production server"."""

import os
import sys
import tempfile
from pathlib import Path

from gunicorn.arbiter import Arbiter
from gunicorn.workers.base import Worker

from {{ cookiecutter.package_name }}.settings import read_settings

settings = read_settings()

wsgi_app = "{{ cookiecutter.package_name }}.app:create_app()"
worker_class = "uvicorn_worker.UvicornWorker"  # with uvloop and httptools, which are installed
workers_text = os.environ.get("WEB_CONCURRENCY", "1")
workers = int(workers_text) if workers_text.strip().isdecimal() else 0
if workers < 1:  # gunicorn would start no worker, or fail with a traceback
    sys.exit(f"invalid setting WEB_CONCURRENCY={workers_text!r}: worker processes, 1 or more")
# An IPv6 address in brackets: gunicorn splits "host:port" at the last colon.
host = f"[{settings.host}]" if ":" in settings.host else settings.host
bind = f"{host}:{settings.port}"
# Each worker loads the model: one loaded before the fork can hang on OpenMP threads left behind.
preload_app = False
timeout = settings.worker_timeout  # a worker loading its model is silent: keep it above load time
graceful_timeout = settings.graceful_timeout
keepalive = 65  # longer than the idle timeout of the proxies in front (60 s for most)
# Off by default: a restarted worker leaves its metric files behind (README.md).
max_requests = settings.max_requests
max_requests_jitter = settings.max_requests_jitter
worker_tmp_dir = "/dev/shm" if Path("/dev/shm").is_dir() else None  # noqa: S108 - heartbeats
control_socket_disable = True  # it would be written under $HOME, read-only in a container
logger_class = "{{ cookiecutter.package_name }}.observability.logs.GunicornLogger"
loglevel = settings.log_level
accesslog = None  # the service's middleware logs each request, with its id

# Workers inherit these. OpenMP reads its thread count when the model's library loads.
os.environ.setdefault("OMP_NUM_THREADS", str(settings.model_threads))
# prometheus_client's multiprocess mode: the workers' metric files, which /metrics adds up; without
# a folder given, a new one in the temporary folder.
if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
    new_metrics_dir = tempfile.mkdtemp(prefix="{{ cookiecutter.project_slug }}-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = new_metrics_dir


def on_starting(server: Arbiter) -> None:
    """Empty the metrics folder, as prometheus_client's docs ask: old files would count again."""
    metrics_dir = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    metrics_dir.mkdir(parents=True, exist_ok=True)
    for stale in metrics_dir.glob("*.db"):
        stale.unlink()


def child_exit(server: Arbiter, worker: Worker) -> None:
    """Drop the dead worker's live gauges, as prometheus_client's docs show for gunicorn."""
    # Imported here: prometheus_client imported in the master before the folder is set would
    # keep its workers in single-process mode.
    from prometheus_client import multiprocess  # noqa: PLC0415

    multiprocess.mark_process_dead(worker.pid)
