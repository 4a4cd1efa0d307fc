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
from typing import Final, NamedTuple

from cargoship._batch_thread import BatchThread
from cargoship.errors import UnreadableFilesError
from cargoship.inventory import EntryType

__all__ = ["BATCH_SIZE", "SourceEntry", "scan"]

logger = logging.getLogger(__name__)

BATCH_SIZE: Final = 256
"""Names the walk's thread examines before it hands them over."""
_QUEUE_BATCHES: Final = 8
"""Batches examined ahead of the entries made from them."""
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

    The system calls (listings, ``lstat``, the open check, ``readlink``) run in a thread
    of their own, a batch of :data:`BATCH_SIZE` names ahead (see
    :mod:`cargoship._batch_thread`); the entries are made here, in order.
    Raises :class:`UnreadableFilesError` when ``root`` is not a directory that can be listed.
    """
    top = os.fsencode(os.path.abspath(root))
    try:
        children = _listing(top)
    except OSError as exc:
        raise UnreadableFilesError((os.fsdecode(top),), exc.strerror or str(exc)) from None
    base = top if top.endswith(b"/") else top + b"/"
    with BatchThread(_walk(base, children), name="cargoship-scan", depth=_QUEUE_BATCHES) as found:
        for path, name, info, link in found:
            if isinstance(info, OSError):
                on_unreadable(Path(os.fsdecode(path)), info)
                continue
            entry = _entry(path, name, info, link)
            if entry is not None:
                yield entry


_Found = tuple[bytes, bytes, os.stat_result | OSError, bytes | None]
"""``(path, name, lstat or the error met, symlink target)`` of one name, as the walk found it."""


def _walk(base: bytes, children: list[bytes]) -> Iterator[list[_Found]]:
    """Depth first from ``base`` (whose sorted ``children`` are given), a batch of names at a
    time: each name's ``lstat``, a directory's listing (its names come next), a regular
    file opened and closed (readable?), a symlink's target; an OSError in their place."""
    stack = [iter(children)]
    batch: list[_Found] = []
    while stack:
        name = next(stack[-1], None)
        if name is None:
            stack.pop()
            continue
        path = base + name
        below: list[bytes] = []
        link: bytes | None = None
        try:
            info = os.lstat(path)
            mode = info.st_mode
            if stat.S_ISDIR(mode):
                below = [name + b"/" + child for child in _listing(path)]
            elif stat.S_ISREG(mode):
                os.close(os.open(path, _OPEN_FLAGS))
            elif stat.S_ISLNK(mode):
                link = os.readlink(path)
        except OSError as exc:
            batch.append((path, name, exc, None))
        else:
            batch.append((path, name, info, link))
            if below:
                stack.append(iter(below))
        if len(batch) >= BATCH_SIZE:
            yield batch
            batch = []
    if batch:
        yield batch


def _listing(directory: bytes) -> list[bytes]:
    """The names in ``directory``, sorted by their bytes (OSError if it cannot be listed)."""
    with os.scandir(directory) as entries:
        return sorted(entry.name for entry in entries)


def _entry(
    path: bytes, name: bytes, info: os.stat_result, link: bytes | None
) -> SourceEntry | None:
    """The entry for one ``lstat`` result; None (with a warning) for sockets, FIFOs, devices."""
    mode = info.st_mode
    target: str | None = None
    if stat.S_ISREG(mode):
        kind, size = EntryType.FILE, info.st_size
    elif stat.S_ISDIR(mode):
        kind, size = EntryType.DIRECTORY, 0
    elif stat.S_ISLNK(mode):
        kind, size = EntryType.SYMLINK, 0
        target = os.fsdecode(link if link is not None else b"")
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
        target,
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
