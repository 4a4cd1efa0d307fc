"""Streaming helpers: round trips, bounded memory (tracemalloc), bombs, truncation, async."""

from __future__ import annotations

import asyncio
import io
import struct
import subprocess
import threading
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from blobcodec.errors import TruncatedDataError
from blobcodec.protocols import Codec, StreamCompressor, StreamDecompressor
from blobcodec.registry import get_codec
from blobcodec.streams import (
    acompress_iter,
    adecompress_iter,
    compress_stream,
    decompress_stream,
)

MiB = 1 << 20
CHUNK = 256 * 1024


def _generated_text(size: int) -> bytes:
    return b"".join(
        b"line %08d of a generated log, value %d\n" % (i, i * 7919 % 100_003)
        for i in range(size // 30)
    )[:size]


TEXT = _generated_text(4 * MiB)


class GeneratedSource:
    """A readable stream of ``size`` compressible bytes, served from a 4 MiB text (never whole)."""

    def __init__(self, size: int) -> None:
        self.remaining = size
        self.position = 0

    def read(self, size: int) -> bytes:
        size = min(size, self.remaining, len(TEXT) - self.position)
        out = TEXT[self.position : self.position + size]
        self.position = (self.position + size) % len(TEXT)
        self.remaining -= size
        return out


class CountingSink:
    """A writable that keeps only the total and the largest write."""

    def __init__(self) -> None:
        self.total = 0
        self.largest = 0

    def write(self, data: bytes) -> int:
        self.total += len(data)
        self.largest = max(self.largest, len(data))
        return len(data)


class SpooledCompressed:
    """A sink, then a source: keeps compressed bytes in a list of chunks."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def write(self, data: bytes) -> int:
        if data:
            self.chunks.append(data)
        return len(data)

    def reader(self) -> io.BytesIO:
        return io.BytesIO(b"".join(self.chunks))


def zstd_rle_bomb(total: int) -> bytes:
    """A zstd frame of run-length blocks of zeros, built by hand from RFC 8878.

    Frame_Header_Descriptor 0 (no content size, no checksum, not single
    segment), Window_Descriptor 0x38 (window log 17 = 128 KiB), then
    ``total / 128 KiB`` RLE blocks (Block_Type 1) of Block_Size 128 KiB whose
    content is the one byte 0x00; the last block has Last_Block set.
    """
    block = 128 * 1024
    count = total // block
    out = bytearray(struct.pack("<I", 0xFD2FB528) + b"\x00\x38")
    for i in range(count):
        last = 1 if i == count - 1 else 0
        out += ((block << 3) | (1 << 1) | last).to_bytes(3, "little") + b"\x00"
    return bytes(out)


@pytest.mark.parametrize("name", ["zstd", "lz4", "gzip", "none"])
def test_stream_round_trip(name: str) -> None:
    codec = get_codec(name)
    data = GeneratedSource(3 * MiB + 17).read(4 * MiB)
    spool = SpooledCompressed()
    totals = compress_stream(codec, io.BytesIO(data), spool, chunk_size=100_000)
    assert totals.read == len(data)
    assert totals.written == sum(len(c) for c in spool.chunks)
    assert codec.decompress(b"".join(spool.chunks)) == data
    out = io.BytesIO()
    totals = decompress_stream(codec, spool.reader(), out, chunk_size=100_000)
    assert out.getvalue() == data
    assert totals.written == len(data)


@pytest.mark.parametrize(
    ("name", "size"), [("zstd", 64 * MiB), ("lz4", 64 * MiB), ("gzip", 8 * MiB)]
)
def test_streaming_memory_stays_bounded(name: str, size: int) -> None:
    codec = get_codec(name, 1)
    spool = SpooledCompressed()
    tracemalloc.start()
    try:
        compress_stream(codec, GeneratedSource(size), spool, chunk_size=CHUNK)
        _, compress_peak = tracemalloc.get_traced_memory()
        compressed_size = sum(len(c) for c in spool.chunks)
        source = spool.reader()
        spool.chunks.clear()
        tracemalloc.reset_peak()
        baseline, _ = tracemalloc.get_traced_memory()
        sink = CountingSink()
        decompress_stream(codec, source, sink, chunk_size=CHUNK)
        _, decompress_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sink.total == size
    assert sink.largest <= CHUNK
    # The compressed data of the spool is the only thing proportional to the size.
    assert compress_peak - compressed_size < 4 * MiB
    assert decompress_peak - baseline < 4 * MiB


def test_a_1_gib_bomb_never_holds_more_than_a_chunk() -> None:
    bomb = zstd_rle_bomb(1 << 30)
    assert len(bomb) < 40_000
    sink = CountingSink()
    tracemalloc.start()
    try:
        baseline, _ = tracemalloc.get_traced_memory()
        decompress_stream(get_codec("zstd"), io.BytesIO(bomb), sink, chunk_size=CHUNK)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sink.total == 1 << 30
    assert sink.largest <= CHUNK
    # A few chunks (input read, input buffered, output pieces, joined output), never 1 GiB.
    assert peak - baseline < 5 * CHUNK


def test_hand_built_bomb_is_valid_zstd(tmp_path: Path) -> None:
    # The bomb above is checked against the real zstd tool (on a small size).
    path = tmp_path / "bomb.zst"
    path.write_bytes(zstd_rle_bomb(4 * MiB))
    result = subprocess.run(
        ["/usr/bin/zstd", "-d", "-c", str(path)], capture_output=True, check=True
    )
    assert result.stdout == bytes(4 * MiB)


@pytest.mark.parametrize("name", ["zstd", "lz4", "gzip"])
def test_truncated_stream_raises_with_the_offset(name: str) -> None:
    codec = get_codec(name)
    compressed = codec.compress(GeneratedSource(MiB).read(MiB))
    cut = len(compressed) - 3
    with pytest.raises(TruncatedDataError, match=f"byte {cut}"):
        decompress_stream(codec, io.BytesIO(compressed[:cut]), io.BytesIO(), chunk_size=4096)


def test_chunk_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="chunk_size"):
        compress_stream(get_codec("zstd"), io.BytesIO(b"x"), io.BytesIO(), chunk_size=0)


class UnboundedCodec:
    """A codec whose decompressor cannot cap its output (no needs_input)."""

    name = "plain"

    def compress(self, data: bytes) -> bytes:
        return data

    def decompress(self, data: bytes) -> bytes:
        return data

    def compressor(self) -> StreamCompressor:
        return get_codec("none").compressor()

    def decompressor(self) -> StreamDecompressor:
        class Plain:  # deliberately not a StreamDecompressor: no max_length, no needs_input
            eof = True

            def decompress(self, data: bytes) -> bytes:
                return data

        return Plain()  # type: ignore[return-value]


def test_decompress_stream_refuses_a_decompressor_it_cannot_bound() -> None:
    codec: Codec = UnboundedCodec()
    with pytest.raises(TypeError, match="needs_input"):
        decompress_stream(codec, io.BytesIO(b"x"), io.BytesIO())


# --- async ----------------------------------------------------------------------------


async def aiter_chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        await asyncio.sleep(0)
        yield data[i : i + size]


async def collect(chunks: AsyncIterator[bytes]) -> list[bytes]:
    return [chunk async for chunk in chunks]


@pytest.mark.asyncio
async def test_acompress_iter_output_is_read_by_the_zstd_tool() -> None:
    data = GeneratedSource(2 * MiB).read(2 * MiB)
    pieces = await collect(acompress_iter(get_codec("zstd"), aiter_chunks(data, 70_000)))
    assert all(pieces)
    result = subprocess.run(
        ["/usr/bin/zstd", "-d", "-c"], input=b"".join(pieces), capture_output=True, check=True
    )
    assert result.stdout == data


@pytest.mark.asyncio
async def test_adecompress_iter_reads_zstd_tool_output_in_bounded_pieces() -> None:
    data = GeneratedSource(3 * MiB).read(3 * MiB)
    compressed = subprocess.run(
        ["/usr/bin/zstd", "-3", "-c"], input=data, capture_output=True, check=True
    ).stdout
    pieces = await collect(
        adecompress_iter(get_codec("zstd"), aiter_chunks(compressed, 50_000), chunk_size=65_536)
    )
    assert max(len(p) for p in pieces) <= 65_536
    assert b"".join(pieces) == data


@pytest.mark.asyncio
async def test_adecompress_iter_detects_truncation() -> None:
    compressed = get_codec("lz4").compress(GeneratedSource(MiB).read(MiB))
    with pytest.raises(TruncatedDataError):
        await collect(adecompress_iter(get_codec("lz4"), aiter_chunks(compressed[:-5], 10_000)))


class ThreadRecordingCodec:
    """Wraps a real codec and records which threads ran its stream steps."""

    def __init__(self, inner: Codec) -> None:
        self.inner = inner
        self.threads: set[int] = set()
        self.name = inner.name

    def _record(self) -> None:
        self.threads.add(threading.get_ident())

    def compress(self, data: bytes) -> bytes:
        return self.inner.compress(data)

    def decompress(self, data: bytes) -> bytes:
        return self.inner.decompress(data)

    def compressor(self) -> StreamCompressor:
        inner = self.inner.compressor()
        codec = self

        class Recording:
            def compress(self, data: bytes) -> bytes:
                codec._record()
                return inner.compress(data)

            def flush(self) -> bytes:
                codec._record()
                return inner.flush()

        return Recording()

    def decompressor(self) -> StreamDecompressor:
        return self.inner.decompressor()


@pytest.mark.asyncio
async def test_async_compression_runs_off_the_event_loop_thread() -> None:
    codec = ThreadRecordingCodec(get_codec("gzip"))
    data = GeneratedSource(MiB).read(MiB)
    pieces = await collect(acompress_iter(codec, aiter_chunks(data, 100_000)))
    assert get_codec("gzip").decompress(b"".join(pieces)) == data
    assert codec.threads
    assert threading.get_ident() not in codec.threads
