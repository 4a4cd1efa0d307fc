"""Restore an archive, or the members matching ``--include`` globs, into a directory.

Order of work: load the inventory; refuse an archive still in GLACIER or
DEEP_ARCHIVE (:class:`RetrievalRequiredError`); check every entry to restore
(hostile members, existing files) and, where the archive has a member index,
the members it lists, all before anything is written: every member for a whole
restore; with ``include``, only the members written. (With ``include`` the
archive's HEAD, which finds it cold, and its seek-table read, at the size the
inventory records, go together beside the checks and the index reads; their
outcome is awaited before anything is written.) A member that is never
written cannot escape DEST or replace a file, so a hostile one elsewhere does
not stop the restore of the chosen entries (a whole restore refuses it).
With ``include`` and an index, only what the chosen entries need is read: their
inventory items, those of the directories on their paths and of their hard
links' targets (other items skipped unparsed), and the index pages that can
hold their members (an index written before pages is read whole), the index's
directory read at once, beside the inventory. Where the
archive has an inventory page table (:mod:`cargoship.inventory._pages`) and
every glob has a literal prefix, only the inventory's head and the pages that
can hold those items are fetched (:func:`cargoship.paged_inventory.open_paged_inventory`);
otherwise the whole inventory is downloaded and scanned. A whole restore starts
the archive's stream as soon as the inventory is read and holds its first
:data:`STREAM_AHEAD_BYTES` bytes while the checks run, so unpacking starts with them
in hand and the store's window open (on the emulated ``far`` path: 2 s less for
the 1.1 GiB tree). Then:

* the whole archive is streamed in order, decompressed and unpacked in a
  worker thread (tar members checked against the inventory as they pass:
  the tar is the truth, a member the inventory does not list is refused);
* with ``include``, only the matching members' frames are fetched, by ranged
  reads through the index (codecs without an index, lz4 and gzip, are
  streamed and filtered instead);
* entries an incremental archive inherits from older archives are fetched
  from those archives by ranged reads in the same way.

Every regular file is checked against its inventory SHA-256 before it takes
its name (:mod:`cargoship.extract`). Symlinks are created after all files,
directory modes and mtimes last.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import tarfile
import tempfile
import time
from collections.abc import AsyncGenerator, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import partial
from pathlib import Path
from typing import Protocol

from blobcodec.errors import CorruptDataError
from blobcodec.index import ArchiveIndex, Member
from blobcodec.registry import get_codec
from blobcodec.seekable import AsyncSeekableReader
from cargoship.concurrency import settle
from cargoship.entry_table import EntryTable, SeenSet
from cargoship.errors import CargoshipError, IntegrityError
from cargoship.extract import Extractor, hostile, member_problem
from cargoship.fetch import (
    STREAM_AHEAD_BYTES,
    ArchiveFetcher,
    DecompressedReader,
    IndexHeadPrefetch,
    IndexPrefetch,
    StreamAhead,
    StreamBridge,
    check_seek_table,
    ensure_available,
    member_chunks,
    run_with_stream,
    size_problem,
)
from cargoship.inventory import ArchiveRecord, EntryType, InventoryEntry, glob_prefix
from cargoship.layout import INDEX_SUFFIX, stream_inventory
from cargoship.paged_inventory import open_paged_inventory
from cargoship.pax_members import TarMemberReader
from cargoship.precheck import check_entries, find_conflicts
from s3opt import ObjectInfo, ObjectStore

__all__ = ["RestoreOptions", "RestoreProgress", "RestoreReport", "restore"]

logger = logging.getLogger(__name__)

_COPY_BYTES = 1 << 20  # bytes of a tar member's data written at a time
_LISTED_PROBLEMS = 1000  # missing members an IntegrityError names
_HELD_PATHS = 100_000  # paths a restore of some entries holds in a set (more: queries)


@dataclass(frozen=True, slots=True)
class RestoreOptions:
    """What to restore and whether existing files may be replaced."""

    include: tuple[str, ...] = ()
    """fnmatch globs on archive paths (``*`` matches ``/`` too); a match on a directory takes
    everything under it. Empty: everything."""
    overwrite: bool = False
    sparse: bool = False
    """Leave blocks of zeros in restored files as holes (:data:`cargoship.extract.HOLE_BLOCK`),
    so a file that was sparse comes back sparse (others may become so). Off by default: a
    file that needs its blocks allocated (a swap file) must not have holes."""
    outside_symlinks: bool = False
    """Restore symlinks whose targets lie outside DEST (absolute, or ``..`` above it) as they
    were archived, instead of refusing the archive. Nothing is written through them either
    way: no member may lie under an archived symlink, and every path is opened without
    following one."""


class RestoreProgress(Protocol):
    """Told how much a restore will write, then, from the thread that writes, each piece
    written (so an implementation must be thread-safe, as rich's progress bars are)."""

    def start(self, files: int, bytes_total: int) -> None:
        """The regular files and their bytes this restore writes (hard links not counted)."""
        ...

    def advance(self, bytes_written: int) -> None:
        """``bytes_written`` more bytes were written (an increment, not a running total)."""
        ...


@dataclass(frozen=True, slots=True)
class RestoreReport:
    """What a restore did."""

    files: int
    """Entries created other than directories (files, hard links, symlinks)."""
    bytes_written: int
    bytes_fetched: int
    """Bytes received for the archive(s) and index(es); the inventory is not counted."""
    requests: int
    """GET requests for those bytes."""
    seconds: float
    verified: int
    """Regular files whose SHA-256 was checked against the inventory."""
    inventory_bytes: int = 0
    """Bytes received for the inventories and their page tables."""
    inventory_requests: int = 0
    """Requests (GET and HEAD) for those bytes."""


@dataclass(frozen=True, slots=True)
class _Plan:
    """The work for one archive: the members its tar and index must hold are the entries of
    inventory ``inv`` stored there; the chosen entries it feeds name it in ``archive``."""

    record: ArchiveRecord
    inv: int
    """The archive's inventory in the :class:`EntryTable`."""
    archive: str | None
    """What the chosen entries it feeds record as their ``archive``: None for the archive
    restored, the older archive's name for inherited entries."""


def _selected(globs: Sequence[str]) -> Callable[[str], bool]:
    """Whether a path is chosen by ``globs`` (:attr:`RestoreOptions.include`): it, or a
    directory it is under, matches one. Globs without ``*?[`` are plain paths."""
    if not any(magic in glob for glob in globs for magic in "*?["):
        exact = frozenset(globs)
        under = tuple(glob + "/" for glob in globs)
        return lambda path: path in exact or path.startswith(under)

    def matches(path: str) -> bool:
        parts = path.split("/")
        prefixes = ("/".join(parts[:depth]) for depth in range(len(parts), 0, -1))
        return any(fnmatchcase(prefix, glob) for prefix in prefixes for glob in globs)

    return matches


async def _read_inventory(
    fetcher: ArchiveFetcher,
    name: str,
    table: EntryTable,
    chosen: Callable[[str], bool] | None = None,
    *,
    globs: Sequence[str] = (),
    sources: tuple[Callable[[str], bool], set[str] | None] | None = None,
) -> tuple[ArchiveRecord, int]:
    """The record of archive ``name``'s inventory, whose entries go to ``table``, and their
    inventory number there; every read through ``fetcher``.

    When the archive has an index (its members are fetched by ranged reads, not streamed
    past a check of each), only what the restore needs goes to ``table``: with ``chosen``
    (``globs`` matching), the chosen entries, then the entries on their paths and their hard
    links' targets (:func:`_needed`); with ``sources`` (an older archive: which paths, and
    those paths when held), the entries at those paths. Other items are skipped unparsed,
    and with a page table only the pages that can hold them are fetched
    (:func:`_read_pages`). Without an index, every entry goes in.
    """
    paged = await _read_pages(fetcher, name, table, chosen, globs, sources)
    if paged is not None:
        return paged
    with tempfile.TemporaryFile(prefix="cargoship-restore-") as file:
        stream = await stream_inventory(fetcher.store, name, file, fetcher)
        where = stream.archive.name
        if stream.archive.index_key is None:
            inv = table.add(stream.entries, where=where, chosen=chosen)
        elif chosen is not None:
            inv = table.add(stream.select(chosen), where=where, chosen=chosen)
            _add_needed(table, inv, stream.select, chosen, _needed(table), where)
        elif sources is not None:
            inv = table.add(stream.select(sources[0]), where=where)
        else:
            inv = table.add(stream.entries, where=where)
    return stream.archive, inv


def _add_needed(
    table: EntryTable,
    inv: int,
    select: Callable[[Callable[[str], bool]], Iterable[InventoryEntry]],
    chosen: Callable[[str], bool],
    needed: set[str] | None,
    where: str,
) -> None:
    """Add to ``inv`` the entries ``select`` gives at the ``needed`` paths not chosen (every
    entry not chosen when ``needed`` is None: too many to hold)."""
    if needed is None:
        table.extend(inv, select(lambda path: not chosen(path)), where=where)
    elif needed:
        table.extend(inv, select(lambda path: path in needed and not chosen(path)), where=where)


async def _read_pages(
    fetcher: ArchiveFetcher,
    name: str,
    table: EntryTable,
    chosen: Callable[[str], bool] | None,
    globs: Sequence[str],
    sources: tuple[Callable[[str], bool], set[str] | None] | None,
) -> tuple[ArchiveRecord, int] | None:
    """:func:`_read_inventory` through the inventory's page table; None, with nothing added
    to ``table``, when the whole inventory is to be read instead: no table (or one
    :func:`open_paged_inventory` declines), no index, a glob without a literal prefix
    (``*.txt`` may match in any page), or more source paths than are held.

    Every path ``chosen`` accepts starts with its glob's literal prefix
    (:func:`~cargoship.inventory.glob_prefix`; a match on a directory takes what is
    under it, which starts with it too) and lies under each directory that prefix names:
    the pages that can hold those are fetched first, then those that can hold the other
    paths the chosen entries need. When those would pass ``PAGED_BYTES``, the other
    entries come from the whole inventory.
    """
    if chosen is None:
        if sources is None or sources[1] is None:
            return None
        paged = await open_paged_inventory(fetcher, name, paths=sources[1])
        if paged is None or paged.archive.index_key is None:
            return None
        return paged.archive, table.add(paged.select(sources[0]), where=paged.archive.name)
    prefixes = [glob_prefix(glob) for glob in globs]
    if not all(prefixes):
        return None
    directories = {prefix[:end] for prefix in prefixes for end in _slashes(prefix) if end}
    paged = await open_paged_inventory(fetcher, name, prefixes=prefixes, paths=directories)
    if paged is None or paged.archive.index_key is None:
        return None
    where = paged.archive.name
    inv = table.add(paged.select(chosen), where=where, chosen=chosen)
    needed = _needed(table)
    if needed is not None and await paged.fetch(paths=needed):
        _add_needed(table, inv, paged.select, chosen, needed, where)
        return paged.archive, inv
    with tempfile.TemporaryFile(prefix="cargoship-restore-") as file:
        stream = await stream_inventory(fetcher.store, name, file, fetcher)
        _add_needed(table, inv, stream.select, chosen, needed, where)
    return paged.archive, inv


def _slashes(path: str) -> Iterator[int]:
    """The offsets of the ``/`` in ``path``."""
    at = path.find("/")
    while at >= 0:
        yield at
        at = path.find("/", at + 1)


def _needed(table: EntryTable) -> set[str] | None:
    """The paths the checks of the chosen entries look up besides their own: every directory
    on their paths (one the inventory stores as a symlink is refused) and the targets of their
    hard links; None when there are more than :data:`_HELD_PATHS`."""
    needed: set[str] = set()
    for entry in table.chosen():
        if entry.type is EntryType.HARDLINK and entry.link is not None:
            needed.add(entry.link)
        end = entry.path.rfind("/")
        while end > 0 and (parent := entry.path[:end]) not in needed:
            needed.add(parent)
            end = parent.rfind("/")
        if len(needed) > _HELD_PATHS:
            return None
    return needed


def _sources(
    table: EntryTable, archive: str | None
) -> tuple[Callable[[str], bool], set[str] | None]:
    """Whether a chosen entry takes its bytes from the member at a path of ``archive``
    (None: the archive restored), and those paths: held in a set, or (more than
    :data:`_HELD_PATHS`) None, and a query per path."""
    paths = set(itertools.islice(table.sources(archive), _HELD_PATHS + 1))
    if len(paths) > _HELD_PATHS:
        return partial(table.wants, archive), None
    return paths.__contains__, paths


async def restore(
    store: ObjectStore,
    name: str,
    dest: Path,
    options: RestoreOptions,
    *,
    progress: RestoreProgress | None = None,
) -> RestoreReport:
    """Restore archive ``name`` (or the entries matching ``options.include``) into ``dest``;
    ``progress`` hears of the bytes written once the checks have passed."""
    started = time.monotonic()
    fetcher = ArchiveFetcher(store)
    async with contextlib.AsyncExitStack() as stack:
        table = stack.enter_context(EntryTable())
        # While the inventory is read: a whole restore fetches the whole index, an --include
        # the index's directory (both need the inventory only to say which members).
        key = name + INDEX_SUFFIX
        prefetch = (
            IndexHeadPrefetch(fetcher, key) if options.include else IndexPrefetch(fetcher, key)
        )
        stack.push_async_callback(prefetch.close)
        return await _restore(
            store, name, dest, options, table, started, progress, fetcher, prefetch, stack
        )


async def _restore(
    store: ObjectStore,
    name: str,
    dest: Path,
    options: RestoreOptions,
    table: EntryTable,
    started: float,
    progress: RestoreProgress | None,
    fetcher: ArchiveFetcher,
    prefetch: IndexPrefetch | IndexHeadPrefetch,
    stack: contextlib.AsyncExitStack,
) -> RestoreReport:
    """:func:`restore`, with the ``fetcher`` of the archives and indexes, and the read of
    the archive's index that ``prefetch`` started beside the inventory's.

    A whole restore starts the archive's stream as soon as the inventory is read
    (:data:`STREAM_AHEAD_BYTES`), so its first bytes arrive while the checks run; ``stack``
    stops it if they fail."""
    globs = options.include
    chosen = _selected(globs) if globs else None
    inventories = ArchiveFetcher(store)  # counts the inventories' bytes apart
    record, _ = await _read_inventory(inventories, name, table, chosen, globs=globs)
    if not table.count_chosen():
        raise CargoshipError(
            f"no member of archive {record.name} matches " + ", ".join(repr(glob) for glob in globs)
        )
    available: dict[str, ObjectInfo] = {}
    opened: dict[str, AsyncSeekableReader | None] = {}
    ahead = opening = None
    if globs:  # the archive's HEAD and seek table travel beside the checks and index reads
        files = table.chosen_file_totals()[0]
        opening = asyncio.ensure_future(_open_archive(store, fetcher, record, files > 0))
        stack.push_async_callback(settle, opening)
    else:  # the stream's own HEAD goes beside this one: a cold archive's stops at its GET
        ahead = StreamAhead(fetcher.stream(record.key), STREAM_AHEAD_BYTES)
        stack.push_async_callback(ahead.close)
        available[record.name] = await ensure_available(store, record.key)
    await asyncio.to_thread(check_entries, dest, table, outside_symlinks=options.outside_symlinks)
    await asyncio.to_thread(find_conflicts, dest, table, overwrite=options.overwrite)

    plans = {record.name: _Plan(record, 0, None)}
    # With --include, which member paths each archive must give (None: every one).
    sources = {record.name: _sources(table, None) if globs else None}
    for older in table.older_archives():
        sources[older] = _sources(table, older) if globs else None
        older_record, inv = await _read_inventory(inventories, older, table, sources=sources[older])
        plans[older] = _Plan(older_record, inv, older)
    for archive, plan in plans.items():
        if archive not in available and archive != record.name:
            available[archive] = await ensure_available(store, plan.record.key)

    # The members an index lists are checked, as the index is read, before anything is
    # written: every one in a whole restore, only those written with --include (whose
    # pages alone are fetched); the members whose bytes are fetched by ranged reads go to
    # the table (none for an archive restored whole, which is streamed).
    whole = None if globs else record.name
    indexes: dict[str, ArchiveIndex] = {}
    for archive, plan in plans.items():
        if plan.record.index_key is not None:
            only, paths = sources[archive] or (None, None)
            check = _IndexCheck(table, plan, ranged=archive != whole, only=only)
            loaded = await prefetch.load(plan.record.index_key, check.keep, paths=paths)
            table.flush_members()
            if check.problems:
                raise hostile(check.problems)
            if archive != whole:
                indexes[archive] = loaded  # the archive's identity; its members are in table

    if opening is not None:  # before anything is written: the archive is there and readable
        available[record.name], opened[record.name] = await opening
    extractor = Extractor(
        dest,
        overwrite=options.overwrite,
        sparse=options.sparse,
        on_written=progress.advance if progress is not None else None,
    )
    if progress is not None:
        progress.start(*table.chosen_file_totals())
    try:
        await asyncio.to_thread(_each, extractor.directory, table.chosen(EntryType.DIRECTORY))
        for archive, plan in plans.items():
            index = indexes.get(archive)
            if index is None:
                chunks = (
                    ahead.chunks()
                    if ahead is not None and archive == record.name
                    else fetcher.stream(plan.record.key)
                )
                await _stream(chunks, plan, table, extractor)
            else:
                size = available[archive].size
                reader = opened.get(archive)
                await _ranged(fetcher, plan, table, index, size, extractor, reader)
        await asyncio.to_thread(_each, extractor.symlink, table.chosen(EntryType.SYMLINK))
        await asyncio.to_thread(extractor.finish, table.chosen_directories())
    finally:
        extractor.close()
    logger.info("restored %d entries of %s into %s", extractor.entries, name, dest)
    return RestoreReport(
        files=extractor.entries,
        bytes_written=extractor.bytes_written,
        bytes_fetched=fetcher.bytes_fetched,
        requests=fetcher.requests,
        seconds=time.monotonic() - started,
        verified=extractor.verified,
        inventory_bytes=inventories.bytes_fetched,
        inventory_requests=inventories.requests,
    )


def _each(make: Callable[[InventoryEntry], None], entries: Iterable[InventoryEntry]) -> None:
    """``make`` every entry (in one worker thread, not one hop per entry)."""
    for entry in entries:
        make(entry)


class _IndexCheck:
    """Checks the members of an index as they are read against the inventory, collecting
    problems; puts the members ``plan`` fetches by ranged reads in the table.

    Every member is checked, unless ``only`` says which are written (``--include``): the
    others are never written, so they are passed over, as the inventory entries the
    restore does not need were (the table does not hold them).
    """

    def __init__(
        self,
        table: EntryTable,
        plan: _Plan,
        *,
        ranged: bool,
        only: Callable[[str], bool] | None = None,
    ) -> None:
        self._table = table
        self._plan = plan
        self._ranged = ranged
        self._only = only
        self._walk = table.walk(plan.inv, plan.archive, outputs=False)
        self._seen = SeenSet(table.rows)
        self.problems: dict[str, str] = {}
        """Member path -> why it may not be restored (HostileMemberError when any)."""

    def keep(self, member: Member) -> bool:
        """Check ``member``; never keep it in the index (the table has it if needed)."""
        plan, table = self._plan, self._table
        if self._only is not None:
            if not self._only(member.path):
                return False
            found = table.stored(plan.inv, member.path)
        else:
            found = self._walk.stored(member.path, self._seen)
            if found is not None:
                self._seen.add(found[0])
        problem = member_problem(
            member.path, member.type, member.size, member.link, found and found[1]
        )
        if problem is not None:
            self.problems[member.path] = problem
        if self._only is not None or (self._ranged and table.wants(plan.archive, member.path)):
            table.add_member(plan.inv, member)
        return False


async def _ranged(
    fetcher: ArchiveFetcher,
    plan: _Plan,
    table: EntryTable,
    index: ArchiveIndex,
    size: int,
    extractor: Extractor,
    opened: AsyncSeekableReader | None = None,
) -> None:
    """Fetch only the members the chosen entries need, by ranged reads of their frames
    (``opened``: the archive's reader, when its seek table was read already)."""
    key = plan.record.key
    reader: AsyncSeekableReader | None = None
    for number, outputs in enumerate(table.all_outputs(plan.archive)):
        if not number:
            reader = await _open_ranged(fetcher, plan.record, index, size, opened)
        member = table.member(plan.inv, outputs.source)
        if member is None:
            raise IntegrityError(
                f"archive {key}: the index has no member {outputs.source!r}",
                (f"{outputs.source}: not indexed",),
            )
        first = outputs.entries[0]
        pending = await asyncio.to_thread(extractor.open_file, first)
        try:
            async for chunk in member_chunks(fetcher, key, member, reader):
                await asyncio.to_thread(pending.write, chunk)
        except BaseException:
            await asyncio.to_thread(pending.discard)
            raise
        await asyncio.to_thread(pending.commit)
        for other in outputs.entries[1:]:
            await asyncio.to_thread(extractor.hardlink, other, first)


async def _open_ranged(
    fetcher: ArchiveFetcher,
    record: ArchiveRecord,
    index: ArchiveIndex,
    size: int,
    opened: AsyncSeekableReader | None,
) -> AsyncSeekableReader | None:
    """A reader of the seekable archive ``record`` (``opened``, or opened now) checked against
    ``index``, or None for an uncompressed one (read by plain ranges)."""
    if record.compression == "none":
        return None
    if record.compression != "zstd":
        raise CargoshipError(f"archive {record.key}: a {record.compression} archive has no index")
    reader = opened or await fetcher.open_seekable(record.key, size)
    problems = check_seek_table(index, reader.table, reader.compressed_size)
    if problems:
        raise IntegrityError(f"archive {record.key}: {problems[0]}", problems)
    return reader


async def _open_archive(
    store: ObjectStore, fetcher: ArchiveFetcher, record: ArchiveRecord, read_table: bool
) -> tuple[ObjectInfo, AsyncSeekableReader | None]:
    """The archive's HEAD (RetrievalRequiredError while it is in a cold class) and, with
    ``read_table`` and for seekable zstd, a reader of it.

    The seek table is read at the size the inventory records, beside the HEAD: one round
    trip instead of two. The HEAD's verdict comes first (a cold archive's read fails too,
    and that failure is dropped), and it must find the recorded size (IntegrityError).
    """
    if not read_table or record.compression != "zstd":
        return await ensure_available(store, record.key), None
    head = asyncio.ensure_future(ensure_available(store, record.key))
    opening = asyncio.ensure_future(fetcher.open_seekable(record.key, record.size))
    try:
        info = await head
        if problem := size_problem(record.key, info.size, record.size):
            raise IntegrityError(f"archive {problem}", (problem,))
        return info, await opening
    finally:
        await settle(head, opening)


async def _stream(
    chunks: AsyncGenerator[bytes, None], plan: _Plan, table: EntryTable, extractor: Extractor
) -> None:
    """Unpack the whole archive from ``chunks`` (its stream), writing the members the chosen
    entries need, in a worker thread."""
    codec = get_codec(plan.record.compression)

    def unpack(bridge: StreamBridge) -> None:
        source = DecompressedReader(bridge, codec.decompressor())
        try:
            _unpack(source, plan, table, extractor)
            source.drain()
        except (CorruptDataError, tarfile.TarError, EOFError) as error:
            raise IntegrityError(
                f"archive {plan.record.key}: {error}", (f"{plan.record.key}: {error}",)
            ) from error

    await run_with_stream(chunks, unpack)


def _unpack(
    source: DecompressedReader, plan: _Plan, table: EntryTable, extractor: Extractor
) -> None:
    """Check every tar member against the inventory; write the chosen entries' bytes."""
    seen = SeenSet(table.rows)
    walk = table.walk(plan.inv, plan.archive, outputs=True)
    tar = TarMemberReader(source)
    while (member := tar.next()) is not None:
        kind = member.kind
        link = member.link if kind in (EntryType.SYMLINK, EntryType.HARDLINK) else ""
        found, outputs = walk.member_entries(member.path, seen)
        problem = member_problem(member.path, kind, member.size, link, found and found[1])
        if problem is None and found is not None and seen.add(found[0]):
            problem = "stored twice"
        if problem is not None:
            raise hostile({member.path: problem})
        if outputs and kind == EntryType.FILE:
            extractor.write_file(outputs[0], iter(partial(tar.read, _COPY_BYTES), b""))
            for other in outputs[1:]:
                extractor.hardlink(other, outputs[0])
    _check_all_seen(plan, table, seen)


def _check_all_seen(plan: _Plan, table: EntryTable, seen: SeenSet) -> None:
    """IntegrityError when the tar lacks members the inventory lists (the first
    :data:`_LISTED_PROBLEMS` named in its problems)."""
    missing = 0
    problems: list[str] = []
    for number, path in table.stored_paths(plan.inv):
        if number not in seen:
            missing += 1
            if len(problems) < _LISTED_PROBLEMS:
                problems.append(f"{path}: listed in the inventory, missing from the archive")
    if missing:
        first = problems[0].split(": listed", 1)[0]
        raise IntegrityError(
            f"archive {plan.record.key} lacks {missing} members the inventory lists, "
            f"first {first!r}",
            problems,
        )
