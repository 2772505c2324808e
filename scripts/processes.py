"""What `make demo` and `make bench` share: starting a baked project's server and stopping it."""

import os
import signal
import socket
import subprocess
import time
import urllib.request


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def project_env(**extra: str) -> dict[str, str]:
    """This environment minus its virtualenv, so that uv uses the baked project's own."""
    env = {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"}
    env.update(extra)
    return env


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 120) -> float:
    """Seconds until `url` answers 200, polled every 5 ms; exit if the server dies first."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if process.poll() is not None:
            raise SystemExit(
                f"the server exited with code {process.returncode} before it was ready"
            )
        try:
            with urllib.request.urlopen(url, timeout=1):
                return time.monotonic() - start
        except OSError:  # refused, reset, or not answered yet while the model loads
            time.sleep(0.005)
    raise SystemExit(f"{url} was not ready after {timeout} s")


def stop_group(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    """Stop a server started in a session of its own, with everything it started."""
    os.killpg(process.pid, sig)
    process.wait(timeout=60)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
