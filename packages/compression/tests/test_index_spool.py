"""IndexSpool writes the bytes ArchiveIndex.dumps writes, without holding the members."""

from __future__ import annotations

import random
import tempfile

import pytest

from blobcodec.index import ArchiveIndex, Member
from blobcodec.index._dump import IndexSpool

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


@pytest.mark.parametrize("count", [0, 1, 511, 3000])  # 511 + the odd name: one full page
def test_the_spooled_index_is_byte_identical_to_dumps(count: int) -> None:
    members = _members(count)
    frames = count // 50 + 1
    data = _spooled(members, frames)
    assert data == _dumped(members, frames)
    assert ArchiveIndex.load(data).members == tuple(members)
