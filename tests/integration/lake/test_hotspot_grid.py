"""The hotspot grid at the edges of the globe: cells stay within [-90, 90] x [-180, 180) with a positive
width, near the poles and across the antimeridian, and every report lies inside its own cell."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from spark_jobs.spark.schema import spark_schema
from spark_jobs.tables import BRONZE_LOCATIONS
from spark_jobs.transforms.frames import DAY
from spark_jobs.transforms.geo import GRID_PARTS, METRES_PER_DEGREE, with_grid_cell
from spark_jobs.transforms.hotspots import hotspots
from spark_jobs.transforms.silver import silver_locations

EDGES = [(89.9999, 10.0), (90.0, -180.0), (90.0, 180.0), (-90.0, 0.0), (-89.99995, 179.9999), (0.0, 180.0),
         (0.0, -180.0), (0.0, 179.99999999), (45.0, -179.9999999), (-45.0, 9.0)]

latitudes = st.one_of(
    st.floats(-90, 90), st.floats(89.99, 90), st.floats(-90, -89.99), st.sampled_from([-90.0, 0.0, 90.0])
)
longitudes = st.one_of(
    st.floats(-180, 180), st.floats(179.99, 180), st.floats(-180, -179.99), st.sampled_from([-180.0, 0.0, 180.0])
)
CELL_SIZES = [1, 37, 500, 3000, 250_000, 20_000_000]


def cells_of(spark: SparkSession, points: list[tuple[float, float]]) -> dict[int, list[dict[str, Any]]]:
    """Each point's cell in grids of every size of CELL_SIZES, computed in one Spark job."""
    frame = spark.createDataFrame(points, "latitude double, longitude double")
    for size in CELL_SIZES:
        frame = with_grid_cell(frame, size, prefix=f"g{size}_")
    rows = frame.collect()
    return {
        size: [
            {"latitude": r["latitude"], "longitude": r["longitude"]}
            | {f"cell_{part}": r[f"g{size}_{part}"] for part in GRID_PARTS}
            for r in rows
        ]
        for size in CELL_SIZES
    }


@settings(max_examples=6, deadline=None)
@given(points=st.lists(st.tuples(latitudes, longitudes), min_size=1, max_size=500))
@example(points=EDGES)
def test_every_report_lies_inside_its_cell_and_every_cell_on_the_globe(
    spark: SparkSession, points: list[tuple[float, float]]
) -> None:
    for cell_m, cells in cells_of(spark, points).items():
        bounds: dict[str, tuple[float, float, float, float]] = {}
        for c in cells:
            longitude = -180.0 if c["longitude"] == 180 else c["longitude"]  # one meridian, two names
            south, north, west, east = edges = c["cell_south"], c["cell_north"], c["cell_west"], c["cell_east"]
            assert -90 <= south <= c["latitude"] <= north <= 90, (cell_m, c)
            assert c["latitude"] < north or north == 90, (cell_m, c)
            assert -180 <= west <= longitude < east <= 180, (cell_m, c)
            assert south < c["cell_latitude"] < north and west < c["cell_longitude"] < east, (cell_m, c)
            assert bounds.setdefault(c["cell_id"], edges) == edges, "one id, one cell"
            if east - west < 360:  # a band of several columns: each about cell_m wide
                width_m = (east - west) * METRES_PER_DEGREE * math.cos(math.radians(c["cell_latitude"]))
                assert cell_m * (1 - 1e-9) <= width_m < 2 * cell_m, (cell_m, c)


def test_the_antimeridian_is_one_meridian_that_no_cell_straddles(spark: SparkSession) -> None:
    for cells in cells_of(spark, EDGES).values():
        cell_of = {(c["latitude"], c["longitude"]): c for c in cells}
        assert cell_of[(90.0, 180.0)]["cell_id"] == cell_of[(90.0, -180.0)]["cell_id"]
        assert cell_of[(0.0, 180.0)]["cell_id"] == cell_of[(0.0, -180.0)]["cell_id"]
        assert cell_of[(0.0, 180.0)]["cell_west"] == -180.0
        assert cell_of[(0.0, 179.99999999)]["cell_east"] == 180.0


@pytest.mark.parametrize("cell_m", [500, 3000])
def test_hotspot_cells_near_the_poles_and_the_antimeridian_are_on_the_globe(spark: SparkSession, cell_m: int) -> None:
    moment = datetime(2026, 3, 1, 10, tzinfo=UTC)
    rows = [
        (f"m{i}", "o1", "d1", "on_the_way", moment, lat, lon, None, None, None, None, moment)
        for i, (lat, lon) in enumerate(EDGES)
    ]
    bronze = spark.createDataFrame(rows, spark_schema(BRONZE_LOCATIONS))
    cells = hotspots(silver_locations(bronze.withColumn(DAY, F.lit("2026-03-01"))), cell_m).collect()
    assert sum(c["reports"] for c in cells) == len(EDGES)
    for cell in cells:
        assert -90 <= cell["cell_latitude"] <= 90, cell
        assert -180 <= cell["cell_longitude"] < 180, cell
