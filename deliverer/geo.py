"""Great-circle distance on the WGS 84 mean sphere.

One formula for every consumer (the API's trip summary, the lake's gold tables), so that the
same trip gets the same distance wherever it is computed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

EARTH_RADIUS_KM = 6371.0088
"""Mean Earth radius (IUGG); Spark code must use the same constant."""


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Distance in kilometres between two points given in decimal degrees."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    d_phi = phi2 - phi1
    d_lambda = math.radians(lon2 - lon1)
    a = math.sin(d_phi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(d_lambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def path_length_km(points: Iterable[tuple[float, float]]) -> float:
    """Length of a path of (latitude, longitude) points, summed leg by leg."""
    total = 0.0
    previous: tuple[float, float] | None = None
    for point in points:
        if previous is not None:
            total += haversine_km(*previous, *point)
        previous = point
    return total
