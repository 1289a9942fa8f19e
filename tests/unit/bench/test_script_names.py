"""A benchmark script runs with bench/ first on its import path: a script named like a standard-library
module (``profile.py``) then replaces that module for everything the script imports (pyspark imports
cProfile, which imports profile, and the export benchmark died of it)."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[3] / "bench"


def test_no_benchmark_script_hides_a_standard_library_module() -> None:
    scripts = {path.stem for path in BENCH.glob("*.py")}
    assert scripts, f"no scripts found in {BENCH}"
    assert sorted(scripts & sys.stdlib_module_names) == []
