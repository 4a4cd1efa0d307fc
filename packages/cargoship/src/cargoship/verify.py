"""Check an archive in the store against its member index and inventory.

A full verify reads the whole archive once, in order. The index's download
starts beside the inventory's, and the archive's stream as soon as the
inventory is read (:class:`cargoship.fetch.StreamAhead`), so both arrive while
the inventory and index are parsed. For seekable zstd it
first checks the seek table against the index (frame count, sizes, and the
table's SHA-256), then decodes every frame on its own, checking its size and
XXH64 checksum against the seek table ("Zstandard Seekable Format" 0.1.0,
"Seek_Table_Entries"); a damaged frame is reported by number and the rest are
still checked. The decompressed stream is parsed as tar (POSIX.1-2001 pax,
by :mod:`cargoship.pax_members`) and every member compared with the index
(path, type, data offset and size) and the inventory (type, size, link), every
file's SHA-256 with both. The inventory's page table
(``<name>.inventory.pages``, :mod:`cargoship.inventory._pages`), which
``restore --include`` trusts for the pages it does not fetch, is checked
against the whole inventory (:func:`~cargoship.inventory.check_pages`):
its size, the pages tiling the ``files`` section from the head's end, each
starting and ending at item bounds, its item count, every path within its
bounds. All problems are collected and raised together as one
:class:`IntegrityError`.

``quick`` downloads nothing of the archive: it compares the SHA-256 S3 keeps
for each part of the archive (GetObjectAttributes, through
:class:`s3opt.ColdStorage`) with the parts recorded at upload, or the
full-object SHA-256 of a single-PUT archive, and checks that the index and
inventory objects exist and that the page table is within its size limit.

An archive with an index but no page table (shipped before cargoship 0.1.1)
passes with a note: ``restore --include`` reads its inventory whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tarfile
import tempfile
import time
from dataclasses import dataclass
from typing import IO, Protocol

from blobcodec.checksum import Sha256
from blobcodec.errors import CorruptDataError
from blobcodec.index import ArchiveIndex, Member
from blobcodec.registry import get_codec
from blobcodec.seekable import TAIL_READ_BYTES, SeekableReader
from cargoship.entry_table import EntryTable, SeenSet
from cargoship.errors import CargoshipError, IntegrityError, InventoryFormatError
from cargoship.extract import member_problem
from cargoship.fetch import (
    STREAM_AHEAD_BYTES,
    ArchiveFetcher,
    DecompressedReader,
    IndexPrefetch,
    SequentialReadAt,
    StreamAhead,
    StreamBridge,
    check_seek_table,
    ensure_available,
    run_with_stream,
    size_problem,
)
from cargoship.inventory import (
    MAX_PAGES_BYTES,
    ArchiveRecord,
    EntryType,
    InventoryEntry,
    check_pages,
    parse_pages,
)
from cargoship.layout import (
    INDEX_SUFFIX,
    INVENTORY_SUFFIX,
    PAGES_SUFFIX,
    archive_name,
    stream_inventory,
)
from cargoship.pax_members import TarMember, TarMemberReader
from s3opt import ColdStorage, ObjectStore
from s3opt.errors import NoSuchKeyError

__all__ = ["VerifyProgress", "VerifyReport", "verify"]

logger = logging.getLogger(__name__)

_SHOWN_PROBLEMS = 3  # problems named in the error's message; all are in its ``problems``
_HASH_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """What a verify checked."""

    frames: int
    """Seekable zstd frames decoded and checked (0 for other codecs and ``quick``)."""
    files: int
    """Regular files whose SHA-256 was checked."""
    bytes_fetched: int
    """Of the archive and its index (the inventory and page table are not counted)."""
    seconds: float
    quick: bool
    parts: int
    """``quick``: uploaded parts whose SHA-256 was compared (1 for a single-PUT archive)."""
    notes: tuple[str, ...] = ()
    """What was not checked and why (an archive without a page table), not problems."""


def _integrity(name: str, problems: list[str]) -> IntegrityError:
    shown = "; ".join(problems[:_SHOWN_PROBLEMS])
    more = (
        f" (and {len(problems) - _SHOWN_PROBLEMS} more)" if len(problems) > _SHOWN_PROBLEMS else ""
    )
    count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
    return IntegrityError(f"archive {name} failed verification, {count}: {shown}{more}", problems)


class VerifyProgress(Protocol):
    """Told, on the event loop, how many bytes of the archive a full verify reads, then each
    piece read."""

    def start(self, files: int, bytes_total: int) -> None:
        """The regular files the inventory lists and the archive object's size."""
        ...

    def advance(self, bytes_read: int) -> None:
        """``bytes_read`` more bytes of the archive were read (an increment)."""
        ...


async def verify(
    store: ObjectStore,
    name: str,
    *,
    quick: bool = False,
    progress: VerifyProgress | None = None,
) -> VerifyReport:
    """Check archive ``name``; IntegrityError listing every problem found. ``progress`` hears
    of the archive's bytes as a full verify reads them (a quick one reads none)."""
    started = time.monotonic()
    with EntryTable() as table, tempfile.TemporaryFile(prefix="cargoship-verify-") as file:
        if quick:
            stream = await stream_inventory(store, name, file)
            for _ in stream.entries:  # validated, as a full verify does, but not kept
                pass
            parts, notes = await _verify_quick(store, stream.archive)
            return VerifyReport(0, 0, 0, time.monotonic() - started, True, parts, notes)
        async with contextlib.AsyncExitStack() as stack:
            # A full verify reads the whole index: its download runs beside the inventory's.
            prefetch = IndexPrefetch(ArchiveFetcher(store), archive_name(name) + INDEX_SUFFIX)
            stack.push_async_callback(prefetch.close)
            stream = await stream_inventory(store, name, file)
            table.add(stream.entries, where=stream.archive.name)
            size = file.seek(0, os.SEEK_END)
            problems, notes = await _check_page_table(store, stream.archive, file, size)
            file.close()
            return await _verify_whole(
                store, stream.archive, table, started, problems, notes, progress, prefetch, stack
            )


def _no_table_note(record: ArchiveRecord) -> tuple[str, ...]:
    """The note for an archive without a page table: only one with an index should have one."""
    if record.index_key is None:
        return ()
    return (
        f"{record.name + PAGES_SUFFIX}: none (archives shipped before cargoship 0.1.1 have "
        "none); restore --include reads the whole inventory",
    )


async def _check_page_table(
    store: ObjectStore, record: ArchiveRecord, document: IO[bytes], size: int
) -> tuple[list[str], tuple[str, ...]]:
    """The problems of the archive's page table checked against its inventory (``document``,
    a file of ``size`` bytes), and the notes."""
    key = record.name + PAGES_SUFFIX
    try:
        data = await store.get_range(key, 0, MAX_PAGES_BYTES + 1)
    except NoSuchKeyError:
        return [], _no_table_note(record)
    if len(data) > MAX_PAGES_BYTES:
        return [f"{key}: larger than the {MAX_PAGES_BYTES} bytes a page table may hold"], ()
    try:
        pages = parse_pages(data, key)
    except InventoryFormatError as error:
        return [str(error)], ()
    if pages is None:
        return [], (f"{key}: a page table of a newer format, not checked",)
    found = await asyncio.to_thread(lambda: list(check_pages(pages, document, size)))
    return [f"{key}: {problem}" for problem in found], ()


async def _verify_whole(
    store: ObjectStore,
    record: ArchiveRecord,
    table: EntryTable,
    started: float,
    problems: list[str],
    notes: tuple[str, ...],
    progress: VerifyProgress | None,
    prefetch: IndexPrefetch,
    stack: contextlib.AsyncExitStack,
) -> VerifyReport:
    """Read the archive and its index (whose download ``prefetch`` started); ``problems``
    found before are raised with theirs. The archive's stream starts first and receives
    :data:`~cargoship.fetch.STREAM_AHEAD_BYTES` while the index is read (``stack`` stops
    it on an error)."""
    fetcher = ArchiveFetcher(store)  # the archive's bytes (the progress bar's), not the index's
    if progress is not None:
        progress.start(table.chosen_file_totals()[0], record.size)
        fetcher.on_read = progress.advance
    # The stream starts first, its own HEAD beside the availability HEAD below (a cold
    # archive's stops at its GET), and is received while the index is read; not for an
    # archive the seek table's first read holds whole, which then reads nothing more.
    ahead = None
    if record.compression != "zstd" or record.size > TAIL_READ_BYTES:
        ahead = StreamAhead(fetcher.stream(record.key), STREAM_AHEAD_BYTES)
        stack.push_async_callback(ahead.close)
    info = await ensure_available(store, record.key)
    if problem := size_problem(record.key, info.size, record.size):
        problems.append(problem)
    reader = None
    seek_error = None
    remembered: dict[tuple[int, int], bytes] = {}
    if record.compression == "zstd":
        try:
            reader = await fetcher.open_seekable(record.key, info.size, remember=remembered)
        except IntegrityError as error:
            seek_error = error
    index = None
    if record.index_key is not None:

        def keep(member: Member) -> bool:
            table.add_member(0, member)
            return False

        try:
            index = await prefetch.load(record.index_key, keep)
        except IntegrityError as error:
            problems.extend(error.problems)
        table.flush_members()
    if seek_error is not None:
        raise _integrity(record.name, [*problems, *seek_error.problems]) from seek_error
    chunks = ahead.chunks() if ahead is not None else fetcher.stream(record.key)
    checker = _TarChecker(index, table)
    frames = 0
    if reader is not None:
        if index is not None:
            problems.extend(check_seek_table(index, reader.table, reader.compressed_size))
        frames = len(reader.frames)

        def check_frames(bridge: StreamBridge) -> list[str]:
            seekable = SeekableReader(SequentialReadAt(bridge, remembered), info.size)
            return _FrameChecker(seekable).run(checker)

        problems.extend(await run_with_stream(chunks, check_frames))
    else:
        codec = get_codec(record.compression)

        def check_stream(bridge: StreamBridge) -> list[str]:
            source = DecompressedReader(bridge, codec.decompressor())
            try:
                checker.run(source)
                source.drain()
            except CorruptDataError as error:
                return [f"{record.key}: {error}"]
            return []

        problems.extend(await run_with_stream(chunks, check_stream))
    problems.extend(checker.problems)
    if problems:
        raise _integrity(record.name, problems)
    logger.info("verified %s: %d frames, %d files", record.name, frames, checker.files)
    return VerifyReport(
        frames=frames,
        files=checker.files,
        bytes_fetched=fetcher.bytes_fetched + prefetch.fetcher.bytes_fetched,
        seconds=time.monotonic() - started,
        quick=False,
        parts=0,
        notes=notes,
    )


class _FrameChecker:
    """A file of the archive's decompressed bytes, decoded frame by frame through the seek
    table; a damaged frame is recorded and ends the file there."""

    def __init__(self, reader: SeekableReader) -> None:
        self._reader = reader
        self._next = 0
        self._out = memoryview(b"")
        self.problems: list[str] = []

    def _decode(self, number: int) -> bytes | None:
        frame = self._reader.frames[number]
        try:
            return self._reader.read(frame.decompressed_offset, frame.decompressed_size)
        except CorruptDataError as error:
            self.problems.append(str(error))
            return None

    def read(self, size: int = -1, /) -> bytes:
        """The next decompressed bytes; CorruptDataError at the first damaged frame."""
        while not self._out and self._next < len(self._reader.frames):
            data = self._decode(self._next)
            self._next += 1
            if data is None:
                raise CorruptDataError(self.problems[-1])
            self._out = memoryview(data)
        piece = bytes(self._out if size < 0 else self._out[:size])
        self._out = self._out[len(piece) :]
        return piece

    def run(self, checker: _TarChecker) -> list[str]:
        """Check the tar in the frames, then every frame not reached; the frame problems."""
        try:
            checker.run(self)
            while self.read(_HASH_BYTES):  # past the tar's end blocks: check the frames left
                pass
        except CorruptDataError:
            checker.problems.append(
                f"tar members after byte {checker.position} not checked: the frame holding "
                "them is damaged"
            )
        for number in range(self._next, len(self._reader.frames)):
            self._decode(number)
        return self.problems


class _TarChecker:
    """Compares the members of a tar stream with the index (its members in ``table``, in
    archive order) and the inventory (``table``'s inventory 0)."""

    def __init__(self, index: ArchiveIndex | None, table: EntryTable) -> None:
        self._index = index
        self._table = table
        self._indexed_count = table.member_count if index is not None else 0
        self.problems: list[str] = []
        self.files = 0
        self.position = 0
        """Offset in the tar stream of the last member reached."""

    def run(self, source: _FrameChecker | DecompressedReader) -> None:
        """Read the tar stream from ``source`` to its end; problems go to :attr:`problems`."""
        seen = SeenSet(self._table.rows)
        walk = self._table.walk(0, None, outputs=False)
        members = self._table.members()
        number = 0
        tar = TarMemberReader(source)
        try:
            while (member := tar.next()) is not None:
                self.position = member.offset
                indexed = next(members, None) if number < self._indexed_count else None
                number += 1
                found = walk.stored(member.path, seen)
                if found is not None:
                    seen.add(found[0])
                self._check(tar, member, indexed, found and found[1])
        except (tarfile.TarError, EOFError) as error:
            self.problems.append(f"tar stream after byte {self.position}: {error}")
        if self._index is not None and number < self._indexed_count:
            missing = self._table.member_at(number)
            assert missing is not None
            self.problems.append(
                f"{missing.path}: in the index, missing from the archive "
                f"({self._indexed_count - number} members in all)"
            )
        for row, path in self._table.stored_paths(0):
            if row not in seen:
                self.problems.append(f"{path}: in the inventory, missing from the archive")

    def _check(
        self,
        tar: TarMemberReader,
        member: TarMember,
        indexed: Member | None,
        entry: InventoryEntry | None,
    ) -> None:
        kind = member.kind
        link = member.link if kind in (EntryType.SYMLINK, EntryType.HARDLINK) else ""
        problem = member_problem(member.path, kind, member.size, link, entry)
        if problem is not None:
            self.problems.append(f"{member.path}: {problem}")
        if self._index is not None:
            found = (member.path, kind, member.offset_data, member.size if kind == "file" else 0)
            expected = (
                None
                if indexed is None
                else (indexed.path, indexed.type, indexed.offset, indexed.size)
            )
            if found != expected:
                self.problems.append(
                    f"{member.path}: the archive has (path, type, offset, size) {found}, "
                    f"the index {expected}"
                )
        if kind != EntryType.FILE:
            return
        digest = Sha256()
        while chunk := tar.read(_HASH_BYTES):
            digest.update(chunk)
        self.files += 1
        tag = digest.tag()
        if entry is not None and entry.checksum != tag:
            self.problems.append(
                f"{member.path}: sha256 is {tag}, the inventory records {entry.checksum}"
            )
        if indexed is not None and indexed.sha256 not in (None, tag):
            self.problems.append(
                f"{member.path}: sha256 is {tag}, the index records {indexed.sha256}"
            )


async def _verify_quick(store: ObjectStore, record: ArchiveRecord) -> tuple[int, tuple[str, ...]]:
    """Compare what S3 stored with what the inventory recorded; the parts compared, and the
    notes."""
    if not isinstance(store, ColdStorage):
        raise CargoshipError(
            f"verify --quick needs S3 (it reads the checksums S3 keeps); {store} has none: "
            "run a full verify"
        )
    problems: list[str] = []
    for key in (record.index_key, record.name + INVENTORY_SUFFIX):
        if key is None:
            continue
        try:
            await store.head(key)
        except NoSuchKeyError:
            problems.append(f"{key}: missing from the store")
    notes = await _head_page_table(store, record, problems)
    stored = await store.part_checksums(record.key)
    compared = len(record.parts)
    if record.parts or stored:
        if len(stored) != len(record.parts):
            problems.append(
                f"{record.key}: {len(stored)} parts in the store, {len(record.parts)} recorded"
            )
        for found, expected in zip(stored, record.parts, strict=False):
            if found != expected:
                problems.append(
                    f"{record.key} part {expected.number}: the store has {found.size} bytes with "
                    f"{found.checksum}, the upload recorded {expected.size} bytes with "
                    f"{expected.checksum}"
                )
    else:
        compared = 1
        info = await store.head(record.key)
        if record.checksum is None or info.checksum != record.checksum:
            problems.append(
                f"{record.key}: the store has checksum {info.checksum}, "
                f"the upload recorded {record.checksum}"
            )
    if problems:
        raise _integrity(record.name, problems)
    return compared, notes


async def _head_page_table(
    store: ObjectStore, record: ArchiveRecord, problems: list[str]
) -> tuple[str, ...]:
    """HEAD the page table of an archive with an index: a problem when it is over the size
    a page table may have, a note when there is none; the notes."""
    if record.index_key is None:
        return ()
    key = record.name + PAGES_SUFFIX
    try:
        info = await store.head(key)
    except NoSuchKeyError:
        return _no_table_note(record)
    if info.size > MAX_PAGES_BYTES:
        problems.append(
            f"{key}: {info.size} bytes, more than the {MAX_PAGES_BYTES} a page table may hold"
        )
    return ()
