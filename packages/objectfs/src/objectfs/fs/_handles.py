"""Open files and open directories of the mount, by FUSE file handle."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field

from objectfs.fs._namespace import Node
from objectfs.readahead import SequentialDetector
from objectfs.writeback import StagedFile

__all__ = ["DirStream", "FileHandle", "HandleTable"]


@dataclass(slots=True)
class FileHandle:
    """One open file: the object version it reads, its read-ahead state, its staged file."""

    inode: int
    key: str
    etag: str
    size: int
    detector: SequentialDetector
    staged: StagedFile | None
    """Set for handles opened for writing."""


@dataclass(slots=True)
class DirStream:
    """One open directory, read page by page: where the listing is and what is held back."""

    path: str
    entries: AsyncGenerator[tuple[str, Node, bool], None] | None = None
    position: int = 0
    """The index of the next entry the listing yields (``readdir``'s ``start_id``)."""
    held: tuple[str, Node, bool] | None = None
    """An entry the kernel had no room for, offered again at the next ``readdir``."""


@dataclass
class HandleTable:
    """File handles (small integers, never reused while open) for files and directories."""

    files: dict[int, FileHandle] = field(default_factory=dict)
    dirs: dict[int, DirStream] = field(default_factory=dict)
    _next: int = 1

    def add_file(self, handle: FileHandle) -> int:
        fh = self._allocate()
        self.files[fh] = handle
        return fh

    def add_dir(self, stream: DirStream) -> int:
        fh = self._allocate()
        self.dirs[fh] = stream
        return fh

    def _allocate(self) -> int:
        fh = self._next
        self._next += 1
        return fh

    def renamed(self, old: str, new: str) -> None:
        """Open files under ``old`` (a file or a directory) now live under ``new``."""
        below = old + "/"
        for handle in self.files.values():
            if handle.key == old or handle.key.startswith(below):
                handle.key = new + handle.key[len(old) :]

    def changed(self, key: str, etag: str) -> None:
        """The object ``key`` was rewritten with the same bytes (new headers): a new ETag."""
        for handle in self.files.values():
            if handle.key == key:
                handle.etag = etag
