"""TarPacker: a deterministic POSIX.1-2001 pax tar writer that stores identical files once.

Headers are written here rather than by :mod:`tarfile`, so that the bytes
depend on the tree alone and not on the Python version (tarfile's pax choices
have changed between releases). Each member is a ustar header (POSIX.1-2017,
pax, "ustar Interchange Format") preceded, when a field does not fit, by a
pax extended header (typeflag ``x``, "pax Extended Header") with these records:

* ``path`` / ``linkpath``: names longer than the ustar field or not ASCII;
  names that are not valid UTF-8 keep their exact bytes and the header starts
  with ``hdrcharset=BINARY`` ("pax Extended Header Keywords");
* ``mtime``: whenever it has a sub-second part (exact to the nanosecond, as
  decimal text) or does not fit the 11 octal digits (before 1970, after 2242);
* ``size``, ``uid``, ``gid``: when they do not fit their octal fields.

No atime, ctime, user or group names are written, so the same tree always
gives byte-identical output. The archive ends with two zero blocks.

**Duplicates.** :meth:`TarPacker.plan` finds the candidates before writing:
files are grouped by size and by what a hard link shares (permission bits,
owner, group, mtime); in a group with more than one distinct file, every file
after the group's first is hashed just before it is written, so a stored
file is read once and a copy once.
A hard link cannot give two paths different metadata, so copies that differ
in mode or mtime are stored again: a restore with stock ``tar`` must give
back exactly what was shipped. Later copies become hard-link members (typeflag
``1``) naming the first copy, which GNU tar and every POSIX tar restore as
hard links. Paths that are already hard links to one inode in the source are
linked the same way without hashing. A copy is linked only if its ``lstat``
still matches the scan and its hash matches the stored copy's hash computed
while writing; otherwise it is stored in full.

**Sparse files** are stored plainly, holes as zeros: blobcodec's member index
refuses GNU/pax sparse members, and ranged restores of single members need
their bytes in place. zstd turns runs of zeros into a few bytes, so holes cost
almost nothing stored; stock tar restores the content exactly (not sparse).

**The member index.** The packer records each member as it writes it (the
fields :class:`blobcodec.index.Member` holds, as blobcodec's tar parser would
read them back from these headers, with the SHA-256 it computed anyway) and
:meth:`TarPacker.index` returns the :class:`blobcodec.index.ArchiveIndex`.
For ``compression="none"`` member offsets are the archive object's offsets:
no frames, and the SHA-256 of zero bytes for the seek table an uncompressed
archive does not have. For seekable zstd the frames of each member follow from
its offsets and the frame size; recording them here rather than parsing the
stream again (:class:`blobcodec.index.TarIndexer`) saves a second SHA-256 of
every byte and a Python pass over the tar. lz4 and gzip archives have no index.

**Files that change.** A file is opened and checked (regular, same size and
mtime as scanned) *before* its header is written; failing that,
:class:`~cargoship.errors.UnreadableFilesError` leaves the stream intact and
the caller may skip the file. Once the header is out, a file that shrinks,
fails to read or is modified while read cannot be taken back: its member is
completed with zeros (never a short member that would desynchronise the
stream), :class:`~cargoship.errors.SourceChangedError` is raised, and every
later call raises it again, so the archive can only be abandoned.
"""

from __future__ import annotations

import os
import stat
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from blobcodec.checksum import Sha256, sha256_tag
from blobcodec.index import ArchiveIndex, Member, MemberType
from blobcodec.seekable import SeekableWriter, WritableBinary
from cargoship.errors import SourceChangedError, UnreadableFilesError
from cargoship.inventory import EntryType, InventoryEntry
from cargoship.layout import ARCHIVE_SUFFIXES
from cargoship.scan import SourceEntry

__all__ = ["BLOCK_SIZE", "READ_SIZE", "DuplicatePlan", "TarPacker", "plan_duplicates"]

BLOCK_SIZE: Final = 512
READ_SIZE: Final = 1 << 20
"""Bytes read from a file per step: the packer's memory bound."""

_OPEN_FLAGS: Final = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_PAX_NAME: Final = b"././@PaxHeader"
_REGULAR, _HARDLINK, _SYMLINK, _DIRECTORY, _PAX = b"0", b"1", b"2", b"5", b"x"
_NS: Final = 1_000_000_000


def _octal(value: int, width: int) -> bytes:
    """A numeric ustar field: zero-padded octal digits and a NUL, ``width`` bytes in all."""
    return b"%0*o\x00" % (width - 1, value)


def _fits(value: int, width: int) -> bool:
    limit: int = 8 ** (width - 1)
    return 0 <= value < limit


def _pax_record(keyword: bytes, value: bytes) -> bytes:
    """``"<length> <keyword>=<value>\\n"``, where length counts the whole record and itself."""
    body = b" " + keyword + b"=" + value + b"\n"
    length = len(body) + len(str(len(body)))
    length = len(body) + len(str(length))  # one more digit at most
    return b"%d" % length + body


def _pax_time(mtime_ns: int) -> bytes:
    """Seconds as decimal text, exact: ``1700000000.123456789``; trailing zeros dropped."""
    sign = b"-" if mtime_ns < 0 else b""
    seconds, fraction = divmod(abs(mtime_ns), _NS)
    text = b"%s%d" % (sign, seconds)
    return text + (b".%09d" % fraction).rstrip(b"0") if fraction else text


@dataclass(frozen=True, slots=True)
class _Header:
    """One member's header fields; :meth:`encode` gives the pax and ustar blocks."""

    name: bytes
    typeflag: bytes
    mode: int
    uid: int
    gid: int
    mtime_ns: int
    size: int = 0
    link: bytes = b""

    def encode(self) -> bytes:
        records: list[bytes] = []
        binary = False
        for keyword, value, width in ((b"path", self.name, 100), (b"linkpath", self.link, 100)):
            if len(value) > width or not value.isascii():
                records.append(_pax_record(keyword, value))
                try:
                    value.decode("utf-8")
                except UnicodeDecodeError:
                    binary = True
        numbers: dict[bytes, int] = {}
        for keyword, number, width in (
            (b"uid", self.uid, 8),
            (b"gid", self.gid, 8),
            (b"size", self.size, 12),
        ):
            if _fits(number, width):
                numbers[keyword] = number
            else:
                numbers[keyword] = 0
                records.append(_pax_record(keyword, b"%d" % number))
        seconds = self.mtime_ns // _NS
        if self.mtime_ns % _NS or not _fits(seconds, 12):
            records.append(_pax_record(b"mtime", _pax_time(self.mtime_ns)))
        if binary:
            records.insert(0, _pax_record(b"hdrcharset", b"BINARY"))
        ustar = _ustar(
            name=self.name,
            mode=self.mode,
            uid=numbers[b"uid"],
            gid=numbers[b"gid"],
            size=numbers[b"size"],
            mtime=seconds if _fits(seconds, 12) else 0,
            typeflag=self.typeflag,
            link=self.link,
        )
        if not records:
            return ustar
        payload = b"".join(records)
        pax = _ustar(
            name=_PAX_NAME, mode=0o644, uid=0, gid=0, size=len(payload), mtime=0, typeflag=_PAX
        )
        return pax + payload + bytes(-len(payload) % BLOCK_SIZE) + ustar


def _ustar(
    *,
    name: bytes,
    mode: int,
    uid: int,
    gid: int,
    size: int,
    mtime: int,
    typeflag: bytes,
    link: bytes = b"",
) -> bytes:
    """A 512-byte ustar header block; names longer than a field are cut (pax carries them)."""
    block = bytearray(BLOCK_SIZE)
    block[0:100] = name[:100].ljust(100, b"\x00")
    block[100:108] = _octal(mode, 8)
    block[108:116] = _octal(uid, 8)
    block[116:124] = _octal(gid, 8)
    block[124:136] = _octal(size, 12)
    block[136:148] = _octal(mtime, 12)
    block[148:156] = b" " * 8
    block[156:157] = typeflag
    block[157:257] = link[:100].ljust(100, b"\x00")
    block[257:265] = b"ustar\x0000"
    block[329:337] = _octal(0, 8)
    block[337:345] = _octal(0, 8)
    block[148:156] = b"%06o\x00 " % sum(block)
    return bytes(block)


@dataclass(frozen=True, slots=True)
class _Stored:
    """A file whose bytes are in the archive: what later copies link to."""

    name: str
    checksum: str
    size: int


def _link_key(entry: SourceEntry) -> tuple[int, int, int, int, int]:
    """What must agree for a hard link to restore ``entry`` exactly (besides the content)."""
    return (entry.size, entry.mode, entry.uid, entry.gid, entry.mtime_ns)


def _hash_file(entry: SourceEntry) -> str | None:
    """The ``"sha256:<hex>"`` of a file's content; None if it cannot be read now."""
    digest = Sha256()
    try:
        fd = os.open(entry.fspath, _OPEN_FLAGS)
    except OSError:
        return None
    try:
        while chunk := os.read(fd, READ_SIZE):
            digest.update(chunk)
    except OSError:
        return None
    finally:
        os.close(fd)
    return digest.tag()


@dataclass(frozen=True, slots=True)
class DuplicatePlan:
    """Which files can be stored as hard links to an earlier one, found before writing."""

    shared_inodes: frozenset[tuple[int, int]]
    """Inodes reached by several paths: every path after the first links to it."""
    hashes: Mapping[str, str]
    """Content hash of each file that may equal another of the same size and link metadata."""

    def copies(self, entries: Sequence[SourceEntry]) -> set[str]:
        """Names of the files in ``entries`` (in that order) the packer stores as hard links."""
        inodes: set[tuple[int, int]] = set()
        contents: set[tuple[str, tuple[int, int, int, int, int]]] = set()
        found: set[str] = set()
        for entry in entries:
            if entry.type is not EntryType.FILE:
                continue
            if entry.inode in inodes:
                found.add(entry.name)
                continue
            inodes.add(entry.inode)
            checksum = self.hashes.get(entry.name)
            if checksum is None:
                continue
            key = (checksum, _link_key(entry))
            if key in contents:
                found.add(entry.name)
            else:
                contents.add(key)
        return found


@dataclass(frozen=True, slots=True)
class _CopyGroups:
    """Files that may be copies of one another, by size and link metadata alone (no reads)."""

    shared_inodes: frozenset[tuple[int, int]]
    """Inodes reached by several paths."""
    grouped: frozenset[str]
    """Files of a group of at least two inodes with the same size and link metadata."""
    later: frozenset[str]
    """The files of ``grouped`` whose inode is not the first of its group (in order): the
    only ones that can equal an earlier file, so the only ones hashed before writing."""


def _copy_groups(entries: Sequence[SourceEntry]) -> _CopyGroups:
    """Group ``entries`` by size and what a hard link shares (mode, owner, group, mtime); a
    group with one distinct inode holds no copies. Empty files are never linked by content."""
    paths_per_inode: defaultdict[tuple[int, int], int] = defaultdict(int)
    groups: defaultdict[tuple[int, int, int, int, int], dict[tuple[int, int], list[str]]]
    groups = defaultdict(dict)
    for entry in entries:
        if entry.type is not EntryType.FILE:
            continue
        paths_per_inode[entry.inode] += 1
        if entry.size:
            groups[_link_key(entry)].setdefault(entry.inode, []).append(entry.name)
    grouped: list[str] = []
    later: list[str] = []
    for inodes in groups.values():
        if len(inodes) < 2:
            continue
        for position, names in enumerate(inodes.values()):
            grouped.extend(names)
            if position:
                later.extend(names)
    shared = frozenset(inode for inode, count in paths_per_inode.items() if count > 1)
    return _CopyGroups(shared, frozenset(grouped), frozenset(later))


def plan_duplicates(entries: Sequence[SourceEntry]) -> DuplicatePlan:
    """Find the files of ``entries`` that could be copies (:func:`_copy_groups`) and hash
    them, one path per inode: what ``estimate`` needs up front (the packer hashes only the
    later files of a group, as it reaches them)."""
    groups = _copy_groups(entries)
    hashes: dict[str, str] = {}
    hashed: dict[tuple[int, int], str | None] = {}
    for entry in entries:
        if entry.type is not EntryType.FILE or entry.name not in groups.grouped:
            continue
        if entry.inode not in hashed:
            hashed[entry.inode] = _hash_file(entry)
        checksum = hashed[entry.inode]
        if checksum is not None:
            hashes[entry.name] = checksum
    return DuplicatePlan(groups.shared_inodes, hashes)


class TarPacker:
    """Writes a POSIX.1-2001 pax tar stream of :class:`SourceEntry` items to ``sink``.

    Hashes each file's content (SHA-256) as it streams it in :data:`READ_SIZE`
    chunks, stores identical files once (see the module docstring for the
    rules, sparse files and files that change while read) and is
    deterministic. Call :meth:`plan` with every entry first to find
    duplicates, then :meth:`add` each entry in order, then :meth:`close`.

    The packer records the member index as it writes (no parse of its own
    output): always for ``compression="none"``, and for seekable zstd when
    given the ``frame_size`` of the :class:`~blobcodec.seekable.SeekableWriter`
    its tar stream goes through (see :meth:`index`).
    """

    def __init__(
        self,
        sink: WritableBinary,
        *,
        compression: str,
        archived_at: datetime,
        frame_size: int | None = None,
    ) -> None:
        if compression not in ARCHIVE_SUFFIXES:
            known = ", ".join(ARCHIVE_SUFFIXES)
            raise ValueError(f"unknown compression {compression!r}; expected one of {known}")
        self._sink = sink
        self._compression = compression
        self._archived_at = archived_at
        self.bytes_in = 0
        """Content bytes of the files added, duplicates included."""
        self.dedup_bytes = 0
        """Content bytes not stored because they were hard-linked to a stored copy."""
        self.tar_size = 0
        """Bytes of tar stream written to the sink so far."""
        self._groups = _CopyGroups(frozenset(), frozenset(), frozenset())
        self._by_inode: dict[tuple[int, int], _Stored] = {}
        self._by_content: dict[tuple[str, tuple[int, int, int, int, int]], _Stored] = {}
        self._failure: SourceChangedError | None = None
        self._closed = False
        indexed = compression == "none" or (compression == "zstd" and frame_size is not None)
        self._members: list[Member] | None = [] if indexed else None
        self._frame_size = frame_size if compression == "zstd" else None

    def plan(self, entries: Sequence[SourceEntry]) -> None:
        """Find the files among ``entries`` that may be copies (same size and link metadata)
        before writing; each is hashed when :meth:`add` reaches it, only if an earlier file
        may hold the same bytes, so a stored file is read once."""
        self._groups = _copy_groups(entries)

    def add(self, entry: SourceEntry) -> InventoryEntry:
        """Write ``entry``'s member and return its inventory entry.

        :class:`UnreadableFilesError` before anything is written (skippable);
        :class:`SourceChangedError` after its header was written (fatal).
        """
        self._check_open()
        if entry.type is EntryType.DIRECTORY:
            offset = self._write_header(entry, _DIRECTORY, name_suffix=b"/")
            self._index_member(entry, "directory", offset)
            return self._inventory_entry(entry, EntryType.DIRECTORY)
        if entry.type is EntryType.SYMLINK:
            offset = self._write_header(entry, _SYMLINK, link=os.fsencode(entry.link or ""))
            self._index_member(entry, "symlink", offset, link=entry.link or "")
            return self._inventory_entry(entry, EntryType.SYMLINK, link=entry.link)
        stored = self._by_inode.get(entry.inode)
        if stored is None and entry.name in self._groups.later:
            planned = _hash_file(entry)
            if planned is not None:
                stored = self._by_content.get((planned, _link_key(entry)))
            if stored is not None and not _unchanged(entry):
                stored = None
        if stored is not None and stored.size == entry.size:
            return self._add_link(entry, stored)
        checksum, offset = self._add_file(entry)
        self._index_member(entry, "file", offset, size=entry.size, sha256=checksum)
        record = _Stored(entry.name, checksum, entry.size)
        if entry.inode in self._groups.shared_inodes:
            self._by_inode.setdefault(entry.inode, record)
        if entry.name in self._groups.grouped:
            self._by_content.setdefault((checksum, _link_key(entry)), record)
        return self._inventory_entry(entry, EntryType.FILE, checksum=checksum)

    def close(self) -> None:
        """Write the end-of-archive blocks (two zero blocks); the sink stays open."""
        self._check_open()
        self._write(bytes(2 * BLOCK_SIZE))
        self._closed = True

    def index(self, seekable: SeekableWriter | None = None) -> ArchiveIndex | None:
        """The member index of the closed archive, or None when the packer keeps none.

        Uncompressed: member offsets are archive offsets, no frames, and the SHA-256 of
        zero bytes for the seek table there is none of. Seekable zstd: pass the closed
        :class:`~blobcodec.seekable.SeekableWriter` the tar stream went through; each
        member's frames are those its data spans (frame ``n`` holds tar bytes
        ``n * frame_size`` up to the next), as :class:`blobcodec.index.TarIndexer` finds them.
        """
        if self._members is None:
            return None
        if not self._closed:
            raise ValueError("the tar packer is not closed: the index is not complete")
        if self._frame_size is None:
            return ArchiveIndex(
                self._members,
                frame_count=0,
                size=self.tar_size,
                compressed_size=self.tar_size,
                seek_table_sha256=sha256_tag(b""),
            )
        if seekable is None or seekable.frame_size != self._frame_size:
            raise ValueError(f"the index needs the closed SeekableWriter of {self._frame_size}")
        table = seekable.table
        if table.decompressed_size != self.tar_size:
            raise ValueError(
                f"the seekable archive holds {table.decompressed_size} bytes, "
                f"the tar stream {self.tar_size}"
            )
        return ArchiveIndex(
            self._members,
            frame_count=len(table.frames),
            size=table.decompressed_size,
            compressed_size=seekable.bytes_out,
            seek_table_sha256=sha256_tag(table.encode()),
        )

    # -- members ---------------------------------------------------------------------------

    def _add_link(self, entry: SourceEntry, stored: _Stored) -> InventoryEntry:
        offset = self._write_header(entry, _HARDLINK, link=os.fsencode(stored.name))
        self._index_member(entry, "hardlink", offset, link=stored.name)
        self.bytes_in += entry.size
        self.dedup_bytes += entry.size
        return self._inventory_entry(
            entry, EntryType.HARDLINK, checksum=stored.checksum, link=stored.name
        )

    def _add_file(self, entry: SourceEntry) -> tuple[str, int]:
        """Stream one file's member; its content checksum and where its data starts."""
        try:
            fd = os.open(entry.fspath, _OPEN_FLAGS)
        except OSError as exc:
            raise UnreadableFilesError((entry.name,), exc.strerror or str(exc)) from None
        try:
            before = os.fstat(fd)
            if not stat.S_ISREG(before.st_mode) or _changed(entry, before):
                raise UnreadableFilesError((entry.name,), "changed since it was scanned")
            offset = self._write_header(entry, _REGULAR, size=entry.size)
            digest = Sha256()
            remaining = entry.size
            problem = None
            while remaining:
                try:
                    chunk = os.read(fd, min(READ_SIZE, remaining))
                except OSError as exc:
                    problem = f"read failed: {exc.strerror or exc}"
                    break
                if not chunk:
                    problem = f"it ended {remaining} bytes early"
                    break
                digest.update(chunk)
                self._write(chunk)
                remaining -= len(chunk)
            if problem is None and _changed(entry, os.fstat(fd)):
                problem = "it was modified while read"
            self._write_zeros(remaining + -entry.size % BLOCK_SIZE)
        finally:
            os.close(fd)
        if problem is not None:
            self._failure = SourceChangedError((entry.name,), f"{problem}; archive abandoned")
            raise self._failure
        self.bytes_in += entry.size
        return digest.tag(), offset

    def _write_header(
        self,
        entry: SourceEntry,
        typeflag: bytes,
        *,
        size: int = 0,
        link: bytes = b"",
        name_suffix: bytes = b"",
    ) -> int:
        """Write the member's header; the offset of its data (where the header ends)."""
        header = _Header(
            name=os.fsencode(entry.name) + name_suffix,
            typeflag=typeflag,
            mode=entry.mode,
            uid=entry.uid,
            gid=entry.gid,
            mtime_ns=entry.mtime_ns,
            size=size,
            link=link,
        )
        self._write(header.encode())
        return self.tar_size

    def _index_member(
        self,
        entry: SourceEntry,
        kind: MemberType,
        offset: int,
        *,
        size: int = 0,
        link: str = "",
        sha256: str | None = None,
    ) -> None:
        """Record the member just written, for :meth:`index` (uncompressed archives only)."""
        if self._members is None:
            return
        self._members.append(
            Member(
                path=entry.name,
                type=kind,
                size=size,
                mode=entry.mode,
                mtime=float(_pax_time(entry.mtime_ns)),  # as a reader parses the pax record
                uid=entry.uid,
                gid=entry.gid,
                link=link,
                offset=offset,
                frames=self._frames(offset, size),
                sha256=sha256,
            )
        )

    def _frames(self, offset: int, size: int) -> range:
        """The frames holding ``size`` bytes of data at tar ``offset`` (none: empty range)."""
        if self._frame_size is None:
            return range(0)
        first = offset // self._frame_size
        return range(first, (offset + size - 1) // self._frame_size + 1 if size else first)

    def _inventory_entry(
        self,
        entry: SourceEntry,
        kind: EntryType,
        *,
        checksum: str | None = None,
        link: str | None = None,
    ) -> InventoryEntry:
        return InventoryEntry(
            path=entry.name,
            type=kind,
            size=entry.size if kind in (EntryType.FILE, EntryType.HARDLINK) else 0,
            checksum=checksum,
            compression=self._compression,
            archived_at=self._archived_at,
            mode=entry.mode,
            mtime_ns=entry.mtime_ns,
            link=link,
        )

    def _write(self, data: bytes) -> None:
        self._sink.write(data)
        self.tar_size += len(data)

    def _write_zeros(self, count: int) -> None:
        while count:
            step = min(count, READ_SIZE)
            self._write(bytes(step))
            count -= step

    def _check_open(self) -> None:
        if self._failure is not None:
            raise self._failure
        if self._closed:
            raise ValueError("the tar packer is closed")


def _changed(entry: SourceEntry, now: os.stat_result) -> bool:
    return now.st_size != entry.size or now.st_mtime_ns != entry.mtime_ns


def _unchanged(entry: SourceEntry) -> bool:
    """Whether the path still is the file that was scanned and hashed (by ``lstat``)."""
    try:
        now = os.lstat(entry.fspath)
    except OSError:
        return False
    return not _changed(entry, now) and (now.st_dev, now.st_ino) == entry.inode
