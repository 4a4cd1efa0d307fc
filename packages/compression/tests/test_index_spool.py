"""IndexSpool writes the bytes ArchiveIndex.dumps writes, without holding the members."""

from __future__ import annotations

import random
import subprocess
import tempfile

import pytest

from blobcodec.index import ArchiveIndex, Member
from blobcodec.index import _dump as dump_module
from blobcodec.index._dump import IndexSpool

_HEADER_SIZE = 12
_SEEK_TABLE = "sha256:" + "ab" * 32


def _members(count: int) -> list[Member]:
    """Files, links and a non-UTF-8 name, with random sha256s (poorly compressible text)."""
    rng = random.Random(count)
    made = [
        Member(
            f"dir{index % 37}/file-{index:06d}-{'x' * rng.randrange(60)}",
            "file",
            index,
            0o644,
            1.7e9 + index / 7,
            1000,
            1000,
            "",
            512 * (index + 1),
            range(index // 50, index // 50 + 1),
            "sha256:" + rng.randbytes(32).hex(),
        )
        for index in range(count)
    ]
    made.append(Member("caf\udce9", "symlink", 0, 0o777, 1.0, 0, 0, "t\udcff", 0, range(0), None))
    return made


def _spooled(members: list[Member], frames: int) -> bytes:
    with tempfile.TemporaryFile() as file:
        spool = IndexSpool(file)
        for member in members:
            spool.add(member)
        assert len(spool) == len(members)
        pieces = spool.pieces(
            frame_count=frames, size=1 << 30, compressed_size=1 << 28, seek_table_sha256=_SEEK_TABLE
        )
        return b"".join(pieces)


def _dumped(members: list[Member], frames: int) -> bytes:
    index = ArchiveIndex(
        members,
        frame_count=frames,
        size=1 << 30,
        compressed_size=1 << 28,
        seek_table_sha256=_SEEK_TABLE,
    )
    return index.dumps()


@pytest.mark.parametrize("count", [0, 1, 3000])
def test_the_spooled_index_is_byte_identical_to_dumps(count: int) -> None:
    members = _members(count)
    frames = count // 50 + 1
    data = _spooled(members, frames)
    assert data == _dumped(members, frames)
    assert ArchiveIndex.load(data).members == tuple(members)


def test_past_the_one_shot_limit_the_index_is_streamed_with_the_same_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Streamed (the limit lowered to 64 KiB for the test): a different zstd frame, but the
    zstd tool decompresses it to exactly the text of dumps' frame, and it loads the same."""
    monkeypatch.setattr(dump_module, "ONE_SHOT_LIMIT", 64 << 10)
    monkeypatch.setattr(dump_module, "SPOOL_CHUNK_SIZE", 16 << 10)
    members = _members(3000)  # about 600 KiB of JSON lines
    data = _spooled(members, 61)
    reference = _dumped(members, 61)
    assert data[:_HEADER_SIZE] == reference[:_HEADER_SIZE]

    def text(index: bytes) -> bytes:
        run = subprocess.run(
            ["zstd", "-d", "-c", "--no-progress"],
            input=index[_HEADER_SIZE:],
            capture_output=True,
            check=True,
        )
        return run.stdout

    assert text(data) == text(reference)
    assert len(text(data)) > 8 * (64 << 10)
    assert ArchiveIndex.load(data).members == tuple(members)
