"""The catalog: inventories of every complete archive under a prefix, and searching them."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_asyncio

from cargoship.catalog import archives, search
from cargoship.errors import InventoryFormatError
from cargoship.inventory import EntryType
from cargoship.ship import ShipOptions, ship
from s3opt import ObjectStore


def _tree(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


async def _ship(store: ObjectStore, tree: Path) -> str:
    return (await ship(store, tree, ShipOptions(threads=1))).keys.name


@pytest_asyncio.fixture
async def two_archives(store: ObjectStore, tmp_path: Path) -> tuple[str, str]:
    first = _tree(
        tmp_path / "first",
        {"reports/2025.csv": b"a,b\n1,2\n", "reports/notes.txt": b"first\n", "README": b"1\n"},
    )
    second = _tree(
        tmp_path / "second",
        {"reports/2026.csv": b"a,b\n3,4\n", "photos/cat.jpg": b"\xff\xd8jpeg", "README": b"2\n"},
    )
    return await _ship(store, first), await _ship(store, second)


@pytest.mark.asyncio
async def test_archives_lists_every_complete_archive_oldest_first(
    store: ObjectStore, two_archives: tuple[str, str]
) -> None:
    # An interrupted ship (archive object, no inventory) is not in the catalog.
    await store.put("29991231T235959Z.tar.zst", b"half an archive")
    found = await archives(store)
    assert [inventory.archive.name for inventory in found] == list(two_archives)
    first, second = found
    assert {entry.path for entry in first.entries if entry.type is EntryType.FILE} == {
        "reports/2025.csv",
        "reports/notes.txt",
        "README",
    }
    assert second.entry("photos/cat.jpg").size == 6


@pytest.mark.asyncio
async def test_search_matches_paths_across_archives(
    store: ObjectStore, two_archives: tuple[str, str]
) -> None:
    first, second = two_archives
    hits = await search(store, "reports/*.csv")
    assert [(hit.archive, hit.entry.path) for hit in hits] == [
        (first, "reports/2025.csv"),
        (second, "reports/2026.csv"),
    ]
    readme = await search(store, "README")
    assert [(hit.archive, hit.entry.size) for hit in readme] == [(first, 2), (second, 2)]
    # "*" crosses "/"; matching is case-sensitive; nothing found is an empty list.
    assert [hit.entry.path for hit in await search(store, "*.jpg")] == ["photos/cat.jpg"]
    assert await search(store, "readme") == []
    assert await search(store, "*.pdf") == []


@pytest.mark.asyncio
async def test_an_empty_prefix_has_no_archives(store: ObjectStore) -> None:
    assert await archives(store) == []
    assert await search(store, "*") == []


@pytest.mark.asyncio
async def test_a_damaged_inventory_is_reported(
    store: ObjectStore, two_archives: tuple[str, str]
) -> None:
    await store.put(f"{two_archives[1]}.inventory.yaml", b"files: [oops")
    with pytest.raises(InventoryFormatError, match=two_archives[1]):
        await archives(store)
