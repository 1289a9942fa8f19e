"""Moments as every door reads them: RFC 3339 text with an offset, or epoch milliseconds.

One parser for a report's ``timestamp`` (the contract), the API's ``since`` and ``until``, and the
command line's ``--since``. It returns an aware UTC datetime or raises :class:`InvalidTimestamp`; each
door adds its own rules on what it returns (the contract: from 2000 on, not in the future, to the
millisecond) and its own words around the problem.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from enum import StrEnum

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)

MAX_EPOCH_MS_DIGITS = 14
"""Epoch milliseconds written as text have at most this many digits (up to the year 5138)."""


def epoch_ms(moment: datetime) -> int:
    """An aware moment as whole epoch milliseconds (rounded down), in integers: through a float,
    ``timestamp() * 1000`` puts a moment such as 20:52:19.699 at ...698.9998, and truncating that stored
    about one report in 150 a millisecond early."""
    return (moment - EPOCH) // _ONE_MS


def from_epoch_ms(ms: int) -> datetime:
    """The UTC moment of whole epoch milliseconds (:func:`epoch_ms`'s inverse)."""
    return EPOCH + timedelta(milliseconds=ms)


class TimestampProblem(StrEnum):
    """What is wrong with a timestamp; the values are the contract's reason codes."""

    INVALID_TIMESTAMP = "invalid_timestamp"
    INVALID_TYPE = "invalid_type"
    NOT_FINITE = "not_finite"


class InvalidTimestamp(ValueError):
    def __init__(self, problem: TimestampProblem, message: str) -> None:
        super().__init__(message)
        self.problem = problem
        self.message = message


def parse_timestamp(value: object) -> datetime:
    """An RFC 3339 string with offset, epoch milliseconds (a JSON number) or an aware datetime, in UTC."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise InvalidTimestamp(TimestampProblem.INVALID_TIMESTAMP, "must carry a UTC offset")
        moment = value
    elif isinstance(value, bool):
        raise InvalidTimestamp(TimestampProblem.INVALID_TYPE, "must be an RFC 3339 string or epoch milliseconds")
    elif isinstance(value, int | float):
        moment = _from_epoch_ms(value)
    elif isinstance(value, str):
        moment = _from_text(value)
    else:
        raise InvalidTimestamp(TimestampProblem.INVALID_TYPE, "must be an RFC 3339 string or epoch milliseconds")
    try:
        # An offset can push a moment at either end of the calendar outside what datetime holds.
        return moment.astimezone(UTC)
    except OverflowError:
        raise InvalidTimestamp(
            TimestampProblem.INVALID_TIMESTAMP, "is outside the years 1 to 9999 once moved to UTC"
        ) from None


def parse_timestamp_text(text: str) -> datetime:
    """A timestamp given as text (a URL's query, a flag): all ASCII digits are epoch milliseconds,
    anything else RFC 3339 with offset."""
    if text.isascii() and text.isdigit():
        if len(text) > MAX_EPOCH_MS_DIGITS:
            raise InvalidTimestamp(TimestampProblem.INVALID_TIMESTAMP, "epoch milliseconds out of range")
        return parse_timestamp(int(text))
    return parse_timestamp(text)


def _from_epoch_ms(value: int | float) -> datetime:
    # An int is finite however large (math.isfinite would convert it to a float, and overflow).
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidTimestamp(TimestampProblem.NOT_FINITE, "must be a finite number")
    try:
        return from_epoch_ms(math.floor(value))
    except (OverflowError, OSError, ValueError):
        raise InvalidTimestamp(TimestampProblem.INVALID_TIMESTAMP, "epoch milliseconds out of range") from None


def _from_text(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except (ValueError, UnicodeError):
        # Echoed cut short, a lone surrogate escaped, so that any message can carry it.
        echo = text[:64].encode("utf-8", "backslashreplace").decode("utf-8")
        raise InvalidTimestamp(
            TimestampProblem.INVALID_TIMESTAMP, f"is not an RFC 3339 timestamp: '{echo}'"
        ) from None
    if moment.tzinfo is None:
        raise InvalidTimestamp(TimestampProblem.INVALID_TIMESTAMP, "must carry a UTC offset, e.g. 'Z'")
    return moment
