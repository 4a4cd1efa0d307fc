"""The archive member index, checked against Python's ``tarfile`` and GNU ``tar`` as the truth
about where each member's header fields and bytes are."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import random
import struct
import subprocess
import tarfile
from pathlib import Path
from typing import IO, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blobcodec.errors import (
    ChecksumMismatchError,
    CorruptDataError,
    IndexFormatError,
    IndexMismatchError,
)
from blobcodec.index import ArchiveIndex, Member, TarIndexer, read_member, read_member_async
from blobcodec.seekable import AsyncSeekableReader, ReadAt, SeekableReader, SeekableWriter

FRAME = 4096
NON_UTF8 = b"caf\xe9-latin1.txt"  # not valid UTF-8
SEEKABLE_MAGIC = b"\xb1\xea\x92\x8f"

TYPES = {
    tarfile.REGTYPE: "file",
    tarfile.LNKTYPE: "hardlink",
    tarfile.SYMTYPE: "symlink",
    tarfile.DIRTYPE: "directory",
    tarfile.FIFOTYPE: "fifo",
}


def make_tree(root: Path) -> dict[str, bytes]:
    """Members of every kind the index handles; returns regular files' contents by path."""
    rng = random.Random(5)
    (root / "d" / ("deep" * 30)).mkdir(parents=True)  # a 120-character directory name
    contents = {
        "d/small.txt": b"hello\n",
        "d/empty": b"",
        "d/multi-frame.bin": rng.randbytes(3 * FRAME + 100),
        "d/" + "deep" * 30 + "/" + "x" * 140 + ".txt": b"a long path\n",
    }
    for name, data in contents.items():
        (root / name).write_bytes(data)
    with open(os.fsencode(root / "d") + b"/" + NON_UTF8, "wb") as file:
        file.write(b"latin-1 name\n")
    contents["d/" + NON_UTF8.decode("utf-8", "surrogateescape")] = b"latin-1 name\n"
    (root / "d" / "symlink").symlink_to("small.txt")
    (root / "d" / "long-symlink").symlink_to("t" * 150)
    os.link(root / "d" / "small.txt", root / "d" / "z-hardlink")  # tarfile adds names sorted
    os.mkfifo(root / "d" / "fifo")
    return contents


def write_indexed(
    produce: IO[bytes] | bytes, frame_size: int = FRAME, chunk: int = 10_000
) -> tuple[bytes, ArchiveIndex]:
    """Pass a tar stream through a TarIndexer in ``chunk``-byte writes."""
    out = io.BytesIO()
    indexer = TarIndexer(SeekableWriter(out, frame_size=frame_size))
    data = produce if isinstance(produce, bytes) else produce.read()
    for start in range(0, len(data), chunk):
        indexer.write(data[start : start + chunk])
    index = indexer.close()
    return out.getvalue(), index


def pax_tar(root: Path, padding: int = 0) -> bytes:
    """The tree under ``root`` as a pax tar; ``padding`` random bytes in a last member."""
    buffer = io.BytesIO()
    # A global pax header (typeflag 'g'): gid 77 for every member without its own gid record.
    with tarfile.open(
        fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT, pax_headers={"gid": "77"}
    ) as tar:
        tar.add(root / "d", arcname="d")
        info = tarfile.TarInfo("d/big-ids")  # uid/gid past 7 octal digits, fractional mtime
        info.uid, info.gid, info.mtime, info.size = 3_000_000_000, 2**31, 1_700_000_000.25, 3
        tar.addfile(info, io.BytesIO(b"abc"))
        if padding:
            info = tarfile.TarInfo("z-padding")
            info.size = padding
            tar.addfile(info, io.BytesIO(random.Random(9).randbytes(padding)))
    return buffer.getvalue()


def check_against_tarfile(tar_bytes: bytes, index: ArchiveIndex, frame_size: int) -> None:
    """Every member as Python's tarfile reads it from the uncompressed stream."""
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        infos = tar.getmembers()
    assert [m.path for m in index.members] == [i.name for i in infos]
    for member, info in zip(index.members, infos, strict=True):
        assert member.type == TYPES[info.type], info.name
        assert (member.mode, member.uid, member.gid) == (info.mode, info.uid, info.gid)
        assert member.mtime == info.mtime
        assert member.link == info.linkname
        if info.isreg():
            data = tar_bytes[info.offset_data : info.offset_data + info.size]
            assert (member.offset, member.size) == (info.offset_data, info.size)
            assert member.sha256 == "sha256:" + hashlib.sha256(data).hexdigest()
            first, end = info.offset_data // frame_size, info.offset_data + info.size
            last = (end - 1) // frame_size
            assert member.frames == (range(first, last + 1) if info.size else range(first, first))
        else:
            assert (member.size, member.sha256, len(member.frames)) == (0, None, 0)


def test_index_of_a_pax_tar_matches_tarfile(tmp_path: Path) -> None:
    contents = make_tree(tmp_path)
    tar_bytes = pax_tar(tmp_path)
    archive, index = write_indexed(tar_bytes)
    check_against_tarfile(tar_bytes, index, FRAME)

    for path, data in contents.items():
        assert index.lookup(path).sha256 == "sha256:" + hashlib.sha256(data).hexdigest()
    assert index.lookup(b"d/" + NON_UTF8).path == "d/caf\udce9-latin1.txt"
    assert "d/empty" in index
    assert index.lookup("d/small.txt").gid == 77
    assert index.lookup("d/long-symlink").link == "t" * 150
    assert index.lookup("d/z-hardlink").link == "d/small.txt"
    big_ids = index.lookup("d/big-ids")
    assert (big_ids.uid, big_ids.gid, big_ids.mtime) == (3_000_000_000, 2**31, 1_700_000_000.25)
    assert (
        index.frame_count
        == SeekableReader(_memory(archive), len(archive)).table.frames[-1].index + 1
    )
    assert (index.size, index.compressed_size) == (len(tar_bytes), len(archive))


def test_index_of_a_gnu_tar_from_gnu_tar(tmp_path: Path) -> None:
    make_tree(tmp_path)
    tar_bytes = subprocess.run(
        [
            "/usr/bin/tar",
            "--format=gnu",
            "--owner=someone:3000000000",
            "-cf",
            "-",
            "-C",
            str(tmp_path),
            "d",
        ],
        capture_output=True,
        check=True,
    ).stdout
    assert b"././@LongLink" in tar_bytes  # GNU long names and link names ('L', 'K')
    _, index = write_indexed(tar_bytes, frame_size=1000)
    check_against_tarfile(tar_bytes, index, 1000)
    assert index.lookup("d/long-symlink").uid == 3_000_000_000  # a base-256 number


WHOLE_MTIME = 1_600_000_000


def tarfile_tar(tar_format: int) -> bytes:
    """A directory and a file with whole-second mtimes, written by Python's tarfile."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tar_format) as tar:
        info = tarfile.TarInfo("dir")
        info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, WHOLE_MTIME
        tar.addfile(info)
        info = tarfile.TarInfo("dir/file.txt")
        info.size, info.mode, info.mtime = 5, 0o644, WHOLE_MTIME
        tar.addfile(info, io.BytesIO(b"hello"))
    return buffer.getvalue()


def gnu_tar(root: Path, tar_format: str) -> bytes:
    """The same tree on disk (mtimes set whole with os.utime), written by GNU tar."""
    (root / "dir").mkdir()
    (root / "dir" / "file.txt").write_bytes(b"hello")
    for path in (root / "dir" / "file.txt", root / "dir"):
        os.utime(path, (WHOLE_MTIME, WHOLE_MTIME))
    return subprocess.run(
        ["/usr/bin/tar", f"--format={tar_format}", "-cf", "-", "-C", str(root), "dir"],
        capture_output=True,
        check=True,
    ).stdout


@pytest.mark.parametrize(
    "producer", ["tarfile-ustar", "tarfile-gnu", "tarfile-pax", "gnu-tar-gnu", "gnu-tar-ustar"]
)
def test_whole_mtimes_of_every_tar_format_dump_and_load(producer: str, tmp_path: Path) -> None:
    # Headers without a pax mtime record hold whole seconds; dumps() once called
    # int.is_integer() on them, which Python 3.11 lacks.
    formats = {"ustar": tarfile.USTAR_FORMAT, "gnu": tarfile.GNU_FORMAT, "pax": tarfile.PAX_FORMAT}
    tool, _, tar_format = producer.rpartition("-")
    if tool == "tarfile":
        tar_bytes = tarfile_tar(formats[tar_format])
    else:
        tar_bytes = gnu_tar(tmp_path, tar_format)
    assert b"mtime=" not in tar_bytes  # no pax mtime record: the octal header field only
    _, index = write_indexed(tar_bytes)
    blob = index.dumps()
    check_against_tarfile(tar_bytes, index, FRAME)
    assert [m.path for m in index.members] == ["dir", "dir/file.txt"]
    for member in index.members:
        assert type(member.mtime) is float  # whatever the header format
        assert member.mtime == WHOLE_MTIME

    lines = _member_lines(blob)
    assert all(b'"mtime":%d,' % WHOLE_MTIME in line for line in lines)  # a JSON integer
    loaded = ArchiveIndex.load(blob)
    assert loaded.members == index.members
    assert all(type(member.mtime) is float for member in loaded.members)


def test_dumps_takes_a_member_built_with_an_int_mtime() -> None:
    member = Member("a", "directory", 0, 0o755, 7, 0, 0, "", 512, range(0), None)
    index = ArchiveIndex(
        [member], frame_count=1, size=10240, compressed_size=100, seek_table_sha256=ZERO_DIGEST
    )
    assert ArchiveIndex.load(index.dumps()).members[0].mtime == 7.0


@settings(max_examples=20, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=700), min_size=1, max_size=40))
def test_any_chunking_gives_the_same_index(chunk_sizes: list[int]) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for i, size in enumerate((0, 1, 511, 512, 513, 2000)):
            info = tarfile.TarInfo(f"f{i}-" + "n" * 100 * (i % 2))
            info.size = size
            tar.addfile(info, io.BytesIO(bytes([i]) * size))
    tar_bytes = buffer.getvalue()
    _, expected = write_indexed(tar_bytes, frame_size=700, chunk=len(tar_bytes))

    out = io.BytesIO()
    indexer = TarIndexer(SeekableWriter(out, frame_size=700, threads=1))
    position = 0
    sizes = iter(chunk_sizes * (len(tar_bytes) // sum(chunk_sizes) + 1))
    while position < len(tar_bytes):
        step = next(sizes)
        indexer.write(tar_bytes[position : position + step])
        position += step
        assert indexer.tell() == min(position, len(tar_bytes))
    assert indexer.close().members == expected.members


def test_tarfile_can_write_straight_into_the_indexer(tmp_path: Path) -> None:
    contents = make_tree(tmp_path)
    out = io.BytesIO()
    indexer = TarIndexer(SeekableWriter(out, frame_size=FRAME))
    with tarfile.open(fileobj=cast(IO[bytes], indexer), mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.add(tmp_path / "d", arcname="d")
    index = indexer.close()
    reader = SeekableReader(_memory(out.getvalue()), len(out.getvalue()))
    for path, data in contents.items():
        assert read_member(index, reader, path) == data


# -- the serialised form -------------------------------------------------------------------------


def _zstd_lines(data: bytes) -> list[bytes]:
    """The lines of the text in ``data`` (one or more zstd frames), by the zstd tool."""
    run = subprocess.run(["/usr/bin/zstd", "-d", "-c"], input=data, capture_output=True, check=True)
    return run.stdout.splitlines()


def _directory_lines(blob: bytes) -> list[bytes]:
    """The directory of a version 2 index: the frame of the length at byte 12, from byte 16."""
    (length,) = struct.unpack_from("<I", blob, 12)
    return _zstd_lines(blob[16 : 16 + length])


def _member_lines(blob: bytes) -> list[bytes]:
    """The member lines of a version 2 index: its pages, the frames after the directory."""
    (length,) = struct.unpack_from("<I", blob, 12)
    return _zstd_lines(blob[16 + length :])


def test_dumps_layout_and_round_trip(tmp_path: Path) -> None:
    make_tree(tmp_path)
    _, index = write_indexed(pax_tar(tmp_path))
    blob = index.dumps()
    assert blob[:12] == b"BCINDEX\x00" + struct.pack("<HH", 2, 0)
    head, page = _directory_lines(blob)  # one page holds these few members
    assert b'"members":%d' % len(index.members) in head
    assert b'"page_members":512}' in head
    (length,) = struct.unpack_from("<I", blob, 12)
    assert page.startswith(b'{"length":%d,"members":%d,' % (len(blob) - 16 - length, len(index)))
    lines = _member_lines(blob)
    assert len(lines) == len(index.members)
    assert any(b'"path_b64":"ZC9jYWbpLWxhdGluMS50eHQ="' in line for line in lines)  # base64
    loaded = ArchiveIndex.load(blob)
    assert loaded.members == index.members
    assert (loaded.frame_count, loaded.size, loaded.compressed_size) == (
        index.frame_count,
        index.size,
        index.compressed_size,
    )
    assert loaded.seek_table_sha256 == index.seek_table_sha256


def _index_blob(lines: list[bytes], version: int = 1) -> bytes:
    payload = subprocess.run(
        ["/usr/bin/zstd", "-q", "-c"], input=b"\n".join(lines), capture_output=True, check=True
    ).stdout
    return b"BCINDEX\x00" + struct.pack("<HH", version, 0) + payload


ZERO_DIGEST = "sha256:" + "0" * 64
GOOD_HEAD = (
    b'{"frames":1,"size":10240,"compressed_size":2000,"seek_table_sha256":"'
    + ZERO_DIGEST.encode()
    + b'",'
)


def member_line(frames: str = "[0,1]", offset: int = 512) -> bytes:
    return (
        b'{"path":"a","type":"file","size":3,"mode":420,"mtime":5,"uid":1,"gid":2,'
        b'"offset":%d,"frames":%s,"sha256":"sha256:' % (offset, frames.encode()) + b"a" * 64 + b'"}'
    )


def test_load_reads_a_hand_written_index() -> None:
    index = ArchiveIndex.load(_index_blob([GOOD_HEAD + b'"members":1}', member_line()]))
    assert index.lookup("a") == Member(
        "a", "file", 3, 0o644, 5.0, 1, 2, "", 512, range(1), "sha256:" + "a" * 64
    )


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"NOTANIDX" + bytes(20), "magic"),
        (_index_blob([GOOD_HEAD + b'"members":0}'], version=3), "version 3 is not supported"),
        (b"BCINDEX\x00\x01\x00\x00\x00" + b"garbage", "does not decode"),
        (_index_blob([GOOD_HEAD + b'"members":1}']), "announces 1 members but holds 0"),
        (_index_blob([b'{"frames":1}']), "'members' is missing"),
        (_index_blob([GOOD_HEAD + b'"members":1}', b'{"path":"a"}']), "'type' is missing"),
        (_index_blob([GOOD_HEAD + b'"members":1}', b"[1,2]"]), "line 2 is not a JSON object"),
        (
            _index_blob([GOOD_HEAD + b'"members":1}', b'{"path":"a","type":"socket"}']),
            "unknown type 'socket'",
        ),
    ],
)
def test_load_rejects_bad_bytes(blob: bytes, message: str) -> None:
    with pytest.raises(IndexFormatError, match=message):
        ArchiveIndex.load(blob)


@pytest.mark.parametrize(
    ("frames", "offset", "message"),
    [
        ("[1,1]", 512, r"line 2: member 'a' has frames range\(1, 2\), past the archive's 1 frames"),
        ("[3,0]", 512, r"line 2: member 'a' has frames range\(3, 3\)"),
        ("[0,1]", 10_238, r"line 2: member 'a' ends at byte 10241, past the archive's 10240"),
    ],
)
def test_load_rejects_a_member_outside_the_archive(frames: str, offset: int, message: str) -> None:
    blob = _index_blob([GOOD_HEAD + b'"members":1}', member_line(frames, offset)])
    with pytest.raises(IndexFormatError, match=message):
        ArchiveIndex.load(blob)
    # At the very end of the archive is still inside it.
    ArchiveIndex.load(_index_blob([GOOD_HEAD + b'"members":1}', member_line(offset=10_237)]))


def test_load_bounds_the_decompressed_size() -> None:
    # Valid JSON padded with 64 MiB of spaces: a few KB of zstd that an unbounded
    # decompression would expand in full (and load).
    padded = GOOD_HEAD + b'"members":0}' + b" " * (64 * 1024 * 1024)
    blob = _index_blob([padded])
    assert len(blob) * 256 < 64 * 1024 * 1024  # below the floor, so the floor applies
    with pytest.raises(IndexFormatError, match=r"expands beyond 67108864 bytes"):
        ArchiveIndex.load(blob)
    # The same JSON with less padding is within the bound.
    assert len(ArchiveIndex.load(_index_blob([GOOD_HEAD + b'"members":0}' + b" " * 10**6]))) == 0


def test_load_rejects_a_damaged_payload(tmp_path: Path) -> None:
    make_tree(tmp_path)
    blob = bytearray(write_indexed(pax_tar(tmp_path))[1].dumps())
    blob[len(blob) // 2] ^= 0x10
    with pytest.raises(IndexFormatError):
        ArchiveIndex.load(bytes(blob))
    with pytest.raises(IndexFormatError):
        ArchiveIndex.load(bytes(blob[:-3]))


# -- reading members through the index ----------------------------------------------------------


class CountingSource:
    def __init__(self, blob: bytes) -> None:
        self.blob = blob
        self.reads: list[tuple[int, int]] = []

    def read_at(self, offset: int, size: int) -> bytes:
        self.reads.append((offset, size))
        return self.blob[offset : offset + size]

    async def aread_at(self, offset: int, size: int) -> bytes:
        return self.read_at(offset, size)


def test_read_member_uses_one_ranged_read(tmp_path: Path) -> None:
    contents = make_tree(tmp_path)
    # Random padding at the end fills the reader's 64 KiB opening tail read.
    archive, index = write_indexed(pax_tar(tmp_path, padding=100_000))
    index = ArchiveIndex.load(index.dumps())
    source = CountingSource(archive)
    reader = SeekableReader(source.read_at, len(archive))
    for path, data in contents.items():
        source.reads.clear()
        assert read_member(index, reader, path) == data
        assert len(source.reads) == (1 if data else 0)
    assert read_member(index, reader, "d/z-hardlink") == contents["d/small.txt"]
    with pytest.raises(ValueError, match="is a symlink"):
        read_member(index, reader, "d/symlink")
    with pytest.raises(KeyError, match="no member"):
        read_member(index, reader, "d/missing")


def test_read_member_from_the_opening_tail_read_takes_no_read(tmp_path: Path) -> None:
    contents = make_tree(tmp_path)
    archive, index = write_indexed(pax_tar(tmp_path))
    assert len(archive) < 65_536  # the opening read holds the whole archive
    source = CountingSource(archive)
    reader = SeekableReader(source.read_at, len(archive))
    assert len(source.reads) == 1
    for path, data in contents.items():
        assert read_member(index, reader, path) == data
    assert len(source.reads) == 1


@pytest.mark.asyncio
async def test_read_member_async(tmp_path: Path) -> None:
    contents = make_tree(tmp_path)
    archive, index = write_indexed(pax_tar(tmp_path))
    reader = await AsyncSeekableReader.open(CountingSource(archive).aread_at, len(archive))
    assert (
        await read_member_async(index, reader, "d/multi-frame.bin") == contents["d/multi-frame.bin"]
    )


def test_index_of_another_archive_is_a_mismatch(tmp_path: Path) -> None:
    make_tree(tmp_path)
    tar_bytes = pax_tar(tmp_path)
    archive, index = write_indexed(tar_bytes)
    other, _ = write_indexed(tar_bytes, frame_size=FRAME * 2)
    reader = SeekableReader(_memory(other), len(other))
    with pytest.raises(IndexMismatchError, match="frames"):
        read_member(index, reader, "d/small.txt")

    # An index whose seek table digest differs, though every total matches.
    tampered = ArchiveIndex(
        index.members,
        frame_count=index.frame_count,
        size=index.size,
        compressed_size=index.compressed_size,
        seek_table_sha256="sha256:" + "0" * 64,
    )
    with pytest.raises(IndexMismatchError, match="different seek table"):
        read_member(tampered, SeekableReader(_memory(archive), len(archive)), "d/small.txt")


def _altered(index: ArchiveIndex, **changed: Member) -> ArchiveIndex:
    """``index`` with the members named in ``changed`` replaced, the archive's identity kept."""
    return ArchiveIndex(
        [changed.get(m.path, m) for m in index.members],
        frame_count=index.frame_count,
        size=index.size,
        compressed_size=index.compressed_size,
        seek_table_sha256=index.seek_table_sha256,
    )


def test_member_with_a_wrong_sha256_is_damaged_data(tmp_path: Path) -> None:
    # The archive's identity and the member's frames check out: a different digest
    # means damaged bytes, a ChecksumMismatchError (CorruptDataError), not a mismatch.
    make_tree(tmp_path)
    archive, index = write_indexed(pax_tar(tmp_path))
    wrong = dataclasses.replace(index.lookup("d/small.txt"), sha256="sha256:" + "f" * 64)
    bad = _altered(index, **{"d/small.txt": wrong})
    reader = SeekableReader(_memory(archive), len(archive))
    with pytest.raises(ChecksumMismatchError, match=r"member 'd/small.txt'.*5891b5b5.*f{64}"):
        read_member(bad, reader, "d/small.txt")


@pytest.mark.asyncio
async def test_member_with_a_wrong_sha256_is_damaged_data_async(tmp_path: Path) -> None:
    make_tree(tmp_path)
    archive, index = write_indexed(pax_tar(tmp_path))
    wrong = dataclasses.replace(index.lookup("d/small.txt"), sha256="sha256:" + "f" * 64)
    reader = await AsyncSeekableReader.open(CountingSource(archive).aread_at, len(archive))
    with pytest.raises(ChecksumMismatchError, match=r"member 'd/small.txt'.*5891b5b5.*f{64}"):
        await read_member_async(_altered(index, **{"d/small.txt": wrong}), reader, "d/small.txt")


def test_member_in_other_frames_is_a_mismatch(tmp_path: Path) -> None:
    make_tree(tmp_path)
    archive, index = write_indexed(pax_tar(tmp_path))
    moved = dataclasses.replace(index.lookup("d/empty"), frames=range(5, 6))
    reader = SeekableReader(_memory(archive), len(archive))
    with pytest.raises(IndexMismatchError, match="frames"):
        read_member(_altered(index, **{"d/empty": moved}), reader, "d/empty")


def test_contains_takes_str_and_bytes_as_lookup_does(tmp_path: Path) -> None:
    make_tree(tmp_path)
    _, index = write_indexed(pax_tar(tmp_path))
    assert "d/empty" in index
    assert b"d/empty" in index
    assert b"d/" + NON_UTF8 in index  # a name that is not UTF-8, as bytes
    assert index.lookup(b"d/" + NON_UTF8).path in index
    assert b"d/missing" not in index
    assert 5 not in index


# -- bad tar streams -----------------------------------------------------------------------------


def test_tar_stream_without_its_end_leaves_no_seek_table(tmp_path: Path) -> None:
    make_tree(tmp_path)
    tar_bytes = pax_tar(tmp_path)
    out = io.BytesIO()
    indexer = TarIndexer(SeekableWriter(out, frame_size=FRAME))
    indexer.write(tar_bytes[:5000])
    with pytest.raises(CorruptDataError, match="tar stream ended"):
        indexer.close()
    assert SEEKABLE_MAGIC not in out.getvalue()


def test_bad_header_checksum_stops_the_archive() -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo("a")
        info.size = 600
        tar.addfile(info, io.BytesIO(bytes(600)))
        info.name = "b"
        tar.addfile(info, io.BytesIO(bytes(600)))
    damaged = bytearray(buffer.getvalue())
    damaged[1536] ^= 0x01  # the name of member "b", whose header starts at 512 + 1024
    out = io.BytesIO()
    indexer = TarIndexer(SeekableWriter(out))
    with pytest.raises(CorruptDataError, match="tar header at offset 1536 has a bad checksum"):
        indexer.write(bytes(damaged))
    assert SEEKABLE_MAGIC not in out.getvalue()


def test_indexer_needs_a_fresh_writer() -> None:
    writer = SeekableWriter(io.BytesIO())
    writer.write(b"x")
    with pytest.raises(ValueError, match="not been written"):
        TarIndexer(writer)
    writer.abort()


def _memory(blob: bytes) -> ReadAt:
    return CountingSource(blob).read_at


def test_ustar_prefix_field_joins_the_name() -> None:
    name = "p" * 80 + "/" + "q" * 90  # too long for the 100-byte name: split into prefix + name
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.size = 4
        tar.addfile(info, io.BytesIO(b"data"))
    tar_bytes = buffer.getvalue()
    assert tar_bytes[345:425] == b"p" * 80  # the prefix field, as POSIX ustar lays it out
    _, index = write_indexed(tar_bytes)
    check_against_tarfile(tar_bytes, index, FRAME)
    assert index.members[0].path == name
