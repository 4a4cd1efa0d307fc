"""The real command-line tools read what blobcodec writes, and blobcodec reads what they write.

Uses /usr/bin/zstd, /usr/bin/lz4 and gzip on files in tmp_path.
"""

from __future__ import annotations

import io
import os
import random
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from blobcodec.errors import ChecksumMismatchError, TruncatedDataError
from blobcodec.registry import get_codec
from blobcodec.streams import compress_stream, decompress_stream
from blobcodec.zstd_codec import ZstdCodec

GZIP = shutil.which("gzip") or "/usr/bin/gzip"
DECOMPRESS_TOOL = {
    "zstd": ["/usr/bin/zstd", "-d", "-q", "-c"],
    "lz4": ["/usr/bin/lz4", "-d", "-c"],
    "gzip": [GZIP, "-d", "-c"],
}
COMPRESS_TOOL = {
    "zstd": ["/usr/bin/zstd", "-3", "-q", "-c"],
    "lz4": ["/usr/bin/lz4", "-c"],
    "gzip": [GZIP, "-c"],
}


def sample_data() -> bytes:
    rng = random.Random(3)
    words = [b"alpha", b"beta", b"gamma", b"delta", b"\n", b"0123456789"]
    text = b" ".join(rng.choice(words) for _ in range(200_000))
    return text + os.urandom(100_000) + bytes(300_000)


DATA = sample_data()


def run_tool(args: list[str], path: Path) -> bytes:
    return subprocess.run([*args, str(path)], capture_output=True, check=True).stdout


@pytest.mark.parametrize(
    ("name", "level"),
    [("zstd", 3), ("zstd", 19), ("zstd", -5), ("lz4", 1), ("lz4", 9), ("gzip", 6), ("gzip", 1)],
)
def test_tool_reads_blobcodec_whole_buffer_output(tmp_path: Path, name: str, level: int) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(get_codec(name, level).compress(DATA))
    assert run_tool(DECOMPRESS_TOOL[name], path) == DATA


@pytest.mark.parametrize("name", ["zstd", "lz4", "gzip"])
def test_tool_reads_blobcodec_streamed_output(tmp_path: Path, name: str) -> None:
    path = tmp_path / "data.bin"
    with path.open("wb") as out:
        compress_stream(get_codec(name), io.BytesIO(DATA), out, chunk_size=50_000)
    assert run_tool(DECOMPRESS_TOOL[name], path) == DATA


def test_zstd_tool_reads_multithreaded_output(tmp_path: Path) -> None:
    path = tmp_path / "data.zst"
    path.write_bytes(ZstdCodec(3, threads=-1).compress(DATA * 4))
    assert run_tool(DECOMPRESS_TOOL["zstd"], path) == DATA * 4


def test_zstd_tool_verifies_our_checksum(tmp_path: Path) -> None:
    # The tool itself reports the content checksum we wrote as wrong after a flip.
    damaged = bytearray(ZstdCodec().compress(os.urandom(50_000)))
    damaged[len(damaged) // 2] ^= 1
    path = tmp_path / "damaged.zst"
    path.write_bytes(bytes(damaged))
    result = subprocess.run(DECOMPRESS_TOOL["zstd"] + [str(path)], capture_output=True)
    assert result.returncode != 0
    assert b"checksum" in result.stderr.lower()
    with pytest.raises(ChecksumMismatchError):
        ZstdCodec().decompress(bytes(damaged))


@pytest.mark.parametrize("name", ["zstd", "lz4", "gzip"])
def test_blobcodec_reads_tool_output(tmp_path: Path, name: str) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(DATA)
    compressed = run_tool(COMPRESS_TOOL[name], path)
    codec = get_codec(name)
    assert codec.decompress(compressed) == DATA
    out = io.BytesIO()
    decompress_stream(codec, io.BytesIO(compressed), out, chunk_size=16_384)
    assert out.getvalue() == DATA


@pytest.mark.parametrize("name", ["zstd", "lz4", "gzip"])
def test_tool_and_blobcodec_agree_on_concatenated_streams(tmp_path: Path, name: str) -> None:
    codec = get_codec(name)
    path = tmp_path / "two.bin"
    part = tmp_path / "part.bin"
    part.write_bytes(b"from the tool\n")
    path.write_bytes(codec.compress(b"from blobcodec\n") + run_tool(COMPRESS_TOOL[name], part))
    assert run_tool(DECOMPRESS_TOOL[name], path) == b"from blobcodec\nfrom the tool\n"
    assert codec.decompress(path.read_bytes()) == b"from blobcodec\nfrom the tool\n"


def test_zstd_tool_and_blobcodec_both_skip_skippable_frames(tmp_path: Path) -> None:
    skippable = struct.pack("<II", 0x184D2A5E, 6) + b"ignore"  # RFC 8878 section 3.1.2
    path = tmp_path / "skip.zst"
    path.write_bytes(ZstdCodec().compress(b"payload") + skippable)
    assert run_tool(DECOMPRESS_TOOL["zstd"], path) == b"payload"
    assert ZstdCodec().decompress(path.read_bytes()) == b"payload"


@pytest.mark.parametrize("name", ["zstd", "lz4", "gzip"])
def test_truncated_tool_output_is_detected(tmp_path: Path, name: str) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(DATA)
    compressed = run_tool(COMPRESS_TOOL[name], path)
    with pytest.raises(TruncatedDataError):
        get_codec(name).decompress(compressed[: len(compressed) - 6])
