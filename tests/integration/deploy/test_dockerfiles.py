"""The service Dockerfiles, read without building: slim, non-root, dependency layer first and shared.

Docker reuses a cached layer when the parent layer and the instruction (and, for COPY, the
files) are the same, so identical instructions up to the dependency install build that layer
once for all four images and a source change never reinstalls the dependencies.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from docker.utils.build import exclude_paths

from tests.helpers import REPO
from tests.integration.deploy.cli_help import assert_cli_accepts

SERVICE_FOLDERS = ("subscriber", "app_api", "publisher", "spark_jobs")


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str

    @property
    def words(self) -> list[str]:
        return json.loads(self.arguments) if self.arguments.startswith("[") else self.arguments.split()


def instructions(dockerfile: Path) -> list[Instruction]:
    """The instructions of a Dockerfile, continuation lines joined and comments dropped."""
    result, pending = [], ""
    for line in dockerfile.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1].strip() + " "
            continue
        keyword, _, arguments = (pending + stripped).partition(" ")
        result.append(Instruction(keyword.upper(), arguments.strip()))
        pending = ""
    assert not pending, f"{dockerfile} ends inside a continued instruction"
    return result


def dependency_install_index(steps: list[Instruction]) -> int:
    found = [i for i, s in enumerate(steps) if s.keyword == "RUN" and "pip install -r requirements.txt" in s.arguments]
    assert len(found) == 1, "expected exactly one dependency install from requirements.txt"
    return found[0]


def build_context_files() -> set[str]:
    patterns = [
        line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    return set(exclude_paths(str(REPO), patterns))


def project_packages() -> set[str]:
    """Top-level packages that pyproject.toml installs (its ``packages.find`` include patterns)."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    return {
        init.parent.name for init in REPO.glob("*/__init__.py")
        if any(fnmatch.fnmatch(init.parent.name, pattern) for pattern in include)
    }


@pytest.fixture(scope="module", params=SERVICE_FOLDERS)
def dockerfile(request: pytest.FixtureRequest) -> Path:
    return REPO / request.param / "Dockerfile"


def test_base_image_is_an_exact_python_311_slim_release(dockerfile: Path) -> None:
    steps = instructions(dockerfile)
    assert steps[0].keyword == "FROM"
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", steps[0].arguments), (
        f"{steps[0].arguments}: pin the exact Python release (a floating tag rebuilds differently tomorrow)"
    )
    assert [s.keyword for s in steps].count("FROM") == 1


def test_runs_as_a_non_root_user(dockerfile: Path) -> None:
    steps = instructions(dockerfile)
    users = [i for i, s in enumerate(steps) if s.keyword == "USER"]
    assert users, "no USER: the container would run as root"
    last_user = steps[users[-1]].arguments
    assert last_user not in ("root", "0") and not last_user.startswith(("root:", "0:"))
    after = [s.keyword for s in steps[users[-1] + 1 :]]
    assert "RUN" not in after and "COPY" not in after
    assert any(s.keyword == "RUN" and "useradd" in s.arguments and last_user in s.arguments for s in steps)


def test_dependencies_are_installed_from_pyproject_before_the_source_is_copied(dockerfile: Path) -> None:
    steps = instructions(dockerfile)
    install = dependency_install_index(steps)
    copied_before = [s.words[:-1] for s in steps[:install] if s.keyword == "COPY"]
    assert copied_before == [["pyproject.toml"]]
    assert "tomllib" in steps[install].arguments and "pyproject.toml" in steps[install].arguments
    assert any(s.keyword == "RUN" and s.arguments.startswith("pip install --no-deps .") for s in steps[install:])


def test_every_copied_path_is_in_the_build_context_and_every_package_is_copied(dockerfile: Path) -> None:
    context = build_context_files()
    copied = {source for s in instructions(dockerfile) if s.keyword == "COPY" for source in s.words[:-1]}
    for source in copied:
        assert source in context, f"{source} is missing from the build context (or excluded by .dockerignore)"
    assert project_packages() <= copied, "a package pyproject.toml installs is not copied into the image"
    assert project_packages() >= {"deliverer", "deliverer_cli", *SERVICE_FOLDERS}


def test_the_image_runs_a_command_the_cli_accepts(dockerfile: Path) -> None:
    steps = instructions(dockerfile)
    entrypoint = [s.words for s in steps if s.keyword == "ENTRYPOINT"]
    command = [s.words for s in steps if s.keyword == "CMD"]
    assert entrypoint == [["deliverer"]] and len(command) == 1
    assert_cli_accepts(command[0], {})


def test_every_image_shares_the_dependency_layer() -> None:
    prefixes = {}
    for folder in SERVICE_FOLDERS:
        steps = instructions(REPO / folder / "Dockerfile")
        prefixes[folder] = steps[: dependency_install_index(steps) + 1]
    assert len({tuple(p) for p in prefixes.values()}) == 1, "the dependency layers differ between images"


def test_only_the_exporter_image_carries_a_java_runtime() -> None:
    for folder in SERVICE_FOLDERS:
        text = " ".join(s.arguments for s in instructions(REPO / folder / "Dockerfile") if s.keyword == "RUN")
        assert ("openjdk-17-jre-headless" in text) == (folder == "spark_jobs"), folder


def test_build_context_leaves_out_secrets_and_local_state(tmp_path: Path) -> None:
    tree = [
        ".env", ".env.example", ".venv/bin/python", ".git/HEAD", "var/deliverer.db", "tests/test_x.py",
        "bench/run.py", "mongodb/app-user.js", "docker-compose.yml", "deliverer/__pycache__/x.cpython-311.pyc",
        "deliverer/contract.py", "subscriber/cli.py", "pyproject.toml", "README.md",
    ]
    for name in tree:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    shutil.copy(REPO / ".dockerignore", tmp_path / ".dockerignore")
    patterns = [
        line.strip() for line in (tmp_path / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    sent = {p for p in exclude_paths(str(tmp_path), patterns) if (tmp_path / p).is_file()}
    # Docker always sends .dockerignore itself; it holds no secret.
    assert sent == {".dockerignore", "deliverer/contract.py", "subscriber/cli.py", "pyproject.toml", "README.md"}
