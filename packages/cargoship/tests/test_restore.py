"""cargoship.restore against moto's S3 server over real HTTP.

Archives come from ``ship`` (the round trip) or are crafted here with
blobcodec and tarfile directly (the --include fraction, hostile members), so
the tests also show restore reads any archive laid out as documented.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import tarfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from blobcodec.index import TarIndexer
from blobcodec.seekable import SeekableWriter
from cargoship.errors import DestinationExistsError, HostileMemberError, RetrievalRequiredError
from cargoship.inventory import ArchiveRecord, EntryType, Inventory, InventoryEntry, Totals
from cargoship.restore import RestoreOptions, restore
from cargoship.ship import ShipOptions, ship
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
    assert (
        report.bytes_fetched
        == (await store.head(shipped.keys.archive)).size
        + (await store.head(shipped.keys.index)).size
    )


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
) -> int:
    """Store a tar of ``members`` as archive NAME, its inventory listing ``listed``; its size."""
    tar_stream = io.BytesIO()
    with tarfile.open(fileobj=tar_stream, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data else None)
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


@pytest.mark.asyncio
async def test_existing_files_are_kept_unless_overwrite(
    store: ObjectStore, sample_tree: Path, tmp_path: Path
) -> None:
    shipped = await ship(store, sample_tree, ShipOptions())
    dest = tmp_path / "restored"
    (dest / "data").mkdir(parents=True)
    (dest / "README.txt").write_bytes(b"mine")
    (dest / "data" / "big.txt").write_bytes(b"mine too")

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
