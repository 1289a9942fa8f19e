"""Text from clients made safe to show on a terminal or in a log line.

A courier chooses its payload, its topic and so every field of a dead letter: control characters
(ESC sequences recolour the terminal or set its title, a newline forges a table row or a log line),
bidirectional controls (which reorder what is read) and lone surrogates (which cannot be encoded)
are shown as Python escapes instead.
"""

from __future__ import annotations

import re

_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with every control character, line separator, bidirectional control and lone surrogate
    escaped (``\\x1b``)."""
    return _UNSAFE.sub(_escape, text)
