"""The Dockerfile, read without building: a target per built service, each on the one pinned Python
build, run as a numeric non-root user, its dependencies from a lock file (hashes checked) before the
source, and the lake tools and Java in the exporter's image only."""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from docker.utils.build import exclude_paths

from tests.helpers import REPO
from tests.integration.deploy.cli_help import assert_cli_accepts
from tests.integration.deploy.compose_project import load_compose
from tests.integration.deploy.dockerfile import DOCKERFILE, Instruction, build_steps, stages
from tests.integration.deploy.lock_files import lake_distributions, pins

# The services whose command is a lake command; every other image must do without the lake tools.
LAKE_TARGETS = {"exporter"}
BUILT_TARGETS = sorted(s["build"]["target"] for s in load_compose()["services"].values() if "build" in s)
EXACT_PYTHON_BUILD = re.compile(r"python:3\.11\.\d+-slim-bookworm@sha256:[0-9a-f]{64}")


@pytest.fixture(scope="module", params=BUILT_TARGETS)
def target(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def pip_commands(steps: list[Instruction]) -> list[tuple[int, list[str]]]:
    """Each ``pip ...`` command of the RUN steps (``&&`` splits a step), with its step's index."""
    found = []
    for index, step in enumerate(steps):
        if step.keyword != "RUN":
            continue
        for command in step.arguments.split("&&"):
            words = command.split()
            if words and words[0] in ("pip", "pip3", "python", "python3"):
                found.append((index, words[words.index("pip") :] if "pip" in words else words))
    return found


def locks_installed(steps: list[Instruction]) -> list[str]:
    """The lock files (paths in the repository) that the steps install with ``pip install -r``."""
    copied = {s.operands[-1]: s.operands[0] for s in steps if s.keyword == "COPY" and s.option("from") is None}
    return [copied[words[words.index("-r") + 1]] for _, words in pip_commands(steps) if "-r" in words]


def build_context_files(root: Path = REPO) -> set[str]:
    patterns = [
        line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    return set(exclude_paths(str(root), patterns))


def project_packages() -> set[str]:
    """Top-level packages that pyproject.toml installs (its ``packages.find`` include patterns)."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    return {
        init.parent.name for init in REPO.glob("*/__init__.py")
        if any(fnmatch.fnmatch(init.parent.name, pattern) for pattern in include)
    }


def test_every_image_is_built_on_one_exact_python_build() -> None:
    all_stages = stages()
    images = {stage.base for stage in all_stages.values() if stage.base not in all_stages}
    assert len(images) == 1, f"more than one base image: {images}"
    (image,) = images
    assert EXACT_PYTHON_BUILD.fullmatch(image), (
        f"{image}: pin the Python release and the digest of its build (the tag moves with every Debian update)"
    )
    assert set(BUILT_TARGETS) <= set(all_stages), "a service docker-compose.yml builds has no target"


def test_runs_as_a_numeric_non_root_user(target: str) -> None:
    steps = build_steps(stages(), target)
    users = [i for i, s in enumerate(steps) if s.keyword == "USER"]
    assert users, f"{target}: no USER, the container would run as root"
    uid, _, gid = steps[users[-1]].arguments.partition(":")
    assert uid.isdigit() and gid.isdigit() and int(uid) > 0 and int(gid) > 0, (
        f"{target}: USER {steps[users[-1]].arguments}: a number, not root, so an orchestrator can check it"
    )
    assert not {s.keyword for s in steps[users[-1] + 1 :]} & {"RUN", "COPY", "ADD"}
    created = " ".join(s.arguments for s in steps if s.keyword == "RUN" and "useradd" in s.arguments)
    assert f"--uid {uid}" in created and f"--gid {gid}" in created, f"{target}: user {uid}:{gid} is never created"


def test_dependencies_come_from_a_lock_file_with_hashes_before_the_source(target: str) -> None:
    all_stages = stages()
    steps = build_steps(all_stages, target)
    commands = pip_commands(steps)
    assert commands, f"{target} installs nothing"
    for _, words in commands:
        assert "--no-deps" in words, f"{target}: `{' '.join(words)}` would resolve versions the lock did not fix"
        if "-r" in words:
            assert "--require-hashes" in words, f"{target}: `{' '.join(words)}` does not check the hashes"
    lock_installs = [i for i, words in commands if "-r" in words]
    project_installs = [i for i, words in commands if words[-1] == "/wheels/*.whl"]
    assert len(lock_installs) == 1 and len(project_installs) == 1, target
    assert lock_installs[0] < project_installs[0]
    (wheel_from,) = {s.option("from") for s in steps if s.keyword == "COPY" and s.option("from")}
    wheel_steps = build_steps(all_stages, str(wheel_from))
    wheel_build = next(i for i, words in pip_commands(wheel_steps) if words[1] == "wheel")
    assert {"--no-deps", "--no-build-isolation"} <= set(wheel_steps[wheel_build].words), (
        "the wheel is built with the locked setuptools, not one fetched at build time"
    )
    first_source_copy = min(
        i for i, s in enumerate(wheel_steps) if s.keyword == "COPY" and s.operands[0] in project_packages()
    )
    assert next(i for i, _ in pip_commands(wheel_steps)) < first_source_copy, (
        "the dependencies are installed before the source is copied, so an edit does not reinstall them"
    )


def test_only_the_exporter_carries_the_lake_tools_and_java(target: str) -> None:
    steps = build_steps(stages(), target)
    (lock,) = locks_installed(steps)
    installed = {pin.partition("==")[0] for pin in pins(REPO / lock)}
    lake = lake_distributions()
    java = any(s.keyword == "RUN" and "openjdk-17-jre-headless" in s.arguments for s in steps)
    if target in LAKE_TARGETS:
        assert lake <= installed and java, f"{target} needs {sorted(lake - installed)} and Java"
    else:
        assert not installed & lake and not java, f"{target} carries {sorted(installed & lake)}"


def test_the_services_share_their_layers_up_to_the_command() -> None:
    """Every target but the exporter's adds only CMD and EXPOSE to one stage: Docker builds it once."""
    all_stages = stages()
    services = [all_stages[target] for target in BUILT_TARGETS if target not in LAKE_TARGETS]
    assert len({stage.base for stage in services}) == 1, {stage.name: stage.base for stage in services}
    for stage in services:
        assert {s.keyword for s in stage.steps} <= {"CMD", "EXPOSE"}, f"{stage.name} adds layers of its own"


def test_every_copied_path_is_in_the_build_context_and_every_package_is_in_the_wheel() -> None:
    steps = [step for stage in stages().values() for step in stage.steps]
    context = build_context_files()
    copied = {source for s in steps if s.keyword == "COPY" and s.option("from") is None for source in s.operands[:-1]}
    for source in copied:
        assert source in context, f"{source} is missing from the build context (or excluded by .dockerignore)"
    assert project_packages() <= copied, "a package pyproject.toml installs is not copied into the wheel"
    assert project_packages() >= {"deliverer", "deliverer_cli", "subscriber", "app_api", "publisher", "spark_jobs"}


def test_each_target_runs_a_command_the_cli_accepts(target: str) -> None:
    steps = build_steps(stages(), target)
    entrypoint = [s.words for s in steps if s.keyword == "ENTRYPOINT"]
    commands = [s.words for s in steps if s.keyword == "CMD"]
    assert entrypoint[-1:] == [["deliverer"]] and commands, target
    assert_cli_accepts(commands[-1], {})


def test_hadolint_finds_nothing() -> None:
    hadolint = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if hadolint is None:
        pytest.skip("hadolint is not installed (the test extra installs it)")
    done = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_build_context_leaves_out_secrets_and_local_state(tmp_path: Path) -> None:
    tree = [
        ".env", ".env.example", ".venv/bin/python", ".git/HEAD", "var/deliverer.db", "tests/test_x.py",
        "bench/run.py", "mongodb/app-user.js", "docker-compose.yml", "deliverer/__pycache__/x.cpython-311.pyc",
        "deliverer/contract.py", "subscriber/cli.py", "pyproject.toml", "README.md", "requirements/core.txt",
        "requirements/lake.txt", "requirements/dev.txt", "scripts/lock.sh",
    ]
    for name in tree:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    shutil.copy(REPO / ".dockerignore", tmp_path / ".dockerignore")
    sent = {p for p in build_context_files(tmp_path) if (tmp_path / p).is_file()}
    # Docker always sends .dockerignore itself; it holds no secret.
    assert sent == {
        ".dockerignore", "deliverer/contract.py", "subscriber/cli.py", "pyproject.toml", "README.md",
        "requirements/core.txt", "requirements/lake.txt",
    }
