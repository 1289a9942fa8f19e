"""Reports sent over HTTP: validated as a whole, then published to the broker; the API's one call.

All or nothing: one invalid report in a batch and nothing is published, and so is a batch that
repeats an idempotency key with other content (the store would keep one and refuse the other).
Whether a report's order belongs to its courier is decided only when it is stored, so a report
accepted here can still become an ``order_owned_by_other_courier`` dead letter. :func:`accept_reports`
returns once the broker has acknowledged every report at QoS 1, so none can be lost from there on:
the subscriber stores them as it stores every courier's reports.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from deliverer.contract import LocationReport, Reason, Rejection, validate_report
from deliverer.publishing import BrokerUnavailable, PublishTimeout, ReportPublisher
from deliverer.store.admission import CONFLICTING_DUPLICATE, essentials_of, key_of


@dataclass(frozen=True)
class AcceptLimits:
    max_batch: int = 1000
    """Most reports in one request."""
    connect_wait_s: float = 1.0
    """How long to wait for a (re)connection to the broker."""
    ack_timeout_s: float = 5.0
    """How long to wait for the broker's acknowledgements."""


@dataclass(frozen=True)
class ReportProblem:
    index: int
    """Position of the report in the request (0 for a single report)."""
    field: str
    reason: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "field": self.field, "reason": self.reason, "message": self.message}


class BatchRejected(Exception):
    """Nothing was published: the request is not one report or a batch of them, or some break the contract."""

    def __init__(self, code: str, message: str, problems: Sequence[ReportProblem] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.problems = problems


def accept_reports(
    body: Any,
    publisher: ReportPublisher,
    limits: AcceptLimits,
    prepare: Callable[[Any], Any] | None = None,
) -> list[LocationReport]:
    """Validate one report or a batch (each item through ``prepare`` first, for another dialect) and
    publish them all, or raise and publish none: BatchRejected, or BrokerUnavailable."""
    items = _as_items(body, limits.max_batch)
    if prepare is not None:
        items = [prepare(item) for item in items]
    reports = _validate_all(items)
    _refuse_conflicting_repeats(reports)
    publish_confirmed(publisher, reports, limits.connect_wait_s, limits.ack_timeout_s)
    return reports


def _as_items(body: Any, max_batch: int) -> list[Any]:
    if isinstance(body, dict):
        return [body]
    if not isinstance(body, list):
        raise BatchRejected(
            "invalid_report", "send one report object or an array of report objects",
            [ReportProblem(0, "report", Reason.NOT_OBJECT.value, "must be a JSON object or an array of objects")],
        )
    if not body:
        raise BatchRejected("empty_batch", "the array holds no reports")
    if len(body) > max_batch:
        raise BatchRejected("batch_too_large", f"at most {max_batch:,} reports per request, got {len(body):,}")
    return body


def _validate_all(items: list[Any]) -> list[LocationReport]:
    reports: list[LocationReport] = []
    problems: list[ReportProblem] = []
    bad = 0
    for index, item in enumerate(items):
        try:
            reports.append(validate_report(item))
        except Rejection as exc:
            bad += 1
            if exc.problems:
                problems.extend(ReportProblem(index, p.field, p.reason.value, p.message) for p in exc.problems)
            else:
                problems.append(ReportProblem(index, "report", exc.reason.value, exc.message))
    if problems:
        raise BatchRejected(
            "invalid_report", f"{bad} of {len(items)} report(s) break the contract; nothing was published", problems
        )
    return reports


def _refuse_conflicting_repeats(reports: list[LocationReport]) -> None:
    """Refuse the batch if two of its reports share a key but not their content; identical repeats
    pass (the store keeps one), as a retried report does."""
    first_at: dict[tuple[str, str], int] = {}
    problems: dict[int, ReportProblem] = {}
    for index, report in enumerate(reports):
        first = first_at.setdefault(key_of(report), index)
        if first == index or essentials_of(reports[first]) == essentials_of(report):
            continue
        problems.setdefault(first, _conflict(first, report, f"repeated at index {index} with other content"))
        problems[index] = _conflict(index, report, f"already at index {first} with other content")
    if problems:
        raise BatchRejected(
            "invalid_report",
            f"{len(problems)} of {len(reports)} report(s) share a msg_id with other content; nothing was published",
            [problems[index] for index in sorted(problems)],
        )


def _conflict(index: int, report: LocationReport, where: str) -> ReportProblem:
    return ReportProblem(
        index, "msg_id", CONFLICTING_DUPLICATE,
        f"msg_id {report.msg_id!r} of courier {report.deliverer_id!r} is {where}",
    )


def publish_confirmed(
    publisher: ReportPublisher,
    reports: Sequence[LocationReport],
    connect_wait: float,
    ack_timeout: float,
) -> None:
    """Return once the broker has PUBACKed every report; raise BrokerUnavailable otherwise.

    A report may still reach the broker after a timeout (paho resends it on reconnect); that is
    safe because its ``msg_id`` makes the store ignore the copy a retrying client sends.
    """
    if not publisher.connected.wait(connect_wait):
        raise BrokerUnavailable(publisher.last_error or f"not connected to {publisher.endpoint}")
    deadline = time.monotonic() + ack_timeout
    try:
        deliveries = [
            publisher.publish(report.topic, report.to_json(), qos=1, timeout=_left(deadline))
            for report in reports
        ]
        # The broker answers one connection's messages in order: waiting for the last one first, this
        # thread sleeps (and is woken) once per request, not once per report; all are checked below.
        if deliveries:
            deliveries[-1].wait(_left(deadline))
        for report, delivery in zip(reports, deliveries, strict=True):
            if not delivery.wait(_left(deadline)):
                raise BrokerUnavailable(f"no acknowledgement within {ack_timeout:g} s")
            if delivery.refusal is not None:
                raise BrokerUnavailable(
                    f"the broker refused report {report.msg_id} on {report.topic}: {delivery.refusal}"
                )
    except PublishTimeout as exc:
        raise BrokerUnavailable(str(exc)) from None


def _left(deadline: float) -> float:
    return max(0.001, deadline - time.monotonic())
