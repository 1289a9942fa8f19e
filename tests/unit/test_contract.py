"""Message contract v1: normalisation, derived ids, and a reason for every rejection."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deliverer.contract import (
    LocationReport,
    Reason,
    Rejection,
    decode_json,
    deliverer_of_topic,
    parse_report,
    topic_for,
    validate_report,
)
from tests.bad_reports import BAD_PAYLOADS, TOPIC, valid_report


@pytest.mark.parametrize(("name", "payload", "reason"), BAD_PAYLOADS, ids=[n for n, _p, _r in BAD_PAYLOADS])
def test_each_bad_payload_is_rejected_with_its_reason(name: str, payload: bytes, reason: str) -> None:
    with pytest.raises(Rejection) as caught:
        parse_report(payload, TOPIC)
    assert caught.value.reason == Reason(reason)
    assert caught.value.message


def test_integer_ids_are_accepted_and_stored_as_strings() -> None:
    report = validate_report(valid_report(order_id=1234, deliverer_id=77))
    assert (report.order_id, report.deliverer_id) == ("1234", "77")


@pytest.mark.parametrize(
    "stamp",
    ["2026-03-01T12:00:00.250+02:00", "2026-03-01T10:00:00.250Z", 1772359200250],
)
def test_timestamps_are_normalised_to_utc_milliseconds(stamp: str | int) -> None:
    report = validate_report(valid_report(timestamp=stamp))
    assert report.timestamp == datetime(2026, 3, 1, 10, 0, 0, 250_000, tzinfo=UTC)
    assert report.to_json_dict()["timestamp"] == "2026-03-01T10:00:00.250Z"


@pytest.mark.parametrize(
    "optional",
    [{}, {"speed_kmh": 31.5, "heading": 270.0, "accuracy_m": 4.0, "seq": 9}, {"seq": 0, "speed_kmh": 0.0}],
    ids=["required-only", "all-fields", "zero-valued"],
)
def test_the_wire_form_is_pydantics_json_form_with_optional_fields_left_out(optional: dict[str, object]) -> None:
    report = validate_report(valid_report(**optional) | {"timestamp": "2026-03-01T10:00:00.250Z"})
    expected = report.model_dump(mode="json", exclude_none=True) | {"timestamp": "2026-03-01T10:00:00.250Z"}
    wire = report.to_json_dict()
    assert wire == expected
    assert type(wire["delivery_state"]) is str
    assert validate_report(json.loads(report.to_json())) == report


def test_derived_msg_id_is_stable_and_content_sensitive() -> None:
    one = validate_report(valid_report(msg_id=None) | {"timestamp": "2026-03-01T10:00:00Z"})
    same = validate_report(valid_report(msg_id=None) | {"timestamp": "2026-03-01T12:00:00+02:00"})
    moved = validate_report(valid_report(msg_id=None, latitude=45.47) | {"timestamp": "2026-03-01T10:00:00Z"})
    assert one.msg_id == same.msg_id != moved.msg_id
    assert one.msg_id.startswith("d-")


def test_every_problem_is_listed_by_field() -> None:
    with pytest.raises(Rejection) as caught:
        validate_report(valid_report(latitude=100, longitude="east", delivery_state="lost"))
    fields = {p.field: p.reason for p in caught.value.problems}
    assert fields == {
        "latitude": Reason.OUT_OF_RANGE,
        "longitude": Reason.INVALID_TYPE,
        "delivery_state": Reason.UNKNOWN_STATE,
    }
    body = caught.value.to_dict()
    assert body["error"] in {"out_of_range", "invalid_type", "unknown_state"}
    assert len(body["fields"]) == 3


def test_wire_form_round_trips() -> None:
    report = validate_report(valid_report(speed_kmh=18.5, seq=3))
    assert parse_report(report.to_json(), TOPIC) == report


def test_topics() -> None:
    assert topic_for("d7") == "deliverers/d7/location"
    assert deliverer_of_topic("deliverers/d7/location") == "d7"
    assert deliverer_of_topic("deliverers/a/b/location") is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=6),
    max_leaves=20,
)
field_values = st.one_of(
    json_values, st.sampled_from(["start", "on_the_way", "arrived", "2026-03-01T10:00:00Z", "o1", 45.0, 9.0])
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from(list(valid_report())) | st.text(max_size=8), field_values, max_size=9))
def test_parser_only_ever_returns_a_report_or_a_rejection(data: dict) -> None:
    try:
        result = parse_report(json.dumps(data).encode(), TOPIC)
    except Rejection as rejection:
        assert rejection.reason in Reason
    else:
        assert isinstance(result, LocationReport)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_parser_survives_arbitrary_bytes(payload: bytes) -> None:
    with contextlib.suppress(Rejection):
        parse_report(payload, TOPIC)



def _nested(depth: int, inner: str = "1") -> bytes:
    return ("[" * depth + inner + "]" * depth).encode()


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (_nested(32), None),
        (_nested(33), "too_deep"),
        (_nested(31, '{"a": 1}'), None),
        (b"[" + b",".join([b'{"a":[1]}'] * 200) + b"]", None),  # a batch: many brackets, 3 deep
        (b'["' + b"[" * 40 + b'"]', None),  # brackets inside a string do not nest
        (b'["\\"' + b"[" * 40 + b'"]', None),  # nor behind an escaped quote
        (b'["\\\\",' + _nested(33) + b"]", "too_deep"),  # an escaped backslash ends the string
        (b'{"a":' + _nested(32) + b"}", "too_deep"),
        (b"]" * 40 + _nested(33), "not_json"),  # depth counts from zero, not below
    ],
)
def test_decode_json_refuses_what_nests_more_than_32_deep(payload: bytes, reason: str | None) -> None:
    with pytest.raises(Rejection) if reason else contextlib.nullcontext() as caught:
        decode_json(payload)
    if reason:
        assert caught.value.reason == Reason(reason)


_JSON_VALUES = st.recursive(
    st.none() | st.integers() | st.text(alphabet='[]{}"\\ a\u00e9', max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(alphabet='[]{}"\\ b', max_size=4), inner, max_size=3)
    ),
    max_leaves=12,
)


def _depth(value: object) -> int:
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    return 0


@settings(max_examples=300)
@given(_JSON_VALUES, st.integers(0, 40), st.booleans())
def test_decode_json_refuses_exactly_the_json_that_nests_too_deep(value: object, wraps: int, ascii_only: bool) -> None:
    for _ in range(wraps):
        value = [value]
    payload = json.dumps(value, ensure_ascii=ascii_only).encode()
    if _depth(value) > 32:
        with pytest.raises(Rejection) as caught:
            decode_json(payload)
        assert caught.value.reason is Reason.TOO_DEEP
    else:
        assert decode_json(payload) == value

