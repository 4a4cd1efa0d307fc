"""Reading an archive from a store: the whole stream in order, or some members by ranged reads.

Every byte and GET goes through an :class:`ArchiveFetcher`, which counts them
(what ``restore`` and ``verify`` report as fetched). Two ways to read:

* the whole object in order (:meth:`ArchiveFetcher.stream`: the store's
  parallel ranged GETs, delivered in order) handed to a worker thread as a
  blocking binary file (:class:`StreamBridge`, :func:`run_with_stream`), where
  tar parsing, hashing and disk writes run off the event loop;
* the frames of chosen members only (:func:`member_chunks`): ranged reads
  through :class:`blobcodec.seekable.AsyncSeekableReader` for seekable zstd
  ("Zstandard Seekable Format" 0.1.0), plain ranges of the tar for ``none``.

A stream may be started before its reader is ready (:class:`StreamAhead`): it
receives and holds its first bytes meanwhile, so the reader finds them there and
the store's congestion window already open.

Memory stays bounded: a stream holds the store's read-ahead window plus one
chunk (plus what a :class:`StreamAhead` holds, at most its limit); a member is
read in frame-aligned slices of at most :data:`SLICE_BYTES`.
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Collection
from dataclasses import dataclass
from functools import partial
from typing import BinaryIO, TypeVar

from blobcodec.checksum import sha256_tag
from blobcodec.errors import CorruptDataError, TruncatedDataError
from blobcodec.index import FIRST_READ_BYTES, ArchiveIndex, Member, read_members_async
from blobcodec.protocols import StreamDecompressor
from blobcodec.seekable import AsyncSeekableReader, SeekTable
from cargoship.concurrency import settle
from cargoship.errors import CargoshipError, IntegrityError, RetrievalRequiredError
from s3opt import ObjectInfo, ObjectStore

__all__ = [
    "COLD_CLASSES",
    "SLICE_BYTES",
    "STREAM_AHEAD_BYTES",
    "ArchiveFetcher",
    "DecompressedReader",
    "FetchCancelledError",
    "IndexHeadPrefetch",
    "IndexPrefetch",
    "SequentialReadAt",
    "StreamAhead",
    "StreamBridge",
    "check_seek_table",
    "ensure_available",
    "member_chunks",
    "run_with_stream",
    "size_problem",
]

SLICE_BYTES = 8 << 20
"""Most uncompressed bytes one ranged read of a member asks for (whole frames, at least one)."""

STREAM_AHEAD_BYTES = 64 << 20
"""Bytes of an archive a whole restore or verify receives (:class:`StreamAhead`) while it
reads the index and checks what it must before the stream: 1 s of a 60 MB/s link, with the
store's congestion window opened meanwhile."""

COLD_CLASSES = ("GLACIER", "DEEP_ARCHIVE")
"""Storage classes whose objects must be retrieved before they can be read."""

_READ_BYTES = 1 << 20  # compressed bytes a DecompressedReader takes from its stream at once
_POLL_SECONDS = 0.25  # how often a waiting worker thread looks whether it was cancelled

_T = TypeVar("_T")


class FetchCancelledError(CargoshipError):
    """The coroutine that started a worker thread was cancelled; the thread stops reading."""


@dataclass(slots=True)
class ArchiveFetcher:
    """Reads objects from ``store``, counting the bytes received and the requests made.

    A whole-object stream counts one request per chunk the store delivers
    (:class:`s3opt.S3Store` delivers one chunk per ranged GET).
    """

    store: ObjectStore
    bytes_fetched: int = 0
    requests: int = 0
    on_read: Callable[[int], None] | None = None
    """Called on the event loop with the size of every piece received, ranged or streamed (a
    progress bar)."""

    async def read_range(
        self, key: str, offset: int, size: int, *, if_match: str | None = None
    ) -> bytes:
        """``size`` bytes of ``key`` from ``offset``: one ranged GET (``if_match`` as
        :meth:`s3opt.ObjectStore.get_range` takes it)."""
        data = await self.store.get_range(key, offset, size, if_match=if_match)
        self.requests += 1
        self.bytes_fetched += len(data)
        if self.on_read is not None:
            self.on_read(len(data))
        return data

    async def head(self, key: str) -> ObjectInfo:
        """The object's size, ETag and metadata: one HEAD request, counted."""
        info = await self.store.head(key)
        self.requests += 1
        return info

    async def stream(self, key: str) -> AsyncGenerator[bytes, None]:
        """The whole object ``key`` in order."""
        chunks = self.store.get(key)
        try:
            async for chunk in chunks:
                self.requests += 1
                self.bytes_fetched += len(chunk)
                if self.on_read is not None:
                    self.on_read(len(chunk))
                yield chunk
        finally:
            if isinstance(chunks, AsyncGenerator):
                await chunks.aclose()

    async def load_index(
        self,
        key: str,
        keep: Callable[[Member], bool] | None = None,
        *,
        paths: Collection[str] | None = None,
        first: Awaitable[bytes] | None = None,
    ) -> ArchiveIndex:
        """The member index stored at ``key`` (``keep`` as :meth:`ArchiveIndex.load` takes it).
        With ``paths``, only the pages of a paged index that can hold them are read
        (:func:`blobcodec.index.read_members_async`), its first read answered by ``first``
        when given (:class:`IndexHeadPrefetch`); otherwise, and for an index written
        before pages, the whole index is downloaded to an anonymous temporary file and parsed
        from it in a worker thread: neither the index nor its members need be in memory whole.
        IntegrityError when it does not parse."""
        try:
            if paths is not None:
                read_at: Callable[[int, int], Awaitable[bytes]] = partial(self.read_range, key)
                if first is not None:
                    read_at = _first_read_from(first, read_at)
                loaded = await read_members_async(read_at, paths, keep=keep)
                if loaded is not None:
                    return loaded
            with tempfile.TemporaryFile(prefix="cargoship-index-") as file:
                await self.download(key, file)
                return await self.parse_index(key, file, keep)
        except CorruptDataError as error:
            raise IntegrityError(f"member index {key}: {error}", (f"index: {error}",)) from error

    async def download(self, key: str, file: BinaryIO) -> None:
        """The whole object ``key`` into ``file``, from its position on."""
        async for chunk in self.stream(key):
            file.write(chunk)

    async def parse_index(
        self, key: str, file: BinaryIO, keep: Callable[[Member], bool] | None = None
    ) -> ArchiveIndex:
        """The member index at ``key``, downloaded whole into ``file``, parsed from its start
        in a worker thread (``keep`` as :meth:`load_index` takes it)."""
        file.seek(0)
        try:
            return await asyncio.to_thread(ArchiveIndex.read, file, keep=keep)
        except CorruptDataError as error:
            raise IntegrityError(f"member index {key}: {error}", (f"index: {error}",)) from error

    async def open_seekable(
        self, key: str, size: int, *, remember: dict[tuple[int, int], bytes] | None = None
    ) -> AsyncSeekableReader:
        """A reader of the seekable zstd archive ``key`` of ``size`` bytes (one tail read, rarely
        two); the reads it made are kept in ``remember`` under ``(offset, size)`` if given."""

        async def read_at(offset: int, length: int) -> bytes:
            data = await self.read_range(key, offset, length)
            if remember is not None:
                remember[(offset, length)] = data
            return data

        try:
            return await AsyncSeekableReader.open(read_at, size)
        except CorruptDataError as error:
            raise IntegrityError(f"archive {key}: {error}", (f"seek table: {error}",)) from error


def _first_read_from(
    first: Awaitable[bytes], read_at: Callable[[int, int], Awaitable[bytes]]
) -> Callable[[int, int], Awaitable[bytes]]:
    """``read_at``, but the first read of a paged index (its first :data:`FIRST_READ_BYTES`)
    answered by ``first``."""
    pending = [first]

    async def read(offset: int, size: int) -> bytes:
        if pending and offset == 0 and size == FIRST_READ_BYTES:
            return await pending.pop()
        return await read_at(offset, size)

    return read


class IndexHeadPrefetch:
    """The first read of an archive's paged member index (its directory), started at once for
    a ``restore --include``: the archive's name gives the index's key, so that read goes
    beside the inventory's instead of after it, one round trip the fewer. :meth:`close`
    (always) stops it; its failure (no index) matters only to :meth:`load`."""

    def __init__(self, fetcher: ArchiveFetcher, key: str) -> None:
        self.key = key
        self.fetcher = fetcher
        self._first = asyncio.ensure_future(fetcher.read_range(key, 0, FIRST_READ_BYTES))

    async def load(
        self, key: str, keep: Callable[[Member], bool] | None, *, paths: Collection[str] | None
    ) -> ArchiveIndex:
        """The index at ``key`` as :meth:`ArchiveFetcher.load_index` reads it, from the read
        already made when it is this prefetch's."""
        first = self._first if key == self.key else None
        return await self.fetcher.load_index(key, keep, paths=paths, first=first)

    async def close(self) -> None:
        await settle(self._first)


class IndexPrefetch:
    """The download of an archive's whole member index into a temporary file, started at
    once: the archive's name gives the index's key before its inventory confirms it, so the
    two downloads run side by side. :meth:`close` (always) stops it and removes the file."""

    def __init__(self, fetcher: ArchiveFetcher, key: str) -> None:
        self.key = key
        self.fetcher = fetcher
        """Counts the download's bytes and requests."""
        self._file = tempfile.TemporaryFile(prefix="cargoship-index-")  # noqa: SIM115 - close()
        self._task = asyncio.ensure_future(fetcher.download(key, self._file))

    async def load(
        self,
        key: str,
        keep: Callable[[Member], bool] | None = None,
        *,
        paths: Collection[str] | None = None,
    ) -> ArchiveIndex:
        """The index at ``key`` (``keep`` and ``paths`` as ``load_index`` takes them): when it
        is this prefetch's, parsed whole once the download ends; else read now."""
        if key != self.key:
            return await self.fetcher.load_index(key, keep, paths=paths)
        await self._task
        return await self.fetcher.parse_index(self.key, self._file, keep)

    async def close(self) -> None:
        """Stop the download if it still runs; its failure (no index: an lz4 or gzip
        archive) matters only to :meth:`load`."""
        await settle(self._task)
        self._file.close()


def size_problem(key: str, stored: int, recorded: int) -> str | None:
    """What is wrong when the archive ``key`` in the store is not the size its inventory
    records; None when it is."""
    if stored == recorded:
        return None
    return f"{key}: {stored} bytes in the store, {recorded} recorded"


async def ensure_available(store: ObjectStore, key: str) -> ObjectInfo:
    """HEAD of the archive object ``key``; RetrievalRequiredError while it is in a cold class
    and not restored."""
    info = await store.head(key)
    if info.storage_class in COLD_CLASSES and (info.restore is None or info.restore.ongoing):
        state = "is being retrieved" if info.restore is not None else "has not been retrieved"
        raise RetrievalRequiredError(
            f"archive {key} is in {info.storage_class} and {state}; "
            "request a retrieval first (cargoship restore --tier, then --wait)"
        )
    return info


def check_seek_table(index: ArchiveIndex, table: SeekTable, compressed_size: int) -> list[str]:
    """What differs between the archive's seek table and the one ``index`` was made for."""
    problems = []
    found = (len(table.frames), table.decompressed_size, compressed_size)
    expected = (index.frame_count, index.size, index.compressed_size)
    if found != expected:
        problems.append(
            "seek table: the index describes {} frames, {} bytes uncompressed, {} bytes "
            "compressed; the archive has {} frames, {} and {} bytes".format(*expected, *found)
        )
    digest = sha256_tag(table.encode())
    if digest != index.seek_table_sha256:
        problems.append(
            f"seek table: its sha256 is {digest}, the index records {index.seek_table_sha256}"
        )
    return problems


def _slices(reader: AsyncSeekableReader, member: Member) -> list[tuple[int, int]]:
    """``(offset, size)`` reads covering ``member``'s data, each of whole frames up to a slice."""
    frames = reader.table.covering(member.offset, member.size)
    if [frame.index for frame in frames] != list(member.frames):
        raise IntegrityError(
            f"member {member.path!r}: the index places its data in frames {member.frames}, "
            f"the archive in {[frame.index for frame in frames]}",
            (f"{member.path}: frames differ from the index",),
        )
    end = member.offset + member.size
    reads: list[tuple[int, int]] = []
    start = member.offset
    group_start = frames[0].decompressed_offset if frames else start
    for frame in frames:
        if frame.decompressed_end - group_start >= SLICE_BYTES or frame is frames[-1]:
            stop = min(frame.decompressed_end, end)
            reads.append((start, stop - start))
            start = group_start = stop
    return reads


async def member_chunks(
    fetcher: ArchiveFetcher,
    key: str,
    member: Member,
    reader: AsyncSeekableReader | None,
) -> AsyncIterator[bytes]:
    """The data of ``member`` in slices: frames through ``reader``, or plain tar ranges of ``key``
    (``reader`` None, an uncompressed archive)."""
    if reader is None:
        for offset in range(member.offset, member.offset + member.size, SLICE_BYTES):
            length = min(SLICE_BYTES, member.offset + member.size - offset)
            data = await fetcher.read_range(key, offset, length)
            if len(data) != length:
                raise IntegrityError(
                    f"archive {key} ends inside member {member.path!r}",
                    (f"{member.path}: archive truncated",),
                )
            yield data
        return
    for offset, length in _slices(reader, member):
        try:
            yield await reader.read(offset, length)
        except CorruptDataError as error:
            raise IntegrityError(
                f"archive {key}, member {member.path!r}: {error}", (f"{member.path}: {error}",)
            ) from error


async def _next_chunk(chunks: AsyncIterator[bytes]) -> bytes | None:
    try:
        return await anext(chunks)
    except StopAsyncIteration:
        return None


class StreamAhead:
    """A stream of chunks started before its reader is ready: up to ``limit`` bytes are
    received and held until :meth:`chunks` takes the stream over.

    The holding stops at the limit (the stream's own read-ahead window then
    stays full), so memory is bounded by ``limit`` plus that window. An error
    of the stream while it is held is raised by :meth:`chunks`.
    """

    def __init__(self, chunks: AsyncGenerator[bytes, None], limit: int) -> None:
        self._chunks = chunks
        self._limit = limit
        self._held: deque[bytes] = deque()
        self._held_bytes = 0
        self._ended = False
        self._taken = False
        self._filling = asyncio.ensure_future(self._fill())

    async def _fill(self) -> None:
        while not self._taken and self._held_bytes < self._limit:
            chunk = await _next_chunk(self._chunks)
            if chunk is None:
                self._ended = True
                return
            self._held.append(chunk)
            self._held_bytes += len(chunk)

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        """The whole stream in order: the chunks held, then the rest as they come. Once only."""
        if self._taken:
            raise RuntimeError("a stream started ahead can be taken only once")
        self._taken = True
        try:
            await self._filling  # ends with the chunk it was waiting for, or the stream's error
            while self._held:
                self._held_bytes -= len(self._held[0])
                yield self._held.popleft()
            if not self._ended:
                async for chunk in self._chunks:
                    yield chunk
        finally:
            await self.close()

    async def close(self) -> None:
        """Stop receiving and drop what is held (a reader that never came)."""
        await settle(self._filling)
        self._held.clear()
        await self._chunks.aclose()


class StreamBridge:
    """A blocking binary file over an async stream of chunks, read from one worker thread.

    Each refill asks the event loop for the next chunk and waits; the stream's
    own read-ahead (the store's parallel GETs) keeps running meanwhile.
    """

    def __init__(self, chunks: AsyncIterator[bytes], loop: asyncio.AbstractEventLoop) -> None:
        self._chunks = chunks
        self._loop = loop
        self._buffer = memoryview(b"")
        self._ended = False
        self._cancelled = threading.Event()
        self.position = 0
        """Bytes handed out (or skipped) so far."""

    def cancel(self) -> None:
        """Make the reading thread stop at its next refill, or within :data:`_POLL_SECONDS` if
        it is waiting for one (FetchCancelledError there)."""
        self._cancelled.set()

    def _refill(self) -> bool:
        if self._ended:
            return False
        # Looked at before each chunk too: when chunks come as fast as the thread takes
        # them (read ahead, or a local file), the wait below never times out.
        if self._cancelled.is_set():
            raise FetchCancelledError("cancelled")
        future = asyncio.run_coroutine_threadsafe(_next_chunk(self._chunks), self._loop)
        while True:
            try:
                chunk = future.result(timeout=_POLL_SECONDS)
                break
            except TimeoutError:
                if self._cancelled.is_set():
                    future.cancel()
                    raise FetchCancelledError("cancelled") from None
        if chunk is None:
            self._ended = True
            return False
        self._buffer = memoryview(chunk)
        return True

    def read(self, size: int = -1, /) -> bytes:
        """Up to ``size`` bytes (all that is left when negative); ``b""`` only at the end."""
        if size < 0:
            parts = [bytes(self._buffer)]
            while self._refill():
                parts.append(bytes(self._buffer))
            self._buffer = memoryview(b"")
            data = b"".join(parts)
        else:
            if not self._buffer and not self._refill():
                return b""
            data = bytes(self._buffer[:size])
            self._buffer = self._buffer[len(data) :]
        self.position += len(data)
        return data

    def read_exactly(self, size: int) -> bytes:
        """``size`` bytes, fewer only where the stream ends."""
        parts = []
        left = size
        while left > 0 and (piece := self.read(left)):
            parts.append(piece)
            left -= len(piece)
        return b"".join(parts)

    def skip(self, size: int) -> None:
        """Drop the next ``size`` bytes."""
        while size > 0 and (piece := self.read(min(size, 1 << 20))):
            size -= len(piece)


async def run_with_stream(
    chunks: AsyncGenerator[bytes, None], work: Callable[[StreamBridge], _T]
) -> _T:
    """Run ``work`` in a worker thread, reading ``chunks`` through a :class:`StreamBridge`.

    Errors from the stream (the store's typed errors) reach ``work`` where it
    reads and come out here unchanged. If this coroutine is cancelled, the
    thread is told to stop and awaited before the cancellation goes on, so no
    thread is left waiting on a closed loop. The stream is closed in every case.
    """
    bridge = StreamBridge(chunks, asyncio.get_running_loop())
    task = asyncio.ensure_future(asyncio.to_thread(work, bridge))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        bridge.cancel()
        await asyncio.wait([task])
        if not task.cancelled():
            task.exception()  # the thread's FetchCancelledError, not logged as never retrieved
        raise
    finally:
        await chunks.aclose()


class DecompressedReader:
    """A blocking binary file of the decompressed bytes of a compressed :class:`StreamBridge`.

    Output per ``read`` is bounded by the size asked for (``StreamDecompressor``'s
    ``max_length``), so a decompression bomb never lands in memory at once.
    """

    def __init__(self, source: StreamBridge, decompressor: StreamDecompressor) -> None:
        self._source = source
        self._decompressor = decompressor
        self._out = memoryview(b"")

    def read(self, size: int = -1, /) -> bytes:
        """Up to ``size`` decompressed bytes; ``b""`` at the end of the compressed stream.

        TruncatedDataError when the compressed stream stops inside a frame.
        """
        if size == 0:
            return b""
        if not self._out:
            self._out = memoryview(self._decompress_more())
        data = bytes(self._out if size < 0 else self._out[:size])
        self._out = self._out[len(data) :]
        return data

    def _decompress_more(self) -> bytes:
        """The next piece of output, at most :data:`_READ_BYTES`; ``b""`` at the end."""
        while True:
            if not self._decompressor.needs_input:
                out = self._decompressor.decompress(b"", _READ_BYTES)
                if out:
                    return out
                continue
            chunk = self._source.read(_READ_BYTES)
            if not chunk:
                if not self._decompressor.eof:
                    raise TruncatedDataError(
                        f"the archive ends at byte {self._source.position} "
                        "inside a compressed frame"
                    )
                return b""
            out = self._decompressor.decompress(chunk, _READ_BYTES)
            if out:
                return out

    def drain(self) -> int:
        """Read to the end (what follows the tar's end blocks), checking the stream is whole;
        returns the bytes read."""
        total = 0
        while piece := self.read(_READ_BYTES):
            total += len(piece)
        return total


class SequentialReadAt:
    """``read_at`` for :class:`blobcodec.seekable.SeekableReader` over a stream read in order.

    The ranges fetched when the archive was opened (its tail) are served from
    ``remembered``; every other read must start at or after the previous one's
    end, as reading the frames in order does.
    """

    def __init__(self, source: StreamBridge, remembered: dict[tuple[int, int], bytes]) -> None:
        self._source = source
        self._remembered = remembered

    def __call__(self, offset: int, size: int) -> bytes:
        cached = self._remembered.get((offset, size))
        if cached is not None:
            return cached
        if offset < self._source.position:
            raise ValueError(
                f"read at byte {offset} is behind the stream, already at {self._source.position}"
            )
        self._source.skip(offset - self._source.position)
        return self._source.read_exactly(size)
