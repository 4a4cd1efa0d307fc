"""cargoship.precheck: the checks over an EntryTable made before a restore writes anything."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cargoship.entry_table import EntryTable
from cargoship.errors import DestinationExistsError, HostileMemberError
from cargoship.extract import Extractor
from cargoship.inventory import EntryType, InventoryEntry
from cargoship.precheck import LISTED_CONFLICTS, check_entries, find_conflicts

WHEN = datetime(2025, 7, 27, 10, tzinfo=UTC)


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
        archived_at=WHEN,
        mode=0o640,
        mtime_ns=1_234_567_890_123_456_789,
        link=link,
    )


@pytest.fixture
def table() -> Iterator[EntryTable]:
    with EntryTable() as opened:
        yield opened


def _fill(
    table: EntryTable, entries: Sequence[InventoryEntry], chosen: Sequence[str] | None = None
) -> EntryTable:
    wanted = None if chosen is None else set(chosen)
    table.add(entries, where="test", chosen=None if wanted is None else wanted.__contains__)
    return table


def test_a_symlink_chain_escaping_through_another_symlink_is_refused(
    tmp_path: Path, table: EntryTable
) -> None:
    # p/q/y -> ../.. is DEST itself; p/q/x -> y/../.. looks like DEST/p when read as text,
    # but the kernel resolves y first, so x points two levels above DEST.
    entries = [
        _entry("p", EntryType.DIRECTORY),
        _entry("p/q", EntryType.DIRECTORY),
        _entry("p/q/y", EntryType.SYMLINK, link="../.."),
        _entry("p/q/x", EntryType.SYMLINK, link="y/../.."),
    ]
    # External truth: build the same links and ask the kernel where x goes.
    scratch = tmp_path / "scratch" / "dest"
    (scratch / "p" / "q").mkdir(parents=True)
    (scratch / "p" / "q" / "y").symlink_to("../..")
    (scratch / "p" / "q" / "x").symlink_to("y/../..")
    assert os.path.realpath(scratch / "p" / "q" / "x") == str(scratch.parent.parent)
    assert os.path.realpath(scratch / "p" / "q" / "y") == str(scratch)

    with pytest.raises(HostileMemberError) as caught:
        check_entries(tmp_path / "dest", _fill(table, entries))
    assert caught.value.members == ("p/q/x",)


@pytest.mark.parametrize(("loop", "accepted"), [(False, True), (True, False)])
def test_links_inside_the_destination_are_accepted(
    tmp_path: Path, table: EntryTable, loop: bool, accepted: bool
) -> None:
    entries = [
        _entry("data", EntryType.DIRECTORY),
        _entry("data/big.txt", EntryType.FILE, b"x"),
        _entry("data/up", EntryType.SYMLINK, link="../data/./big.txt"),
        _entry("copy", EntryType.HARDLINK, b"x", link="data/big.txt"),
        _entry("loop", EntryType.SYMLINK, link="loop"),
    ]
    chosen = [entry.path for entry in entries if loop or entry.path != "loop"]
    _fill(table, entries, chosen)
    if accepted:
        check_entries(tmp_path, table)
    else:
        with pytest.raises(HostileMemberError, match="'loop'"):  # a loop never resolves
            check_entries(tmp_path, table)


def test_a_path_under_an_archived_symlink_is_refused_even_when_it_is_not_chosen(
    tmp_path: Path, table: EntryTable
) -> None:
    # Names that sort next to "evil" ("evil.txt" before "evil/", "evil0" after) are not under it.
    entries = [
        _entry("evil", EntryType.SYMLINK, link="elsewhere"),
        _entry("evil.txt", EntryType.FILE, b"a"),
        _entry("evil/x.txt", EntryType.FILE, b"b"),
        _entry("evil0", EntryType.FILE, b"c"),
    ]
    _fill(table, entries, ["evil.txt", "evil/x.txt", "evil0"])
    with pytest.raises(HostileMemberError) as caught:
        check_entries(tmp_path, table)
    assert caught.value.members == ("evil/x.txt",)
    assert "goes through a symlink in the archive" in str(caught.value)


def test_a_hard_link_to_a_directory_is_refused(tmp_path: Path, table: EntryTable) -> None:
    entries = [_entry("d", EntryType.DIRECTORY), _entry("h", EntryType.HARDLINK, b"", "d")]
    with pytest.raises(HostileMemberError, match="not a file in the archive"):
        check_entries(tmp_path, _fill(table, entries))


def test_a_symlink_already_in_dest_is_not_written_through(
    tmp_path: Path, table: EntryTable
) -> None:
    outside, dest = tmp_path / "outside", tmp_path / "dest"
    outside.mkdir()
    dest.mkdir()
    (dest / "data").symlink_to(outside)
    entry = _entry("data/x.txt", EntryType.FILE, b"payload")

    with pytest.raises(HostileMemberError, match="symlink 'data'"):
        find_conflicts(dest, _fill(table, [entry]), overwrite=True)
    # Even without the check, the writer opens each directory with O_NOFOLLOW.
    extractor = Extractor(dest, overwrite=True)
    try:
        with pytest.raises(HostileMemberError, match=r"data/x\.txt"):
            extractor.write_file(entry, [b"payload"])
    finally:
        extractor.close()
    assert list(outside.iterdir()) == []


def test_many_conflicts_are_counted_and_the_first_listed(tmp_path: Path, table: EntryTable) -> None:
    count = LISTED_CONFLICTS + 7
    (tmp_path / "d").mkdir()
    for number in range(count):
        (tmp_path / "d" / f"{number:05d}").write_bytes(b"")
    entries = [_entry("d", EntryType.DIRECTORY)]
    entries += [_entry(f"d/{number:05d}", EntryType.FILE) for number in range(count)]
    _fill(table, entries)

    find_conflicts(tmp_path, table, overwrite=True)
    with pytest.raises(DestinationExistsError) as caught:
        find_conflicts(tmp_path, table, overwrite=False)
    assert caught.value.paths == tuple(f"d/{number:05d}" for number in range(LISTED_CONFLICTS))
    assert f"{count} in all" in str(caught.value)
