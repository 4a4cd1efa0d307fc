"""copy_groups: which files may be copies, from their lstat alone, on a real tree."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cargoship.duplicates import copy_groups
from cargoship.scan import scan
from cargoship.source_table import SourceTable

_MTIME = 1_700_000_000_000_000_000


def _write(path: Path, data: bytes, mtime_ns: int = _MTIME) -> None:
    path.write_bytes(data)
    path.chmod(0o644)
    os.utime(path, ns=(0, mtime_ns))


def test_groups_are_keys_of_two_inodes_and_shared_inodes_are_links_inside(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    _write(tree / "a", b"same")
    _write(tree / "b", b"diff")  # same size and metadata, other inode: a group
    _write(tree / "c", b"same", _MTIME + 1)  # another mtime: alone
    _write(tree / "e1", b"")
    _write(tree / "e2", b"")  # empty files: never grouped
    _write(tree / "h", b"hard-linked")
    os.link(tree / "h", tree / "h2")  # two paths, one inode: shared, not a group
    _write(tree / "out", b"linked outside")
    os.link(tree / "out", tmp_path / "elsewhere")  # nlink 2, one path in the tree
    table = SourceTable(tree, scan(tree, on_unreadable=lambda path, error: pytest.fail(str(path))))
    info = os.lstat(tree / "a")
    h = os.lstat(tree / "h")
    # From the table's columns (SourceTable.file_facts) and from a list of entries alike.
    for entries in (table, list(table)):
        groups = copy_groups(entries)
        assert groups.keys == {(4, 0o644, info.st_uid, info.st_gid, _MTIME)}
        assert groups.shared_inodes == {(h.st_dev, h.st_ino)}
        assert [entry.name for entry in table if groups.grouped(entry)] == ["a", "b"]


def test_an_iterator_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="collection"):
        copy_groups(iter([]))
