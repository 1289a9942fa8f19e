from __future__ import annotations

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
