"""The live benchmark's correctness checks, small: every watcher gets every report of its order
exactly once, in storage order, and never a rejected one (bench/live_bench.py --check)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.helpers import REPO


def test_every_watcher_gets_every_stored_report_of_its_order_once_in_order() -> None:
    run = subprocess.run(
        [sys.executable, "bench/live_bench.py", "--check", "--watchers", "40", "--orders", "8", "--rate", "200",
         "--seconds", "3"],
        cwd=REPO, capture_output=True, text=True, timeout=180,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    checks = json.loads(run.stdout.strip().splitlines()[-1])
    assert checks["correct"] is True
    assert checks["deliveries_received"] == checks["deliveries_expected"] > 2000
    assert (checks["missing"], checks["duplicates"], checks["rejected_seen"]) == (0, 0, 0)
