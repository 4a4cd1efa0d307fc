"""The catalog: summaries of every complete archive under a prefix, and searching them."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml

from cargoship.catalog import HEAD_BYTES, search, summaries
from cargoship.errors import ArchiveNotFoundError, IntegrityError, InventoryFormatError
from cargoship.layout import load_inventory
from cargoship.ship import ShipOptions, ship
from cargoship.verify import verify
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


# -- search through page tables -----------------------------------------------------------------

DIRECTORIES, FILES = 3, 800


def _paths() -> list[str]:
    return [f"dir{d}/file{f:04d}.txt" for d in range(DIRECTORIES) for f in range(FILES)]


@pytest_asyncio.fixture
async def paged_archive(store: ObjectStore, tmp_path: Path) -> str:
    """An archive of 2,400 small files in 3 directories: 2,403 inventory items, 5 pages."""
    tree = _tree(tmp_path / "paged", {path: f"{path}\n".encode() for path in _paths()})
    return await _ship(store, tree)


async def _inventory_paths(store: ObjectStore, name: str) -> list[str]:
    """The paths of the inventory's items in order, as PyYAML reads the document."""
    data = await store.get_range(f"{name}.inventory.yaml", 0, 1 << 30)
    document = yaml.load(data, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return [item["path"] for item in document["files"]]


@pytest.mark.asyncio
async def test_a_prefix_search_reads_only_the_pages_that_can_match(
    store: ObjectStore, paged_archive: str
) -> None:
    inventory_key = f"{paged_archive}.inventory.yaml"
    size = (await store.head(inventory_key)).size
    in_order = await _inventory_paths(store, paged_archive)
    pattern = "dir1/file00*"
    counting = _CountingStore(store)

    hits = await search(counting, pattern)

    expected = [path for path in in_order if fnmatch.fnmatchcase(path, pattern)]
    assert sorted(expected) == [f"dir1/file00{n:02d}.txt" for n in range(100)]
    assert [(hit.archive, hit.entry.path) for hit in hits] == [
        (paged_archive, path) for path in expected
    ]
    assert {hit.entry.size for hit in hits} == {len("dir1/file0000.txt\n")}
    assert f"{paged_archive}.inventory.pages" in counting.fetched
    # The head and one or two pages of 512 items (with a byte before and two after each range).
    assert counting.fetched[inventory_key] < size * 2 // 5, (counting.fetched, size)


@pytest.mark.asyncio
async def test_a_search_across_archives_keeps_their_order_paged_or_not(
    store: ObjectStore, paged_archive: str, tmp_path: Path
) -> None:
    # A later archive of three files: its one page is over half its inventory, read whole.
    later = await _ship(store, _tree(tmp_path / "later", {"dir1/file0001.txt": b"later\n"}))
    hits = await search(store, "dir1/file000?.txt")
    assert [(hit.archive, hit.entry.path) for hit in hits] == [
        *((paged_archive, f"dir1/file000{n}.txt") for n in range(10)),
        (later, "dir1/file0001.txt"),
    ]


@pytest.mark.parametrize("pattern", ["*7.txt", "?ir2/file07*", "[d]ir0/file001*"])
@pytest.mark.asyncio
async def test_a_pattern_without_a_literal_prefix_reads_the_whole_inventory(
    store: ObjectStore, paged_archive: str, pattern: str
) -> None:
    inventory_key = f"{paged_archive}.inventory.yaml"
    in_order = await _inventory_paths(store, paged_archive)
    counting = _CountingStore(store)

    hits = await search(counting, pattern)

    expected = [path for path in in_order if fnmatch.fnmatchcase(path, pattern)]
    assert expected
    assert [hit.entry.path for hit in hits] == expected
    assert counting.fetched == {inventory_key: (await store.head(inventory_key)).size}


@pytest.mark.asyncio
async def test_an_archive_without_a_page_table_is_searched_whole(
    store: ObjectStore, paged_archive: str
) -> None:
    await store.delete([f"{paged_archive}.inventory.pages"])  # as shipped before page tables
    counting = _CountingStore(store)

    hits = await search(counting, "dir1/file00*")

    assert sorted(hit.entry.path for hit in hits) == [f"dir1/file00{n:02d}.txt" for n in range(100)]
    inventory_key = f"{paged_archive}.inventory.yaml"
    assert counting.fetched == {inventory_key: (await store.head(inventory_key)).size}


async def _tampered_table(store: ObjectStore, name: str, change: Any) -> None:
    key = f"{name}.inventory.pages"
    table = json.loads(await store.get_range(key, 0, 1 << 30))
    change(table)
    await store.put(key, json.dumps(table).encode())


def _holding(table: dict[str, Any], path: str) -> dict[str, Any]:
    pages: list[dict[str, Any]] = table["pages"]
    (page,) = (page for page in pages if page["low"] <= path <= page["high"])
    return page


@pytest.mark.asyncio
async def test_a_page_table_that_lies_about_a_page_it_reads_is_refused(
    store: ObjectStore, paged_archive: str
) -> None:
    def narrow(table: dict[str, Any]) -> None:  # bounds that leave out most of its paths
        page = _holding(table, "dir1/file0050.txt")
        page["low"] = page["high"] = "dir1/file0050.txt"

    await _tampered_table(store, paged_archive, narrow)
    with pytest.raises(InventoryFormatError, match="outside its page's bounds"):
        await search(store, "dir1/file00*")

    def resized(table: dict[str, Any]) -> None:
        table["inventory_size"] += 1
        table["pages"][-1]["length"] += 1

    await _tampered_table(store, paged_archive, resized)
    with pytest.raises(InventoryFormatError, match="does not match the inventory"):
        await search(store, "dir1/file00*")


@pytest.mark.asyncio
async def test_a_lie_about_a_page_search_skips_is_what_verify_finds(
    store: ObjectStore, paged_archive: str
) -> None:
    """The limit of what search can check: bounds that move a page away from the prefix
    hide its matches (it is never read); verify, which reads every page, names it."""

    def moved(table: dict[str, Any]) -> None:
        page = _holding(table, "dir1/file0050.txt")
        page["low"], page["high"] = "dir9", "dir9/z"

    await _tampered_table(store, paged_archive, moved)
    assert len(await search(store, "dir1/file00*")) < 100
    with pytest.raises(IntegrityError, match=r"inventory\.pages: page 1 .* outside its page"):
        await verify(store, paged_archive)
