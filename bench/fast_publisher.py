"""The live ingest's load generator: QoS 1 PUBLISH packets encoded once, then written as fast as the broker acks.

    python bench/fast_publisher.py MQTT_URL STREAM_FILE WINDOW

``STREAM_FILE`` holds the packets, encoded beforehand by :func:`write_stream` (MQTT 3.1.1, packet
ids cycling through 1..65535). The process connects, writes them in slices while at most WINDOW are
unacknowledged, counts the broker's PUBACKs (4 bytes each), disconnects and prints one JSON line:
``{"sent", "acked", "seconds", "rate"}``. Nothing is built per message while it runs, so on the same
cores it outruns any paho client: the ingest benchmark's figures are the subscriber's, not the load's.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from deliverer.mqtt import parse_mqtt_url

PUBACK_BYTES = 4
SLICE = 500
"""Packets per write."""


def remaining_length(length: int) -> bytes:
    encoded = bytearray()
    while True:
        length, digit = divmod(length, 128)
        encoded.append(digit | (0x80 if length else 0))
        if not length:
            return bytes(encoded)


def packet(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + remaining_length(len(body)) + body


def text(value: str) -> bytes:
    raw = value.encode()
    return struct.pack("!H", len(raw)) + raw


def connect_packet(client_id: str) -> bytes:
    # Protocol "MQTT" level 4 (3.1.1), clean session, keep-alive 60 s.
    return packet(0x10, text("MQTT") + bytes([4, 0x02]) + struct.pack("!H", 60) + text(client_id))


def publish_packet(topic: str, payload: bytes, packet_id: int) -> bytes:
    return packet(0x32, text(topic) + struct.pack("!H", packet_id) + payload)  # PUBLISH, QoS 1


def write_stream(messages: Iterable[tuple[str, bytes]], path: Path) -> int:
    """Encode (topic, payload) pairs as QoS 1 PUBLISH packets, one after the other; returns the count."""
    count = 0
    with path.open("wb") as out:
        for count, (topic, payload) in enumerate(messages, start=1):
            out.write(publish_packet(topic, payload, (count - 1) % 65535 + 1))
    return count


def packet_ends(stream: bytes) -> list[int]:
    """The offset just past each packet of ``stream``."""
    ends, at = [], 0
    while at < len(stream):
        length, shift, at = 0, 0, at + 1
        while True:
            byte = stream[at]
            at += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        at += length
        ends.append(at)
    return ends


def publish_stream(host: str, port: int, stream: bytes, window: int) -> dict[str, float]:
    ends = packet_ends(stream)
    view = memoryview(stream)
    with socket.create_connection((host, port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(connect_packet(f"bench-load-{time.monotonic_ns()}"))
        connack = sock.recv(PUBACK_BYTES, socket.MSG_WAITALL)
        if connack[:1] != b"\x20" or connack[3:4] != b"\x00":
            raise ConnectionError(f"the broker refused the connection: {connack!r}")
        started = time.monotonic()
        sent = acked_bytes = 0
        total = len(ends)
        while acked_bytes < total * PUBACK_BYTES:
            acked = acked_bytes // PUBACK_BYTES
            if sent < total and sent - acked < window:
                upto = min(total, acked + window, sent + SLICE)
                sock.sendall(view[ends[sent - 1] if sent else 0 : ends[upto - 1]])
                sent = upto
                with contextlib.suppress(BlockingIOError):  # no acknowledgement waiting: send on
                    acked_bytes += len(sock.recv(1 << 16, socket.MSG_DONTWAIT))
            else:
                data = sock.recv(1 << 16)
                if not data:
                    raise ConnectionError(f"the broker closed the connection after {acked} acknowledgements")
                acked_bytes += len(data)
        seconds = time.monotonic() - started
        sock.sendall(b"\xe0\x00")  # DISCONNECT
    return {"sent": total, "acked": acked_bytes // PUBACK_BYTES, "seconds": round(seconds, 3),
            "rate": round(total / seconds), "started_at": started}


def main() -> int:
    url, stream_file, window = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    endpoint = parse_mqtt_url(url)
    print(json.dumps(publish_stream(endpoint.host, endpoint.port, stream_file.read_bytes(), window)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
