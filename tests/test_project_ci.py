"""What a generated project checks on its own: its GitHub workflow, its pre-commit hooks, and
`make audit` (pip-audit on the locked dependencies, bandit on the code).

GitHub Actions cannot run here: the workflow is checked against GitHub's schema, and each of its
steps is a Makefile target that a test runs (lint and test: test_generated.py; image:
test_container.py; train: test_readme_commands.py; audit and manifests: below).
"""

import functools
import json
import re
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import TEMPLATE, bake, project_env, require, run
from .test_readme_commands import block_starting

WORKFLOW = Path(".github/workflows/ci.yml")
# What the workflow must check: lint and types (make lint), tests, the image, the
# manifests and the dependencies.
REQUIRED_TARGETS = {"install", "lint", "test", "image", "manifests", "audit"}
ACTIONS = {"actions/checkout", "astral-sh/setup-uv"}
PRE_COMMIT_INSTALL = "uv run pre-commit install"
PRE_COMMIT_RUN_ALL = "uv run pre-commit run --all-files"
PYTHON_VERSION = json.loads((TEMPLATE / "cookiecutter.json").read_text())["python_version"][0]


def makefile_targets(project: Path) -> set[str]:
    return set(re.findall(r"^([a-z][a-z-]*):", (project / "Makefile").read_text(), re.MULTILINE))


def test_the_readme_describes_every_makefile_target(baked: Path) -> None:
    readme = (baked / "README.md").read_text()
    described = set(re.findall(r"^\| `make ([a-z-]+)` \|", readme, re.MULTILINE))
    assert described == makefile_targets(baked)


def test_the_workflow_is_valid_for_github(baked: Path) -> None:
    check = require("check-jsonschema")
    run([check, "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)], cwd=baked)


def test_every_workflow_step_is_a_makefile_target_or_a_setup_action(baked: Path) -> None:
    text = (baked / WORKFLOW).read_text()
    # GitHub's own expressions survive rendering.
    assert "group: ${{ github.workflow }}-${{ github.ref }}" in text
    workflow = yaml.safe_load(text)
    called = set()
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            if "uses" in step:
                assert step["uses"].split("@")[0] in ACTIONS
                assert step.get("with", {}).get("python-version", PYTHON_VERSION) == PYTHON_VERSION
            else:
                command = step["run"].split()
                assert command[0] == "make", step["run"]
                called |= set(command[1:])
    assert called <= makefile_targets(baked)
    assert called >= REQUIRED_TARGETS


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A default project after `make install`, in a fresh git repository with every file added."""
    require("uv")
    require("make")
    require("git")
    project = bake(tmp_path_factory.mktemp("ci"))
    run(["make", "install"], cwd=project)
    run(["git", "init", "--quiet"], cwd=project)
    run(["git", "add", "--all"], cwd=project)
    return project


@pytest.mark.slow
def test_the_pre_commit_hooks_pass_on_a_fresh_bake_and_catch_a_lint_error(
    installed: Path,
) -> None:
    config = yaml.safe_load((installed / ".pre-commit-config.yaml").read_text())
    # Local hooks only: pre-commit would fetch any other repository from its git host.
    assert [repo["repo"] for repo in config["repos"]] == ["local"]
    hooks = [hook["name"] for hook in config["repos"][0]["hooks"]]
    # As the README says: install the git hook, then run every hook on every file.
    install, run_all = block_starting(installed, "uv run pre-commit install")
    assert (install, run_all) == (PRE_COMMIT_INSTALL, PRE_COMMIT_RUN_ALL)
    run(install.split(), cwd=installed)
    assert (installed / ".git" / "hooks" / "pre-commit").is_file()
    output = run(run_all.split(), cwd=installed)
    for name in hooks:
        assert re.search(rf"^{re.escape(name)}\.+Passed$", output, re.MULTILINE), output

    bad = installed / "src" / "model_service" / "unused.py"
    bad.write_text("import os\n")
    run(["git", "add", str(bad)], cwd=installed)
    try:
        result = subprocess.run(
            ["uv", "run", "pre-commit", "run", "--files", str(bad)], cwd=installed,
            env=project_env(), capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
    finally:
        run(["git", "rm", "--quiet", "--force", str(bad)], cwd=installed)
    assert result.returncode != 0
    assert re.search(r"^ruff check\.+Failed$", result.stdout, re.MULTILINE), result.stdout
    assert "F401" in result.stdout


@functools.cache
def pypi_advisories(package: str) -> tuple[str, list[dict[str, Any]]]:
    """The newest release of `package` on PyPI, and the advisories PyPI lists against it."""
    url = f"https://pypi.org/pypi/{package}/json"
    with urllib.request.urlopen(url, timeout=30) as response:
        project = json.load(response)
    return project["info"]["version"], project["vulnerabilities"]


def as_osv(package: str, advisory: dict[str, Any]) -> dict[str, Any]:
    """One of PyPI's advisories in OSV's shape (PyPI takes them from OSV's database)."""
    events = [{"introduced": "0"}, *({"fixed": version} for version in advisory["fixed_in"])]
    return {
        "id": advisory["id"],
        "aliases": advisory["aliases"],
        "summary": advisory["summary"] or advisory["details"],
        "withdrawn": advisory["withdrawn"],
        "affected": [
            {
                "package": {"name": package, "ecosystem": "PyPI"},
                "ranges": [{"type": "ECOSYSTEM", "events": events}],
            }
        ],
    }


class Advisories:
    """A stand-in for OSV's query API (https://google.github.io/osv.dev/post-v1-query/): it
    records the packages asked about, and answers with PyPI's own advisories, or with those the
    test gives it.

    pip-audit's default service, PyPI's JSON API for one version of a package, does not answer
    on these machines, nor does OSV itself: pip-audit is pointed at this with
    `--vulnerability-service osv --osv-url`, as it would be at a mirror. What does answer is each
    project's JSON, with the advisories against its newest release: a locked version that is not
    the newest gets no answer from PyPI here (the test counts those).
    """

    def __init__(self) -> None:
        self.queried: set[str] = set()
        self.checked_on_pypi: set[str] = set()
        self.known: dict[str, dict[str, Any]] = {}

    def answer(self, query: dict[str, Any]) -> dict[str, Any]:
        package, version = query["package"]["name"], query["version"]
        self.queried.add(package)
        if package in self.known:
            return {"vulns": [self.known[package]]}
        newest, advisories = pypi_advisories(package)
        if version != newest:
            return {}
        self.checked_on_pypi.add(package)
        return {"vulns": [as_osv(package, advisory) for advisory in advisories]}

    @contextmanager
    def serving(self) -> Iterator[str]:
        advisories = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                body = json.dumps(advisories.answer(json.loads(self.rfile.read(length))))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}/v1/query"
        finally:
            server.shutdown()
            server.server_close()


def advisory(package: str, version: str) -> dict[str, Any]:
    return {
        "id": "GHSA-test-0000-0000",
        "summary": "a known vulnerability",
        "affected": [
            {
                "package": {"name": package, "ecosystem": "PyPI"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": version}]}],
            }
        ],
    }


def make_audit(project: Path, osv_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    service = f"PIP_AUDIT_ARGS=--vulnerability-service osv --osv-url {osv_url}"
    return subprocess.run(
        ["make", "audit", service, *args], cwd=project, env=project_env(),
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def locked_versions(project: Path) -> dict[str, str]:
    """What `uv export` lists for every platform: name and version of each locked package."""
    exported = run(["uv", "export", "--no-hashes", "--no-emit-project", "--locked"], cwd=project)
    return dict(re.findall(r"^([a-z0-9][a-z0-9._-]*)==([^ ;\n]+)$", exported, re.MULTILINE))


@pytest.mark.slow
def test_make_audit_checks_every_locked_package_and_the_code(installed: Path) -> None:
    advisories = Advisories()
    with advisories.serving() as osv_url:
        clean = make_audit(installed, osv_url)
        assert clean.returncode == 0, clean.stdout + clean.stderr
        assert "No known vulnerabilities found" in clean.stdout + clean.stderr
        # Each package locked for every platform was asked about: the audit read the lock.
        locked = locked_versions(installed)
        assert {"fastapi", "starlette", "pydantic", "pip-audit"} <= locked.keys()
        assert advisories.queried >= locked.keys()
        # A fresh lock takes the newest releases, so PyPI's own advisories covered most of them.
        unchecked = locked.keys() - advisories.checked_on_pypi
        assert len(unchecked) < len(locked) / 4, f"not the newest release: {sorted(unchecked)}"

        # A known vulnerability of a locked version fails the audit, and names the advisory ...
        advisories.known["starlette"] = advisory("starlette", locked["starlette"])
        vulnerable = make_audit(installed, osv_url)
        assert vulnerable.returncode != 0
        assert "GHSA-test-0000-0000" in vulnerable.stdout
        # ... unless the Makefile lets it through, with the reason beside it.
        ignored = make_audit(installed, osv_url, "AUDIT_IGNORE=--ignore-vuln GHSA-test-0000-0000")
        assert ignored.returncode == 0, ignored.stdout + ignored.stderr

    # bandit fails the audit on a security issue in the code.
    risky = installed / "src" / "model_service" / "risky.py"
    risky.write_text(
        "import pickle\n\n\ndef read(data: bytes) -> object:\n    return pickle.loads(data)\n"
    )
    try:
        flagged = make_audit(installed, "http://127.0.0.1:9/unused")
    finally:
        risky.unlink()
    assert flagged.returncode != 0
    assert "B301" in flagged.stdout, flagged.stdout


@pytest.mark.slow
def test_make_manifests_validates_every_overlay_and_refuses_a_misspelt_field(
    installed: Path,
) -> None:
    require("kubectl")
    output = run(["make", "manifests"], cwd=installed)
    assert "ERROR" not in output
    deployment = installed / "k8s" / "base" / "deployment.yaml"
    text = deployment.read_text()
    deployment.write_text(text.replace("terminationGracePeriodSeconds:", "terminationGracePeriod:"))
    try:
        result = subprocess.run(
            ["make", "manifests"], cwd=installed, env=project_env(),
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
    finally:
        deployment.write_text(text)
    assert result.returncode != 0
    assert "terminationGracePeriod" in result.stdout + result.stderr
