"""The lock files in requirements/ (scripts/lock.sh writes them) and the pins of pyproject.toml."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from tests.helpers import REPO

LOCKS = REPO / "requirements"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def normalized(name: str) -> str:
    """A distribution name as the lock files and PyPI compare them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lock: Path) -> set[str]:
    """The ``name==version`` pins of a lock file (a name may appear once per environment marker)."""
    return {f"{normalized(m[1])}=={m[2]}" for line in lock.read_text().splitlines() if (m := PIN.match(line))}


def pyproject() -> dict[str, Any]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def declared(*extras: str) -> dict[str, str]:
    """Name -> the requirement text, for the dependencies and the given extras of pyproject.toml."""
    project = pyproject()["project"]
    requirements = list(project["dependencies"])
    for extra in extras:
        requirements += project["optional-dependencies"][extra]
    return {normalized(re.split(r"[\[=<>!~; ]", r, maxsplit=1)[0]): r for r in requirements}


def lake_distributions() -> set[str]:
    """What the ``lake`` extra adds: the lake commands' libraries."""
    return set(declared("lake")) - set(declared())
