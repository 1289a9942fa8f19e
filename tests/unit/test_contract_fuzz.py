"""Whatever a courier sends, the contract answers with a report or a Rejection, never anything else."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from deliverer.contract import LocationReport, Rejection, decode_json, parse_report, validate_report
from tests.hostile import ANY_TEXT, hostile_payloads

TOPIC = "deliverers/d1/location"
FUZZ = settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _outcome(payload: bytes) -> LocationReport | Rejection:
    try:
        return parse_report(payload, TOPIC)
    except Rejection as rejection:
        return rejection


@FUZZ
@given(hostile_payloads())
@example(b"[" * 5000)
@example(b'{"timestamp": "0001-01-01T00:00:00+01:00"}')
@example(b'{"delivery_state": "\\udfff"}')
@example(b'{"order_id": "o\xed\xa0\x80"}')
def test_parse_report_only_ever_returns_a_report_or_raises_a_rejection(payload: bytes) -> None:
    outcome = _outcome(payload)
    if isinstance(outcome, Rejection):
        str(outcome).encode("utf-8")  # every reason can be stored, logged and answered
        json.dumps(outcome.to_dict()).encode("utf-8")
    else:
        assert parse_report(outcome.to_json(), TOPIC) == outcome


@FUZZ
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | ANY_TEXT,
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ANY_TEXT, inner, max_size=4)))
def test_validate_report_only_ever_rejects_any_decoded_value(value: object) -> None:
    try:
        validate_report(value)
    except Rejection as rejection:
        str(rejection).encode("utf-8")


@FUZZ
@given(ANY_TEXT)
def test_decode_json_of_text_never_lets_a_lone_surrogate_through(text: str) -> None:
    try:
        value = decode_json(json.dumps(text))
    except Rejection:
        return
    assert isinstance(value, str)
    value.encode("utf-8")
