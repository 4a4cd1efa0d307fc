"""The catalog: summaries of every complete archive under a prefix, and searching them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from cargoship.catalog import HEAD_BYTES, search, summaries
from cargoship.errors import ArchiveNotFoundError, InventoryFormatError
from cargoship.layout import load_inventory
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
    found = await summaries(store)
    assert [summary.archive.name for summary in found] == list(two_archives)
    for summary in found:
        assert summary.totals.files == 3
        assert summary.totals.bytes_in == 16  # 8 + 6 + 2 bytes in each tree
        whole = await load_inventory(store, summary.archive.name)
        assert (summary.archive, summary.totals) == (whole.archive, whole.totals)
        document = whole.to_json()
        del document["files"]
        assert summary.to_json() == document


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
    assert await summaries(store) == []
    assert await search(store, "*") == []


@pytest.mark.asyncio
async def test_a_damaged_inventory_is_reported(
    store: ObjectStore, two_archives: tuple[str, str]
) -> None:
    await store.put(f"{two_archives[1]}.inventory.yaml", b"files: [oops")
    with pytest.raises(InventoryFormatError, match=two_archives[1]):
        await summaries(store)
    with pytest.raises(InventoryFormatError, match=two_archives[1]):
        await search(store, "*")


class _CountingStore:
    """The test's store, counting the bytes each key's reads returned."""

    def __init__(self, inner: ObjectStore) -> None:
        self._inner = inner
        self.fetched: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def get_range(self, key: str, offset: int, size: int, **kwargs: Any) -> bytes:
        data = await self._inner.get_range(key, offset, size, **kwargs)
        self.fetched[key] = self.fetched.get(key, 0) + len(data)
        return data

    async def get(self, key: str) -> AsyncIterator[bytes]:
        async for chunk in self._inner.get(key):
            self.fetched[key] = self.fetched.get(key, 0) + len(chunk)
            yield chunk


@pytest.mark.asyncio
async def test_a_summary_reads_only_the_head_of_a_large_inventory(
    store: ObjectStore, tmp_path: Path
) -> None:
    tree = _tree(tmp_path / "many", {f"d{n % 7}/file-{n:05d}.txt": b"%d\n" % n for n in range(600)})
    name = await _ship(store, tree)
    inventory_key = f"{name}.inventory.yaml"
    assert (await store.head(inventory_key)).size > 2 * HEAD_BYTES
    counting = _CountingStore(store)
    (summary,) = await summaries(counting)
    assert counting.fetched == {inventory_key: HEAD_BYTES}
    assert summary.totals.files == 600
    whole = await load_inventory(store, name)
    assert (summary.archive, summary.totals) == (whole.archive, whole.totals)


@pytest.mark.asyncio
async def test_an_inventory_for_another_archive_is_refused(
    store: ObjectStore, two_archives: tuple[str, str]
) -> None:
    first, second = two_archives
    # The head parses, but names the other archive: the whole document is read and refused.
    copied = await load_inventory(store, first)
    await store.put(f"{second}.inventory.yaml", copied.dumps_yaml())
    with pytest.raises(InventoryFormatError, match=f"describes archive {first}"):
        await summaries(store)


@pytest.mark.asyncio
async def test_a_search_in_one_archive_reads_only_its_inventory(
    store: ObjectStore, two_archives: tuple[str, str]
) -> None:
    second = two_archives[1]
    counting = _CountingStore(store)
    hits = await search(counting, "*", archive=second)
    assert {hit.archive for hit in hits} == {second}
    assert sorted(hit.entry.path for hit in hits if hit.entry.size) == [
        "README",
        "photos/cat.jpg",
        "reports/2026.csv",
    ]
    assert set(counting.fetched) == {f"{second}.inventory.yaml"}
    with pytest.raises(ArchiveNotFoundError):
        await search(store, "*", archive="20000101T000000Z")
