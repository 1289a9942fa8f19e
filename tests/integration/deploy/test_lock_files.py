"""The lock files: every version pyproject.toml pins, each with its hashes, and one version of
everything across them, so the images run what the tests ran. A failure here after a change to
pyproject.toml means: run scripts/lock.sh and commit requirements/."""

from __future__ import annotations

import re

import pytest

from tests.integration.deploy.lock_files import LOCKS, PIN, declared, normalized, pins, pyproject

# What each lock file is installed for, and so which extras it must hold.
LOCK_EXTRAS = {
    "core": (),  # the api, subscriber, publisher and one-shot images
    "lake": ("lake",),  # the exporter image
    "local": ("lake", "broker"),  # ./start.sh: the services, the lake commands, the fallback broker
    "dev": ("lake", "broker", "test"),  # ./test.sh
}


def test_every_lock_file_is_accounted_for() -> None:
    assert {path.stem for path in LOCKS.glob("*.txt")} == set(LOCK_EXTRAS)


def test_pyproject_pins_every_requirement_exactly() -> None:
    project = pyproject()
    requirements = [*project["project"]["dependencies"], *project["build-system"]["requires"]]
    requirements += [r for extra in project["project"]["optional-dependencies"].values() for r in extra]
    for requirement in requirements:
        assert re.fullmatch(r"[A-Za-z0-9._-]+(\[[a-z,]+\])?==[0-9][0-9A-Za-z.]*", requirement), (
            f"{requirement}: pin an exact version"
        )


@pytest.mark.parametrize("lock", sorted(LOCK_EXTRAS))
def test_the_lock_holds_every_version_pyproject_pins(lock: str) -> None:
    locked = pins(LOCKS / f"{lock}.txt")
    wanted = [*declared(*LOCK_EXTRAS[lock]).values(), *pyproject()["build-system"]["requires"]]
    for requirement in wanted:
        name, _, version = re.sub(r"\[[a-z,]+\]", "", requirement).partition("==")
        assert f"{normalized(name)}=={version}" in locked, (
            f"requirements/{lock}.txt lacks {requirement}: run scripts/lock.sh"
        )


@pytest.mark.parametrize("lock", sorted(LOCK_EXTRAS))
def test_every_pin_carries_its_hashes(lock: str) -> None:
    lines = (LOCKS / f"{lock}.txt").read_text().splitlines()
    starts = [i for i, line in enumerate(lines) if PIN.match(line)]
    assert starts
    for start in starts:
        assert lines[start].endswith("\\") and "--hash=sha256:" in lines[start + 1], (
            f"requirements/{lock}.txt: {lines[start]} has no hash"
        )


@pytest.mark.parametrize("lock", sorted(set(LOCK_EXTRAS) - {"dev"}))
def test_every_lock_takes_its_versions_from_the_tested_one(lock: str) -> None:
    extra = pins(LOCKS / f"{lock}.txt") - pins(LOCKS / "dev.txt")
    assert not extra, f"requirements/{lock}.txt pins versions the tests do not run: {sorted(extra)}"
