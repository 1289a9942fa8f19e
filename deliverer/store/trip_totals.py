"""An order's trip kept at write time: the rule every backend applies to the reports a write inserted.

The trip is the path through the order's reports in trip order (:func:`trip_key`, the history's time
order). A write adds reports; only the legs around them change:

- reports after the last extend the path from the last, reports before the first lead into it;
- a run of reports that lands between two stored neighbours ``p`` and ``s`` replaces the leg
  ``(p, s)`` by ``p -> run -> s``.

So a write looks up neighbours only for the reports it inserted inside the stored trip, once per run,
and the summary reads one record instead of the history.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from deliverer.contract import LocationReport
from deliverer.geo import haversine_km, path_length_km
from deliverer.store.base import TripTotals

TripKey = tuple[int, str, str]

Neighbour = Callable[[LocationReport], LocationReport | None]
"""The order's stored report just before (or just after) a report in trip order, or None. It may be a
report the same write inserted: :func:`with_inserted` tells those apart."""


def trip_key(report: LocationReport) -> TripKey:
    """Trip order: the timestamp (to the millisecond, as stored), then msg_id, then deliverer_id, which
    the idempotency key makes unique, so that ties never depend on arrival."""
    return (report.timestamp_ms, report.msg_id, report.deliverer_id)


def leg_km(a: LocationReport, b: LocationReport) -> float:
    return haversine_km(a.latitude, a.longitude, b.latitude, b.longitude)


def path_km(reports: Iterable[LocationReport]) -> float:
    return path_length_km((r.latitude, r.longitude) for r in reports)


def totals_of(order_id: str, reports: Sequence[LocationReport]) -> TripTotals | None:
    """The trip through ``reports`` (already in trip order): the whole-history computation."""
    if not reports:
        return None
    return TripTotals(order_id, reports[0], reports[-1], len(reports), path_km(reports))


def with_inserted(
    current: TripTotals | None,
    order_id: str,
    inserted: Iterable[LocationReport],
    before: Neighbour,
    after: Neighbour,
) -> TripTotals | None:
    """``current`` with the reports a write inserted for the order (and nothing else: no duplicate, no
    refused report). ``before``/``after`` are asked only about reports inside the stored trip, and only
    when nothing of it was pruned."""
    added = sorted(inserted, key=trip_key)
    if current is None:
        return totals_of(order_id, added)
    if not added:
        return current
    first_key, last_key = trip_key(current.first), trip_key(current.last)
    head = [r for r in added if trip_key(r) < first_key]
    tail = [r for r in added if trip_key(r) > last_key]
    inside = added[len(head) : len(added) - len(tail)]
    distance = current.distance_km
    if head:
        distance += path_km([*head, current.first])
    if tail:
        distance += path_km([current.last, *tail])
    if inside and not current.pruned:
        distance += _detours(current, inside, before, after)
    return TripTotals(
        order_id, head[0] if head else current.first, tail[-1] if tail else current.last,
        current.points + len(added), distance, current.pruned,
    )


def _detours(
    current: TripTotals, inside: Sequence[LocationReport], before: Neighbour, after: Neighbour
) -> float:
    """What the runs of ``inside`` (sorted, all between the first and the last) add to the path.

    The stored report just before one of them is either the one before it in ``inside`` (same run) or a
    report stored before this write (a new run starts). The one after a run's last report is always an
    earlier one: a report of this write there would belong to the run.
    """
    new = {trip_key(r) for r in inside}
    runs: list[tuple[LocationReport, list[LocationReport]]] = []
    for report in inside:
        previous = before(report) or current.first
        if runs and trip_key(previous) in new:
            runs[-1][1].append(report)
        else:
            runs.append((previous, [report]))
    added = 0.0
    for previous, run in runs:
        following = after(run[-1]) or current.last
        added += path_km([previous, *run, following]) - leg_km(previous, following)
    return added
