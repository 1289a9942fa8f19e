"""The original system's dialect: naive timestamps in a zone, integer ids, and back."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app_api.legacy_dialect import original_document, original_id, report_from_original, wall_clock, zone_named
from deliverer.contract import Reason, Rejection, validate_report
from deliverer_cli.main import main
from tests.bad_reports import valid_report

KOLKATA = ZoneInfo("Asia/Kolkata")


@pytest.fixture
def kolkata_is_local(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process's local time zone is Asia/Kolkata for the test."""
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_zone_names() -> None:
    assert zone_named("local") is None
    assert zone_named("") is None
    assert zone_named("Asia/Kolkata") == KOLKATA
    for bad in ("Nowhere/Bogus", "../../etc/passwd", "/etc/localtime", "Asia/Kolkata\x00"):
        with pytest.raises(ValueError, match="unknown time zone"):
            zone_named(bad)


def test_the_api_command_refuses_an_unknown_zone(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["api", "--legacy-timezone", "Mars/Olympus_Mons", "--port", "0"]) == 2
    assert "unknown time zone 'Mars/Olympus_Mons'" in capsys.readouterr().err


def test_a_naive_timestamp_is_wall_clock_time_in_the_zone() -> None:
    report = report_from_original(valid_report(timestamp="2026-03-01T19:09:47.099876"), KOLKATA)
    assert validate_report(report).timestamp == datetime(2026, 3, 1, 13, 39, 47, 99_000, tzinfo=UTC)


def test_daylight_saving_follows_the_date() -> None:
    rome = ZoneInfo("Europe/Rome")
    winter = validate_report(report_from_original(valid_report(timestamp="2026-01-15T12:00:00"), rome))
    summer = validate_report(report_from_original(valid_report(timestamp="2026-07-15T12:00:00"), rome))
    assert (winter.timestamp.hour, summer.timestamp.hour) == (11, 10)


def test_the_default_is_the_servers_local_zone(kolkata_is_local: None) -> None:
    report = report_from_original(valid_report(timestamp="2026-03-01T19:09:47.099876"), None)
    assert validate_report(report).timestamp == datetime(2026, 3, 1, 13, 39, 47, 99_000, tzinfo=UTC)
    assert wall_clock(datetime(2026, 3, 1, 13, 39, 47, 99_000, tzinfo=UTC), None) == "2026-03-01T19:09:47.099"


@pytest.mark.parametrize("timestamp", ["2026-03-01T10:00:00.250+02:00", "2026-03-01T08:00:00.250Z", 1772352000250])
def test_a_timestamp_that_names_its_instant_is_left_alone(timestamp: object) -> None:
    report = valid_report(timestamp=timestamp)
    assert report_from_original(report, KOLKATA) == report
    assert validate_report(report).timestamp == datetime(2026, 3, 1, 8, 0, 0, 250_000, tzinfo=UTC)


@pytest.mark.parametrize("zone", [KOLKATA, ZoneInfo("America/New_York"), ZoneInfo("Pacific/Kiritimati"), None])
@pytest.mark.parametrize(
    ("timestamp", "reason"),
    [
        ("0001-01-01T00:00:00", Reason.INVALID_TIMESTAMP),
        ("1999-12-31T09:00:00", Reason.INVALID_TIMESTAMP),
        ("9999-12-31T23:59:59.999999", Reason.TIMESTAMP_IN_FUTURE),
        ("tomorrow", Reason.INVALID_TIMESTAMP),
    ],
)
def test_a_naive_timestamp_out_of_range_is_a_rejection_in_any_zone(
    zone: ZoneInfo | None, timestamp: str, reason: Reason
) -> None:
    with pytest.raises(Rejection) as caught:
        validate_report(report_from_original(valid_report(timestamp=timestamp), zone))
    assert caught.value.reason == reason


@given(st.one_of(st.text(), st.datetimes().map(datetime.isoformat)))
def test_any_timestamp_text_becomes_a_report_or_a_rejection(text: str) -> None:
    with contextlib.suppress(Rejection):
        validate_report(report_from_original(valid_report(timestamp=text), ZoneInfo("America/St_Johns")))


def test_anything_but_an_object_is_left_for_the_contract_to_judge() -> None:
    for item in ("a string", 42, None, [valid_report()]):
        assert report_from_original(item, KOLKATA) == item


@pytest.mark.parametrize(
    ("stored", "sent"),
    [
        ("43", 43), ("0", 0), ("-7", -7), (str(2**63 - 1), 2**63 - 1), (str(-(2**63)), -(2**63)),
        ("-0", "-0"), ("0043", "0043"), ("order-7", "order-7"), ("4.3", "4.3"), (str(2**63), str(2**63)),
    ],
)
def test_only_the_canonical_form_of_a_64_bit_integer_was_sent_as_one(stored: str, sent: int | str) -> None:
    assert original_id(stored) == sent


def test_the_document_is_as_the_original_client_sent_it() -> None:
    sent = valid_report(order_id=43, deliverer_id=1, timestamp="2026-03-01T19:09:47.099876", msg_id=None)
    document = original_document(validate_report(report_from_original(sent, KOLKATA)), KOLKATA)
    assert {key: document[key] for key in sent if key != "msg_id"} == {
        **{key: value for key, value in sent.items() if key != "msg_id"}, "timestamp": "2026-03-01T19:09:47.099",
    }
