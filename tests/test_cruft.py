"""A project made with `cruft create` records its template commit, and `cruft update` brings a
later template commit into it without losing the user's own changes.

cruft renders the template at both commits to diff them, so the post-generation hook, which moves
the chosen framework's files into place, runs there too: the change below goes through it.
"""

import json
import re
import shutil
import subprocess
from pathlib import Path

from .conftest import TEMPLATE, project_env, require, run
from .test_readme_commands import block_starting

# Commits need an author, which a CI machine may not have configured.
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Template Tests",
    "GIT_AUTHOR_EMAIL": "tests@example.com",
    "GIT_COMMITTER_NAME": "Template Tests",
    "GIT_COMMITTER_EMAIL": "tests@example.com",
}
FRAMEWORK_PREDICTOR = Path("{{cookiecutter.project_slug}}/_frameworks/xgboost/predictor.py")
USER_EDIT = "DECISION_THRESHOLD = 0.7  # the team's own\n"
TEMPLATE_CHANGE = "# Added by a later template commit.\n"


def git(*args: str, cwd: Path) -> str:
    return run([require("git"), *args], cwd=cwd, env=GIT_IDENTITY).strip()


def commit_all(repository: Path, message: str) -> str:
    git("add", "--all", cwd=repository)
    git("commit", "--quiet", "--message", message, cwd=repository)
    return git("rev-parse", "HEAD", cwd=repository)


def template_repository(destination: Path) -> Path:
    """A git repository holding this template's files as they are now (committed or not)."""
    listed = git("ls-files", "--cached", "--others", "--exclude-standard", "-z", cwd=TEMPLATE)
    for name in filter(None, listed.split("\0")):
        if (TEMPLATE / name).is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(TEMPLATE / name, destination / name)
    git("init", "--quiet", cwd=destination)
    return destination


def cruft_check(project: Path) -> int:
    result = subprocess.run(
        [require("cruft"), "check"], cwd=project, env=project_env(),
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    return result.returncode


def test_cruft_update_brings_a_later_template_commit_and_keeps_the_users_edit(
    tmp_path: Path,
) -> None:
    cruft = require("cruft")
    template = template_repository(tmp_path / "template")
    first = commit_all(template, "first")

    run([cruft, "create", "--no-input", "--output-dir", str(tmp_path), str(template)], cwd=tmp_path)
    project = tmp_path / "model-service"
    # The commands the generated README gives; cruft is in the template's dev group.
    install, create, check, update = block_starting(project, "pip install cruft")
    assert (install, check, update) == (
        "pip install cruft",
        "cruft check",
        "cruft update --skip-apply-ask",
    )
    assert create.split()[:2] == ["cruft", "create"]
    recorded = json.loads((project / ".cruft.json").read_text())
    assert (recorded["template"], recorded["commit"]) == (str(template), first)
    assert recorded["context"]["cookiecutter"]["model_framework"] == "xgboost"
    git("init", "--quiet", cwd=project)
    commit_all(project, "generated")

    # The team edits its predictor, and commits.
    predictor = project / "src" / "model_service" / "predictor.py"
    predictor.write_text(predictor.read_text() + USER_EDIT)
    commit_all(project, "our threshold")
    # cruft diff renders the template (its hook too) and shows the team's edit, nothing else.
    diff = run([cruft, "diff"], cwd=project)
    assert re.findall(r"^diff --git [^/\s]+/(\S+) ", diff, re.MULTILINE) == [
        "src/model_service/predictor.py"
    ]
    assert f"-{USER_EDIT}" in diff

    # The template changes the same predictor elsewhere (a file the hook moves), and the Makefile.
    framework_predictor = template / FRAMEWORK_PREDICTOR
    framework_predictor.write_text(TEMPLATE_CHANGE + framework_predictor.read_text())
    makefile = template / "{{cookiecutter.project_slug}}" / "Makefile"
    makefile.write_text(makefile.read_text() + TEMPLATE_CHANGE)
    second = commit_all(template, "second")
    assert cruft_check(project) != 0  # out of date

    run([cruft, *update.split()[1:]], cwd=project)

    assert json.loads((project / ".cruft.json").read_text())["commit"] == second
    assert cruft_check(project) == 0
    updated = predictor.read_text()
    assert updated.startswith(TEMPLATE_CHANGE)
    assert updated.endswith(USER_EDIT)
    assert (project / "Makefile").read_text().endswith(TEMPLATE_CHANGE)
    # Only what changed between the commits was applied, and nothing left over to resolve.
    changed = git("diff", "--name-only", "HEAD", cwd=project).splitlines()
    assert sorted(changed) == [".cruft.json", "Makefile", "src/model_service/predictor.py"]
    assert git("ls-files", "--others", "--exclude-standard", cwd=project) == ""
    assert not list(project.rglob("*.rej"))


def test_the_template_readme_gives_the_same_cruft_commands_as_the_generated_one(
    baked: Path,
) -> None:
    """The commands the test above runs, from the generated README, are the template README's."""
    assert block_starting(TEMPLATE, "pip install cruft") == block_starting(
        baked, "pip install cruft"
    )
