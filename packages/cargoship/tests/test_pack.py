"""TarPacker against GNU tar: what it writes, stock tar lists and extracts into the same tree."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import shutil
import stat
import subprocess
import tarfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import zstandard

from blobcodec.index import ArchiveIndex, TarIndexer
from blobcodec.seekable import SeekableWriter
from cargoship.errors import SourceChangedError, UnreadableFilesError
from cargoship.inventory import EntryType, InventoryEntry
from cargoship.pack import READ_SIZE, TarPacker
from cargoship.scan import SourceEntry, scan

TAR = shutil.which("tar")
pytestmark = pytest.mark.skipif(TAR is None, reason="GNU tar is not installed")

WHEN = datetime(2026, 11, 21, 10, 15, tzinfo=UTC)
LONG_DIR = "d" * 120
LONG_NAME = "n" * 200
NON_UTF8 = os.fsdecode(b"caf\xe9-\xff.txt")
SPARSE_SIZE = 4 << 20
AS_ROOT = os.geteuid() == 0
"""GNU tar restores owners only for root: only then are they compared."""


def _file(
    path: Path, data: bytes, *, mode: int = 0o644, mtime_ns: int = 1_700_000_000_500_000_000
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(mode)
    os.utime(path, ns=(mtime_ns, mtime_ns))


def _build_tree(root: Path) -> None:
    """Every kind of entry: modes, sub-second and pre-1970 mtimes, links, copies, odd names."""
    _file(root / "docs/readme.txt", b"hello\n", mtime_ns=1_700_000_000_123_456_789)
    _file(root / "docs/run.sh", b"#!/bin/sh\necho hi\n", mode=0o755)
    _file(root / "docs/old.txt", b"from 1969", mtime_ns=-1_500_000_000)
    _file(root / "empty", b"")
    _file(root / "empty-too", b"")
    _file(root / "data/a.bin", bytes(range(256)) * 40)
    _file(root / "data/copy-of-a.bin", bytes(range(256)) * 40)  # same bytes and metadata
    _file(root / "data/z-copy.bin", bytes(range(256)) * 40)
    _file(root / "data/a-but-executable.bin", bytes(range(256)) * 40, mode=0o755)
    _file(root / "data/same-size.bin", bytes(reversed(range(256))) * 40)
    os.link(root / "docs/readme.txt", root / "hardlinked-readme")
    (root / "links").mkdir()
    (root / "links/to-readme").symlink_to("../docs/readme.txt")
    (root / "links/dangling").symlink_to("/nowhere/at/all")
    _file(root / LONG_DIR / LONG_NAME, b"long path")  # a path over 255 bytes
    _file(root / NON_UTF8, b"latin-1 name")
    with open(root / "sparse.img", "wb") as sparse:
        sparse.truncate(SPARSE_SIZE)
        sparse.seek(SPARSE_SIZE // 2)
        sparse.write(b"island of data")
    if AS_ROOT:  # ids past the 7 octal digits of ustar go in pax records
        os.chown(root / "docs/run.sh", 3_000_000, 3_000_001)
    os.utime(root / "links", ns=(0, 1_600_000_000_000_000_001))


def _pack(root: Path, tar_path: Path) -> tuple[list[InventoryEntry], TarPacker]:
    entries = list(scan(root, on_unreadable=lambda path, error: pytest.fail(f"{path}: {error}")))
    with open(tar_path, "wb") as sink:
        packer = TarPacker(sink, compression="none", archived_at=WHEN)
        packer.plan(entries)
        added = [packer.add(entry) for entry in entries]
        packer.close()
    return added, packer


def _walk(root: Path) -> Iterator[tuple[object, ...]]:
    """(name, kind, mode, mtime_ns, owner, content or link target) of everything under root."""
    top = os.fsencode(root)
    for directory, dirs, files in os.walk(top):
        dirs.sort()
        for name in sorted(dirs + files):
            path = os.path.join(directory, name)
            info = os.lstat(path)
            relative = os.path.relpath(path, top)
            owner = (info.st_uid, info.st_gid) if AS_ROOT else None
            if stat.S_ISLNK(info.st_mode):
                yield relative, "symlink", 0, info.st_mtime_ns, owner, os.readlink(path)
                continue
            kind = "dir" if stat.S_ISDIR(info.st_mode) else "file"
            content = Path(os.fsdecode(path)).read_bytes() if kind == "file" else None
            yield relative, kind, stat.S_IMODE(info.st_mode), info.st_mtime_ns, owner, content


def _run_tar(*args: str | Path) -> str:
    assert TAR is not None
    result = subprocess.run([TAR, *map(str, args)], capture_output=True, check=True, timeout=60)
    errors = [
        line
        for line in result.stderr.decode().splitlines()
        # GNU tar 1.34 ignores hdrcharset (it keeps the bytes as they are) and finds 1969 odd.
        if "unknown extended header keyword 'hdrcharset'" not in line
        and "implausibly old time stamp" not in line
    ]
    assert errors == []
    return result.stdout.decode("utf-8", "surrogateescape")


def test_gnu_tar_extracts_an_identical_tree(tmp_path: Path) -> None:
    source, restored = tmp_path / "source", tmp_path / "restored"
    source.mkdir()
    restored.mkdir()
    _build_tree(source)
    _pack(source, tmp_path / "out.tar")
    _run_tar("-xf", tmp_path / "out.tar", "-C", restored)
    assert list(_walk(restored)) == list(_walk(source))
    listed = _run_tar("--quoting-style=literal", "-tf", tmp_path / "out.tar").splitlines()
    assert f"{LONG_DIR}/{LONG_NAME}" in listed
    assert NON_UTF8 in listed
    assert os.path.exists(os.fsencode(restored) + b"/caf\xe9-\xff.txt")


def test_identical_files_are_stored_once_and_restored_as_hard_links(tmp_path: Path) -> None:
    source, restored = tmp_path / "source", tmp_path / "restored"
    source.mkdir()
    restored.mkdir()
    _build_tree(source)
    added, packer = _pack(source, tmp_path / "out.tar")
    _run_tar("-xf", tmp_path / "out.tar", "-C", restored)

    def inode(name: str) -> int:
        return os.lstat(restored / name).st_ino

    assert inode("data/copy-of-a.bin") == inode("data/a.bin") == inode("data/z-copy.bin")
    assert inode("hardlinked-readme") == inode("docs/readme.txt")
    assert inode("data/a-but-executable.bin") != inode("data/a.bin")  # a link would lose +x
    assert inode("data/same-size.bin") != inode("data/a.bin")
    assert inode("empty") != inode("empty-too")
    by_path = {entry.path: entry for entry in added}
    copy = by_path["data/copy-of-a.bin"]
    assert copy.type is EntryType.HARDLINK
    assert copy.link == "data/a.bin"
    assert copy.size == 10240
    assert copy.checksum == "sha256:" + hashlib.sha256(bytes(range(256)) * 40).hexdigest()
    assert by_path["hardlinked-readme"].link == "docs/readme.txt"
    assert packer.dedup_bytes == 2 * 10240 + len(b"hello\n")
    listing = _run_tar("-tvf", tmp_path / "out.tar")
    assert "data/z-copy.bin link to data/a.bin" in listing


def test_inventory_entries_describe_each_member(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    _build_tree(source)
    added, packer = _pack(source, tmp_path / "out.tar")
    by_path = {entry.path: entry for entry in added}
    readme = by_path["docs/readme.txt"]
    assert readme.type is EntryType.FILE
    assert readme.checksum == "sha256:" + hashlib.sha256(b"hello\n").hexdigest()
    assert (readme.size, readme.mode, readme.mtime_ns) == (6, 0o644, 1_700_000_000_123_456_789)
    assert (readme.compression, readme.archived_at, readme.archive) == ("none", WHEN, None)
    sparse = by_path["sparse.img"]
    expected = bytearray(SPARSE_SIZE)
    expected[SPARSE_SIZE // 2 : SPARSE_SIZE // 2 + 14] = b"island of data"
    assert sparse.checksum == "sha256:" + hashlib.sha256(expected).hexdigest()
    link = by_path["links/dangling"]
    assert (link.type, link.link, link.size, link.checksum) == (
        EntryType.SYMLINK,
        "/nowhere/at/all",
        0,
        None,
    )
    assert by_path["links"].type is EntryType.DIRECTORY
    assert packer.tar_size == (tmp_path / "out.tar").stat().st_size
    assert packer.bytes_in == sum(e.size for e in added if e.type is not EntryType.DIRECTORY)


def test_the_same_tree_packs_to_the_same_bytes(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    _build_tree(source)
    _pack(source, tmp_path / "one.tar")
    os.utime(source / "docs/readme.txt")  # atime and ctime change; mtime is put back below
    os.utime(source / "docs/readme.txt", ns=(1, 1_700_000_000_123_456_789))
    _pack(source, tmp_path / "two.tar")
    assert (tmp_path / "one.tar").read_bytes() == (tmp_path / "two.tar").read_bytes()


def test_a_plain_tar_is_indexed_as_blobcodecs_tar_parser_and_tarfile_read_it(
    tmp_path: Path,
) -> None:
    source = tmp_path / "source"
    source.mkdir()
    _build_tree(source)
    _, packer = _pack(source, tmp_path / "out.tar")
    pieces = packer.index_pieces()
    assert pieces is not None
    index = ArchiveIndex.load(b"".join(pieces))
    tar_bytes = (tmp_path / "out.tar").read_bytes()
    assert (index.size, index.compressed_size, index.frame_count) == (
        len(tar_bytes),
        len(tar_bytes),
        0,
    )
    assert index.seek_table_sha256 == "sha256:" + hashlib.sha256(b"").hexdigest()

    # blobcodec's own parser of the same bytes: every field alike but the frames (there are none).
    indexer = TarIndexer(SeekableWriter(io.BytesIO(), threads=1))
    indexer.write(tar_bytes)
    parsed = [dataclasses.replace(m, frames=range(0)) for m in indexer.close().members]
    assert list(index.members) == parsed
    # Python's tarfile: same members in order, data at the same archive offsets.
    with tarfile.open(tmp_path / "out.tar", encoding="utf-8", errors="surrogateescape") as tar:
        found = [(info.name, info.offset_data, info.size if info.isreg() else 0) for info in tar]
    assert [(m.path, m.offset, m.size) for m in index.members] == found
    readme = index.lookup("docs/readme.txt")
    assert tar_bytes[readme.offset : readme.offset + readme.size] == b"hello\n"
    assert readme.sha256 == "sha256:" + hashlib.sha256(b"hello\n").hexdigest()


def test_a_compressed_archive_is_not_indexed_by_the_packer(tmp_path: Path) -> None:
    _file(tmp_path / "src/a", b"aaaa")
    packer = TarPacker(io.BytesIO(), compression="zstd", archived_at=WHEN)
    for entry in _entries(tmp_path / "src"):
        packer.add(entry)
    packer.close()
    assert packer.index_pieces() is None


def _entries(root: Path) -> list[SourceEntry]:
    return list(scan(root, on_unreadable=lambda path, error: pytest.fail(f"{path}: {error}")))


def test_a_file_changed_since_the_scan_is_refused_before_its_header(tmp_path: Path) -> None:
    _file(tmp_path / "src/a", b"aaaa")
    _file(tmp_path / "src/b", b"bbbb")
    entries = _entries(tmp_path / "src")
    (tmp_path / "src/a").write_bytes(b"grown since the scan")
    with open(tmp_path / "out.tar", "wb") as sink:
        packer = TarPacker(sink, compression="zstd", archived_at=WHEN)
        with pytest.raises(UnreadableFilesError, match="'a': changed since it was scanned"):
            packer.add(entries[0])
        assert packer.tar_size == 0
        packer.add(entries[1])  # the stream is intact: the caller may skip and go on
        packer.close()
    assert _run_tar("-tf", tmp_path / "out.tar").splitlines() == ["b"]


class _TruncatingSink:
    """A sink that shrinks a source file as soon as that file's header has been written."""

    def __init__(self, target: Path, out: Path) -> None:
        self.target = target
        self.file = open(out, "wb")  # noqa: SIM115 - closed by the test

    def write(self, data: bytes) -> int:
        written = self.file.write(data)
        if len(data) % 512 == 0 and data[-512 + 156 : -512 + 157] == b"0":  # a file's header
            os.truncate(self.target, 3)
        return written


def test_a_large_file_that_shrinks_while_read_spoils_the_archive(tmp_path: Path) -> None:
    size = READ_SIZE + 5000  # streamed after its header, not read whole first
    _file(tmp_path / "src/a", b"x" * size)
    _file(tmp_path / "src/b", b"bbbb")
    entries = _entries(tmp_path / "src")
    sink = _TruncatingSink(tmp_path / "src/a", tmp_path / "out.tar")
    try:
        packer = TarPacker(sink, compression="zstd", archived_at=WHEN)
        with pytest.raises(
            SourceChangedError, match=f"'a': it ended {size - 3} bytes early"
        ) as caught:
            packer.add(entries[0])
        # pax header (sub-second mtime) and its record block, ustar header, data padded
        assert packer.tar_size == 3 * 512 + READ_SIZE + 5120
        with pytest.raises(SourceChangedError) as again:
            packer.add(entries[1])
        assert again.value is caught.value
        with pytest.raises(SourceChangedError):
            packer.close()
    finally:
        sink.file.close()


class _ShrinkingOpen:
    """``os.open`` that truncates ``target`` to 3 bytes just before opening it."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.real_open = os.open

    def __call__(self, path: str | bytes, flags: int, mode: int = 0o777) -> int:
        if os.fsdecode(path) == str(self.target):
            os.truncate(self.target, 3)
        return self.real_open(path, flags, mode)


def test_a_small_file_changed_when_read_is_refused_and_the_stream_stays_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file read whole is checked before its header is written: a change is skippable."""
    _file(tmp_path / "src/a", b"x" * 5000)
    _file(tmp_path / "src/b", b"bbbb")
    entries = _entries(tmp_path / "src")
    with open(tmp_path / "out.tar", "wb") as sink:
        packer = TarPacker(sink, compression="none", archived_at=WHEN)
        monkeypatch.setattr(os, "open", _ShrinkingOpen(tmp_path / "src/a"))
        with pytest.raises(UnreadableFilesError, match="'a': changed since it was scanned") as err:
            packer.add(entries[0])
        monkeypatch.undo()
        assert not isinstance(err.value, SourceChangedError)
        assert packer.tar_size == 0
        packer.add(entries[1])
        packer.close()
    assert _run_tar("-tf", tmp_path / "out.tar").splitlines() == ["b"]


def test_the_packer_indexes_a_seekable_archive_as_blobcodec_parses_it(tmp_path: Path) -> None:
    """The index the packer records while writing equals the one blobcodec's TarIndexer
    builds by parsing the same tar stream: members, frames, sizes and seek table."""
    source = tmp_path / "source"
    source.mkdir()
    _build_tree(source)
    entries = _entries(source)
    archive = io.BytesIO()
    writer = SeekableWriter(archive, frame_size=4096, threads=1)
    packer = TarPacker(writer, compression="zstd", archived_at=WHEN, frame_size=writer.frame_size)
    packer.plan(entries)
    for entry in entries:
        packer.add(entry)
    packer.close()
    writer.close()
    pieces = packer.index_pieces(writer)
    assert pieces is not None
    index = ArchiveIndex.load(b"".join(pieces))

    tar_bytes = zstandard.ZstdDecompressor().stream_reader(
        io.BytesIO(archive.getvalue()), read_across_frames=True
    )
    indexer = TarIndexer(SeekableWriter(io.BytesIO(), frame_size=4096, threads=1))
    indexer.write(tar_bytes.read())
    parsed = indexer.close()
    assert index.frame_count > 10  # members spread over many frames
    assert list(index.members) == list(parsed.members)
    assert (index.frame_count, index.size, index.compressed_size, index.seek_table_sha256) == (
        parsed.frame_count,
        parsed.size,
        parsed.compressed_size,
        parsed.seek_table_sha256,
    )
    assert index.compressed_size == len(archive.getvalue())


def _counting_open(source: Path, opened: dict[str, int]) -> Callable[..., int]:
    """``os.open`` that counts, in ``opened``, each open of a path by its name under ``source``."""
    real_open = os.open

    def counting_open(path: str | bytes, flags: int, mode: int = 0o777) -> int:
        name = os.path.relpath(os.fsdecode(path), source)
        opened[name] = opened.get(name, 0) + 1
        return real_open(path, flags, mode)

    return counting_open


def test_each_small_file_is_read_once_copy_or_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file of up to READ_SIZE bytes is read once: stored, linked as a copy, or hashed as a
    possible copy (same size and metadata as an earlier file) and then stored after all."""
    source = tmp_path / "source"
    for name, data in (("a/x", b"same!"), ("b/x", b"same!"), ("c", b"1234"), ("d", b"5678")):
        _file(source / name, data, mtime_ns=1_700_000_000_000_000_000)
    entries = _entries(source)
    opened: dict[str, int] = {}
    counting_open = _counting_open(source, opened)
    packer = TarPacker(io.BytesIO(), compression="none", archived_at=WHEN)
    monkeypatch.setattr(os, "open", counting_open)
    packer.plan(entries)
    added = {entry.path: entry.type for entry in (packer.add(entry) for entry in entries)}
    monkeypatch.undo()
    assert added["b/x"] is EntryType.HARDLINK
    assert added["d"] is EntryType.FILE
    assert opened == {"a/x": 1, "b/x": 1, "c": 1, "d": 1}


def test_a_large_copy_is_hashed_then_linked_and_a_large_non_copy_read_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files over READ_SIZE are streamed after their header: a possible copy is hashed first
    (one read when it is a copy, two when it is not), and GNU tar restores the link."""
    source = tmp_path / "source"
    big = bytes(range(256)) * ((READ_SIZE + 4096) // 256)
    other = bytes(reversed(big))
    for name, data in (("big1", big), ("big2", big), ("big3", other)):
        _file(source / name, data, mtime_ns=1_700_000_000_000_000_000)
    entries = _entries(source)
    opened: dict[str, int] = {}
    counting_open = _counting_open(source, opened)
    with open(tmp_path / "out.tar", "wb") as sink:
        packer = TarPacker(sink, compression="none", archived_at=WHEN)
        monkeypatch.setattr(os, "open", counting_open)
        packer.plan(entries)
        added = {entry.path: entry for entry in (packer.add(entry) for entry in entries)}
        monkeypatch.undo()
        packer.close()
    assert opened == {"big1": 1, "big2": 1, "big3": 2}
    assert (added["big2"].type, added["big2"].link) == (EntryType.HARDLINK, "big1")
    assert added["big3"].checksum == "sha256:" + hashlib.sha256(other).hexdigest()
    assert packer.dedup_bytes == len(big)
    out = tmp_path / "out"
    out.mkdir()
    _run_tar("-xf", tmp_path / "out.tar", "-C", out)
    assert (out / "big2").read_bytes() == big
    assert (out / "big3").read_bytes() == other
    assert (out / "big1").stat().st_ino == (out / "big2").stat().st_ino
