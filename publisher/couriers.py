"""Simulated couriers: orders in one city, a ride from pickup to drop-off, one GPS fix per step.

Pure and deterministic: the same seed gives the same orders, routes, fixes and message ids.
Time here is relative (seconds from the first fix of the burst); the burst anchors it to the
wall clock when it turns a fix into a report.

A courier rides its orders one after the other: each order starts where the previous one was
delivered. The ride is as long as the time the courier has (``locations - 1`` steps) allows at
a plausible speed, up to a few km: positions, timestamps and speeds stay consistent with each
other, so distances and average speeds computed downstream look like a real courier's.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import random
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

from deliverer.contract import DeliveryState
from deliverer.geo import EARTH_RADIUS_KM, haversine_km

EARTH_RADIUS_M = EARTH_RADIUS_KM * 1000
MIN_TRIP_M = 1_500
MAX_TRIP_M = 4_500
MIN_CRUISE_KMH = 12.0
MAX_CRUISE_KMH = 25.0
MIN_ACCURACY_M = 3.0
MAX_ACCURACY_M = 12.0
GPS_ERROR_MEMORY_S = 60.0
"""GPS error drifts rather than jumps: errors this far apart in time are about 1/e correlated.
Independent metres of noise every second would add more path than a courier rides."""
MAX_DETOUR = 0.25
"""The route bends through a waypoint offset sideways by up to this share of the trip."""


class Point(NamedTuple):
    lat: float
    lon: float


@dataclass(frozen=True)
class City:
    """A rectangle that pickups and drop-offs stay inside."""

    name: str
    code: str
    south: float
    west: float
    north: float
    east: float

    @property
    def centre(self) -> Point:
        return Point((self.south + self.north) / 2, (self.west + self.east) / 2)

    def contains(self, point: Point) -> bool:
        return self.south <= point.lat <= self.north and self.west <= point.lon <= self.east

    def clamp(self, point: Point) -> Point:
        return Point(min(max(point.lat, self.south), self.north), min(max(point.lon, self.west), self.east))

    def random_point(self, rng: random.Random) -> Point:
        return Point(rng.uniform(self.south, self.north), rng.uniform(self.west, self.east))


MILAN = City("Milan", "mil", south=45.415, west=9.090, north=45.535, east=9.275)
"""Milan inside its ring road (the Tangenziali), about 13 km by 14 km."""


class Fix(NamedTuple):
    """One location report of a courier, with its time relative to the start of the burst.

    A named tuple rather than a dataclass: a burst makes tens of thousands per second.
    """

    msg_id: str
    order_id: str
    deliverer_id: str
    state: DeliveryState
    seq: int
    step: int
    """The courier's step count across all its orders; ``offset_s`` = phase + step x step length."""
    offset_s: float
    latitude: float
    longitude: float
    speed_kmh: float
    heading: float
    accuracy_m: float


@dataclass(frozen=True)
class Trip:
    """One order's ride: a polyline from pickup to drop-off and how the courier rides it."""

    order_id: str
    route: tuple[Point, ...]
    leg_lengths_m: tuple[float, ...]
    leg_bearings: tuple[float, ...]
    duration_s: float
    average_kmh: float
    surge: float
    """Speed varies as average x (1 - surge x cos(2 pi waves t / T)): slow away and slow to arrive."""
    waves: int

    @property
    def dropoff(self) -> Point:
        return self.route[-1]

    @property
    def length_m(self) -> float:
        return sum(self.leg_lengths_m)

    def progress(self, t: float) -> float:
        """Share of the route covered after ``t`` seconds: 0 at 0, 1 at the duration, increasing."""
        if self.duration_s <= 0:
            return 1.0
        x = min(max(t / self.duration_s, 0.0), 1.0)
        angle = 2 * math.pi * self.waves
        return min(1.0, max(0.0, x - self.surge * math.sin(angle * x) / angle))

    def speed_kmh_at(self, t: float) -> float:
        if self.duration_s <= 0:
            return 0.0
        x = min(max(t / self.duration_s, 0.0), 1.0)
        return self.average_kmh * (1 - self.surge * math.cos(2 * math.pi * self.waves * x))

    def position(self, t: float) -> tuple[Point, float]:
        """Where the courier is after ``t`` seconds and its heading there (degrees from north)."""
        remaining = self.progress(t) * self.length_m
        last = len(self.leg_lengths_m) - 1
        for leg, length in enumerate(self.leg_lengths_m):
            if remaining <= length or leg == last:
                start, end = self.route[leg], self.route[leg + 1]
                share = min(1.0, remaining / length) if length > 0 else 0.0
                point = Point(start.lat + (end.lat - start.lat) * share, start.lon + (end.lon - start.lon) * share)
                return point, self.leg_bearings[leg]
            remaining -= length
        raise AssertionError("a route has at least one leg")


def distance_m(a: Point, b: Point) -> float:
    return haversine_km(a.lat, a.lon, b.lat, b.lon) * 1000


def bearing_deg(a: Point, b: Point) -> float:
    """Initial great-circle bearing from a to b, in [0, 360)."""
    phi1, phi2 = math.radians(a.lat), math.radians(b.lat)
    d_lambda = math.radians(b.lon - a.lon)
    y = math.sin(d_lambda) * math.cos(phi2)
    x = math.cos(phi1) * math.sin(phi2) - math.sin(phi1) * math.cos(phi2) * math.cos(d_lambda)
    return math.degrees(math.atan2(y, x)) % 360.0


def destination(origin: Point, bearing: float, metres: float) -> Point:
    """The point ``metres`` away from ``origin`` along ``bearing`` (great circle)."""
    delta = metres / EARTH_RADIUS_M
    theta = math.radians(bearing)
    phi1, lambda1 = math.radians(origin.lat), math.radians(origin.lon)
    phi2 = math.asin(math.sin(phi1) * math.cos(delta) + math.cos(phi1) * math.sin(delta) * math.cos(theta))
    lambda2 = lambda1 + math.atan2(
        math.sin(theta) * math.sin(delta) * math.cos(phi1), math.cos(delta) - math.sin(phi1) * math.sin(phi2)
    )
    return Point(math.degrees(phi2), (math.degrees(lambda2) + 540) % 360 - 180)


def run_tag(seed: int) -> str:
    """Eight characters that make one seed's ids distinct from another seed's."""
    return hashlib.sha256(f"deliverer-burst:{seed}".encode()).hexdigest()[:8]


def deliverer_id_of(seed: int, worker: int, city: City = MILAN) -> str:
    return f"courier-{city.code}-{run_tag(seed)}-{worker}"


def order_id_of(seed: int, worker: int, order: int, city: City = MILAN) -> str:
    return f"{city.code}-{run_tag(seed)}-{worker}-{order}"


def plan_trip(rng: random.Random, order_id: str, pickup: Point, duration_s: float, city: City) -> Trip:
    """A ride from ``pickup`` to a drop-off a few km away that takes ``duration_s`` seconds.

    When that time is too short to ride a few km at cruising speed, the trip is shorter
    instead of the courier faster. When it is long, the trip gets longer, up to a few km, and
    only beyond that does the courier ride slower than a cyclist would (stuck in traffic).
    """
    wanted_m = rng.uniform(MIN_TRIP_M, MAX_TRIP_M)
    cruise_kmh = rng.uniform(MIN_CRUISE_KMH, MAX_CRUISE_KMH)
    detour = rng.uniform(-MAX_DETOUR, MAX_DETOUR)
    surge = rng.uniform(0.2, 0.6)
    waves = rng.randint(1, 3)
    bend = math.sqrt(1 + 4 * detour * detour)  # route length / straight distance, via the bent midpoint
    straight_m = min(wanted_m, cruise_kmh / 3.6 * duration_s / bend)  # never faster than cruising
    slowest_m = MIN_CRUISE_KMH / 3.6 * duration_s / bend
    straight_m = max(straight_m, min(slowest_m, MAX_TRIP_M))  # nor slower, while the trip stays a few km
    dropoff = _dropoff_inside(rng, pickup, straight_m, city)
    midpoint = Point((pickup.lat + dropoff.lat) / 2, (pickup.lon + dropoff.lon) / 2)
    waypoint = city.clamp(destination(midpoint, bearing_deg(pickup, dropoff) + 90, detour * straight_m))
    route = (pickup, waypoint, dropoff)
    legs = tuple(distance_m(a, b) for a, b in itertools.pairwise(route))
    bearings = tuple(bearing_deg(a, b) for a, b in itertools.pairwise(route))
    average_kmh = sum(legs) / duration_s * 3.6 if duration_s > 0 else 0.0
    return Trip(order_id, route, legs, bearings, duration_s, average_kmh, surge, waves)


def _dropoff_inside(rng: random.Random, pickup: Point, metres: float, city: City) -> Point:
    for _ in range(8):
        candidate = destination(pickup, rng.uniform(0, 360), metres)
        if city.contains(candidate):
            return candidate
    # Near the edge: ride towards the centre, which stays inside for any trip shorter than the city.
    return destination(pickup, bearing_deg(pickup, city.centre), metres)


def _unit(key: str) -> float:
    """A uniform value in [0, 1) derived from ``key`` alone."""
    (value,) = struct.unpack("<Q", hashlib.blake2b(key.encode(), digest_size=8).digest())
    return float(value / 2**64)


def jittered(point: Point, north_sigmas: float, east_sigmas: float, sigma_m: float) -> Point:
    """``point`` moved by a GPS error of ``sigma_m`` metres per axis."""
    d_lat = math.degrees(north_sigmas * sigma_m / EARTH_RADIUS_M)
    d_lon = math.degrees(east_sigmas * sigma_m / (EARTH_RADIUS_M * math.cos(math.radians(point.lat))))
    return Point(point.lat + d_lat, point.lon + d_lon)


def start_phase(seed: int, worker: int) -> float:
    """Where in its first interval (0..1) a courier reports first, so couriers do not report in lockstep."""
    return _unit(f"{seed}:{worker}:phase")


def state_of(seq: int, locations: int) -> DeliveryState:
    if seq == 0:
        return DeliveryState.START
    if seq == locations - 1:
        return DeliveryState.ARRIVED
    return DeliveryState.ON_THE_WAY


def courier_fixes(
    seed: int,
    worker: int,
    orders: int,
    locations: int,
    step_s: float,
    phase_s: float = 0.0,
    city: City = MILAN,
) -> Iterator[Fix]:
    """Every fix of one courier, in time order: ``orders`` orders of ``locations`` fixes each.

    Lazy: only the current trip and one random generator (2.5 KB) are held per courier.
    """
    if locations < 2:
        raise ValueError("an order needs at least 2 locations (start and arrived)")
    deliverer_id = deliverer_id_of(seed, worker, city)
    rng = random.Random(f"{seed}:{worker}")
    position = city.random_point(rng)
    duration_s = (locations - 1) * step_s
    memory = math.exp(-step_s / GPS_ERROR_MEMORY_S)
    fresh = math.sqrt(1 - memory * memory)
    north, east = rng.gauss(), rng.gauss()  # the GPS error, in standard deviations per axis
    for order in range(orders):
        order_id = order_id_of(seed, worker, order, city)
        trip = plan_trip(rng, order_id, position, duration_s, city)
        typical_accuracy = rng.uniform(MIN_ACCURACY_M, MAX_ACCURACY_M)
        for seq in range(locations):
            t = seq * step_s
            state = state_of(seq, locations)
            where, heading = trip.position(t)
            north = memory * north + fresh * rng.gauss()
            east = memory * east + fresh * rng.gauss()
            seen = jittered(where, north, east, typical_accuracy / 2)
            accuracy = min(max(rng.gauss(typical_accuracy, 1.0), MIN_ACCURACY_M), MAX_ACCURACY_M)
            moving = state is DeliveryState.ON_THE_WAY
            step = order * locations + seq
            yield Fix(
                msg_id=f"{order_id}:{seq}",
                order_id=order_id,
                deliverer_id=deliverer_id,
                state=state,
                seq=seq,
                step=step,
                offset_s=phase_s + step * step_s,
                latitude=round(seen.lat, 6),
                longitude=round(seen.lon, 6),
                speed_kmh=round(trip.speed_kmh_at(t), 1) if moving else 0.0,
                heading=round(heading, 1) % 360.0,
                accuracy_m=round(accuracy, 1),
            )
        position = trip.dropoff
