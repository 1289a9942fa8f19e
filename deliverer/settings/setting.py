"""One setting: a flag, its environment variable, its default, its help and how its text becomes a value.

A setting's value is text until the command line parses it: from the flag, else from the variable,
else from the default, in that order. Text defaults go through the same ``type`` as a flag's value,
so a bad variable is refused like a bad flag: a usage error naming the flag and the variable the text
came from (:class:`FromVariable`), the former name included when that is the one set.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deliverer.usage import UsageError

Environment = Mapping[str, str]

SWITCH_WORDS = {"": False, "0": False, "1": True, "false": False, "true": True, "no": False, "yes": True,
                "off": False, "on": True}
"""What a switch variable may hold, in any case; anything else is refused rather than read as off."""


class FromVariable(str):
    """Text read from an environment variable: an error about the value names the variable."""

    variable: str

    def __new__(cls, text: str, variable: str) -> FromVariable:
        read = super().__new__(cls, text)
        read.variable = variable
        return read

    def __getnewargs__(self) -> tuple[str, str]:  # type: ignore[override]
        return str(self), self.variable


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
    """A flag without a value; the variable turns it on with ``1`` (or true, yes, on) and leaves it off
    with ``0``, false, no, off or nothing (:data:`SWITCH_WORDS`)."""
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

    def source(self, environ: Environment) -> str | None:
        """The variable the setting's text comes from: its own, a former name, or None for the default."""
        return next((name for name in (self.env, *self.formerly) if environ.get(name)), None)

    def text(self, environ: Environment) -> str:
        """The setting's text before any flag: its variable, else a former name of it, else its default."""
        source = self.source(environ)
        if source is not None:
            return FromVariable(environ[source], source)
        return self.default_text(environ)

    def default_text(self, environ: Environment) -> str:
        if self.default is None:
            raise LookupError(f"{self.env} has no default of its own: the command that reads it supplies one")
        return self.default(environ) if callable(self.default) else self.default

    def value(self, environ: Environment) -> Any:
        """The parsed value when no flag is given (what an environment-only setting is)."""
        text = self.text(environ)
        try:
            if self.switch:
                return switch(text)
            if self.many:
                return text.split()
            return self.type(text) if self.type is not None else str(text)
        except (ValueError, argparse.ArgumentTypeError) as exc:
            raise UsageError(f"{describe(text, self.env)}: {exc}") from None

    @property
    def default_value(self) -> Any:
        """The parsed value when nothing is set."""
        return self.value({})

    def renamed_in(self, environ: Environment) -> list[str]:
        """The former names set in ``environ`` while the current one is not."""
        if environ.get(self.env):
            return []
        return [name for name in self.formerly if environ.get(name)]

    def shadowed_in(self, environ: Environment) -> list[str]:
        """The former names set in ``environ`` to another value than the one read: ignored."""
        source = self.source(environ)
        if source is None:
            return []
        read = environ[source]
        return [name for name in self.formerly if name != source and environ.get(name) not in (None, "", read)]


def describe(text: str, fallback: str) -> str:
    """Where a refused text came from, for its error: ``$VARIABLE`` when it came from one."""
    return f"${text.variable}" if isinstance(text, FromVariable) else fallback


def switch(text: str) -> bool:
    """On or off, from :data:`SWITCH_WORDS`."""
    try:
        return SWITCH_WORDS[text.strip().lower()]
    except KeyError:
        raise argparse.ArgumentTypeError(
            f"expected 1 or 0 (or true/false, yes/no, on/off), got {text!r}"
        ) from None


MAX_WHOLE_NUMBER = 1_000_000_000
"""The largest count any setting takes: beyond it a value is a typo, not a wish."""


def whole_number(minimum: int, maximum: int = MAX_WHOLE_NUMBER) -> Callable[[str], int]:
    """A whole number within bounds."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum} and at most {maximum:,}, got {value}")
        return value

    return parse


PORT = whole_number(1, 65_535)
PORT_OR_ZERO = whole_number(0, 65_535)
"""A TCP port, or 0: off, or any free port, as the setting says."""


def number(minimum: float, maximum: float) -> Callable[[str], float]:
    """A finite number within bounds: NaN, infinity and absurdly large values are refused, where they
    would otherwise turn a wait into forever or a deadline into an overflow."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not (math.isfinite(value) and minimum <= value <= maximum):
            bounds = f"from {_shown(minimum)} to {_shown(maximum)}"
            raise argparse.ArgumentTypeError(f"must be a number {bounds}, got {text}")
        return value

    return parse


def _shown(bound: float) -> str:
    return f"{int(bound):,}" if bound == int(bound) else f"{bound:g}"


MAX_SECONDS = 366 * 86_400
"""The longest wait, interval or limit in seconds a setting takes: a year."""
seconds = number(0, MAX_SECONDS)
"""Seconds, 0 or more, at most a year."""


def optional_whole_number(text: str) -> int | None:
    """A whole number 0 or more, or None for ''."""
    return whole_number(0, 2**63 - 1)(text) if text else None


def optional_path(text: str) -> Path | None:
    """A path, or None for '' (which ``Path`` would read as the current directory)."""
    return Path(text) if text else None
