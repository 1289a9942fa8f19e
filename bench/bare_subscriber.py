"""The ceiling for ingest benchmarks: a bare paho subscriber that auto-acknowledges, parses and counts.

    python bench/bare_subscriber.py MQTT_URL CLIENT_ID EXPECTED

Exits 0 once EXPECTED messages arrived (printing the count), 1 after 300 s. Same session
settings as the real subscriber (MQTT 5, persistent session, shared subscription), nothing else.
"""

from __future__ import annotations

import json
import sys
import time

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from deliverer.mqtt import new_client, parse_mqtt_url
from deliverer.settings import SUBSCRIBE_TOPIC


def main() -> int:
    url, client_id, expected = sys.argv[1], sys.argv[2], int(sys.argv[3])
    endpoint = parse_mqtt_url(url)
    client = new_client(endpoint, client_id, clean_session=False)
    received = 0

    def on_connect(c: mqtt.Client, *_args: object) -> None:
        c.subscribe(SUBSCRIBE_TOPIC, qos=1)
        print("subscribed", flush=True)

    def on_message(c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        nonlocal received
        json.loads(message.payload)
        received += 1
        if received >= expected:
            c.disconnect()

    client.on_connect = on_connect
    client.on_message = on_message
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    props.ReceiveMaximum = 4000
    client.connect(endpoint.host, endpoint.port, keepalive=30, clean_start=False, properties=props)
    deadline = time.monotonic() + 300
    while received < expected and time.monotonic() < deadline:
        client.loop(0.2)
    print(received, flush=True)
    return 0 if received >= expected else 1


if __name__ == "__main__":
    sys.exit(main())
