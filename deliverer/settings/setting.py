"""One setting: a flag, its environment variable, its default, its help and how its text becomes a value.

A setting's value is text until the command line parses it: from the flag, else from the variable,
else from the default, in that order. Text defaults go through the same ``type`` as a flag's value,
so a bad variable is refused like a bad flag (a usage error naming the flag).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Environment = Mapping[str, str]


@dataclass(frozen=True)
class Setting:
    env: str
    """The environment variable, ``DELIVERER_*``."""
    flag: str | None
    """The command-line flag; None for a setting read from the environment only."""
    help: str
    default: str | Callable[[Environment], str] | None = ""
    """The text used when neither flag nor variable is given: a function for a default that follows
    other settings or the machine; None when the command supplies it (a default its library owns)."""
    type: Callable[[str], Any] | None = None
    choices: Sequence[Any] | None = None
    switch: bool = False
    """A flag without a value; the variable turns it on with ``1``."""
    many: bool = False
    """A repeatable flag; the variable holds the values separated by spaces."""
    secret: bool = False
    """Never shown: ``deliverer settings`` says only whether it is set."""
    shown: str | None = None
    """How help and README show a default that is a function."""
    formerly: tuple[str, ...] = ()
    """Earlier names of the variable, still read (with a warning) so that a deployment that sets
    one keeps its meaning after an upgrade."""
    metavar: str | None = None

    def __post_init__(self) -> None:
        if not self.env.startswith("DELIVERER_"):
            raise ValueError(f"{self.env}: every variable is named DELIVERER_*")
        if callable(self.default) and self.shown is None:
            raise ValueError(f"{self.env}: a computed default needs the text that shows it")

    @property
    def dest(self) -> str:
        """The attribute of the parsed arguments that holds the value."""
        if self.flag:
            return self.flag.removeprefix("--").replace("-", "_")
        return self.env.removeprefix("DELIVERER_").lower()

    @property
    def shown_default(self) -> str:
        """The default as help and README show it; '' for none."""
        if self.shown is not None:
            return self.shown
        return self.default if isinstance(self.default, str) else ""

    def text(self, environ: Environment) -> str:
        """The setting's text before any flag: its variable, else a former name of it, else its default."""
        for name in (self.env, *self.formerly):
            if environ.get(name):
                return environ[name]
        return self.default_text(environ)

    def default_text(self, environ: Environment) -> str:
        if self.default is None:
            raise LookupError(f"{self.env} has no default of its own: the command that reads it supplies one")
        return self.default(environ) if callable(self.default) else self.default

    def value(self, environ: Environment) -> Any:
        """The parsed value when no flag is given (what an environment-only setting is)."""
        text = self.text(environ)
        if self.switch:
            return text == "1"
        if self.many:
            return text.split()
        return self.type(text) if self.type is not None else text

    @property
    def default_value(self) -> Any:
        """The parsed value when nothing is set."""
        return self.value({})

    def renamed_in(self, environ: Environment) -> list[str]:
        """The former names set in ``environ`` while the current one is not."""
        if environ.get(self.env):
            return []
        return [name for name in self.formerly if environ.get(name)]


def whole_number(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """A whole number within bounds."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            upper = f" and at most {maximum:,}" if maximum is not None else ""
            raise argparse.ArgumentTypeError(f"must be at least {minimum}{upper}, got {value}")
        return value

    return parse


def seconds(text: str) -> float:
    """A finite number of seconds, 0 or more."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def optional_whole_number(text: str) -> int | None:
    """A whole number, or None for ''."""
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def optional_path(text: str) -> Path | None:
    """A path, or None for '' (which ``Path`` would read as the current directory)."""
    return Path(text) if text else None
