"""Seekable zstd archives: the byte layout of the zstd seekable format, random reads, and errors.

External truth: seek tables packed by hand from the spec ("Zstandard Seekable
Format" 0.1.0), frames made by the ``zstd`` program, checksums from ``xxhash``.
"""

from __future__ import annotations

import io
import itertools
import random
import struct
import subprocess

import pytest
import xxhash
from hypothesis import given, settings
from hypothesis import strategies as st

from blobcodec.errors import (
    ChecksumMismatchError,
    CorruptDataError,
    SeekTableError,
    TruncatedDataError,
)
from blobcodec.seekable import (
    DEFAULT_FRAME_SIZE,
    AsyncSeekableReader,
    SeekableReader,
    SeekableWriter,
)
from blobcodec.zstd_codec import ZstdCodec

SKIPPABLE_MAGIC = b"\x5e\x2a\x4d\x18"  # 0x184D2A5E little-endian
SEEKABLE_MAGIC = b"\xb1\xea\x92\x8f"  # 0x8F92EAB1 little-endian


def zstd_cli(data: bytes, *args: str) -> bytes:
    """Compress with the real zstd program (from stdin: no content size in the frame)."""
    return subprocess.run(
        ["/usr/bin/zstd", "-q", "-c", *args], input=data, capture_output=True, check=True
    ).stdout


def sample(size: int, seed: int = 1) -> bytes:
    """Compressible but not trivial data."""
    rng = random.Random(seed)
    words = [
        bytes(rng.choices(b"abcdefghijklmnopqrstuvwxyz", k=rng.randint(2, 9))) for _ in range(400)
    ]
    out = bytearray()
    while len(out) < size:
        out += rng.choice(words) + b" "
    return bytes(out[:size])


def incompressible(size: int, seed: int = 1) -> bytes:
    """Random bytes: zstd stores them, so a frame takes about as many bytes as its data."""
    return random.Random(seed).randbytes(size)


def hand_built(chunks: list[bytes], *, checksums: bool, skippable_after: int = -1) -> bytes:
    """A seekable file assembled byte by byte per the spec, frames from the zstd program."""
    body = bytearray()
    entries = bytearray()
    for i, chunk in enumerate(chunks):
        frame = zstd_cli(chunk, "-3")
        body += frame
        entries += struct.pack("<II", len(frame), len(chunk))
        if checksums:
            entries += struct.pack("<I", xxhash.xxh64_intdigest(chunk) & 0xFFFFFFFF)
        if i == skippable_after:  # "For skippable or otherwise empty frames, this value is 0."
            skippable = b"\x50\x2a\x4d\x18" + struct.pack("<I", 5) + b"hello"
            body += skippable
            entries += struct.pack("<II", len(skippable), 0)
            if checksums:
                entries += struct.pack("<I", xxhash.xxh64_intdigest(b"") & 0xFFFFFFFF)
    frame_count = len(entries) // (12 if checksums else 8)
    footer = struct.pack("<I", frame_count) + bytes([0x80 if checksums else 0]) + SEEKABLE_MAGIC
    table = SKIPPABLE_MAGIC + struct.pack("<I", len(entries) + 9) + entries + footer
    return bytes(body + table)


class Source:
    """A file in memory behind ``read_at``, counting the ranged reads made."""

    def __init__(self, blob: bytes) -> None:
        self.blob = blob
        self.reads: list[tuple[int, int]] = []

    def read_at(self, offset: int, size: int) -> bytes:
        self.reads.append((offset, size))
        if offset < 0:  # a suffix read, as HTTP "Range: bytes=-n"
            return self.blob[max(0, len(self.blob) + offset) :]
        return self.blob[offset : offset + size]

    async def aread_at(self, offset: int, size: int) -> bytes:
        return self.read_at(offset, size)


def write_archive(
    data: bytes,
    *,
    frame_size: int = DEFAULT_FRAME_SIZE,
    level: int = 3,
    threads: int | None = None,
    checksums: bool = True,
) -> bytes:
    out = io.BytesIO()
    with SeekableWriter(
        out, frame_size=frame_size, level=level, threads=threads, checksums=checksums
    ) as writer:
        writer.write(data)
    return out.getvalue()


# -- reading files built by hand per the spec ----------------------------------------------------


@pytest.mark.parametrize("checksums", [True, False])
def test_reads_hand_built_file_with_unequal_frames(checksums: bool) -> None:
    data = sample(40_000)
    cuts = [0, 1, 7_000, 7_003, 20_000, 39_999, 40_000]  # frames of 1, 6999, 3, 12997, ... bytes
    chunks = [data[a:b] for a, b in itertools.pairwise(cuts)]
    blob = hand_built(chunks, checksums=checksums, skippable_after=2)
    reader = SeekableReader(Source(blob).read_at, len(blob))

    assert reader.size == len(data)
    assert reader.compressed_size == len(blob)
    assert [f.decompressed_size for f in reader.frames] == [1, 6999, 3, 0, 12997, 19999, 1]
    assert reader.table.checksums is checksums
    rng = random.Random(3)
    for _ in range(300):
        offset = rng.randrange(len(data) + 10)
        size = rng.randrange(12_000)
        assert reader.read(offset, size) == data[offset : offset + size]
    assert reader.read(0, len(data)) == data


def test_frames_expose_both_offsets() -> None:
    chunks = [b"a" * 10, b"b" * 20, b"c" * 5]
    blob = hand_built(chunks, checksums=True)
    frames = SeekableReader(Source(blob).read_at, len(blob)).frames
    sizes = [len(zstd_cli(c, "-3")) for c in chunks]
    assert [f.compressed_offset for f in frames] == [0, sizes[0], sizes[0] + sizes[1]]
    assert [f.decompressed_offset for f in frames] == [0, 10, 30]
    assert [f.checksum for f in frames] == [xxhash.xxh64_intdigest(c) & 0xFFFFFFFF for c in chunks]


def test_read_fetches_only_covering_frames_in_one_read() -> None:
    data = incompressible(150_000)
    chunks = [data[i : i + 30_000] for i in range(0, 150_000, 30_000)]
    blob = hand_built(chunks, checksums=True)
    source = Source(blob)
    reader = SeekableReader(source.read_at, len(blob))
    frames = reader.frames
    assert frames[2].compressed_offset < len(blob) - 65_536  # before the opening tail read
    source.reads.clear()

    assert reader.read(45_000, 30_000) == data[45_000:75_000]  # frames 1 and 2
    assert source.reads == [
        (frames[1].compressed_offset, frames[2].compressed_end - frames[1].compressed_offset)
    ]
    source.reads.clear()
    assert reader.read(29_999, 1) == data[29_999:30_000]
    assert source.reads == [(frames[0].compressed_offset, frames[0].compressed_size)]
    source.reads.clear()
    assert reader.read(150_000, 10) == b""
    assert reader.read(10, 0) == b""
    assert source.reads == []


@pytest.mark.parametrize("known_size", [True, False])
def test_frames_in_the_opening_tail_read_are_not_read_again(known_size: bool) -> None:
    data = incompressible(150_000)
    blob = write_archive(data, frame_size=30_000, threads=1)
    source = Source(blob)
    reader = SeekableReader(source.read_at, len(blob) if known_size else None)
    assert len(source.reads) == 1  # the last 64 KiB: frames 3 and 4, then the seek table
    in_tail = [f.index for f in reader.frames if f.compressed_offset >= len(blob) - 65_536]
    assert in_tail == [3, 4]

    assert reader.read(90_000, 60_000) == data[90_000:]  # frames 3 and 4
    assert reader.read(149_990, 100) == data[149_990:]
    assert reader.read(100_000, 1) == data[100_000:100_001]
    assert len(source.reads) == 1

    # Frame 2 starts before the tail: one read for the whole range, as without the tail.
    frame_2 = reader.frames[2]
    assert reader.read(89_999, 2) == data[89_999:90_001]
    assert source.reads[1:] == [
        (frame_2.compressed_offset, reader.frames[3].compressed_end - frame_2.compressed_offset)
    ]


@pytest.mark.asyncio
async def test_async_reader_serves_the_opening_tail_read_too() -> None:
    data = incompressible(150_000)
    blob = write_archive(data, frame_size=30_000, threads=1)
    source = Source(blob)
    reader = await AsyncSeekableReader.open(source.aread_at, len(blob))
    assert await reader.read(90_000, 60_000) == data[90_000:]
    assert len(source.reads) == 1
    assert await reader.read(0, 10) == data[:10]
    assert source.reads[1:] == [(0, reader.frames[0].compressed_size)]


def test_open_reads_the_tail_once_and_twice_for_a_large_table() -> None:
    small = Source(hand_built([b"x" * 100], checksums=True))
    SeekableReader(small.read_at, len(small.blob))
    assert small.reads == [(0, len(small.blob))]  # file shorter than the first guess

    data = sample(60_000)
    blob = write_archive(data, frame_size=10, level=1, threads=1)  # 6,000 frames: 72 KB of table
    source = Source(blob)
    reader = SeekableReader(source.read_at, len(blob))
    table_size = 8 + 6_000 * 12 + 9
    assert source.reads == [(len(blob) - 65_536, 65_536), (len(blob) - table_size, table_size)]
    assert reader.read(33_333, 25) == data[33_333:33_358]


def test_unknown_size_uses_suffix_reads() -> None:
    data = sample(30_000)
    blob = write_archive(data, frame_size=4096)
    source = Source(blob)
    reader = SeekableReader(source.read_at)
    assert source.reads[0] == (-65_536, 65_536)
    assert reader.compressed_size == len(blob)
    assert reader.read(5_000, 9_000) == data[5_000:14_000]


@pytest.mark.asyncio
async def test_async_reader_matches_data() -> None:
    data = sample(100_000)
    blob = write_archive(data, frame_size=8192)
    source = Source(blob)
    reader = await AsyncSeekableReader.open(source.aread_at, len(blob))
    assert reader.size == len(data)
    assert len(reader.frames) == 13
    assert await reader.read(8_000, 20_000) == data[8_000:28_000]
    assert await reader.read(99_990, 100) == data[99_990:]


# -- the writer's output, checked field by field against the spec ---------------------------------


def test_writer_layout_follows_the_spec() -> None:
    data = sample(10_000)
    blob = write_archive(data, frame_size=3_000)

    assert blob[-4:] == SEEKABLE_MAGIC
    frame_count, descriptor = struct.unpack("<IB", blob[-9:-4])
    assert (frame_count, descriptor) == (4, 0x80)
    table_size = 8 + 4 * 12 + 9
    table = blob[-table_size:]
    assert table[:4] == SKIPPABLE_MAGIC
    assert struct.unpack("<I", table[4:8])[0] == table_size - 8
    offset = 0
    for i in range(4):
        csize, dsize, checksum = struct.unpack_from("<III", table, 8 + 12 * i)
        chunk = data[3_000 * i : 3_000 * (i + 1)]
        assert dsize == len(chunk)
        assert checksum == xxhash.xxh64_intdigest(chunk) & 0xFFFFFFFF
        frame = blob[offset : offset + csize]
        decoded = subprocess.run(
            ["/usr/bin/zstd", "-d", "-c"], input=frame, capture_output=True, check=True
        ).stdout
        assert decoded == chunk  # each frame is independent
        offset += csize
    assert offset == len(blob) - table_size


def test_writer_without_checksums_has_8_byte_entries() -> None:
    blob = write_archive(sample(5_000), frame_size=2_000, checksums=False)
    assert struct.unpack("<IB", blob[-9:-4]) == (3, 0)
    csize = sum(struct.unpack_from("<II", blob, len(blob) - 9 - 8 * (3 - i))[0] for i in range(3))
    assert csize + 8 + 3 * 8 + 9 == len(blob)


def test_empty_input_gives_a_table_of_no_frames() -> None:
    blob = write_archive(b"")
    assert (
        blob
        == SKIPPABLE_MAGIC + struct.pack("<I", 9) + struct.pack("<IB", 0, 0x80) + SEEKABLE_MAGIC
    )
    reader = SeekableReader(Source(blob).read_at, len(blob))
    assert reader.size == 0
    assert reader.read(0, 10) == b""


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=5_000), max_size=12))
def test_any_chunking_gives_the_same_archive(cuts: list[int]) -> None:
    data = sample(20_000, seed=7)
    whole = write_archive(data, frame_size=1_500, threads=2)
    out = io.BytesIO()
    writer = SeekableWriter(out, frame_size=1_500, threads=2)
    start = 0
    for cut in sorted(cuts):
        writer.write(data[start:cut])
        start = max(start, cut)
    writer.write(memoryview(data)[start:])
    writer.close()
    assert out.getvalue() == whole
    assert writer.bytes_in == len(data)
    assert writer.frames_written == 14
    assert writer.bytes_out == len(whole)


def test_writer_reports_frames_and_bytes() -> None:
    out = io.BytesIO()
    writer = SeekableWriter(out, frame_size=1000, threads=3)
    writer.write(sample(2_500))
    assert writer.bytes_in == 2_500
    writer.close()
    writer.close()  # harmless
    assert writer.frames_written == 3
    assert writer.bytes_out == len(out.getvalue())
    assert [f.decompressed_size for f in writer.table.frames] == [1000, 1000, 500]


@pytest.mark.parametrize("frame_size", [0, 2**30 + 1])
def test_writer_rejects_bad_frame_size(frame_size: int) -> None:
    with pytest.raises(ValueError, match="frame_size"):
        SeekableWriter(io.BytesIO(), frame_size=frame_size)


# -- a failed or unfinished writer never leaves a seek table -------------------------------------


def test_unclosed_or_failed_writer_leaves_no_seek_table() -> None:
    data = sample(9_000)
    out = io.BytesIO()
    writer = SeekableWriter(out, frame_size=1_000, threads=1)
    writer.write(data)
    assert SEEKABLE_MAGIC not in out.getvalue()  # not closed: no table
    writer.abort()
    assert SEEKABLE_MAGIC not in out.getvalue()
    with pytest.raises(ValueError, match="aborted"):
        writer.write(b"more")
    with pytest.raises(ValueError, match="aborted"):
        writer.close()

    out = io.BytesIO()
    writer = SeekableWriter(out)

    def produce() -> None:
        with writer:
            writer.write(data)
            raise RuntimeError("producer failed")

    with pytest.raises(RuntimeError, match="producer failed"):
        produce()
    assert SEEKABLE_MAGIC not in out.getvalue()
    with pytest.raises(RuntimeError, match="after close"):
        _ = writer.table


class FailingSink:
    """Accepts ``limit`` bytes, then fails like a full disk."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data = bytearray()

    def write(self, data: bytes) -> int:
        if len(self.data) + len(data) > self.limit:
            raise OSError("disk full")
        self.data += data
        return len(data)


def test_write_error_at_close_leaves_no_seek_table() -> None:
    data = sample(4_000)
    compressed = len(write_archive(data)) - (8 + 12 + 9)  # one frame, then the table
    sink = FailingSink(compressed + 10)  # the frame fits, the table does not
    writer = SeekableWriter(sink)
    writer.write(data)
    with pytest.raises(OSError, match="disk full"):
        writer.close()
    assert SEEKABLE_MAGIC not in sink.data
    with pytest.raises(ValueError, match="aborted"):
        writer.close()


# -- damaged archives ----------------------------------------------------------------------------


def open_blob(blob: bytes | bytearray) -> SeekableReader:
    return SeekableReader(Source(bytes(blob)).read_at, len(blob))


def test_plain_zstd_stream_is_not_seekable() -> None:
    with pytest.raises(SeekTableError, match=r"not a seekable zstd archive.*0x8F92EAB1"):
        open_blob(zstd_cli(sample(1000)))
    with pytest.raises(SeekTableError, match="shorter than"):
        open_blob(SEEKABLE_MAGIC)


def test_reserved_descriptor_bits_are_rejected() -> None:
    blob = bytearray(write_archive(sample(1000)))
    blob[-5] |= 0x04  # bit 2: reserved
    with pytest.raises(SeekTableError, match="reserved bits"):
        open_blob(blob)


def test_unused_descriptor_bits_are_ignored() -> None:
    data = sample(1000)
    blob = bytearray(write_archive(data))
    blob[-5] |= 0x03  # bits 1-0: "a compliant decoder should not interpret these bits"
    assert open_blob(blob).read(0, 1000) == data


def test_sizes_that_do_not_add_up_are_rejected() -> None:
    blob = write_archive(sample(10_000), frame_size=4_000)
    with pytest.raises(SeekTableError, match="add up to"):
        open_blob(b"\x00" + blob)  # one byte too many before the frames
    with pytest.raises(SeekTableError, match="add up to"):
        open_blob(blob[1:])  # first frame cut short
    wrong_size = bytearray(blob)
    table = len(blob) - (8 + 3 * 12 + 9)
    wrong_size[table + 4 : table + 8] = struct.pack("<I", 99)  # Frame_Size of the table frame
    with pytest.raises(SeekTableError, match="Frame_Size"):
        open_blob(wrong_size)
    many = bytearray(blob)
    many[-9:-5] = struct.pack("<I", 10**6)
    with pytest.raises(SeekTableError, match="1000000 frames"):
        open_blob(many)
    bad_magic = bytearray(blob)
    bad_magic[table] ^= 0x01  # the table's Skippable_Magic_Number
    with pytest.raises(SeekTableError, match="Skippable_Magic_Number"):
        open_blob(bad_magic)


def test_truncated_file_names_the_frame() -> None:
    data = incompressible(100_000)
    blob = write_archive(data, frame_size=40_000)
    source = Source(blob)
    reader = SeekableReader(source.read_at, len(blob))
    second = reader.frames[1]
    source.blob = blob[: second.compressed_offset + 5]  # the object shrank after opening
    with pytest.raises(  # frame 0 lies before the opening tail read: read_at is asked again
        TruncatedDataError, match=rf"frame 1 at compressed offset {second.compressed_offset}"
    ):
        reader.read(0, 80_000)


def test_corrupt_frame_names_frame_and_offset() -> None:
    data = sample(10_000)
    blob = bytearray(write_archive(data, frame_size=4_000))
    frame = open_blob(blob).frames[2]
    blob[frame.compressed_offset + frame.compressed_size // 2] ^= 0xFF
    reader = open_blob(blob)
    assert reader.read(0, 8_000) == data[:8_000]  # frames 0 and 1 are fine
    with pytest.raises(
        CorruptDataError, match=rf"frame 2 at compressed offset {frame.compressed_offset}"
    ):
        reader.read(7_000, 2_000)


def test_frame_larger_than_its_entry_is_corrupt() -> None:
    chunks = [b"abc" * 100, b"xyz" * 100]
    blob = bytearray(hand_built(chunks, checksums=False))
    # Decompressed_Size of frame 0 says 299 instead of 300 (the zstd CLI wrote no content size).
    entries = len(blob) - 9 - 16
    blob[entries + 4 : entries + 8] = struct.pack("<I", 299)
    # The frames still add up to the file; only decoding can tell.
    with pytest.raises(CorruptDataError, match="frame 0"):
        open_blob(blob).read(0, 10)


def test_checksum_mismatch_names_the_frame() -> None:
    data = sample(10_000)
    blob = bytearray(write_archive(data, frame_size=4_000))
    checksum_of_frame_1 = len(blob) - 9 - 36 + 12 + 8
    blob[checksum_of_frame_1] ^= 0x01
    reader = open_blob(blob)
    assert reader.read(0, 4_000) == data[:4_000]
    with pytest.raises(ChecksumMismatchError, match="frame 1"):
        reader.read(4_000, 1)


def test_failed_zstd_content_checksum_is_a_checksum_mismatch() -> None:
    data = sample(10_000)
    blob = bytearray(write_archive(data, frame_size=4_000))
    frame = open_blob(blob).frames[1]
    # The frame's own Content_Checksum (RFC 8878 3.1.1, its last 4 bytes); the seek table's
    # XXH64 entry still matches the data, so only zstd's check can catch it.
    blob[frame.compressed_end - 1] ^= 0x01
    reader = open_blob(blob)
    assert reader.read(0, 4_000) == data[:4_000]
    with pytest.raises(
        ChecksumMismatchError,
        match=rf"frame 1 at compressed offset {frame.compressed_offset}: content checksum",
    ):
        reader.read(4_000, 1)
    with pytest.raises(ChecksumMismatchError, match="content checksum"):  # as ZstdCodec says
        ZstdCodec().decompress(bytes(blob[frame.compressed_offset : frame.compressed_end]))


@pytest.mark.parametrize("level", [0, 23, 99, -131073])
def test_writer_rejects_a_level_as_zstd_codec_does(level: int) -> None:
    with pytest.raises(ValueError, match="level") as from_codec:
        ZstdCodec(level)
    with pytest.raises(ValueError, match="level") as from_writer:
        SeekableWriter(io.BytesIO(), level=level)  # at once, not when the first frame is made
    assert str(from_writer.value) == str(from_codec.value)


@pytest.mark.parametrize("level", ["3", 3.0, True])
def test_writer_rejects_a_level_that_is_not_an_int(level: object) -> None:
    with pytest.raises(TypeError, match="level must be an int"):
        SeekableWriter(io.BytesIO(), level=level)  # type: ignore[arg-type]


@pytest.mark.parametrize("level", [1, -5, 22])
def test_writer_takes_every_zstd_level(level: int) -> None:
    data = sample(3_000)
    assert open_blob(write_archive(data, level=level, frame_size=1_000)).read(0, 3_000) == data


@pytest.mark.parametrize("threads", [0, -1])
def test_writer_threads_is_none_or_at_least_one(threads: int) -> None:
    with pytest.raises(ValueError, match=rf"threads={threads}: .*frames compressed in parallel"):
        SeekableWriter(io.BytesIO(), threads=threads)


@pytest.mark.parametrize("threads", [1.5, True, "2"])
def test_writer_threads_must_be_an_int(threads: object) -> None:
    with pytest.raises(TypeError, match="threads must be an int"):
        SeekableWriter(io.BytesIO(), threads=threads)  # type: ignore[arg-type]


def test_bad_read_arguments() -> None:
    reader = open_blob(write_archive(b"abc"))
    with pytest.raises(ValueError, match=">= 0"):
        reader.read(-1, 2)
    with pytest.raises(ValueError, match=">= 0"):
        reader.read(0, -2)
