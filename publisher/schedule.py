"""Many simulated couriers on one thread: their fixes merged into the order they fall due.

One OS thread and one connection per courier does not scale to thousands of couriers; a heap
of each courier's next fix does, in O(log N) per report.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator

from publisher.couriers import Fix


def in_due_order(couriers: Iterable[Iterator[Fix]], realtime: bool) -> Iterator[Fix]:
    """Every courier's fixes, earliest ``offset_s`` first; ties go round-robin by courier.

    With ``realtime`` False (interval 0) nothing waits for its time, so the merge is a plain
    round-robin by step: every courier's first fix, then every courier's second, and so on.
    """
    heap: list[tuple[float, int, int, Fix]] = []
    sources = list(couriers)
    for index, courier in enumerate(sources):
        first = next(courier, None)
        if first is not None:
            heap.append((first.offset_s if realtime else 0.0, first.step, index, first))
    heapq.heapify(heap)
    while heap:
        _due, _step, index, fix = heap[0]
        yield fix
        following = next(sources[index], None)
        if following is None:
            heapq.heappop(heap)
        else:
            heapq.heapreplace(heap, (following.offset_s if realtime else 0.0, following.step, index, following))
