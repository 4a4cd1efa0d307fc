"""SourceTable: entries read back equal to the scan's, at a fraction of their memory."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import pytest

from cargoship.inventory import EntryType
from cargoship.scan import SourceEntry, scan
from cargoship.source_table import SourceTable


def _scanned(root: Path) -> list[SourceEntry]:
    return list(scan(root, on_unreadable=lambda path, error: pytest.fail(f"{path}: {error}")))


def test_entries_read_back_equal_to_the_scanned_ones(tmp_path: Path) -> None:
    (tmp_path / "dir" / "sub").mkdir(parents=True)
    (tmp_path / "dir" / "sub" / "data.bin").write_bytes(b"x" * 3000)
    (tmp_path / "empty").write_bytes(b"")
    (tmp_path / os.fsdecode(b"caf\xe9")).write_bytes(b"latin-1 name")  # not UTF-8
    (tmp_path / "link").symlink_to("dir/sub")
    os.link(tmp_path / "empty", tmp_path / "hard")
    os.utime(tmp_path / "empty", ns=(0, 1_700_000_000_123_456_789))
    (tmp_path / "dir").chmod(0o2750)
    entries = _scanned(tmp_path)
    table = SourceTable(tmp_path, entries)
    assert list(table) == entries
    assert len(table) == len(entries) == 7
    assert [table[index] for index in range(-len(entries), len(entries))] == entries * 2
    assert table[1:3] == entries[1:3]
    link = next(entry for entry in table if entry.type is EntryType.SYMLINK)
    assert link.link == "dir/sub"
    assert os.fsencode(tmp_path / os.fsdecode(b"caf\xe9")) in {entry.fspath for entry in table}
    assert {entry.nlink for entry in table if entry.name in ("empty", "hard")} == {2}
    with pytest.raises(IndexError):
        table[len(entries)]


def test_file_facts_are_each_regular_files_lstat_fields(tmp_path: Path) -> None:
    """(size, mode, uid, gid, mtime_ns), (st_dev, st_ino), st_nlink of every regular file, in
    scan order, compared with os.lstat; names in ``skip`` (even not UTF-8) left out."""
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "data.bin").write_bytes(b"x" * 3000)
    (tmp_path / os.fsdecode(b"caf\xe9")).write_bytes(b"latin-1 name")
    (tmp_path / "empty").write_bytes(b"")
    os.link(tmp_path / "empty", tmp_path / "hard")
    (tmp_path / "link").symlink_to("dir")
    table = SourceTable(tmp_path, _scanned(tmp_path))

    def facts(name: str) -> tuple[tuple[int, int, int, int, int], tuple[int, int], int]:
        info = os.lstat(tmp_path / name)
        key = (info.st_size, info.st_mode & 0o7777, info.st_uid, info.st_gid, info.st_mtime_ns)
        return key, (info.st_dev, info.st_ino), info.st_nlink

    files = [os.fsdecode(b"caf\xe9"), "dir/data.bin", "empty", "hard"]  # sorted by bytes
    assert list(table.file_facts()) == [facts(name) for name in files]
    skip = {os.fsdecode(b"caf\xe9"), "empty"}
    assert list(table.file_facts(skip)) == [facts("dir/data.bin"), facts("hard")]


def test_an_entry_from_elsewhere_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "f").write_bytes(b"1")
    entry = _scanned(tmp_path / "a")[0]
    with pytest.raises(ValueError, match="not 'f' under"):
        SourceTable(tmp_path, [entry])


def test_memory_per_entry_is_the_columns_and_the_name() -> None:
    """Columns of 1+8+2+8+4+4+8+8+8 bytes, an 8-byte name end and the name's bytes: 59 + 20
    here, plus what the arrays and the name buffer keep spare (they grow by 1/16 to 1/8).
    The SourceEntry objects take about 500 bytes each."""
    root = Path("/data")
    count = 20_000
    entries = [
        SourceEntry(
            b"/data/d%03d/file-%06d.txt" % (number // 1000, number),
            f"d{number // 1000:03d}/file-{number:06d}.txt",
            EntryType.FILE,
            1000 + number,
            0o644,
            1_700_000_000_000_000_000 + number,
            1000,
            1000,
            (2049, 5_000_000 + number),
            1,
            None,
        )
        for number in range(count)
    ]
    assert len(entries[0].name) == 20
    tracemalloc.start()
    try:
        table = SourceTable(root, entries)
        size, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert list(table) == entries
    assert size / count < (59 + 20) * 1.25, size / count
