"""Slow clients (slowloris) against the real ``deliverer api`` and ``deliverer live``: connections that
never finish their headers or their body take no worker thread, and are closed once their time is up."""

from __future__ import annotations

import contextlib
import http.client
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from app_api.slow_clients import REQUEST_READ_TIMEOUT_S
from deliverer.contract import DeliveryState, LocationReport
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


@pytest.mark.slow
def test_a_client_that_never_reads_its_answers_holds_no_thread_for_ever(
    services: Callable[..., ServiceProcess], broker: Mosquitto, sqlite_url: str
) -> None:
    """Requests pipelined for large pages, and nothing read: the answers fill the socket buffers and the
    thread's send blocks. gthread writes on a blocking socket, so without a send timeout it blocked for
    ever, and with one thread the API answered nothing more."""
    store = open_store(sqlite_url)
    start = datetime.now(UTC) - timedelta(hours=2)
    store.insert_batch([
        LocationReport(
            msg_id=f"m{i}", order_id="big", deliverer_id="c1", delivery_state=DeliveryState.ON_THE_WAY,
            timestamp=start + timedelta(seconds=i), latitude=45.0, longitude=9.0,
        )
        for i in range(1000)
    ])
    store.close()
    _, base_url = start_api(services, broker, sqlite_url, "--workers", "1", "--threads", "1")
    port = int(base_url.rsplit(":", 1)[1])
    page = b"GET /v1/orders/big/locations?limit=1000 HTTP/1.1\r\nHost: x\r\n\r\n"
    healthz = f"http://127.0.0.1:{port}/healthz"
    readers = []
    try:
        for _ in range(2):  # each asks for ~12 MB of answers: more than the socket buffers between them hold
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
            sock.connect(("127.0.0.1", port))
            sock.sendall(page * 80)
            readers.append(sock)
        wait_until(lambda: http_status(healthz) == 0, 60, "the never-reading clients to hold the only thread")
        wait_until(
            lambda: http_status(healthz) == 200, 3 * REQUEST_READ_TIMEOUT_S + 10,
            "the API to answer again once the blocked sends time out",
        )
    finally:
        for sock in readers:
            sock.close()
