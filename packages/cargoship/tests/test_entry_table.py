"""cargoship.entry_table: inventory entries in SQLite, read back as they went in."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

from blobcodec.index import Member
from cargoship.entry_table import EntryTable, SeenSet
from cargoship.errors import InventoryFormatError
from cargoship.inventory import EntryType, InventoryEntry

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
