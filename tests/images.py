"""Build and run container images with buildah alone: no Docker engine, no registry.

No registry is reachable here, so `FROM python:X-slim` cannot be pulled. A stand-in for the
official image is built from Debian's packages with debootstrap, cached as a root filesystem
tarball under ~/.cache/cookiecutter-fastapi-serving/, and imported into the image store that
buildah and podman share, under the official name: the generated Dockerfile builds unchanged.
The stand-in is as bare as the official slim image (no curl, no wget), so a HEALTHCHECK that
works on it works there too.
"""

import hashlib
import json
import os
import signal
import subprocess
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .conftest import require, run

CACHE_HOME = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
CACHE_DIR = CACHE_HOME / "cookiecutter-fastapi-serving"
# Change it whenever build_rootfs() changes, so that cached root filesystems are rebuilt.
RECIPE = "standin-1"
LABEL = "org.cookiecutter-fastapi-serving.stand-in"
# Debian releases whose python3 is the version the official image of that tag carries.
SUITES = {"3.11": "bookworm"}
DEFAULT_MIRROR = "http://deb.debian.org/debian"
# Package downloads may go through a TLS proxy with a local certificate authority; the stand-in
# trusts what the host trusts, as the official image trusts the public authorities.
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
# Bounds on waiting, generous, so that only a hang fails them.
DEBOOTSTRAP_TIMEOUT = 1200
BUILD_TIMEOUT = 1200


def buildah(*args: str, timeout: float = 300) -> str:
    return run([require("buildah"), *args], cwd=Path.cwd(), timeout=timeout)


def buildah_query(*args: str) -> str | None:
    """What a read-only buildah command prints, or None when it fails (no such image)."""
    result = subprocess.run(
        [require("buildah"), *args], capture_output=True, text=True, check=False
    )
    return result.stdout if result.returncode == 0 else None


def image_config(name: str) -> dict[str, Any] | None:
    """The image's Docker configuration (Cmd, Env, User, Healthcheck, ...), or None if absent."""
    inspected = buildah_query("inspect", "--type", "image", name)
    return None if inspected is None else json.loads(inspected)["Docker"]["config"]


def apt_mirror(suite: str) -> str:
    """The Debian mirror apt is configured with for `suite`, which is reachable from here."""
    stanzas = []
    for path in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        for stanza in path.read_text().split("\n\n"):
            fields = dict(
                line.split(":", 1) for line in stanza.splitlines() if ":" in line and line[0] != "#"
            )
            stanzas.append((fields.get("URIs", "").split(), fields.get("Suites", "").split()))
    sources_list = Path("/etc/apt/sources.list")
    if sources_list.exists():
        for line in sources_list.read_text().splitlines():
            words = line.split("#", 1)[0].split()
            if len(words) >= 3 and words[0] == "deb":
                uri, suite_word = [w for w in words[1:] if not w.startswith("[")][:2]
                stanzas.append(([uri], [suite_word]))
    for uris, suites in stanzas:
        if suite in suites and uris and "debian" in uris[0] and "security" not in uris[0]:
            return uris[0]
    return DEFAULT_MIRROR


def standin_key(version: str) -> str:
    """Identifies the recipe and the trusted authorities that a stand-in was built with."""
    digest = hashlib.sha256(f"{RECIPE} {version}".encode())
    if HOST_CA_BUNDLE.exists():
        digest.update(HOST_CA_BUNDLE.read_bytes())
    return digest.hexdigest()[:16]


def build_rootfs(version: str, tarball: Path) -> None:
    """debootstrap a minimal Debian with its python3, shaped like the official slim image."""
    suite = SUITES.get(version)
    if suite is None:
        raise ValueError(f"no Debian release here provides Python {version}")
    debootstrap = require("debootstrap")
    tarball.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=tarball.parent) as work:
        rootfs = Path(work) / "rootfs"
        run(
            [
                debootstrap,
                "--variant=minbase",
                "--include=python3,python3-venv,python3-pip,ca-certificates",
                suite,
                str(rootfs),
                apt_mirror(suite),
            ],
            cwd=Path(work),
            timeout=DEBOOTSTRAP_TIMEOUT,
        )
        # The official image's python lives in /usr/local/bin and may install into itself.
        for name in ("python", "python3"):
            (rootfs / "usr/local/bin" / name).symlink_to("/usr/bin/python3")
        for marker in rootfs.glob("usr/lib/python3*/EXTERNALLY-MANAGED"):
            marker.unlink()
        if HOST_CA_BUNDLE.exists():
            (rootfs / CA_BUNDLE.lstrip("/")).write_bytes(HOST_CA_BUNDLE.read_bytes())
        # pip reads certifi's bundle, not the system's, unless told.
        (rootfs / "etc/pip.conf").write_text(f"[global]\ncert = {CA_BUNDLE}\n")
        # As in the official image: no package lists or downloaded packages.
        for leftover in [
            *rootfs.glob("var/cache/apt/archives/*.deb"),
            *rootfs.glob("var/lib/apt/lists/*_*"),
        ]:
            leftover.unlink()
        partial = tarball.with_name(tarball.name + ".partial")
        run(["tar", "-C", str(rootfs), "-cf", str(partial), "."], cwd=Path(work), timeout=600)
        partial.rename(tarball)


def is_official(config: dict[str, Any]) -> bool:
    """The real python image sets PYTHON_VERSION; a stand-in has our label instead."""
    labels = config.get("Labels") or {}
    env = config.get("Env") or []
    return LABEL not in labels and any(item.startswith("PYTHON_VERSION=") for item in env)


def ensure_python_base(version: str) -> str:
    """Make `python:<version>-slim` resolve locally: the official image if present, else ours."""
    name = f"docker.io/library/python:{version}-slim"
    key = standin_key(version)
    config = image_config(name)
    if config is not None and (
        is_official(config) or (config.get("Labels") or {}).get(LABEL) == key
    ):
        return name
    tarball = CACHE_DIR / f"python-{version}-slim-rootfs-{key}.tar"
    if not tarball.exists():
        build_rootfs(version, tarball)
    changes = [
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "ENV LANG=C.UTF-8",
        # uv reads the system's authorities only when told (it bundles its own).
        f"ENV SSL_CERT_FILE={CA_BUNDLE}",
        f"LABEL {LABEL}={key}",
        'CMD ["python3"]',
    ]
    command = [require("podman"), "import"]
    for change in changes:
        command += ["--change", change]
    run([*command, str(tarball), name], cwd=CACHE_DIR, timeout=600)
    return name


def image_id(name: str) -> str | None:
    listed = buildah_query("images", "--quiet", "--no-trunc", name)
    return (listed or "").strip() or None


def build_image(context: Path, tag: str) -> dict[str, Any]:
    """`make image` in the project `context`, with buildah building as Docker would; return the
    image's config.

    The image that had the tag before is removed, with the layers that only it used, so that
    repeated runs do not fill the image store; the layers a new build reuses stay.
    """
    previous = image_id(tag)
    buildah = [
        require("buildah"),
        "bud",
        "--format",
        "docker",  # an OCI image would drop HEALTHCHECK
        "--isolation",
        "chroot",
        "--network",
        "host",
        "--layers",  # reuse unchanged steps from an earlier run
    ]
    run(
        ["make", "image", f"BUILD={' '.join(buildah)}", f"IMAGE={tag}"],
        cwd=context,
        timeout=BUILD_TIMEOUT,
    )
    if previous is not None and previous != image_id(tag):
        subprocess.run([require("buildah"), "rmi", previous], capture_output=True, check=False)
    config = image_config(tag)
    assert config is not None
    return config


@dataclass
class Container:
    """A working container of an image; commands run in its filesystem, as its user.

    A mount is "SOURCE:TARGET[:ro]" for a host folder, or "tmpfs:TARGET" for a fresh tmpfs.
    """

    name: str

    def command(self, args: list[str], env: dict[str, str], mounts: Sequence[str]) -> list[str]:
        command = [require("buildah"), "run", "--isolation", "chroot", "--network", "host"]
        for key, value in env.items():
            command += ["--env", f"{key}={value}"]
        for mount in mounts:
            source, target = mount.split(":", 2)[:2]
            if source == "tmpfs":
                command += ["--mount", f"type=tmpfs,destination={target}"]
            else:
                command += ["--volume", mount]
        return [*command, self.name, "--", *args]

    def run(
        self, args: list[str], env: dict[str, str], mounts: Sequence[str] = (), timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(args, env, mounts),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(
        self, args: list[str], env: dict[str, str], log: Path, mounts: Sequence[str] = ()
    ) -> subprocess.Popen[bytes]:
        with log.open("wb") as out:
            return subprocess.Popen(
                self.command(args, env, mounts), stdout=out, stderr=subprocess.STDOUT
            )


@contextmanager
def container(image: str) -> Iterator[Container]:
    name = f"cfs-test-{uuid.uuid4().hex[:12]}"
    buildah("from", "--name", name, image)
    try:
        yield Container(name)
    finally:
        buildah("rm", name)


def descendants(pid: int) -> list[int]:
    """Every process below `pid`, parents before children, from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with suppress(OSError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(0), []):
            found.append(child)
            todo.append(child)
    return found


def command_line(pid: int) -> list[str]:
    raw = (Path("/proc") / str(pid) / "cmdline").read_bytes()
    return raw.decode(errors="replace").rstrip("\0").split("\0")


def ids_of(pid: int) -> tuple[set[int], set[int]]:
    """The real, effective, saved and filesystem UIDs, and the same GIDs, of `pid`."""
    status = (Path("/proc") / str(pid) / "status").read_text().splitlines()
    fields = dict(line.split(":", 1) for line in status if ":" in line)
    return {int(i) for i in fields["Uid"].split()}, {int(i) for i in fields["Gid"].split()}


def container_processes(runner: subprocess.Popen[bytes]) -> list[int]:
    """The processes of the container's own command: below buildah's helper processes."""
    found = []
    for pid in descendants(runner.pid):
        with suppress(OSError):
            if not Path(command_line(pid)[0]).name.startswith("buildah"):
                found.append(pid)
    return found


def stop(runner: subprocess.Popen[bytes], timeout: float = 60) -> int:
    """SIGTERM the container's first process, as a container engine would; return its exit code.

    buildah does not pass signals on: a SIGTERM to buildah itself kills the command's first
    process and orphans the rest. Whatever is still running after `timeout` is killed.
    """
    processes = container_processes(runner)
    if processes and runner.poll() is None:
        with suppress(ProcessLookupError):
            os.kill(processes[0], signal.SIGTERM)
    try:
        return runner.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        for pid in [runner.pid, *processes]:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        runner.wait(timeout=timeout)
        raise
