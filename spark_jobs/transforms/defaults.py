"""Defaults of the transforms, importable without starting Spark (the CLI shows them in --help)."""

from __future__ import annotations

HOTSPOT_CELL_M = 500
"""Hotspot grid cell size, metres (a few city blocks)."""

ACTIVE_GAP_MINUTES = 5
"""Two reports of a courier further apart than this are a pause, not activity."""

SILVER_ROWS_PER_FILE = 1_000_000
"""About 30 MB of snappy Parquet: big enough for Athena and DuckDB, small enough to write in parallel."""

DAYS_PER_PASS = 7
"""Days transformed together in one set of Spark jobs (each is still published whole, on its own)."""
