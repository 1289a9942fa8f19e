"""Reads: an order's last location, courier and history, orders by recency, a courier's last location.

Each raises :class:`NotFound` where there is nothing to answer with, and pages with one row more than
asked, which tells whether another page exists without a second query.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from deliverer.contract import LocationReport
from deliverer.store import HistoryCursor, OrderCourier, Store
from deliverer.store.base import MAX_HISTORY_LIMIT


class NotFound(LookupError):
    """Nothing is known of what was asked for; ``code`` names what (``order_not_found``, ...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def order_not_found(order_id: str) -> NotFound:
    return NotFound("order_not_found", f"no location has been reported for order {order_id!r}")


@dataclass(frozen=True)
class Page:
    items: list[LocationReport]
    next: HistoryCursor | None
    """Where the next page starts; None on the last page."""


def last_location(store: Store, order_id: str) -> LocationReport:
    report = store.last_location(order_id)
    if report is None:
        raise order_not_found(order_id)
    return report


def last_location_of_deliverer(store: Store, deliverer_id: str) -> LocationReport:
    report = store.last_location_of_deliverer(deliverer_id)
    if report is None:
        raise NotFound("deliverer_not_found", f"no location has been reported by deliverer {deliverer_id!r}")
    return report


def order_courier(store: Store, order_id: str) -> OrderCourier:
    courier = store.order_courier(order_id)
    if courier is None:
        raise NotFound("order_not_found", f"order {order_id!r} has no courier yet: no report, no handover")
    return courier


def history_page(
    store: Store,
    order_id: str,
    limit: int,
    since: datetime | None = None,
    until: datetime | None = None,
    after: HistoryCursor | None = None,
) -> Page:
    """One page of an order's reports with since <= timestamp < until, oldest first."""
    rows = store.history(order_id, since=since, until=until, limit=limit + 1, after=after)
    items = rows[:limit]
    more = len(rows) > limit
    return Page(items, _cursor_after(items[-1]) if more else None)


def history_pages(store: Store, order_id: str) -> Iterator[list[LocationReport]]:
    """An order's whole history, oldest first, in pages as large as the store gives (none when empty)."""
    after: HistoryCursor | None = None
    while True:
        page = store.history(order_id, limit=MAX_HISTORY_LIMIT, after=after)
        if page:
            yield page
        if len(page) < MAX_HISTORY_LIMIT:
            return
        after = _cursor_after(page[-1])


def recent_orders(
    store: Store,
    limit: int,
    since: datetime | None = None,
    active_only: bool = False,
    after: HistoryCursor | None = None,
) -> Page:
    """Orders' last locations, newest first; the cursor holds the last row's order id as its ``msg_id``."""
    rows = store.orders_by_recency(since=since, active_only=active_only, limit=limit + 1, after=after)
    items = rows[:limit]
    more = len(rows) > limit
    return Page(items, HistoryCursor(timestamp=items[-1].timestamp, msg_id=items[-1].order_id) if more else None)


def _cursor_after(report: LocationReport) -> HistoryCursor:
    return HistoryCursor(timestamp=report.timestamp, msg_id=report.msg_id, deliverer_id=report.deliverer_id)
