"""A small lake whose every number is known: five routes over three UTC days, plus duplicates.

``ROUTES`` are straight rides at a fixed step; ``oracle_*`` compute what the transforms must give,
in plain Python with :func:`deliverer.geo.haversine_km`, so the Spark results are checked against
an independent implementation rather than against themselves.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
from pyspark.sql import SparkSession
from pyspark.sql.pandas.types import to_arrow_schema

from deliverer.contract import DeliveryState, LocationReport
from deliverer.geo import haversine_km
from spark_jobs.spark.schema import partitioned_schema
from spark_jobs.tables import BRONZE_LOCATIONS
from spark_jobs.transforms.geo import METRES_PER_DEGREE

DAYS = ["2026-03-01", "2026-03-02", "2026-03-03"]
START, ON_THE_WAY, ARRIVED = DeliveryState.START, DeliveryState.ON_THE_WAY, DeliveryState.ARRIVED
ACTIVE_GAP_S = 300
LEG_KM_NORTH = 6371.0088 * math.radians(0.001)
"""0.001 degree of latitude: 111.195 m."""


@dataclass(frozen=True)
class Route:
    order_id: str
    deliverer_id: str
    start: datetime
    offsets_s: tuple[float, ...]
    points: tuple[tuple[float, float], ...]
    states: tuple[DeliveryState, ...]

    def reports(self) -> list[LocationReport]:
        return [
            LocationReport(
                msg_id=f"{self.order_id}-{i:02d}", order_id=self.order_id, deliverer_id=self.deliverer_id,
                delivery_state=state, timestamp=self.start + timedelta(seconds=offset),
                latitude=lat, longitude=lon, speed_kmh=15.0, seq=i,
            )
            for i, (offset, (lat, lon), state) in enumerate(zip(self.offsets_s, self.points, self.states, strict=True))
        ]


def at(day: str, clock: str) -> datetime:
    return datetime.fromisoformat(f"{day}T{clock}+00:00").astimezone(UTC)


def _ride(count: int, step_s: float, first: tuple[float, float], step: tuple[float, float]) -> dict[str, Any]:
    return {
        "offsets_s": tuple(i * step_s for i in range(count)),
        "points": tuple((first[0] + i * step[0], first[1] + i * step[1]) for i in range(count)),
    }


ROUTES = (
    # North along a meridian, 11 fixes 30 s apart: 10 legs of 0.001 degree, 300 s, delivered.
    Route("o-north", "c1", at(DAYS[0], "10:00:00"), states=(START, *[ON_THE_WAY] * 9, ARRIVED),
          **_ride(11, 30, (45.4600, 9.1900), (0.001, 0))),
    # East along a parallel, 7 fixes a minute apart: 360 s, delivered.
    Route("o-east", "c2", at(DAYS[0], "10:05:00"), states=(START, *[ON_THE_WAY] * 5, ARRIVED),
          **_ride(7, 60, (45.4700, 9.2000), (0, 0.002))),
    # The same courier again after a 15-minute pause (not active time), never arrives.
    Route("o-late", "c1", at(DAYS[0], "10:20:00"), states=(START, *[ON_THE_WAY] * 4),
          **_ride(5, 20, (45.4650, 9.1950), (-0.0005, 0))),
    # Over midnight: two fixes on the first day, three on the second (one trip row per day).
    Route("o-night", "c3", at(DAYS[0], "23:58:00"), states=(START, *[ON_THE_WAY] * 3, ARRIVED),
          **_ride(5, 60, (45.4800, 9.1800), (0, 0.001))),
    # Standing still, with two fixes at the same instant (a leg of no time has no speed).
    Route("o-still", "c2", at(DAYS[2], "08:00:00"), states=(START, ON_THE_WAY, ON_THE_WAY, ARRIVED),
          offsets_s=(0, 30, 30, 60), points=((45.49, 9.21), (45.49, 9.21), (45.4901, 9.21), (45.49, 9.21))),
)


def known_reports() -> list[LocationReport]:
    return [report for route in ROUTES for report in route.reports()]


DUPLICATED = ("o-north-02", "o-north-05", "o-east-03")


def bronze_rows() -> list[dict[str, Any]]:
    """The reports as bronze rows (as the store would export them), plus second copies of a few
    first-day reports, stored an hour later and moved 1 km: deduplication must keep the first."""
    stored = datetime(2026, 3, 4, tzinfo=UTC)
    rows = [_bronze_row(r, stored) for r in known_reports()]
    duplicates = [_bronze_row(r, stored + timedelta(hours=1)) for r in known_reports() if r.msg_id in DUPLICATED]
    return rows + [{**row, "latitude": row["latitude"] + 0.01} for row in duplicates]


def _bronze_row(report: LocationReport, ingested_at: datetime) -> dict[str, Any]:
    row = {c.name: getattr(report, c.name, None) for c in BRONZE_LOCATIONS.columns}
    row.update(delivery_state=report.delivery_state.value, ingested_at=ingested_at, dt=day_of(report.timestamp))
    return row


def write_bronze(spark: SparkSession, root: Path) -> None:
    """Write the bronze rows as the export lays them out: ``bronze/locations/dt=…/`` snappy Parquet
    in the bronze schema, by Spark with the lake's session settings."""
    schema = partitioned_schema(BRONZE_LOCATIONS)
    frame = spark.createDataFrame(pa.Table.from_pylist(bronze_rows(), schema=to_arrow_schema(schema, timezone="UTC")))
    frame.repartition(1).write.partitionBy("dt").parquet(str(root / BRONZE_LOCATIONS.path))


# ---- the oracle: what every derived table must hold, computed without Spark ----


def day_of(moment: datetime) -> str:
    return moment.date().isoformat()


def oracle_silver() -> dict[str, dict[str, Any]]:
    """msg_id -> the silver row's derived columns."""
    by_order_day: dict[tuple[str, str], list[LocationReport]] = defaultdict(list)
    for r in known_reports():
        by_order_day[(r.order_id, day_of(r.timestamp))].append(r)
    rows = {}
    for (_, day), reports in by_order_day.items():
        reports.sort(key=lambda r: (r.timestamp, r.msg_id))
        previous = None
        for index, r in enumerate(reports, start=1):
            leg_km = leg_s = speed = None
            if previous is not None:
                leg_km = haversine_km(previous.latitude, previous.longitude, r.latitude, r.longitude)
                leg_s = (r.timestamp - previous.timestamp).total_seconds()
                speed = leg_km / leg_s * 3600 if leg_s > 0 else None
            rows[r.msg_id] = {
                "order_id": r.order_id, "deliverer_id": r.deliverer_id, "dt": day, "timestamp": r.timestamp,
                "latitude": r.latitude, "longitude": r.longitude, "state": r.delivery_state.value,
                "hour": r.timestamp.replace(minute=0, second=0, microsecond=0), "report_index": index,
                "leg_km": leg_km, "leg_seconds": leg_s, "leg_speed_kmh": speed,
            }
            previous = r
    return rows


def oracle_trips() -> dict[tuple[str, str], dict[str, Any]]:
    """(order_id, dt) -> the trip."""
    silver = oracle_silver()
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in silver.values():
        grouped[(row["order_id"], row["dt"])].append(row)
    trips = {}
    for key, rows in grouped.items():
        rows.sort(key=lambda row: row["report_index"])
        first, last = rows[0], rows[-1]
        duration = (last["timestamp"] - first["timestamp"]).total_seconds()
        distance = sum(row["leg_km"] or 0.0 for row in rows)
        speeds = [row["leg_speed_kmh"] for row in rows if row["leg_speed_kmh"] is not None]
        trips[key] = {
            "deliverer_id": last["deliverer_id"], "first_report_at": first["timestamp"],
            "last_report_at": last["timestamp"], "duration_s": duration, "points": len(rows),
            "states_seen": list(dict.fromkeys(row["state"] for row in rows)), "final_state": last["state"],
            "distance_km": distance, "avg_speed_kmh": distance / duration * 3600 if duration > 0 else None,
            "max_speed_kmh": max(speeds) if speeds else None,
            "start": (first["latitude"], first["longitude"]), "end": (last["latitude"], last["longitude"]),
        }
    return trips


def oracle_daily() -> dict[tuple[str, str], dict[str, Any]]:
    """(deliverer_id, dt) -> the courier's day."""
    silver = oracle_silver()
    trips = oracle_trips()
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in silver.values():
        grouped[(row["deliverer_id"], row["dt"])].append(row)
    daily = {}
    for (courier, day), rows in grouped.items():
        times = sorted(row["timestamp"] for row in rows)
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
        daily[(courier, day)] = {
            "orders": len({row["order_id"] for row in rows}),
            "orders_delivered": sum(
                1 for (_, d), t in trips.items()
                if d == day and t["deliverer_id"] == courier and t["final_state"] == ARRIVED.value
            ),
            "reports": len(rows),
            "distance_km": sum(row["leg_km"] or 0.0 for row in rows),
            "active_minutes": sum(g for g in gaps if g <= ACTIVE_GAP_S) / 60,
            "first_report_at": times[0], "last_report_at": times[-1],
        }
    return daily


def grid_cell(lat: float, lon: float, cell_m: int) -> tuple[str, float, float]:
    """Bands of cell_m from the south pole, each cut into whole columns about cell_m wide from 180°W
    (the known routes are far from the poles and the antimeridian: no edge cases here)."""
    band_deg = cell_m / METRES_PER_DEGREE
    bands = math.ceil(180 / band_deg)
    row = math.floor((lat + 90) / band_deg)
    south = -90 + row * band_deg
    north = 90.0 if row == bands - 1 else -90 + (row + 1) * band_deg
    centre_lat = (south + north) / 2
    columns = max(1, math.floor(360 * math.cos(math.radians(centre_lat)) / band_deg))
    column_deg = 360 / columns
    column = math.floor((lon + 180) / column_deg)
    return f"{row}:{column}", centre_lat, -180 + (column + 0.5) * column_deg


def oracle_hotspots(cell_m: int = 500) -> dict[tuple[str, datetime, str], dict[str, Any]]:
    """(dt, hour, cell_id) -> the cell's counts."""
    cells: dict[tuple[str, datetime, str], dict[str, Any]] = {}
    for row in oracle_silver().values():
        cell_id, lat, lon = grid_cell(row["latitude"], row["longitude"], cell_m)
        cell = cells.setdefault(
            (row["dt"], row["hour"], cell_id),
            {"cell_latitude": lat, "cell_longitude": lon, "reports": 0, "couriers": set(), "orders": set()},
        )
        cell["reports"] += 1
        cell["couriers"].add(row["deliverer_id"])
        cell["orders"].add(row["order_id"])
    return {
        key: {**cell, "couriers": len(cell["couriers"]), "orders": len(cell["orders"])} for key, cell in cells.items()
    }
