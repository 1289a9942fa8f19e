"""gunicorn's gthread worker, made safe from slow clients (slowloris).

gthread hands a connection to a thread as soon as a byte arrives, and the thread then blocks on the
socket until the request's headers and body are in: a few connections that send half a request and
wait hold every thread, and the API stops answering. This worker:

- collects a request's bytes in the poller (no thread), without waiting, until its headers are in, and
  its body when it fits the read-ahead window; only then does a thread parse it;
- bounds the time a request may take to arrive, from the connection's first readiness to the last byte
  of its body, in the poller and in the thread (a body larger than the window, a chunked one): a
  connection over it is closed;
- bounds the writing of each answer to the same time (a socket timeout, which ``sendall`` takes as
  the whole write's), so a client that reads slowly or not at all cannot hold a thread either.

gunicorn itself closes a connection that sends nothing for its keep-alive time (5 s). Plain HTTP only:
with TLS terminated in gunicorn the bytes in the kernel are ciphertext, and the peek is skipped.
"""

from __future__ import annotations

import logging
import re
import socket
import time
from typing import Any

from gunicorn.http.errors import NoMoreData
from gunicorn.http.unreader import SocketUnreader
from gunicorn.workers.gthread import _DEFER, TConn, ThreadWorker

log = logging.getLogger(__name__)

REQUEST_READ_TIMEOUT_S = 10.0
"""How long a client has to send a whole request (headers and body), and to take the whole answer,
before its connection is closed: a courier's phone on a poor link sends a 1,000-report batch
(~200 KB) well within it. The live server gives a body the same time."""

READ_AHEAD_BYTES = 64 * 1024
"""How much of a request the poller collects before the request gets a thread. A larger request (a body
of more than ~60 KiB) gets its thread once this much is in, and has the rest of its time for the rest."""

_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*([^\r\n]*?)[ \t]*\r\n", re.IGNORECASE)
_CHUNKED = re.compile(rb"\r\ntransfer-encoding:[^\r\n]*chunked", re.IGNORECASE)
_CHUNK_SIZE = re.compile(rb"([0-9a-fA-F]{1,16})(?:;[^\r\n]*)?\r\n")


def request_is_in(head: bytes) -> bool:
    """Whether ``head`` (the bytes collected so far on a connection) holds a whole request, or all a
    thread needs to go on: the read-ahead window's worth, or a request gunicorn's parser refuses at once
    (a length or a chunk size that is not a number). A client waiting for ``100 Continue`` is not
    answered early: it sends its body after a second anyway, and a thread must never wait on a body."""
    if len(head) >= READ_AHEAD_BYTES:
        return True
    end = head.find(b"\r\n\r\n")
    if end < 0:
        return False
    headers, body = head[: end + 2], head[end + 4 :]
    if _CHUNKED.search(headers):
        return _chunked_body_is_in(body)
    length = _CONTENT_LENGTH.search(headers)
    if length is None or not length.group(1).isdigit():
        return True
    return len(body) >= int(length.group(1))


def _chunked_body_is_in(body: bytes) -> bool:
    """Walk the chunks: in once the last one (size 0) and the trailer section after it are; a size that
    is not hexadecimal is for the parser to refuse."""
    at = 0
    while True:
        size = _CHUNK_SIZE.match(body, at)
        if size is None:
            line_end = body.find(b"\r\n", at)
            return line_end >= 0 or len(body) - at > 80
        at = size.end()
        length = int(size.group(1), 16)
        if length == 0:
            return body.find(b"\r\n", at) == at or body.find(b"\r\n\r\n", at) >= 0
        at += length + 2
        if at > len(body):
            return False


class DeadlineUnreader(SocketUnreader):
    """Reads a request's bytes until its deadline, then answers as if the client had gone."""

    def __init__(self, sock: socket.socket, timeout_s: float) -> None:
        super().__init__(sock)
        self.timeout_s = timeout_s
        self.deadline: float | None = None
        self.timed_out = False

    def chunk(self, size_hint: int | None = None) -> bytes:
        if self.deadline is None:
            self.deadline = time.monotonic() + self.timeout_s
        left = self.deadline - time.monotonic()
        try:
            if left <= 0:
                raise TimeoutError
            self.sock.settimeout(left)
            return super().chunk(size_hint)
        except TimeoutError:
            self.timed_out = True
            raise NoMoreData() from None
        finally:
            # What the thread does next with the socket is write the answer: bounded the same.
            self.sock.settimeout(self.timeout_s)


class DeadlineThreadWorker(ThreadWorker):
    """gthread with a time limit on each request's arrival; see the module's docstring."""

    request_read_timeout_s = REQUEST_READ_TIMEOUT_S

    def handle(self, conn: TConn) -> Any:
        if self.cfg.is_ssl:
            return super().handle(conn)
        if conn.parser is not None and conn.parser.unreader.buf.getbuffer().nbytes:
            self._start_request(conn, b"")  # a pipelined request, already read ahead by the parser
        else:
            head, closed = self._collect(conn)
            if not closed and not request_is_in(head):
                if self._within_time(conn):
                    return _DEFER
                return self._drop(conn)
            self._start_request(conn, head)
        keep = super().handle(conn)
        if keep is False:
            unreader = conn.parser.unreader if conn.parser is not None else None
            if isinstance(unreader, DeadlineUnreader) and unreader.timed_out:
                return self._drop(conn)
            # gthread would linger on the close (up to 2 s, for the client's FIN) in its one event loop
            # thread, where a client that never closes stalls every connection of the worker: linger here.
            conn.close(graceful=True)
        return keep

    def handle_request(self, req: Any, conn: TConn) -> Any:
        """The answer is written with sendall, which a socket timeout bounds as a whole: a client that
        reads slowly or not at all holds this thread that long at most. gthread makes the socket blocking
        before every request, and a request read whole by the poller never reaches the read deadline's
        own timeout, so it is set here."""
        if not self.cfg.is_ssl:
            conn.sock.settimeout(self.request_read_timeout_s)
        return super().handle_request(req, conn)

    def _drop(self, conn: TConn) -> bool:
        log.info("closed a connection whose request was not in within %g s", self.request_read_timeout_s)
        conn.close()
        return False

    def _collect(self, conn: TConn) -> tuple[bytes, bool]:
        """Take what the client sent so far without waiting (so the poller sees only new bytes), up to
        the read-ahead window; and whether the client has closed (the thread then sees it)."""
        head: bytearray = conn.__dict__.setdefault("early_bytes", bytearray())
        while len(head) < READ_AHEAD_BYTES:
            wanted = READ_AHEAD_BYTES - len(head)
            try:
                data = conn.sock.recv(wanted, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return bytes(head), False
            except OSError:
                return bytes(head), True
            if not data:
                return bytes(head), True
            head += data
            if len(data) < wanted:
                # A short read took all the kernel held: asking again would only fail (a system call
                # and an exception per request); bytes arriving meanwhile wake the poller again.
                return bytes(head), False
        return bytes(head), False

    def _within_time(self, conn: TConn) -> bool:
        started: float | None = getattr(conn, "request_started", None)
        now = time.monotonic()
        if started is None:
            conn.request_started = now
            return True
        return now - started < self.request_read_timeout_s

    def _start_request(self, conn: TConn, head: bytes) -> None:
        """Hand the request to this thread: its parser gets the bytes collected, and the request's time
        runs on from when the poller first saw it."""
        started: float = getattr(conn, "request_started", None) or time.monotonic()
        conn.request_started = None
        conn.early_bytes = bytearray()
        conn.data_ready = True  # gthread's own wait for a first byte is over
        conn.init()
        if conn.parser is None or conn.is_http2:
            return
        if type(conn.parser.unreader) is SocketUnreader:
            unreader = DeadlineUnreader(conn.sock, self.request_read_timeout_s)
            unreader.buf = conn.parser.unreader.buf
            conn.parser.unreader = unreader
        if head:
            conn.parser.unreader.unread(head)
        if isinstance(conn.parser.unreader, DeadlineUnreader):
            conn.parser.unreader.deadline = started + self.request_read_timeout_s


def deadline_worker(request_read_timeout_s: float) -> type[DeadlineThreadWorker]:
    """The worker class with its time limit set (gunicorn takes a class, not an instance)."""
    return type("DeadlineThreadWorker", (DeadlineThreadWorker,), {"request_read_timeout_s": request_read_timeout_s})
