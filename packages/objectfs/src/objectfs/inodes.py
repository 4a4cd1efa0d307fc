"""Inode numbers for paths: allocated on lookup, counted, and dropped on ``forget``.

S3 has no inode numbers, so the mount hands them out: each path the kernel
learns (through lookup, create, mkdir, symlink or readdir) gets a number and
a lookup count, raised by every such reply and lowered by FUSE ``forget``
(libfuse, ``fuse_lowlevel_ops.forget``). A number is freed when its count
reaches zero; until then it keeps answering for its path, renamed along with
it. Paths are relative to the mount's prefix, ``""`` being the root, and use
``/`` between names. Numbers are never reused within a mount, so a stale
handle can never name a different file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import pyfuse3

__all__ = ["ROOT", "InodeTable", "child_path", "parent_path"]

ROOT: Final[int] = pyfuse3.ROOT_INODE


def child_path(parent: str, name: str) -> str:
    """``child_path("a/b", "c") == "a/b/c"``; under the root, just ``name``."""
    return f"{parent}/{name}" if parent else name


def parent_path(path: str) -> str:
    """``parent_path("a/b/c") == "a/b"``; ``""`` for a name at the root."""
    return path.rpartition("/")[0]


@dataclass(slots=True)
class _Entry:
    path: str | None
    """``None`` once the path was removed (the number lives on until forgotten)."""
    lookups: int


class InodeTable:
    """The two-way map between inode numbers and paths, with lookup counts."""

    def __init__(self) -> None:
        self._entries: dict[int, _Entry] = {ROOT: _Entry("", 1)}
        self._by_path: dict[str, int] = {"": ROOT}
        self._next = ROOT + 1

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, inode: object) -> bool:
        """Whether the number ``inode`` is in use (its lookup count above zero)."""
        return inode in self._entries

    def remember(self, path: str) -> int:
        """The inode of ``path`` (allocated if new), its lookup count raised by one."""
        inode = self._by_path.get(path)
        if inode is None:
            inode = self._next
            self._next += 1
            self._entries[inode] = _Entry(path, 0)
            self._by_path[path] = inode
        self._entries[inode].lookups += 1
        return inode

    def path(self, inode: int) -> str | None:
        """The path of ``inode``; ``None`` if unknown or its file was removed."""
        entry = self._entries.get(inode)
        return None if entry is None else entry.path

    def forget(self, inode: int, count: int) -> None:
        """Lower ``inode``'s lookup count by ``count``; at zero the number is freed."""
        entry = self._entries.get(inode)
        if entry is None or inode == ROOT:
            return
        entry.lookups -= count
        if entry.lookups <= 0:
            del self._entries[inode]
            if entry.path is not None and self._by_path.get(entry.path) == inode:
                del self._by_path[entry.path]

    def remove(self, path: str) -> None:
        """``path`` is gone (unlink, rmdir): its inode keeps its number but loses its path."""
        inode = self._by_path.pop(path, None)
        if inode is not None:
            self._entries[inode].path = None

    def rename(self, old: str, new: str) -> None:
        """Move ``old`` and every path under it to ``new``; whatever ``new`` was is removed."""
        self.remove(new)
        below = old + "/"
        moved = [(p, i) for p, i in self._by_path.items() if p == old or p.startswith(below)]
        for path, _ in moved:
            del self._by_path[path]
        for path, inode in moved:
            target = new + path[len(old) :]
            self.remove(target)
            self._by_path[target] = inode
            self._entries[inode].path = target
