"""Slow clients (slowloris) against the real ``deliverer api`` and ``deliverer live``: connections that
never finish their headers or their body take no worker thread, and are closed once their time is up."""

from __future__ import annotations

import contextlib
import http.client
import socket
from collections.abc import Callable, Iterator

import pytest

from app_api.slow_clients import REQUEST_READ_TIMEOUT_S
from deliverer.local_broker import Mosquitto, free_port
from deliverer.store import open_store
from tests.helpers import ServiceProcess, http_status, wait_until
from tests.integration.app_api.test_api_server import start_api

POST = b"POST /v1/locations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
SLOW_STARTS = (
    b"GET /healthz HTTP/1.1\r\nHost: x\r\n",  # headers never finished
    POST + b"Content-Length: 100\r\n\r\n{",  # a body never finished
    POST + b"Transfer-Encoding: chunked\r\n\r\n1\r\n[\r\n",  # a chunked body never finished
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",  # answered, then never closed
)
CONNECTIONS = 20
"""Ten times the server's threads below."""


@contextlib.contextmanager
def slow_connections(port: int, starts: tuple[bytes, ...] = SLOW_STARTS) -> Iterator[list[socket.socket]]:
    opened = []
    try:
        for index in range(CONNECTIONS):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(starts[index % len(starts)])
            opened.append(sock)
        yield opened
    finally:
        for sock in opened:
            sock.close()


def closed_by_server(sock: socket.socket) -> bool:
    sock.settimeout(0)
    try:
        return sock.recv(4096) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


@pytest.mark.slow
def test_slow_clients_take_no_thread_and_are_closed_in_time(
    services: Callable[..., ServiceProcess], broker: Mosquitto, sqlite_url: str
) -> None:
    _, base_url = start_api(services, broker, sqlite_url, "--workers", "1", "--threads", "2")
    port = int(base_url.rsplit(":", 1)[1])
    with slow_connections(port) as slow:
        assert_answers_while(port, slow)


@pytest.mark.slow
def test_the_live_server_reads_a_body_before_it_takes_a_thread(
    services: Callable[..., ServiceProcess], broker: Mosquitto, sqlite_url: str
) -> None:
    open_store(sqlite_url).close()
    port = free_port()
    services(
        "live", "--live-port", str(port), "--store", sqlite_url, "--mqtt-url", broker.url, "--workers", "1",
        "--wsgi-threads", "2", name="live",
    ).wait_ready(f"http://127.0.0.1:{port}/readyz")
    # Unfinished headers cost the live server a connection, not a thread: see the README's Security model.
    with slow_connections(port, SLOW_STARTS[1:]) as slow:
        assert_answers_while(port, slow)


def assert_answers_while(port: int, slow: list[socket.socket]) -> None:
    answer = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    answer.request("GET", "/healthz")
    assert answer.getresponse().status == 200
    wait_until(
        lambda: all(closed_by_server(sock) for sock in slow), REQUEST_READ_TIMEOUT_S + 10,
        "the server to close every slow connection",
    )
    assert http_status(f"http://127.0.0.1:{port}/healthz") == 200
