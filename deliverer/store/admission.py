"""Which reports of a batch a store takes: the rules every backend applies inside its write.

- The idempotency key is ``(deliverer_id, msg_id)``: one courier's ids never collide with
  another's. A report whose key is stored with the same content is a duplicate (a no-op); with
  other content it is a ``conflicting_duplicate``, refused, and changes nothing.
- An order belongs to the courier whose report the store took first for it, until it is handed
  over: another courier's report for it is refused as ``order_owned_by_other_courier``.

Refused reports become dead letters (their canonical JSON as payload) in the same write, and the
last location of an order is computed only from the reports actually taken, by one rule
(:data:`RECENCY_FIELDS`) that every backend states from here: in Python, in SQL, as a MongoDB filter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter
from typing import Any

from deliverer.contract import REPORT_FIELDS, LocationReport, format_timestamp
from deliverer.store.base import RejectedReport, ReportKey
from deliverer.timestamps import from_epoch_ms

CONFLICTING_DUPLICATE = "conflicting_duplicate"
ORDER_OWNED_BY_OTHER_COURIER = "order_owned_by_other_courier"

KEY_FIELDS = ("deliverer_id", "msg_id")
"""What identifies a report: see :data:`deliverer.store.base.ReportKey`."""
ESSENTIAL_FIELDS = tuple(name for name in REPORT_FIELDS if name not in KEY_FIELDS)
"""What makes two reports with one key the same report: every field but the key, in the contract's order."""
RECENCY_FIELDS = ("timestamp", "msg_id")
"""The rule for an order's last location: of two reports, the one later by these fields in turn (the
newer timestamp, then the larger msg_id) is the newer. Late and duplicate reports thus never move it
backwards, in whatever order they arrive."""

Essentials = tuple[Any, ...]
"""A report's :data:`ESSENTIAL_FIELDS`, the timestamp as epoch milliseconds (as the stores compare it)."""

recency: Callable[[LocationReport], tuple[datetime, str]] = attrgetter(*RECENCY_FIELDS)
"""The sort key of :data:`RECENCY_FIELDS`: the larger is the newer report."""


def key_of(report: LocationReport) -> ReportKey:
    return (report.deliverer_id, report.msg_id)


def essentials_of(report: LocationReport) -> Essentials:
    values = report.__dict__
    return tuple(report.timestamp_ms if name == "timestamp" else values[name] for name in ESSENTIAL_FIELDS)


def _describe(essentials: Essentials) -> str:
    named = dict(zip(ESSENTIAL_FIELDS, essentials, strict=True))
    moment = format_timestamp(from_epoch_ms(named["timestamp"]))
    return f"order {named['order_id']}, {named['delivery_state']}, {moment}, {named['latitude']}, {named['longitude']}"


@dataclass
class Admission:
    """A batch sorted by the rules above."""

    accepted: list[LocationReport] = field(default_factory=list)
    duplicates: int = 0
    refused: list[RejectedReport] = field(default_factory=list)
    new_owners: dict[str, str] = field(default_factory=dict)
    """Orders the batch starts: order_id -> the courier that now owns it."""


def admit(
    reports: Sequence[LocationReport],
    stored: dict[ReportKey, Essentials],
    owners: dict[str, str],
    received_at: datetime,
) -> Admission:
    """Sort ``reports`` (in arrival order) given the stored versions of their keys and the owners
    of their orders; reports within the batch count as stored once taken."""
    admission = Admission()
    taken: dict[ReportKey, LocationReport] = {}
    owner_of = dict(owners)
    for report in reports:
        key = (report.deliverer_id, report.msg_id)
        earlier_report = taken.get(key)
        earlier = stored.get(key) if earlier_report is None else essentials_of(earlier_report)
        if earlier is not None:
            essentials = essentials_of(report)
            if earlier == essentials:
                admission.duplicates += 1
            else:
                admission.refused.append(_refusal(
                    report, received_at, CONFLICTING_DUPLICATE,
                    f"msg_id {report.msg_id!r} of courier {report.deliverer_id!r} is already stored with other"
                    f" content: stored {_describe(earlier)}; refused {_describe(essentials)}",
                ))
            continue
        owner = owner_of.get(report.order_id)
        if owner is None:
            owner_of[report.order_id] = admission.new_owners[report.order_id] = report.deliverer_id
        elif owner != report.deliverer_id:
            admission.refused.append(_refusal(
                report, received_at, ORDER_OWNED_BY_OTHER_COURIER,
                f"order {report.order_id!r} belongs to courier {owner!r}, not {report.deliverer_id!r}: hand it over"
                f" with PUT /v1/orders/{report.order_id}/courier first",
            ))
            continue
        taken[key] = report
        admission.accepted.append(report)
    return admission


def _refusal(report: LocationReport, received_at: datetime, reason: str, message: str) -> RejectedReport:
    return RejectedReport.of(received_at, report.topic, reason, message, report.to_json())


def newest_per_order(reports: Iterable[LocationReport]) -> list[LocationReport]:
    """The newest report of each order, by :data:`RECENCY_FIELDS`: one candidate per order, so fewer
    upserts per batch."""
    newest: dict[str, LocationReport] = {}
    for report in reports:
        current = newest.get(report.order_id)
        if current is None or recency(report) > recency(current):
            newest[report.order_id] = report
    return list(newest.values())
