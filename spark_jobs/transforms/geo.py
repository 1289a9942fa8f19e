"""Spark column expressions for distances and the hotspot grid.

The haversine is :func:`deliverer.geo.haversine_km` written with Spark functions, step for step
and with the same radius, so that the lake and the API give the same trip the same length.
"""

from __future__ import annotations

import math

from pyspark.sql import Column
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


def grid_cell(lat: Column, lon: Column, cell_m: int) -> tuple[Column, Column, Column]:
    """``(cell_id, centre latitude, centre longitude)`` of a grid of about ``cell_m`` x ``cell_m`` cells.

    Rows are bands of ``cell_m`` of latitude. Each band is cut into columns ``cell_m`` wide at its
    centre latitude (degrees of longitude shrink towards the poles), so cells stay about square
    everywhere and a cell's id never depends on the data around it.
    """
    row_deg = cell_m / METRES_PER_DEGREE
    row = F.floor(lat / F.lit(row_deg))
    centre_lat = (row + 0.5) * F.lit(row_deg)
    column_deg = F.lit(row_deg) / F.cos(F.radians(centre_lat))
    column = F.floor(lon / column_deg)
    centre_lon = (column + 0.5) * column_deg
    return F.concat_ws(":", row.cast("string"), column.cast("string")), centre_lat, centre_lon
