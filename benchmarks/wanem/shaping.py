"""One direction of one proxied connection: rate caps, a bounded bottleneck queue, delay.

Each chunk read from the source is (1) paced by the connection's token bucket (one TCP
stream's ceiling), (2) queued on the aggregate link all connections share (a FIFO
bottleneck serialising at its rate), and (3) delivered one-way-delay after it leaves the
bottleneck. Delivery is scheduled, never waited on by the reader: many chunks are in
flight at once, in order, as on a real path (no stop-and-wait). The reader holds (stops
reading, so the sender's TCP window closes) while the bottleneck's queue is full or too
many bytes wait in the delay line.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections import deque

from .profiles import Profile

__all__ = ["Bucket", "Link", "Pipe", "abort_with_reset"]

BURST_SECONDS = 0.05  # a late timer wake-up within this is caught up, not lost
MAX_DELAYED_BYTES = 32 * 1024 * 1024
WRITE_HIGH_WATER = 4 * 1024 * 1024
_EOF = object()


class _Switch:
    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer


_RESET = object()


class Bucket:
    """A token bucket with a small burst: ``reserve`` says when ``nbytes`` may go."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.free_at = 0.0

    def reserve(self, now: float, nbytes: int) -> float:
        start = max(self.free_at, now - BURST_SECONDS)
        self.free_at = start + nbytes / self.rate
        return start


class Link:
    """A bottleneck shared by all connections in one direction: FIFO at ``rate``."""

    def __init__(self, rate: float, queue_seconds: float) -> None:
        self.rate = rate
        self.queue_seconds = queue_seconds
        self.free_at = 0.0

    def send(self, now: float, nbytes: int) -> float:
        """Queue ``nbytes`` now; return when its last byte leaves the bottleneck."""
        self.free_at = max(self.free_at, now) + nbytes / self.rate
        return self.free_at

    def overfull_for(self, now: float) -> float:
        """Seconds until the queue is back within its bound (0 if it is)."""
        return max(0.0, self.free_at - now - self.queue_seconds)

    def queued_bytes(self, now: float) -> int:
        return int(max(0.0, self.free_at - now) * self.rate)


def abort_with_reset(writer: asyncio.StreamWriter) -> None:
    """Close a connection with a TCP RST (SO_LINGER 0), as a dropped path does."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class Pipe:
    """Delivers one direction's bytes to ``writer`` after shaping (see module docstring)."""

    def __init__(
        self, profile: Profile, aggregate: Link | None, writer: asyncio.StreamWriter | None
    ) -> None:
        self._loop = asyncio.get_running_loop()
        rate = profile.per_connection_rate
        self._bucket = Bucket(rate) if rate else None
        self._aggregate = aggregate
        self._one_way = profile.one_way
        self._shaped = profile.shaped
        self._writer = writer
        self._queue: deque[tuple[float, object]] = deque()
        self._delayed = 0
        self._last_at = 0.0
        self._wake = asyncio.Event()
        self._space = asyncio.Event()
        self._done = asyncio.Event()
        self._task = self._loop.create_task(self._deliver())

    async def send(self, data: bytes) -> None:
        """Shape and schedule ``data``; returns when the reader may read again."""
        if not self._shaped and not self._queue and self._writer is not None:  # lan: at once
            self._writer.write(data)
            if self._writer.transport.get_write_buffer_size() > WRITE_HIGH_WATER:
                await self._writer.drain()
            return
        now = self._loop.time()
        leaves = now
        if self._bucket is not None:
            start = self._bucket.reserve(now, len(data))
            if start > now:
                await asyncio.sleep(start - now)
            leaves = max(start + len(data) / self._bucket.rate, self._loop.time())
        if self._aggregate is not None:
            leaves = max(leaves, self._aggregate.send(self._loop.time(), len(data)))
        self._put(leaves + self._one_way, data)
        await self._hold()

    def inject(self, data: bytes, delay: float) -> None:
        """Schedule bytes the proxy writes itself (100 Continue, 503), unshaped, in order."""
        self._put(self._loop.time() + delay, data)

    def reset(self) -> None:
        """Reset the destination connection once everything queued before has arrived."""
        self._put(self._loop.time() + self._one_way, _RESET)

    def switch(self, writer: asyncio.StreamWriter) -> None:
        """Deliver what follows to ``writer`` (a new server connection); close the old one."""
        self._put(self._loop.time(), _Switch(writer))

    def finish(self) -> None:
        """End the destination's stream (half-close) after everything queued arrives."""
        self._put(self._loop.time() + self._one_way, _EOF)

    async def wait_done(self) -> None:
        await self._done.wait()

    def cancel(self) -> None:
        self._task.cancel()
        self._done.set()

    def _put(self, at: float, item: object) -> None:
        at = max(at, self._last_at)
        self._last_at = at
        if isinstance(item, bytes):
            self._delayed += len(item)
        self._queue.append((at, item))
        self._wake.set()

    async def _hold(self) -> None:
        if self._aggregate is not None:
            wait = self._aggregate.overfull_for(self._loop.time())
            if wait > 0:
                await asyncio.sleep(wait)
        while self._delayed > MAX_DELAYED_BYTES and not self._done.is_set():
            self._space.clear()
            await self._space.wait()

    async def _deliver(self) -> None:
        try:
            while True:
                if not self._queue:
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                at, item = self._queue[0]
                delay = at - self._loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                    continue
                self._queue.popleft()
                writer = self._writer
                if isinstance(item, _Switch):
                    if writer is not None:
                        writer.close()
                    self._writer = item.writer
                    continue
                if writer is None:
                    return
                if item is _RESET:
                    abort_with_reset(writer)
                    return
                if item is _EOF:
                    if writer.can_write_eof() and not writer.is_closing():
                        writer.write_eof()
                    return
                assert isinstance(item, bytes)
                if writer.is_closing():
                    return
                writer.write(item)
                self._delayed -= len(item)
                self._space.set()
                if writer.transport.get_write_buffer_size() > WRITE_HIGH_WATER:
                    await writer.drain()
        except (ConnectionError, OSError):
            return
        finally:
            self._done.set()
            self._space.set()
