"""Which files of a tree may be copies of one another, found from their ``lstat`` alone.

A hard link cannot give two paths different metadata, so a file can be
stored as a link to an earlier one only when both have the same size and
what a link shares: permission bits, owner, group and mtime
(:func:`link_key`). Files are grouped by that key and by inode; a group with
more than one distinct inode may hold copies, and only its files after the
group's first inode can equal an earlier file, so only those are hashed
before they are written (:class:`CopyGroups`). Paths that already share one
inode in the source need no hashing at all. Empty files are never linked by
content (there is nothing to save).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Protocol, runtime_checkable

from blobcodec.checksum import Sha256
from cargoship.inventory import EntryType
from cargoship.scan import SourceEntry

__all__ = [
    "HASH_READ_SIZE",
    "OPEN_FLAGS",
    "CopyGroups",
    "DuplicatePlan",
    "FileFacts",
    "HasFileFacts",
    "LinkKey",
    "copy_groups",
    "hash_file",
    "link_key",
    "plan_duplicates",
]

HASH_READ_SIZE: Final = 1 << 20
"""Bytes read per step when a file is hashed on its own."""
OPEN_FLAGS: Final = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
"""How source files are opened: never through a symlink, never blocking on a FIFO."""

LinkKey = tuple[int, int, int, int, int]
"""``(size, mode, uid, gid, mtime_ns)``: what must agree for a hard link besides content."""


FileFacts = tuple[LinkKey, tuple[int, int], int]
"""What :func:`copy_groups` needs of a regular file: its link key, inode and link count."""


@runtime_checkable
class HasFileFacts(Protocol):
    """Entries that give their files' :data:`FileFacts` without building each entry (such as
    :class:`cargoship.source_table.SourceTable`, which keeps them in columns)."""

    def file_facts(self) -> Iterator[FileFacts]:
        """The facts of each regular file, in order."""
        ...


def link_key(entry: SourceEntry) -> LinkKey:
    """What must agree for a hard link to restore ``entry`` exactly (besides the content)."""
    return (entry.size, entry.mode, entry.uid, entry.gid, entry.mtime_ns)


def hash_file(entry: SourceEntry) -> str | None:
    """The ``"sha256:<hex>"`` of a file's content; None if it cannot be read now."""
    digest = Sha256()
    try:
        fd = os.open(entry.fspath, OPEN_FLAGS)
    except OSError:
        return None
    try:
        while chunk := os.read(fd, HASH_READ_SIZE):
            digest.update(chunk)
    except OSError:
        return None
    finally:
        os.close(fd)
    return digest.tag()


@dataclass(frozen=True, slots=True)
class CopyGroups:
    """Files that may be copies of one another, by size and link metadata alone (no reads)."""

    shared_inodes: frozenset[tuple[int, int]]
    """Inodes reached by several paths."""
    keys: frozenset[LinkKey]
    """The link keys shared by files of at least two inodes: a file is in a group when its
    :func:`link_key` is here. Only the files of a group whose inode is not the group's first
    (in order) can equal an earlier file, so only those are hashed before writing."""

    def grouped(self, entry: SourceEntry) -> bool:
        """Whether ``entry`` is a file of a group (of at least two inodes)."""
        return entry.type is EntryType.FILE and link_key(entry) in self.keys


def copy_groups(entries: Iterable[SourceEntry] | HasFileFacts) -> CopyGroups:
    """Group ``entries`` by :func:`link_key` and inode; see the module docstring.

    ``entries`` is read once, and a second time only when two files may share a key (a
    collection, not an iterator); from :meth:`HasFileFacts.file_facts` when it has them.
    Between readings only the hash of each distinct key of a non-empty file is kept (an
    int), and the inodes of files with several links; whole keys are kept only where
    their hashes repeat.
    """
    if isinstance(entries, HasFileFacts):
        facts = entries.file_facts
    elif iter(entries) is entries:
        raise TypeError("copy_groups may read its entries twice: pass a collection")
    else:
        listed = entries

        def facts() -> Iterator[FileFacts]:
            return _file_facts(listed)

    seen: set[int] = set()
    repeated: set[int] = set()
    per_inode: Counter[tuple[int, int]] = Counter()
    for key, inode, nlink in facts():
        if nlink > 1:
            per_inode[inode] += 1
        if key[0]:  # empty files are never linked by content
            digest = hash(key)
            if digest in seen:
                repeated.add(digest)
            else:
                seen.add(digest)
    del seen
    shared = frozenset(inode for inode, count in per_inode.items() if count > 1)
    first: dict[LinkKey, tuple[int, int] | None] = {}
    """A repeated key's first inode; None once a second inode was seen."""
    for key, inode, _ in facts() if repeated else ():
        if key[0] and hash(key) in repeated:
            known = first.setdefault(key, inode)
            if known is not None and known != inode:
                first[key] = None
    return CopyGroups(shared, frozenset(key for key, inode in first.items() if inode is None))


def _file_facts(entries: Iterable[SourceEntry]) -> Iterator[FileFacts]:
    for entry in entries:
        if entry.type is EntryType.FILE:
            yield link_key(entry), entry.inode, entry.nlink


@dataclass(frozen=True, slots=True)
class DuplicatePlan:
    """Which files can be stored as hard links to an earlier one, found before writing."""

    shared_inodes: frozenset[tuple[int, int]]
    """Inodes reached by several paths: every path after the first links to it."""
    hashes: Mapping[str, str]
    """Content hash of each file that may equal another of the same size and link metadata."""

    def copies(self, entries: Sequence[SourceEntry]) -> dict[str, str]:
        """The files of ``entries`` (in that order) the packer stores as hard links, each
        with the name of the stored file it links to."""
        inodes: dict[tuple[int, int], str] = {}
        """The stored file each inode's later paths link to."""
        contents: dict[tuple[str, LinkKey], str] = {}
        found: dict[str, str] = {}
        for entry in entries:
            if entry.type is not EntryType.FILE:
                continue
            target = inodes.get(entry.inode)
            if target is not None:
                found[entry.name] = target
                continue
            checksum = self.hashes.get(entry.name)
            key = None if checksum is None else (checksum, link_key(entry))
            target = None if key is None else contents.get(key)
            if target is not None:
                found[entry.name] = target
            elif key is not None:
                contents[key] = entry.name
            inodes[entry.inode] = target or entry.name
        return found


def plan_duplicates(entries: Sequence[SourceEntry]) -> DuplicatePlan:
    """Find the files of ``entries`` that could be copies (:func:`copy_groups`) and hash
    them, one path per inode: what ``estimate`` needs up front (the packer hashes only the
    later files of a group, as it reaches them)."""
    groups = copy_groups(entries)
    hashes: dict[str, str] = {}
    hashed: dict[tuple[int, int], str | None] = {}
    for entry in entries:
        if not groups.grouped(entry):
            continue
        if entry.inode not in hashed:
            hashed[entry.inode] = hash_file(entry)
        checksum = hashed[entry.inode]
        if checksum is not None:
            hashes[entry.name] = checksum
    return DuplicatePlan(groups.shared_inodes, hashes)
