"""The benchmark scripts import each other by bare name (``from conditions import …``), as they run
from bench/: their tests put that folder on the import path the same way."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))
