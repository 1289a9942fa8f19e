"""Late reports for a day the store no longer holds, on a local and an S3 lake: the lake's day becomes the
union of its archived rows and the late ones, each report once, however many arrive and however often
the day is exported; only an explicit, forced rebuild drops archived reports."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from pyspark.sql import SparkSession

from deliverer.contract import LocationReport
from deliverer.store import open_store
from spark_jobs.export.plan import RebuildRefused
from spark_jobs.export.run import ExportRequest, ExportSummary, day_state_name, run_export
from spark_jobs.report_keys import KEY_COLUMNS, KEY_SCHEMA, fingerprint, lake_keys
from spark_jobs.retention import run_prune
from spark_jobs.storage import Lake, open_lake
from spark_jobs.tables import BRONZE_LOCATIONS, SILVER_LOCATIONS
from tests.helpers import REPO
from tests.integration.spark_jobs.conftest import fill
from tests.integration.spark_jobs.lake_checks import read_day, store_counts
from tests.integration.spark_jobs.test_prune import day, reports_on

OLD = 40
ARCHIVED = 300


def export(spark: SparkSession, store_url: str, lake: Lake, **options: object) -> ExportSummary:
    store = open_store(store_url)
    try:
        request = replace(ExportRequest(store_url, settle=timedelta(0)), **options)  # type: ignore[arg-type]
        return run_export(request, store, lake, lambda: spark)
    finally:
        store.close()


def prune(store_url: str, lake: Lake) -> dict[str, str]:
    store = open_store(store_url)
    try:
        return {d.day: d.action for d in run_prune(store, lake, timedelta(days=30)).days}
    finally:
        store.close()


def keys_of(reports: list[LocationReport]) -> list[tuple[str, str]]:
    return sorted((r.deliverer_id, r.msg_id) for r in reports)


def lake_day_keys(lake: Lake, day_text: str) -> list[tuple[str, str]]:
    keys = lake_keys(lake, day_text)
    return sorted(zip(*(keys.column(c).to_pylist() for c in KEY_COLUMNS), strict=True))


def archived_then_pruned(
    spark: SparkSession, store_url: str, lake: Lake, days_ago: tuple[int, ...] = (OLD,)
) -> dict[int, list[LocationReport]]:
    """300 reports on each of these days, exported, then deleted from the store by prune."""
    archived = {n: reports_on(n, ARCHIVED, f"arch{n}") for n in days_ago}
    fill(store_url, [r for reports in archived.values() for r in reports])
    export(spark, store_url, lake)
    verdicts = prune(store_url, lake)
    assert [verdicts[day(n)] for n in days_ago] == ["deleted"] * len(days_ago)
    assert set(store_counts(store_url, [day(n) for n in days_ago]).values()) == {0}
    return archived


def late_reports(days_ago: int, count: int, archived: list[LocationReport]) -> list[LocationReport]:
    """``count`` new reports for a pruned day, and one reusing an archived report's msg_id from another
    courier (on an order of its own: an order belongs to one courier): a different report, since the
    key is the pair."""
    other_courier = archived[0].model_copy(update={"deliverer_id": "courier-elsewhere", "order_id": "order-elsewhere"})
    return [*reports_on(days_ago, count, f"late{days_ago}"), other_courier]


@pytest.mark.slow
def test_late_reports_join_the_archived_ones_once_however_often_the_day_is_exported(
    spark: SparkSession, lake_url: str, tmp_path: Path
) -> None:
    store_url = f"sqlite:///{tmp_path}/store.db"
    lake = open_lake(lake_url)
    late_counts = {OLD: 100, OLD - 1: 400}  # fewer, then more late reports than the 300 archived
    archived = archived_then_pruned(spark, store_url, lake, tuple(late_counts))
    late = {n: late_reports(n, count, archived[n]) for n, count in late_counts.items()}
    fill(store_url, [r for reports in late.values() for r in reports])
    everything = {day(n): keys_of(archived[n] + late[n]) for n in late_counts}
    assert {d: len(set(keys)) for d, keys in everything.items()} == {day(OLD): 401, day(OLD - 1): 701}

    first = export(spark, store_url, lake, transform=True)
    assert [(d.day, d.action, d.rows, d.kept_from_lake, d.new_from_store) for d in first.days] == [
        (day(OLD), "merge", 401, ARCHIVED, 101), (day(OLD - 1), "merge", 701, ARCHIVED, 401),
    ]
    for day_text, keys in everything.items():
        assert lake_day_keys(lake, day_text) == keys
        assert lake.day_rows(SILVER_LOCATIONS, day_text) == len(keys), "silver is rebuilt from the merged day"

    again = export(spark, store_url, lake, days=list(everything))
    assert [(d.action, d.kept_from_lake, d.new_from_store) for d in again.days] == [("merge", ARCHIVED, 0)] * 2
    for day_text, keys in everything.items():
        assert lake_day_keys(lake, day_text) == keys
        record = lake.read_state(day_state_name(day_text)) or {}
        expected = fingerprint(pa.table(dict(zip(KEY_COLUMNS, zip(*keys, strict=True), strict=True)), KEY_SCHEMA))
        assert (record["action"], record["rows"], record["keys_sha256"]) == ("merge", len(keys), expected.sha256)
        assert (record["kept_from_lake"], record["new_from_store"]) == (ARCHIVED, 0)

    # The late reports are in the lake now, so prune lets them go too; the lake keeps all.
    verdicts = prune(store_url, lake)
    assert [verdicts[d] for d in everything] == ["deleted", "deleted"]
    assert {d: lake_day_keys(lake, d) for d in everything} == everything


@pytest.mark.slow
def test_a_rebuild_that_would_drop_archived_reports_is_refused_unless_forced(
    spark: SparkSession, lake_url: str, tmp_path: Path
) -> None:
    store_url = f"sqlite:///{tmp_path}/store.db"
    lake = open_lake(lake_url)
    archived = archived_then_pruned(spark, store_url, lake)[OLD]
    late = reports_on(OLD, 500, "late")  # more rows than the lake's 300, and none of them
    fill(store_url, late)
    before = read_day(lake, day(OLD))

    with pytest.raises(RebuildRefused, match=rf"{day(OLD)} \(300 reports\)"):
        export(spark, store_url, lake, days=[day(OLD)], rebuild=True)
    assert read_day(lake, day(OLD)).equals(before)

    done = subprocess.run(
        [sys.executable, "-m", "deliverer_cli.main", "export", "--store", store_url, "--lake", lake_url,
         "--date", day(OLD), "--rebuild", "--dry-run"],
        capture_output=True, text=True, cwd=REPO, env=os.environ.copy(), timeout=120,
    )
    assert done.returncode == 2
    assert "--rebuild refused: the lake holds reports the store does not" in done.stderr
    assert "add --force to drop them" in done.stderr

    forced = export(spark, store_url, lake, days=[day(OLD)], rebuild=True, force=True)
    assert [(d.action, d.rows, d.dropped_from_lake) for d in forced.days] == [("rebuild", 500, ARCHIVED)]
    assert lake_day_keys(lake, day(OLD)) == keys_of(late)
    assert not set(keys_of(archived)) & set(lake_day_keys(lake, day(OLD)))


@pytest.mark.slow
def test_a_day_left_with_two_copies_by_an_interrupted_publish_is_merged_back_to_one(
    spark: SparkSession, lake_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store_url = f"sqlite:///{tmp_path}/store.db"
    lake = open_lake(lake_url)
    archived = archived_then_pruned(spark, store_url, lake)[OLD]
    late = reports_on(OLD, 50, "late")
    fill(store_url, late)
    # An S3 lake publishes a day's new files before it deletes the old ones: a run killed in between
    # leaves both copies. Here, the archived files twice, under two names each.
    with lake.staging() as staging:
        both = staging / "both"
        both.mkdir()
        for path in lake.fetch_day(BRONZE_LOCATIONS, day(OLD), staging / "old"):
            shutil.copy(path, both / path.name)
            shutil.copy(path, both / f"copy-{path.name}")
        lake.publish_day(BRONZE_LOCATIONS, day(OLD), both)
    assert lake.day_rows(BRONZE_LOCATIONS, day(OLD)) == 2 * ARCHIVED

    with caplog.at_level(logging.WARNING, logger="spark_jobs.export"):
        summary = export(spark, store_url, lake)
    assert f"{day(OLD)}: the lake's copy holds {ARCHIVED} rows whose key another row has" in caplog.text
    assert [(d.action, d.rows, d.kept_from_lake) for d in summary.days] == [("merge", ARCHIVED + 50, ARCHIVED)]
    assert lake_day_keys(lake, day(OLD)) == keys_of(archived + late)
