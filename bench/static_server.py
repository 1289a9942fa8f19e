"""A canned HTTP answer as cheap as Python serves it: what the load client reaches when the server costs nothing.

    python bench/static_server.py PORT

Every request (keep-alive, any method; a body is read by its Content-Length and dropped) gets the
same small JSON answer from one asyncio process. bench/api_bench.py runs its load client against it
with the very requests it then sends to the API: the client's own ceiling, which must stay well
above every figure it measures.
"""

from __future__ import annotations

import asyncio
import sys

ANSWER = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 17\r\n\r\n{"hello":"world"}'
HEAD_END = b"\r\n\r\n"
LENGTH = b"\r\ncontent-length:"


def complete_requests(buffer: bytes) -> tuple[int, bytes]:
    """How many whole requests ``buffer`` starts with, and what is left of it after them."""
    count = 0
    while (end := buffer.find(HEAD_END)) >= 0:
        head = buffer[:end].lower()
        length = 0
        if (at := head.find(LENGTH)) >= 0:
            line_end = head.find(b"\r\n", at + 2)
            length = int(head[at + len(LENGTH) : line_end if line_end >= 0 else None])
        if len(buffer) < end + len(HEAD_END) + length:
            break
        buffer = buffer[end + len(HEAD_END) + length :]
        count += 1
    return count, buffer


class CannedAnswer(asyncio.Protocol):
    def __init__(self) -> None:
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        count, self.buffer = complete_requests(self.buffer + data)
        if count and self.transport is not None:
            self.transport.write(ANSWER * count)


async def serve(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(CannedAnswer, "127.0.0.1", port, backlog=1024)
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
