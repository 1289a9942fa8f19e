"""The silver and gold transforms with a real local Spark, on the known lake: known routes give known
distances and durations, duplicates go, re-runs give the same tables, an S3 lake the same as a directory."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession

from spark_jobs.sql.duckdb_engine import LocalEngine, S3Settings
from spark_jobs.storage import open_lake
from spark_jobs.storage.location import parse_lake_url
from spark_jobs.storage.parquet import arrow_schema, staged_parquet
from spark_jobs.tables import (
    BRONZE_LOCATIONS,
    DERIVED_TABLES,
    GOLD_DELIVERER_DAILY,
    GOLD_HOTSPOTS,
    GOLD_ORDER_TRIPS,
    SILVER_LOCATIONS,
    LakeTable,
    sql_name,
)
from spark_jobs.transforms.hotspots import hotspots
from spark_jobs.transforms.run import TransformSummary, changed_days, transform_days
from tests.integration.lake.conftest import copy_lake
from tests.integration.lake.known_lake import (
    DAYS,
    DUPLICATED,
    LEG_KM_NORTH,
    known_reports,
    oracle_daily,
    oracle_hotspots,
    oracle_silver,
    oracle_trips,
)

METRE_KM = 0.001
SORT_KEYS = {
    "silver_locations": ("dt", "order_id", "report_index"),
    "gold_order_trips": ("dt", "order_id"),
    "gold_deliverer_daily": ("dt", "deliverer_id"),
    "gold_hotspots": ("dt", "hour", "cell_id"),
}


def table_rows(root: Path, table: LakeTable) -> list[dict[str, Any]]:
    partitioning = ds.partitioning(pa.schema([("dt", pa.string())]), flavor="hive")
    return ds.dataset(root / table.path, format="parquet", partitioning=partitioning).to_table().to_pylist()


def utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def test_silver_drops_duplicates_and_measures_each_leg(known_lake: tuple[Path, TransformSummary]) -> None:
    root, summary = known_lake
    rows = table_rows(root, SILVER_LOCATIONS)
    expected = oracle_silver()
    assert len(rows) == len(known_reports()) == len({r["msg_id"] for r in rows})
    first_day = next(d for d in summary.days if d.day == DAYS[0])
    assert first_day.bronze_rows == first_day.rows["silver_locations"] + len(DUPLICATED)
    for row in rows:
        want = expected[row["msg_id"]]
        assert (row["order_id"], row["dt"], row["report_index"]) == (want["order_id"], want["dt"], want["report_index"])
        assert row["latitude"] == want["latitude"], "the first stored copy wins"
        assert utc(row["hour"]) == want["hour"]
        if want["leg_km"] is None:
            assert row["leg_km"] is None and row["leg_seconds"] is None and row["leg_speed_kmh"] is None
            continue
        assert row["leg_km"] == pytest.approx(want["leg_km"], abs=METRE_KM)
        assert row["leg_seconds"] == pytest.approx(want["leg_seconds"], abs=1)
        if want["leg_speed_kmh"] is None:
            assert row["leg_speed_kmh"] is None
        else:
            assert row["leg_speed_kmh"] == pytest.approx(want["leg_speed_kmh"], rel=1e-9)


def test_silver_files_hold_each_order_in_report_order(known_lake: tuple[Path, TransformSummary]) -> None:
    root, _ = known_lake
    for day in DAYS:
        for path in staged_parquet(root / SILVER_LOCATIONS.partition_path(day)):
            keys = [(r["order_id"], r["report_index"]) for r in pq.read_table(path).to_pylist()]
            assert keys == sorted(keys)


def test_order_trips_follow_the_known_routes(known_lake: tuple[Path, TransformSummary]) -> None:
    root, _ = known_lake
    trips = {(r["order_id"], r["dt"]): r for r in table_rows(root, GOLD_ORDER_TRIPS)}
    expected = oracle_trips()
    assert set(trips) == set(expected)
    north = trips[("o-north", DAYS[0])]
    assert north["distance_km"] == pytest.approx(10 * LEG_KM_NORTH, abs=METRE_KM)
    assert north["duration_s"] == pytest.approx(300, abs=1)
    assert north["avg_speed_kmh"] == pytest.approx(10 * LEG_KM_NORTH / 300 * 3600, abs=0.05)
    assert (north["states_seen"], north["final_state"]) == (["start", "on_the_way", "arrived"], "arrived")
    assert [trips[("o-night", day)]["points"] for day in DAYS[:2]] == [2, 3]
    assert trips[("o-still", DAYS[2])]["duration_s"] == 60
    for key, trip in trips.items():
        want = expected[key]
        assert trip["distance_km"] == pytest.approx(want["distance_km"], abs=METRE_KM), key
        assert trip["duration_s"] == pytest.approx(want["duration_s"], abs=1), key
        assert (utc(trip["first_report_at"]), utc(trip["last_report_at"])) == (
            want["first_report_at"], want["last_report_at"]
        )
        assert (trip["deliverer_id"], trip["points"], trip["states_seen"], trip["final_state"]) == (
            want["deliverer_id"], want["points"], want["states_seen"], want["final_state"]
        ), key
        for name in ("avg_speed_kmh", "max_speed_kmh"):
            assert trip[name] == (None if want[name] is None else pytest.approx(want[name], rel=1e-9)), (key, name)
        assert (trip["start_latitude"], trip["start_longitude"]) == want["start"]
        assert (trip["end_latitude"], trip["end_longitude"]) == want["end"]


def test_deliverer_daily_counts_orders_reports_km_and_active_minutes(
    known_lake: tuple[Path, TransformSummary],
) -> None:
    root, _ = known_lake
    daily = {(r["deliverer_id"], r["dt"]): r for r in table_rows(root, GOLD_DELIVERER_DAILY)}
    expected = oracle_daily()
    assert set(daily) == set(expected)
    # c1 on day one: 10 x 30 s, a 15-minute pause that does not count, 4 x 20 s.
    assert daily[("c1", DAYS[0])]["active_minutes"] == pytest.approx((300 + 80) / 60)
    for key, row in daily.items():
        want = expected[key]
        for name in ("orders", "orders_delivered", "reports"):
            assert row[name] == want[name], (key, name)
        assert row["distance_km"] == pytest.approx(want["distance_km"], abs=METRE_KM)
        assert row["active_minutes"] == pytest.approx(want["active_minutes"], abs=1 / 60)
        assert (utc(row["first_report_at"]), utc(row["last_report_at"])) == (
            want["first_report_at"], want["last_report_at"]
        )


def test_hotspots_count_per_cell_and_hour(known_lake: tuple[Path, TransformSummary], spark: SparkSession) -> None:
    root, _ = known_lake
    cells = {(r["dt"], utc(r["hour"]), r["cell_id"]): r for r in table_rows(root, GOLD_HOTSPOTS)}
    expected = oracle_hotspots(500)
    assert set(cells) == set(expected)
    for key, cell in cells.items():
        want = expected[key]
        assert (cell["reports"], cell["couriers"], cell["orders"], cell["cell_m"]) == (
            want["reports"], want["couriers"], want["orders"], 500
        )
        assert cell["cell_latitude"] == pytest.approx(want["cell_latitude"], abs=1e-9)
        assert cell["cell_longitude"] == pytest.approx(want["cell_longitude"], abs=1e-9)

    silver = spark.read.parquet(str(root / SILVER_LOCATIONS.path))
    coarse = {(str(r["dt"]), utc(r["hour"]), r["cell_id"]): r["reports"] for r in hotspots(silver, 3000).collect()}
    assert coarse == {key: cell["reports"] for key, cell in oracle_hotspots(3000).items()}
    assert len(coarse) < len(cells)


def snapshot(root: Path) -> dict[str, list[dict[str, Any]]]:
    def key(table: LakeTable) -> Any:
        return lambda row: tuple(row[name] for name in SORT_KEYS[sql_name(table)])

    return {sql_name(t): sorted(table_rows(root, t), key=key(t)) for t in DERIVED_TABLES}


def file_names(root: Path, day: str) -> dict[str, list[str]]:
    return {sql_name(t): sorted(p.name for p in staged_parquet(root / t.partition_path(day))) for t in DERIVED_TABLES}


def test_a_rerun_replaces_each_day_with_identical_rows(
    spark: SparkSession, known_lake: tuple[Path, TransformSummary], tmp_path: Path
) -> None:
    root = copy_lake(known_lake[0], tmp_path / "lake")
    lake = open_lake(str(root))
    before = snapshot(root)
    files_before = {day: file_names(root, day) for day in DAYS}

    summary = transform_days(spark, lake, [*DAYS, "2026-02-27"])

    assert [(d.day, d.action) for d in summary.days] == [("2026-02-27", "skip"), *((d, "write") for d in DAYS)]
    assert snapshot(root) == before
    for day in DAYS:
        for table, names in file_names(root, day).items():
            assert len(names) == len(files_before[day][table]), "replaced, not added to"
            assert set(names).isdisjoint(files_before[day][table])
    assert changed_days(lake) == []
    add_late_report(root)
    assert changed_days(lake) == [DAYS[1]]


def add_late_report(root: Path) -> None:
    """One more report of the night order on day two, in a bronze file of its own."""
    last = next(r for r in known_reports() if r.msg_id == "o-night-04")
    row = {c.name: getattr(last, c.name, None) for c in BRONZE_LOCATIONS.columns}
    row.update(msg_id="o-night-05", delivery_state="arrived", timestamp=last.timestamp + timedelta(seconds=60),
               longitude=last.longitude + 0.001, ingested_at=datetime(2026, 3, 5, tzinfo=UTC))
    pq.write_table(pa.Table.from_pylist([row], schema=arrow_schema(BRONZE_LOCATIONS)),
                   root / BRONZE_LOCATIONS.partition_path(DAYS[1]) / "part-late.parquet")


def test_an_s3_lake_gets_the_same_tables_as_a_directory(
    known_lake: tuple[Path, TransformSummary], known_s3_lake: str, s3_endpoint: str
) -> None:
    local = LocalEngine(parse_lake_url(str(known_lake[0])), "deliverer")
    remote = LocalEngine(parse_lake_url(known_s3_lake), "deliverer", S3Settings(endpoint_url=s3_endpoint))
    with local, remote:
        for table, keys in SORT_KEYS.items():
            sql = f"SELECT * FROM {table} ORDER BY {', '.join(keys)}"
            assert remote.execute(sql).rows == local.execute(sql).rows, table
    assert changed_days(open_lake(known_s3_lake)) == []
