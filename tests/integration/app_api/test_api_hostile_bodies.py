"""Whatever a client sends, the API answers a JSON 2xx or 4xx, never a 5xx, and never takes part of
a body: the hostile-payload generator of the MQTT tests over both ingest routes, chunked bodies
over the limit on the real server, and a broken or missing store."""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deliverer.local_broker import Mosquitto
from tests.helpers import ServiceProcess, corrupt_store, wait_until
from tests.hostile import hostile_payloads
from tests.integration.app_api.conftest import TopicListener
from tests.integration.app_api.payloads import body_of, report
from tests.integration.app_api.test_api_server import start_api

ROUTES = ("/v1/locations", "/v1/deliverer_location/")


@pytest.fixture
def shared_client(make_app: Callable[..., Flask]) -> Iterator[FlaskClient]:
    yield make_app().test_client()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=hostile_payloads("courier-7"), route=st.sampled_from(ROUTES), double_encoded=st.booleans())
def test_no_hostile_body_gets_a_5xx(
    shared_client: FlaskClient, payload: bytes, route: str, double_encoded: bool
) -> None:
    body = payload
    if double_encoded:  # the original client's form: the report as a JSON string
        body = json.dumps(payload.decode("utf-8", "surrogateescape")).encode()
    response = shared_client.post(route, data=body, content_type="application/json")
    assert response.status_code < 500, response.get_data(as_text=True)[:500]
    answer = body_of(response)
    if response.status_code >= 400:
        assert "error" in answer
    else:  # the original route answers in the original system's dialect
        assert answer == {"status": "OK"} if route == "/v1/deliverer_location/" else answer["accepted"] >= 1


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"[" * 5000, "too_deep"),
        (b'{"order_id": "\\ud800"}', "invalid_text"),
        (json.dumps('{"order_id": "\ud800"}').encode(), "invalid_text"),
        (json.dumps("\ud800").encode(), "invalid_text"),
    ],
)
def test_the_bodies_that_used_to_answer_500_get_a_400_with_their_reason(
    client: FlaskClient, payload: bytes, code: str
) -> None:
    for route in ROUTES:
        response = client.post(route, data=payload, content_type="application/json")
        assert (response.status_code, body_of(response)["error"]) == (400, code)


def _chunked_post(base_url: str, chunks: Iterator[bytes]) -> tuple[int, dict[str, object]]:
    """POST a chunked body; a server that answers before the end may close on the rest."""
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(
            b"POST /v1/locations HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        )
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            for chunk in chunks:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sock.sendall(b"0\r\n\r\n")
        answer = b""
        with contextlib.suppress(ConnectionResetError):
            while not _complete(answer) and (data := sock.recv(65536)):
                answer += data
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head, "no answer at all"
    return int(head.split()[1]), json.loads(body[: _content_length(head)])


def _content_length(head: bytes) -> int:
    headers = dict(line.split(b": ", 1) for line in head.split(b"\r\n")[1:])
    return int(headers[b"Content-Length"])


def _complete(answer: bytes) -> bool:
    """A whole response is in (the server may keep the connection open after it)."""
    head, separator, body = answer.partition(b"\r\n\r\n")
    return bool(separator) and len(body) >= _content_length(head)


def _chunks(body: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    return (body[i : i + size] for i in range(0, len(body), size))


@pytest.mark.parametrize("server", ["gunicorn", "flask"])
def test_a_chunked_body_over_the_limit_is_refused_whole_and_nothing_is_published(
    broker: Mosquitto, sqlite_url: str, services: Callable[..., ServiceProcess], listener: TopicListener, server: str
) -> None:
    _proc, base_url = start_api(services, broker, sqlite_url, "--server", server, "--workers", "1", "--threads", "2")
    one_report = json.dumps(report(msg_id="padded")).encode()
    mib = 1024 * 1024
    over_the_limit = [
        json.dumps([report(msg_id=f"big-{n}", pad="x" * 2000) for n in range(1000)]).encode(),  # ~2 MiB
        b"[" + b" " * (20 * mib) + b"]",
        one_report + b" " * (mib - len(one_report)) + b"garbage after the first MiB",
    ]
    for body in over_the_limit:
        status, answer = _chunked_post(base_url, _chunks(body))
        assert (status, answer["error"]) == (413, "body_too_large"), answer

    status, answer = _chunked_post(base_url, _chunks(json.dumps([report(msg_id="sentinel")]).encode()))
    assert status == 202, answer
    wait_until(lambda: listener.received(), 10, "the sentinel published")
    assert [payload["msg_id"] for _topic, payload in listener.received()] == ["sentinel"]


@pytest.mark.parametrize("damage", ["pages overwritten", "not a database"])
def test_a_corrupt_store_answers_503_naming_it_on_readyz_and_store_unavailable_on_reads(
    make_app: Callable[..., Flask], tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    corrupt = tmp_path / "corrupt.db"
    if damage == "pages overwritten":
        corrupt_store(corrupt)
    else:
        corrupt.write_bytes(b"not a database " * 1000)
    client = make_app(STORE_URL=f"sqlite:///{corrupt}").test_client()

    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert body_of(ready)["unavailable"] == ["store"] and body_of(ready)["checks"]["store"] == "unreachable"
    # The probe is open to anyone: where the store is and what broke goes to the log only.
    assert str(corrupt) not in ready.get_data(as_text=True) and str(corrupt) in caplog.text
    for path in ("/v1/orders/o1/last-location", "/v1/orders/o1/locations", "/v1/orders/o1/summary",
                 "/v1/deliverer_location/last/o1"):
        response = client.get(path)
        assert (response.status_code, body_of(response)["error"]) == (503, "store_unavailable"), path


def test_a_missing_store_is_not_created_by_the_api(make_app: Callable[..., Flask], tmp_path: Path) -> None:
    missing = tmp_path / "later.db"
    client = make_app(STORE_URL=f"sqlite:///{missing}").test_client()
    ready = client.get("/readyz")
    assert ready.status_code == 503 and body_of(ready)["checks"]["store"] == "missing"
    assert str(missing) not in ready.get_data(as_text=True)
    assert body_of(client.get("/v1/orders/o1/last-location"))["error"] == "store_unavailable"
    assert not missing.exists()
