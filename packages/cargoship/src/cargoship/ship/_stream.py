"""The compressed archive as an async stream: packing and compression in a worker thread,
handed to the upload through a bounded queue.

The worker (:class:`ArchiveStream`) runs a blocking ``work(sink)`` function
(the tar packer feeding a codec) in a thread; everything written to ``sink``
is cut into :data:`CHUNK_SIZE` pieces and put on an :class:`asyncio.Queue` of
:data:`QUEUE_CHUNKS` pieces. When the upload is slower than the packer the
queue fills and the worker blocks on its next write: backpressure, so memory
stays at a few chunks whatever the archive's size, and nothing is spooled to
disk. The stream also counts and hashes (SHA-256) every byte it hands over.

When the consumer goes away (the upload failed or was cancelled), the worker's
next write raises, so the worker never blocks on a queue nobody reads: each
wait for room is bounded by :data:`STOP_POLL` seconds and then rechecks.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import threading
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import Final, Generic, Protocol, Self, TypeVar

from blobcodec.registry import get_codec
from blobcodec.seekable import SeekableWriter, WritableBinary

__all__ = [
    "CHUNK_SIZE",
    "QUEUE_CHUNKS",
    "STOP_POLL",
    "ArchiveStream",
    "CodecSink",
    "StreamStoppedError",
    "open_codec",
]

CHUNK_SIZE: Final = 1 << 20
"""Bytes per piece handed to the upload."""
QUEUE_CHUNKS: Final = 4
"""Pieces the queue holds before the worker waits."""
STOP_POLL: Final = 0.2
"""Seconds between checks, while the worker waits for room, that the consumer is still there."""

_T = TypeVar("_T")
_GONE: Final = "the upload stopped reading the archive stream"
_END: Final = b""
"""The worker's last item (data pieces are never empty)."""


class StreamStoppedError(Exception):
    """Raised in the worker when the consumer of the stream has gone away."""


class CodecSink(Protocol):
    """Where the tar stream goes: a codec compressing into the archive stream."""

    @property
    def frame_size(self) -> int | None:
        """Tar bytes per seekable zstd frame; None for a codec without frames."""
        ...

    def write(self, data: bytes, /) -> object:
        """Compress the next bytes of the tar stream."""
        ...

    def finish(self) -> SeekableWriter | None:
        """End the compressed stream; the closed writer (its seek table) for seekable zstd."""
        ...

    def abort(self) -> None:
        """Give up without ending the stream (a seekable archive then has no seek table)."""
        ...


class _SeekableSink:
    """Seekable zstd (blobcodec.seekable); the packer records the member index."""

    def __init__(self, dst: WritableBinary, level: int | None, threads: int) -> None:
        self._writer = SeekableWriter(
            dst, level=3 if level is None else level, threads=threads or None
        )

    @property
    def frame_size(self) -> int:
        return self._writer.frame_size

    def write(self, data: bytes, /) -> object:
        return self._writer.write(data)

    def finish(self) -> SeekableWriter:
        self._writer.close()
        return self._writer

    def abort(self) -> None:
        self._writer.abort()


class _PlainSink:
    """One ordinary stream of a blobcodec codec (lz4 frame, gzip member, or no compression)."""

    frame_size = None

    def __init__(self, dst: WritableBinary, compression: str, level: int | None) -> None:
        self._dst = dst
        self._compressor = get_codec(compression, level).compressor()

    def write(self, data: bytes, /) -> object:
        if out := self._compressor.compress(data):
            self._dst.write(out)
        return len(data)

    def finish(self) -> None:
        if out := self._compressor.flush():
            self._dst.write(out)

    def abort(self) -> None:
        """Nothing to release: the stream simply stops."""


def open_codec(dst: WritableBinary, compression: str, level: int | None, threads: int) -> CodecSink:
    """A :class:`CodecSink` compressing into ``dst``.

    ``zstd``: the seekable format, ``threads`` frames compressed in parallel
    (0: one per core). ``lz4``, ``gzip``, ``none``: one ordinary stream of that
    format, which its own tool reads.
    """
    if compression == "zstd":
        return _SeekableSink(dst, level, threads)
    return _PlainSink(dst, compression, level)


class _QueueSink:
    """The worker's side: cuts bytes into pieces and puts them on the loop's queue."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        queue: asyncio.Queue[bytes],
        stopped: threading.Event,
    ) -> None:
        self._loop = loop
        self._queue = queue
        self._stopped = stopped
        self._buffer = bytearray()
        self.size = 0
        self.sha256 = hashlib.sha256()

    def write(self, data: bytes | bytearray | memoryview, /) -> int:
        if self._stopped.is_set():
            raise StreamStoppedError(_GONE)
        self._buffer += data
        self.size += len(data)
        self.sha256.update(data)
        while len(self._buffer) >= CHUNK_SIZE:
            piece = bytes(self._buffer[:CHUNK_SIZE])
            del self._buffer[:CHUNK_SIZE]
            self.put(piece)
        return len(data)

    def flush(self) -> None:
        """Hand over what is left of the last piece."""
        if self._buffer:
            piece, self._buffer = bytes(self._buffer), bytearray()
            self.put(piece)

    def put(self, item: bytes) -> None:
        """Put ``item`` on the queue, waiting for room; StreamStoppedError once nobody reads."""
        future = asyncio.run_coroutine_threadsafe(self._queue.put(item), self._loop)
        while True:
            try:
                future.result(timeout=STOP_POLL)
                return
            except concurrent.futures.TimeoutError:
                if self._stopped.is_set():
                    future.cancel()
                    raise StreamStoppedError(_GONE) from None


class ArchiveStream(Generic[_T]):
    """Run ``work(sink)`` in a thread and iterate, on the loop, over the bytes it writes.

    Use as an async context manager around the upload that consumes it::

        async with ArchiveStream(pack) as stream:
            info = await store.upload(key, stream)
        result = stream.result

    Iteration ends only after ``work`` returned, and raises what ``work``
    raised, so a consumer never takes a failed stream for a complete one.
    :meth:`packed` gives what ``work`` returned as soon as it returns, while
    the consumer may still be sending the last bytes. Leaving the block stops
    the worker and waits for its thread to end. ``notify(fn, *args)`` lets
    ``work`` call ``fn`` on the event loop.
    """

    def __init__(self, work: Callable[[WritableBinary], _T]) -> None:
        self._work = work
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(QUEUE_CHUNKS)
        self._stopped = threading.Event()
        self._loop = asyncio.get_running_loop()
        self._sink = _QueueSink(self._loop, self._queue, self._stopped)
        self._future: asyncio.Future[_T] | None = None
        self._started = False
        self._launched = asyncio.Event()

    @property
    def size(self) -> int:
        """Bytes handed over so far."""
        return self._sink.size

    def sha256_tag(self) -> str:
        """``"sha256:<hex>"`` of the bytes handed over so far."""
        return "sha256:" + self._sink.sha256.hexdigest()

    @property
    def result(self) -> _T:
        """What ``work`` returned (only once the stream was read to its end)."""
        if self._future is None or not self._future.done():
            raise RuntimeError("the archive stream has not been read to its end")
        return self._future.result()

    async def packed(self) -> _T:
        """What ``work`` returned, once it returned (it starts when iteration does); what
        it raised, if it failed. Cancelling this wait leaves the worker running."""
        await self._launched.wait()
        assert self._future is not None
        return await asyncio.shield(self._future)

    def notify(self, fn: Callable[..., object], *args: object) -> None:
        """Call ``fn(*args)`` on the event loop (from the worker thread)."""
        self._loop.call_soon_threadsafe(fn, *args)

    def _run(self) -> _T:
        try:
            result = self._work(self._sink)
            self._sink.flush()
            return result
        finally:
            # Wake the consumer whether work succeeded or not; it then awaits the outcome.
            if not self._stopped.is_set():
                self._sink.put(_END)

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        if self._started:
            raise RuntimeError("an archive stream can be read only once")
        self._started = True
        self._future = asyncio.ensure_future(asyncio.to_thread(self._run))
        self._launched.set()
        while piece := await self._queue.get():
            yield piece
        await self._future

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stopped.set()
        while not self._queue.empty():
            self._queue.get_nowait()
        if self._future is not None:
            # The worker notices within STOP_POLL seconds, or at its next write.
            await asyncio.wait([self._future])
            if not self._future.cancelled():
                self._future.exception()  # retrieved: its error already reached the consumer
