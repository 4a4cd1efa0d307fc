"""Restore an archive, or the members matching ``--include`` globs, into a directory.

Order of work: load the inventory; refuse an archive still in GLACIER or
DEEP_ARCHIVE (:class:`RetrievalRequiredError`); check every entry to restore
(hostile members, existing files) and, where the archive has a member index,
every member the index lists, all before anything is written. Then:

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
import logging
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from functools import partial
from pathlib import Path

from blobcodec.errors import CorruptDataError
from blobcodec.index import ArchiveIndex, Member
from blobcodec.registry import get_codec
from blobcodec.seekable import AsyncSeekableReader
from cargoship.errors import CargoshipError, IntegrityError, InventoryFormatError
from cargoship.extract import (
    Extractor,
    check_entries,
    find_conflicts,
    hostile,
    member_problem,
    tar_member_kind,
)
from cargoship.fetch import (
    ArchiveFetcher,
    DecompressedReader,
    StreamBridge,
    check_seek_table,
    ensure_available,
    member_chunks,
    run_with_stream,
)
from cargoship.inventory import ArchiveRecord, EntryType, InventoryEntry
from cargoship.layout import stream_inventory
from s3opt import ObjectStore

__all__ = ["RestoreOptions", "RestoreReport", "restore"]

logger = logging.getLogger(__name__)

_COPY_BYTES = 1 << 20  # bytes of a tar member's data written at a time


@dataclass(frozen=True, slots=True)
class RestoreOptions:
    """What to restore and whether existing files may be replaced."""

    include: tuple[str, ...] = ()
    """fnmatch globs on archive paths (``*`` matches ``/`` too); a match on a directory takes
    everything under it. Empty: everything."""
    overwrite: bool = False


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


@dataclass(slots=True)
class _Plan:
    """The work for one archive: which member's bytes go to which entries."""

    record: ArchiveRecord
    members: Mapping[str, InventoryEntry]
    """Every entry stored in this archive, by path (what its tar and index must hold)."""
    outputs: dict[str, list[InventoryEntry]] = field(default_factory=dict)
    """Data member path -> the entries written from its bytes: the first gets them, the
    rest become hard links to it."""


def _selected(path: str, globs: Sequence[str]) -> bool:
    if not globs:
        return True
    if not any(magic in glob for glob in globs for magic in "*?["):
        return any(path == glob or path.startswith(glob + "/") for glob in globs)
    parts = path.split("/")
    prefixes = ("/".join(parts[:depth]) for depth in range(len(parts), 0, -1))
    return any(fnmatchcase(prefix, glob) for prefix in prefixes for glob in globs)


@dataclass(frozen=True, slots=True)
class _Entries:
    """An inventory as restore keeps it: its entries, and them by path."""

    archive: ArchiveRecord
    entries: tuple[InventoryEntry, ...]
    by_path: dict[str, InventoryEntry]
    inherits: bool
    """Whether some entries are stored in older archives (``archive`` set)."""


async def _read_inventory(store: ObjectStore, name: str) -> _Entries:
    """The inventory of archive ``name``, downloaded to an anonymous temporary file and read
    from it a batch at a time: the document is never in memory whole."""
    with tempfile.TemporaryFile(prefix="cargoship-restore-") as file:
        stream = await stream_inventory(store, name, file)
        by_path: dict[str, InventoryEntry] = {}
        inherits = False
        for entry in stream.entries:
            if by_path.setdefault(entry.path, entry) is not entry:
                raise InventoryFormatError(
                    f"inventory of {stream.archive.name}: path {entry.path!r} repeats"
                )
            inherits = inherits or entry.archive is not None
    return _Entries(stream.archive, tuple(by_path.values()), by_path, inherits)


def _plan(inventory: _Entries) -> _Plan:
    if not inventory.inherits:
        return _Plan(inventory.archive, inventory.by_path)
    stored = {entry.path: entry for entry in inventory.entries if entry.archive is None}
    return _Plan(inventory.archive, stored)


def _add_outputs(plan: _Plan, entries: Iterable[InventoryEntry]) -> None:
    ordered = sorted(entries, key=lambda entry: entry.type is EntryType.HARDLINK)
    for entry in ordered:
        source = entry.link if entry.type is EntryType.HARDLINK else entry.path
        assert source is not None
        plan.outputs.setdefault(source, []).append(entry)


async def restore(
    store: ObjectStore, name: str, dest: Path, options: RestoreOptions
) -> RestoreReport:
    """Restore archive ``name`` (or the entries matching ``options.include``) into ``dest``."""
    started = time.monotonic()
    inventory = await _read_inventory(store, name)
    if options.include:
        chosen: Sequence[InventoryEntry] = [
            e for e in inventory.entries if _selected(e.path, options.include)
        ]
    else:
        chosen = inventory.entries
    if not chosen:
        raise CargoshipError(
            f"no member of archive {inventory.archive.name} matches "
            + ", ".join(repr(glob) for glob in options.include)
        )
    check_entries(dest, chosen, inventory.entries)
    find_conflicts(dest, chosen, overwrite=options.overwrite)

    plans = {inventory.archive.name: _plan(inventory)}
    for older in sorted({e.archive for e in chosen if e.archive is not None}):
        plans[older] = _plan(await _read_inventory(store, older))
    for archive, plan in plans.items():
        own = archive == inventory.archive.name
        _add_outputs(plan, (e for e in chosen if (e.archive is None) == own and _has_data(e)))
    available = {n: await ensure_available(store, p.record.key) for n, p in plans.items()}

    fetcher = ArchiveFetcher(store)
    # Every member an index lists is checked, as the index is read, before anything is
    # written; only the members whose bytes are fetched by ranged reads are kept (none
    # for an archive restored whole, which is streamed): memory stays flat per member.
    whole = None if options.include else inventory.archive.name
    indexes: dict[str, ArchiveIndex] = {}
    for archive, plan in plans.items():
        if plan.record.index_key is not None:
            check = _IndexCheck(plan, ranged=archive != whole)
            loaded = await fetcher.load_index(plan.record.index_key, check.keep)
            if check.problems:
                raise hostile(check.problems)
            if archive != whole:
                indexes[archive] = loaded

    extractor = Extractor(dest, overwrite=options.overwrite)
    try:
        await asyncio.to_thread(_each, extractor.directory, chosen, EntryType.DIRECTORY)
        for archive, plan in plans.items():
            index = indexes.get(archive)
            if index is None:
                await _stream(fetcher, plan, extractor)
            elif plan.outputs:
                await _ranged(fetcher, plan, index, available[archive].size, extractor)
        await asyncio.to_thread(_each, extractor.symlink, chosen, EntryType.SYMLINK)
        await asyncio.to_thread(extractor.finish)
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
    )


def _each(
    make: Callable[[InventoryEntry], None], entries: Iterable[InventoryEntry], kind: EntryType
) -> None:
    """``make`` every entry of type ``kind`` (in one worker thread, not one hop per entry)."""
    for entry in entries:
        if entry.type is kind:
            make(entry)


def _has_data(entry: InventoryEntry) -> bool:
    return entry.type in (EntryType.FILE, EntryType.HARDLINK)


class _IndexCheck:
    """Checks each member of an index as it is read against the inventory (``plan.members``),
    collecting problems; keeps only the members ``plan`` fetches by ranged reads."""

    def __init__(self, plan: _Plan, *, ranged: bool) -> None:
        self._members = plan.members
        self._wanted = plan.outputs if ranged else {}
        self.problems: dict[str, str] = {}
        """Member path -> why it may not be restored (HostileMemberError when any)."""

    def keep(self, member: Member) -> bool:
        problem = member_problem(member.path, member.type, member.size, member.link, self._members)
        if problem is not None:
            self.problems[member.path] = problem
        return member.path in self._wanted


async def _ranged(
    fetcher: ArchiveFetcher,
    plan: _Plan,
    index: ArchiveIndex,
    size: int,
    extractor: Extractor,
) -> None:
    """Fetch only the members ``plan`` needs, by ranged reads of their frames."""
    key = plan.record.key
    reader: AsyncSeekableReader | None = None
    if plan.record.compression == "zstd":
        reader = await fetcher.open_seekable(key, size)
        problems = check_seek_table(index, reader.table, reader.compressed_size)
        if problems:
            raise IntegrityError(f"archive {key}: {problems[0]}", problems)
    elif plan.record.compression != "none":
        raise CargoshipError(f"archive {key}: a {plan.record.compression} archive has no index")
    for path, outputs in plan.outputs.items():
        try:
            member = index.lookup(path)
        except KeyError:
            raise IntegrityError(
                f"archive {key}: the index has no member {path!r}", (f"{path}: not indexed",)
            ) from None
        pending = await asyncio.to_thread(extractor.open_file, outputs[0])
        try:
            async for chunk in member_chunks(fetcher, key, member, reader):
                await asyncio.to_thread(pending.write, chunk)
        except BaseException:
            await asyncio.to_thread(pending.discard)
            raise
        await asyncio.to_thread(pending.commit)
        for other in outputs[1:]:
            await asyncio.to_thread(extractor.hardlink, other, outputs[0])


async def _stream(fetcher: ArchiveFetcher, plan: _Plan, extractor: Extractor) -> None:
    """Stream the whole archive, unpacking the members ``plan`` needs in a worker thread."""
    codec = get_codec(plan.record.compression)

    def unpack(bridge: StreamBridge) -> None:
        source = DecompressedReader(bridge, codec.decompressor())
        try:
            _unpack(source, plan, extractor)
            source.drain()
        except (CorruptDataError, tarfile.TarError, EOFError) as error:
            raise IntegrityError(
                f"archive {plan.record.key}: {error}", (f"{plan.record.key}: {error}",)
            ) from error

    await run_with_stream(fetcher.stream(plan.record.key), unpack)


def _unpack(source: DecompressedReader, plan: _Plan, extractor: Extractor) -> None:
    """Check every tar member against the inventory; write the planned ones' bytes."""
    seen: set[str] = set()
    with tarfile.open(fileobj=source, mode="r|") as tar:  # type: ignore[call-overload]
        while (member := tar.next()) is not None:
            tar.members.clear()  # a stream's TarFile keeps every TarInfo otherwise
            kind = tar_member_kind(member)
            link = member.linkname if kind in (EntryType.SYMLINK, EntryType.HARDLINK) else ""
            problem = member_problem(member.name, kind, member.size, link, plan.members)
            if problem is None and member.name in seen:
                problem = "stored twice"
            if problem is not None:
                raise hostile({member.name: problem})
            seen.add(plan.members[member.name].path)  # the inventory's string, not the tar's
            outputs = plan.outputs.get(member.name)
            if outputs and kind == EntryType.FILE:
                data = tar.extractfile(member)
                assert data is not None
                extractor.write_file(outputs[0], iter(partial(data.read, _COPY_BYTES), b""))
                for other in outputs[1:]:
                    extractor.hardlink(other, outputs[0])
    missing = [path for path in plan.members if path not in seen]
    if missing:
        problems = [
            f"{path}: listed in the inventory, missing from the archive" for path in missing
        ]
        raise IntegrityError(
            f"archive {plan.record.key} lacks {len(missing)} members the inventory lists, "
            f"first {missing[0]!r}",
            problems,
        )
