"""Random access to a seekable zstd archive through ranged reads.

A reader is given ``read_at(offset, size) -> bytes`` (a ranged GET, ``os.pread``)
and, ideally, the file size. Opening takes one read of the file's tail, and a
second only when the seek table is larger than the first guess. Reading any
uncompressed range then fetches only the frames that cover it, in one ranged
read, and checks each frame (its size, and its checksum when the table has
them, "Seek_Table_Entries" of the zstd seekable format). The frames that came
with the first tail read (at most 64 KiB, the one buffer a reader keeps) are
served from it without another read: a small archive, or the last members of a
large one, cost no read beyond the opening one.

Without ``size``, ``read_at`` must also accept a suffix read: a negative
``offset`` ``-n`` with ``size`` ``n`` returns the file's last ``n`` bytes (all of
it if shorter), as an HTTP ``Range: bytes=-n`` request does; the file size then
comes from the seek table, saving a HEAD request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Generator
from typing import Final

import zstandard

from blobcodec.errors import (
    ChecksumMismatchError,
    CorruptDataError,
    SeekTableError,
    TruncatedDataError,
)
from blobcodec.seekable._table import (
    FOOTER_SIZE,
    Frame,
    SeekTable,
    frame_checksum,
    parse_footer,
    table_frame_size,
)
from blobcodec.zstd_codec import zstd_error

__all__ = ["TAIL_READ_BYTES", "AsyncReadAt", "AsyncSeekableReader", "ReadAt", "SeekableReader"]

ReadAt = Callable[[int, int], bytes]
AsyncReadAt = Callable[[int, int], Awaitable[bytes]]

TAIL_READ_BYTES: Final = 64 * 1024
"""Bytes of the first read of an archive's tail, by which a reader opens it: a checksummed
seek table of about 5,400 frames (10 GiB at 2 MiB frames), and all of a smaller archive."""
_SKIPPABLE_MAGICS = range(0x184D2A50, 0x184D2A60)  # zstd format, "Skippable Frames"

_Request = tuple[int, int]
_Opened = tuple[SeekTable, int, bytes]  # the table, the file size, the frames' bytes in the tail


def _open_steps(size: int | None) -> Generator[_Request, bytes, _Opened]:
    """Find and parse the seek table; yields ranged reads, receives their bytes.

    Returns the table, the file size, and the bytes of the first tail read that
    precede the table (they end where the table starts, at ``compressed_size``).
    """
    if size is not None and size < 0:
        raise ValueError(f"size must be >= 0, got {size}")
    guess = TAIL_READ_BYTES if size is None else min(size, TAIL_READ_BYTES)
    tail = yield (-guess if size is None else size - guess), guess
    file_size = size
    if size is None and len(tail) < guess:
        file_size = len(tail)  # a suffix read longer than the file returns all of it
    elif len(tail) != guess:
        raise TruncatedDataError(
            f"reading the seek table: asked for the last {guess} bytes, got {len(tail)}"
        )
    if len(tail) < FOOTER_SIZE:
        raise SeekTableError(
            f"not a seekable zstd archive: {len(tail)} bytes is shorter than the "
            f"{FOOTER_SIZE}-byte seek table footer"
        )
    frame_count, checksums = parse_footer(tail[-FOOTER_SIZE:])
    needed = table_frame_size(frame_count, checksums)
    if file_size is not None and needed > file_size:
        raise SeekTableError(
            f"seek table footer announces {frame_count} frames ({needed} bytes of table), "
            f"more than the {file_size}-byte file"
        )
    if needed <= len(tail):
        table = tail[len(tail) - needed :]
    else:
        table = yield (-needed if file_size is None else file_size - needed), needed
        if len(table) != needed:
            raise SeekTableError(
                f"seek table footer announces {frame_count} frames ({needed} bytes of "
                f"table), but the file holds only {len(table)} bytes"
            )
    parsed = SeekTable.decode(table, file_size=file_size)
    return parsed, parsed.compressed_size + needed, bytes(tail[: max(0, len(tail) - needed)])


def _span(frames: list[Frame]) -> _Request:
    """One ranged read covering ``frames`` (consecutive, so adjacent in the file)."""
    start = frames[0].compressed_offset
    return start, frames[-1].compressed_end - start


def _decode_frame(dctx: zstandard.ZstdDecompressor, frame: Frame, data: memoryview) -> bytes:
    where = f"frame {frame.index} at compressed offset {frame.compressed_offset}"
    if int.from_bytes(data[:4], "little") in _SKIPPABLE_MAGICS:
        raise CorruptDataError(
            f"{where} is a skippable frame, but the seek table says it holds "
            f"{frame.decompressed_size} bytes"
        )
    try:
        declared = zstandard.get_frame_parameters(data).content_size
        if declared not in (zstandard.CONTENTSIZE_UNKNOWN, frame.decompressed_size):
            raise CorruptDataError(
                f"{where} declares {declared} bytes of content, "
                f"but the seek table says {frame.decompressed_size}"
            )
        # One byte of room more than expected, so a frame holding more than the table says fails.
        out = dctx.decompress(
            data, max_output_size=frame.decompressed_size + 1, allow_extra_data=False
        )
    except zstandard.ZstdError as error:
        # A failed zstd content checksum is a ChecksumMismatchError, as from ZstdCodec.
        raise zstd_error(error, where) from error
    if len(out) != frame.decompressed_size:
        raise CorruptDataError(
            f"{where} decodes to {len(out)} bytes, but the seek table says "
            f"{frame.decompressed_size}"
        )
    if frame.checksum is not None and frame_checksum(out) != frame.checksum:
        raise ChecksumMismatchError(
            f"{where}: XXH64 checksum of its data is 0x{frame_checksum(out):08X}, "
            f"the seek table records 0x{frame.checksum:08X}"
        )
    return out


def _decode_span(frames: list[Frame], data: bytes, offset: int, size: int) -> bytes:
    """Decode ``frames`` from the bytes of one ranged read and cut ``[offset, offset+size)``."""
    start, length = _span(frames)
    if len(data) != length:
        cut = next(f for f in frames if f.compressed_end > start + len(data))
        raise TruncatedDataError(
            f"frame {cut.index} at compressed offset {cut.compressed_offset}: the file ends "
            f"after {max(0, start + len(data) - cut.compressed_offset)} of its "
            f"{cut.compressed_size} bytes"
        )
    view = memoryview(data)
    dctx = zstandard.ZstdDecompressor()
    parts = []
    for frame in frames:
        at = frame.compressed_offset - start
        out = _decode_frame(dctx, frame, view[at : at + frame.compressed_size])
        lo = max(offset - frame.decompressed_offset, 0)
        hi = min(offset + size - frame.decompressed_offset, frame.decompressed_size)
        parts.append(out[lo:hi] if (lo, hi) != (0, len(out)) else out)
    return b"".join(parts)


class _ReaderBase:
    __slots__ = ("_file_size", "_table", "_tail", "_tail_start")

    def __init__(self, table: SeekTable, file_size: int, tail: bytes = b"") -> None:
        self._table = table
        self._file_size = file_size
        # Frame bytes from the opening tail read: the file's bytes [_tail_start, compressed_size).
        self._tail = tail
        self._tail_start = table.compressed_size - len(tail)

    @property
    def table(self) -> SeekTable:
        """The parsed seek table."""
        return self._table

    @property
    def frames(self) -> tuple[Frame, ...]:
        """Every frame, with its compressed and uncompressed offsets."""
        return self._table.frames

    @property
    def size(self) -> int:
        """Bytes of the uncompressed stream."""
        return self._table.decompressed_size

    @property
    def compressed_size(self) -> int:
        """Bytes of the whole archive file, seek table included."""
        return self._file_size

    def _plan(self, offset: int, size: int) -> tuple[list[Frame], int]:
        if offset < 0 or size < 0:
            raise ValueError(f"offset and size must be >= 0, got {offset} and {size}")
        size = max(0, min(size, self.size - offset))
        return self._table.covering(offset, size), size

    def _from_tail(self, request: _Request) -> bytes | None:
        """The bytes of ``request`` when the opening tail read holds all of them, else None."""
        start, length = request
        if start < self._tail_start:
            return None
        return self._tail[start - self._tail_start : start - self._tail_start + length]


class SeekableReader(_ReaderBase):
    """Read any uncompressed byte range of a seekable zstd archive via ``read_at``.

    Raises :class:`~blobcodec.errors.SeekTableError` for a file with no or a
    damaged seek table.
    """

    __slots__ = ("_read_at",)

    def __init__(self, read_at: ReadAt, size: int | None = None) -> None:
        steps = _open_steps(size)
        try:
            request = next(steps)
            while True:
                request = steps.send(read_at(*request))
        except StopIteration as done:
            table, file_size, tail = done.value
        super().__init__(table, file_size, tail)
        self._read_at = read_at

    def read(self, offset: int, size: int) -> bytes:
        """Uncompressed bytes ``[offset, offset + size)``, fewer only past the end of the stream."""
        frames, size = self._plan(offset, size)
        if not frames:
            return b""
        request = _span(frames)
        data = self._from_tail(request)
        if data is None:
            data = self._read_at(*request)
        return _decode_span(frames, data, offset, size)


class AsyncSeekableReader(_ReaderBase):
    """:class:`SeekableReader` over an async ``read_at``; frames are decoded in a worker thread.

    Create with ``await AsyncSeekableReader.open(read_at, size)``.
    """

    __slots__ = ("_read_at",)

    def __init__(
        self, table: SeekTable, file_size: int, read_at: AsyncReadAt, tail: bytes = b""
    ) -> None:
        super().__init__(table, file_size, tail)
        self._read_at = read_at

    @classmethod
    async def open(cls, read_at: AsyncReadAt, size: int | None = None) -> AsyncSeekableReader:
        """Fetch and parse the seek table (one ranged read of the tail, rarely two)."""
        steps = _open_steps(size)
        try:
            request = next(steps)
            while True:
                request = steps.send(await read_at(*request))
        except StopIteration as done:
            table, file_size, tail = done.value
        return cls(table, file_size, read_at, tail)

    async def read(self, offset: int, size: int) -> bytes:
        """Uncompressed bytes ``[offset, offset + size)``, fewer only past the end of the stream."""
        frames, size = self._plan(offset, size)
        if not frames:
            return b""
        request = _span(frames)
        data = self._from_tail(request)
        if data is None:
            data = await self._read_at(*request)
        return await asyncio.to_thread(_decode_span, frames, data, offset, size)
