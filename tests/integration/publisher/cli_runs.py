"""Run ``deliverer publish --json`` as a process and read its one-line summary."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from tests.helpers import REPO


@dataclass
class Run:
    code: int
    summary: dict[str, Any]
    stderr: str


def publish_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "deliverer_cli.main", "publish", "--json", *args]


def finished(process: subprocess.Popen[str], timeout: float) -> Run:
    stdout, stderr = process.communicate(timeout=timeout)
    lines = stdout.splitlines()
    assert len(lines) == 1, f"expected one JSON line on stdout, got {stdout!r}; stderr:\n{stderr[-3000:]}"
    return Run(process.returncode, json.loads(lines[0]), stderr)


def publish(*args: str, timeout: float = 120) -> Run:
    process = subprocess.Popen(
        publish_command(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO
    )
    try:
        return finished(process, timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
