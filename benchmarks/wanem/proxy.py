"""The WAN emulator: an asyncio TCP proxy on loopback between an S3 client and server.

Every client connection gets its own upstream connection (keep-alive is preserved: the
proxy forwards bytes, it never closes a connection an HTTP message did not close). On
top of the shaping in :mod:`.shaping` it follows HTTP/1.1 messages (:mod:`.httpflow`):

* requests in flight = request heads read from clients whose final response has not yet
  been read from the server, over all connections. A request arriving while that count is
  at the profile's ``throttle_above`` is not forwarded: the proxy answers it itself, one
  RTT later, with S3's ``503 SlowDown`` (XML error body, ``Connection: keep-alive``;
  ``100 Continue`` first when the client asked for it, so its body is read and dropped);
* resets are decided per request (probability ``reset_probability``): a request with a
  body is cut at a uniformly random byte of that body; one without, at a random byte of
  its response's body (before the head when the body is empty). The client's connection
  gets a TCP RST, the server's is aborted.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import uuid
from collections import deque
from dataclasses import asdict, dataclass
from email.utils import formatdate
from types import TracebackType

from .httpflow import UNTIL_CLOSE, Head, HttpError, MessageStream
from .profiles import Profile, get_profile
from .shaping import Link, Pipe, abort_with_reset

__all__ = ["Counters", "WanEmulator", "slow_down_response"]

logger = logging.getLogger(__name__)

READ_SIZE_SHAPED = 64 * 1024
READ_SIZE_LAN = 256 * 1024
CONNECT_TIMEOUT = 10.0


@dataclass
class Counters:
    """What the emulator saw. ``requests`` counts every request head, throttled ones too."""

    connections: int = 0
    requests: int = 0
    throttled: int = 0
    resets: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def slow_down_response(*, head_only: bool = False) -> bytes:
    """S3's 503 SlowDown as S3 sends it: XML error body, request ids, keep-alive."""
    request_id = uuid.uuid4().hex[:16].upper()
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message>"
        f"<RequestId>{request_id}</RequestId><HostId>wanem</HostId></Error>"
    ).encode()
    head = (
        "HTTP/1.1 503 Slow Down\r\n"
        f"x-amz-request-id: {request_id}\r\n"
        "x-amz-id-2: wanem\r\n"
        "Content-Type: application/xml\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"Date: {formatdate(usegmt=True)}\r\n"
        "Server: AmazonS3\r\n"
        "Connection: keep-alive\r\n\r\n"
    ).encode()
    return head if head_only else head + body


@dataclass
class _Request:
    method: str
    client_close: bool = False
    reset_in_response: bool = False
    upstream: int = 0  # which server connection carries it


_Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]
_CONNECTION_CLOSE = re.compile(rb"(?im)^connection:[ \t]*close[ \t]*\r\n")


class _Connection:
    """One client connection and the server connections that serve it, one after another.

    moto's server (werkzeug) closes its connection after every response; real S3 keeps it
    open. So the client's connection stays open (the server's ``Connection: close`` is
    rewritten to ``keep-alive``) and the next request opens a new server connection: the
    client sees keep-alive, and its connection keeps its shaping state (one TCP stream).
    """

    def __init__(
        self,
        emulator: WanEmulator,
        client: _Stream,
    ) -> None:
        self._emu = emulator
        self._profile = emulator.profile
        self._client_reader, self._client_writer = client
        self._up_writer: asyncio.StreamWriter | None = None
        self._upstreams: asyncio.Queue[tuple[int, asyncio.StreamReader] | None] = asyncio.Queue()
        self._need_upstream = True
        self._serial = 0  # of the newest server connection
        self._up = Pipe(self._profile, emulator.links[0], None)
        self._down = Pipe(self._profile, emulator.links[1], self._client_writer)
        # Forwarded requests awaiting their response (_Request) and, behind them, answers
        # the proxy wrote itself (bytes): responses leave in request order.
        self._order: deque[_Request | bytes] = deque()
        self._dead = False
        self._read_size = READ_SIZE_SHAPED if self._profile.shaped else READ_SIZE_LAN

    async def run(self) -> None:
        try:
            await asyncio.gather(self._pump_requests(), self._pump_responses())
        finally:
            self._up.cancel()
            self._down.cancel()
            for writer in (self._client_writer, self._up_writer):
                if writer is None:
                    continue
                if self._dead:
                    writer.transport.abort()
                else:
                    writer.close()
            unanswered = sum(isinstance(item, _Request) for item in self._order)
            self._emu.counters.in_flight -= unanswered
            self._order.clear()

    def _is_dead(self) -> bool:
        return self._dead

    def abort(self) -> None:
        """Drop both sides now (the emulator is stopping); the pumps then end by themselves."""
        self._dead = True
        self._upstreams.put_nowait(None)
        for writer in (self._client_writer, self._up_writer):
            if writer is not None:
                writer.transport.abort()

    def _reset(self, *, now: bool) -> None:
        """Cut the connection: the client sees an RST (now, or after queued bytes arrive)."""
        if self._dead:
            return
        self._dead = True
        self._emu.counters.resets += 1
        if self._up_writer is not None:
            abort_with_reset(self._up_writer)
        self._upstreams.put_nowait(None)
        if now:
            abort_with_reset(self._client_writer)
        else:
            self._down.reset()

    async def _open_upstream(self) -> None:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(*self._emu.upstream, limit=1024 * 1024), CONNECT_TIMEOUT
        )
        self._up_writer = writer
        self._up.switch(writer)
        self._serial += 1
        self._upstreams.put_nowait((self._serial, reader))
        self._need_upstream = False

    # client -> server ---------------------------------------------------------------

    def _request_body_length(self, head: Head) -> int:
        return head.declared_length() or 0

    async def _pump_requests(self) -> None:
        parser = MessageStream(self._request_body_length)
        drop = False  # the current request is answered by the proxy, not forwarded
        reset_at: int | None = None  # body offset at which to reset the connection
        body_seen = 0
        try:
            while not self._dead:
                data = await self._client_reader.read(self._read_size)
                if not data or self._dead:
                    break
                out: list[bytes] = []
                cut = False
                for event in parser.feed(data):
                    if event.kind == "head":
                        drop, reset_at = self._on_request_head(event.head)
                        body_seen = 0
                        if not drop:
                            if self._need_upstream:
                                if out:
                                    await self._send_up(b"".join(out))
                                    out = []
                                await self._open_upstream()
                            request = self._order[-1]
                            assert isinstance(request, _Request)
                            request.upstream = self._serial
                            out.append(event.data)
                    elif event.kind == "body":
                        if drop:
                            continue
                        if reset_at is not None and body_seen + len(event.data) > reset_at:
                            out.append(event.data[: reset_at - body_seen])
                            cut = True
                            break
                        body_seen += len(event.data)
                        out.append(event.data)
                    elif drop:  # end of a throttled request: answer it
                        self._answer(slow_down_response(head_only=event.head.method == "HEAD"))
                        drop = False
                if out:
                    await self._send_up(b"".join(out))
                if cut:
                    self._reset(now=True)
                    return
            if not self._dead:
                self._up.finish()
                self._upstreams.put_nowait(None)
                await self._up.wait_done()
        except (ConnectionError, OSError, HttpError, TimeoutError) as exc:
            logger.debug("client side of a connection ended: %r", exc)
            self._dead = True
            self._upstreams.put_nowait(None)

    async def _send_up(self, chunk: bytes) -> None:
        self._emu.counters.bytes_up += len(chunk)
        await self._up.send(chunk)

    def _on_request_head(self, head: Head) -> tuple[bool, int | None]:
        """Count the request; return (answer it with 503?, body offset to reset at)."""
        counters = self._emu.counters
        counters.requests += 1
        limit = self._profile.throttle_above
        if limit is not None and counters.in_flight >= limit:
            counters.throttled += 1
            if head.headers.get("expect", "").lower() == "100-continue":
                self._down.inject(b"HTTP/1.1 100 Continue\r\n\r\n", self._profile.rtt)
            return True, None
        counters.in_flight += 1
        counters.peak_in_flight = max(counters.peak_in_flight, counters.in_flight)
        close = head.headers.get("connection", "").lower() == "close"
        request = _Request(head.method, client_close=close)
        self._order.append(request)
        if self._emu.rng.random() >= self._profile.reset_probability:
            return False, None
        length = head.declared_length() or 0
        if length > 0:
            return False, self._emu.rng.randrange(length)
        request.reset_in_response = True
        return False, None

    def _answer(self, response: bytes) -> None:
        if any(isinstance(item, _Request) for item in self._order):
            self._order.append(response)
        else:
            self._down.inject(response, self._profile.rtt)

    # server -> client ---------------------------------------------------------------

    def _response_body_length(self, head: Head) -> int:
        status = head.status
        if status < 200 or status in (204, 304):
            return 0
        first = self._order[0] if self._order else None
        if isinstance(first, _Request) and first.method == "HEAD":
            return 0
        length = head.declared_length()
        return UNTIL_CLOSE if length is None else length

    async def _pump_responses(self) -> None:
        reset_at: int | None = None
        body_seen = 0
        try:
            while not self._dead:
                upstream = await self._upstreams.get()
                if upstream is None:
                    break
                serial, reader = upstream
                parser = MessageStream(self._response_body_length)
                while not self._dead:
                    data = await reader.read(self._read_size)
                    if self._is_dead():  # a reset while this read waited
                        break
                    if not data:
                        for _ in parser.feed_eof():
                            self._on_response_end()
                        break
                    out: list[bytes] = []
                    cut = False
                    for event in parser.feed(data):
                        if event.kind == "head":
                            reset_at = self._response_reset_point(event.head)
                            body_seen = 0
                            if reset_at == -1:
                                cut = True
                                break
                            out.append(self._keep_alive(event.head))
                        elif event.kind == "body":
                            if reset_at is not None and body_seen + len(event.data) > reset_at:
                                out.append(event.data[: reset_at - body_seen])
                                cut = True
                                break
                            body_seen += len(event.data)
                            out.append(event.data)
                        elif event.head.status >= 200:
                            if out:  # keep bytes and the proxy's own answers in order
                                await self._send_down(b"".join(out))
                                out = []
                            self._on_response_end()
                    if out:
                        await self._send_down(b"".join(out))
                    if cut:
                        self._reset(now=False)
                        return
                if any(isinstance(r, _Request) and r.upstream == serial for r in self._order):
                    break  # the server hung up on a request: so does the client's connection
                if serial == self._serial:
                    self._need_upstream = True
            if not self._dead:
                self._down.finish()
                await self._down.wait_done()
        except (ConnectionError, OSError, HttpError) as exc:
            logger.debug("server side of a connection ended: %r", exc)
            self._dead = True

    def _keep_alive(self, head: Head) -> bytes:
        """The head to forward: the server's ``Connection: close`` undone (see class doc)."""
        first = self._order[0] if self._order else None
        if head.status < 200 or not isinstance(first, _Request) or first.client_close:
            return head.raw
        if head.headers.get("connection", "").lower() != "close":
            return head.raw
        self._need_upstream = True
        return _CONNECTION_CLOSE.sub(b"Connection: keep-alive\r\n", head.raw)

    async def _send_down(self, chunk: bytes) -> None:
        self._emu.counters.bytes_down += len(chunk)
        await self._down.send(chunk)

    def _response_reset_point(self, head: Head) -> int | None:
        """None: no reset; -1: reset before this head; n: after n body bytes."""
        first = self._order[0] if self._order else None
        if head.status < 200 or not isinstance(first, _Request) or not first.reset_in_response:
            return None
        length = self._response_body_length(head)
        if length == 0:
            return -1
        span = length if length > 0 else 64 * 1024
        return self._emu.rng.randrange(span)

    def _on_response_end(self) -> None:
        if self._order and isinstance(self._order[0], _Request):
            self._order.popleft()
            self._emu.counters.in_flight -= 1
        while self._order and isinstance(self._order[0], bytes):
            answer = self._order.popleft()
            assert isinstance(answer, bytes)
            self._down.inject(answer, self._profile.rtt)


def _parse_address(address: str) -> tuple[str, int]:
    address = address.removeprefix("http://").rstrip("/")
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"expected HOST:PORT or http://HOST:PORT, got {address!r}")
    return host, int(port)


class WanEmulator:
    """``async with WanEmulator("far", "http://127.0.0.1:5000") as emu: emu.endpoint_url``."""

    def __init__(
        self,
        profile: Profile | str,
        upstream: str,
        *,
        listen: str = "127.0.0.1:0",
    ) -> None:
        self.profile = get_profile(profile) if isinstance(profile, str) else profile
        self.upstream = _parse_address(upstream)
        self._listen = _parse_address(listen)
        self.counters = Counters()
        self.rng = random.Random(self.profile.seed)
        self.links: tuple[Link | None, Link | None] = (None, None)
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.address: tuple[str, int] = self._listen

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.address[0]}:{self.address[1]}"

    async def start(self) -> None:
        rate = self.profile.aggregate_rate
        if rate:
            self.links = (
                Link(rate, self.profile.queue_seconds),
                Link(rate, self.profile.queue_seconds),
            )
        self._server = await asyncio.start_server(
            self._accept, self._listen[0], self._listen[1], limit=1024 * 1024
        )
        host, port = self._server.sockets[0].getsockname()[:2]
        self.address = (host, port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for connection in list(self._connections):
            connection.abort()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.counters.connections += 1
        connection = _Connection(self, (reader, writer))
        self._connections.add(connection)
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await connection.run()
        finally:
            self._connections.discard(connection)
            self._tasks.discard(task)

    async def __aenter__(self) -> WanEmulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
