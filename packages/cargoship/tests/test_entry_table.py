"""cargoship.entry_table: inventory entries in SQLite, read back as they went in."""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

import cargoship.entry_table
from blobcodec.index import Member
from cargoship.entry_table import EntryTable, SeenSet, without_repeats
from cargoship.errors import InventoryFormatError
from cargoship.inventory import EntryType, Inventory, InventoryEntry
from cargoship.layout import stream_inventory
from cargoship.scan import scan
from s3opt import LocalStore

WHEN = datetime(2025, 7, 27, 10, tzinfo=UTC)


def _entry(path: str, kind: EntryType = EntryType.FILE, link: str | None = None) -> InventoryEntry:
    data = kind in (EntryType.FILE, EntryType.HARDLINK)
    checksum = "sha256:" + "ab" * 32 if data else None
    return InventoryEntry(path, kind, 3 if data else 0, checksum, "zstd", WHEN, 0o640, -5, link)


def test_entries_come_back_equal_with_non_utf8_names() -> None:
    odd = os.fsdecode(b"caf\xe9/\xff.bin")  # not UTF-8: surrogate escapes
    entries = [
        _entry(os.fsdecode(b"caf\xe9"), EntryType.DIRECTORY),
        _entry(odd),
        _entry("copy", EntryType.HARDLINK, link=odd),
        _entry("up", EntryType.SYMLINK, link="../x"),
    ]
    with EntryTable() as table:
        table.add(entries, where="test")
        assert list(table.chosen()) == entries
        assert table.get(0, odd) == entries[1]
        found, outputs = table.member_entries(0, None, odd)
        assert found == (2, entries[1])
        assert outputs == (entries[1], entries[2])  # the file first, then its hard link
        assert list(table.chosen_under(os.fsdecode(b"caf\xe9"))) == [odd]


def test_a_repeated_path_is_named() -> None:
    with EntryTable() as table, pytest.raises(InventoryFormatError, match="'a/b' repeats"):
        table.add([_entry("a"), _entry("a/b"), _entry("c"), _entry("a/b")], where="test")


def test_a_scan_lists_paths_in_the_order_without_repeats_relies_on(tmp_path: Path) -> None:
    """Depth first with names sorted by their bytes is strictly increasing order of the
    paths' bytes with "/" lowest, also where "/" sorts after a name's next byte ("a-b",
    "a.txt" against "a/x") and for names that are not UTF-8."""
    root = tmp_path / "tree"
    for name in (b"a/x", b"a/x0/y", b"a-b", b"a.txt", b"a0", b"b", b"\xff", b"caf\xc3\xa9"):
        path = os.path.join(os.fsencode(root), name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        Path(os.fsdecode(path)).write_bytes(b"")
    paths = [entry.name for entry in scan(root, on_unreadable=lambda *_: None)]
    assert len(paths) == 10  # 8 files and the directories a and a/x0
    keys = [os.fsencode(path).replace(b"/", b"\x00") for path in paths]
    assert all(before < after for before, after in itertools.pairwise(keys))
    assert sorted(paths) != paths  # plain string order is another order


async def _listed(
    store: LocalStore,
    inventory_of: Callable[[Sequence[InventoryEntry]], Inventory],
    paths: list[str],
    make_entry: Callable[..., InventoryEntry],
) -> tuple[list[str], InventoryFormatError | None]:
    """The paths without_repeats gave for an inventory listing ``paths``, and its error."""
    inventory = inventory_of([make_entry(path, EntryType.FILE, b"x") for path in paths])
    await store.put(inventory.archive.name + ".inventory.yaml", inventory.dumps_yaml())
    given: list[str] = []
    with tempfile.TemporaryFile() as file:
        stream = await stream_inventory(store, inventory.archive.name, file)
        try:
            for entry in without_repeats(stream):
                given.append(entry.path)
        except InventoryFormatError as exc:
            return given, exc
    return given, None


class _NoTable:
    def __init__(self) -> None:
        raise AssertionError("an inventory in ship's order needs no table")


@pytest.mark.asyncio
async def test_without_repeats_in_ship_order_needs_no_table_and_stops_at_the_repeat(
    tmp_path: Path,
    inventory_of: Callable[[Sequence[InventoryEntry]], Inventory],
    make_entry: Callable[..., InventoryEntry],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = LocalStore(tmp_path / "bucket")
    monkeypatch.setattr(cargoship.entry_table, "EntryTable", _NoTable)
    ordered = ["a/x", "a/x0/y", "a-b", "a.txt", "b"]
    assert await _listed(store, inventory_of, ordered, make_entry) == (ordered, None)
    given, error = await _listed(store, inventory_of, ["a/x", "a-b", "a-b", "b"], make_entry)
    assert given == ["a/x", "a-b"]
    assert error is not None
    assert "'a-b' repeats" in str(error)


@pytest.mark.asyncio
async def test_without_repeats_out_of_order_checks_every_path_once_all_are_given(
    tmp_path: Path,
    inventory_of: Callable[[Sequence[InventoryEntry]], Inventory],
    make_entry: Callable[..., InventoryEntry],
) -> None:
    store = LocalStore(tmp_path / "bucket")
    unordered = ["b", "a", "c"]
    assert await _listed(store, inventory_of, unordered, make_entry) == (unordered, None)
    given, error = await _listed(store, inventory_of, ["b", "a", "c", "a"], make_entry)
    assert given == ["b", "a", "c", "a"]  # a repeat far from its first is found at the end
    assert error is not None
    assert "'a' repeats" in str(error)


def test_the_seen_set_marks_each_number_once() -> None:
    seen = SeenSet(20)
    assert [seen.add(n) for n in (0, 7, 8, 20, 7)] == [False, False, False, False, True]
    assert 8 in seen
    assert 9 not in seen


def _walk_table(table: EntryTable) -> list[InventoryEntry]:
    entries = [
        _entry("d", EntryType.DIRECTORY),
        _entry("d/a"),
        _entry("d/b"),
        _entry("copy", EntryType.HARDLINK, link="d/b"),
        _entry("s", EntryType.SYMLINK, link="d/a"),
    ]
    inherited = InventoryEntry("old", EntryType.FILE, 3, "sha256:" + "cd" * 32, "zstd", WHEN,
                               0o640, -5, None, "older")  # fmt: skip
    table.add([*entries, inherited], where="test", chosen=lambda path: path != "d/a")
    return entries


def _expected(entries: list[InventoryEntry]) -> dict[str, object]:
    d, a, b, copy, s = entries
    return {
        "d": ((1, d), ()),
        "d/a": ((2, a), ()),  # not chosen: checked, not written
        "d/b": ((3, b), (b, copy)),  # its bytes also feed the hard link
        "copy": ((4, copy), ()),
        "s": ((5, s), ()),
        "old": (None, ()),  # stored in the older archive, not this one
        "ghost": (None, ()),
    }


@pytest.mark.parametrize(
    "order",
    [
        ["d", "d/a", "d/b", "copy", "s"],  # the order ship writes
        ["s", "copy", "d/b", "d/a", "d"],  # reversed: every lookup a query
        ["d", "ghost", "d/b", "d/a", "old", "copy", "s"],  # strays and a swap
    ],
)
def test_a_walk_answers_each_lookup_in_any_order(order: list[str]) -> None:
    with EntryTable() as table:
        expected = _expected(_walk_table(table))
        walk = table.walk(0, None, outputs=True)
        stored = table.walk(0, None, outputs=False)
        seen, seen_stored = SeenSet(table.rows), SeenSet(table.rows)
        for path in order:
            found, outputs = walk.member_entries(path, seen)
            assert (found, outputs) == expected[path], path
            assert stored.stored(path, seen_stored) == found
            for number, marks in ((found, seen), (found, seen_stored)):
                if number is not None:
                    assert not marks.add(number[0])


def test_a_walk_finds_a_member_stored_twice_again() -> None:
    with EntryTable() as table:
        entries = _walk_table(table)
        walk = table.walk(0, None, outputs=True)
        seen = SeenSet(table.rows)
        for path in ("d", "d/a", "d"):
            found, _ = walk.member_entries(path, seen)
            assert found is not None
            duplicate = seen.add(found[0])
        assert found == (1, entries[0])
        assert duplicate  # the caller refuses it as stored twice


def test_a_walk_of_an_older_archive_gives_the_entries_it_feeds() -> None:
    inherited = InventoryEntry("x", EntryType.FILE, 3, "sha256:" + "ab" * 32, "zstd", WHEN,
                               0o640, -5, None, "older")  # fmt: skip
    older = [_entry("x"), _entry("z")]
    with EntryTable() as table:
        table.add([inherited, _entry("y")], where="new")
        inv = table.add(older, where="older")
        walk = table.walk(inv, "older", outputs=True)
        seen = SeenSet(table.rows)
        assert walk.member_entries("x", seen) == ((3, older[0]), (inherited,))
        assert walk.member_entries("z", seen) == ((4, older[1]), ())


def test_members_come_back_in_the_order_added() -> None:
    members = [
        Member(f"m{n}", "file", n, 0o644, 1.5, 0, 0, "", 512 * (2 * n + 1), range(n, n + 1), None)
        for n in (2, 0, 1)
    ]
    with EntryTable() as table:
        for member in members:
            table.add_member(0, member)
        table.flush_members()
        assert list(table.members()) == members


def test_extend_adds_unchosen_entries_to_the_last_inventory() -> None:
    chosen = [_entry("d/a"), _entry("copy", EntryType.HARDLINK, link="d/b")]
    needed = [_entry("d", EntryType.DIRECTORY), _entry("d/b")]
    with EntryTable() as table:
        inv = table.add(chosen, where="test")
        table.extend(inv, needed, where="test")
        assert table.rows == 4
        assert list(table.chosen()) == chosen
        assert table.get(0, "d/b") == needed[1]
        assert table.chosen_link("d/b") is None  # there, but not chosen
        assert list(table.stored_paths(0)) == [(1, "d/a"), (2, "copy"), (3, "d"), (4, "d/b")]
        assert sorted(table.sources(None)) == ["d/a", "d/b"]
        assert list(table.sources("20250101T000000Z")) == []
        with pytest.raises(InventoryFormatError, match="'d/a' repeats"):
            table.extend(inv, [_entry("d/a")], where="test")
        older = table.add([_entry("x")], where="older")
        with pytest.raises(ValueError, match="added last"):
            table.extend(inv, [_entry("y")], where="test")
        assert list(table.stored_paths(older)) == [(6, "x")]
