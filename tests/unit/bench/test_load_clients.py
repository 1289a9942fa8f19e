"""The benchmark's load clients: what they send is valid, built once, and framed right."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from api_bench import CEILING, FIGURES, request_lines
from fast_publisher import packet_ends, remaining_length, write_stream
from static_server import complete_requests

from deliverer.contract import validate_report


@pytest.mark.parametrize("scenario", [s for s in FIGURES if s.method == "POST"], ids=lambda s: s.name)
def test_every_prebuilt_post_body_is_a_valid_report_batch_with_its_own_msg_ids(scenario: object) -> None:
    lines = request_lines(scenario, "t", "2026-01-01T00:00:00Z")  # type: ignore[arg-type]
    ids = []
    for line in lines:
        body = json.loads(line)
        items = body if isinstance(body, list) else [body]
        assert len(items) == max(1, scenario.reports_per_request)  # type: ignore[attr-defined]
        ids += [validate_report(item).msg_id for item in items]
    assert len(ids) == len(set(ids))


def test_gets_cycle_through_every_seeded_order_and_the_ceiling_has_one_path() -> None:
    reads = next(s for s in FIGURES if s.name == "get_last_location")
    paths = request_lines(reads, "t", "2026-01-01T00:00:00Z")
    assert len(set(paths)) == 1000
    assert request_lines(CEILING, "t", "2026-01-01T00:00:00Z") == ["/hello"]


def test_the_static_server_counts_whole_requests_and_keeps_a_partial_body() -> None:
    get = b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n"
    post = b"POST /y HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
    count, rest = complete_requests(get + post + post[:-2])
    assert count == 2
    assert rest == post[:-2]
    assert complete_requests(rest + b"lo") == (1, b"")


@pytest.mark.parametrize(("length", "encoded"), [(0, b"\x00"), (127, b"\x7f"), (128, b"\x80\x01"),
                                                  (16_383, b"\xff\x7f"), (2_097_151, b"\xff\xff\x7f")])
def test_mqtt_remaining_length_is_the_spec_varint(length: int, encoded: bytes) -> None:
    assert remaining_length(length) == encoded


def test_an_encoded_stream_splits_back_into_its_packets(tmp_path: Path) -> None:
    stream = tmp_path / "s"
    messages = [(f"deliverers/d{i}/location", b"x" * (i * 40)) for i in range(200)]
    assert write_stream(messages, stream) == 200
    data = stream.read_bytes()
    ends = packet_ends(data)
    assert len(ends) == 200
    assert ends[-1] == len(data)
    assert all(data[start] == 0x32 for start in [0, *ends[:-1]])
