"""Putting ranges fetched out of order back in order, and hashing them as S3 does.

Pure asyncio and hashlib: no requests, so both are unit-tested with fakes.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable

from s3opt.transfer.parts import multipart_etag

__all__ = ["EtagHasher", "ordered"]


async def ordered(
    ranges: Iterable[tuple[int, int]],
    fetch: Callable[[int, int], Awaitable[bytes]],
    ahead: Callable[[], int],
) -> AsyncIterator[bytes]:
    """Fetch ``ranges`` concurrently and yield their bytes in order.

    At most ``ahead()`` fetches are started beyond the one being delivered
    (the reassembly window), so a slow consumer holds memory to that many
    ranges. Stopping the iteration cancels the fetches still running.
    """
    pending: deque[asyncio.Future[bytes]] = deque()
    source = iter(ranges)
    exhausted = False
    try:
        while True:
            while not exhausted and len(pending) < max(1, ahead()):
                item = next(source, None)
                if item is None:
                    exhausted = True
                    break
                pending.append(asyncio.ensure_future(fetch(*item)))
            if not pending:
                return
            head = pending.popleft()
            try:
                data = await head
            except BaseException:
                pending.appendleft(head)
                raise
            yield data
    finally:
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
            for task in pending:
                if not task.cancelled():
                    task.exception()


class EtagHasher:
    """Computes an object's ETag from its bytes delivered in order, for a known part layout."""

    __slots__ = ("_current", "_digests", "_left", "_parts")

    def __init__(self, parts: tuple[int, ...] | None) -> None:
        self._parts = deque(parts) if parts else deque()
        self._digests: list[bytes] = []
        self._current = hashlib.md5()
        self._left = self._parts.popleft() if self._parts else -1

    def update(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self._left < 0:  # single part: one MD5 of everything
                self._current.update(view)
                return
            take = min(self._left, len(view))
            self._current.update(view[:take])
            view = view[take:]
            self._left -= take
            if self._left == 0 and self._parts:
                self._digests.append(self._current.digest())
                self._current = hashlib.md5()
                self._left = self._parts.popleft()

    def etag(self) -> str:
        if self._left < 0:
            return self._current.hexdigest()
        return multipart_etag([*self._digests, self._current.digest()])
