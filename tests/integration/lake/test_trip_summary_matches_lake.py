"""The API's trip summary and the lake's gold/order_trips give one trip one distance, duration and speed:
the service (deliverer.services.trips) over a store holding the known reports, against the table Spark
built from the same reports."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from deliverer.services.trips import trip_summary
from deliverer.store.memory import MemoryStore
from spark_jobs.tables import GOLD_ORDER_TRIPS
from spark_jobs.transforms.run import TransformSummary
from tests.integration.lake.known_lake import DUPLICATED, day_of, known_reports


def test_a_trip_of_one_day_is_the_same_in_the_api_and_in_the_lake(known_lake: tuple[Path, TransformSummary]) -> None:
    root, _ = known_lake
    partitioning = ds.partitioning(pa.schema([("dt", pa.string())]), flavor="hive")
    rows = ds.dataset(root / GOLD_ORDER_TRIPS.path, format="parquet", partitioning=partitioning).to_table().to_pylist()
    lake = {(row["order_id"], row["dt"]): row for row in rows}
    reports = known_reports()
    store = MemoryStore()
    # The lake's bronze holds moved second copies of a few keys: the store refuses them, the lake drops them.
    moved = [r.model_copy(update={"latitude": r.latitude + 0.01}) for r in reports if r.msg_id in DUPLICATED]
    store.insert_batch([*reports, *moved])
    days: dict[str, set[str]] = defaultdict(set)
    for report in reports:
        days[report.order_id].add(day_of(report.timestamp))
    one_day = sorted(order for order, seen in days.items() if len(seen) == 1)
    assert len(one_day) >= 3

    for order in one_day:
        api = trip_summary(store, order).to_json_dict()
        gold = lake[(order, days[order].pop())]
        assert (api["points"], api["delivery_state"]) == (gold["points"], gold["final_state"]), order
        assert api["distance_km"] == pytest.approx(gold["distance_km"], abs=1e-4), order  # the API rounds to 0.1 m
        assert api["duration_s"] == pytest.approx(gold["duration_s"], abs=1e-3), order
        if gold["avg_speed_kmh"] is None:
            assert api["avg_speed_kmh"] is None, order
        else:
            assert api["avg_speed_kmh"] == pytest.approx(gold["avg_speed_kmh"], abs=0.01), order
        first, last = api["first"], api["last"]
        assert (first["latitude"], first["longitude"]) == (gold["start_latitude"], gold["start_longitude"]), order
        assert (last["latitude"], last["longitude"]) == (gold["end_latitude"], gold["end_longitude"]), order
