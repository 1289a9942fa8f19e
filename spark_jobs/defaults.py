"""The lake jobs' tunables and their defaults, importable without Spark (the commands show them in --help)."""

from __future__ import annotations

from datetime import timedelta

SPARK_MASTER = "local[*]"

EXPORT_SETTLE = timedelta(minutes=2)
"""How far the export's watermark stays behind the clock, for batches still being committed."""

MIN_ROWS_PER_SLICE = 100_000
"""The fewest rows the export reads in one time slice (one Parquet file): a small day is one file."""

PRUNE_OLDER_THAN = "30d"

HOTSPOT_CELL_M = 500
"""Hotspot grid cell size, metres (a few city blocks)."""

ACTIVE_GAP_MINUTES = 5
"""Two reports of a courier further apart than this are a pause, not activity."""

SILVER_ROWS_PER_FILE = 1_000_000
"""About 30 MB of snappy Parquet: big enough for Athena and DuckDB, small enough to write in parallel."""

DAYS_PER_PASS = 7
"""Days transformed together in one set of Spark jobs (each is still published whole, on its own)."""
