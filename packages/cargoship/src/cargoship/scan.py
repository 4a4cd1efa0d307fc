"""Walk a source tree into :class:`SourceEntry` items, in a deterministic order.

The walk uses :func:`os.scandir` on ``bytes`` paths and :func:`os.lstat`
semantics throughout: symbolic links are entries of their own and never
followed. Each directory's children are sorted by the bytes of their names
and a directory comes right before its contents (GNU tar's ``--sort=name``
order), so the same tree always gives the same sequence and the same archive.

What cannot be read is reported, not fatal: a directory that cannot be
listed, a file that cannot be opened for reading, or an entry that vanished
between listing and ``lstat`` goes to ``on_unreadable(path, error)`` and is
left out (a directory with all of its contents). Sockets, FIFOs and device
files are not archived; each is logged as a warning. The root itself must be
a readable directory (:class:`~cargoship.errors.UnreadableFilesError`
otherwise); it is not an entry: entries are named relative to it. A caller
that keeps the entries keeps them in a :class:`cargoship.source_table.SourceTable`
(about a tenth of their memory).
"""

from __future__ import annotations

import logging
import os
import stat
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

from cargoship.errors import UnreadableFilesError
from cargoship.inventory import EntryType

__all__ = ["SourceEntry", "scan"]

logger = logging.getLogger(__name__)

_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_FS_ENCODING = sys.getfilesystemencoding()
_FS_ERRORS = sys.getfilesystemencodeerrors()


class SourceEntry(NamedTuple):
    """One file, directory or symbolic link found by :func:`scan`, with its ``lstat``.

    A named tuple: made millions of times when a large tree is read back from its
    :class:`~cargoship.source_table.SourceTable`, and a tuple is the cheapest to make.
    """

    fspath: bytes
    """Where it is on disk (absolute), as the bytes the walk found: what the packer opens."""
    name: str
    """Archive-relative, ``/``-separated, :func:`os.fsdecode`'d (surrogateescape)."""
    type: EntryType
    size: int
    """Bytes of content: 0 for directories and symlinks."""
    mode: int
    """Permission bits (``st_mode & 0o7777``)."""
    mtime_ns: int
    uid: int
    gid: int
    inode: tuple[int, int]
    """``(st_dev, st_ino)``: equal for hard links to one file."""
    nlink: int
    """``st_nlink``: only an inode with more than one link can be reached by two paths."""
    link: str | None
    """A symlink's target (fsdecoded), else None."""

    @property
    def path(self) -> Path:
        """:attr:`fspath` as a :class:`~pathlib.Path` (made on demand: a walk of 100,000
        files spends seconds and tens of MiB building Path objects nobody reads)."""
        return Path(os.fsdecode(self.fspath))


def scan(root: Path, *, on_unreadable: Callable[[Path, OSError], None]) -> Iterator[SourceEntry]:
    """The entries under ``root`` (not ``root`` itself), directories before their contents.

    Raises :class:`UnreadableFilesError` when ``root`` is not a directory that can be listed.
    """
    top = os.fsencode(os.path.abspath(root))
    try:
        children = _listing(top)
    except OSError as exc:
        raise UnreadableFilesError((os.fsdecode(top),), exc.strerror or str(exc)) from None
    base = top if top.endswith(b"/") else top + b"/"
    stack = [iter(children)]
    while stack:
        name = next(stack[-1], None)
        if name is None:
            stack.pop()
            continue
        path = base + name
        below: list[bytes] = []
        try:
            info = os.lstat(path)
            entry = _entry(path, name, info)
            if entry is not None and entry.type is EntryType.DIRECTORY:
                below = [name + b"/" + child for child in _listing(path)]
            elif entry is not None and entry.type is EntryType.FILE:
                os.close(os.open(path, _OPEN_FLAGS))
        except OSError as exc:
            on_unreadable(Path(os.fsdecode(path)), exc)
            continue
        if entry is None:
            continue
        yield entry
        if below:
            stack.append(iter(below))


def _listing(directory: bytes) -> list[bytes]:
    """The names in ``directory``, sorted by their bytes (OSError if it cannot be listed)."""
    with os.scandir(directory) as entries:
        return sorted(entry.name for entry in entries)


def _entry(path: bytes, name: bytes, info: os.stat_result) -> SourceEntry | None:
    """The entry for one ``lstat`` result; None (with a warning) for sockets, FIFOs, devices."""
    mode = info.st_mode
    link: str | None = None
    if stat.S_ISREG(mode):
        kind, size = EntryType.FILE, info.st_size
    elif stat.S_ISDIR(mode):
        kind, size = EntryType.DIRECTORY, 0
    elif stat.S_ISLNK(mode):
        kind, size = EntryType.SYMLINK, 0
        link = os.fsdecode(os.readlink(path))
    else:
        logger.warning("not archived: %s is a %s", os.fsdecode(path), _kind_name(mode))
        return None
    return SourceEntry(
        path,
        name.decode(_FS_ENCODING, _FS_ERRORS),  # os.fsdecode, without its type checks
        kind,
        size,
        stat.S_IMODE(mode),
        info.st_mtime_ns,
        info.st_uid,
        info.st_gid,
        (info.st_dev, info.st_ino),
        info.st_nlink,
        link,
    )


def _kind_name(mode: int) -> str:
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISCHR(mode):
        return "character device"
    if stat.S_ISBLK(mode):
        return "block device"
    return "file of an unknown type"
