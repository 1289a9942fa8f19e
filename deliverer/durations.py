"""Durations as people type them on a command line: ``90s``, ``15m``, ``2h``, ``30d``, ``1w``."""

from __future__ import annotations

import re
from datetime import timedelta

from deliverer.usage import UsageError

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?")


def parse_duration(text: str) -> timedelta:
    """``90s``, ``15m``, ``2h``, ``30d``, ``1w`` (a bare number is seconds)."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None:
        raise UsageError(f"not a duration: {text!r} (use e.g. 90s, 15m, 2h, 30d)")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2) or "s"])
