"""The paged index (format version 2): its layout checked with the zstd tool and hand-computed
values, a few members read with ranged reads of the directory and their pages only, and
version 1 indexes still read."""

from __future__ import annotations

import asyncio
import hashlib
import json
import struct
import subprocess

import pytest

from blobcodec.errors import IndexFormatError
from blobcodec.index import ArchiveIndex, Member
from blobcodec.index._pages import FIRST_READ_BYTES, PAGE_MEMBERS, read_members_async

DIGEST = "sha256:" + "ab" * 32


def _member(path: str, number: int) -> Member:
    return Member(
        path, "file", 10, 0o644, 1.7e9, 0, 0, "", 512 * (2 * number + 1), range(1),
        "sha256:" + hashlib.sha256(b"%d" % number).hexdigest(),
    )  # fmt: skip


def _index(paths: list[str]) -> ArchiveIndex:
    members = [_member(path, number) for number, path in enumerate(paths)]
    return ArchiveIndex(
        members, frame_count=1, size=1 << 30, compressed_size=1 << 20, seek_table_sha256=DIGEST
    )


def _walk_paths(count: int) -> list[str]:
    """Paths as a depth-first walk with sorted children gives them (the archive order)."""
    return [f"d{number // 100:03d}/f{number % 100:02d}" for number in range(count)]


def _zstd(data: bytes) -> bytes:
    run = subprocess.run(["/usr/bin/zstd", "-d", "-c"], input=data, capture_output=True, check=True)
    return run.stdout


class Source:
    """``read_at`` over bytes, recording each read."""

    def __init__(self, blob: bytes) -> None:
        self.blob = blob
        self.reads: list[tuple[int, int]] = []

    async def read_at(self, offset: int, size: int) -> bytes:
        self.reads.append((offset, size))
        return self.blob[offset : offset + size]


def test_the_layout_is_a_directory_then_pages_of_member_lines() -> None:
    paths = _walk_paths(1300)  # pages of 512, 512 and 276
    blob = _index(paths).dumps()

    assert blob[:16] == b"BCINDEX\x00" + struct.pack("<HH", 2, 0) + blob[12:16]
    (length,) = struct.unpack_from("<I", blob, 12)
    head, *pages = [json.loads(line) for line in _zstd(blob[16 : 16 + length]).splitlines()]
    assert head == {
        "frames": 1,
        "size": 1 << 30,
        "compressed_size": 1 << 20,
        "seek_table_sha256": DIGEST,
        "members": 1300,
        "page_members": PAGE_MEMBERS,
    }
    assert [page["members"] for page in pages] == [512, 512, 276]
    assert [(page["low"], page["high"]) for page in pages] == [
        ("d000/f00", "d005/f11"),  # members 0..511
        ("d005/f12", "d010/f23"),  # 512..1023
        ("d010/f24", "d012/f99"),  # 1024..1299
    ]
    offset = 16 + length
    for number, page in enumerate(pages):
        text = _zstd(blob[offset : offset + page["length"]])  # each page: one whole frame
        first = number * PAGE_MEMBERS
        assert [json.loads(line)["path"] for line in text.splitlines()] == paths[
            first : first + page["members"]
        ]
        offset += page["length"]
    assert offset == len(blob)
    assert ArchiveIndex.load(blob).members == _index(paths).members


def test_path_order_puts_a_directory_s_contents_before_its_longer_siblings() -> None:
    """'a/z' sorts before 'a-b' ('/' is the lowest byte), as a sorted walk visits them."""
    paths = ["a", "a/z", "a-b", "b"]
    pages = [
        json.loads(line) for line in _zstd(_directory_blob(_index(paths).dumps())).splitlines()[1:]
    ]
    assert (pages[0]["low"], pages[0]["high"]) == ("a", "b")
    index = _index(["b", "a-b", "a/z"])  # one page: its least and greatest paths
    page = json.loads(_zstd(_directory_blob(index.dumps())).splitlines()[1])
    assert (page["low"], page["high"]) == ("a/z", "b")


def _directory_blob(blob: bytes) -> bytes:
    (length,) = struct.unpack_from("<I", blob, 12)
    return blob[16 : 16 + length]


def test_a_few_members_are_read_with_the_directory_and_their_pages_only() -> None:
    paths = _walk_paths(3000)  # six pages
    blob = _index(paths).dumps()
    source = Source(blob)
    (length,) = struct.unpack_from("<I", blob, 12)
    page_lengths = [
        json.loads(line)["length"] for line in _zstd(blob[16 : 16 + length]).splitlines()[1:]
    ]
    starts = [16 + length + sum(page_lengths[:number]) for number in range(len(page_lengths))]
    assert starts[3] > FIRST_READ_BYTES  # the fourth page is past the first read

    wanted = {paths[1700], paths[2047]}  # both in the fourth page (1536..2047)
    index = asyncio.run(read_members_async(source.read_at, wanted))

    assert index is not None
    assert [member.path for member in index.members] == paths[1536:2048]
    assert index.lookup(paths[1700]) == _member(paths[1700], 1700)
    assert (index.frame_count, index.size, index.seek_table_sha256) == (1, 1 << 30, DIGEST)
    assert source.reads == [(0, FIRST_READ_BYTES), (starts[3], page_lengths[3])]

    # Members of two pages that lie back to back: one read of both; keep filters.
    source.reads.clear()
    index = asyncio.run(
        read_members_async(
            source.read_at, [paths[2999], paths[2100]], keep=lambda m: m.path in wanted
        )
    )
    assert index is not None
    assert index.members == ()
    assert source.reads[1:] == [(starts[4], page_lengths[4] + page_lengths[5])]


def test_an_index_within_the_first_read_takes_no_other() -> None:
    paths = _walk_paths(300)  # one page
    blob = _index(paths).dumps()
    assert len(blob) < FIRST_READ_BYTES
    source = Source(blob)
    index = asyncio.run(read_members_async(source.read_at, ["d000/f01", "zzz", "d000/f00x"]))
    assert index is not None
    assert [member.path for member in index.members] == paths
    assert source.reads == [(0, FIRST_READ_BYTES)]
    # A path past every page's range: no page to read.
    source.reads.clear()
    index = asyncio.run(read_members_async(source.read_at, ["zzz"]))
    assert index is not None
    assert index.members == ()


def test_pages_out_of_path_order_and_version_1_indexes_are_read_whole() -> None:
    unordered = _index(list(reversed(_walk_paths(1100))))
    assert asyncio.run(read_members_async(Source(unordered.dumps()).read_at, ["d001/f00"])) is None
    assert ArchiveIndex.load(unordered.dumps()).members == unordered.members

    lines = [
        b'{"frames":1,"size":1073741824,"compressed_size":1048576,"seek_table_sha256":"'
        + DIGEST.encode()
        + b'","members":1}',
        b'{"path":"a","type":"file","size":10,"mode":420,"mtime":1700000000,"uid":0,"gid":0,'
        b'"offset":512,"frames":[0,1],"sha256":"' + DIGEST.encode() + b'"}',
    ]
    version_1 = b"BCINDEX\x00" + struct.pack("<HH", 1, 0) + _zstd_compress(b"\n".join(lines))
    assert asyncio.run(read_members_async(Source(version_1).read_at, ["a"])) is None
    (member,) = ArchiveIndex.load(version_1).members
    assert (member.path, member.offset, member.sha256) == ("a", 512, DIGEST)


def _zstd_compress(text: bytes) -> bytes:
    run = subprocess.run(["/usr/bin/zstd", "-q", "-c"], input=text, capture_output=True, check=True)
    return run.stdout


def _edited_directory(blob: bytes, edit: tuple[bytes, bytes]) -> bytes:
    """``blob`` with its directory's text edited (recompressed; the pages as they were)."""
    (length,) = struct.unpack_from("<I", blob, 12)
    text = _zstd(blob[16 : 16 + length])
    assert edit[0] in text
    directory = _zstd_compress(text.replace(*edit, 1))
    return blob[:12] + struct.pack("<I", len(directory)) + directory + blob[16 + length :]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        # A page claiming paths that exclude one of its members (it would hide it).
        ((b'"high":"d005/f11"', b'"high":"d005/f10"'), "outside its page's paths"),
        ((b'"members":1300', b'"members":1299'), "announces 1299 members but its pages hold"),
        ((b'"members":512,', b'"members":511,'), "a page of 511 members"),
        ((b'"page_members":512', b'"page_members":0'), "'page_members' is 0"),
    ],
)
def test_a_directory_that_disagrees_with_its_pages_is_refused(
    edit: tuple[bytes, bytes], message: str
) -> None:
    blob = _edited_directory(_index(_walk_paths(1300)).dumps(), edit)
    with pytest.raises(IndexFormatError, match=message):
        ArchiveIndex.load(blob)
    with pytest.raises(IndexFormatError, match=message):
        asyncio.run(read_members_async(Source(blob).read_at, ["d000/f05"]))


def test_damaged_or_truncated_pages_are_refused() -> None:
    blob = _index(_walk_paths(1300)).dumps()
    with pytest.raises(IndexFormatError, match="ends at byte"):
        asyncio.run(read_members_async(Source(blob[:-10]).read_at, ["d012/f99"]))
    with pytest.raises(IndexFormatError):
        ArchiveIndex.load(blob[:-10])
    with pytest.raises(IndexFormatError, match="bytes after its last page"):
        ArchiveIndex.load(blob + b"x")
    damaged = bytearray(blob)
    damaged[-100] ^= 0x01
    with pytest.raises(IndexFormatError):
        asyncio.run(read_members_async(Source(bytes(damaged)).read_at, ["d012/f99"]))
