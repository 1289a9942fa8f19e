"""Every lake table and the SQL name it has on both query engines.

Bronze is defined in :mod:`spark_jobs.schemas`; the silver and gold tables the transforms write are
defined here, with the same :class:`~spark_jobs.schemas.LakeTable` description, so that the Spark
writers, the Athena DDL and the DuckDB views all derive from one definition per table.

SQL names are ``<layer>_<name>`` (``silver_locations``, ``gold_order_trips``): bronze and silver
both hold ``locations``, and one flat namespace is what an Athena database offers.
"""

from __future__ import annotations

from pyspark.sql.types import ArrayType, DoubleType, IntegerType, LongType, StringType, TimestampType

from spark_jobs.schemas import BRONZE_LOCATIONS, DAY_PARTITION, LAKE_TABLES, Column, LakeTable
from spark_jobs.transforms.defaults import ACTIVE_GAP_MINUTES

LEG = "from the order's previous report that day to this one"

SILVER_LOCATIONS = LakeTable(
    layer="silver",
    name="locations",
    description="Location reports deduplicated by key (deliverer_id, msg_id), ordered per order, with the leg"
    " from the order's previous report. Legs are measured within the UTC day: an order's first report of a day"
    " has none.",
    partition=DAY_PARTITION,
    columns=(
        *BRONZE_LOCATIONS.columns,
        Column("hour", TimestampType(), False, "start of the UTC hour of `timestamp`"),
        Column("report_index", IntegerType(), False, "position of the report in its order's day, from 1"),
        Column("leg_km", DoubleType(), True, f"haversine distance {LEG}, km; null for the first"),
        Column("leg_seconds", DoubleType(), True, f"time {LEG}, seconds; null for the first"),
        Column("leg_speed_kmh", DoubleType(), True, "leg_km over leg_seconds, km/h; null when no time passed"),
    ),
)

GOLD_ORDER_TRIPS = LakeTable(
    layer="gold",
    name="order_trips",
    description="One row per order and UTC day: the trip its reports trace.",
    partition=DAY_PARTITION,
    columns=(
        Column("order_id", StringType(), False, "the order"),
        Column("deliverer_id", StringType(), False, "the courier of the order's last report that day"),
        Column("first_report_at", TimestampType(), False, "the order's first report that day (UTC)"),
        Column("last_report_at", TimestampType(), False, "the order's last report that day (UTC)"),
        Column("duration_s", DoubleType(), False, "last_report_at - first_report_at, seconds"),
        Column("points", LongType(), False, "reports"),
        Column("states_seen", ArrayType(StringType()), False, "delivery states, in the order first seen"),
        Column("final_state", StringType(), False, "delivery state of the last report"),
        Column("distance_km", DoubleType(), False, "sum of the legs (haversine), km"),
        Column("avg_speed_kmh", DoubleType(), True, "distance_km over duration_s, km/h; null when duration is 0"),
        Column("max_speed_kmh", DoubleType(), True, "fastest leg, km/h; null when no leg took time"),
        Column("start_latitude", DoubleType(), False, "first report's latitude"),
        Column("start_longitude", DoubleType(), False, "first report's longitude"),
        Column("end_latitude", DoubleType(), False, "last report's latitude"),
        Column("end_longitude", DoubleType(), False, "last report's longitude"),
    ),
)

GOLD_DELIVERER_DAILY = LakeTable(
    layer="gold",
    name="deliverer_daily",
    description="One row per courier and UTC day.",
    partition=DAY_PARTITION,
    columns=(
        Column("deliverer_id", StringType(), False, "the courier"),
        Column("orders", LongType(), False, "orders the courier reported on"),
        Column("orders_delivered", LongType(), False, "of those, orders whose last report that day is arrived"),
        Column("reports", LongType(), False, "reports"),
        Column("distance_km", DoubleType(), False, "sum of the legs of the courier's reports, km"),
        Column(
            "active_minutes", DoubleType(), False,
            f"time between consecutive reports of the courier, gaps over {ACTIVE_GAP_MINUTES} minutes left out",
        ),
        Column("first_report_at", TimestampType(), False, "the courier's first report that day (UTC)"),
        Column("last_report_at", TimestampType(), False, "the courier's last report that day (UTC)"),
    ),
)

GOLD_HOTSPOTS = LakeTable(
    layer="gold",
    name="hotspots",
    description="Report density per grid cell and UTC hour: where couriers cluster.",
    partition=DAY_PARTITION,
    columns=(
        Column("hour", TimestampType(), False, "start of the UTC hour"),
        Column(
            "cell_id", StringType(), False,
            "the grid cell: <row>:<column>, rows cell_m high from latitude -90, columns about cell_m wide"
            " from longitude -180",
        ),
        Column("cell_m", IntegerType(), False, "the grid's cell size, metres"),
        Column("cell_latitude", DoubleType(), False, "latitude of the cell's centre"),
        Column("cell_longitude", DoubleType(), False, "longitude of the cell's centre"),
        Column("reports", LongType(), False, "reports in the cell that hour"),
        Column("couriers", LongType(), False, "distinct couriers"),
        Column("orders", LongType(), False, "distinct orders"),
    ),
)

DERIVED_TABLES: tuple[LakeTable, ...] = (SILVER_LOCATIONS, GOLD_ORDER_TRIPS, GOLD_DELIVERER_DAILY, GOLD_HOTSPOTS)
"""What the transforms write, in the order they write it."""

ALL_TABLES: tuple[LakeTable, ...] = (*LAKE_TABLES, *DERIVED_TABLES)


def sql_name(table: LakeTable) -> str:
    return f"{table.layer}_{table.name}"


