"""Spark column expressions for distances and the hotspot grid.

The haversine is :func:`deliverer.geo.haversine_km` written with Spark functions, step for step
and with the same radius, so that the lake and the API give the same trip the same length.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from deliverer.geo import EARTH_RADIUS_KM

METRES_PER_DEGREE = EARTH_RADIUS_KM * 1000 * math.pi / 180
"""Length of one degree of latitude (and of longitude at the equator) on the same sphere."""


def haversine_km(lat1: Column, lon1: Column, lat2: Column, lon2: Column) -> Column:
    phi1, phi2 = F.radians(lat1), F.radians(lat2)
    d_phi = phi2 - phi1
    d_lambda = F.radians(lon2 - lon1)
    a = F.pow(F.sin(d_phi / 2), 2) + F.cos(phi1) * F.cos(phi2) * F.pow(F.sin(d_lambda / 2), 2)
    root = F.sqrt(a)
    # min(1, sqrt(a)) as in deliverer.geo; not F.least, which skips NULLs (an order's first report has no leg).
    return F.lit(2 * EARTH_RADIUS_KM) * F.asin(F.when(root > 1.0, F.lit(1.0)).otherwise(root))


GRID_PARTS = ("id", "south", "north", "west", "east", "latitude", "longitude")
"""What :func:`with_grid_cell` adds, each name after its prefix: the cell's id, its bounds (degrees) and
its centre."""


def with_grid_cell(frame: DataFrame, cell_m: int, prefix: str = "cell_") -> DataFrame:
    """``frame`` (with ``latitude`` and ``longitude``) and the cell of each row in a grid of about
    ``cell_m`` x ``cell_m`` cells that tiles the globe exactly: the columns of GRID_PARTS, prefixed.

    Rows are bands ``cell_m`` high, counted from the south pole; the last one ends at 90° (and is the
    only band that includes its northern edge). Each band is cut into a whole number of equal columns,
    counted from 180°W, about ``cell_m`` wide at the band's centre latitude (degrees of longitude
    shrink towards the poles), at least one: so no cell reaches past a pole or straddles the
    antimeridian, and a cell's id never depends on the data around it. 180°E is 180°W.

    Each step is its own column, computed once: written as one nested expression, every use of a
    step would repeat the whole expression under it, and Spark's planner takes minutes over the result.
    """
    band_deg = cell_m / METRES_PER_DEGREE
    bands = math.ceil(180 / band_deg)
    if -90 + (bands - 1) * band_deg >= 90:  # the division rounded up by a hair: no empty top band
        bands -= 1

    def name(part: str) -> str:
        return prefix + part

    def temp(part: str) -> str:
        return f"_{prefix}{part}"

    rows = _Steps(-90.0, F.lit(band_deg), F.lit(bands), 90.0)
    staged = _locate(frame, rows, F.col("latitude"), temp("row"))
    staged = staged.withColumn(name("south"), rows.edge(F.col(temp("row"))))
    staged = staged.withColumn(name("north"), rows.far_edge(F.col(temp("row"))))
    staged = staged.withColumn(name("latitude"), (F.col(name("south")) + F.col(name("north"))) / 2)
    per_band = F.greatest(F.floor(F.lit(360.0) * F.cos(F.radians(name("latitude"))) / F.lit(band_deg)), F.lit(1))
    staged = staged.withColumn(temp("columns"), per_band)
    staged = staged.withColumn(temp("column_deg"), F.lit(360.0) / F.col(temp("columns")))
    columns = _Steps(-180.0, F.col(temp("column_deg")), F.col(temp("columns")), 180.0)
    longitude = F.when(F.col("longitude") >= 180, F.col("longitude") - 360).otherwise(F.col("longitude"))
    staged = _locate(staged, columns, longitude, temp("column"))
    staged = staged.withColumn(name("west"), columns.edge(F.col(temp("column"))))
    staged = staged.withColumn(name("east"), columns.far_edge(F.col(temp("column"))))
    staged = staged.withColumn(name("longitude"), (F.col(name("west")) + F.col(name("east"))) / 2)
    staged = staged.withColumn(name("id"), F.concat_ws(":", F.col(temp("row")).cast("string"),
                                                      F.col(temp("column")).cast("string")))
    return staged.select(*frame.columns, *(name(part) for part in GRID_PARTS))


@dataclass(frozen=True)
class _Steps:
    """``count`` steps of ``size`` from ``start``, the last one ending exactly at ``end``."""

    start: float
    size: Column
    count: Column
    end: float

    def edge(self, index: Column) -> Column:
        return F.lit(self.start) + index * self.size

    def far_edge(self, index: Column) -> Column:
        return F.when(index == self.count - 1, F.lit(self.end)).otherwise(self.edge(index + 1))


def _locate(frame: DataFrame, steps: _Steps, position: Column, into: str) -> DataFrame:
    """Add ``into``: the step holding ``position`` (``start <= position <= end``). The division's guess
    is moved by one where it rounded across an edge as :meth:`_Steps.edge` computes it, so a position
    is always inside the very bounds its step is given."""
    guess_name = f"{into}_guess"
    quotient = F.floor((position - F.lit(steps.start)) / steps.size)
    guessed = frame.withColumn(guess_name, F.least(F.greatest(quotient, F.lit(0)), steps.count - 1))
    guess = F.col(guess_name)
    located = guessed.withColumn(
        into,
        F.when(position < steps.edge(guess), guess - 1)
        .when((guess < steps.count - 1) & (position >= steps.edge(guess + 1)), guess + 1)
        .otherwise(guess),
    )
    return located.drop(guess_name)
