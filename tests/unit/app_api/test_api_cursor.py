from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from app_api.cursor import InvalidCursor, decode_cursor, encode_cursor
from deliverer.store import HistoryCursor


def test_round_trip_is_url_safe() -> None:
    cursor = HistoryCursor(timestamp=datetime(2026, 1, 5, 12, 0, 0, 123000, tzinfo=UTC), msg_id="c42:000017-x_y.z")
    text = encode_cursor(cursor)
    assert text.replace("-", "").replace("_", "").isalnum()
    assert decode_cursor(text) == cursor


@pytest.mark.parametrize(
    "text",
    ["", "!!!", "bm90IGpzb24", "e30", "WzEsMl0", "WyIxIiwiYSJd", "Wy0xLCJhIl0", "WzEsIiQifV0", "A" * 600],
)
def test_anything_not_issued_is_refused(text: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(text)


def test_a_cursor_names_the_last_row_s_courier_and_an_earlier_release_s_cursor_still_works() -> None:
    at = datetime(2026, 1, 5, 12, 0, 0, 123000, tzinfo=UTC)
    cursor = HistoryCursor(timestamp=at, msg_id="m1", deliverer_id="c42")
    assert decode_cursor(encode_cursor(cursor)) == cursor
    earlier = "WzE3Njc2MTQ0MDAxMjMsIm0xIl0"  # [1767614400123, "m1"], as the previous release encoded it
    assert decode_cursor(earlier) == HistoryCursor(timestamp=at, msg_id="m1")


@pytest.mark.parametrize("courier", ["", "a b", "x" * 65, "~"])
def test_a_courier_the_contract_would_refuse_makes_no_cursor(courier: str) -> None:
    forged = json.dumps([1767614400123, "m1", courier]).encode()
    with pytest.raises(InvalidCursor):
        decode_cursor(base64.urlsafe_b64encode(forged).decode().rstrip("="))
