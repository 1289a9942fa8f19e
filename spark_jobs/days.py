"""UTC days, the lake's partitions: written ``YYYY-MM-DD``, each the half-open range of its two midnights."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
"""Before every report: "since the epoch" is "ever"."""


def day_bounds(day: str) -> tuple[datetime, datetime]:
    """``[00:00, next 00:00)`` of a UTC day given as YYYY-MM-DD."""
    start = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC)
    return start, start + timedelta(days=1)


def days_in_range(since: str, until: str) -> list[str]:
    """Every day from ``since`` through ``until`` (both YYYY-MM-DD, inclusive)."""
    first, last = date.fromisoformat(since), date.fromisoformat(until)
    if last < first:
        raise ValueError(f"--until {until} is before --since {since}")
    return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


def is_day(text: str) -> bool:
    """Whether ``text`` is a day as the lake names its partitions, YYYY-MM-DD."""
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10
