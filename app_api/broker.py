"""Publish accepted reports at QoS 1 and wait until the broker has acknowledged every one."""

from __future__ import annotations

import time
from collections.abc import Sequence

from app_api.errors import BrokerUnavailable
from deliverer.contract import LocationReport
from deliverer.publishing import PublishTimeout, WindowedPublisher


def publish_confirmed(
    publisher: WindowedPublisher,
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
