from __future__ import annotations

import pytest

from deliverer.geo import EARTH_RADIUS_KM, haversine_km, path_length_km


def test_known_distances() -> None:
    # Paris -> London is about 343.5 km on the sphere; a degree of latitude about 111.2 km.
    assert haversine_km(48.8566, 2.3522, 51.5074, -0.1278) == pytest.approx(343.5, abs=0.5)
    assert haversine_km(0, 0, 1, 0) == pytest.approx(111.19, abs=0.01)
    assert haversine_km(10, 20, 10, 20) == 0


def test_symmetric_and_across_the_antimeridian() -> None:
    assert haversine_km(45, 9, 46, 10) == pytest.approx(haversine_km(46, 10, 45, 9))
    assert haversine_km(0, 179.5, 0, -179.5) == pytest.approx(111.19, abs=0.01)


def test_antipodes_are_half_the_circumference() -> None:
    assert haversine_km(0, 0, 0, 180) == pytest.approx(3.141592653589793 * EARTH_RADIUS_KM)
    assert haversine_km(90, 0, -90, 0) == pytest.approx(3.141592653589793 * EARTH_RADIUS_KM)


def test_path_length_sums_the_legs() -> None:
    assert path_length_km([]) == 0
    assert path_length_km([(45, 9)]) == 0
    legs = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0)]
    assert path_length_km(legs) == pytest.approx(haversine_km(0, 0, 1, 0) + haversine_km(1, 0, 1, 1))
