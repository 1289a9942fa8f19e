"""Every lake table, defined once and without naming an engine: its path, columns, types, nullability and
meaning.

Each engine's form is derived from these definitions where that engine is used: the Spark schemas in
:mod:`spark_jobs.spark.schema`, the Arrow (Parquet) schemas in :mod:`spark_jobs.storage.parquet`, the
DuckDB views in :mod:`spark_jobs.sql.duckdb_engine` and the Athena DDL in
:mod:`spark_jobs.sql.athena_ddl`. So the commands that need no Spark (prune, query, athena ddl) read the
tables without loading it.

Timestamps are instants: Parquet INT64 microseconds adjusted to UTC (see :mod:`spark_jobs.spark.session`),
which Athena, DuckDB, pyarrow and Spark all read as instants.

SQL names are ``<layer>_<name>`` (``silver_locations``, ``gold_order_trips``): bronze and silver both
hold ``locations``, and one flat namespace is what an Athena database offers.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from spark_jobs.defaults import ACTIVE_GAP_MINUTES


class ColumnType(Enum):
    """What a column holds. Every engine's module maps each member to its own type."""

    STRING = "string"
    DOUBLE = "double"
    BIGINT = "bigint"
    """64-bit integer."""
    INT = "int"
    """32-bit integer."""
    TIMESTAMP = "timestamp"
    """An instant, microsecond precision, in UTC."""
    STRING_ARRAY = "array<string>"


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    nullable: bool
    description: str


@dataclass(frozen=True)
class LakeTable:
    """A Parquet table in the lake at ``<lake>/<layer>/<name>/<partition>=<value>/*.parquet``."""

    layer: str
    name: str
    columns: tuple[Column, ...]
    """The columns of the files, in order (the partition column lives in the directory name, not the files)."""
    partition: Column
    description: str

    @property
    def path(self) -> str:
        """The table's directory relative to the lake root, e.g. ``bronze/locations``."""
        return f"{self.layer}/{self.name}"

    def partition_path(self, value: str) -> str:
        return f"{self.path}/{self.partition.name}={value}"

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


def sql_name(table: LakeTable) -> str:
    return f"{table.layer}_{table.name}"


STRING = ColumnType.STRING
DOUBLE = ColumnType.DOUBLE
BIGINT = ColumnType.BIGINT
INT = ColumnType.INT
TIMESTAMP = ColumnType.TIMESTAMP
STRING_ARRAY = ColumnType.STRING_ARRAY

DAY_PARTITION = Column("dt", STRING, False, "UTC day of `timestamp`, YYYY-MM-DD")

# Same columns, same order as the store's ``scan`` rows (``deliverer.store.base.EXPORT_COLUMNS``).
BRONZE_LOCATIONS = LakeTable(
    layer="bronze",
    name="locations",
    description="Every stored location report, as stored: one row per report ((deliverer_id, msg_id) unique per day).",
    partition=DAY_PARTITION,
    columns=(
        Column("msg_id", STRING, False, "the report's id; with deliverer_id, its idempotency key"),
        Column("order_id", STRING, False, "the order being delivered"),
        Column("deliverer_id", STRING, False, "the courier"),
        Column("delivery_state", STRING, False, "start | on_the_way | arrived"),
        Column("timestamp", TIMESTAMP, False, "when the device took the fix (UTC, ms precision)"),
        Column("latitude", DOUBLE, False, "degrees, WGS 84"),
        Column("longitude", DOUBLE, False, "degrees, WGS 84"),
        Column("speed_kmh", DOUBLE, True, "speed reported by the device, km/h"),
        Column("heading", DOUBLE, True, "direction of travel reported by the device, degrees"),
        Column("accuracy_m", DOUBLE, True, "horizontal accuracy reported by the device, metres"),
        Column("seq", BIGINT, True, "the device's sequence number for the order"),
        Column("ingested_at", TIMESTAMP, False, "when the store accepted the report (UTC)"),
    ),
)

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
        Column("hour", TIMESTAMP, False, "start of the UTC hour of `timestamp`"),
        Column("report_index", INT, False, "position of the report in its order's day, from 1"),
        Column("leg_km", DOUBLE, True, f"haversine distance {LEG}, km; null for the first"),
        Column("leg_seconds", DOUBLE, True, f"time {LEG}, seconds; null for the first"),
        Column("leg_speed_kmh", DOUBLE, True, "leg_km over leg_seconds, km/h; null when no time passed"),
    ),
)

GOLD_ORDER_TRIPS = LakeTable(
    layer="gold",
    name="order_trips",
    description="One row per order and UTC day: the trip its reports trace.",
    partition=DAY_PARTITION,
    columns=(
        Column("order_id", STRING, False, "the order"),
        Column("deliverer_id", STRING, False, "the courier of the order's last report that day"),
        Column("first_report_at", TIMESTAMP, False, "the order's first report that day (UTC)"),
        Column("last_report_at", TIMESTAMP, False, "the order's last report that day (UTC)"),
        Column("duration_s", DOUBLE, False, "last_report_at - first_report_at, seconds"),
        Column("points", BIGINT, False, "reports"),
        Column("states_seen", STRING_ARRAY, False, "delivery states, in the order first seen"),
        Column("final_state", STRING, False, "delivery state of the last report"),
        Column("distance_km", DOUBLE, False, "sum of the legs (haversine), km"),
        Column("avg_speed_kmh", DOUBLE, True, "distance_km over duration_s, km/h; null when duration is 0"),
        Column("max_speed_kmh", DOUBLE, True, "fastest leg, km/h; null when no leg took time"),
        Column("start_latitude", DOUBLE, False, "first report's latitude"),
        Column("start_longitude", DOUBLE, False, "first report's longitude"),
        Column("end_latitude", DOUBLE, False, "last report's latitude"),
        Column("end_longitude", DOUBLE, False, "last report's longitude"),
    ),
)

GOLD_DELIVERER_DAILY = LakeTable(
    layer="gold",
    name="deliverer_daily",
    description="One row per courier and UTC day.",
    partition=DAY_PARTITION,
    columns=(
        Column("deliverer_id", STRING, False, "the courier"),
        Column("orders", BIGINT, False, "orders the courier reported on"),
        Column("orders_delivered", BIGINT, False, "of those, orders whose last report that day is arrived"),
        Column("reports", BIGINT, False, "reports"),
        Column("distance_km", DOUBLE, False, "sum of the legs of the courier's reports, km"),
        Column(
            "active_minutes", DOUBLE, False,
            f"time between consecutive reports of the courier, gaps over {ACTIVE_GAP_MINUTES} minutes left out",
        ),
        Column("first_report_at", TIMESTAMP, False, "the courier's first report that day (UTC)"),
        Column("last_report_at", TIMESTAMP, False, "the courier's last report that day (UTC)"),
    ),
)

GOLD_HOTSPOTS = LakeTable(
    layer="gold",
    name="hotspots",
    description="Report density per grid cell and UTC hour: where couriers cluster.",
    partition=DAY_PARTITION,
    columns=(
        Column("hour", TIMESTAMP, False, "start of the UTC hour"),
        Column(
            "cell_id", STRING, False,
            "the grid cell: <row>:<column>, rows cell_m high from latitude -90, columns about cell_m wide"
            " from longitude -180",
        ),
        Column("cell_m", INT, False, "the grid's cell size, metres"),
        Column("cell_latitude", DOUBLE, False, "latitude of the cell's centre"),
        Column("cell_longitude", DOUBLE, False, "longitude of the cell's centre"),
        Column("reports", BIGINT, False, "reports in the cell that hour"),
        Column("couriers", BIGINT, False, "distinct couriers"),
        Column("orders", BIGINT, False, "distinct orders"),
    ),
)

DERIVED_TABLES: tuple[LakeTable, ...] = (SILVER_LOCATIONS, GOLD_ORDER_TRIPS, GOLD_DELIVERER_DAILY, GOLD_HOTSPOTS)
"""What the transforms write from bronze, in the order they write it."""

ALL_TABLES: tuple[LakeTable, ...] = (BRONZE_LOCATIONS, *DERIVED_TABLES)
"""Every table in the lake: what the export writes, then what the transforms write."""
