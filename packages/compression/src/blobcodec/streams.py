"""Streaming compression and decompression with memory bounded by the chunk size.

File-like objects (``read(n)`` / ``write(b)``) and async iterators of bytes are
processed one chunk at a time, so the data's size never matters. Decompression
asks the codec's decompressor for at most ``chunk_size`` bytes per call (the
``max_length`` convention of the standard library's bz2 and lzma
decompressors), so even a small "decompression bomb" never produces more than
one chunk at a time. The async versions run each compression step in a worker
thread (:func:`asyncio.to_thread`): zstandard, lz4 and zlib release the GIL, so
the event loop stays responsive.

On error, whatever was already written to ``dst`` (or yielded) is a partial
result and must be discarded; the raised exception says so by its type.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator
from typing import NamedTuple, Protocol

from blobcodec.errors import TruncatedDataError
from blobcodec.protocols import Codec, StreamDecompressor

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "Readable",
    "StreamTotals",
    "Writable",
    "acompress_iter",
    "adecompress_iter",
    "compress_stream",
    "decompress_stream",
]

DEFAULT_CHUNK_SIZE = 256 * 1024
"""Bytes read, and at most decompressed, per step (two zstd blocks)."""


class Readable(Protocol):
    """A binary source: ``read(n)`` returns up to ``n`` bytes, ``b""`` at the end."""

    def read(self, size: int, /) -> bytes: ...


class Writable(Protocol):
    """A binary sink."""

    def write(self, data: bytes, /) -> object: ...


class StreamTotals(NamedTuple):
    """Bytes read from the source and written to the sink."""

    read: int
    written: int


def _check_chunk_size(chunk_size: int) -> None:
    if chunk_size <= 0:
        raise ValueError(f"chunk_size={chunk_size} must be positive")


def _bounded_decompressor(codec: Codec) -> StreamDecompressor:
    decompressor = codec.decompressor()
    if not isinstance(decompressor, StreamDecompressor):
        raise TypeError(
            f"codec {codec.name!r}: its decompressor has no needs_input, so its output "
            "cannot be bounded (see blobcodec.protocols.StreamDecompressor)"
        )
    return decompressor


def _truncated(codec: Codec, position: int) -> TruncatedDataError:
    return TruncatedDataError(
        f"{codec.name} data ends at byte {position} before the end of its stream"
    )


def compress_stream(
    codec: Codec, src: Readable, dst: Writable, *, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> StreamTotals:
    """Compress everything ``src`` yields into one stream written to ``dst``."""
    _check_chunk_size(chunk_size)
    compressor = codec.compressor()
    read = written = 0
    while chunk := src.read(chunk_size):
        read += len(chunk)
        if out := compressor.compress(chunk):
            dst.write(out)
            written += len(out)
    out = compressor.flush()
    dst.write(out)
    return StreamTotals(read, written + len(out))


def decompress_stream(
    codec: Codec, src: Readable, dst: Writable, *, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> StreamTotals:
    """Decompress the stream ``src`` yields into ``dst``, ``chunk_size`` bytes at most per write.

    Raises :class:`blobcodec.errors.TruncatedDataError` if the input ends
    inside a frame, :class:`blobcodec.errors.CorruptDataError` if it is damaged.
    """
    _check_chunk_size(chunk_size)
    decompressor = _bounded_decompressor(codec)
    read = written = 0
    while chunk := src.read(chunk_size):
        read += len(chunk)
        out = decompressor.decompress(chunk, chunk_size)
        while True:
            if out:
                dst.write(out)
                written += len(out)
            out = b""  # let the piece go before the next one is made
            if decompressor.needs_input:
                break
            out = decompressor.decompress(b"", chunk_size)
    if not decompressor.eof:
        raise _truncated(codec, read)
    return StreamTotals(read, written)


async def acompress_iter(codec: Codec, chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    """Compress an async stream of chunks into one compressed stream, chunk by chunk.

    Each input chunk is compressed in a worker thread; the compressed pieces
    are yielded as they are ready (no empty pieces).
    """
    compressor = codec.compressor()
    async for chunk in chunks:
        if out := await asyncio.to_thread(compressor.compress, chunk):
            yield out
    if out := await asyncio.to_thread(compressor.flush):
        yield out


async def adecompress_iter(
    codec: Codec, chunks: AsyncIterable[bytes], *, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> AsyncIterator[bytes]:
    """Decompress an async stream of compressed chunks, yielding at most ``chunk_size`` at a time.

    Decompression runs in a worker thread. Raises
    :class:`blobcodec.errors.TruncatedDataError` if the stream ends inside a
    frame, :class:`blobcodec.errors.CorruptDataError` if it is damaged.
    """
    _check_chunk_size(chunk_size)
    decompressor = _bounded_decompressor(codec)
    read = 0
    async for chunk in chunks:
        read += len(chunk)
        out = await asyncio.to_thread(decompressor.decompress, chunk, chunk_size)
        while True:
            if out:
                yield out
            out = b""  # let the piece go before the next one is made
            if decompressor.needs_input:
                break
            out = await asyncio.to_thread(decompressor.decompress, b"", chunk_size)
    if not decompressor.eof:
        raise _truncated(codec, read)
