"""The benchmark scripts import each other by bare name (``from conditions import …``), as they run
from bench/: their tests put that folder on the import path the same way."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"
# Last on the path, so that no script name can hide a standard-library module (cProfile imports profile,
# pyspark imports cProfile; tests/unit/bench/test_script_names.py keeps the names apart too).
if str(BENCH) not in sys.path:
    sys.path.append(str(BENCH))
