"""``deliverer subscribe`` in a process that dies, as an unknown bug would, on chosen messages.

Run as ``python -m tests.integration.subscriber.crashing_subscriber subscribe ...``: every message
whose payload holds :data:`MARKER` ends the process with exit code :data:`EXIT_CODE` while it is
being validated, before anything of its batch is stored or acknowledged.
"""

from __future__ import annotations

import os
import sys

from deliverer.contract import LocationReport, parse_report
from deliverer.services import messages
from deliverer_cli.main import main

MARKER = b"kill-the-subscriber"
EXIT_CODE = 70


def parse_or_die(payload: bytes, topic: str | None = None) -> LocationReport:
    if MARKER in payload:
        os._exit(EXIT_CODE)
    return parse_report(payload, topic)


if __name__ == "__main__":
    messages.parse_report = parse_or_die  # type: ignore[assignment]
    sys.exit(main(sys.argv[1:]))
