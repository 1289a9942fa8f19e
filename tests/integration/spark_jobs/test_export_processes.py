"""The export as people run it: ``deliverer export --every`` as a service, and ``spark-submit``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from spark_jobs.storage import open_lake
from tests.helpers import REPO, ServiceProcess, wait_until
from tests.integration.spark_jobs.conftest import fill
from tests.integration.spark_jobs.lake_checks import lake_counts, store_counts
from tests.integration.spark_jobs.test_prune import day, reports_on


def summaries(process: ServiceProcess) -> list[dict[str, Any]]:
    """The JSON summaries the service printed so far, one per run."""
    return [json.loads(line) for line in process.log().splitlines() if line.startswith('{"lake"')]


@pytest.mark.slow
def test_scheduled_export_picks_up_new_reports_and_stops_on_sigterm(
    services: Callable[..., ServiceProcess], tmp_path: Path
) -> None:
    store_url, lake_url = f"sqlite:///{tmp_path}/store.db", str(tmp_path / "lake")
    fill(store_url, reports_on(2, 400, "first"))
    exporter = services(
        "export", "--store", store_url, "--lake", lake_url, "--every", "1s", "--settle", "0s", "--json",
        name="exporter",
    )
    wait_until(lambda: any(s["days_written"] for s in summaries(exporter)), 240, "the first scheduled export")

    fill(store_url, reports_on(1, 300, "later"))
    wait_until(
        lambda: any(d["day"] == day(1) for s in summaries(exporter) for d in s["days"]), 120,
        "a later run exporting the new day",
    )
    assert exporter.terminate(timeout=60) == 0
    assert "stopping after the current run" in exporter.log()
    days = [day(2), day(1)]
    assert lake_counts(open_lake(lake_url), days) == store_counts(store_url, days) == {day(2): 400, day(1): 300}
    silver = {d: pq.read_table(tmp_path / "lake" / "silver" / "locations" / f"dt={d}").num_rows for d in days}
    assert silver == {day(2): 400, day(1): 300}, "each export rebuilds silver for the days it wrote"
    assert list((tmp_path / "lake" / "gold" / "order_trips" / f"dt={day(1)}").glob("*.parquet"))


@pytest.mark.slow
def test_spark_submit_runs_the_same_job(tmp_path: Path) -> None:
    store_url, lake_url = f"sqlite:///{tmp_path}/store.db", str(tmp_path / "lake")
    fill(store_url, reports_on(2, 250, "a") + reports_on(1, 150, "b"))
    spark_submit = Path(sys.executable).parent / "spark-submit"
    done = subprocess.run(
        [str(spark_submit), "--master", "local[2]", str(REPO / "spark_jobs" / "export_job.py"),
         "--store", store_url, "--lake", lake_url, "--date", day(2), "--json"],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
        env={**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["days_written"] == 1 and summary["rows"] == 250 and summary["incremental"] is False
    lake = open_lake(lake_url)
    assert lake_counts(lake, [day(2), day(1)]) == {day(2): 250, day(1): None}
    assert lake.read_state("export") is None  # a backfill neither reads nor moves the watermark
