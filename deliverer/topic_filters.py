"""The subscriber's topic filter, checked before it reaches the broker.

A filter is refused when MQTT refuses it (``#`` not last, a wildcard sharing a level, empty) and when
it cannot match a courier's topic ``deliverers/<id>/location``: a subscriber on such a filter would
report itself healthy and ingest nothing. ``$share/<group>/<filter>`` is checked by its filter.
"""

from __future__ import annotations

from deliverer.contract import TOPIC_PREFIX, TOPIC_SUFFIX
from deliverer.usage import UsageError

_SHARED = "$share/"
_COURIER_LEVELS = (TOPIC_PREFIX.strip("/"), None, TOPIC_SUFFIX.strip("/"))
"""A courier's topic, level by level; None where the courier's id stands."""
_MAX_BYTES = 65_535


def checked_topic_filter(text: str) -> str:
    """``text`` as given, once it is a valid filter that matches couriers' topics."""
    topic_filter = text
    if text.startswith(_SHARED):
        group, _, topic_filter = text[len(_SHARED):].partition("/")
        if not group or "+" in group or "#" in group or not topic_filter:
            raise UsageError(f"{text!r}: a shared subscription is $share/<group>/<filter>")
    if not topic_filter:
        raise UsageError("an empty topic filter matches nothing")
    if len(text.encode()) > _MAX_BYTES or "\0" in text:
        raise UsageError("not a topic filter: too long, or holds a NUL character")
    levels = topic_filter.split("/")
    for index, level in enumerate(levels):
        if level == "#" and index != len(levels) - 1:
            raise UsageError(f"topic filter {text!r}: '#' must be its last level")
        if level not in ("#", "+") and ("#" in level or "+" in level):
            raise UsageError(f"topic filter {text!r}: a wildcard must be a whole level")
    if not _matches_couriers(levels):
        raise UsageError(
            f"topic filter {text!r} matches no courier's topic ({TOPIC_PREFIX}<id>{TOPIC_SUFFIX}):"
            " nothing would be ingested"
        )
    return text


def _matches_couriers(levels: list[str]) -> bool:
    for index, level in enumerate(levels):
        if level == "#":
            return True
        if index >= len(_COURIER_LEVELS):
            return False
        expected = _COURIER_LEVELS[index]
        if level != "+" and expected is not None and level != expected:
            return False
    return len(levels) == len(_COURIER_LEVELS)
