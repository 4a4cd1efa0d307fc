"""Request bodies of parts: bytes sent without copies, and spans of a file never held whole.

aiohttp picks how to send a body by its type (``aiohttp.payload``): ``io.BytesIO``
bodies (:class:`PartBody`) and :class:`~s3opt._aws.LoopReadBody` ones
(:class:`FilePartBody`) are read 256 KiB at a time on the event loop, each chunk
waiting for the socket to drain. Both kinds are seekable, so a retried attempt
rewinds them (``TransferContext.call(rewind=...)``).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
from collections import deque
from collections.abc import AsyncGenerator, Callable, Iterator
from typing import Any, Final

from s3opt._aws import LoopReadBody
from s3opt.transfer.parts import PartDigest

__all__ = ["HASHERS", "HASH_AHEAD", "FilePart", "FilePartBody", "PartBody", "hashed_ahead"]


class PartBody(io.BytesIO):
    """A part's bytes as a request body that aiohttp sends in 256 KiB pieces, without copies.

    Given ``bytes``, aiohttp writes them to the socket transport in one call, and
    asyncio (before Python 3.12) copies whatever the socket does not take at once
    into the transport's buffer: on a slow path, a second copy of every part in
    flight. As a :class:`io.BytesIO`, aiohttp reads and writes the body a chunk at a
    time, waiting for the socket to drain. ``BytesIO(bytes)`` shares the bytes until
    something asks for a writable buffer, which aiohttp does once (``getbuffer()``,
    to learn the size): answered here with a read-only view of the same bytes, so
    nothing is ever copied whole. The body is rewound for each attempt
    (``TransferContext.call(rewind=...)``).
    """

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self._data = data

    def getbuffer(self) -> memoryview:
        return memoryview(self._data)

    def write(self, data: Any) -> int:
        raise io.UnsupportedOperation("a part body is read-only")


HASH_AHEAD: Final = 16
"""Parts of a file hashed ahead of sending (:func:`hashed_ahead`): a refill of a whole
initial window (16 parts of the default 5 MiB) finds its digests ready."""

HASHERS: Final = 2
"""Threads hashing a file's parts at once (hashlib releases the GIL)."""

_READ_BLOCK: Final = 256 * 2**10
"""Bytes a file part is hashed by per read: enough to keep the hash in C, little memory
(:data:`HASHERS` reads at once)."""


class FilePart:
    """A part whose bytes stay in a file until they are sent: ``length`` bytes at ``offset``.

    Hashed with one pass over the file (:meth:`digest`, in a thread) and sent with
    another (:meth:`body`), both served by the page cache, so an upload from a file
    holds no part in memory: its memory no longer grows with the window. ``shrank``
    builds the error raised when the file ends before the part does. Bytes that change
    between the two passes cannot be stored: the part's ``Content-MD5`` and
    ``x-amz-checksum-sha256`` are those of the first pass (S3 refuses a body that does
    not match them) and its ETag is compared with them.
    """

    __slots__ = ("digested", "fd", "length", "offset", "shrank")

    def __init__(self, fd: int, offset: int, length: int, shrank: Callable[[], Exception]) -> None:
        self.fd = fd
        self.offset = offset
        self.length = length
        self.shrank = shrank
        self.digested: PartDigest | None = None
        """The :meth:`digest` already taken ahead of sending, if any."""

    def __len__(self) -> int:
        return self.length

    def read_at(self, position: int, size: int) -> bytes:
        """Up to ``size`` bytes from ``position`` within the part (``shrank()`` if the file
        ends first)."""
        size = min(size, self.length - position)
        if size <= 0:
            return b""
        data = os.pread(self.fd, size, self.offset + position)
        if not data:
            raise self.shrank()
        return data

    def digest(self) -> PartDigest:
        """MD5 and SHA-256 of the part, read a block at a time (call it in a thread)."""
        md5 = hashlib.md5()
        sha256 = hashlib.sha256()
        position = 0
        while position < self.length:
            block = self.read_at(position, _READ_BLOCK)
            md5.update(block)
            sha256.update(block)
            position += len(block)
        return PartDigest(md5.digest(), sha256.digest())

    def body(self) -> FilePartBody:
        return FilePartBody(self)


class FilePartBody(LoopReadBody):
    """A :class:`FilePart` as a seekable, read-only request body.

    aiohttp sends it by reading 256 KiB at a time on the event loop
    (:class:`~s3opt._aws.LoopReadBody`): the part was hashed through the page cache
    moments before, so each read is a copy from memory, cheaper than the thread hop
    aiohttp makes for other ``io.IOBase`` bodies. botocore learns its length by seeking
    to the end; a retry rewinds it with ``seek(0)``. It has no ``fileno()``: the part is
    a span of the file, not the whole file aiohttp would otherwise measure.
    """

    def __init__(self, part: FilePart) -> None:
        super().__init__()
        self._part = part
        self._position = 0

    def __len__(self) -> int:
        return self._part.length

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._position, os.SEEK_END: self._part.length}
        position = base[whence] + offset
        if position < 0:
            raise ValueError(f"negative seek position {position}")
        self._position = position
        return position

    def read(self, size: int | None = -1) -> bytes:
        remaining = self._part.length - self._position
        if size is None or size < 0 or size > remaining:
            size = remaining
        data = self._part.read_at(self._position, size)
        self._position += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


async def hashed_ahead(
    parts: Iterator[tuple[int, FilePart]],
) -> AsyncGenerator[tuple[int, FilePart], None]:
    """``parts`` (number, part) in order, each with its digest taken (``part.digested``).

    Up to :data:`HASH_AHEAD` parts are hashed before they are wanted, by at most
    :data:`HASHERS` threads, so the CPU work of hashing is done while earlier parts are
    on the wire: when a wave of parts completes, the next wave's digests are ready and
    its parts start at once instead of one hash after another (on a 2-core machine
    under load an 8 MiB part took ~90 ms to hash; sixteen delayed a refill by ~0.7 s).
    A digest holds 48 bytes, not the part. Threads are never abandoned: the generator
    waits for any hash in progress before it returns, so the file stays open for them.
    """
    gate = asyncio.Semaphore(HASHERS)
    stopping = False

    async def hash_one(number: int, part: FilePart) -> tuple[int, FilePart]:
        async with gate:
            if not stopping:
                part.digested = await asyncio.to_thread(part.digest)
        return number, part

    pending: deque[asyncio.Task[tuple[int, FilePart]]] = deque()
    try:
        for number, part in parts:
            pending.append(asyncio.ensure_future(hash_one(number, part)))
            while len(pending) >= HASH_AHEAD:
                await asyncio.wait([pending[0]])
                yield pending.popleft().result()
        while pending:
            await asyncio.wait([pending[0]])
            yield pending.popleft().result()
    finally:
        stopping = True
        if pending:
            await asyncio.wait(pending)
            for task in pending:
                task.exception()  # retrieved: the transfer reports its own error
