"""The local engine: DuckDB over the known lake, in a directory and on the moto S3 endpoint. Every ready
query returns the rows worked out from the known routes, the same on both."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from spark_jobs.sql.duckdb_engine import LocalEngine, S3Settings, duckdb_type
from spark_jobs.sql.ready_queries import ready_queries, ready_query
from spark_jobs.storage.location import parse_lake_url
from spark_jobs.tables import ALL_TABLES, sql_name
from spark_jobs.transforms.run import TransformSummary
from tests.helpers import REPO
from tests.integration.lake.known_lake import known_reports, oracle_daily, oracle_hotspots, oracle_trips

Row = tuple[Any, ...]


def expected_rows() -> dict[str, list[Row]]:
    """What each ready query must return on the known lake, from the independent oracle."""
    trips, daily, cells = oracle_trips(), oracle_daily(), oracle_hotspots()

    by_state: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for (_, day), trip in trips.items():
        by_state[(day, trip["final_state"])].append(trip)
    deliveries = [
        (day, state, len(ts), round(sum(t["duration_s"] for t in ts) / len(ts) / 60, 1),
         round(sum(t["distance_km"] for t in ts) / len(ts), 2))
        for (day, state), ts in sorted(by_state.items())
    ]

    arrived = sorted(
        ((order, day, t) for (order, day), t in trips.items() if t["final_state"] == "arrived"),
        key=lambda item: (-item[2]["duration_s"], item[0], item[1]),
    )
    slowest = [
        (order, t["deliverer_id"], day, round(t["duration_s"] / 60, 1), round(t["distance_km"], 2),
         round(t["avg_speed_kmh"], 1), t["points"])
        for order, day, t in arrived[:10]
    ]

    couriers: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for (courier, _), row in daily.items():
        couriers[courier].append(row)
    leaderboard = sorted(
        ((courier, sum(d["orders_delivered"] for d in days), sum(d["orders"] for d in days),
          round(sum(d["distance_km"] for d in days), 2), round(sum(d["active_minutes"] for d in days) / 60, 2),
          len(days))
         for courier, days in couriers.items()),
        key=lambda r: (-r[1], -r[3], r[0]),
    )[:10]

    newest = max(hour for _, hour, _ in cells)
    last_hour = sorted(
        ((hour.strftime("%Y-%m-%d %H:%M:%S.000"), cell_id, round(c["cell_latitude"], 5),
          round(c["cell_longitude"], 5), c["reports"], c["couriers"], c["orders"])
         for (_, hour, cell_id), c in cells.items() if hour == newest),
        key=lambda r: (-r[4], -r[5], r[1]),
    )[:10]
    return {
        "deliveries_per_day_and_state": deliveries,
        "slowest_orders": slowest,
        "courier_leaderboard": leaderboard,
        "hotspots_last_hour": last_hour,
    }


EXPECTED = expected_rows()


def test_the_expectations_say_something() -> None:
    assert [r[:3] for r in EXPECTED["deliveries_per_day_and_state"]] == [
        ("2026-03-01", "arrived", 2), ("2026-03-01", "on_the_way", 2), ("2026-03-02", "arrived", 1),
        ("2026-03-03", "arrived", 1),
    ]
    assert [(r[0], r[2], r[3]) for r in EXPECTED["slowest_orders"]] == [
        ("o-east", "2026-03-01", 6.0), ("o-north", "2026-03-01", 5.0), ("o-night", "2026-03-02", 2.0),
        ("o-still", "2026-03-03", 1.0),
    ]
    assert [r[:2] for r in EXPECTED["courier_leaderboard"]] == [("c2", 2), ("c1", 1), ("c3", 1)]
    assert {r[0] for r in EXPECTED["hotspots_last_hour"]} == {"2026-03-03 08:00:00.000"}


@pytest.mark.parametrize("name", list(ready_queries()))
def test_each_ready_query_on_a_lake_directory(name: str, known_lake: tuple[Path, TransformSummary]) -> None:
    with LocalEngine(parse_lake_url(str(known_lake[0])), "deliverer") as engine:
        assert engine.execute(ready_query(name).sql).rows == EXPECTED[name]


@pytest.mark.parametrize("name", list(ready_queries()))
def test_each_ready_query_on_the_s3_endpoint(name: str, known_s3_lake: str, s3_endpoint: str) -> None:
    with LocalEngine(parse_lake_url(known_s3_lake), "deliverer", S3Settings(endpoint_url=s3_endpoint)) as engine:
        assert engine.execute(ready_query(name).sql).rows == EXPECTED[name]


def test_every_table_is_a_typed_view_in_the_database(known_lake: tuple[Path, TransformSummary]) -> None:
    with LocalEngine(parse_lake_url(str(known_lake[0])), "ops") as engine:
        for table in ALL_TABLES:
            described = engine.execute(f"DESCRIBE ops.{sql_name(table)}").rows
            assert [(r[0], r[1]) for r in described] == [
                (c.name, duckdb_type(c.type)) for c in (*table.columns, table.partition)
            ]
        qualified = engine.execute("SELECT count(*) FROM ops.silver_locations").rows
        assert qualified == engine.execute("SELECT count(*) FROM silver_locations").rows == [(len(known_reports()),)]
        assert engine.execute("SELECT dt, count(*) FROM gold_order_trips GROUP BY dt ORDER BY dt").rows == [
            ("2026-03-01", 4), ("2026-03-02", 1), ("2026-03-03", 1),
        ]


def test_an_empty_lake_answers_every_ready_query_with_no_rows(tmp_path: Path) -> None:
    (tmp_path / "nothing-yet").mkdir()
    with LocalEngine(parse_lake_url(str(tmp_path / "nothing-yet")), "deliverer") as engine:
        for query in ready_queries().values():
            result = engine.execute(query.sql)
            assert result.rows == [] and result.columns, query.name


def deliverer(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deliverer_cli.main", *args], cwd=REPO, capture_output=True, text=True, timeout=120
    )


def test_the_query_command_on_both_lake_kinds(
    known_lake: tuple[Path, TransformSummary], known_s3_lake: str, s3_endpoint: str
) -> None:
    ran = deliverer("query", "--ready", "courier_leaderboard", "--lake", known_s3_lake, "--format", "json")
    assert ran.returncode == 0, ran.stderr
    columns = ["deliverer_id", "delivered", "orders", "km", "active_hours", "days"]
    assert json.loads(ran.stdout) == [dict(zip(columns, r, strict=True)) for r in EXPECTED["courier_leaderboard"]]
    assert "local: 3 rows in" in ran.stderr

    sql = "SELECT order_id, points FROM deliverer.gold_order_trips WHERE dt = '2026-03-02'"
    ran = deliverer("query", sql, "--lake", str(known_lake[0]))
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines() == ["order_id  points", "--------  ------", "o-night        3", "(1 row)"]

    ran = deliverer("query", "SELECT kms FROM gold_order_trips", "--lake", str(known_lake[0]))
    assert ran.returncode == 1
    assert 'Referenced column "kms" not found' in ran.stderr


def test_a_lake_directory_that_does_not_exist_is_an_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-lake"
    ran = deliverer("query", "SELECT count(*) FROM bronze_locations", "--lake", str(missing))
    assert (ran.returncode, ran.stdout) == (2, "")
    assert f"deliverer query: the lake directory {missing} does not exist" in ran.stderr
    assert not missing.exists()
