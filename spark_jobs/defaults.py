"""Defaults of the lake jobs, importable without Spark (the CLI shows them in --help)."""

from __future__ import annotations

from datetime import timedelta

SPARK_MASTER = "local[*]"
EXPORT_SETTLE = timedelta(minutes=2)
MIN_ROWS_PER_SLICE = 100_000
PRUNE_OLDER_THAN = "30d"
