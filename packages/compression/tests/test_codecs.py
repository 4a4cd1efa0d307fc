"""The four codecs and the registry: round trips, format bytes, damage and truncation.

Format facts checked here come from the specs, not from our own output:
RFC 8878 (zstd frame header, block header, skippable frames), the LZ4 frame
format document (magic, FLG bits), RFC 1952 (gzip header and CRC32/ISIZE
trailer, checked with binascii.crc32).
"""

from __future__ import annotations

import binascii
import os
import random
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blobcodec import registry
from blobcodec.errors import (
    ChecksumMismatchError,
    CorruptDataError,
    TruncatedDataError,
    UnknownCodecError,
)
from blobcodec.gz import GzipCodec
from blobcodec.lz4_codec import Lz4Codec
from blobcodec.none_codec import NoneCodec
from blobcodec.protocols import Codec, StreamCompressor, StreamDecompressor
from blobcodec.registry import get_codec, names
from blobcodec.zstd_codec import ZstdCodec

FRAMED = ["zstd", "lz4", "gzip"]
ALL = [*FRAMED, "none"]


def text_like(size: int, seed: int = 1) -> bytes:
    """Compressible data: words drawn from a small vocabulary."""
    rng = random.Random(seed)
    words = [b"frame", b"block", b"seek", b"table", b"archive", b"member", b"offset", b"\n"]
    out = bytearray()
    while len(out) < size:
        out += rng.choice(words) + b" "
    return bytes(out[:size])


MIXED = text_like(300_000) + os.urandom(200_000) + bytes(400_000)


def bounded(codec: Codec) -> StreamDecompressor:
    """The codec's decompressor, which must accept ``max_length`` (bz2/lzma style)."""
    decompressor = codec.decompressor()
    assert isinstance(decompressor, StreamDecompressor)
    return decompressor


def skippable_frame(payload: bytes, nibble: int = 0xE) -> bytes:
    """RFC 8878 section 3.1.2: magic 0x184D2A5?, 4-byte little-endian size, user data."""
    return struct.pack("<II", 0x184D2A50 | nibble, len(payload)) + payload


@pytest.mark.parametrize("name", ALL)
def test_codecs_satisfy_the_protocol(name: str) -> None:
    codec = get_codec(name)
    assert isinstance(codec, Codec)
    assert codec.name == name
    assert isinstance(codec.compressor(), StreamCompressor)
    assert isinstance(codec.decompressor(), StreamDecompressor)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("data", [b"", b"x", MIXED], ids=["empty", "one-byte", "mixed"])
def test_round_trip_whole_and_streamed(name: str, data: bytes) -> None:
    codec = get_codec(name)
    assert codec.decompress(codec.compress(data)) == data
    compressor = codec.compressor()
    streamed = b"".join(
        compressor.compress(data[i : i + 65_536]) for i in range(0, len(data), 65_536)
    )
    streamed += compressor.flush()
    assert codec.decompress(streamed) == data


@pytest.mark.parametrize("name", FRAMED)
def test_concatenated_streams_decode_in_order(name: str) -> None:
    codec = get_codec(name)
    assert (
        codec.decompress(codec.compress(b"first ") + codec.compress(b"second")) == b"first second"
    )


@pytest.mark.parametrize(
    ("name", "level"),
    [("zstd", 1), ("zstd", 19), ("zstd", -5), ("lz4", 1), ("lz4", 12), ("gzip", 1), ("gzip", 9)],
)
def test_levels_round_trip(name: str, level: int) -> None:
    codec = get_codec(name, level)
    data = text_like(200_000)
    assert codec.decompress(codec.compress(data)) == data


def test_stronger_levels_really_are_stronger() -> None:
    data = text_like(300_000, seed=7)
    assert len(ZstdCodec(19).compress(data)) < len(ZstdCodec(1).compress(data))
    assert len(ZstdCodec(1).compress(data)) < len(ZstdCodec(-50).compress(data))
    assert len(GzipCodec(9).compress(data)) < len(GzipCodec(1).compress(data))
    assert len(Lz4Codec(12).compress(data)) < len(Lz4Codec(1).compress(data))


def test_zstd_threads_produce_one_standard_frame() -> None:
    data = text_like(3_000_000)
    frame = ZstdCodec(3, threads=2).compress(data)
    assert frame[:4] == b"\x28\xb5\x2f\xfd"
    assert ZstdCodec().decompress(frame) == data
    assert ZstdCodec(threads=-1).decompress(frame) == data


def test_zstd_frame_header_has_the_checksum_flag() -> None:
    frame = ZstdCodec().compress(b"hello")
    assert frame[:4] == bytes.fromhex("28b52ffd")  # RFC 8878 3.1.1: 0xFD2FB528 little-endian
    assert frame[4] & 0x04  # Content_Checksum_Flag
    streamed = ZstdCodec().compressor()
    assert (streamed.compress(b"hello") + streamed.flush())[4] & 0x04


def test_lz4_frame_header_has_the_content_checksum_flag() -> None:
    frame = Lz4Codec().compress(b"hello")
    assert frame[:4] == bytes.fromhex("04224d18")  # magic 0x184D2204 little-endian
    flg = frame[4]
    assert flg >> 6 == 0b01  # version
    assert flg & 0x04  # C.Checksum


def test_gzip_member_layout_follows_rfc_1952() -> None:
    data = text_like(50_000)
    member = GzipCodec(9).compress(data)
    assert member[:3] == b"\x1f\x8b\x08"  # ID1 ID2 CM=deflate
    crc32, isize = struct.unpack("<II", member[-8:])
    assert crc32 == binascii.crc32(data)
    assert isize == len(data)


def test_zstd_skips_skippable_frames() -> None:
    codec = ZstdCodec()
    stream = skippable_frame(b"ignored") + codec.compress(b"abc") + skippable_frame(b"", 0x0)
    assert codec.decompress(stream) == b"abc"


# --- truncation: every framed codec notices, and says where -----------------------------


def _cuts(name: str, compressed: bytes) -> list[int]:
    """Cut points: in the header, in the middle of the data, and just before the end."""
    return [0, 3, len(compressed) // 2, len(compressed) - 1]


@pytest.mark.parametrize("name", FRAMED)
def test_truncation_is_detected_with_the_offset(name: str) -> None:
    codec = get_codec(name)
    compressed = codec.compress(MIXED)
    for cut in _cuts(name, compressed):
        with pytest.raises(TruncatedDataError) as caught:
            codec.decompress(compressed[:cut])
        if cut:
            assert f"byte {cut}" in str(caught.value)


def test_zstd_cut_mid_block_names_the_block() -> None:
    compressed = ZstdCodec().compress(MIXED)
    with pytest.raises(TruncatedDataError, match=r"more bytes needed for the block at byte \d+"):
        ZstdCodec().decompress(compressed[: len(compressed) // 2])
    with pytest.raises(TruncatedDataError, match="content checksum"):
        ZstdCodec().decompress(compressed[:-2])


def test_gzip_missing_trailer_is_truncation() -> None:
    member = GzipCodec().compress(MIXED)
    with pytest.raises(TruncatedDataError, match="trailer"):
        GzipCodec().decompress(member[:-8])


def test_lz4_missing_endmark_is_truncation() -> None:
    frame = Lz4Codec().compress(MIXED)
    # EndMark (4 zero bytes) and the 4-byte content checksum end the frame.
    with pytest.raises(TruncatedDataError):
        Lz4Codec().decompress(frame[:-8])


def test_none_cannot_detect_truncation() -> None:
    # No framing: any prefix is a complete stream. Checksums must cover it.
    assert NoneCodec().decompress(b"abcdef"[:3]) == b"abc"


# --- damage: formats with a checksum catch a flipped byte -------------------------------


@pytest.mark.parametrize("name", FRAMED)
def test_flipped_byte_in_stored_data_fails_the_checksum(name: str) -> None:
    # Random data is stored (zstd raw blocks, lz4 uncompressed blocks, deflate
    # stored blocks), so only the format's checksum can notice the flip.
    codec = get_codec(name)
    data = os.urandom(100_000)
    damaged = bytearray(codec.compress(data))
    damaged[len(damaged) // 2] ^= 0x01
    with pytest.raises(ChecksumMismatchError):
        codec.decompress(bytes(damaged))


@pytest.mark.parametrize("name", FRAMED)
def test_flipped_bytes_anywhere_never_pass_silently(name: str) -> None:
    codec = get_codec(name)
    compressed = codec.compress(MIXED)
    rng = random.Random(5)
    for position in rng.sample(range(12, len(compressed) - 8), 25):
        damaged = bytearray(compressed)
        damaged[position] ^= 1 << rng.randrange(8)
        with pytest.raises(CorruptDataError):
            codec.decompress(bytes(damaged))


@pytest.mark.parametrize("name", FRAMED)
def test_garbage_is_corrupt_not_truncated(name: str) -> None:
    codec = get_codec(name)
    with pytest.raises(CorruptDataError) as caught:
        codec.decompress(b"this is not compressed data at all" * 10)
    assert not isinstance(caught.value, TruncatedDataError)


@pytest.mark.parametrize("name", FRAMED)
def test_trailing_garbage_after_a_complete_stream_is_an_error(name: str) -> None:
    codec = get_codec(name)
    with pytest.raises(CorruptDataError, match="byte"):
        codec.decompress(codec.compress(b"payload") + b"\x00garbage")


def test_zstd_reserved_block_type_is_reported_at_its_offset() -> None:
    frame = bytearray(ZstdCodec().compress(b"hello world"))
    header_size = 6 if frame[4] & 0x20 else 5  # single-segment frame with a 1-byte size
    frame[header_size] |= 0x06  # Block_Type 3 (reserved), RFC 8878 3.1.1.2.2
    with pytest.raises(CorruptDataError, match=f"byte {header_size} has the reserved block type"):
        ZstdCodec().decompress(bytes(frame))


# --- bounded incremental decompression ------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_decompressor_returns_at_most_max_length(name: str) -> None:
    codec = get_codec(name)
    compressed = codec.compress(MIXED)
    decompressor = bounded(codec)
    pieces = [decompressor.decompress(compressed, 10_000)]
    while not decompressor.needs_input:
        pieces.append(decompressor.decompress(b"", 10_000))
    assert max(len(p) for p in pieces) <= 10_000
    assert b"".join(pieces) == MIXED
    assert decompressor.eof


@pytest.mark.parametrize("name", ALL)
def test_one_byte_at_a_time_across_stream_boundaries(name: str) -> None:
    codec = get_codec(name)
    compressed = codec.compress(b"first ") + codec.compress(b"second")
    decompressor = bounded(codec)
    out = bytearray(decompressor.decompress(compressed, 1))
    while not decompressor.needs_input:
        out += decompressor.decompress(b"", 1)
    assert out == b"first second"


def test_zstd_bomb_is_decompressed_a_block_at_a_time() -> None:
    # 64 MiB of zeros is a few hundred bytes of run-length blocks.
    bomb = ZstdCodec(19).compress(bytes(64 << 20))
    assert len(bomb) < 10_000
    decompressor = ZstdCodec().decompressor()
    first = decompressor.decompress(bomb, 4096)
    assert first == bytes(4096)
    holding = not decompressor.needs_input
    assert holding
    total = len(first)
    while not decompressor.needs_input:
        piece = decompressor.decompress(b"", 1 << 20)
        assert len(piece) <= 1 << 20
        total += len(piece)
    assert total == 64 << 20
    assert decompressor.eof


@settings(max_examples=40, deadline=None)
@given(
    name=st.sampled_from(FRAMED),
    split=st.lists(st.integers(min_value=1, max_value=5000), min_size=1, max_size=20),
    max_length=st.integers(min_value=100, max_value=70_000),
)
def test_any_split_and_max_length_round_trips(name: str, split: list[int], max_length: int) -> None:
    codec = get_codec(name)
    data = MIXED[:20_000] + MIXED[-20_000:]
    compressed = codec.compress(data) + codec.compress(b"tail")
    decompressor = bounded(codec)
    out = bytearray()
    position = 0
    sizes = iter(split * (len(compressed) // sum(split) + 1))
    while position < len(compressed):
        size = next(sizes)
        out += decompressor.decompress(compressed[position : position + size], max_length)
        position += size
        while not decompressor.needs_input:
            out += decompressor.decompress(b"", max_length)
    assert bytes(out) == data + b"tail"
    assert decompressor.eof


# --- registry ---------------------------------------------------------------------------


def test_names_lists_the_four_codecs() -> None:
    assert names() == ("gzip", "lz4", "none", "zstd")


def test_names_are_sorted_whatever_the_registration_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry._CODECS, "brotli", NoneCodec)  # registered last, sorts first
    assert names() == ("brotli", "gzip", "lz4", "none", "zstd")


def test_get_codec_defaults_and_levels() -> None:
    zstd = get_codec("zstd")
    assert isinstance(zstd, ZstdCodec)
    assert (zstd.level, zstd.threads) == (3, 0)
    assert get_codec("zstd", 19, threads=2) is not None
    lz4 = get_codec("lz4", 9)
    assert isinstance(lz4, Lz4Codec)
    assert lz4.level == 9
    gzip = get_codec("gzip")
    assert isinstance(gzip, GzipCodec)
    assert gzip.level == 6
    assert isinstance(get_codec("none"), NoneCodec)


def test_unknown_codec_lists_the_known_ones() -> None:
    with pytest.raises(UnknownCodecError, match=r"'brotli'.*gzip, lz4, none, zstd"):
        get_codec("brotli")


@pytest.mark.parametrize(
    ("name", "level"),
    [
        ("zstd", 0),
        ("zstd", 23),
        ("zstd", -131073),
        ("lz4", 0),
        ("lz4", 13),
        ("gzip", 0),
        ("gzip", 10),
        ("none", 1),
    ],
)
def test_invalid_level_is_a_value_error_naming_level(name: str, level: int) -> None:
    with pytest.raises(ValueError, match=r"level"):
        get_codec(name, level)


def test_invalid_option_is_rejected() -> None:
    with pytest.raises(ValueError, match="threads"):
        get_codec("zstd", threads=-2)
    with pytest.raises(TypeError):
        get_codec("gzip", threads=2)
