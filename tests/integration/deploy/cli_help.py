"""The ``deliverer`` CLI's help, to check that what the images run is what the CLI accepts."""

from __future__ import annotations

import functools
import subprocess
import sys

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
    """``deliverer COMMAND`` exists, knows every ``--flag`` given and reads every ``DELIVERER_*`` set."""
    subcommand, *arguments = command
    help_text = deliverer_help(subcommand) + deliverer_help()
    for flag in (a for a in arguments if a.startswith("--")):
        assert flag in help_text, f"`deliverer {subcommand}` has no {flag}"
    for name in (n for n in environment if n.startswith("DELIVERER_")):
        assert f"${name}" in help_text, f"`deliverer {subcommand}` does not read {name}"
