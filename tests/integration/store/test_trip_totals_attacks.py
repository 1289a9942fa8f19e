"""Attacks on the trips kept at write time: a courier that publishes any valid report on its own
topic (any msg_id, any accepted timestamp, duplicates, conflicts, reports of other couriers' orders, many
at one millisecond, across the date line and at the poles) against the stores' trip rule.

Each test states what the attack tries and what must hold.
"""

from __future__ import annotations

import sqlite3
import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app_api.cursor import decode_cursor, encode_cursor
from deliverer.contract import DeliveryState, LocationReport
from deliverer.services.reads import history_page
from deliverer.services.trips import trip_summary
from deliverer.store import Store, open_store
from deliverer.store import sqlite as sqlite_store
from deliverer.store.base import MAX_HISTORY_LIMIT
from deliverer.store.trip_totals import path_km, trip_key

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def rep(order: str, msg: str, ms: int, lat: float = 45.0, lon: float = 9.0, courier: str = "d1") -> LocationReport:
    return LocationReport(
        msg_id=msg, order_id=order, deliverer_id=courier, delivery_state=DeliveryState.ON_THE_WAY,
        timestamp=T0 + timedelta(milliseconds=ms), latitude=lat, longitude=lon,
    )


def stored_in_trip_order(store: Store, order: str) -> list[LocationReport]:
    """The whole history in one read (the tests keep orders under one page), sorted by the trip key: the
    cursor of ``history`` pages by (timestamp, msg_id) only, which is not what is checked here."""
    reports = store.history(order, limit=MAX_HISTORY_LIMIT)
    assert len(reports) < MAX_HISTORY_LIMIT
    return sorted(reports, key=trip_key)


def assert_trip_is_history_s(store: Store, order: str) -> None:
    history = stored_in_trip_order(store, order)
    kept = store.trip_totals(order)
    if not history:
        assert kept is None
        return
    assert kept is not None
    assert (kept.first, kept.last, kept.points) == (history[0], history[-1], len(history))
    assert kept.distance_km == pytest.approx(path_km(history), rel=1e-9, abs=1e-9)


@pytest.fixture(params=["sqlite", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    url = f"sqlite:///{tmp_path}/h.db" if request.param == "sqlite" else f"memory://attacks-{uuid.uuid4().hex}"
    opened = open_store(url)
    yield opened
    opened.close()


# (a) Wrong summaries -------------------------------------------------------------------------------

POSITIONS = st.sampled_from([
    (45.0, 9.0), (45.001, 9.001), (0.0, 179.9999), (0.0, -179.9999), (0.0, 180.0), (0.0, -180.0),
    (90.0, 0.0), (90.0, 123.0), (-90.0, 45.0), (89.9999, -180.0), (-89.9999, 180.0), (0.0, 0.0),
])


@st.composite
def hostile_steps(draw: st.DrawFn) -> list[tuple[str, object]]:
    """Batches from two couriers sharing msg_ids and milliseconds, with handovers between them: keys that
    tie on (timestamp, msg_id) and differ only by courier, duplicates, conflicting duplicates, refused
    reports of an order another courier owns, positions on the date line and at the poles."""
    steps: list[tuple[str, object]] = []
    sent: list[LocationReport] = []
    for _ in range(draw(st.integers(1, 8))):
        if sent and draw(st.integers(0, 4)) == 0:
            steps.append(("handover", draw(st.sampled_from(["d1", "d2"]))))
            continue
        batch = []
        for _ in range(draw(st.integers(1, 12))):
            kind = draw(st.integers(0, 5))
            if sent and kind == 0:
                batch.append(draw(st.sampled_from(sent)))  # a duplicate
            elif sent and kind == 1:
                old = draw(st.sampled_from(sent))
                batch.append(old.model_copy(update={"latitude": -old.latitude or 1.0}))  # a conflict
            else:
                lat, lon = draw(POSITIONS)
                batch.append(rep(
                    draw(st.sampled_from(["o1", "o2"])), draw(st.sampled_from(["a", "b", "c", "m", "z"])),
                    draw(st.sampled_from([0, 0, 1, 2, 10_000])), lat, lon, draw(st.sampled_from(["d1", "d2"])),
                ))
        sent.extend(batch)
        steps.append(("batch", batch))
    return steps


@pytest.mark.parametrize("backend", ["sqlite", "memory"])
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=hostile_steps())
def test_two_couriers_tying_keys_across_handovers_keep_the_history_s_trip(
    backend: str, steps: list[tuple[str, object]]
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 's.db'}" if backend == "sqlite" else f"memory://{uuid.uuid4().hex}"
        store = open_store(url)
        try:
            for kind, value in steps:
                if kind == "handover":
                    for order in ("o1", "o2"):
                        store.hand_over(order, str(value), T0)
                else:
                    assert isinstance(value, list)
                    store.insert_batch(value)
                for order in ("o1", "o2"):
                    assert_trip_is_history_s(store, order)
                    if store.trip_totals(order) is not None:
                        trip_summary(store, order).to_json_dict()
        finally:
            store.close()


def test_history_pages_list_both_reports_tying_on_timestamp_and_msg_id(store: Store) -> None:
    """After a handover two couriers' reports can tie on timestamp and msg_id; the history's order goes on
    to the courier, and so does its cursor: a page boundary between them skips neither."""
    store.insert_batch([rep("o1", "m", 0, courier="d1")])
    store.hand_over("o1", "d2", T0)
    store.insert_batch([rep("o1", "m", 0, 45.1, courier="d2")])
    listed: list[LocationReport] = []
    cursor = None
    while True:
        page = history_page(store, "o1", 1, after=cursor)
        listed.extend(page.items)
        if page.next is None:
            break
        cursor = decode_cursor(encode_cursor(page.next))
    assert [r.deliverer_id for r in listed] == ["d1", "d2"]
    assert trip_summary(store, "o1").points == 2


# (b) Ingest failing, losing or doubling ------------------------------------------------------------


def test_a_pruned_end_of_the_trip_sent_again_is_not_counted_again(store: Store) -> None:
    """Retention deletes the trip's last report (its day is pruned); the courier sends it again (same key,
    same content): it is stored again, and the trip, which counted it, does not count it twice."""
    a, b = rep("o1", "a", 0), rep("o1", "b", 1000, 45.01)
    store.insert_batch([a, b])
    assert store.delete_reports([("d1", "b")]) == 1
    store.insert_batch([b])
    assert stored_in_trip_order(store, "o1") == [a, b]
    kept = store.trip_totals("o1")
    assert kept is not None and kept.pruned
    assert (kept.points, kept.last) == (2, b)
    assert kept.distance_km == pytest.approx(path_km([a, b]), rel=1e-9)


# (c) Ingest slowed per report ------------------------------------------------------------------------


def _vm_steps(store: Store, write: object) -> int:
    """SQLite virtual machine steps (in thousands) a write takes on the store's connection: a measure of
    work that does not depend on the machine's load."""
    assert isinstance(store, sqlite_store.SQLiteStore)
    conn = store._conn()
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    conn.set_progress_handler(count, 1000)
    try:
        write()  # type: ignore[operator]
    finally:
        conn.set_progress_handler(None, 0)
    return steps


def test_late_reports_into_one_crowded_millisecond_cost_no_more_than_into_a_spread_trip(tmp_path: Path) -> None:
    """A courier publishes 5,000 reports of one order at one millisecond (cheap: ascending msg_ids are
    appends), then reports that sort between them. Each neighbour lookup reads and sorts the whole
    millisecond (``locations_order_ts`` has no msg_id): O(reports in that millisecond) per report."""
    store = open_store(f"sqlite:///{tmp_path}/crowded.db")
    count, late = 5_000, [17, 1_234, 2_500, 3_333, 4_900]
    for order, ms_of in (("crowded", lambda i: 0), ("spread", lambda i: i)):
        for start in range(0, count, 1000):
            store.insert_batch([rep(order, f"m{i:06}", ms_of(i)) for i in range(start, start + 1000)])
    crowded = _vm_steps(store, lambda: store.insert_batch([rep("crowded", f"m{i:06}x", 0, 46.0) for i in late]))
    spread = _vm_steps(store, lambda: store.insert_batch([rep("spread", f"m{i:06}x", i, 46.0) for i in late]))
    assert_trip_is_history_s(store, "crowded")
    assert_trip_is_history_s(store, "spread")
    store.close()
    assert crowded <= 10 * max(spread, 1), f"{crowded}k VM steps at one millisecond, {spread}k spread"


def test_a_batch_of_reports_reaching_back_is_linear_in_its_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch of one late report for each of many orders: ``_add_to_trips`` builds ``set(reaching_back)``
    once per inserted report (the set is inside the comprehension's condition), O(batch^2): measured at
    ~0.3 s per 4,000-report batch, ~2.8 s per 10,000 (--batch-size allows 100,000)."""
    store = open_store(f"sqlite:///{tmp_path}/reach.db")
    orders = [f"o{i}" for i in range(300)]
    store.insert_batch([rep(o, f"{o}-a", 10) for o in orders])
    store.insert_batch([rep(o, f"{o}-b", 20, 45.01) for o in orders])
    built = 0

    def counting_set(*args: object) -> set[object]:
        nonlocal built
        built += 1
        return set(*args)

    monkeypatch.setattr(sqlite_store, "set", counting_set, raising=False)
    store.insert_batch([rep(o, f"{o}-z", 5, 44.99) for o in orders])
    monkeypatch.undo()
    for order in orders[:5]:
        assert_trip_is_history_s(store, order)
    store.close()
    assert built <= 2, f"set(reaching_back) built {built} times for one batch of {len(orders)} reports"


# (e) Migration -------------------------------------------------------------------------------------


def test_an_interrupted_v1_migration_is_done_whole_on_the_next_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The v1 -> v2 migration fails half-way (killed, disk full): nothing is half-migrated, and the next
    open migrates again, with the ties of two couriers at one millisecond in trip order."""
    from tests.integration.store.test_sqlite_migration import VERSION_1_HISTORY

    path = tmp_path / "v1.db"
    history = [
        rep("o1", "m", 0, 45.0, 9.0, "d1"), rep("o1", "m", 0, 0.0, 180.0, "d2"), rep("o1", "a", 0, 90.0, 0.0, "d2"),
        rep("o1", "z", 5, -90.0, 0.0, "d1"), rep("o2", "x", 1, 1.0, -180.0, "d1"),
    ]
    with sqlite3.connect(path) as old:
        old.executescript(VERSION_1_HISTORY)
        old.executemany(
            "INSERT INTO locations (msg_id, order_id, deliverer_id, delivery_state, ts_ms, latitude, longitude,"
            " ingested_ms) VALUES (?, ?, ?, ?, ?, ?, ?, 1)",
            [(r.msg_id, r.order_id, r.deliverer_id, "on_the_way", r.timestamp_ms, r.latitude, r.longitude)
             for r in reversed(history)],
        )
        old.execute("INSERT INTO orders VALUES ('o1', 'd1', 1), ('o2', 'd1', 1)")

    real = sqlite_store._trips_from_history

    def half_way(conn: sqlite3.Connection) -> None:
        real(conn)
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(sqlite_store, "_trips_from_history", half_way)
    with pytest.raises(sqlite_store.StoreUnavailable):
        sqlite_store.SQLiteStore(path)
    monkeypatch.undo()
    with sqlite3.connect(path) as check:
        assert check.execute("PRAGMA user_version").fetchone()[0] == 1
    store = sqlite_store.SQLiteStore(path)
    for order in ("o1", "o2"):
        assert_trip_is_history_s(store, order)
    store.close()
