"""The inode table: numbers for paths, lookup counts, forget, rename of subtrees."""

from __future__ import annotations

from objectfs.inodes import ROOT, InodeTable, child_path, parent_path


def test_paths() -> None:
    assert child_path("", "a") == "a"
    assert child_path("a/b", "c") == "a/b/c"
    assert parent_path("a/b/c") == "a/b"
    assert parent_path("a") == ""


def test_root_is_known_and_never_forgotten() -> None:
    table = InodeTable()
    assert table.path(ROOT) == ""
    table.forget(ROOT, 100)
    assert table.path(ROOT) == ""


def test_lookups_are_counted_until_forgotten() -> None:
    table = InodeTable()
    inode = table.remember("a")
    assert table.remember("a") == inode
    assert inode != ROOT
    table.forget(inode, 1)
    assert table.path(inode) == "a"
    table.forget(inode, 1)
    assert table.path(inode) is None
    assert table.remember("a") != inode  # numbers are never reused


def test_removed_path_keeps_its_number_without_a_path() -> None:
    table = InodeTable()
    inode = table.remember("f")
    table.remove("f")
    assert table.path(inode) is None
    assert table.remember("f") != inode
    table.forget(inode, 1)
    assert len(table) == 2  # the root and the new "f"


def test_rename_moves_the_subtree_and_replaces_the_target() -> None:
    table = InodeTable()
    d = table.remember("d")
    f = table.remember("d/sub/f")
    sibling = table.remember("dx")  # shares the prefix "d" but is not under "d/"
    old_target = table.remember("e")
    table.rename("d", "e")
    assert table.path(d) == "e"
    assert table.path(f) == "e/sub/f"
    assert table.path(sibling) == "dx"
    assert table.path(old_target) is None
    assert table.remember("e/sub/f") == f
    assert table.remember("d") not in (d, f, sibling)
