"""cargoship.restore against moto's S3 server over real HTTP.

Archives come from ``ship`` (the round trip) or are crafted here with
blobcodec and tarfile directly (the --include fraction, hostile members), so
the tests also show restore reads any archive laid out as documented.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import io
import os
import stat
import tarfile
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from blobcodec.index import TarIndexer
from blobcodec.seekable import SeekableWriter
from cargoship.errors import (
    DestinationExistsError,
    HostileMemberError,
    IntegrityError,
    RetrievalRequiredError,
)
from cargoship.inventory import ArchiveRecord, EntryType, Inventory, InventoryEntry, Totals
from cargoship.restore import RestoreOptions, restore
from cargoship.ship import ShipOptions, ShipReport, ship
from s3opt import ObjectStore

NAME = "20250727T100000Z"
WHEN = datetime(2025, 7, 27, 10, tzinfo=UTC)
MTIME = 1_600_000_000


def _tree(root: Path) -> dict[str, tuple[str, int, int, str | bytes, int]]:
    """Every entry under ``root``: (kind, mode, mtime_ns, content or link target, inode)."""
    found: dict[str, tuple[str, int, int, str | bytes, int]] = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        name = path.relative_to(root).as_posix()
        if stat.S_ISLNK(info.st_mode):
            found[name] = ("symlink", 0, info.st_mtime_ns, os.readlink(path), 0)
        elif stat.S_ISDIR(info.st_mode):
            found[name] = ("dir", stat.S_IMODE(info.st_mode), info.st_mtime_ns, b"", 0)
        else:
            content = path.read_bytes()
            found[name] = ("file", stat.S_IMODE(info.st_mode), info.st_mtime_ns, content, 0)
    return found


async def _archive_and_index_bytes(store: ObjectStore, shipped: ShipReport) -> int:
    """What a whole restore of ``shipped`` fetches: its archive and its index, once each."""
    archive = await store.head(shipped.keys.archive)
    index = await store.head(shipped.keys.index)
    return archive.size + index.size


@pytest.mark.asyncio
async def test_ship_then_restore_gives_an_identical_tree(
    store: ObjectStore, sample_tree: Path, tmp_path: Path
) -> None:
    shipped = await ship(store, sample_tree, ShipOptions())
    dest = tmp_path / "restored"
    report = await restore(store, shipped.keys.name, dest, RestoreOptions())

    assert _tree(dest) == _tree(sample_tree)
    # The duplicate was stored once and comes back as a hard link to the first copy.
    copy_a, copy_b = dest / "data" / "copy-a.bin", dest / "other" / "copy-b.bin"
    assert copy_a.stat().st_ino == copy_b.stat().st_ino
    assert copy_a.stat().st_nlink == 2
    regular = [p for p in sample_tree.rglob("*") if p.is_file() and not p.is_symlink()]
    assert report.files == 8  # 6 regular files (one a hard link) and 2 symlinks
    assert report.verified == 5  # the hard link shares the verified copy
    assert report.bytes_written == sum(p.stat().st_size for p in regular) - (64 << 10)
    assert report.bytes_fetched == await _archive_and_index_bytes(store, shipped)


def _file(name: str, data: bytes, mode: int = 0o644) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, MTIME
    return info, data


def _special(name: str, kind: bytes, link: str = "") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode, info.mtime = kind, link, 0o755, MTIME
    if kind == tarfile.CHRTYPE:
        info.devmajor, info.devminor = 1, 3
    return info, b""


def _entry(info: tarfile.TarInfo, data: bytes, codec: str) -> InventoryEntry:
    kinds = {tarfile.REGTYPE: EntryType.FILE, tarfile.DIRTYPE: EntryType.DIRECTORY}
    kinds |= {tarfile.SYMTYPE: EntryType.SYMLINK, tarfile.LNKTYPE: EntryType.HARDLINK}
    kind = kinds[info.type]
    return InventoryEntry(
        path=info.name,
        type=kind,
        size=len(data),
        checksum="sha256:" + hashlib.sha256(data).hexdigest() if kind is EntryType.FILE else None,
        compression=codec,
        archived_at=WHEN,
        mode=info.mode,
        mtime_ns=MTIME * 10**9,
        link=info.linkname or None,
    )


async def _put_crafted(
    store: ObjectStore,
    members: Sequence[tuple[tarfile.TarInfo, bytes]],
    listed: Sequence[tuple[tarfile.TarInfo, bytes]],
    *,
    codec: str = "zstd",
    frame_size: int = 1 << 20,
    tar_format: int = tarfile.PAX_FORMAT,
    damage: int | None = None,
) -> int:
    """Store a tar of ``members`` as archive NAME, its inventory listing ``listed``; its size.
    ``damage``: a byte of the tar to flip."""
    tar_stream = io.BytesIO()
    with tarfile.open(fileobj=tar_stream, mode="w|", format=tar_format) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data else None)
    if damage is not None:
        tar_stream.getbuffer()[damage] ^= 0x01
    index_key = None
    if codec == "zstd":
        archive = io.BytesIO()
        indexer = TarIndexer(SeekableWriter(archive, frame_size=frame_size, threads=1))
        indexer.write(tar_stream.getvalue())
        index_key = f"{NAME}.index"
        await store.put(index_key, indexer.close().dumps())
        body, suffix = archive.getvalue(), ".tar.zst"
    else:
        body, suffix = gzip.compress(tar_stream.getvalue(), mtime=0), ".tar.gz"
    stored = await store.put(NAME + suffix, body)
    record = ArchiveRecord(
        name=NAME,
        key=NAME + suffix,
        index_key=index_key,
        compression=codec,
        level=None,
        storage_class="STANDARD",
        created_at=WHEN,
        source="/crafted",
        size=len(body),
        tar_size=len(tar_stream.getvalue()),
        etag=stored.etag,
        checksum=stored.checksum,
        parts=(),
        base=None,
    )
    entries = tuple(_entry(info, data, codec) for info, data in listed)
    totals = Totals(len(entries), sum(e.size for e in entries), len(body), 0, ())
    await store.put(f"{NAME}.inventory.yaml", Inventory(record, totals, entries).dumps_yaml())
    return len(body)


@pytest.mark.asyncio
async def test_include_fetches_only_the_frames_of_one_file(
    store: ObjectStore, tmp_path: Path
) -> None:
    files = [_file(f"data/{n:02d}.bin", os.urandom(256 << 10)) for n in range(64)]
    size = await _put_crafted(store, files, files, frame_size=512 << 10)
    dest = tmp_path / "restored"

    report = await restore(store, NAME, dest, RestoreOptions(include=("data/37.bin",)))

    assert [p.relative_to(dest).as_posix() for p in dest.rglob("*")] == ["data", "data/37.bin"]
    assert (dest / "data" / "37.bin").read_bytes() == files[37][1]
    assert (dest / "data" / "37.bin").stat().st_mtime_ns == MTIME * 10**9
    assert report.verified == 1
    assert report.bytes_fetched < size // 10, (report.bytes_fetched, size)


@pytest.mark.asyncio
async def test_include_on_an_uncompressed_archive_reads_only_that_member(
    store: ObjectStore, tmp_path: Path
) -> None:
    source = tmp_path / "source"
    (source / "data").mkdir(parents=True)
    contents = [os.urandom(64 << 10) for _ in range(64)]
    for number, data in enumerate(contents):
        (source / "data" / f"{number:02d}.bin").write_bytes(data)
    shipped = await ship(store, source, ShipOptions(compression="none"))
    archive_size = (await store.head(shipped.keys.archive)).size
    index_size = (await store.head(shipped.keys.index)).size
    dest = tmp_path / "restored"

    report = await restore(store, shipped.keys.name, dest, RestoreOptions(include=("data/37.bin",)))

    assert [p.relative_to(dest).as_posix() for p in dest.rglob("*")] == ["data", "data/37.bin"]
    assert (dest / "data" / "37.bin").read_bytes() == contents[37]
    assert report.verified == 1
    # The index, then one ranged GET of exactly the member's 64 KiB: not the 4 MiB archive.
    assert report.bytes_fetched == index_size + (64 << 10), (report.bytes_fetched, archive_size)
    assert report.bytes_fetched < archive_size // 20


async def _ship_beside_files_of_mine(
    store: ObjectStore, sample_tree: Path, tmp_path: Path
) -> tuple[ShipReport, Path]:
    """Ship ``sample_tree``, and a destination that already holds two of its paths with
    other bytes: ``README.txt`` (``mine``) and ``data/big.txt`` (``mine too``)."""
    shipped = await ship(store, sample_tree, ShipOptions())
    dest = tmp_path / "restored"
    (dest / "data").mkdir(parents=True)
    (dest / "README.txt").write_bytes(b"mine")
    (dest / "data" / "big.txt").write_bytes(b"mine too")
    return shipped, dest


@pytest.mark.asyncio
async def test_existing_files_are_kept_unless_overwrite(
    store: ObjectStore, sample_tree: Path, tmp_path: Path
) -> None:
    shipped, dest = await _ship_beside_files_of_mine(store, sample_tree, tmp_path)

    with pytest.raises(DestinationExistsError) as caught:
        await restore(store, shipped.keys.name, dest, RestoreOptions())
    assert set(caught.value.paths) == {"README.txt", "data/big.txt"}
    assert "README.txt" in str(caught.value)
    assert sorted(p.name for p in dest.rglob("*")) == ["README.txt", "big.txt", "data"]
    assert (dest / "README.txt").read_bytes() == b"mine"

    await restore(store, shipped.keys.name, dest, RestoreOptions(overwrite=True))
    assert _tree(dest) == _tree(sample_tree)


def _hostile_cases(outside: Path) -> dict[str, tuple[list[tuple[tarfile.TarInfo, bytes]], str]]:
    """Crafted member lists, each with the member the refusal must name."""
    absolute = str(outside / "absolute.txt")
    return {
        "absolute": ([_file(absolute, b"x")], absolute),
        "dotdot": ([_file("../escape.txt", b"x")], "../escape.txt"),
        "symlink-then-write": (
            [
                _special("evil", tarfile.SYMTYPE, str(outside)),
                _file("evil/through.txt", b"x"),
            ],
            "evil",
        ),
        "hardlink-to-passwd": ([_special("pw", tarfile.LNKTYPE, "/etc/passwd")], "pw"),
        "char-device": ([_special("null", tarfile.CHRTYPE)], "null"),
    }


@pytest.mark.parametrize("codec", ["zstd", "gzip"])
@pytest.mark.parametrize(
    "case", ["absolute", "dotdot", "symlink-then-write", "hardlink-to-passwd", "char-device"]
)
@pytest.mark.asyncio
async def test_hostile_members_are_refused_and_nothing_escapes(
    store: ObjectStore, tmp_path: Path, case: str, codec: str
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    members, named = _hostile_cases(outside)[case]
    benign = [_file("ok.txt", b"fine")]
    # The inventory lists only the benign member: the tar disagrees with it (a crafted tar).
    # zstd archives are refused from their index before anything is written; gzip ones have
    # none, so the tar stream itself is checked as it passes.
    await _put_crafted(store, [*benign, *members], benign, codec=codec)
    (tmp_path / "work").mkdir()
    dest = tmp_path / "work" / "dest"

    with pytest.raises(HostileMemberError) as caught:
        await restore(store, NAME, dest, RestoreOptions())

    assert named in caught.value.members
    assert repr(named) in str(caught.value)
    assert list(outside.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outside", "work"]
    assert [p.name for p in (tmp_path / "work").iterdir()] in ([], ["dest"])
    if codec == "zstd":
        assert not dest.exists()
    else:  # written before the hostile member came by: only inside DEST, only checked files
        assert {p.name for p in dest.iterdir()} <= {"ok.txt"}


@pytest.mark.asyncio
async def test_symlink_out_and_a_write_through_it_listed_in_the_inventory(
    store: ObjectStore, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    members = [_special("evil", tarfile.SYMTYPE, "../../outside"), _file("evil/x.txt", b"x")]
    await _put_crafted(store, members, members)
    dest = tmp_path / "work" / "dest"

    with pytest.raises(HostileMemberError) as caught:
        await restore(store, NAME, dest, RestoreOptions())

    assert set(caught.value.members) == {"evil", "evil/x.txt"}
    assert "resolves outside" in str(caught.value)
    assert list(outside.iterdir()) == []
    assert not dest.exists()


@pytest.mark.asyncio
async def test_include_of_a_hard_link_fetches_its_stored_copy(
    store: ObjectStore, sample_tree: Path, tmp_path: Path
) -> None:
    shipped = await ship(store, sample_tree, ShipOptions())
    dest = tmp_path / "restored"

    report = await restore(store, shipped.keys.name, dest, RestoreOptions(include=("other",)))

    assert [p.relative_to(dest).as_posix() for p in sorted(dest.rglob("*"))] == [
        "other",
        "other/copy-b.bin",
    ]
    original = sample_tree / "other" / "copy-b.bin"
    assert (dest / "other" / "copy-b.bin").read_bytes() == original.read_bytes()
    assert (dest / "other").stat().st_mtime_ns == original.parent.stat().st_mtime_ns
    assert report.verified == 1


@pytest.mark.asyncio
async def test_an_archive_in_glacier_needs_a_retrieval_first(
    store: ObjectStore, sample_tree: Path, tmp_path: Path
) -> None:
    shipped = await ship(store, sample_tree, ShipOptions(storage_class="GLACIER"))

    with pytest.raises(RetrievalRequiredError, match="GLACIER") as caught:
        await restore(store, shipped.keys.name, tmp_path / "restored", RestoreOptions())

    assert caught.value.exit_code == 4
    assert not (tmp_path / "restored").exists()
    # With --include the archive's HEAD travels beside the index reads; still nothing is
    # written before it says the archive cannot be read.
    include = RestoreOptions(include=("other/*",))
    with pytest.raises(RetrievalRequiredError, match="GLACIER"):
        await restore(store, shipped.keys.name, tmp_path / "restored", include)
    assert not (tmp_path / "restored").exists()


@pytest.mark.parametrize(
    "case", ["absolute", "dotdot", "symlink-then-write", "hardlink-to-passwd", "char-device"]
)
@pytest.mark.asyncio
async def test_include_restores_a_file_beside_a_hostile_member_it_does_not_write(
    store: ObjectStore, tmp_path: Path, case: str
) -> None:
    """With an index, --include checks only the members it writes: a hostile member elsewhere
    is never written, so it does not stop the chosen file (the whole restore refuses it:
    test_hostile_members_are_refused_and_nothing_escapes)."""
    outside = tmp_path / "outside"
    outside.mkdir()
    members, _ = _hostile_cases(outside)[case]
    benign = [_file("ok.txt", b"fine")]
    await _put_crafted(store, [*members, *benign], benign)
    dest = tmp_path / "dest"

    report = await restore(store, NAME, dest, RestoreOptions(include=("ok.txt",)))

    assert [p.name for p in dest.iterdir()] == ["ok.txt"]
    assert (dest / "ok.txt").read_bytes() == b"fine"
    assert report.verified == 1
    assert list(outside.iterdir()) == []


@pytest.mark.asyncio
async def test_include_without_an_index_still_refuses_a_hostile_member_elsewhere(
    store: ObjectStore, tmp_path: Path
) -> None:
    """A gzip archive has no index: its tar stream passes whole and every member is checked
    as it goes by, so the hostile member is refused even though it is not chosen."""
    benign = [_file("ok.txt", b"fine")]
    await _put_crafted(store, [*benign, _file("../escape.txt", b"x")], benign, codec="gzip")

    with pytest.raises(HostileMemberError) as caught:
        await restore(store, NAME, tmp_path / "dest", RestoreOptions(include=("ok.txt",)))

    assert "../escape.txt" in caught.value.members
    assert not (tmp_path / "escape.txt").exists()


@pytest.mark.asyncio
async def test_include_refuses_a_chosen_file_under_an_inventory_symlink_it_does_not_choose(
    store: ObjectStore, tmp_path: Path
) -> None:
    """The inventory stores ``evil`` as a symlink out of DEST: a chosen ``evil/x.txt`` would be
    written through it. --include reads only the entries it needs, and the directories on
    the chosen paths are among them."""
    outside = tmp_path / "outside"
    outside.mkdir()
    members = [
        _special("evil", tarfile.SYMTYPE, "../../outside"),
        _file("evil/x.txt", b"x"),
        _file("ok.txt", b"fine"),
    ]
    await _put_crafted(store, members, members)
    dest = tmp_path / "work" / "dest"

    with pytest.raises(HostileMemberError) as caught:
        await restore(store, NAME, dest, RestoreOptions(include=("evil/x.txt",)))
    assert set(caught.value.members) == {"evil/x.txt"}
    assert "through a symlink" in str(caught.value)
    assert list(outside.iterdir()) == []
    assert not dest.exists()

    await restore(store, NAME, dest, RestoreOptions(include=("ok.txt",)))
    assert [p.name for p in dest.iterdir()] == ["ok.txt"]


@pytest.mark.asyncio
async def test_include_checks_only_the_chosen_paths_for_existing_files(
    store: ObjectStore, sample_tree: Path, tmp_path: Path
) -> None:
    shipped, dest = await _ship_beside_files_of_mine(store, sample_tree, tmp_path)

    # Neither existing file is chosen: no conflict, and both are left as they were.
    await restore(store, shipped.keys.name, dest, RestoreOptions(include=("other",)))
    assert (dest / "other" / "copy-b.bin").read_bytes() == (
        sample_tree / "other" / "copy-b.bin"
    ).read_bytes()
    assert (dest / "README.txt").read_bytes() == b"mine"

    with pytest.raises(DestinationExistsError) as caught:
        await restore(store, shipped.keys.name, dest, RestoreOptions(include=("README.txt",)))
    assert list(caught.value.paths) == ["README.txt"]
    assert (dest / "README.txt").read_bytes() == b"mine"
    assert (dest / "data" / "big.txt").read_bytes() == b"mine too"


@pytest.mark.asyncio
async def test_include_past_the_paths_it_holds_reads_every_other_entry(
    store: ObjectStore, sample_tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past ``_HELD_PATHS`` paths needed, a restore reads the rest of the inventory and looks
    members up by query: the same result, the same refusals."""
    from cargoship import restore as restore_module  # the module, not the function

    monkeypatch.setattr(restore_module, "_HELD_PATHS", 0)
    shipped = await ship(store, sample_tree, ShipOptions())
    dest = tmp_path / "restored"

    report = await restore(store, shipped.keys.name, dest, RestoreOptions(include=("other/*",)))

    assert [p.relative_to(dest).as_posix() for p in sorted(dest.rglob("*"))] == [
        "other",
        "other/copy-b.bin",
    ]
    assert report.verified == 1
    outside = tmp_path / "outside"
    outside.mkdir()
    members = [_special("evil", tarfile.SYMTYPE, "../outside"), _file("evil/x.txt", b"x")]
    await _put_crafted(store, members, members)
    with pytest.raises(HostileMemberError, match="through a symlink"):
        await restore(store, NAME, tmp_path / "dest", RestoreOptions(include=("evil/x.txt",)))
    assert list(outside.iterdir()) == []


@pytest.mark.asyncio
async def test_a_gnu_tar_with_long_names_restores_through_tarfile(
    store: ObjectStore, tmp_path: Path
) -> None:
    # GNU headers ('L' long names, 'K' long link names) are not cargoship's: the tar stream
    # goes to tarfile from the first of them on, and restores as before.
    long_dir = "d" * 120
    members = [
        _file("short.txt", b"short"),
        _special(long_dir, tarfile.DIRTYPE),
        _file(f"{long_dir}/{'f' * 110}.txt", b"long name"),
        _special("link", tarfile.SYMTYPE, f"{long_dir}/{'f' * 110}.txt"),
        _file("after.txt", b"after the hand-over"),
    ]
    await _put_crafted(store, members, members, codec="gzip", tar_format=tarfile.GNU_FORMAT)
    dest = tmp_path / "restored"

    report = await restore(store, NAME, dest, RestoreOptions())

    assert report.verified == 3
    assert (dest / long_dir / ("f" * 110 + ".txt")).read_bytes() == b"long name"
    assert os.readlink(dest / "link") == f"{long_dir}/{'f' * 110}.txt"
    assert (dest / "after.txt").read_bytes() == b"after the hand-over"


@pytest.mark.asyncio
async def test_a_damaged_tar_header_is_an_integrity_error_naming_it(
    store: ObjectStore, tmp_path: Path
) -> None:
    members = [_file(f"f{n}.txt", b"%d" % n) for n in range(3)]
    # The second member's header starts at byte 1024 (header and one data block before it).
    await _put_crafted(store, members, members, codec="gzip", damage=1024 + 1)
    dest = tmp_path / "restored"

    with pytest.raises(IntegrityError) as caught:
        await restore(store, NAME, dest, RestoreOptions())

    assert "tar header at byte 1024: bad checksum" in str(caught.value)
    assert [p.name for p in dest.iterdir()] == ["f0.txt"]  # checked, written before it


@pytest.mark.asyncio
async def test_ships_own_tar_is_restored_without_tarfile(
    store: ObjectStore, sample_tree: Path, tmp_path: Path
) -> None:
    shipped = await ship(store, sample_tree, ShipOptions(compression="gzip"))  # streamed whole
    dest = tmp_path / "restored"

    with mock.patch.object(tarfile, "open", side_effect=AssertionError("tarfile used")):
        await restore(store, shipped.keys.name, dest, RestoreOptions())

    assert _tree(dest) == _tree(sample_tree)


def _seek_table(archive: bytes) -> list[tuple[int, int]]:
    """(compressed, decompressed) size of each frame, from the seek table at the archive's end
    (Zstandard Seekable Format 0.1.0: entries, then a 9-byte footer ending in 0x8F92EAB1)."""
    import struct

    count, descriptor, magic = struct.unpack("<IBI", archive[-9:])
    assert magic == 0x8F92EAB1
    width = 12 if descriptor & 0x80 else 8  # with a checksum per frame
    start = len(archive) - 9 - count * width
    return [struct.unpack_from("<II", archive, start + n * width) for n in range(count)]


@pytest.mark.asyncio
async def test_include_fetches_the_index_directory_the_member_s_page_and_its_frames(
    store: ObjectStore, tmp_path: Path
) -> None:
    """Byte for byte: the index's first 16 KiB (header and directory), the one page holding
    the member, the archive's 64 KiB tail (its seek table) and the frames holding the member.
    The 1,100 members fill three pages (512, 512, 76); the archive is about 50 frames."""
    import itertools
    import json
    import subprocess

    from blobcodec.index._pages import FIRST_READ_BYTES

    files = [_file(f"data/{n:04d}.bin", os.urandom(2 << 10)) for n in range(1100)]
    await _put_crafted(store, files, files, frame_size=64 << 10)
    archive = await store.get_range(NAME + ".tar.zst", 0, 1 << 30)
    index = await store.get_range(NAME + ".index", 0, 1 << 30)
    (length,) = (int.from_bytes(index[12:16], "little"),)
    directory = subprocess.run(
        ["zstd", "-d", "-c"], input=index[16 : 16 + length], capture_output=True, check=True
    ).stdout.splitlines()
    pages = [json.loads(line) for line in directory[1:]]
    assert [page["members"] for page in pages] == [512, 512, 76]
    chosen = 700  # in the second page
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for info, data in files:
            tar.addfile(info, io.BytesIO(data))
    with tarfile.open(fileobj=io.BytesIO(tar_bytes.getvalue())) as tar:
        data_offset = tar.getmember(f"data/{chosen:04d}.bin").offset_data
    frames = _seek_table(archive)
    ends = list(itertools.accumulate(size for _, size in frames))
    first = next(n for n, end in enumerate(ends) if end > data_offset)
    last = next(n for n, end in enumerate(ends) if end >= data_offset + (2 << 10))
    member_bytes = sum(compressed for compressed, _ in frames[first : last + 1])

    dest = tmp_path / "restored"
    report = await restore(store, NAME, dest, RestoreOptions(include=(f"data/{chosen:04d}.bin",)))

    assert (dest / "data" / f"{chosen:04d}.bin").read_bytes() == files[chosen][1]
    expected = FIRST_READ_BYTES + pages[1]["length"] + (64 << 10) + member_bytes
    assert report.bytes_fetched == expected, (report.bytes_fetched, expected)
    assert report.requests == 4
    assert FIRST_READ_BYTES + pages[1]["length"] < len(index)  # not the whole index


@pytest.mark.asyncio
async def test_odd_names_links_and_a_sparse_file_round_trip_without_tarfile(
    store: ObjectStore, tmp_path: Path
) -> None:
    # Names that need pax records (long, not ASCII, not UTF-8: hdrcharset=BINARY), a long
    # symlink target, a hard link and a sparse file (stored with its holes as zeros).
    source = tmp_path / "source"
    deep = source / ("d" * 80) / os.fsdecode(b"caf\xe9-latin1")
    deep.mkdir(parents=True)
    long_name = deep / ("\u00e9t\u00e9-" + "x" * 120 + ".txt")
    long_name.write_bytes(b"accents")
    (source / os.fsdecode(b"raw-\xff.bin")).write_bytes(b"not utf-8")
    os.symlink(os.path.relpath(long_name, source), source / "to-long")
    os.link(long_name, source / "hard")
    with open(source / "sparse.bin", "wb") as file:
        file.truncate(3 << 20)
        file.seek(2 << 20)
        file.write(b"after a hole")
    for path in sorted(source.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        os.utime(path, ns=(1_700_000_000_123_456_789,) * 2, follow_symlinks=False)
    shipped = await ship(store, source, ShipOptions())
    dest = tmp_path / "restored"

    with mock.patch.object(tarfile, "open", side_effect=AssertionError("tarfile used")):
        await restore(store, shipped.keys.name, dest, RestoreOptions())

    assert _tree(dest) == _tree(source)
    assert (dest / "hard").stat().st_ino == (dest / long_name.relative_to(source)).stat().st_ino
    assert (dest / "sparse.bin").read_bytes() == bytes(2 << 20) + b"after a hole" + bytes(
        (1 << 20) - 12
    )


@pytest.mark.asyncio
async def test_an_incremental_archive_restores_inherited_files_whole_and_by_include(
    store: ObjectStore, tmp_path: Path
) -> None:
    """Files an incremental ship left unchanged come from the older archive: a whole restore
    and an ``--include`` of one of them (its bytes read from the older archive through its
    index) give the source's bytes."""
    source = tmp_path / "source"
    (source / "keep").mkdir(parents=True)
    kept = {f"keep/{n:02d}.bin": os.urandom(3000 + n) for n in range(20)}
    for path, data in kept.items():
        (source / path).write_bytes(data)
    state = tmp_path / "state"
    await ship(store, source, ShipOptions(state_dir=state))
    (source / "changed.txt").write_bytes(b"only in the second archive\n")
    second = await ship(store, source, ShipOptions(incremental=True, state_dir=state))
    assert second.unchanged == len(kept)

    whole = tmp_path / "whole"
    await restore(store, second.keys.name, whole, RestoreOptions())
    assert {p.relative_to(whole).as_posix() for p in whole.rglob("*") if p.is_file()} == {
        *kept,
        "changed.txt",
    }
    for path, data in kept.items():
        assert (whole / path).read_bytes() == data, path

    one = tmp_path / "one"
    report = await restore(store, second.keys.name, one, RestoreOptions(include=("keep/07.bin",)))
    assert [p.relative_to(one).as_posix() for p in one.rglob("*")] == ["keep", "keep/07.bin"]
    assert (one / "keep" / "07.bin").read_bytes() == kept["keep/07.bin"]
    assert report.verified == 1
    assert report.bytes_written == len(kept["keep/07.bin"])


@pytest.mark.asyncio
async def test_a_tree_with_symlinks_out_of_it_restores_with_allow_outside_symlinks(
    store: ObjectStore, tmp_path: Path
) -> None:
    # A virtualenv links to the system's interpreter; a checkout may link to a sibling.
    source = tmp_path / "project"
    (source / "venv" / "bin").mkdir(parents=True)
    (source / "venv" / "bin" / "python").symlink_to("/usr/bin/python3")
    (source / "shared").symlink_to("../shared-data")
    (source / "main.py").write_text("print('hi')\n")
    shipped = await ship(store, source, ShipOptions())
    dest = tmp_path / "restored"

    with pytest.raises(HostileMemberError) as refused:
        await restore(store, shipped.keys.name, dest, RestoreOptions())
    assert set(refused.value.members) == {"venv/bin/python", "shared"}
    assert "--allow-outside-symlinks" in str(refused.value)
    assert not dest.exists()  # refused before anything was written

    await restore(store, shipped.keys.name, dest, RestoreOptions(outside_symlinks=True))
    assert _tree(dest) == _tree(source)
    assert os.readlink(dest / "venv" / "bin" / "python") == "/usr/bin/python3"
    assert os.readlink(dest / "shared") == "../shared-data"


@pytest.mark.asyncio
async def test_a_sparse_file_comes_back_sparse_with_sparse(
    store: ObjectStore, tmp_path: Path
) -> None:
    source = tmp_path / "source"
    source.mkdir()
    image = source / "disk.img"
    with image.open("wb") as file:  # 32 MiB with 8 KiB of data in two places: mostly holes
        file.write(os.urandom(4096))
        file.seek(16 << 20)
        file.write(os.urandom(4096))
        file.truncate(32 << 20)
    assert image.stat().st_blocks * 512 < 1 << 20  # the file system keeps holes
    shipped = await ship(store, source, ShipOptions())

    plain, sparse = tmp_path / "plain", tmp_path / "sparse"
    await restore(store, shipped.keys.name, plain, RestoreOptions())
    await restore(store, shipped.keys.name, sparse, RestoreOptions(sparse=True))
    for dest in (plain, sparse):
        assert (dest / "disk.img").read_bytes() == image.read_bytes()
        assert (dest / "disk.img").stat().st_mtime_ns == image.stat().st_mtime_ns
    assert (plain / "disk.img").stat().st_blocks * 512 >= 32 << 20  # holes written as zeros
    assert (sparse / "disk.img").stat().st_blocks * 512 < 1 << 20


@pytest.mark.asyncio
async def test_progress_is_told_the_total_then_every_byte_written(
    store: ObjectStore,
    sample_tree: Path,
    tmp_path: Path,
    progress_recorder: Callable[[], Any],
) -> None:
    shipped = await ship(store, sample_tree, ShipOptions())
    recorder = progress_recorder()
    await restore(store, shipped.keys.name, tmp_path / "out", RestoreOptions(), progress=recorder)
    # Five regular files are written; the sixth, a copy of one, becomes a hard link to it.
    regular = [p for p in sample_tree.rglob("*") if p.is_file() and not p.is_symlink()]
    expected = sum(p.stat().st_size for p in regular) - (64 << 10)
    assert recorder.started == [(5, expected)]
    assert recorder.advanced == expected


class _InventoryAfterIndexStore:
    """A store whose reads of an inventory wait (at most ``timeout`` seconds) until the index
    has been asked for: a restore that fetched the index only after reading the inventory
    waits the whole time."""

    def __init__(self, inner: ObjectStore, timeout: float) -> None:
        self._inner = inner
        self._timeout = timeout
        self.index_asked = asyncio.Event()
        self.waited_for_index: list[bool] = []
        self.index_ranges: list[tuple[int, int]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def _before(self, key: str) -> None:
        if key.endswith(".index"):
            self.index_asked.set()
        elif key.endswith(".inventory.yaml"):
            try:
                await asyncio.wait_for(self.index_asked.wait(), self._timeout)
                self.waited_for_index.append(True)
            except TimeoutError:
                self.waited_for_index.append(False)

    async def get_range(self, key: str, offset: int, size: int, **kwargs: Any) -> bytes:
        await self._before(key)
        if key.endswith(".index"):
            self.index_ranges.append((offset, size))
        return await self._inner.get_range(key, offset, size, **kwargs)

    async def get(self, key: str) -> AsyncIterator[bytes]:
        await self._before(key)
        async for chunk in self._inner.get(key):
            yield chunk


@pytest.mark.asyncio
async def test_a_whole_restore_fetches_the_index_while_it_reads_the_inventory(
    store: ObjectStore, sample_tree: Path, tmp_path: Path
) -> None:
    shipped = await ship(store, sample_tree, ShipOptions())
    slowed = _InventoryAfterIndexStore(store, timeout=5)
    dest = tmp_path / "restored"
    report = await restore(slowed, shipped.keys.name, dest, RestoreOptions())
    assert slowed.waited_for_index
    assert all(slowed.waited_for_index)
    assert _tree(dest) == _tree(sample_tree)
    assert report.bytes_fetched == await _archive_and_index_bytes(store, shipped)


@pytest.mark.asyncio
async def test_include_reads_the_index_s_directory_while_it_reads_the_inventory(
    store: ObjectStore, sample_tree: Path, tmp_path: Path
) -> None:
    shipped = await ship(store, sample_tree, ShipOptions())
    slowed = _InventoryAfterIndexStore(store, timeout=5)
    dest = tmp_path / "restored"
    include = RestoreOptions(include=("data/big.txt",))
    report = await restore(slowed, shipped.keys.name, dest, include)
    assert slowed.waited_for_index
    assert all(slowed.waited_for_index)
    assert (dest / "data" / "big.txt").read_bytes() == (sample_tree / "data/big.txt").read_bytes()
    # The early read is the one the index's pages were found with: it is not made twice.
    assert slowed.index_ranges.count((0, 16 << 10)) == 1
    assert report.verified == 1


@pytest.mark.asyncio
async def test_a_whole_restore_of_an_archive_without_index_drops_the_index_it_tried(
    store: ObjectStore, sample_tree: Path, tmp_path: Path
) -> None:
    shipped = await ship(store, sample_tree, ShipOptions(compression="lz4"))
    assert shipped.archive is not None
    assert shipped.archive.index_key is None
    report = await restore(store, shipped.keys.name, tmp_path / "out", RestoreOptions())
    assert _tree(tmp_path / "out") == _tree(sample_tree)
    assert report.bytes_fetched == (await store.head(shipped.keys.archive)).size


class _HeadAfterTableStore:
    """A store whose HEAD of an archive waits (at most ``timeout`` seconds) until a range of
    it has been asked for: a restore that read the seek table only after the HEAD waits the
    whole time."""

    def __init__(self, inner: ObjectStore, timeout: float) -> None:
        self._inner = inner
        self._timeout = timeout
        self.range_asked = asyncio.Event()
        self.waited_for_range: list[bool] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def head(self, key: str) -> Any:
        if key.endswith(".tar.zst"):
            try:
                await asyncio.wait_for(self.range_asked.wait(), self._timeout)
                self.waited_for_range.append(True)
            except TimeoutError:
                self.waited_for_range.append(False)
        return await self._inner.head(key)

    async def get_range(self, key: str, offset: int, size: int, **kwargs: Any) -> bytes:
        if key.endswith(".tar.zst"):
            self.range_asked.set()
        return await self._inner.get_range(key, offset, size, **kwargs)


@pytest.mark.asyncio
async def test_include_reads_the_seek_table_beside_the_archive_s_head(
    store: ObjectStore, sample_tree: Path, tmp_path: Path
) -> None:
    shipped = await ship(store, sample_tree, ShipOptions())
    slowed = _HeadAfterTableStore(store, timeout=5)
    dest = tmp_path / "restored"
    await restore(slowed, shipped.keys.name, dest, RestoreOptions(include=("data/big.txt",)))
    assert slowed.waited_for_range == [True]
    assert (dest / "data" / "big.txt").read_bytes() == (sample_tree / "data/big.txt").read_bytes()


@pytest.mark.asyncio
async def test_include_refuses_an_archive_of_another_size_than_recorded(
    store: ObjectStore, sample_tree: Path, tmp_path: Path
) -> None:
    shipped = await ship(store, sample_tree, ShipOptions())
    body = await store.get_range(shipped.keys.archive, 0, 1 << 30)
    await store.put(shipped.keys.archive, body + bytes(100))  # replaced: 100 bytes longer
    dest = tmp_path / "restored"
    include = RestoreOptions(include=("data/big.txt",))
    with pytest.raises(IntegrityError, match=rf"{len(body) + 100} bytes in the store, {len(body)}"):
        await restore(store, shipped.keys.name, dest, include)
    assert not dest.exists()
