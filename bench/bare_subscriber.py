"""The ceiling for ingest benchmarks: a bare paho subscriber that auto-acknowledges, parses and counts.

    python bench/bare_subscriber.py MQTT_URL CLIENT_ID EXPECTED

Once EXPECTED messages arrived it disconnects (keeping its session) and prints one JSON line:
``{"received", "first_at", "last_at", "cpu_first", "cpu_last"}``: the ``time.monotonic()`` and the
process's CPU time at the first and the last message, so the benchmark times the messages, not the
process's start. Exits 0 then, 1 after 600 s. Same
session settings as the real subscriber (MQTT 5, persistent session, shared subscription), nothing
else; ``?protocol=3.1.1`` in the URL makes it an MQTT 3.1.1 client, like the subscriber's own
option. Prints ``subscribed`` once its subscription is in place.
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
    first_at = last_at = cpu_first = cpu_last = 0.0

    def on_connect(c: mqtt.Client, *_args: object) -> None:
        c.subscribe(SUBSCRIBE_TOPIC, qos=1)

    def on_subscribe(*_args: object) -> None:
        print("subscribed", flush=True)

    def on_message(c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        nonlocal received, first_at, last_at, cpu_first, cpu_last
        json.loads(message.payload)
        received += 1
        last_at, cpu_last = time.monotonic(), time.process_time()
        if received == 1:
            first_at, cpu_first = last_at, cpu_last
        if received >= expected:
            c.disconnect()

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    if endpoint.is_v5:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
        props.ReceiveMaximum = 4000
        client.connect(endpoint.host, endpoint.port, keepalive=30, clean_start=False, properties=props)
    else:  # MQTT 3.1.1: the session persists by clean_session=False, the broker's max_inflight bounds it
        client.connect(endpoint.host, endpoint.port, keepalive=30)
    deadline = time.monotonic() + 600
    while received < expected and time.monotonic() < deadline:
        client.loop(0.2)
    print(json.dumps({"received": received, "first_at": first_at, "last_at": last_at, "cpu_first": cpu_first,
                      "cpu_last": cpu_last}), flush=True)
    return 0 if received >= expected else 1


if __name__ == "__main__":
    sys.exit(main())
