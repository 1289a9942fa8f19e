"""The export with a real local Spark, a real SQLite store (MongoDB where reachable) and both lakes:
a local directory and an S3 bucket on a moto server."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from pyspark.sql import SparkSession

from deliverer.store import open_store
from spark_jobs.export.run import ExportRequest, ExportSummary, run_export
from spark_jobs.storage import Lake, open_lake
from tests.helpers import ServiceProcess, make_reports
from tests.integration.spark_jobs.conftest import BASE_REPORTS, base_reports, fill, utc_midnight
from tests.integration.spark_jobs.lake_checks import (
    KEY_ORDER,
    duplicate_keys,
    files_of,
    lake_counts,
    read_day,
    store_counts,
    store_day,
)

BASE_DAYS = [utc_midnight(n).date().isoformat() for n in (3, 2, 1)]


def export(
    spark: SparkSession, store_url: str, lake: Lake, dry_run: bool = False, days: list[str] | None = None
) -> ExportSummary:
    """One run in this process, on the shared session: incremental, or a backfill of ``days``."""
    store = open_store(store_url)
    try:
        request = ExportRequest(store_url, days=days, dry_run=dry_run, settle=timedelta(0))
        return run_export(request, store, lake, lambda: spark)
    finally:
        store.close()


def check_incremental_export(spark: SparkSession, store_url: str, lake: Lake) -> None:
    dry = export(spark, store_url, lake, dry_run=True)
    assert [d.day for d in dry.days] == BASE_DAYS
    assert dry.to_dict()["rows"] == BASE_REPORTS
    assert lake.read_state("export") is None and files_of(lake, BASE_DAYS) == {d: [] for d in BASE_DAYS}

    first = export(spark, store_url, lake)
    assert [d.day for d in first.days] == BASE_DAYS
    assert lake_counts(lake, BASE_DAYS) == store_counts(store_url, BASE_DAYS)
    assert first.to_dict()["rows"] == BASE_REPORTS
    before = files_of(lake, BASE_DAYS)

    today = utc_midnight(0).date().isoformat()
    late = make_reports(500, 50, start=utc_midnight(2) + timedelta(hours=5), prefix="late", step_s=7)
    new = make_reports(1000, 50, start=utc_midnight(0), prefix="new", step_s=0.01)
    fill(store_url, late + new)

    second = export(spark, store_url, lake)
    days = [*BASE_DAYS, today]
    assert [d.day for d in second.days] == [BASE_DAYS[1], today]
    counts = lake_counts(lake, days)
    assert counts == store_counts(store_url, days)
    assert sum(c or 0 for c in counts.values()) == BASE_REPORTS + 1500
    assert duplicate_keys(lake, days) == []
    after = files_of(lake, days)
    assert after[BASE_DAYS[0]] == before[BASE_DAYS[0]]
    assert after[BASE_DAYS[2]] == before[BASE_DAYS[2]]
    assert {f.name for f in after[BASE_DAYS[1]]}.isdisjoint(f.name for f in before[BASE_DAYS[1]])

    third = export(spark, store_url, lake)
    assert third.days == []
    assert files_of(lake, days) == after
    assert (lake.read_state("export") or {})["watermark"] == third.watermark_next


@pytest.mark.slow
def test_incremental_export_replaces_only_the_days_touched(
    spark: SparkSession, base_store_url: str, lake_url: str
) -> None:
    check_incremental_export(spark, base_store_url, open_lake(lake_url))


@pytest.mark.slow
@pytest.mark.mongo
def test_incremental_export_from_mongodb(spark: SparkSession, mongo_store_url: str, lake_url: str) -> None:
    fill(mongo_store_url, base_reports())
    check_incremental_export(spark, mongo_store_url, open_lake(lake_url))


@pytest.mark.slow
def test_killed_merges_run_again_equal_one_clean_run(
    spark: SparkSession,
    base_store_url: str,
    both_lake_urls: list[str],
    services: Callable[..., ServiceProcess],
    tmp_path: Path,
) -> None:
    # Each lake already holds reports of the three days that the store no longer has (pruned, say):
    # every day is a merge, and a clean run keeps those reports beside the store's.
    archive_url = f"sqlite:///{tmp_path}/archive.db"
    fill(archive_url, [
        r for n in (3, 2, 1)
        for r in make_reports(200, 20, start=utc_midnight(n) + timedelta(hours=8), prefix=f"archived{n}", step_s=2)
    ])
    archived: dict[str, dict[str, pa.Table]] = {}
    for url in both_lake_urls:
        lake = open_lake(url)
        export(spark, archive_url, lake, days=BASE_DAYS)
        archived[url] = {day: read_day(lake, day) for day in BASE_DAYS}

    # One process per lake (local and S3), side by side: each pays Spark's start-up, so overlap them.
    processes = [
        services("export", "--store", base_store_url, "--lake", url, "--settle", "0s", name="export")
        for url in both_lake_urls
    ]
    for process in processes:
        process.wait_log(f"{BASE_DAYS[0]}  merge", timeout=300)
        assert process.alive, "the export finished before it could be killed"
        process.kill()

    for url in both_lake_urls:
        lake = open_lake(url)
        assert lake.read_state("export") is None, "a killed run must not move the watermark"
        export(spark, base_store_url, lake)
        for day in BASE_DAYS:
            # A clean run writes the store's rows of the day and the lake's others: compare column by column.
            clean = pa.concat_tables([store_day(base_store_url, day), archived[url][day]]).sort_by(KEY_ORDER)
            exported = read_day(lake, day).sort_by(KEY_ORDER)
            assert exported.num_rows == clean.num_rows == store_counts(base_store_url, [day])[day] + 200
            assert exported.equals(clean), f"{url}: {day} differs from what a clean run writes"
        assert duplicate_keys(lake, BASE_DAYS) == []
        if not lake.location.is_s3:
            assert not (lake.location.local_path() / "_staging").exists()
