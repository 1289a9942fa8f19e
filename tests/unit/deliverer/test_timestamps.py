"""The one timestamp parser: RFC 3339 with an offset, or epoch milliseconds, always in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deliverer.contract import MIN_TIMESTAMP_MS, LocationReport
from deliverer.timestamps import (
    InvalidTimestamp,
    TimestampProblem,
    epoch_ms,
    from_epoch_ms,
    parse_timestamp,
    parse_timestamp_text,
)

NOON = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    ["2026-01-05T12:00:00Z", "2026-01-05T13:00:00+01:00", 1_767_614_400_000, 1_767_614_400_000.9,
     datetime(2026, 1, 5, 7, 0, tzinfo=timezone(timedelta(hours=-5)))],
)
def test_every_form_names_one_instant_in_utc(value: object) -> None:
    moment = parse_timestamp(value)
    assert moment == NOON and moment.tzinfo is UTC


@pytest.mark.parametrize(
    ("value", "problem", "message"),
    [
        ("yesterday", TimestampProblem.INVALID_TIMESTAMP, "is not an RFC 3339 timestamp: 'yesterday'"),
        ("2026-01-05T12:00:00", TimestampProblem.INVALID_TIMESTAMP, "must carry a UTC offset, e.g. 'Z'"),
        ("0001-01-01T00:00:00+01:00", TimestampProblem.INVALID_TIMESTAMP, "is outside the years 1 to 9999"),
        (float("nan"), TimestampProblem.NOT_FINITE, "must be a finite number"),
        (10**20, TimestampProblem.INVALID_TIMESTAMP, "epoch milliseconds out of range"),
        (True, TimestampProblem.INVALID_TYPE, "must be an RFC 3339 string or epoch milliseconds"),
        (["2026"], TimestampProblem.INVALID_TYPE, "must be an RFC 3339 string or epoch milliseconds"),
        ("\ud800", TimestampProblem.INVALID_TIMESTAMP, "'\\ud800'"),
    ],
)
def test_what_is_not_a_timestamp_is_refused_with_its_problem(
    value: object, problem: TimestampProblem, message: str
) -> None:
    with pytest.raises(InvalidTimestamp) as refused:
        parse_timestamp(value)
    assert refused.value.problem is problem and message in refused.value.message


def test_text_of_digits_is_epoch_milliseconds_up_to_fourteen_digits() -> None:
    assert parse_timestamp_text("1767614400000") == NOON
    assert parse_timestamp_text("2026-01-05T12:00:00Z") == NOON
    with pytest.raises(InvalidTimestamp, match="epoch milliseconds out of range"):
        parse_timestamp_text("9" * 15)


@settings(max_examples=500)
@given(ms=st.integers(MIN_TIMESTAMP_MS, 1_767_225_600_000))
def test_every_millisecond_a_courier_sends_is_the_millisecond_kept(ms: int) -> None:
    """Through a float, ``timestamp() * 1000`` truncated .699 s to .698 s: about one report in 150 was
    kept a millisecond early, as epoch milliseconds and as RFC 3339 text alike."""
    text = from_epoch_ms(ms).isoformat().replace("+00:00", "Z")
    for sent in (ms, text):
        report = LocationReport(
            order_id="o1", deliverer_id="d1", delivery_state="start", timestamp=sent, latitude=0, longitude=0
        )
        assert report.timestamp_ms == ms == epoch_ms(report.timestamp)


def test_the_millisecond_that_was_kept_early() -> None:
    moment = parse_timestamp(1098219139699)
    assert (moment.microsecond, epoch_ms(moment)) == (699000, 1098219139699)
