"""SourceTable: a scan's entries kept in columns, so that millions of files fit in memory.

A :class:`~cargoship.scan.SourceEntry` is about 500 bytes of Python objects
(the object, two strings, an inode tuple and the integers). ``ship`` keeps every
entry from the scan to the end of the packing, so the table stores each field
in a typed :mod:`array` column instead, and the archive-relative names as their
bytes in one buffer: about 60 bytes plus the name's length per entry, whatever
the tree. The absolute path is not stored; it is the root's path plus the name.
Entries are rebuilt, equal to the ones appended, when read.
"""

from __future__ import annotations

import os
import sys
from array import array
from collections.abc import Container, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Final, overload

from cargoship.duplicates import FileFacts
from cargoship.inventory import EntryType
from cargoship.scan import SourceEntry

__all__ = ["SourceTable"]

_TYPES: Final = (EntryType.FILE, EntryType.DIRECTORY, EntryType.SYMLINK)
_TYPE_CODES: Final = {kind: code for code, kind in enumerate(_TYPES)}
_FILE_CODE: Final = _TYPE_CODES[EntryType.FILE]
_FS_ENCODING: Final = sys.getfilesystemencoding()
_FS_ERRORS: Final = sys.getfilesystemencodeerrors()


class SourceTable(Sequence[SourceEntry]):
    """The entries found under ``root`` (see :func:`cargoship.scan.scan`), in columns.

    Each appended entry's ``fspath`` must be ``root``'s absolute path joined with its
    ``name``, as the scan gives them (ValueError otherwise).
    """

    def __init__(self, root: Path, entries: Iterable[SourceEntry] = ()) -> None:
        top = os.fsencode(os.path.abspath(root))
        self._base = top if top.endswith(b"/") else top + b"/"
        self._names = bytearray()
        self._ends = array("Q")
        """Where each name ends in ``_names`` (the next one starts there)."""
        self._types = array("B")
        self._sizes = array("q")
        self._modes = array("H")
        self._mtimes = array("q")
        self._uids = array("L")
        self._gids = array("L")
        self._devices = array("Q")
        self._inodes = array("Q")
        self._nlinks = array("Q")
        self._links: dict[int, str] = {}
        """Symlink targets by position (symlinks are few)."""
        for entry in entries:
            self.append(entry)

    def append(self, entry: SourceEntry) -> None:
        """Add ``entry`` after the others."""
        name = entry.name.encode(_FS_ENCODING, _FS_ERRORS)  # os.fsencode
        if entry.fspath != self._base + name:
            raise ValueError(f"{entry.fspath!r} is not {entry.name!r} under {self._base!r}")
        if entry.link is not None:
            self._links[len(self._types)] = entry.link
        self._names += name
        self._ends.append(len(self._names))
        self._types.append(_TYPE_CODES[entry.type])
        self._sizes.append(entry.size)
        self._modes.append(entry.mode)
        self._mtimes.append(entry.mtime_ns)
        self._uids.append(entry.uid)
        self._gids.append(entry.gid)
        self._devices.append(entry.inode[0])
        self._inodes.append(entry.inode[1])
        self._nlinks.append(entry.nlink)

    def __len__(self) -> int:
        return len(self._types)

    @overload
    def __getitem__(self, index: int) -> SourceEntry: ...

    @overload
    def __getitem__(self, index: slice) -> list[SourceEntry]: ...

    def __getitem__(self, index: int | slice) -> SourceEntry | list[SourceEntry]:
        if isinstance(index, slice):
            return [self._entry(position) for position in range(len(self))[index]]
        position = range(len(self))[index]  # IndexError as a list would raise it
        return self._entry(position)

    def __iter__(self) -> Iterator[SourceEntry]:
        base, names, links = self._base, self._names, self._links
        start = 0
        columns = zip(
            self._ends,
            self._types,
            self._sizes,
            self._modes,
            self._mtimes,
            self._uids,
            self._gids,
            self._devices,
            self._inodes,
            self._nlinks,
            strict=True,
        )
        for position, (end, kind, size, mode, mtime, uid, gid, dev, ino, nlink) in enumerate(
            columns
        ):
            name = bytes(names[start:end])
            start = end
            yield SourceEntry(
                base + name,
                name.decode(_FS_ENCODING, _FS_ERRORS),
                _TYPES[kind],
                size,
                mode,
                mtime,
                uid,
                gid,
                (dev, ino),
                nlink,
                links.get(position),
            )

    def file_facts(self, skip: Container[str] = ()) -> Iterator[FileFacts]:
        """The link key, inode and link count of each regular file, in order, but those
        named in ``skip``: what :func:`cargoship.duplicates.copy_groups` reads, straight
        from the columns (no entry is built, and no name decoded unless ``skip`` has any)."""
        columns = zip(
            self._types,
            self._sizes,
            self._modes,
            self._uids,
            self._gids,
            self._mtimes,
            self._devices,
            self._inodes,
            self._nlinks,
            strict=True,
        )
        if not skip:
            for kind, size, mode, uid, gid, mtime, dev, ino, nlink in columns:
                if kind == _FILE_CODE:
                    yield (size, mode, uid, gid, mtime), (dev, ino), nlink
            return
        names = self._names
        start = 0
        for end, (kind, size, mode, uid, gid, mtime, dev, ino, nlink) in zip(
            self._ends, columns, strict=True
        ):
            name = names[start:end]
            start = end
            if kind == _FILE_CODE and name.decode(_FS_ENCODING, _FS_ERRORS) not in skip:
                yield (size, mode, uid, gid, mtime), (dev, ino), nlink

    def _entry(self, position: int) -> SourceEntry:
        start = self._ends[position - 1] if position else 0
        name = bytes(self._names[start : self._ends[position]])
        return SourceEntry(
            self._base + name,
            name.decode(_FS_ENCODING, _FS_ERRORS),
            _TYPES[self._types[position]],
            self._sizes[position],
            self._modes[position],
            self._mtimes[position],
            self._uids[position],
            self._gids[position],
            (self._devices[position], self._inodes[position]),
            self._nlinks[position],
            self._links.get(position),
        )
