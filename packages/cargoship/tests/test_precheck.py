"""cargoship.precheck: the checks over an EntryTable made before a restore writes anything."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from cargoship.entry_table import EntryTable
from cargoship.errors import DestinationExistsError, HostileMemberError
from cargoship.extract import Extractor
from cargoship.inventory import EntryType, InventoryEntry
from cargoship.precheck import LISTED_CONFLICTS, check_entries, find_conflicts


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
    make_entry: Callable[..., InventoryEntry], tmp_path: Path, table: EntryTable
) -> None:
    # p/q/y -> ../.. is DEST itself; p/q/x -> y/../.. looks like DEST/p when read as text,
    # but the kernel resolves y first, so x points two levels above DEST.
    entries = [
        make_entry("p", EntryType.DIRECTORY),
        make_entry("p/q", EntryType.DIRECTORY),
        make_entry("p/q/y", EntryType.SYMLINK, link="../.."),
        make_entry("p/q/x", EntryType.SYMLINK, link="y/../.."),
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
    make_entry: Callable[..., InventoryEntry],
    tmp_path: Path,
    table: EntryTable,
    loop: bool,
    accepted: bool,
) -> None:
    entries = [
        make_entry("data", EntryType.DIRECTORY),
        make_entry("data/big.txt", EntryType.FILE, b"x"),
        make_entry("data/up", EntryType.SYMLINK, link="../data/./big.txt"),
        make_entry("copy", EntryType.HARDLINK, b"x", link="data/big.txt"),
        make_entry("loop", EntryType.SYMLINK, link="loop"),
    ]
    chosen = [entry.path for entry in entries if loop or entry.path != "loop"]
    _fill(table, entries, chosen)
    if accepted:
        check_entries(tmp_path, table)
    else:
        with pytest.raises(HostileMemberError, match="'loop'"):  # a loop never resolves
            check_entries(tmp_path, table)


def test_a_path_under_an_archived_symlink_is_refused_even_when_it_is_not_chosen(
    make_entry: Callable[..., InventoryEntry], tmp_path: Path, table: EntryTable
) -> None:
    # Names that sort next to "evil" ("evil.txt" before "evil/", "evil0" after) are not under it.
    entries = [
        make_entry("evil", EntryType.SYMLINK, link="elsewhere"),
        make_entry("evil.txt", EntryType.FILE, b"a"),
        make_entry("evil/x.txt", EntryType.FILE, b"b"),
        make_entry("evil0", EntryType.FILE, b"c"),
    ]
    _fill(table, entries, ["evil.txt", "evil/x.txt", "evil0"])
    with pytest.raises(HostileMemberError) as caught:
        check_entries(tmp_path, table)
    assert caught.value.members == ("evil/x.txt",)
    assert "goes through a symlink in the archive" in str(caught.value)


def test_outside_symlinks_are_allowed_on_request_but_never_as_a_way_through(
    make_entry: Callable[..., InventoryEntry], tmp_path: Path, table: EntryTable
) -> None:
    entries = [
        make_entry("venv", EntryType.DIRECTORY),
        make_entry("venv/python", EntryType.SYMLINK, link="/usr/bin/python3"),
        make_entry("up", EntryType.SYMLINK, link="../elsewhere"),
        make_entry("etc", EntryType.SYMLINK, link="/etc"),
        make_entry("etc/passwd", EntryType.FILE, b"root::0:0::/:/bin/sh"),
    ]
    _fill(table, entries)
    with pytest.raises(HostileMemberError) as refused:
        check_entries(tmp_path, table)
    assert set(refused.value.members) == {"venv/python", "up", "etc", "etc/passwd"}
    assert "--allow-outside-symlinks" in str(refused.value)
    # Allowed, the links may be created; a file under one still may not.
    with pytest.raises(HostileMemberError) as still:
        check_entries(tmp_path, table, outside_symlinks=True)
    assert still.value.members == ("etc/passwd",)
    assert "goes through a symlink in the archive" in str(still.value)
    assert "--allow-outside-symlinks" not in str(still.value)


def test_a_hard_link_to_a_directory_is_refused(
    make_entry: Callable[..., InventoryEntry], tmp_path: Path, table: EntryTable
) -> None:
    entries = [make_entry("d", EntryType.DIRECTORY), make_entry("h", EntryType.HARDLINK, b"", "d")]
    with pytest.raises(HostileMemberError, match="not a file in the archive"):
        check_entries(tmp_path, _fill(table, entries))


def test_a_symlink_already_in_dest_is_not_written_through(
    make_entry: Callable[..., InventoryEntry], tmp_path: Path, table: EntryTable
) -> None:
    outside, dest = tmp_path / "outside", tmp_path / "dest"
    outside.mkdir()
    dest.mkdir()
    (dest / "data").symlink_to(outside)
    entry = make_entry("data/x.txt", EntryType.FILE, b"payload")

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


def test_many_conflicts_are_counted_and_the_first_listed(
    make_entry: Callable[..., InventoryEntry], tmp_path: Path, table: EntryTable
) -> None:
    count = LISTED_CONFLICTS + 7
    (tmp_path / "d").mkdir()
    for number in range(count):
        (tmp_path / "d" / f"{number:05d}").write_bytes(b"")
    entries = [make_entry("d", EntryType.DIRECTORY)]
    entries += [make_entry(f"d/{number:05d}", EntryType.FILE) for number in range(count)]
    _fill(table, entries)

    find_conflicts(tmp_path, table, overwrite=True)
    with pytest.raises(DestinationExistsError) as caught:
        find_conflicts(tmp_path, table, overwrite=False)
    assert caught.value.paths == tuple(f"d/{number:05d}" for number in range(LISTED_CONFLICTS))
    assert f"{count} in all" in str(caught.value)


def test_an_empty_or_absent_dest_is_not_looked_into_per_entry(
    make_entry: Callable[..., InventoryEntry],
    tmp_path: Path,
    table: EntryTable,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    entries = [make_entry("d", EntryType.DIRECTORY)]
    entries += [make_entry(f"d/{number}", EntryType.FILE) for number in range(50)]
    _fill(table, entries)
    looked: list[str] = []
    real_lstat = os.lstat

    def lstat(path: str, *args: object, **kwargs: object) -> os.stat_result:
        looked.append(path)
        return real_lstat(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "lstat", lstat)
    (tmp_path / "empty").mkdir()
    find_conflicts(tmp_path / "empty", table, overwrite=False)
    find_conflicts(tmp_path / "absent", table, overwrite=False)
    assert looked == []
    # One name in DEST and the entries are looked at again: the existing one conflicts.
    (tmp_path / "empty" / "d").mkdir()
    (tmp_path / "empty" / "d" / "7").write_bytes(b"")
    with pytest.raises(DestinationExistsError) as caught:
        find_conflicts(tmp_path / "empty", table, overwrite=False)
    assert caught.value.paths == ("d/7",)
    assert looked


def test_hard_links_must_name_a_file_of_the_archive(
    make_entry: Callable[..., InventoryEntry], tmp_path: Path, table: EntryTable
) -> None:
    entries = [
        make_entry("a.txt", EntryType.FILE, b"bytes"),
        make_entry("s", EntryType.SYMLINK, link="a.txt"),
        make_entry("good", EntryType.HARDLINK, b"bytes", "a.txt"),
        make_entry("to-missing", EntryType.HARDLINK, b"bytes", "nowhere.txt"),
        make_entry("to-symlink", EntryType.HARDLINK, b"bytes", "s"),
    ]
    with pytest.raises(HostileMemberError) as caught:
        check_entries(tmp_path, _fill(table, entries))
    assert caught.value.members == ("to-missing", "to-symlink")
    assert "'to-missing' (hard link to 'nowhere.txt', which is not a file" in str(caught.value)
    assert "'to-symlink' (hard link to 's', which is not a file" in str(caught.value)
    # Only the chosen ones are checked.
    with EntryTable() as other:
        check_entries(tmp_path, _fill(other, entries, chosen=["a.txt", "good"]))
