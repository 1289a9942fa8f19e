"""The subscriber's /metrics and /healthz answer while other connections hang: a client that opened
a connection and never finished its request must not hold the port (a health check gives up in seconds)."""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Iterator

import pytest

from deliverer.local_broker import free_port
from subscriber.metrics import SubscriberMetrics, serve


@pytest.fixture
def server_port() -> Iterator[int]:
    port = free_port()
    server = serve(SubscriberMetrics(), "127.0.0.1", port, lambda: {"connected": True, "subscribed": True})
    try:
        yield port
    finally:
        server.shutdown()
        server.server_close()


def test_healthz_answers_while_connections_hang_halfway_through_their_headers(server_port: int) -> None:
    hanging = [socket.create_connection(("127.0.0.1", server_port)) for _ in range(4)]
    try:
        for connection in hanging:
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never the blank line that ends it
        with urllib.request.urlopen(f"http://127.0.0.1:{server_port}/healthz", timeout=5) as response:
            assert response.status == 200
        with urllib.request.urlopen(f"http://127.0.0.1:{server_port}/metrics", timeout=5) as response:
            assert b"deliverer_subscriber_received" in response.read()
    finally:
        for connection in hanging:
            connection.close()


def test_an_idle_connection_is_closed_by_the_server(server_port: int) -> None:
    from subscriber.metrics import CONNECTION_TIMEOUT_S

    with socket.create_connection(("127.0.0.1", server_port)) as idle:
        idle.settimeout(CONNECTION_TIMEOUT_S + 10)
        assert idle.recv(1) == b"", "the server hangs up on a client that says nothing"
