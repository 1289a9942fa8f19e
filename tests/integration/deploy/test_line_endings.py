"""Scripts, configs and container init files are checked out with LF on every platform.

Git for Windows checks text files out with CRLF by default (core.autocrlf=true). A carriage
return at the end of a shell line becomes part of the command, and the one-shot services fail
("service mqtt-auth didn't complete successfully: exit 2"). .gitattributes pins these files to LF
whatever the client's settings; this test reads Git's own verdict for every tracked file.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import REPO

# What a container or a shell reads line by line.
CONFIG_SUFFIXES = {".sh", ".conf", ".js", ".json", ".yml", ".yaml", ".toml", ".sql"}
CONFIG_NAMES = {"Dockerfile", ".env.example", ".dockerignore", "acl"}
CONTAINER_FOLDERS = {"mqtt", "mongodb", "minio"}


def git(*args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        ["git", *args], cwd=REPO, input=stdin, capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout


def is_script(path: Path) -> bool:
    with path.open("rb") as file:
        return file.read(2) == b"#!"


def must_be_lf(name: str) -> bool:
    path = Path(name)
    return (
        path.suffix in CONFIG_SUFFIXES
        or path.name in CONFIG_NAMES
        or path.parts[0] in CONTAINER_FOLDERS
        or is_script(REPO / path)
    )


@pytest.fixture(scope="module")
def checked_files() -> list[str]:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a Git checkout: line endings are decided by Git at checkout")
    tracked = [name for name in git("ls-files", "-z").split("\0") if name and (REPO / name).is_file()]
    files = [name for name in tracked if must_be_lf(name)]
    assert len(files) >= 20, files
    return files


def attributes(files: list[str]) -> dict[str, dict[str, str]]:
    """``git check-attr text eol`` for each file: {file: {"text": ..., "eol": ...}}."""
    found: dict[str, dict[str, str]] = {}
    for line in git("check-attr", "--stdin", "text", "eol", stdin="\n".join(files) + "\n").splitlines():
        name, attribute, value = line.rsplit(": ", 2)
        found.setdefault(name, {})[attribute] = value
    return found


def test_every_script_config_and_init_file_is_checked_out_with_lf(checked_files: list[str]) -> None:
    found = attributes(checked_files)
    wrong = {name: found.get(name) for name in checked_files if found.get(name) != {"text": "set", "eol": "lf"}}
    assert wrong == {}, "add these to .gitattributes as `text eol=lf`"
    for required in (".ci/run", "start.sh", "mqtt/run-broker.sh", "mqtt/mosquitto-docker.conf", "docker-compose.yml"):
        assert required in checked_files


def test_no_checked_file_holds_a_carriage_return(checked_files: list[str]) -> None:
    with_cr = [name for name in checked_files if b"\r" in (REPO / name).read_bytes()]
    assert with_cr == []


def test_a_file_added_later_in_a_container_folder_is_covered_too() -> None:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a Git checkout")
    found = attributes(["mqtt/new-tool", "mongodb/new-step.js", "tools/new-script.sh", "x/Dockerfile"])
    assert all(values == {"text": "set", "eol": "lf"} for values in found.values()), found
