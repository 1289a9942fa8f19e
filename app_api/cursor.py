"""History page cursors: an opaque, URL-safe string that names the last row a client has seen (its
timestamp, msg_id and courier; a cursor of an earlier release, without the courier, still works)."""

from __future__ import annotations

import base64
import binascii
import json

from deliverer.contract import ID_PATTERN, MSG_ID_PATTERN
from deliverer.store import HistoryCursor
from deliverer.store.base import LAST_DELIVERER_ID
from deliverer.timestamps import epoch_ms, from_epoch_ms


class InvalidCursor(ValueError):
    pass


def encode_cursor(cursor: HistoryCursor) -> str:
    position: list[int | str] = [epoch_ms(cursor.timestamp), cursor.msg_id]
    if cursor.deliverer_id != LAST_DELIVERER_ID:
        position.append(cursor.deliverer_id)
    return base64.urlsafe_b64encode(json.dumps(position, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(text: str) -> HistoryCursor:
    """Parse a cursor made by :func:`encode_cursor`; anything else raises InvalidCursor."""
    if len(text) > 512:
        raise InvalidCursor("cursor is too long")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        position = json.loads(raw)
    except (binascii.Error, ValueError):
        raise InvalidCursor("not a cursor this API issued") from None
    match position:
        case [int(ms), str(msg_id)] if 0 <= ms < 10**14 and MSG_ID_PATTERN.fullmatch(msg_id):
            return HistoryCursor(timestamp=from_epoch_ms(ms), msg_id=msg_id)
        case [int(ms), str(msg_id), str(deliverer_id)] if (
            0 <= ms < 10**14 and MSG_ID_PATTERN.fullmatch(msg_id) and ID_PATTERN.fullmatch(deliverer_id)
        ):
            return HistoryCursor(
                timestamp=from_epoch_ms(ms), msg_id=msg_id, deliverer_id=deliverer_id
            )
    raise InvalidCursor("not a cursor this API issued")
