"""Retention: delete from the store the old days the lake is known to hold in full, report by report.

A day is deleted only when it ended before the cutoff and every one of its stored reports is in the
lake's ``bronze/locations`` day, checked by key ``(deliverer_id, msg_id)``, not by count. Exactly the
keys checked are deleted: a report stored meanwhile (a late one, for that very day) stays for the next
export. Everything else is kept, with the reason. The lake is held (as by an export) while pruning.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from deliverer.store import Store
from spark_jobs.day_actions import PruneAction
from spark_jobs.days import EPOCH, day_bounds
from spark_jobs.report_keys import key_pairs, lake_keys, missing_from, store_keys
from spark_jobs.storage import Lake
from spark_jobs.tables import BRONZE_LOCATIONS

log = logging.getLogger(__name__)

@dataclass
class PruneDay:
    """``action``: deleted, would delete (dry run) or kept; ``reason`` says why. ``rows``: the rows deleted,
    or that would be in a dry run; ``missing``: the store's rows not found in the lake."""

    day: str
    action: PruneAction
    reason: str
    store_rows: int | None = None
    lake_rows: int | None = None
    rows: int = 0
    missing: int = 0


@dataclass
class PruneSummary:
    cutoff: str
    dry_run: bool
    days: list[PruneDay] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "cutoff": self.cutoff,
            "dry_run": self.dry_run,
            "days_deleted": sum(d.action == PruneAction.DELETED for d in self.days),
            "rows_deleted": sum(d.rows for d in self.days if d.action == PruneAction.DELETED),
            "rows": sum(d.rows for d in self.days),
            "days_kept": sum(d.action == PruneAction.KEPT for d in self.days),
            "seconds": round(self.seconds, 3),
            "days": [asdict(d) for d in self.days],
        }


def judge_day(store: Store, lake: Lake, day: str, cutoff: datetime) -> tuple[PruneDay, pa.Table | None]:
    """The verdict on a day and, when it may go, the keys checked (exactly those are to be deleted)."""
    start, end = day_bounds(day)
    if end > cutoff:
        return PruneDay(day, PruneAction.KEPT, "newer than the cutoff"), None
    lake_rows = lake.day_rows(BRONZE_LOCATIONS, day)
    if lake_rows is None:
        return PruneDay(day, PruneAction.KEPT, "not exported", store.count_between(start, end), lake_rows), None
    stored = store_keys(store, start, end)
    missing = missing_from(stored, lake_keys(lake, day)).num_rows
    if missing:
        reason = f"{missing:,} of its {stored.num_rows:,} reports not in the lake: export the day again first"
        return PruneDay(day, PruneAction.KEPT, reason, stored.num_rows, lake_rows, missing=missing), None
    verdict = PruneDay(
        day, PruneAction.WOULD_DELETE, "the lake holds every report", stored.num_rows, lake_rows, stored.num_rows
    )
    return verdict, stored


def run_prune(
    store: Store,
    lake: Lake,
    older_than: timedelta,
    dry_run: bool = False,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    on_day: Callable[[PruneDay], None] = lambda _: None,
) -> PruneSummary:
    """Judge every day the store holds; delete those that qualify unless ``dry_run``."""
    started = time.monotonic()
    cutoff = now() - older_than
    summary = PruneSummary(cutoff.isoformat(), dry_run)
    with lake.exclusive():
        for day in store.event_days_ingested_since(EPOCH):
            verdict, checked = judge_day(store, lake, day, cutoff)
            if checked is not None and not dry_run:
                verdict.rows = store.delete_reports(key_pairs(checked))
                verdict.action = PruneAction.DELETED
                if verdict.rows != checked.num_rows:
                    log.warning("%s: deleted %d of the %d reports checked: the others were gone already",
                                day, verdict.rows, checked.num_rows)
            summary.days.append(verdict)
            on_day(verdict)
    summary.seconds = time.monotonic() - started
    return summary
