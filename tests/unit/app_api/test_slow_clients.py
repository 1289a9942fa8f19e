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
    # A client waiting for 100 Continue sends its body anyway after a second (curl, browsers): a thread that
    # answered early would then wait on the body, so the request stays in the poller until it is in.
    (HEAD + b"Content-Length: 100\r\nExpect: 100-continue\r\n\r\n", False),
    (HEAD + b"Content-Length: 2\r\nExpect: 100-continue\r\n\r\n[]", True),
    # A length the old pattern could not read counted as no body at all.
    (HEAD + b"Content-Length: 1000000000000\r\n\r\n[", False),
    (HEAD + b"Content-Length: x\r\n\r\n", True),
    # The last chunk is found by walking the chunks, not by searching for its bytes in the data.
    (HEAD + b"Transfer-Encoding: chunked\r\n\r\n7\r\n0\r\n\r\n\r\n", False),
    (HEAD + b"Transfer-Encoding: chunked\r\n\r\n9\r\n[{\"a\":1}]\r\n0\r\nX-T: y\r\n\r\n", True),
    (HEAD + b"Transfer-Encoding: chunked\r\n\r\n9\r\n[{\"a\":1}]\r\n0\r\nX-T: y\r\n", False),
    (HEAD + b"Transfer-Encoding: chunked\r\n\r\n2;ext=1\r\n[]\r\n0\r\n\r\n", True),
    (HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n", True),
    (HEAD + b"Transfer-Encoding: chunked\r\n\r\n1\r\n[\r\n", False),
    (HEAD + b"Transfer-Encoding: chunked\r\n\r\n2\r\n[]\r\n0\r\n\r\n", True),
    (HEAD + b"Content-Length: 999999\r\n\r\n" + b" " * READ_AHEAD_BYTES, True),
    (b"X" * READ_AHEAD_BYTES, True),
])
def test_a_request_gets_a_thread_once_it_is_in_or_fills_the_window(collected: bytes, arrived: bool) -> None:
    assert request_is_in(collected) is arrived
