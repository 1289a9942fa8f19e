"""``deliverer transform`` as a user runs it: plans without Spark, rebuilds only the days whose bronze changed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from spark_jobs.storage.parquet import staged_parquet
from spark_jobs.tables import DERIVED_TABLES, GOLD_ORDER_TRIPS, sql_name
from spark_jobs.transforms.run import TransformSummary
from tests.integration.lake.known_lake import DAYS
from tests.integration.lake.test_lake_query_engines import deliverer
from tests.integration.lake.test_lake_transforms import add_late_report, table_rows


def files(root: Path, day: str) -> dict[str, list[str]]:
    return {sql_name(t): sorted(p.name for p in staged_parquet(root / t.partition_path(day))) for t in DERIVED_TABLES}


def test_a_dry_run_lists_the_days_to_build_without_starting_spark(bronze_lake: Path, tmp_path: Path) -> None:
    root = shutil.copytree(bronze_lake, tmp_path / "lake")
    ran = deliverer("transform", "--lake", str(root), "--dry-run")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines() == [
        "2026-03-01  would transform 28 bronze rows",
        "2026-03-02  would transform 3 bronze rows",
        "2026-03-03  would transform 4 bronze rows",
    ]
    ran = deliverer("transform", "--lake", str(root), "--date", "2026-02-01")
    assert (ran.returncode, ran.stdout) == (0, "2026-02-01  skipped: no bronze data for the day\n")
    assert not (root / "silver").exists()
    ran = deliverer("transform", "--lake", str(root), "--cell-m", "0")
    assert ran.returncode == 2 and "--cell-m: must be at least 1" in ran.stderr


@pytest.mark.slow
def test_an_incremental_run_rebuilds_only_the_changed_day(
    known_lake: tuple[Path, TransformSummary], tmp_path: Path
) -> None:
    root = shutil.copytree(known_lake[0], tmp_path / "lake")
    add_late_report(root)
    untouched = {day: files(root, day) for day in (DAYS[0], DAYS[2])}

    ran = deliverer("transform", "--lake", str(root), "--json")

    assert ran.returncode == 0, ran.stderr
    summary = json.loads(ran.stdout)
    assert [(d["day"], d["action"]) for d in summary["days"]] == [(DAYS[1], "write")]
    assert summary["rows"] == {"silver_locations": 4, "gold_order_trips": 1, "gold_deliverer_daily": 1,
                               "gold_hotspots": summary["rows"]["gold_hotspots"]}
    assert "2026-03-02           4 bronze rows -> silver_locations 4" in ran.stderr
    assert {day: files(root, day) for day in (DAYS[0], DAYS[2])} == untouched
    night = next(r for r in table_rows(root, GOLD_ORDER_TRIPS) if (r["order_id"], r["dt"]) == ("o-night", DAYS[1]))
    assert (night["points"], night["duration_s"], night["final_state"]) == (4, 180, "arrived")

    again = deliverer("transform", "--lake", str(root))
    assert (again.returncode, again.stdout) == (0, "nothing to transform: every bronze day is up to date\n")
