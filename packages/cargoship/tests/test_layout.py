"""Archive keys and names, and finding archives in a store (a real LocalStore directory)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from cargoship.errors import ArchiveNotFoundError, IncompleteArchiveError, InventoryFormatError
from cargoship.inventory import ArchiveRecord, Inventory, Totals
from cargoship.layout import (
    ArchiveKeys,
    archive_name,
    is_interrupted,
    list_archives,
    load_inventory,
)
from s3opt import LocalStore


def test_new_keys_are_named_by_the_utc_second() -> None:
    paris = timezone(timedelta(hours=1))
    keys = ArchiveKeys.new("zstd", datetime(2026, 11, 21, 11, 15, 0, 999_999, paris))
    assert keys.name == "20261121T101500Z"
    assert keys.archive == "20261121T101500Z.tar.zst"
    assert keys.index == "20261121T101500Z.index"
    assert keys.inventory == "20261121T101500Z.inventory.yaml"
    assert keys.pages == "20261121T101500Z.inventory.pages"
    assert archive_name(keys.pages) == "20261121T101500Z"
    with pytest.raises(ValueError, match="timezone-aware"):
        ArchiveKeys.new("zstd", datetime(2026, 11, 21))


@pytest.mark.parametrize(
    ("compression", "suffix"),
    [("zstd", ".tar.zst"), ("lz4", ".tar.lz4"), ("gzip", ".tar.gz"), ("none", ".tar")],
)
def test_every_key_gives_back_its_archive_name(compression: str, suffix: str) -> None:
    keys = ArchiveKeys("20261121T101500Z", compression)
    assert keys.archive == "20261121T101500Z" + suffix
    for key in (keys.name, keys.archive, keys.index, keys.inventory):
        assert archive_name(key) == "20261121T101500Z"


@pytest.mark.parametrize(
    "segment",
    [
        "",
        "latest",
        "20261121T101500Z.tar.bz2",
        "20261321T101500Z",
        "20261121T101500",
        "x/20261121T101500Z",
    ],
)
def test_other_segments_are_not_archive_names(segment: str) -> None:
    with pytest.raises(ArchiveNotFoundError, match="is not an archive name"):
        archive_name(segment)


def test_keys_refuse_bad_names_and_codecs() -> None:
    with pytest.raises(ValueError, match="archive name"):
        ArchiveKeys("2026-11-21", "zstd")
    with pytest.raises(ValueError, match="unknown compression 'bz2'"):
        ArchiveKeys("20261121T101500Z", "bz2")


def _inventory(name: str) -> Inventory:
    keys = ArchiveKeys(name, "zstd")
    record = ArchiveRecord(
        name=name,
        key=keys.archive,
        index_key=keys.index,
        compression="zstd",
        level=3,
        storage_class="STANDARD",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        source="/src",
        size=10,
        tar_size=1024,
        etag="e",
        checksum=None,
        parts=(),
        base=None,
    )
    return Inventory(record, Totals(0, 0, 0, 0, ()), ())


async def _ship(store: LocalStore, name: str, *, complete: bool = True) -> None:
    """Write an archive's objects as ship does: archive, index, and the inventory last."""
    keys = ArchiveKeys(name, "zstd")
    await store.put(keys.archive, b"archive bytes")
    await store.put(keys.index, b"index bytes")
    if complete:
        await store.put(keys.inventory, _inventory(name).dumps_yaml())


@pytest.mark.asyncio
async def test_list_archives_names_complete_archives_oldest_first(tmp_path: Path) -> None:
    store = LocalStore(tmp_path, "backups", fsync=False)
    await _ship(store, "20261121T101500Z")
    await _ship(store, "20250101T000000Z")
    await _ship(store, "20261122T000000Z", complete=False)
    await store.put("notes.inventory.yaml", b"not an archive")
    await store.put("nested/20240101T000000Z.inventory.yaml", b"another prefix's archive")
    other = LocalStore(tmp_path, "elsewhere", fsync=False)
    await _ship(other, "20230101T000000Z")
    assert await list_archives(store) == ["20250101T000000Z", "20261121T101500Z"]
    assert await list_archives(LocalStore(tmp_path, "empty", fsync=False)) == []


@pytest.mark.parametrize(
    ("keys", "interrupted"),
    [
        (["20261121T101500Z.tar.zst"], True),
        (["20261121T101500Z.tar"], True),
        (["20261121T101500Z.index"], True),  # uploaded beside the archive's last parts
        (["20261121T101500Z.inventory.pages"], True),
        ([], False),
        (["20261121T101500Z.inventory.yaml"], False),
        (["20261121T101500Z.notes", "20261121T101501Z.tar.zst"], False),
    ],
)
def test_an_interrupted_ship_is_known_by_any_object_but_the_inventory(
    keys: list[str], interrupted: bool
) -> None:
    assert is_interrupted("20261121T101500Z", keys) is interrupted


@pytest.mark.asyncio
async def test_an_archive_with_only_its_index_is_incomplete_not_missing(tmp_path: Path) -> None:
    store = LocalStore(tmp_path, fsync=False)
    await store.put("20261122T000000Z.index", b"an index stored before its archive completed")
    with pytest.raises(IncompleteArchiveError, match=r"20261122T000000Z .*did not finish"):
        await load_inventory(store, "20261122T000000Z")


@pytest.mark.asyncio
async def test_load_inventory_tells_missing_incomplete_and_broken_apart(tmp_path: Path) -> None:
    store = LocalStore(tmp_path, fsync=False)
    await _ship(store, "20261121T101500Z")
    await _ship(store, "20261122T000000Z", complete=False)
    loaded = await load_inventory(store, "20261121T101500Z.tar.zst")
    assert loaded == _inventory("20261121T101500Z")
    with pytest.raises(IncompleteArchiveError, match=r"20261122T000000Z .*no inventory"):
        await load_inventory(store, "20261122T000000Z")
    with pytest.raises(ArchiveNotFoundError, match="no archive 20200101T000000Z"):
        await load_inventory(store, "20200101T000000Z")
    await store.put("20261123T000000Z.inventory.yaml", _inventory("20261121T101500Z").dumps_yaml())
    with pytest.raises(InventoryFormatError, match="describes archive 20261121T101500Z"):
        await load_inventory(store, "20261123T000000Z")
    await store.put("20261124T000000Z.inventory.yaml", b"files: [")
    with pytest.raises(InventoryFormatError, match=r"20261124T000000Z\.inventory\.yaml .*YAML"):
        await load_inventory(store, "20261124T000000Z")
