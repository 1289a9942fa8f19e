"""The repository's Dockerfile read as its stages, without a Docker engine."""

from __future__ import annotations

import json
from dataclasses import dataclass

from tests.helpers import REPO

DOCKERFILE = REPO / "Dockerfile"


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str

    @property
    def words(self) -> list[str]:
        """The arguments as Docker splits them: a JSON array, or words."""
        return json.loads(self.arguments) if self.arguments.startswith("[") else self.arguments.split()

    @property
    def operands(self) -> list[str]:
        """The words that are not ``--flag=value`` options (``COPY --from=wheel a b`` -> ``a b``)."""
        return [word for word in self.words if not word.startswith("--")]

    def option(self, name: str) -> str | None:
        return next((w.partition("=")[2] for w in self.words if w.startswith(f"--{name}=")), None)


@dataclass(frozen=True)
class Stage:
    name: str
    base: str  # an image, or the name of an earlier stage
    steps: tuple[Instruction, ...]


def instructions(text: str) -> list[Instruction]:
    """The instructions of a Dockerfile, continuation lines joined and comments dropped."""
    result, pending = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1].strip() + " "
            continue
        keyword, _, arguments = (pending + stripped).partition(" ")
        result.append(Instruction(keyword.upper(), arguments.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued instruction"
    return result


def stages(text: str | None = None) -> dict[str, Stage]:
    """Every ``FROM <base> AS <name>`` stage, in order, with the instructions it adds."""
    found: dict[str, Stage] = {}
    name, base, steps = "", "", []
    for step in instructions(DOCKERFILE.read_text() if text is None else text):
        if step.keyword == "FROM":
            if name:
                found[name] = Stage(name, base, tuple(steps))
            words = step.words
            assert len(words) == 3 and words[1].upper() == "AS", f"FROM {step.arguments}: name every stage"
            base, name, steps = words[0], words[2], []
        else:
            assert name, f"{step.keyword} before the first FROM"
            steps.append(step)
    found[name] = Stage(name, base, tuple(steps))
    return found


def lineage(all_stages: dict[str, Stage], target: str) -> list[Stage]:
    """The stages a target is built on, the first (on an image) first, the target last."""
    chain = [all_stages[target]]
    while chain[0].base in all_stages:
        chain.insert(0, all_stages[chain[0].base])
    return chain


def build_steps(all_stages: dict[str, Stage], target: str) -> list[Instruction]:
    """Every instruction that makes the target's image, in build order."""
    return [step for stage in lineage(all_stages, target) for step in stage.steps]
