"""What Mosquitto keeps of a persistent session across its own restart (persistence on), measured.

A plain subscription comes back with the session: reports published after the restart, before the
subscriber reconnects, wait in its session. A shared subscription ($share/...) does not come back
(Mosquitto 2.0): until a member subscribes again, such reports match no subscription and the
broker drops them although it acknowledged them to the publisher. Hence start.sh's single
subscriber uses the plain filter, and the README says what a replica group risks.
"""

from __future__ import annotations

import uuid

import pytest

from deliverer.local_broker import Mosquitto
from deliverer.settings import PLAIN_TOPIC, SUBSCRIBE_TOPIC
from tests.helpers import as_messages, make_reports, publish_all
from tests.integration.deploy.mqtt_session import MqttSession

SESSION_EXPIRY_S = 3600


@pytest.mark.parametrize(("topic", "kept"), [(PLAIN_TOPIC, True), (SUBSCRIBE_TOPIC, False)], ids=["plain", "shared"])
def test_a_broker_restart_keeps_plain_subscriptions_and_forgets_shared_ones(
    broker: Mosquitto, topic: str, kept: bool
) -> None:
    client_id = f"restart-{uuid.uuid4().hex[:8]}"
    first = MqttSession(broker.url, client_id, SESSION_EXPIRY_S)
    assert not first.open().is_failure
    assert not first.subscribe(topic).is_failure
    first.close()

    broker.stop()
    broker.start()
    reports = make_reports(20, orders=2, prefix="after-restart")
    publish_all(broker.url, as_messages(reports))

    returning = MqttSession(broker.url, client_id, SESSION_EXPIRY_S)
    try:
        assert not returning.open().is_failure
        assert returning.session_present, "the session itself must survive the restart"
        # What the session holds is sent right after the CONNACK, before anything routed later:
        # once a barrier published now comes back, everything the session kept has arrived.
        barrier = f"restart-test/barrier/{client_id}"
        assert not returning.subscribe(barrier).is_failure
        returning.publish(barrier, b"")
        received = []
        while (message := returning.next_message()).topic != barrier:
            received.append(message.topic)
    finally:
        returning.close()
    assert len(received) == (len(reports) if kept else 0)
