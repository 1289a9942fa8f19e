"""Retention against a real lake: only days the lake holds in full are deleted from the store, and a
late report for a pruned day is merged into the lake's copy instead of replacing it. (What prune checks
report by report: test_prune_checks.py; late reports in numbers: test_late_reports.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from deliverer.contract import LocationReport
from deliverer.store import open_store
from spark_jobs.retention import run_prune
from spark_jobs.storage import open_lake
from tests.helpers import REPO, make_reports
from tests.integration.spark_jobs.conftest import fill, utc_midnight
from tests.integration.spark_jobs.lake_checks import duplicate_keys, lake_counts, store_counts
from tests.integration.spark_jobs.test_export import export


def day(days_ago: int) -> str:
    return utc_midnight(days_ago).date().isoformat()


def reports_on(days_ago: int, count: int, prefix: str) -> list[LocationReport]:
    return make_reports(count, 20, start=utc_midnight(days_ago) + timedelta(hours=8), prefix=prefix, step_s=2)


def deliverer(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deliverer_cli.main", *args],
        capture_output=True, text=True, cwd=REPO, env=os.environ.copy(), timeout=120,
    )


@pytest.mark.slow
def test_prune_deletes_only_old_days_the_lake_holds_in_full(
    spark: SparkSession, lake_url: str, tmp_path: Path
) -> None:
    store_url = f"sqlite:///{tmp_path}/store.db"
    fill(store_url, [r for n in (40, 39, 38, 1) for r in reports_on(n, 1000, f"d{n}")])
    lake = open_lake(lake_url)
    export(spark, store_url, lake)
    fill(store_url, reports_on(39, 1, "late39") + reports_on(45, 100, "d45"))

    store = open_store(store_url)
    try:
        dry = run_prune(store, lake, timedelta(days=30), dry_run=True)
        assert {d.day: d.action for d in dry.days}[day(40)] == "would delete"
        assert store_counts(store_url, [day(40)]) == {day(40): 1000}

        summary = run_prune(store, lake, timedelta(days=30))
    finally:
        store.close()
    verdicts = {d.day: (d.action, d.reason) for d in summary.days}
    assert verdicts == {
        day(45): ("kept", "not exported"),
        day(40): ("deleted", "the lake holds every report"),
        day(39): ("kept", "1 of its 1,001 reports not in the lake: export the day again first"),
        day(38): ("deleted", "the lake holds every report"),
        day(1): ("kept", "newer than the cutoff"),
    }
    assert store_counts(store_url, [day(45), day(40), day(39), day(38), day(1)]) == {
        day(45): 100, day(40): 0, day(39): 1001, day(38): 0, day(1): 1000,
    }

    # A report arriving late for a pruned day: the lake keeps its 1,000 rows and gains the new one.
    fill(store_url, reports_on(40, 1, "late40"))
    again = export(spark, store_url, lake)
    assert {d.day: d.action for d in again.days} == {day(45): "write", day(40): "merge", day(39): "merge"}
    assert lake_counts(lake, [day(40), day(39), day(38)]) == {day(40): 1001, day(39): 1001, day(38): 1000}
    assert duplicate_keys(lake, [day(40)]) == []

    done = deliverer("prune", "--store", store_url, "--lake", lake_url, "--older-than", "30d", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    deleted = {d["day"]: d["rows"] for d in result["days"] if d["action"] == "deleted"}
    assert deleted == {day(45): 100, day(40): 1, day(39): 1001}, "every stored report of those days is in the lake"
    assert f"{day(40)}  deleted      the lake holds every report  1 rows" in done.stderr
    assert lake_counts(lake, [day(45), day(40), day(39)]) == {day(45): 100, day(40): 1001, day(39): 1001}


def test_export_dry_run_from_the_command_line_starts_no_spark(tmp_path: Path) -> None:
    store_url = f"sqlite:///{tmp_path}/store.db"
    fill(store_url, reports_on(2, 300, "a") + reports_on(1, 200, "b"))
    done = deliverer("export", "--store", store_url, "--lake", str(tmp_path / "lake"), "--dry-run", "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["dry_run"] is True and summary["days_written"] == 0 and summary["rows"] == 500
    assert [(d["day"], d["action"], d["store_rows"]) for d in summary["days"]] == [
        (day(2), "write", 300), (day(1), "write", 200),
    ]
    assert f"{day(2)}  would write 300 rows" in done.stderr
    assert "incubator" not in done.stderr  # no JVM was started
    assert not (tmp_path / "lake" / "bronze").exists()


def test_export_refuses_a_bad_lake_url(tmp_path: Path) -> None:
    done = deliverer("export", "--store", f"sqlite:///{tmp_path}/s.db", "--lake", "ftp://nowhere/lake")
    assert done.returncode == 2
    assert "unsupported lake URL" in done.stderr
