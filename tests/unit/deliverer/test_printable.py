"""Client text on a terminal or in a log: control characters and lone surrogates are shown escaped."""

from __future__ import annotations

import logging

from hypothesis import given
from hypothesis import strategies as st

from deliverer.contract import Rejection, parse_report
from deliverer.logs import TextFormatter
from deliverer.printable import printable


def test_escape_sequences_newlines_and_surrogates_are_escaped() -> None:
    assert printable("\x1b[32mok\x07\r\n\t\x7f\x9b\u2028\ud800é ü") == (
        "\\x1b[32mok\\x07\\x0d\\x0a\\x09\\x7f\\x9b\\u2028\\ud800é ü"
    )


def test_bidirectional_controls_cannot_reorder_what_the_operator_reads() -> None:
    assert printable("c\u202eRTL\u2066x\u200f") == "c\\u202eRTL\\u2066x\\u200f"


@given(st.text())
def test_printable_text_holds_no_control_character_and_encodes(text: str) -> None:
    shown = printable(text)
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in shown)
    shown.encode("utf-8")


def test_a_rejection_echoes_the_clients_text_escaped() -> None:
    payload = b'{"delivery_state": "\\u001b]0;pwned\\u0007\\nforged"}'
    try:
        parse_report(payload, "deliverers/d1/location")
    except Rejection as rejection:
        text = str(rejection)
    assert "\x1b" not in text and "\n" not in text and "\\x1b]0;pwned" in text


def test_text_log_lines_cannot_be_forged_by_a_message_argument() -> None:
    record = logging.makeLogRecord(
        {"msg": "rejected on %s", "args": ("t\n2026-01-01 00:00:00 INFO forged\x1b[2J",), "levelname": "INFO"}
    )
    line = TextFormatter().format(record)
    assert "\n" not in line and "\x1b" not in line and "\\x0a2026-01-01" in line
