"""What the export does with each day, decided before anything is written.

A day the lake does not hold yet is written from the store. A day it holds is merged: rewritten as the
union of the lake's rows and the store's, one row per key (the store's copy where both hold a key), so
rows the store no longer has (pruned) stay in the lake. Only a rebuild, asked for by name, replaces a
day with the store's rows alone, and it refuses (unless forced) when the lake holds reports the store
does not: a row count never decides to drop a report.
"""

from __future__ import annotations

from dataclasses import dataclass

from deliverer.store import Store
from spark_jobs.day_actions import ExportAction
from spark_jobs.days import day_bounds
from spark_jobs.report_keys import lake_keys, missing_from, store_keys
from spark_jobs.storage import Lake
from spark_jobs.tables import BRONZE_LOCATIONS


class RebuildRefused(ValueError):
    """A rebuild would drop reports that only the lake holds; ``reason`` is the stable code."""

    reason = "rebuild_drops_reports"

    def __init__(self, lake_only: dict[str, int]) -> None:
        self.lake_only = lake_only
        days = ", ".join(f"{day} ({rows:,} reports)" for day, rows in lake_only.items())
        super().__init__(
            f"--rebuild refused: the lake holds reports the store does not, which a rebuild would drop: {days}."
            " Export without --rebuild to merge them, or add --force to drop them."
        )


@dataclass
class DayResult:
    """What happened to one day. ``action``: write (new to the lake), merge, rebuild or skip.

    ``kept_from_lake``: rows only the lake held (the store no longer has them: pruned), kept by a merge;
    ``new_from_store``: rows only the store held (the lake was behind); ``dropped_from_lake``: rows only the
    lake held that a forced rebuild dropped. ``keys_sha256`` fingerprints the keys of the day as written.
    """

    day: str
    action: ExportAction
    store_rows: int
    lake_rows_before: int | None
    rows: int = 0
    files: int = 0
    bytes: int = 0
    seconds: float = 0.0
    reason: str = ""
    kept_from_lake: int = 0
    new_from_store: int = 0
    dropped_from_lake: int = 0
    keys_sha256: str = ""


def plan_export_day(store: Store, lake: Lake, day: str, rebuild: bool = False) -> DayResult:
    """Decide from the row counts what to do with a day (which rows are whose is worked out when it is written)."""
    store_rows = store.count_between(*day_bounds(day))
    lake_rows = lake.day_rows(BRONZE_LOCATIONS, day)
    if store_rows == 0:
        reason = "no rows in the store" if lake_rows is None else "no rows in the store; the lake's copy is kept"
        return DayResult(day, ExportAction.SKIP, store_rows, lake_rows, reason=reason)
    if lake_rows is None:
        return DayResult(day, ExportAction.WRITE, store_rows, lake_rows, reason="new day")
    if rebuild:
        return DayResult(day, ExportAction.REBUILD, store_rows, lake_rows, reason="replaced by the store's rows alone")
    reason = "the lake keeps the rows only it holds"
    if store_rows < lake_rows:
        reason = f"the store holds fewer rows than the lake (pruned?): {reason}"
    return DayResult(day, ExportAction.MERGE, store_rows, lake_rows, reason=reason)


def check_rebuilds(store: Store, lake: Lake, days: list[DayResult], force: bool) -> None:
    """Count, for each day to rebuild, the lake's reports the store does not hold; raise RebuildRefused
    when there are any and ``force`` is not set."""
    lake_only = {}
    for day in days:
        if day.action != ExportAction.REBUILD:
            continue
        day.dropped_from_lake = missing_from(lake_keys(lake, day.day), store_keys(store, *day_bounds(day.day))).num_rows
        if day.dropped_from_lake:
            lake_only[day.day] = day.dropped_from_lake
            day.reason += f", dropping the {day.dropped_from_lake:,} reports only the lake holds"
    if lake_only and not force:
        raise RebuildRefused(lake_only)
