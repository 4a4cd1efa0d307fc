"""Shared fixtures for cargoship's tests: a real moto S3 server over HTTP, stores, a sample tree.

One moto server runs for the whole session (``moto_server``); every test gets
a fresh bucket (``bucket``) and the URL ``s3://<bucket>/archives`` (``s3_url``)
to ship under; ``moto_server``, ``bucket``, ``s3_config`` and ``boto3_client``
come from :mod:`s3opt.testing.fixtures`. ``store`` is an :class:`s3opt.S3Store`
opened on that URL, ``local_store`` a :class:`s3opt.LocalStore` on a temporary
directory. ``sample_tree`` builds a small tree with every kind of entry ship
handles. ``make_entry`` and ``inventory_of`` build inventory entries and
documents in memory for the tests of the inventory, the checks and the writes
of a restore. ``progress_recorder`` makes progress callbacks that keep what they
are told.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytest_asyncio

from cargoship.fetch import StreamAhead
from cargoship.inventory import ArchiveRecord, EntryType, Inventory, InventoryEntry, Totals
from s3opt import LocalStore, ObjectStore, S3Config, open_store
from s3opt.testing.fixtures import boto3_client, bucket, moto_server, s3_config

__all__ = [
    "BIG_FILE_SIZE",
    "SAMPLE_MTIME_NS",
    "archive_record",
    "boto3_client",
    "bucket",
    "closed_streams",
    "inventory_of",
    "local_store",
    "make_entry",
    "moto_server",
    "progress_recorder",
    "s3_config",
    "s3_url",
    "sample_tree",
    "store",
]

SAMPLE_MTIME_NS = 1_700_000_000_123_456_789
"""The mtime every entry of ``sample_tree`` gets (a fixed value, with a sub-second part)."""

BIG_FILE_SIZE = 3 << 20
"""Size of ``sample_tree``'s compressible file ``data/big.txt`` (3 MiB)."""


@pytest.fixture
def closed_streams(monkeypatch: pytest.MonkeyPatch) -> list[StreamAhead]:
    """Every :class:`~cargoship.fetch.StreamAhead` closed during the test, in order (its
    ``close`` still runs)."""
    closed: list[StreamAhead] = []
    real_close = StreamAhead.close

    async def recording_close(self: StreamAhead) -> None:
        closed.append(self)
        await real_close(self)

    monkeypatch.setattr(StreamAhead, "close", recording_close)
    return closed


class ProgressRecord:
    """A restore's or verify's progress callback that keeps what it is told."""

    def __init__(self) -> None:
        self.started: list[tuple[int, int]] = []
        self.advanced = 0

    def start(self, files: int, bytes_total: int) -> None:
        self.started.append((files, bytes_total))

    def advance(self, nbytes: int) -> None:
        self.advanced += nbytes


@pytest.fixture
def progress_recorder() -> Callable[[], ProgressRecord]:
    """Makes a new :class:`ProgressRecord` each call."""
    return ProgressRecord


@pytest.fixture
def s3_url(bucket: str) -> str:
    """``s3://<bucket>/archives``: the prefix tests ship under."""
    return f"s3://{bucket}/archives"


@pytest_asyncio.fixture
async def store(s3_url: str, s3_config: S3Config) -> AsyncIterator[ObjectStore]:
    """An S3Store opened on ``s3_url``, closed after the test."""
    async with open_store(s3_url, s3_config) as opened:
        yield opened


@pytest.fixture
def local_store(tmp_path: Path) -> LocalStore:
    """A LocalStore on an empty temporary directory (no fsync: tests need no durability)."""
    root = tmp_path / "local-store"
    root.mkdir()
    return LocalStore(root, fsync=False)


def _compressible_text(size: int) -> bytes:
    """``size`` bytes of numbered text lines: compresses well but is not one repeated block."""
    lines = bytearray()
    number = 0
    while len(lines) < size:
        lines += f"line {number:08d}: the quick brown fox jumps over the lazy dog\n".encode()
        number += 1
    return bytes(lines[:size])


@pytest.fixture
def sample_tree(tmp_path: Path) -> Path:
    """A small source tree, every entry's mtime set to ``SAMPLE_MTIME_NS``::

    source/
      README.txt              text
      empty.dat               0 bytes
      data/
        big.txt               3 MiB of compressible text
        nested/deeper/
          leaf.bin            256 bytes 0..255
        copy-a.bin            64 KiB, identical to ...
      other/
        copy-b.bin            ... this one (same bytes, different inode)
      link-to-readme          symlink -> README.txt (relative)
      data/nested/up          symlink -> ../big.txt
    """
    root = tmp_path / "source"
    (root / "data" / "nested" / "deeper").mkdir(parents=True)
    (root / "other").mkdir()
    (root / "README.txt").write_bytes(b"cargoship sample tree\n")
    (root / "empty.dat").write_bytes(b"")
    (root / "data" / "big.txt").write_bytes(_compressible_text(BIG_FILE_SIZE))
    (root / "data" / "nested" / "deeper" / "leaf.bin").write_bytes(bytes(range(256)))
    duplicate = bytes((i * 7 + 3) % 251 for i in range(64 << 10))
    (root / "data" / "copy-a.bin").write_bytes(duplicate)
    (root / "other" / "copy-b.bin").write_bytes(duplicate)
    (root / "data" / "nested" / "deeper" / "leaf.bin").chmod(0o600)
    (root / "link-to-readme").symlink_to("README.txt")
    (root / "data" / "nested" / "up").symlink_to("../big.txt")
    # Deepest first, so setting a directory's mtime is not undone by touching its contents.
    paths = sorted(root.rglob("*"), key=lambda p: len(p.parts), reverse=True)
    for path in [*paths, root]:
        os.utime(path, ns=(SAMPLE_MTIME_NS, SAMPLE_MTIME_NS), follow_symlinks=False)
    return root


ARCHIVED_AT = datetime(2025, 7, 27, 10, tzinfo=UTC)
"""When the entries and the archive that ``make_entry`` and ``archive_record`` build were made."""


def _entry(
    path: str, kind: EntryType, data: bytes = b"", link: str | None = None
) -> InventoryEntry:
    has_data = kind in (EntryType.FILE, EntryType.HARDLINK)
    return InventoryEntry(
        path=path,
        type=kind,
        size=len(data),
        checksum="sha256:" + hashlib.sha256(data).hexdigest() if has_data else None,
        compression="zstd",
        archived_at=ARCHIVED_AT,
        mode=0o640,
        mtime_ns=1_234_567_890_123_456_789,
        link=link,
    )


@pytest.fixture
def make_entry() -> Callable[..., InventoryEntry]:
    """``make_entry(path, kind, data=b"", link=None)``: an inventory entry of that type whose
    size and sha256 are those of ``data`` (files and hard links; others have no checksum),
    mode 0o640, a fixed mtime."""
    return _entry


@pytest.fixture
def archive_record() -> ArchiveRecord:
    """The record of an archive ``20250727T100000Z`` (zstd, STANDARD, made-up sizes,
    no parts): what the inventory documents tests build in memory describe."""
    name = "20250727T100000Z"
    return ArchiveRecord(
        name=name,
        key=name + ".tar.zst",
        index_key=name + ".index",
        compression="zstd",
        level=3,
        storage_class="STANDARD",
        created_at=ARCHIVED_AT,
        source="/src",
        size=1,
        tar_size=1,
        etag="e",
        checksum=None,
        parts=(),
        base=None,
    )


@pytest.fixture
def inventory_of(archive_record: ArchiveRecord) -> Callable[[Sequence[InventoryEntry]], Inventory]:
    """``inventory_of(entries)``: the inventory of ``archive_record`` holding ``entries``, its
    totals counting them as files."""

    def build(entries: Sequence[InventoryEntry]) -> Inventory:
        return Inventory(archive_record, Totals(len(entries), 0, 0, 0, ()), tuple(entries))

    return build
