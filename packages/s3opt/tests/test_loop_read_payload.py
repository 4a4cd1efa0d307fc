"""A part's request body sent again whole when aiohttp resends it on its own.

aiohttp resends an idempotent request (a PUT: every part) once when its connection is
closed or reset before the answer, with the same payload object. The payload must send
the part from its start again, not from where the first attempt left the body: sent from
there, the resend carried no bytes under a whole part's ``Content-Length``, and the part
hung until the read timeout.

The server here is a few lines of asyncio on 127.0.0.1 (real sockets, aiohttp's real
client): its first connection is reset after some of the body, the second is answered.
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest

from s3opt.transfer.bodies import FilePart, FilePartBody, PartBody

MiB = 2**20
PART = 3 * MiB + 5


class _ResetFirstConnection:
    """Reset the first connection after ``cut`` bytes of body; answer the others 200 with
    the bytes they sent kept in ``bodies``."""

    def __init__(self, cut: int) -> None:
        self.cut = cut
        self.connections = 0
        self.bodies: list[bytes] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        first = self.connections == 1
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            if first:
                await reader.readexactly(self.cut)
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.transport.abort()  # an RST, as the lossy profile sends
                return
            body = b""
            try:
                async with asyncio.timeout(5):
                    body = await reader.readexactly(length)
            except (TimeoutError, asyncio.IncompleteReadError) as short:
                body = getattr(short, "partial", body)
            self.bodies.append(body)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
        finally:
            writer.close()


@asynccontextmanager
async def _serving(handler: _ResetFirstConnection) -> AsyncIterator[str]:
    server = await asyncio.start_server(handler.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/part"
    finally:
        server.close()
        await server.wait_closed()


def _part_of(tmp_path: Path) -> tuple[FilePart, bytes]:
    data = os.urandom(MiB + PART)
    path = tmp_path / "source.bin"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    part = FilePart(fd, MiB, PART, lambda: AssertionError("the file shrank"))
    return part, data[MiB : MiB + PART]


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["file", "bytes"])
async def test_a_part_resent_by_aiohttp_after_a_reset_is_sent_whole(
    tmp_path: Path, kind: str
) -> None:
    part, expected = _part_of(tmp_path)
    handler = _ResetFirstConnection(cut=MiB)
    try:
        async with _serving(handler) as url, aiohttp.ClientSession() as session:
            body = FilePartBody(part) if kind == "file" else PartBody(expected)
            async with session.put(
                url,
                data=body,
                headers={"Content-Length": str(PART)},
                timeout=aiohttp.ClientTimeout(total=20),
            ) as reply:
                assert reply.status == 200
    finally:
        os.close(part.fd)
    assert handler.connections == 2  # the reset connection and aiohttp's own resend
    assert [len(got) for got in handler.bodies] == [PART]
    assert handler.bodies[0] == expected


@pytest.mark.asyncio
async def test_a_body_shorter_than_its_content_length_fails_the_request(tmp_path: Path) -> None:
    # Left alone, the server would wait for the missing byte: the request fails at once
    # (before its 3 s timeout and the server's 5 s), as a connection error naming why.
    part, _ = _part_of(tmp_path)
    handler = _ResetFirstConnection(cut=0)
    handler.connections = 1  # no reset
    try:
        async with _serving(handler) as url, aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.ClientConnectionError) as failed:
                async with session.put(
                    url,
                    data=FilePartBody(part),
                    headers={"Content-Length": str(PART + 1)},  # one byte more than the part
                    timeout=aiohttp.ClientTimeout(total=3),
                ):
                    pass
    finally:
        os.close(part.fd)
    assert not isinstance(failed.value, TimeoutError)
    assert "1 bytes before its Content-Length" in repr(failed.value.__cause__)
