"""A minimal, fast HTTP/1.1 server to put behind the emulator in tests and the self-test.

``GET /N`` answers N zero bytes; ``GET /N?wait=S`` waits S seconds first (to hold requests
in flight); any request with a body (PUT, POST) has it read and dropped, then gets an
empty 200. Keep-alive throughout. It costs far less CPU per byte than moto, so what a
measurement through it shows is the emulator's behaviour, not the server's.
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from urllib.parse import parse_qs, urlsplit

__all__ = ["BlobServer"]

_ZEROS = bytes(1024 * 1024)


class BlobServer:
    """``async with BlobServer() as server: server.endpoint_url``."""

    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0
        self.requests = 0

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> BlobServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.requests += 1
                lines = head.decode("latin-1").split("\r\n")
                method, target = lines[0].split(" ")[:2]
                headers = {
                    k.strip().lower(): v.strip()
                    for k, _, v in (line.partition(":") for line in lines[1:] if line)
                }
                length = int(headers.get("content-length", "0"))
                if headers.get("expect", "").lower() == "100-continue" and length:
                    writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                while length:
                    length -= len(await reader.read(min(length, 1024 * 1024)))
                url = urlsplit(target)
                wait = float(parse_qs(url.query).get("wait", ["0"])[0])
                if wait:
                    await asyncio.sleep(wait)
                size = int(url.path.strip("/") or "0") if method == "GET" else 0
                writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n".encode())
                while size:
                    piece = min(size, len(_ZEROS))
                    writer.write(_ZEROS[:piece] if piece < len(_ZEROS) else _ZEROS)
                    size -= piece
                    await writer.drain()
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, OSError, ValueError):
            pass
        finally:
            self._writers.discard(writer)
            self._tasks.discard(task)
            writer.close()
