"""When the API's worker deems a request arrived, so that a thread may parse it (the rest is
tests/integration/app_api/test_api_slow_clients.py, against a real server)."""

from __future__ import annotations

import pytest

from app_api.slow_clients import READ_AHEAD_BYTES, request_is_in

HEAD = b"POST /v1/locations HTTP/1.1\r\nHost: x\r\n"


@pytest.mark.parametrize(("collected", "arrived"), [
    (b"", False),
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\n", False),
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", True),
    (HEAD + b"Content-Length: 3\r\n\r\n[]", False),
    (HEAD + b"content-length: 3\r\n\r\n[{}", True),
    (HEAD + b"Content-Length: 100\r\nExpect: 100-continue\r\n\r\n", True),
    (HEAD + b"Transfer-Encoding: chunked\r\n\r\n1\r\n[\r\n", False),
    (HEAD + b"Transfer-Encoding: chunked\r\n\r\n2\r\n[]\r\n0\r\n\r\n", True),
    (HEAD + b"Content-Length: 999999\r\n\r\n" + b" " * READ_AHEAD_BYTES, True),
    (b"X" * READ_AHEAD_BYTES, True),
])
def test_a_request_gets_a_thread_once_it_is_in_or_fills_the_window(collected: bytes, arrived: bool) -> None:
    assert request_is_in(collected) is arrived
