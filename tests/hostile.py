"""Hypothesis strategies for hostile payloads, shared by every door's fuzz tests.

A payload is raw bytes, as a courier can send them: arbitrary bytes, arbitrary JSON documents
(written as text, so duplicate keys, numbers past every limit and raw or escaped surrogates are
possible) and valid reports with one field replaced by something at or past a boundary.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

# Every code point, surrogates included: json.dumps escapes a lone one as \udXXX.
ANY_TEXT = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=()), max_size=40)

BOUNDARY_TIMESTAMPS = st.sampled_from(
    [
        "0001-01-01T00:00:00+01:00",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59-01:00",
        "9999-12-31T23:59:59.999999+00:00",
        "1999-12-31T23:59:59.999Z",
        "2000-01-01T00:00:00Z",
        "2000-01-01T00:59:59+01:00",
        "2026-01-01T00:00:00+99:99",
        "2026-01-01T00:00:00-99:99",
        "2026-01-01T00:00:00+23:59",
        "2026-01-01T00:00:00-23:59:59.999999",
        "2026-02-30T00:00:00Z",
        "2026-01-01T24:00:00Z",
        "2026-01-01T00:00:00\ud800",
        "\udfff",
        "",
        "2026-01-01",
        "T",
    ]
)
BOUNDARY_NUMBERS = st.sampled_from(
    [
        "1e20", "-1e20", "1e999", "-1e999", "1e-999", "4.9e-324", "1.7976931348623157e308",
        "946684799999", "946684800000", "4102444800000", "4102444800001", "-0", "0.0",
        "9" * 4301, "-" + "9" * 5000, "1" + "0" * 400 + ".5", "18446744073709551616",
        "9223372036854775807", "9223372036854775808", "90.0000000000000001", "-180.0", "180.0",
        "1E400", "0e99999999", "-9223372036854775809",
    ]
)


def _json_scalar() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(["null", "true", "false"]),
        st.integers().map(str),
        st.floats(allow_nan=False, allow_infinity=False).map(repr),
        BOUNDARY_NUMBERS,
        ANY_TEXT.map(json.dumps),
        ANY_TEXT.map(lambda s: json.dumps(s, ensure_ascii=False)),
    )


def _json_text() -> st.SearchStrategy[str]:
    """JSON written as text, keys possibly repeated."""
    return st.recursive(
        _json_scalar(),
        lambda inner: st.one_of(
            st.lists(inner, max_size=4).map(lambda items: "[" + ",".join(items) + "]"),
            st.lists(st.tuples(ANY_TEXT.map(json.dumps), inner), max_size=4).map(
                lambda pairs: "{" + ",".join(f"{k}:{v}" for k, v in pairs) + "}"
            ),
        ),
        max_leaves=12,
    )


def deeply_nested() -> st.SearchStrategy[str]:
    return st.tuples(st.integers(500, 6000), st.sampled_from(["[", '{"a":'])).map(
        lambda depth_open: depth_open[1] * depth_open[0] + "1" + ("]" if depth_open[1] == "[" else "}") * depth_open[0]
    )


def _valid_fields(deliverer_id: str) -> dict[str, str]:
    """A valid report as JSON-text values, for one field at a time to be spoilt."""
    moment = datetime.now(UTC) - timedelta(minutes=5)
    return {
        "msg_id": json.dumps("fuzz-base"),
        "order_id": json.dumps("fuzz-order"),
        "deliverer_id": json.dumps(deliverer_id),
        "delivery_state": json.dumps("on_the_way"),
        "timestamp": json.dumps(moment.isoformat()),
        "latitude": "45.46",
        "longitude": "9.19",
        "speed_kmh": "20.5",
        "seq": "3",
    }


def _spoilt_report(deliverer_id: str) -> st.SearchStrategy[str]:
    fields = _valid_fields(deliverer_id)
    hostile_value = st.one_of(
        _json_text(),
        BOUNDARY_NUMBERS,
        BOUNDARY_TIMESTAMPS.map(lambda s: json.dumps(s)),
        BOUNDARY_TIMESTAMPS.map(lambda s: json.dumps(s, ensure_ascii=False)),
    )

    def build(name: str, value: str, duplicate: bool) -> str:
        pairs = [f"{json.dumps(k)}:{v}" for k, v in fields.items() if k != name]
        pairs.append(f"{json.dumps(name)}:{value}")
        if duplicate:
            pairs.append(f"{json.dumps(name)}:{fields.get(name, 'null')}")
        return "{" + ",".join(pairs) + "}"

    return st.builds(
        build,
        st.sampled_from([*fields, "extra", "$where", ""]),
        hostile_value,
        st.booleans(),
    )


def hostile_payloads(deliverer_id: str = "d1") -> st.SearchStrategy[bytes]:
    """Bytes a courier publishing as ``deliverer_id`` could send."""
    spoilt = _spoilt_report(deliverer_id).map(_utf8)
    kinds = [st.binary(max_size=300), _json_text().map(_utf8), deeply_nested().map(_utf8)]
    # Seven in ten are valid reports with one field spoilt: they reach every rule of the contract.
    return st.integers(0, 9).flatmap(lambda kind: kinds[kind] if kind < len(kinds) else spoilt)


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def valid_report_payload(deliverer_id: str, index: int, **changes: Any) -> bytes:
    """A good report of ``deliverer_id`` with a unique msg_id."""
    moment = datetime.now(UTC) - timedelta(minutes=30) + timedelta(milliseconds=index)
    report = {
        "msg_id": f"good-{index}",
        "order_id": f"good-{deliverer_id}-{index % 10}",
        "deliverer_id": deliverer_id,
        "delivery_state": "on_the_way",
        "timestamp": moment.isoformat(),
        "latitude": 45.0 + index * 1e-5,
        "longitude": 9.0,
        **changes,
    }
    return json.dumps(report).encode()


def collect_examples(strategy: st.SearchStrategy[bytes], count: int) -> list[bytes]:
    """``count`` payloads drawn from ``strategy`` (Hypothesis' own generation, not shrunk)."""
    found: list[bytes] = []

    @settings(max_examples=count, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(payload: bytes) -> None:
        found.append(payload)

    collect()
    return found[:count]
