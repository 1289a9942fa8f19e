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

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Sequence
from itertools import pairwise
from operator import itemgetter

from deliverer.contract import LocationReport
from deliverer.geo import haversine_km
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


def path_km(reports: Sequence[LocationReport]) -> float:
    """:func:`deliverer.geo.path_length_km` of the reports' positions, summed in the same order, without
    building the pairs (a write adds up a leg per report it inserts)."""
    total = 0.0
    for a, b in pairwise(reports):
        total += haversine_km(a.latitude, a.longitude, b.latitude, b.longitude)
    return total


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
    keyed = sorted(((trip_key(r), r) for r in inserted), key=itemgetter(0))
    if current is None:
        return totals_of(order_id, [r for _, r in keyed])
    # The trip's first or last stored again: retention deleted it and it was sent again; it is counted.
    ends = (trip_key(current.first), trip_key(current.last))
    keyed = [(key, report) for key, report in keyed if key not in ends]
    if not keyed:
        return current
    keys = [key for key, _ in keyed]
    added = [r for _, r in keyed]
    low, high = bisect_left(keys, trip_key(current.first)), bisect_right(keys, trip_key(current.last))
    head, inside, tail = added[:low], added[low:high], added[high:]
    distance = current.distance_km
    if head:
        distance += path_km([*head, current.first])
    if tail:
        distance += path_km([current.last, *tail])
    if inside and not current.pruned:
        distance += _detours(current, inside, set(keys[low:high]), before, after)
    return TripTotals(
        order_id, head[0] if head else current.first, tail[-1] if tail else current.last,
        current.points + len(added), distance, current.pruned,
    )


def _detours(
    current: TripTotals, inside: Sequence[LocationReport], new: set[TripKey], before: Neighbour, after: Neighbour
) -> float:
    """What the runs of ``inside`` (sorted, all between the first and the last) add to the path.

    The stored report just before one of them is either the one before it in ``inside`` (same run) or a
    report stored before this write (a new run starts). The one after a run's last report is always an
    earlier one: a report of this write there would belong to the run.
    """
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
