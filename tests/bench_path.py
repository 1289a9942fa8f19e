"""The benchmark scripts import each other by bare name (``from conditions import …``), as they run
from bench/: their tests put that folder on the import path the same way."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"
# Last on the path: bench/profile.py must not hide the standard library's profile module, which
# cProfile imports (pyspark does, in whichever test later shares this process).
if str(BENCH) not in sys.path:
    sys.path.append(str(BENCH))
