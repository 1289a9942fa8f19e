"""What prune checks before it deletes, on a local and an S3 lake: a day goes only when every one of its
stored reports is in the lake (its keys, not its count), only the reports it checked are deleted (one
arriving meanwhile stays), and a dry run counts the rows it would delete.

The lake's days are written here with pyarrow from the store's own rows, as the export writes them:
prune reads Parquet, whoever wrote it, and these tests need no Spark.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pyarrow.parquet as pq

from deliverer.contract import LocationReport
from deliverer.store import Store, open_store
from spark_jobs.retention import run_prune
from spark_jobs.storage import Lake, open_lake
from spark_jobs.tables import BRONZE_LOCATIONS
from tests.helpers import stored_ids
from tests.integration.spark_jobs.conftest import fill
from tests.integration.spark_jobs.lake_checks import store_counts, store_day
from tests.integration.spark_jobs.test_prune import day, deliverer, reports_on

OLD = 40
CUTOFF = "30d"


def archive(store_url: str, lake: Lake, day_text: str) -> None:
    """Put the store's rows of a day into the lake, whole, as one Parquet file."""
    with lake.staging() as staging:
        pq.write_table(store_day(store_url, day_text), staging / "part-00000.snappy.parquet", compression="snappy")
        lake.publish_day(BRONZE_LOCATIONS, day_text, staging)


class ArrivesDuringDelete:
    """The real store, with a report arriving just before prune's delete reaches it."""

    def __init__(self, store: Store, arriving: list[LocationReport]) -> None:
        self.store = store
        self.arriving = arriving

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.store, name)
        if not name.startswith("delete"):
            return attribute

        def delete(*args: Any, **kwargs: Any) -> Any:
            self.store.insert_batch(self.arriving)
            return attribute(*args, **kwargs)

        return delete


def pruned(store_url: str, lake: Lake, wrap: Callable[[Store], Store] = lambda s: s) -> dict[str, tuple[str, str]]:
    from datetime import timedelta

    store = open_store(store_url)
    try:
        summary = run_prune(wrap(store), lake, timedelta(days=30))
    finally:
        store.close()
    return {d.day: (d.action, d.reason) for d in summary.days}


def test_a_day_whose_keys_differ_from_the_lake_is_kept_even_with_equal_counts(
    lake_url: str, tmp_path: Path
) -> None:
    store_url = f"sqlite:///{tmp_path}/store.db"
    fill(store_url, reports_on(OLD, 50, "a"))
    lake = open_lake(lake_url)
    archive(store_url, lake, day(OLD))
    # One archived report leaves the store and an unexported one arrives: the counts still match.
    with sqlite3.connect(tmp_path / "store.db") as db:
        db.execute("DELETE FROM locations WHERE msg_id = 'a-m0'")
    fill(store_url, reports_on(OLD, 1, "unexported"))
    assert store_counts(store_url, [day(OLD)]) == {day(OLD): 50} and lake.day_rows(BRONZE_LOCATIONS, day(OLD)) == 50

    assert pruned(store_url, lake)[day(OLD)][0] == "kept"
    store = open_store(store_url)
    try:
        assert "unexported-m0" in stored_ids(store)
    finally:
        store.close()
    assert store_counts(store_url, [day(OLD)]) == {day(OLD): 50}


def test_a_report_arriving_during_a_prune_stays_in_the_store(lake_url: str, tmp_path: Path) -> None:
    store_url = f"sqlite:///{tmp_path}/store.db"
    fill(store_url, reports_on(OLD, 50, "a"))
    lake = open_lake(lake_url)
    archive(store_url, lake, day(OLD))
    arriving = reports_on(OLD, 1, "arriving")

    verdicts = pruned(store_url, lake, lambda store: cast(Store, ArrivesDuringDelete(store, arriving)))

    assert verdicts[day(OLD)][0] == "deleted"
    store = open_store(store_url)
    try:
        assert stored_ids(store) == ["arriving-m0"]
    finally:
        store.close()


def test_a_dry_run_counts_the_rows_it_would_delete(lake_url: str, tmp_path: Path) -> None:
    store_url = f"sqlite:///{tmp_path}/store.db"
    fill(store_url, reports_on(OLD, 2, "a") + reports_on(OLD - 1, 3, "b"))
    lake = open_lake(lake_url)
    archive(store_url, lake, day(OLD))
    archive(store_url, lake, day(OLD - 1))

    done = deliverer("prune", "--store", store_url, "--lake", lake_url, "--older-than", CUTOFF, "--dry-run")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("would delete 2 day(s), 5 rows; kept 0 day(s);")
    assert f"{day(OLD)}  would delete" in done.stderr

    done = deliverer("prune", "--store", store_url, "--lake", lake_url, "--older-than", CUTOFF, "--dry-run", "--json")
    summary = json.loads(done.stdout)
    assert (summary["rows_deleted"], summary["rows"]) == (0, 5)
    assert store_counts(store_url, [day(OLD), day(OLD - 1)]) == {day(OLD): 2, day(OLD - 1): 3}
