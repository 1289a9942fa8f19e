"""What each lake command did with a day, as the per-day results and the command lines name it.

Kept apart from the commands' engines so that the command line reads them without loading pyarrow
or Spark.
"""

from __future__ import annotations

from enum import StrEnum


class ExportAction(StrEnum):
    WRITE = "write"
    """new to the lake"""
    MERGE = "merge"
    """the lake's copy and the store's rows, one row per report"""
    REBUILD = "rebuild"
    """the store's rows alone (--rebuild)"""
    SKIP = "skip"


class TransformAction(StrEnum):
    WRITE = "write"
    """every derived table of the day replaced"""
    SKIP = "skip"


class PruneAction(StrEnum):
    DELETED = "deleted"
    WOULD_DELETE = "would delete"
    """a dry run's verdict, and every verdict before its delete"""
    KEPT = "kept"
