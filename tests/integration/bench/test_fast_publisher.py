"""The ingest benchmark's load generator against a real Mosquitto: every packet arrives intact, once."""

from __future__ import annotations

import threading
from pathlib import Path

import paho.mqtt.client as mqtt
from fast_publisher import publish_stream, write_stream

from deliverer.local_broker import Mosquitto
from deliverer.mqtt import new_client, parse_mqtt_url
from deliverer.settings import PLAIN_TOPIC
from tests.helpers import as_messages, make_reports, wait_until


def test_every_encoded_report_reaches_a_subscriber_and_is_acknowledged(broker: Mosquitto, tmp_path: Path) -> None:
    # More than 65,535 would also cycle the packet ids; 3,000 with a window of 100 cycles the window.
    messages = as_messages(make_reports(3000, orders=30))
    stream = tmp_path / "stream"
    write_stream(messages, stream)
    received: list[tuple[str, bytes]] = []
    subscribed = threading.Event()
    endpoint = parse_mqtt_url(broker.url)
    client = new_client(endpoint, "bench-test-listener")
    client.on_subscribe = lambda *_args: subscribed.set()
    client.on_message = lambda _c, _u, message: received.append((message.topic, message.payload))

    def on_connect(c: mqtt.Client, *_args: object) -> None:
        c.subscribe(PLAIN_TOPIC, qos=1)

    client.on_connect = on_connect
    client.connect(endpoint.host, endpoint.port)
    client.loop_start()
    try:
        assert subscribed.wait(10)
        result = publish_stream(endpoint.host, endpoint.port, stream.read_bytes(), window=100)
        assert result["sent"] == result["acked"] == 3000
        wait_until(lambda: len(received) >= 3000, 30, "every report at the subscriber")
    finally:
        client.loop_stop()
        client.disconnect()
    assert sorted(received) == sorted(messages)
