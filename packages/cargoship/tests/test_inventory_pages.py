"""The inventory's page table: written by ship, read by ``restore --include`` (moto over HTTP).

The table is checked against PyYAML's own reading of the inventory bytes it points
at; restores are checked against the source tree and against :func:`fnmatch.fnmatchcase`
over the source's paths; a table that lies is refused before anything is written.
"""

from __future__ import annotations

import fnmatch
import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from cargoship.errors import InventoryFormatError
from cargoship.inventory import _write
from cargoship.inventory._pages import PageRecorder, glob_prefix, parse_pages
from cargoship.restore import RestoreOptions, restore
from cargoship.ship import ShipOptions, ship
from s3opt import ObjectStore


def _tree(root: Path, directories: int, files: int) -> list[str]:
    """``directories`` directories of ``files`` small files each; the file paths."""
    paths = []
    for d in range(directories):
        (root / f"dir{d}").mkdir(parents=True)
        for f in range(files):
            path = f"dir{d}/file{f:04d}.txt"
            (root / path).write_text(f"{path}\n")
            paths.append(path)
    return paths


async def _get(store: ObjectStore, key: str) -> bytes:
    return await store.get_range(key, 0, 1 << 30)


def _restored(dest: Path) -> set[str]:
    return {p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()}


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages of 4 items, so a tree of a few dozen entries spans many pages."""
    monkeypatch.setattr(_write, "PageRecorder", functools.partial(PageRecorder, 4))


@pytest.mark.asyncio
@pytest.mark.usefixtures("small_pages")
async def test_the_page_table_tiles_the_inventory_as_yaml_reads_it(
    store: ObjectStore, tmp_path: Path
) -> None:
    paths = _tree(tmp_path / "source", 3, 7)
    shipped = await ship(store, tmp_path / "source", ShipOptions())
    inventory = await _get(store, shipped.keys.inventory)
    table = json.loads(await _get(store, shipped.keys.pages))

    assert table["format"] == "cargoship-inventory-pages/1"
    assert table["inventory_size"] == len(inventory)
    head = yaml.safe_load(inventory[: table["head_length"]])
    assert head["files"] is None  # the head ends with the bare `files:` line
    assert head["archive"]["name"] == shipped.keys.name
    items: list[dict[str, Any]] = []
    offset = table["head_length"]
    for page in table["pages"]:
        assert page["offset"] == offset
        offset += page["length"]
        loaded = yaml.safe_load(inventory[page["offset"] : offset])
        assert len(loaded) == page["items"] <= 4
        keys = [item["path"].encode() for item in loaded]
        assert (page["low"].encode(), page["high"].encode()) == (min(keys), max(keys))
        items += loaded
    assert offset == len(inventory)
    assert items == yaml.safe_load(inventory)["files"]
    assert {item["path"] for item in items} == {*paths, "dir0", "dir1", "dir2"}


@pytest.mark.asyncio
async def test_one_file_include_reads_a_few_pages_of_the_inventory(
    store: ObjectStore, tmp_path: Path
) -> None:
    """2,400 files (5 pages of 512 items): the head and the pages holding the file and its
    directory are read, not the whole inventory."""
    _tree(tmp_path / "source", 2, 1200)
    shipped = await ship(store, tmp_path / "source", ShipOptions())
    inventory_size = len(await _get(store, shipped.keys.inventory))
    table_bytes = await _get(store, shipped.keys.pages)
    table = json.loads(table_bytes)
    assert len(table["pages"]) == 5  # 2,402 items

    dest = tmp_path / "one"
    report = await restore(
        store, shipped.keys.name, dest, RestoreOptions(include=("dir1/file0700.txt",))
    )

    assert _restored(dest) == {"dir1/file0700.txt"}
    assert (dest / "dir1/file0700.txt").read_text() == "dir1/file0700.txt\n"
    assert report.verified == 1
    # The table, a HEAD, the head, the pages that can hold dir1 and the file (each range
    # with a byte before and two after it: at most three ranges).
    read = {
        n
        for n, p in enumerate(table["pages"])
        for path in ("dir1", "dir1/file0700.txt")
        if p["low"] <= path <= p["high"]
    }
    assert len(read) <= 2
    pages_bytes = sum(table["pages"][n]["length"] for n in read)
    assert report.inventory_bytes <= len(table_bytes) + table["head_length"] + pages_bytes + 9
    assert report.inventory_bytes < inventory_size // 2, (report.inventory_bytes, inventory_size)
    assert report.inventory_requests <= 5


@pytest.mark.parametrize(
    "glob",
    ["dir1/file00*", "dir0/file01?0.txt", "dir1/file012[0-3].txt", "*7.txt", "dir?/file0009.txt"],
)
@pytest.mark.asyncio
@pytest.mark.usefixtures("small_pages")
async def test_globs_restore_exactly_what_fnmatch_selects(
    store: ObjectStore, tmp_path: Path, glob: str
) -> None:
    paths = _tree(tmp_path / "source", 2, 130)
    shipped = await ship(store, tmp_path / "source", ShipOptions())
    inventory_size = len(await _get(store, shipped.keys.inventory))
    dest = tmp_path / "restored"

    report = await restore(store, shipped.keys.name, dest, RestoreOptions(include=(glob,)))

    expected = {path for path in paths if fnmatch.fnmatchcase(path, glob)}
    assert expected
    assert _restored(dest) == expected
    for path in expected:
        assert (dest / path).read_text() == f"{path}\n"
    if not glob_prefix(glob):  # any page may match: the inventory is read whole, no table
        assert report.inventory_bytes == inventory_size


_TARGET = "dir1/file0005.txt"


def _target_page(table: dict[str, Any]) -> int:
    (number,) = (n for n, p in enumerate(table["pages"]) if p["low"] <= _TARGET <= p["high"])
    return number


def _shift_start(table: dict[str, Any]) -> str:
    """The range of the page the restore reads starts 3 bytes into its first item."""
    number = _target_page(table)
    table["pages"][number - 1]["length"] += 3
    table["pages"][number]["offset"] += 3
    table["pages"][number]["length"] -= 3
    return "item bounds"


def _overlap(table: dict[str, Any]) -> str:
    table["pages"][1]["offset"] -= 1
    table["pages"][1]["length"] += 1
    return "overlaps the bytes before it"


def _gap(table: dict[str, Any]) -> str:
    table["pages"][1]["offset"] += 1
    table["pages"][1]["length"] -= 1
    return "leaves a gap"


def _short(table: dict[str, Any]) -> str:
    del table["pages"][-1]
    return "not at the inventory's end"


def _size(table: dict[str, Any]) -> str:
    table["inventory_size"] += 10
    table["pages"][-1]["length"] += 10
    return "describes an inventory of"


def _count(table: dict[str, Any]) -> str:
    for page in table["pages"]:
        page["items"] += 1
    return "the page table says"


def _bounds(table: dict[str, Any]) -> str:
    page = table["pages"][_target_page(table)]
    page["low"] = page["high"] = _TARGET
    return "outside its page's bounds"


@pytest.mark.parametrize("tamper", [_shift_start, _overlap, _gap, _short, _size, _count, _bounds])
@pytest.mark.asyncio
@pytest.mark.usefixtures("small_pages")
async def test_a_page_table_that_disagrees_with_the_inventory_is_refused(
    store: ObjectStore, tmp_path: Path, tamper: Callable[[dict[str, Any]], str]
) -> None:
    _tree(tmp_path / "source", 2, 12)
    shipped = await ship(store, tmp_path / "source", ShipOptions())
    table = json.loads(await _get(store, shipped.keys.pages))
    problem = tamper(table)
    await store.put(shipped.keys.pages, json.dumps(table).encode())
    dest = tmp_path / "restored"

    with pytest.raises(InventoryFormatError, match=problem):
        await restore(store, shipped.keys.name, dest, RestoreOptions(include=(_TARGET,)))

    assert not dest.exists() or not list(dest.iterdir())


@pytest.mark.asyncio
async def test_an_archive_without_a_page_table_restores_by_include_reading_it_whole(
    store: ObjectStore, tmp_path: Path
) -> None:
    _tree(tmp_path / "source", 2, 12)
    shipped = await ship(store, tmp_path / "source", ShipOptions())
    inventory_size = len(await _get(store, shipped.keys.inventory))
    await store.delete([shipped.keys.pages])  # as ship wrote archives before page tables
    dest = tmp_path / "restored"

    report = await restore(
        store, shipped.keys.name, dest, RestoreOptions(include=("dir1/file0005.txt",))
    )

    assert _restored(dest) == {"dir1/file0005.txt"}
    assert report.inventory_bytes == inventory_size
    whole = tmp_path / "whole"
    await restore(store, shipped.keys.name, whole, RestoreOptions())
    assert len(_restored(whole)) == 24


def test_a_page_table_of_a_newer_format_is_passed_over_and_nonsense_refused() -> None:
    assert parse_pages(b'{"format": "cargoship-inventory-pages/2"}', "t") is None
    with pytest.raises(InventoryFormatError, match="not valid JSON"):
        parse_pages(b"{", "t")
    with pytest.raises(InventoryFormatError, match="low 'b' is above high 'a'"):
        parse_pages(
            b'{"format": "cargoship-inventory-pages/1", "inventory_size": 20, "head_length": 10,'
            b' "pages": [{"offset": 10, "length": 10, "items": 1, "low": "b", "high": "a"}]}',
            "t",
        )


def test_pages_holding_a_prefix_or_a_path_are_those_whose_bounds_can() -> None:
    """Against brute force: a page is chosen when a path of it starts with the prefix (or is
    the path); bounds may choose more, never fewer."""
    paths = sorted(f"{a}/{b}{c}" for a in ("x", "x.y", "xz") for b in "ab/" for c in "01")
    paths = [path.replace("//", "/") for path in paths]
    recorder = PageRecorder(3)
    for path in paths:
        recorder.add(path, 10)
    table = recorder.table(5)
    assert table is not None
    pages = [paths[n : n + 3] for n in range(0, len(paths), 3)]
    for prefix in ("x", "x/", "x.", "x/a", "xz/b1", "y", "x/b1"):
        chosen = table.holding(prefixes=[prefix])
        must = [n for n, held in enumerate(pages) if any(p.startswith(prefix) for p in held)]
        assert set(must) <= set(chosen), prefix
        assert set(table.holding(paths=[prefix])) >= {
            n for n, held in enumerate(pages) if prefix in held
        }
    assert table.holding(prefixes=["y"]) == []
