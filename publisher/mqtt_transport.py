"""Reports straight to the broker over one MQTT connection with a bounded in-flight window."""

from __future__ import annotations

import logging
import threading
import time

from deliverer.mqtt import MqttEndpoint
from deliverer.publishing import PublishTimeout, WindowedPublisher
from publisher.latency import LatencyHistogram
from publisher.transport import TransportError

log = logging.getLogger(__name__)

SLOT_POLL_S = 0.25
"""How often a send blocked on a full window looks at the stop flag."""


class MqttTransport:
    """Publishes each report to its courier's topic; acknowledged means the broker sent PUBACK."""

    def __init__(
        self,
        endpoint: MqttEndpoint,
        qos: int,
        window: int,
        latencies: LatencyHistogram,
        client_id: str = "",
        stall_timeout_s: float = 30.0,
    ) -> None:
        self.endpoint = endpoint
        self.qos = qos
        self.stall_timeout_s = stall_timeout_s
        self._publisher = WindowedPublisher(endpoint, client_id, window, on_ack=latencies.record)
        self._sent = 0

    @property
    def sent(self) -> int:
        return self._sent

    @property
    def acked(self) -> int:
        return self._publisher.acked

    def connect(self, timeout: float) -> None:
        self._publisher.connect(timeout)

    def send(self, topic: str, payload: bytes, stop: threading.Event) -> bool:
        waiting_since = time.monotonic()
        while True:
            try:
                self._publisher.publish(topic, payload, qos=self.qos, timeout=SLOT_POLL_S)
            except PublishTimeout:
                if stop.is_set():
                    return False
                if time.monotonic() - waiting_since > self.stall_timeout_s:
                    raise TransportError(
                        f"the broker acknowledged nothing for {self.stall_timeout_s:.0f} s with"
                        f" {self._publisher.outstanding} reports in flight"
                        f" ({self._publisher.last_error or 'connected'})"
                    ) from None
                continue
            self._sent += 1
            return True

    def idle(self) -> None:
        """Every publish goes out at once; nothing is held back."""

    def finish(self, timeout: float) -> None:
        """Every publish went out at once; nothing is held back."""

    def wait_answered(self, timeout: float) -> bool:
        return self._publisher.flush(timeout)

    def close(self) -> None:
        self._publisher.close()
        if self._publisher.refused:
            log.warning(
                "the broker refused %d reports (MQTT 5 PUBACK with a failure reason): they count as"
                " failed; check what the MQTT user may write", self._publisher.refused,
            )
