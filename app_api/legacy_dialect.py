"""The original system's dialect, translated to and from contract v1.

Its clients sent naive local timestamps (``datetime.now().isoformat()``, microseconds included) and
integer ids, and read the document back as they had sent it. Reports are stored as contract v1
(UTC to the millisecond, ids as strings); the translation both ways lives here, nowhere else.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from deliverer.contract import LocationReport
from deliverer.usage import UsageError

LOCAL_ZONE_NAMES = ("", "local")
_CANONICAL_INTEGER = re.compile(r"0|-?[1-9][0-9]*")
_INT64 = range(-(2**63), 2**63)


def zone_named(name: str) -> tzinfo | None:
    """The zone naive timestamps are read in: an IANA name, or ``None`` for the server's local time
    ('' or 'local'), which is what the original assumed: its clients and server shared one machine."""
    if name in LOCAL_ZONE_NAMES:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):  # ValueError: not even a zone key, e.g. '../x'
        raise UsageError(
            f"unknown time zone {name!r}: give an IANA name such as Europe/Rome or UTC, or 'local'"
        ) from None


def zone_label(zone: tzinfo | None) -> str:
    return str(zone) if zone is not None else f"local ({datetime.now().astimezone().tzname()})"


def report_from_original(item: Any, zone: tzinfo | None) -> Any:
    """``item`` with a naive ISO 8601 timestamp read as wall-clock time in ``zone`` (``None``: the
    server's local time, its daylight saving rules included). Anything else is left as it is, for
    the contract to judge: a timestamp with an offset or in epoch milliseconds already names its
    instant."""
    if not isinstance(item, dict) or not isinstance(item.get("timestamp"), str):
        return item
    try:
        wall = datetime.fromisoformat(item["timestamp"])
    except ValueError:
        return item
    if wall.tzinfo is not None:
        return item
    return {**item, "timestamp": _instant(wall, zone).isoformat()}


def _instant(wall: datetime, zone: tzinfo | None) -> datetime:
    try:
        # A naive datetime's astimezone() reads it in the platform's local time.
        return wall.astimezone(UTC) if zone is None else wall.replace(tzinfo=zone).astimezone(UTC)
    except (OverflowError, OSError, ValueError):
        # Only within a day of year 1 or 9999, which the contract refuses whatever the zone: it
        # then says why (before 2000, or in the future) about this stand-in.
        return wall.replace(tzinfo=UTC)


def original_document(report: LocationReport, zone: tzinfo | None) -> dict[str, Any]:
    """A stored report as the original system's GET answered it: ids that were integers as
    integers, the timestamp as naive wall-clock time in ``zone`` (to the millisecond, as stored)."""
    document = report.to_json_dict()
    document["order_id"] = original_id(report.order_id)
    document["deliverer_id"] = original_id(report.deliverer_id)
    document["timestamp"] = wall_clock(report.timestamp, zone)
    return document


def original_id(stored: str) -> int | str:
    """The contract stores the integer 43 and the string "43" alike, as "43": they are one order,
    and nothing in the store says which a client sent. The original's ids were integers, whose
    decimal form is canonical, so exactly those come back as integers; "0043" or "order-7" could
    only have been sent as strings and stay strings. Bounded to 64 bits, as the original's MongoDB was."""
    if _CANONICAL_INTEGER.fullmatch(stored) and int(stored) in _INT64:
        return int(stored)
    return stored


def wall_clock(moment: datetime, zone: tzinfo | None) -> str:
    local = moment.astimezone(zone) if zone is not None else moment.astimezone()
    return local.replace(tzinfo=None).isoformat(timespec="milliseconds")
