"""cargoship.ship against moto's S3 server over real HTTP, checked with GNU tar, zstd, lz4, gzip.

Every archive is downloaded with boto3 (not through cargoship or s3opt) and
unpacked by the stock tools; the result is compared with the source tree
walked by ``os.lstat``, and checksums with :mod:`hashlib` over the sources.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import os
import random
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from blobcodec.index import ArchiveIndex
from cargoship.errors import CargoshipError, IntegrityError, UnreadableFilesError
from cargoship.estimate import estimate
from cargoship.inventory import EntryType, Inventory
from cargoship.layout import list_archives, load_inventory
from cargoship.scan import SourceEntry, scan
from cargoship.ship import ShipOptions, ShipReport, ship
from cargoship.ship._state import ShipState, state_path
from cargoship.ship._stream import ArchiveStream
from s3opt import LocalStore, ObjectInfo, ObjectStore, S3Config, S3Store, open_store
from s3opt.testing import MotoServer

_SHIP_SCAN = "cargoship.ship._plan.scan"  # ship's scan, which tests replace

MiB = 1 << 20
SAMPLE_FILES = {
    "README.txt": 22,
    "empty.dat": 0,
    "data/big.txt": 3 * MiB,
    "data/copy-a.bin": 64 << 10,
    "data/nested/deeper/leaf.bin": 256,
    "other/copy-b.bin": 64 << 10,
}


# -- helpers ---------------------------------------------------------------------------------


def _download(server: MotoServer, bucket: str, key: str) -> bytes:
    body: bytes = server.boto3_client().get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


def _keys(server: MotoServer, bucket: str) -> list[str]:
    listing = server.boto3_client().list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in listing.get("Contents", []))


def _snapshot(root: Path) -> dict[str, tuple[Any, ...]]:
    """Path -> (kind, mode, mtime_ns, content or link target) for everything under ``root``."""
    found: dict[str, tuple[Any, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath, name)
            info = path.lstat()
            rel = path.relative_to(root).as_posix()
            if stat.S_ISLNK(info.st_mode):
                found[rel] = ("symlink", os.readlink(path))
            elif stat.S_ISDIR(info.st_mode):
                found[rel] = ("dir", stat.S_IMODE(info.st_mode), info.st_mtime_ns)
            else:
                content = hashlib.sha256(path.read_bytes()).hexdigest()
                found[rel] = ("file", stat.S_IMODE(info.st_mode), info.st_mtime_ns, content)
    return found


def _untar(data: bytes, dest: Path, *decompress: str) -> None:
    """Unpack ``data`` with GNU tar, through ``decompress`` (a command) when given."""
    dest.mkdir()
    if decompress:
        data = subprocess.run(decompress, input=data, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-xf", "-", "-C", str(dest)], input=data, check=True)


def _sha256_tag(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


async def _ship_to(
    url: str, config: S3Config, source: Path, options: ShipOptions, **kwargs: Any
) -> ShipReport:
    async with open_store(url, config) as store:
        return await ship(store, source, options, **kwargs)


class _Progress:
    """Records the calls, and the threads they came from."""

    def __init__(self) -> None:
        self.started: tuple[int, int] | None = None
        self.advanced: list[int] = []
        self.threads: set[int] = set()

    def start(self, files: int, bytes_total: int) -> None:
        self.started = (files, bytes_total)
        self.threads.add(threading.get_ident())

    def advance(self, bytes_in: int) -> None:
        self.advanced.append(bytes_in)
        self.threads.add(threading.get_ident())


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


# -- zstd: the whole path ---------------------------------------------------------------------


@pytest.mark.asyncio
async def test_ship_gives_an_archive_gnu_tar_restores_with_index_and_inventory(
    moto_server: MotoServer,
    bucket: str,
    s3_url: str,
    s3_config: S3Config,
    sample_tree: Path,
    state_dir: Path,
    tmp_path: Path,
) -> None:
    progress = _Progress()
    report = await _ship_to(
        s3_url, s3_config, sample_tree, ShipOptions(state_dir=state_dir), progress=progress
    )
    keys = report.keys
    assert _keys(moto_server, bucket) == sorted(
        f"archives/{key}" for key in (keys.archive, keys.index, keys.pages, keys.inventory)
    )
    archive = _download(moto_server, bucket, f"archives/{keys.archive}")
    assert len(archive) == report.bytes_stored

    # Stock tools: `tar --zstd -xf` gives back the tree, the duplicate as a hard link.
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "a.tar.zst").write_bytes(archive)
    subprocess.run(
        ["tar", "--zstd", "-xf", str(tmp_path / "a.tar.zst"), "-C", str(out)], check=True
    )
    assert _snapshot(out) == _snapshot(sample_tree)
    a, b = (out / "data" / "copy-a.bin").stat(), (out / "other" / "copy-b.bin").stat()
    assert (a.st_ino, a.st_nlink) == (b.st_ino, 2)

    # The inventory (YAML, read back with cargoship's strict loader) and sha256 from hashlib.
    inventory = Inventory.loads(_download(moto_server, bucket, f"archives/{keys.inventory}"))
    files = {e.path: e for e in inventory.entries if e.type in (EntryType.FILE, EntryType.HARDLINK)}
    assert {path: e.size for path, e in files.items()} == SAMPLE_FILES
    for path, entry in files.items():
        assert entry.checksum == _sha256_tag(sample_tree / path), path
        assert entry.compression == "zstd"
    assert files["other/copy-b.bin"].type is EntryType.HARDLINK
    assert files["other/copy-b.bin"].link == "data/copy-a.bin"
    assert inventory.entry("link-to-readme").link == "README.txt"
    assert inventory.archive.size == len(archive)
    assert inventory.archive.checksum == "sha256:" + hashlib.sha256(archive).hexdigest()
    assert inventory.archive.index_key == keys.index
    assert inventory.totals.dedup_bytes == 64 << 10
    assert report.archive == inventory.archive

    # The member index: the members GNU tar lists, each file's sha256 the source's.
    index = ArchiveIndex.load(_download(moto_server, bucket, f"archives/{keys.index}"))
    listed = subprocess.run(
        ["tar", "--zstd", "-tf", str(tmp_path / "a.tar.zst")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert [m.path.rstrip("/") for m in index.members] == [name.rstrip("/") for name in listed]
    assert index.compressed_size == len(archive)
    for member in index.members:
        if member.type == "file":
            assert member.sha256 == _sha256_tag(sample_tree / member.path)

    # The report and the progress callbacks.
    total = sum(SAMPLE_FILES.values())
    assert (report.files, report.bytes_in, report.dedup_bytes) == (6, total, 64 << 10)
    assert report.bytes_stored < total // 10  # numbered text lines compress well
    assert report.monthly_cost > 0
    assert (report.skipped, report.unchanged) == ((), 0)
    assert progress.started == (6, total)
    assert sum(progress.advanced) == total
    assert progress.threads == {threading.get_ident()}  # called on the event loop's thread
    assert not list(state_dir.glob("*"))  # the resume state is gone once complete


@pytest.mark.asyncio
async def test_storage_class_is_the_archives_and_index_and_inventory_stay_standard(
    store: ObjectStore, sample_tree: Path, state_dir: Path
) -> None:
    (sample_tree / "data" / "big.txt").unlink()
    options = ShipOptions(storage_class="GLACIER", state_dir=state_dir)
    report = await ship(store, sample_tree, options)
    assert (await store.head(report.keys.archive)).storage_class == "GLACIER"
    for key in (report.keys.index, report.keys.pages, report.keys.inventory):
        assert (await store.head(key)).storage_class in (None, "STANDARD")
    assert report.storage_class == "GLACIER"
    assert report.archive is not None
    assert report.archive.storage_class == "GLACIER"


# -- other codecs -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("compression", "tool", "magic"),
    [
        ("lz4", ["lz4", "-dc"], b"\x04\x22\x4d\x18"),
        ("gzip", ["gzip", "-dc"], b"\x1f\x8b"),
        ("none", [], b""),
    ],
)
@pytest.mark.asyncio
async def test_lz4_gzip_and_none_archives_open_with_their_own_tools(
    moto_server: MotoServer,
    bucket: str,
    s3_url: str,
    s3_config: S3Config,
    sample_tree: Path,
    state_dir: Path,
    tmp_path: Path,
    compression: str,
    tool: list[str],
    magic: bytes,
) -> None:
    options = ShipOptions(compression=compression, state_dir=state_dir)
    report = await _ship_to(s3_url, s3_config, sample_tree, options)
    keys = report.keys
    assert keys.compression == compression
    archive = _download(moto_server, bucket, f"archives/{keys.archive}")
    assert archive.startswith(magic)
    _untar(archive, tmp_path / "out", *tool)
    assert _snapshot(tmp_path / "out") == _snapshot(sample_tree)
    assert report.archive is not None
    if compression == "none":
        # A plain tar is indexed too (its member offsets are the archive's): ranged restores.
        assert len(archive) == report.archive.tar_size
        assert report.archive.index_key == keys.index
        assert f"archives/{keys.index}" in _keys(moto_server, bucket)
        assert f"archives/{keys.pages}" in _keys(moto_server, bucket)
    else:  # read whole: neither an index nor an inventory page table
        assert report.archive.index_key is None
        assert f"archives/{keys.index}" not in _keys(moto_server, bucket)
        assert f"archives/{keys.pages}" not in _keys(moto_server, bucket)


# -- unreadable files -------------------------------------------------------------------------


def _scan_then(monkeypatch: pytest.MonkeyPatch, after_scan: Any) -> None:
    """Make ship's scan run ``after_scan()`` once the tree is walked (before packing)."""

    def scan_then(root: Path, **kwargs: Any) -> Iterator[SourceEntry]:
        yield from scan(root, **kwargs)
        after_scan()

    monkeypatch.setattr(_SHIP_SCAN, scan_then)


@pytest.mark.asyncio
async def test_an_unreadable_file_found_by_the_scan_fails_before_anything_is_uploaded(
    moto_server: MotoServer,
    bucket: str,
    store: ObjectStore,
    sample_tree: Path,
    state_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:

    def scan_reporting(root: Path, *, on_unreadable: Any) -> Iterator[SourceEntry]:
        for entry in scan(root, on_unreadable=on_unreadable):
            if entry.name == "README.txt":  # as the scan reports a file it cannot open
                on_unreadable(entry.path, PermissionError(13, "Permission denied"))
                continue
            yield entry

    monkeypatch.setattr(_SHIP_SCAN, scan_reporting)
    with pytest.raises(UnreadableFilesError) as caught:
        await ship(store, sample_tree, ShipOptions(state_dir=state_dir))
    assert caught.value.paths == ("README.txt",)
    assert _keys(moto_server, bucket) == []
    assert not state_dir.exists()


@pytest.mark.asyncio
async def test_a_file_gone_while_packing_fails_the_ship_and_leaves_no_inventory(
    moto_server: MotoServer,
    bucket: str,
    store: ObjectStore,
    sample_tree: Path,
    state_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _scan_then(monkeypatch, (sample_tree / "other" / "copy-b.bin").unlink)
    with pytest.raises(UnreadableFilesError) as caught:
        await ship(store, sample_tree, ShipOptions(state_dir=state_dir))
    assert caught.value.paths == ("other/copy-b.bin",)
    assert not [key for key in _keys(moto_server, bucket) if key.endswith(".inventory.yaml")]
    assert await list_archives(store) == []


@pytest.mark.asyncio
async def test_skip_unreadable_skips_and_records_the_file(
    moto_server: MotoServer,
    bucket: str,
    store: ObjectStore,
    sample_tree: Path,
    state_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reference = tmp_path / "reference"
    shutil.copytree(sample_tree, reference, symlinks=True)
    _scan_then(monkeypatch, (sample_tree / "data" / "copy-a.bin").unlink)
    options = ShipOptions(skip_unreadable=True, state_dir=state_dir)
    report = await ship(store, sample_tree, options)
    assert report.skipped == ("data/copy-a.bin",)
    inventory = await load_inventory(store, report.keys.name)
    assert inventory.totals.skipped == ("data/copy-a.bin",)
    paths = {entry.path for entry in inventory.entries}
    assert "data/copy-a.bin" not in paths
    # copy-b is now the only copy: stored in full, not as a link to the skipped file.
    assert inventory.entry("other/copy-b.bin").type is EntryType.FILE
    archive = _download(moto_server, bucket, f"archives/{report.keys.archive}")
    _untar(archive, tmp_path / "out", "zstd", "-dc")
    expected = _snapshot(reference)
    del expected["data/copy-a.bin"]
    expected["data"] = _snapshot(tmp_path / "out")["data"]  # its mtime moved with the unlink
    assert _snapshot(tmp_path / "out") == expected


class _Wrapped:
    """A LocalStore seen through a wrapper: subclasses override what they change."""

    def __init__(self, inner: LocalStore) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _ShortStore(_Wrapped):
    """A LocalStore whose uploads report one byte fewer than they received."""

    async def upload(self, key: str, source: Any, **kwargs: Any) -> ObjectInfo:
        info = await self._inner.upload(key, source, **kwargs)
        return dataclasses.replace(info, size=info.size - 1)


class _ListingRecordingStore(_Wrapped):
    """A LocalStore that tells when a listing begins."""

    def __init__(self, inner: LocalStore) -> None:
        super().__init__(inner)
        self.listed = threading.Event()

    def list(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        self.listed.set()
        return self._inner.list(prefix)


@pytest.mark.asyncio
async def test_the_archive_name_is_checked_while_the_tree_is_scanned(
    local_store: LocalStore, sample_tree: Path, state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _ListingRecordingStore(local_store)
    seen: list[bool] = []

    def scan_once_listed(root: Path, **kwargs: Any) -> Iterator[SourceEntry]:
        seen.append(store.listed.wait(10))  # a ship that lists only after scanning waits 10 s
        return scan(root, **kwargs)

    monkeypatch.setattr("cargoship.ship._plan.scan", scan_once_listed)
    report = await ship(store, sample_tree, ShipOptions(state_dir=state_dir))
    assert seen == [True]
    assert await list_archives(local_store) == [report.keys.name]


class _DroppedAfterSealStore(_Wrapped):
    """A LocalStore whose archive upload fails once its bytes are sealed, as when the
    connection drops under the last part."""

    async def upload(self, key: str, source: Any, **kwargs: Any) -> ObjectInfo:
        if not key.endswith(".zst"):
            return await self._inner.upload(key, source, **kwargs)
        told = kwargs.pop("on_sealed")

        async def then_drop(info: ObjectInfo) -> None:
            await told(info)
            await asyncio.sleep(0.2)  # the inventory's upload is under way by now
            raise ConnectionResetError("connection dropped under the last part")

        return await self._inner.upload(key, source, on_sealed=then_drop, **kwargs)


@pytest.mark.asyncio
async def test_an_archive_lost_after_it_was_sealed_leaves_no_inventory(
    local_store: LocalStore, sample_tree: Path, state_dir: Path
) -> None:
    with pytest.raises(ConnectionResetError, match="last part"):
        await ship(
            _DroppedAfterSealStore(local_store), sample_tree, ShipOptions(state_dir=state_dir)
        )
    assert await list_archives(local_store) == []
    assert [info.key async for info in local_store.list() if "inventory.yaml" in info.key] == []


class _OtherEtagStore(_Wrapped):
    """A LocalStore whose archive comes back with an ETag unlike the one expected when it was
    sealed, as SSE-KMS gives."""

    async def upload(self, key: str, source: Any, **kwargs: Any) -> ObjectInfo:
        info = await self._inner.upload(key, source, **kwargs)
        return dataclasses.replace(info, etag="kms0etag") if key.endswith(".zst") else info


@pytest.mark.asyncio
async def test_an_archive_stored_with_another_etag_gets_an_inventory_that_names_it(
    local_store: LocalStore, sample_tree: Path, state_dir: Path
) -> None:
    report = await ship(_OtherEtagStore(local_store), sample_tree, ShipOptions(state_dir=state_dir))
    assert await list_archives(local_store) == [report.keys.name]
    inventory = await load_inventory(local_store, report.keys.name)
    assert inventory.archive.etag == "kms0etag"
    assert report.archive is not None
    assert report.archive.etag == "kms0etag"


@pytest.mark.asyncio
async def test_an_upload_that_stored_other_bytes_fails_without_an_inventory(
    local_store: LocalStore, sample_tree: Path, state_dir: Path
) -> None:
    with pytest.raises(IntegrityError, match="streamed"):
        await ship(_ShortStore(local_store), sample_tree, ShipOptions(state_dir=state_dir))
    assert await list_archives(local_store) == []


class _OrderRecordingStore(_Wrapped):
    """A LocalStore recording when each upload starts and returns, whose archive upload, once
    its bytes are stored, returns only after the index and inventory uploads have begun (or
    fails after ``timeout`` seconds): a ship that uploaded either only after the archive
    would fail here."""

    def __init__(self, inner: LocalStore, timeout: float) -> None:
        super().__init__(inner)
        self._timeout = timeout
        self.started = {"index": asyncio.Event(), "yaml": asyncio.Event()}
        self.order: list[str] = []

    async def upload(self, key: str, source: Any, **kwargs: Any) -> ObjectInfo:
        suffix = key.rsplit(".", 1)[-1]
        self.order.append(f"{suffix} started")
        if suffix in self.started:
            self.started[suffix].set()
        info = await self._inner.upload(key, source, **kwargs)
        if suffix == "zst":
            for event in self.started.values():
                await asyncio.wait_for(event.wait(), self._timeout)
        self.order.append(f"{suffix} stored")
        return info

    async def put(self, key: str, data: bytes, **kwargs: Any) -> ObjectInfo:
        suffix = key.rsplit(".", 1)[-1]
        self.order.append(f"{suffix} started")
        await asyncio.sleep(0.2)  # a slow page table must still land before the inventory
        info = await self._inner.put(key, data, **kwargs)
        self.order.append(f"{suffix} stored")
        return info


@pytest.mark.asyncio
async def test_index_and_inventory_travel_beside_the_archive_and_the_inventory_lands_last(
    local_store: LocalStore, sample_tree: Path, state_dir: Path, tmp_path: Path
) -> None:
    store = _OrderRecordingStore(local_store, timeout=10)
    report = await ship(store, sample_tree, ShipOptions(state_dir=state_dir))
    assert store.order[:2] == ["zst started", "index started"]
    assert store.order.index("yaml started") < store.order.index("zst stored")
    assert store.order.index("pages stored") < store.order.index("yaml stored")
    assert store.order[-1] == "yaml stored"  # the inventory appears last
    assert await list_archives(local_store) == [report.keys.name]
    index = ArchiveIndex.load(await local_store.get_range(report.keys.index, 0, 1 << 30))
    assert report.archive is not None
    assert index.compressed_size == report.archive.size
    assert "data/big.txt" in {member.path for member in index.members}


# -- dry run, incremental ---------------------------------------------------------------------


@pytest.mark.asyncio
async def test_dry_run_reports_the_numbers_and_uploads_nothing(
    moto_server: MotoServer, bucket: str, store: ObjectStore, sample_tree: Path, state_dir: Path
) -> None:
    report = await ship(store, sample_tree, ShipOptions(dry_run=True, state_dir=state_dir))
    total = sum(SAMPLE_FILES.values())
    assert (report.files, report.bytes_in, report.dedup_bytes) == (6, total, 64 << 10)
    assert report.archive is None
    # Numbered text compresses about 10x with zstd -3 (measured by `zstd -3` on the same bytes).
    big = (sample_tree / "data" / "big.txt").read_bytes()
    zstd_size = len(subprocess.run(["zstd", "-3", "-c"], input=big, capture_output=True).stdout)
    assert report.bytes_stored < total * 2 * zstd_size / len(big)
    assert report.bytes_stored > 0
    assert _keys(moto_server, bucket) == []
    assert not state_dir.exists()


@pytest.mark.asyncio
async def test_dry_run_projects_with_the_ratio_estimate_measures(
    local_store: LocalStore, sample_tree: Path, state_dir: Path
) -> None:
    dry = await ship(local_store, sample_tree, ShipOptions(dry_run=True, state_dir=state_dir))
    figures = estimate(sample_tree)  # checked against the zstd tool in test_estimate
    # One sampler and one model: the tar stream over its sample's ratio.
    assert dry.dedup_bytes == figures.dedup_bytes == 64 << 10
    assert dry.bytes_stored == figures.projected_bytes
    # What a ship stores. The tree is smaller than the sample, so the whole stream is
    # measured; the archive differs by its frames, each compressed on its own, and its seek
    # table. The duplicate is counted once, not subtracted twice.
    real = await ship(local_store, sample_tree, ShipOptions(state_dir=state_dir))
    assert real.archive is not None
    assert 0.95 * real.bytes_stored <= dry.bytes_stored <= 1.05 * real.bytes_stored, (
        dry.bytes_stored,
        real.bytes_stored,
    )


@pytest.mark.asyncio
async def test_dry_run_counts_duplicates_once(
    local_store: LocalStore, tmp_path: Path, state_dir: Path
) -> None:
    source = tmp_path / "copies"
    source.mkdir()
    data = os.urandom(1 << 20)  # does not compress: the archive holds about these bytes
    for number in range(4):
        copy = source / f"copy-{number}.bin"
        copy.write_bytes(data)
        os.utime(copy, ns=(1_600_000_000 * 10**9,) * 2)  # a hard link's copies share it
    dry = await ship(local_store, source, ShipOptions(dry_run=True, state_dir=state_dir))
    real = await ship(local_store, source, ShipOptions(state_dir=state_dir))
    assert dry.dedup_bytes == real.dedup_bytes == 3 << 20
    assert 0.95 * real.bytes_stored <= dry.bytes_stored <= 1.05 * real.bytes_stored


@pytest.mark.asyncio
async def test_incremental_ship_stores_only_what_changed(
    moto_server: MotoServer,
    bucket: str,
    store: ObjectStore,
    sample_tree: Path,
    state_dir: Path,
    tmp_path: Path,
) -> None:
    first = await ship(store, sample_tree, ShipOptions(state_dir=state_dir))
    readme = sample_tree / "README.txt"
    readme.write_bytes(b"changed content\n")
    (sample_tree / "data" / "new.bin").write_bytes(b"new file")
    # Same size and mtime, other bytes: only the checksum tells it changed.
    leaf = sample_tree / "data" / "nested" / "deeper" / "leaf.bin"
    before = leaf.stat()
    leaf.write_bytes(bytes(reversed(range(256))))
    os.utime(leaf, ns=(before.st_atime_ns, before.st_mtime_ns))

    second = await ship(store, sample_tree, ShipOptions(incremental=True, state_dir=state_dir))
    assert second.keys.name > first.keys.name
    unchanged = {"empty.dat", "data/big.txt", "data/copy-a.bin", "other/copy-b.bin"}
    assert second.unchanged == len(unchanged)
    inventory = await load_inventory(store, second.keys.name)
    assert inventory.archive.base == first.keys.name
    for entry in inventory.entries:
        if entry.path in unchanged:
            assert entry.archive == first.keys.name, entry.path
        else:
            assert entry.archive is None, entry.path
    changed = ["README.txt", "data/new.bin", "data/nested/deeper/leaf.bin"]
    for path in changed:
        assert inventory.entry(path).checksum == _sha256_tag(sample_tree / path)
    archive = _download(moto_server, bucket, f"archives/{second.keys.archive}")
    listed = subprocess.run(
        ["tar", "-tf", "-", "--zstd"], input=archive, capture_output=True, check=True
    ).stdout.decode()
    members = {line.rstrip("/") for line in listed.split()}
    assert members.isdisjoint(unchanged)
    assert set(changed) <= members
    assert second.bytes_in == sum((sample_tree / path).stat().st_size for path in changed)


# -- resume -----------------------------------------------------------------------------------


def _random_tree(root: Path, sizes: dict[str, int], seed: int) -> Path:
    generator = random.Random(seed)
    for name, size in sizes.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(generator.randbytes(size))
        os.utime(path, ns=(1_700_000_000 * 10**9, 1_700_000_000 * 10**9))
    return root


def _parts_stored(server: MotoServer, bucket: str) -> int:
    client = server.boto3_client()
    uploads = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    return sum(
        len(client.list_parts(Bucket=bucket, Key=u["Key"], UploadId=u["UploadId"]).get("Parts", []))
        for u in uploads
    )


async def _stall_after(chunks: AsyncIterator[bytes], limit: int) -> AsyncIterator[bytes]:
    """``chunks`` until ``limit`` bytes went by, then nothing more: a connection that hangs."""
    passed = 0
    async for chunk in chunks:
        yield chunk
        passed += len(chunk)
        if passed >= limit:
            await asyncio.Event().wait()  # until cancelled


class _StallingStream(ArchiveStream[Any]):
    """The archive stream, stalling after 12 MiB: two 5 MiB parts can be sent, not a third."""

    def __aiter__(self) -> AsyncIterator[bytes]:
        return _stall_after(super().__aiter__(), 12 * MiB)


async def _interrupted_ship(
    url: str, config: S3Config, source: Path, options: ShipOptions, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Start a ship, stall its stream after two parts, and cancel it (as Ctrl-C does)."""
    with monkeypatch.context() as patch:
        patch.setattr("cargoship.ship._ship.ArchiveStream", _StallingStream)
        async with open_store(url, config) as store:
            assert isinstance(store, S3Store)
            task = asyncio.create_task(ship(store, source, options))
            deadline = time.monotonic() + 30
            while store.stats.parts_sent < 2:
                assert time.monotonic() < deadline
                assert not task.done()
                await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert await list_archives(store) == []  # no inventory: not complete


def _leave_what_a_kill_leaves(server: MotoServer, bucket: str, prefix: str, state_dir: Path) -> str:
    """What a ship killed while its index, page table and inventory travelled beside the
    archive's last parts leaves besides the archive's parts: the index and page table
    objects, and a pending multipart upload of the inventory with one part. The name."""
    (state,) = [p for p in state_dir.glob("ship-*.json") if not p.name.endswith(".upload.json")]
    name: str = json.loads(state.read_text())["name"]
    client = server.boto3_client()
    for suffix in (".index", ".inventory.pages"):
        client.put_object(Bucket=bucket, Key=f"{prefix}/{name}{suffix}", Body=b"left over")
    key = f"{prefix}/{name}.inventory.yaml"
    upload = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    client.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=1, Body=b"files:\n")
    assert _parts_stored(server, bucket) == 3  # the archive's two and this one
    return name


def _multipart_config(config: S3Config) -> S3Config:
    """Parts of 5 MiB (S3's least) from 5 MiB on, so a 17 MiB archive takes four parts."""
    return config.model_copy(update={"part_size_min": 5 * MiB, "multipart_threshold": 5 * MiB})


@pytest.mark.slow
@pytest.mark.asyncio
async def test_an_interrupted_ship_resumed_gives_the_same_archive_and_sends_less(
    moto_server: MotoServer,
    bucket: str,
    s3_config: S3Config,
    state_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = _multipart_config(s3_config)
    source = _random_tree(tmp_path / "src", {"a.bin": 9 * MiB, "b/c.bin": 8 * MiB}, seed=5)
    options = ShipOptions(state_dir=state_dir)
    url = f"s3://{bucket}/archives"

    with pytest.raises(CargoshipError, match="nothing to resume"):
        await _ship_to(url, config, source, ShipOptions(resume=True, state_dir=state_dir))

    await _interrupted_ship(url, config, source, options, monkeypatch)
    _leave_what_a_kill_leaves(moto_server, bucket, "archives", state_dir)

    async with open_store(url, config) as store:
        assert isinstance(store, S3Store)
        resumed = await ship(store, source, ShipOptions(resume=True, state_dir=state_dir))
        sent = store.stats.bytes_sent
        assert store.stats.parts_reused == 2
    async with open_store(f"s3://{bucket}/fresh", config) as store:
        assert isinstance(store, S3Store)
        fresh = await ship(store, source, options)
        assert sent < store.stats.bytes_sent

    archive = _download(moto_server, bucket, f"archives/{resumed.keys.archive}")
    assert archive == _download(moto_server, bucket, f"fresh/{fresh.keys.archive}")
    assert resumed.archive is not None
    assert len(resumed.archive.parts) == 4  # 5 + 5 + 5 + the rest, in MiB
    assert _parts_stored(moto_server, bucket) == 0  # no upload left pending
    assert not list(state_dir.glob("*"))


@pytest.mark.slow
@pytest.mark.asyncio
async def test_a_new_ship_abandons_an_interrupted_one_and_aborts_its_upload(
    moto_server: MotoServer,
    bucket: str,
    s3_config: S3Config,
    state_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = _multipart_config(s3_config)
    source = _random_tree(tmp_path / "src", {"a.bin": 17 * MiB}, seed=6)
    options = ShipOptions(state_dir=state_dir)
    url = f"s3://{bucket}/archives"
    await _interrupted_ship(url, config, source, options, monkeypatch)
    assert len(list(state_dir.glob("*.json"))) == 2  # cargoship's state and s3opt's
    abandoned = _leave_what_a_kill_leaves(moto_server, bucket, "archives", state_dir)
    report = await _ship_to(url, config, source, options)
    assert _parts_stored(moto_server, bucket) == 0
    # The leftovers are deleted (the new ship may take the freed name, with its own objects).
    for suffix in (".index", ".inventory.pages"):
        key = f"archives/{abandoned}{suffix}"
        assert key not in _keys(moto_server, bucket) or _download(moto_server, bucket, key) != (
            b"left over"
        )
    assert not list(state_dir.glob("*"))
    with pytest.raises(CargoshipError, match="nothing to resume"):
        await _ship_to(url, config, source, ShipOptions(resume=True, state_dir=state_dir))
    archive = _download(moto_server, bucket, f"archives/{report.keys.archive}")
    assert report.archive is not None
    assert report.archive.checksum == "sha256:" + hashlib.sha256(archive).hexdigest()


@pytest.mark.asyncio
async def test_abandoning_a_ship_whose_inventory_was_stored_keeps_its_archive(
    bucket: str, s3_config: S3Config, state_dir: Path, tmp_path: Path
) -> None:
    """A state file can outlive a ship that completed (killed just after its inventory was
    stored): the archive it names is complete, so a new ship deletes nothing of it."""
    source = _random_tree(tmp_path / "src", {"a.bin": MiB}, seed=8)
    url = f"s3://{bucket}/archives"
    async with open_store(url, s3_config) as store:
        assert isinstance(store, S3Store)
        first = await ship(store, source, ShipOptions(state_dir=state_dir))
        ShipState(
            source=str(source.resolve()),
            target=str(store.url),
            name=first.keys.name,
            compression=first.keys.compression,
            level=3,
            storage_class="STANDARD",
            archived_at=datetime.now(UTC),
            base=None,
            path=state_path(state_dir, source.resolve(), str(store.url)),
        ).save()
        second = await ship(store, source, ShipOptions(state_dir=state_dir))
        assert await list_archives(store) == sorted([first.keys.name, second.keys.name])
        assert await store.exists(first.keys.index)


# -- auto compression -------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_auto_compression_stores_random_bytes_as_a_plain_tar(
    tmp_path: Path, local_store: LocalStore, state_dir: Path
) -> None:
    source = _random_tree(tmp_path / "src", {"noise.bin": MiB}, seed=7)
    report = await ship(local_store, source, ShipOptions(compression="auto", state_dir=state_dir))
    assert report.keys.compression == "none"
    stored = local_store.root / report.keys.archive
    assert stored.name.endswith(".tar")
    listed = subprocess.run(["tar", "-tf", str(stored)], capture_output=True, check=True)
    assert listed.stdout.split() == [b"noise.bin"]


@pytest.mark.asyncio
async def test_auto_compression_compresses_text(
    tmp_path: Path, local_store: LocalStore, sample_tree: Path, state_dir: Path
) -> None:
    report = await ship(
        local_store, sample_tree, ShipOptions(compression="auto", state_dir=state_dir)
    )
    assert report.keys.compression != "none"
    inventory = await load_inventory(local_store, report.keys.name)
    assert {entry.compression for entry in inventory.entries} == {report.keys.compression}
    assert report.bytes_stored < report.bytes_in // 4


# -- bounded memory ---------------------------------------------------------------------------


class _SlowStore(_Wrapped):
    """A LocalStore whose archive uploads read the stream slowly, recording how far the reader
    ran ahead."""

    def __init__(self, inner: LocalStore, progress: _Progress) -> None:
        super().__init__(inner)
        self._progress = progress
        self.lag = 0

    async def upload(self, key: str, source: Any, **kwargs: Any) -> ObjectInfo:
        if ".tar" not in key:  # the index and inventory
            return await self._inner.upload(key, source, **kwargs)

        async def slowly() -> AsyncIterator[bytes]:
            consumed = 0
            async for chunk in source:
                consumed += len(chunk)
                await asyncio.sleep(0.02)
                self.lag = max(self.lag, sum(self._progress.advanced) - consumed)
                yield chunk

        return await self._inner.upload(key, slowly(), **kwargs)


async def _traced_ship(
    store: ObjectStore, source: Path, options: ShipOptions, progress: _Progress | None = None
) -> tuple[ShipReport, int]:
    """Ship ``source`` with tracemalloc on: the report and the peak of traced memory."""
    tracemalloc.start()
    try:
        report = await ship(store, source, options, progress=progress)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return report, peak


def _tiny_files(source: Path, count: int, per_folder: int, name: str) -> Path:
    """``count`` files of a few bytes (their number), ``per_folder`` a folder; ``name`` is
    a file's name as a format of its number."""
    for number in range(count):
        folder = source / f"d{number // per_folder:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name.format(number)).write_bytes(b"%d\n" % number)
    return source


@pytest.mark.asyncio
async def test_memory_stays_bounded_and_a_slow_upload_holds_the_packer_back(
    tmp_path: Path, local_store: LocalStore, state_dir: Path
) -> None:
    size = 64 * MiB
    source = _random_tree(tmp_path / "src", {f"f{i}.bin": size // 4 for i in range(4)}, seed=9)
    progress = _Progress()
    slow = _SlowStore(local_store, progress)
    report, peak = await _traced_ship(
        slow, source, ShipOptions(threads=1, state_dir=state_dir), progress=progress
    )
    assert report.bytes_in == size
    assert report.bytes_stored > size  # random bytes do not compress
    # Read-ahead over the upload: the queue, the frames being compressed, one file read.
    assert slow.lag < 16 * MiB
    assert peak < 32 * MiB


@pytest.mark.asyncio
async def test_memory_per_file_stays_small_for_a_tree_of_many_small_files(
    tmp_path: Path, local_store: LocalStore, state_dir: Path
) -> None:
    """4,000 small files: what grows with the number of files (scan, inventory, index and
    their documents) stays a few KiB per file. Dumping the inventory as one YAML document
    (PyYAML's nodes for every scalar) alone took about 4 KiB per file on top."""
    count = 4000
    source = _tiny_files(tmp_path / "src", count, 200, "file-{:05d}.txt")
    report, peak = await _traced_ship(
        local_store, source, ShipOptions(threads=1, state_dir=state_dir)
    )
    assert report.files == count
    frames = 8 * MiB  # seekable zstd frames in flight (threads=1) and the upload queue
    assert peak - frames < count * 2 * 1024, peak  # measured: under 1 KiB per file


@pytest.mark.slow
@pytest.mark.asyncio
async def test_memory_grows_by_under_200_bytes_per_file(
    tmp_path: Path, local_store: LocalStore, state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The slope of the traced peak between 10,000 and 40,000 tiny files: what each file
    costs however large the tree (the peak of a small tree varies by ~2 MB from run to run
    with how full the pipeline's bounded queues happen to be; over 30,000 files that is
    at most ~60 bytes a file). Holding every index member and inventory entry until the
    end cost about 1,350 bytes a file (tracemalloc; ~1.6 KiB of RSS); spooled to temporary
    files, about 520 bytes remained (mostly the scan's entries, ~500 bytes of objects each);
    kept in columns (cargoship.source_table) and planned for duplicates with a set of key
    hashes, about 120 bytes. The spool files' directory is gone afterwards."""
    spools = tmp_path / "tmp"
    spools.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spools))

    async def peak(count: int) -> int:
        source = _tiny_files(tmp_path / f"src{count}", count, 500, "f{:05d}")
        options = ShipOptions(threads=1, state_dir=state_dir)
        report, traced = await _traced_ship(local_store, source, options)
        assert report.files == count
        return traced

    small, large = await peak(10000), await peak(40000)
    assert (large - small) / 30000 < 200, (small, large)
    assert not list(spools.iterdir())


def test_a_ship_to_a_directory_never_loads_botocore(tmp_path: Path) -> None:
    """aiobotocore and botocore take about half a second of CPU to import: a ship to
    ``file://`` (and every command before it opens an S3 store) runs without them."""
    source = tmp_path / "src"
    source.mkdir()
    (source / "a.txt").write_bytes(b"a file\n")
    target = (tmp_path / "out").as_uri()
    script = (
        "import sys\n"
        "from cargoship.cli import main\n"
        f"sys.argv = ['cargoship', 'ship', '-q', {str(source)!r}, {target!r}]\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exit:\n"
        "    assert not exit.code, exit.code\n"
        "print(sorted(name for name in ('botocore', 'aiobotocore') if name in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.splitlines()[-1] == "[]", result.stderr
    assert len(list((tmp_path / "out").glob("*.tar.zst"))) == 1
