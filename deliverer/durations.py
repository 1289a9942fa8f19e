"""Durations as people type them on a command line: ``90s``, ``15m``, ``2h``, ``30d``, ``1w``."""

from __future__ import annotations

import re
from datetime import timedelta

from deliverer.usage import UsageError

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?")
MAX_DURATION = timedelta(days=36_525)
"""A century: longer is a typo, and "now minus it" would leave the calendar datetime can count."""


def parse_duration(text: str) -> timedelta:
    """``90s``, ``15m``, ``2h``, ``30d``, ``1w`` (a bare number is seconds), at most a century."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None:
        raise UsageError(f"not a duration: {text!r} (use e.g. 90s, 15m, 2h, 30d)")
    seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    if not seconds <= MAX_DURATION.total_seconds():  # infinity included, from a number of 309 digits
        raise UsageError(f"duration {text!r} is longer than a century")
    return timedelta(seconds=seconds)


def positive_duration(text: str) -> timedelta:
    """A duration longer than 0."""
    duration = parse_duration(text)
    if duration <= timedelta(0):
        raise UsageError(f"duration {text!r} must be longer than 0")
    return duration
