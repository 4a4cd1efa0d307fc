"""TarPacker: a deterministic POSIX.1-2001 pax tar writer that stores identical files once.

Headers are written by :mod:`cargoship.tar_headers` rather than by
:mod:`tarfile`, so that the bytes depend on the tree alone and not on the
Python version (tarfile's pax choices have changed between releases). The
archive ends with two zero blocks.

**Duplicates.** :meth:`TarPacker.plan` finds the candidates before writing
(:func:`cargoship.duplicates.copy_groups`: same size and link metadata, and
paths sharing an inode). Later copies become hard-link members (typeflag
``1``) naming the first copy, which GNU tar and every POSIX tar restore as
hard links. A copy that differs in mode or mtime is stored again: a restore
with stock ``tar`` must give back exactly what was shipped. A copy is linked
only if the file read is still the one scanned (same inode, size and mtime)
and its hash matches the stored copy's.

**Reading.** A file of at most :data:`READ_SIZE` bytes (nearly every file of
a source tree) is read whole, checked with ``fstat`` and hashed *before* its
header is written: it is read once whether it turns out to be a copy or not,
and a file that changed since the scan is refused with
:class:`~cargoship.errors.UnreadableFilesError` with the stream intact (the
caller may skip it). That read needs no packer state (:func:`read_small`), so a
caller may do it ahead, in another thread, and pass the result to
:meth:`TarPacker.add` (``ship`` does: :mod:`cargoship.ship._read_ahead`).
Headers and small members are gathered and handed to the
sink in writes of about :data:`GATHER_SIZE` bytes, not one or two per member.
A larger file is checked, its header written, and its data streamed in
:data:`READ_SIZE` chunks (a candidate copy is hashed first, so read twice
when it is not a copy). Once such a header is out, a file that shrinks,
fails to read or is modified while read cannot be taken back: its member is
completed with zeros (never a short member that would desynchronise the
stream), :class:`~cargoship.errors.SourceChangedError` is raised, and every
later call raises it again, so the archive can only be abandoned.

**Sparse files** are stored plainly, holes as zeros: blobcodec's member index
refuses GNU/pax sparse members, and ranged restores of single members need
their bytes in place. zstd turns runs of zeros into a few bytes, so holes cost
almost nothing stored; stock tar restores the content exactly (not sparse), and
``restore --sparse`` makes holes of the zeros again (:mod:`cargoship.extract`).

**The member index.** The packer records each member as it writes it (the
fields :class:`blobcodec.index.Member` holds, as blobcodec's tar parser would
read them back from these headers, with the SHA-256 it computed anyway) and
spools it, a line per member, to a file (memory per member stays constant
however many there are); :meth:`TarPacker.index_pieces` writes the serialised
index (:meth:`blobcodec.index.ArchiveIndex.dumps`'s format) from it.
For ``compression="none"`` member offsets are the archive object's offsets:
no frames, and the SHA-256 of zero bytes for the seek table an uncompressed
archive does not have. For seekable zstd the frames of each member follow from
its offsets and the frame size; recording them here rather than parsing the
stream again (:class:`blobcodec.index.TarIndexer`) saves a second SHA-256 of
every byte and a Python pass over the tar. lz4 and gzip archives have no index.
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import IO, Final, NamedTuple

from blobcodec.checksum import Sha256, sha256_tag
from blobcodec.index import IndexSpool, MemberType
from blobcodec.seekable import SeekableWriter, WritableBinary
from cargoship.duplicates import (
    OPEN_FLAGS,
    CopyGroups,
    DuplicatePlan,
    LinkKey,
    copy_groups,
    hash_file,
    plan_duplicates,
)
from cargoship.errors import SourceChangedError, UnreadableFilesError
from cargoship.inventory import EntryType, InventoryEntry
from cargoship.layout import ARCHIVE_SUFFIXES
from cargoship.scan import SourceEntry
from cargoship.tar_headers import BLOCK_SIZE, NS_PER_SECOND, entry_header

__all__ = [
    "BLOCK_SIZE",
    "GATHER_SIZE",
    "READ_SIZE",
    "DuplicatePlan",
    "SmallFile",
    "TarPacker",
    "plan_duplicates",
    "read_small",
]

READ_SIZE: Final = 1 << 20
"""Bytes read from a file per step, and the largest file read whole: with
:data:`GATHER_SIZE`, the packer's memory bound is a few times this."""
GATHER_SIZE: Final = 256 << 10
"""Bytes of headers and small members gathered before they are handed to the sink."""

_ZERO_BLOCK: Final = bytes(BLOCK_SIZE)
_NO_FRAMES: Final = range(0)
_FILE_ENTRY, _DIRECTORY_ENTRY, _SYMLINK_ENTRY, _HARDLINK_ENTRY = (
    EntryType.FILE,
    EntryType.DIRECTORY,
    EntryType.SYMLINK,
    EntryType.HARDLINK,
)


class SmallFile(NamedTuple):
    """A file of at most :data:`READ_SIZE` bytes, read whole and checked (:func:`read_small`)."""

    data: bytes
    checksum: str
    """``"sha256:<hex>"`` of ``data``."""


def read_small(entry: SourceEntry) -> SmallFile:
    """Read a file of at most :data:`READ_SIZE` bytes whole, check that it is still the file
    scanned (regular, same size, mtime and inode) and hash it.

    :class:`UnreadableFilesError` when it cannot be read or has changed. Needs no packer
    state, so it may run ahead of :meth:`TarPacker.add`, in another thread (the reads and
    the hashing release the GIL), and its result be passed to ``add``.
    """
    data = _read_whole(entry)
    return SmallFile(data, sha256_tag(data))


class _Stored(NamedTuple):
    """A file whose bytes are in the archive: what later copies link to."""

    name: str
    checksum: str
    size: int


class TarPacker:
    """Writes a POSIX.1-2001 pax tar stream of :class:`SourceEntry` items to ``sink``.

    Hashes each file's content (SHA-256) as it reads it, stores identical
    files once (see the module docstring for the rules, sparse files and files
    that change while read) and is deterministic. Call :meth:`plan` with every
    entry first to find duplicates, then :meth:`add` each entry in order, then
    :meth:`close`: only then has every byte reached ``sink``.

    The packer records the member index as it writes (no parse of its own
    output): always for ``compression="none"``, and for seekable zstd when
    given the ``frame_size`` of the :class:`~blobcodec.seekable.SeekableWriter`
    its tar stream goes through (see :meth:`index_pieces`), spooled to
    ``index_file`` (an empty binary file open for reading and writing, e.g. a
    :func:`tempfile.TemporaryFile`; kept in memory when None). ``on_read`` is called with
    the running total of content bytes read, after each file and after each
    :data:`READ_SIZE` chunk of a large one.
    """

    def __init__(
        self,
        sink: WritableBinary,
        *,
        compression: str,
        archived_at: datetime,
        frame_size: int | None = None,
        on_read: Callable[[int], object] | None = None,
        index_file: IO[bytes] | None = None,
    ) -> None:
        if compression not in ARCHIVE_SUFFIXES:
            known = ", ".join(ARCHIVE_SUFFIXES)
            raise ValueError(f"unknown compression {compression!r}; expected one of {known}")
        self._sink = sink
        self._compression = compression
        if archived_at.utcoffset() is not None:  # as every InventoryEntry would, once here
            archived_at = archived_at.astimezone(UTC).replace(microsecond=0)
        self._archived_at = archived_at
        self._on_read = on_read
        self.bytes_in = 0
        """Content bytes of the files added, duplicates included."""
        self.dedup_bytes = 0
        """Content bytes not stored because they were hard-linked to a stored copy."""
        self.tar_size = 0
        """Bytes of tar stream produced so far (the last of them reach the sink by
        :meth:`close`)."""
        self._pending: list[bytes] = []
        self._flushed = 0
        """Bytes of tar stream handed to the sink (the rest are in ``_pending``)."""
        self._groups = CopyGroups(frozenset(), frozenset())
        self._first_inode: dict[LinkKey, tuple[int, int]] = {}
        """The inode of each group's first file added: only its later inodes are hashed."""
        self._by_inode: dict[tuple[int, int], _Stored] = {}
        self._by_content: dict[tuple[str, LinkKey], _Stored] = {}
        self._failure: SourceChangedError | None = None
        self._closed = False
        indexed = compression == "none" or (compression == "zstd" and frame_size is not None)
        self._index: IndexSpool | None = None
        if indexed:
            self._index = IndexSpool(io.BytesIO() if index_file is None else index_file)
        self._frame_size = frame_size if compression == "zstd" else None

    def plan(self, entries: Iterable[SourceEntry]) -> None:
        """Find the files among ``entries`` (a collection: read more than once) that may be
        copies (same size and link metadata) before writing; each is hashed when :meth:`add`
        reaches it, only if an earlier file may hold the same bytes."""
        self._groups = copy_groups(entries)

    def add(
        self, entry: SourceEntry, read: SmallFile | UnreadableFilesError | None = None
    ) -> InventoryEntry:
        """Write ``entry``'s member and return its inventory entry.

        ``read`` is what :func:`read_small` gave (or raised) for this entry when it was read
        ahead; None to let the packer read it when it needs the bytes.
        :class:`UnreadableFilesError` before anything is written (skippable);
        :class:`SourceChangedError` after its header was written (fatal).
        """
        self._check_open()
        kind = entry.type
        if kind is _DIRECTORY_ENTRY:
            offset = self._header(entry_header(entry))
            self._index_member(entry, "directory", offset)
            return self._inventory_entry(entry, _DIRECTORY_ENTRY)
        if kind is _SYMLINK_ENTRY:
            offset = self._header(entry_header(entry))
            self._index_member(entry, "symlink", offset, link=entry.link or "")
            return self._inventory_entry(entry, _SYMLINK_ENTRY, link=entry.link)
        inode, size = entry.inode, entry.size
        stored = self._by_inode.get(inode)
        if stored is not None and stored.size == size:
            return self._add_link(entry, stored)
        # link_key(entry), made once: a file not in a group cannot be a copy of another
        key: LinkKey | None = (size, entry.mode, entry.uid, entry.gid, entry.mtime_ns)
        if not size or key not in self._groups.keys:
            key = None
        # The key again when an earlier file of another inode may hold the same bytes.
        later = (
            key if key is not None and self._first_inode.setdefault(key, inode) != inode else None
        )
        if size <= READ_SIZE:
            if isinstance(read, UnreadableFilesError):
                raise read
            data, checksum = read_small(entry) if read is None else read
            if later is not None:
                copy = self._by_content.get((checksum, later))
                if copy is not None:
                    return self._add_link(entry, copy)
            offset = self._header(entry_header(entry), data)
            self.bytes_in += size
        else:
            if later is not None:
                planned = hash_file(entry)
                copy = None if planned is None else self._by_content.get((planned, later))
                if copy is not None and _unchanged(entry):
                    return self._add_link(entry, copy)
            checksum, offset = self._stream_file(entry)
        if self._on_read is not None:
            self._on_read(self.bytes_in)
        self._index_member(entry, "file", offset, size=size, sha256=checksum)
        record = _Stored(entry.name, checksum, size)
        if inode in self._groups.shared_inodes:
            self._by_inode.setdefault(inode, record)
        if key is not None:
            self._by_content.setdefault((checksum, key), record)
        return self._inventory_entry(entry, _FILE_ENTRY, checksum=checksum)

    def close(self) -> None:
        """Write the end-of-archive blocks (two zero blocks) and hand everything still
        gathered to the sink; the sink stays open."""
        self._check_open()
        self._emit(bytes(2 * BLOCK_SIZE))
        self._flush()
        self._closed = True

    def index_pieces(self, seekable: SeekableWriter | None = None) -> Iterator[bytes] | None:
        """The serialised member index of the closed archive, in pieces (see
        :class:`blobcodec.index.IndexSpool`), or None when the packer keeps none.

        Uncompressed: member offsets are archive offsets, no frames, and the SHA-256 of
        zero bytes for the seek table there is none of. Seekable zstd: pass the closed
        :class:`~blobcodec.seekable.SeekableWriter` the tar stream went through; each
        member's frames are those its data spans (frame ``n`` holds tar bytes
        ``n * frame_size`` up to the next), as :class:`blobcodec.index.TarIndexer` finds them.
        """
        if self._index is None:
            return None
        if not self._closed:
            raise ValueError("the tar packer is not closed: the index is not complete")
        if self._frame_size is None:
            return self._index.pieces(
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
        return self._index.pieces(
            frame_count=len(table.frames),
            size=table.decompressed_size,
            compressed_size=seekable.bytes_out,
            seek_table_sha256=sha256_tag(table.encode()),
        )

    # -- members ---------------------------------------------------------------------------

    def _add_link(self, entry: SourceEntry, stored: _Stored) -> InventoryEntry:
        offset = self._header(entry_header(entry, stored.name))
        self._index_member(entry, "hardlink", offset, link=stored.name)
        self.bytes_in += entry.size
        self.dedup_bytes += entry.size
        if self._on_read is not None:
            self._on_read(self.bytes_in)
        return self._inventory_entry(
            entry, _HARDLINK_ENTRY, checksum=stored.checksum, link=stored.name
        )

    def _stream_file(self, entry: SourceEntry) -> tuple[str, int]:
        """Stream a large file's member; its content checksum and where its data starts."""
        try:
            fd = os.open(entry.fspath, OPEN_FLAGS)
        except OSError as exc:
            raise UnreadableFilesError((entry.name,), exc.strerror or str(exc)) from None
        try:
            before = os.fstat(fd)
            if not stat.S_ISREG(before.st_mode) or _changed(entry, before):
                raise UnreadableFilesError((entry.name,), "changed since it was scanned")
            offset = self._header(entry_header(entry))
            self._flush()
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
                self._write_through(chunk)
                remaining -= len(chunk)
                if self._on_read is not None:
                    self._on_read(self.bytes_in + entry.size - remaining)
            if problem is None and _changed(entry, os.fstat(fd)):
                problem = "it was modified while read"
            self._emit_zeros(remaining + -entry.size % BLOCK_SIZE)
        finally:
            os.close(fd)
        if problem is not None:
            self._failure = SourceChangedError((entry.name,), f"{problem}; archive abandoned")
            raise self._failure
        self.bytes_in += entry.size
        return digest.tag(), offset

    def _header(self, header: bytes, data: bytes = b"") -> int:
        """Add a member's ``header`` (:func:`~cargoship.tar_headers.entry_header`), and
        ``data`` (a small file's, all of it) with its padding; the offset of its data (where
        the header ends)."""
        pending = self._pending
        pending.append(header)
        offset = self.tar_size + len(header)
        self.tar_size = offset
        if data:
            padding = -len(data) % BLOCK_SIZE
            pending.append(data)
            pending.append(_ZERO_BLOCK[:padding])
            self.tar_size += len(data) + padding
        if self.tar_size - self._flushed >= GATHER_SIZE:
            self._flush()
        return offset

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
        """Record the member just written, for :meth:`index_pieces`: the frames holding
        ``size`` bytes of data at tar ``offset`` (none: an empty range)."""
        index = self._index
        if index is None:
            return
        frame_size = self._frame_size
        if frame_size is None:
            frames = _NO_FRAMES
        else:
            first = offset // frame_size
            frames = range(first, (offset + size - 1) // frame_size + 1 if size else first)
        # The pax mtime record read back as a float: the decimal text of mtime_ns / 10**9
        # and the true quotient round to the same double (both are correctly rounded).
        index.add_fields(
            entry.name,
            kind,
            size,
            entry.mode,
            entry.mtime_ns / NS_PER_SECOND,
            entry.uid,
            entry.gid,
            link,
            offset,
            frames,
            sha256,
        )

    def _inventory_entry(
        self,
        entry: SourceEntry,
        kind: EntryType,
        *,
        checksum: str | None = None,
        link: str | None = None,
    ) -> InventoryEntry:
        return InventoryEntry(
            entry.name,
            kind,
            entry.size if kind is _FILE_ENTRY or kind is _HARDLINK_ENTRY else 0,
            checksum,
            self._compression,
            self._archived_at,
            entry.mode,
            entry.mtime_ns,
            link,
        )

    # -- output ----------------------------------------------------------------------------

    def _emit(self, data: bytes) -> None:
        """Add ``data`` to the stream: gathered, and handed on once there is enough."""
        self._pending.append(data)
        self.tar_size += len(data)
        if self.tar_size - self._flushed >= GATHER_SIZE:
            self._flush()

    def _flush(self) -> None:
        """Hand what is gathered to the sink, in one write."""
        if self._pending:
            self._sink.write(b"".join(self._pending))
            self._pending.clear()
            self._flushed = self.tar_size

    def _write_through(self, chunk: bytes) -> None:
        """Hand ``chunk`` to the sink as it is (nothing may be gathered)."""
        self._sink.write(chunk)
        self.tar_size += len(chunk)
        self._flushed = self.tar_size

    def _emit_zeros(self, count: int) -> None:
        while count:
            step = min(count, READ_SIZE)
            self._emit(bytes(step))
            count -= step

    def _check_open(self) -> None:
        if self._failure is not None:
            raise self._failure
        if self._closed:
            raise ValueError("the tar packer is closed")


def _read_whole(entry: SourceEntry) -> bytes:
    """A small file's bytes, read once and checked (regular, and the size, mtime and inode
    scanned) afterwards; UnreadableFilesError when it cannot be read or has changed."""
    try:
        fd = os.open(entry.fspath, OPEN_FLAGS)
    except OSError as exc:
        raise UnreadableFilesError((entry.name,), exc.strerror or str(exc)) from None
    try:
        data = os.read(fd, entry.size) if entry.size else b""
        while 0 < len(data) < entry.size:  # short reads happen on some filesystems
            more = os.read(fd, entry.size - len(data))
            if not more:
                break
            data += more
        now = os.fstat(fd)
    except OSError as exc:
        raise UnreadableFilesError((entry.name,), f"read failed: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if (
        len(data) != entry.size
        or not stat.S_ISREG(now.st_mode)
        or _changed(entry, now)
        or (now.st_dev, now.st_ino) != entry.inode
    ):
        raise UnreadableFilesError((entry.name,), "changed since it was scanned")
    return data


def _changed(entry: SourceEntry, now: os.stat_result) -> bool:
    return now.st_size != entry.size or now.st_mtime_ns != entry.mtime_ns


def _unchanged(entry: SourceEntry) -> bool:
    """Whether the path still is the file that was scanned and hashed (by ``lstat``)."""
    try:
        now = os.lstat(entry.fspath)
    except OSError:
        return False
    return not _changed(entry, now) and (now.st_dev, now.st_ino) == entry.inode
