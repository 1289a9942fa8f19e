"""The ``deliverer`` CLI's help, to check that what the images run is what the CLI accepts."""

from __future__ import annotations

import functools
import re
import subprocess
import sys
from itertools import takewhile

from tests.helpers import REPO


@functools.cache
def deliverer_help(*command: str) -> str:
    """``deliverer [COMMAND] --help``; every flag's help names its environment variable."""
    done = subprocess.run(
        [sys.executable, "-m", "deliverer_cli.main", *command, "--help"],
        capture_output=True, text=True, timeout=120, cwd=REPO,
    )
    assert done.returncode == 0, f"`deliverer {' '.join(command)} --help` failed:\n{done.stderr[-2000:]}"
    return done.stdout


def assert_cli_accepts(command: list[str], environment: dict[str, str]) -> None:
    """``deliverer COMMAND [ACTION]`` exists, knows every ``--flag`` given and reads every ``DELIVERER_*`` set."""
    words = len(list(takewhile(lambda word: re.fullmatch(r"[a-z][a-z-]*", word), command)))
    subcommand, arguments = command[:words], command[words:]
    named = " ".join(subcommand)
    help_text = deliverer_help(*subcommand) + deliverer_help()
    for flag in (a for a in arguments if a.startswith("--")):
        assert flag in help_text, f"`deliverer {named}` has no {flag}"
    for name in (n for n in environment if n.startswith("DELIVERER_")):
        assert f"${name}" in help_text, f"`deliverer {named}` does not read {name}"
