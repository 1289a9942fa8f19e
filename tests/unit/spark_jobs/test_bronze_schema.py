"""The bronze schema, defined once, against the store's scan rows and the Arrow batches built from them."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from deliverer.store.base import EXPORT_COLUMNS
from spark_jobs.days import day_bounds
from spark_jobs.export.spark_writer import DayWriteOptions
from spark_jobs.export.store_source import rows_to_batch, time_slices
from spark_jobs.storage.parquet import arrow_schema
from spark_jobs.tables import BRONZE_LOCATIONS

START = datetime(2026, 3, 1, tzinfo=UTC)


def test_bronze_columns_are_the_store_scan_columns_in_order() -> None:
    assert BRONZE_LOCATIONS.column_names == EXPORT_COLUMNS
    assert BRONZE_LOCATIONS.path == "bronze/locations"
    assert BRONZE_LOCATIONS.partition_path("2026-03-01") == "bronze/locations/dt=2026-03-01"


def test_the_bronze_files_hold_instants_doubles_and_64_bit_integers() -> None:
    schema = arrow_schema(BRONZE_LOCATIONS)
    assert schema.field("timestamp").type == pa.timestamp("us", tz="UTC")
    assert schema.field("latitude").type == pa.float64()
    assert schema.field("seq").type == pa.int64()
    assert not schema.field("msg_id").nullable and schema.field("speed_kmh").nullable


def test_scan_rows_become_one_arrow_batch() -> None:
    moment = START + timedelta(hours=1, milliseconds=5)
    rows = [
        ("m1", "o1", "d1", "start", moment, 45.1, 9.2, None, None, None, None, moment),
        ("m2", "o1", "d1", "arrived", moment, 45.2, 9.3, 12.5, 90.0, 4.0, 7, moment),
    ]
    batch = rows_to_batch(rows, arrow_schema(BRONZE_LOCATIONS))
    assert batch.num_rows == 2
    assert batch.column("timestamp").to_pylist() == [moment, moment]
    assert batch.column("seq").to_pylist() == [None, 7]


def test_time_slices_cover_the_range_without_gaps_on_whole_milliseconds() -> None:
    end = START + timedelta(days=1)
    slices = time_slices(START, end, 7)
    assert len(slices) == 7
    assert slices[0].start == START and slices[-1].end == end
    for before, after in itertools.pairwise(slices):
        assert before.end == after.start
        assert after.start.microsecond % 1000 == 0


def test_time_slices_never_split_below_a_millisecond() -> None:
    assert len(time_slices(START, START + timedelta(milliseconds=3), 10)) == 3
    with pytest.raises(ValueError):
        time_slices(START, START, 2)


@pytest.mark.parametrize(
    ("rows", "max_slices", "cores", "slices"),
    [(10, None, 8, 1), (250_000, None, 8, 3), (5_000_000, None, 8, 8), (5_000_000, 2, 8, 2), (0, None, 2, 1)],
)
def test_a_day_gets_one_slice_per_hundred_thousand_rows_up_to_the_cores(
    rows: int, max_slices: int | None, cores: int, slices: int
) -> None:
    assert DayWriteOptions(max_slices=max_slices).slices_for(rows, cores) == slices


def test_day_bounds_are_utc_midnights() -> None:
    assert day_bounds("2026-03-01") == (START, START + timedelta(days=1))
