"""Property: whatever batches a trip's reports arrive in (shuffled, late, redelivered, conflicting), the
trip a store keeps is the one recomputed from its whole stored history. On SQLite (a real file) and the
in-memory store; MongoDB's trips run the contract suite where a server answers."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deliverer.contract import LocationReport
from deliverer.store import Store, open_store
from deliverer.store.trip_totals import path_km, trip_key
from tests.integration.store.test_store_trip_totals import RELATIVE_DRIFT, T0, report, whole_history

ORDERS = ("o1", "o2", "o3")


@st.composite
def arrivals(draw: st.DrawFn) -> list[list[LocationReport]]:
    """Batches of reports of up to three orders: timestamps often equal, some reports sent twice, some
    copies of a stored key with other content, all shuffled and cut at random."""
    reports = []
    for order in ORDERS[: draw(st.integers(1, len(ORDERS)))]:
        for n in range(draw(st.integers(1, 25))):
            reports.append(report(
                order, f"{order}-{n}", draw(st.integers(0, 40)),
                draw(st.floats(44.9, 45.1)), draw(st.floats(8.9, 9.1)),
            ))
    again = draw(st.lists(st.sampled_from(reports), max_size=10))
    moved = draw(st.lists(st.sampled_from(reports), max_size=3))
    conflicting = [r.model_copy(update={"latitude": r.latitude + 0.5}) for r in moved]
    sent = draw(st.permutations([*reports, *again, *conflicting]))
    cuts = sorted(draw(st.lists(st.integers(0, len(sent)), max_size=6)))
    return [sent[a:b] for a, b in zip([0, *cuts], [*cuts, len(sent)], strict=True) if b > a]


@pytest.mark.parametrize("backend", ["sqlite", "memory"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches=arrivals())
def test_the_kept_trip_is_the_history_s_trip(backend: str, batches: list[list[LocationReport]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'store.db'}" if backend == "sqlite" else f"memory://{uuid.uuid4().hex}"
        store = open_store(url)
        try:
            for batch in batches:
                store.insert_batch(batch)
                for order in {r.order_id for r in batch}:
                    assert_kept_trip_is_the_history_s(store, order)
        finally:
            store.close()


def assert_kept_trip_is_the_history_s(store: Store, order: str) -> None:
    history = whole_history(store, order)
    assert history == sorted(history, key=trip_key)
    kept = store.trip_totals(order)
    assert kept is not None
    assert (kept.first, kept.last, kept.points, kept.pruned) == (history[0], history[-1], len(history), False)
    assert kept.distance_km == pytest.approx(path_km(history), rel=RELATIVE_DRIFT, abs=1e-12)
    assert kept.first.timestamp >= T0
