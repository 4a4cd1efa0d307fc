"""cargoship.entry_table: inventory entries in SQLite, read back as they went in."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

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
