"""``ship``: scan a tree, then pack, hash, compress and upload it as one stream.

The order in which objects appear is what makes an archive trustworthy
(DESIGN.md, "Archives"): the archive object (streamed, never spooled to disk)
and its member index, then the inventory's page table (where each run of
inventory items lies, for ``restore --include``; only with an index), then the
inventory, last. Until the inventory is stored the archive does not count as
complete, so any failure on the way (an unreadable file, a dropped connection,
Ctrl-C) leaves nothing that looks like a finished archive.

The bytes travel sooner than the objects appear. The index is uploaded as soon
as packing ends, while the archive's last parts are on their way. So are the
page table and the inventory: the upload "seals" the archive once its last
byte is hashed (s3opt's ``on_sealed``), which gives its size, ETag and part
checksums before S3 has them all, and the inventory is written from those; its
upload completes only once the archive and index are stored and match them.
On a long path that hides the inventory's transfer (33 MB for 85,000 files)
behind the archive's last part instead of adding it after. Should the stored
archive's ETag differ from the expected one (SSE-KMS gives ETags that are not
MD5s), that inventory is dropped and written again with the stored values.

Memory per file stays small whatever the tree's size: the packer spools each
member's index line, and ``ship`` each inventory item, to anonymous temporary
files in a private temporary directory (``$TMPDIR``, never next to the data;
removed on every way out), and the index and inventory are uploaded by
streaming from them at the end.
"""

from __future__ import annotations

import asyncio
import logging
import math
import tempfile
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, NamedTuple

from blobcodec.seekable import WritableBinary
from cargoship.concurrency import both
from cargoship.errors import IntegrityError, SourceChangedError, UnreadableFilesError
from cargoship.inventory import ArchiveRecord, EntrySpool, EntryType, InventoryEntry, Totals
from cargoship.layout import ARCHIVE_TAGS, ArchiveKeys, name_at
from cargoship.pack import TarPacker
from cargoship.sample import SAMPLE_BYTES, TarLayout, measure_ratio
from cargoship.ship._model import ShipOptions, ShipProgress, ShipReport
from cargoship.ship._plan import ShipPlan, ToPack, make_plan, source_dir
from cargoship.ship._read_ahead import ReadAhead
from cargoship.ship._state import ShipState, previous_state, s3_store
from cargoship.ship._stream import ArchiveStream, open_codec
from s3opt import ObjectInfo, ObjectStore
from s3opt.pricing import PriceTable
from s3opt.protocols import SealHook

__all__ = ["ship"]

_logger = logging.getLogger(__name__)

_PROGRESS_STEP = 1 << 20  # content bytes read between progress reports
_HOT_CLASS = "STANDARD"  # the index and inventory stay readable without a retrieval


@dataclass(frozen=True, slots=True)
class _Packed:
    """What the packer thread produced besides the archive bytes."""

    files: int
    """Files and hard links in the inventory (carried ones included)."""
    index: Iterator[bytes] | None
    """The serialised member index, read from its spool file (None for lz4 and gzip)."""
    bytes_in: int
    dedup_bytes: int
    tar_size: int
    skipped: tuple[str, ...]


async def ship(
    store: ObjectStore,
    source: Path,
    options: ShipOptions,
    *,
    progress: ShipProgress | None = None,
) -> ShipReport:
    """Archive the tree at ``source`` under the store's prefix; see the module docstring.

    Raises UnreadableFilesError (before anything is uploaded when found while
    scanning) unless ``options.skip_unreadable``; CargoshipError for bad
    options or a ``resume`` with nothing to resume; s3opt's errors unchanged.
    """
    started = time.monotonic()
    root = source_dir(source)
    state_file, resumed = await previous_state(store, root, options)
    if options.dry_run:
        plan = await make_plan(store, root, options, resumed)
        return await asyncio.to_thread(_dry_run, plan, options.skip_unreadable, started)
    if resumed is not None:
        plan = await make_plan(store, root, options, resumed)
        name, archived_at = resumed.name, resumed.archived_at
    else:
        # The name's listing (a round trip) goes while the tree is scanned.
        plan, (name, archived_at) = await both(
            make_plan(store, root, options, resumed), _fresh_name(store)
        )
    keys = ArchiveKeys(name, plan.compression)
    state: ShipState | None = None
    if state_file is not None:
        state = ShipState(
            source=str(root),
            target=str(s3.url) if (s3 := s3_store(store)) is not None else "",
            name=keys.name,
            compression=plan.compression,
            level=plan.level,
            storage_class=plan.storage_class,
            archived_at=archived_at,
            base=plan.base.archive.name if plan.base is not None else None,
            path=state_file,
        )
        await asyncio.to_thread(state.save)
    try:
        # Anonymous files (O_TMPFILE) in a private directory: gone on any exit, even a kill.
        with (
            tempfile.TemporaryDirectory(prefix="cargoship-ship-") as spool_dir,
            tempfile.TemporaryFile(dir=spool_dir) as index_file,
            tempfile.TemporaryFile(dir=spool_dir) as inventory_file,
        ):
            spools = _Spools(index_file, EntrySpool(inventory_file))
            report = await _ship(
                store, plan, options, keys, archived_at, state, progress, started, spools
            )
    except BaseException as exc:
        # The state stays, so that `ship --resume` continues; a later plain ship abandons it.
        if state is not None:
            _logger.info(
                "ship of %s stopped (%s); `ship --resume` continues it", root, type(exc).__name__
            )
        raise
    if state is not None:
        await asyncio.to_thread(state.remove)
    return report


async def _fresh_name(store: ObjectStore) -> tuple[str, datetime]:
    """A name after now (:func:`name_at`) and that time, waiting for the next second while
    an archive has that name."""
    while True:
        now = datetime.now(UTC)
        name = name_at(now)
        if not await _name_taken(store, name):
            return name, now
        await asyncio.sleep(1.0 - now.microsecond / 1e6)


async def _name_taken(store: ObjectStore, name: str) -> bool:
    """Whether any object of an archive called ``name`` exists (the listing stops at one)."""
    listing = store.list(name + ".")
    try:
        async for _ in listing:
            return True
        return False
    finally:
        if isinstance(listing, AsyncGenerator):
            await listing.aclose()


def _monthly_cost(
    archive_size: int, extra_size: int, storage_class: str, extra_objects: int
) -> float:
    """Monthly storage cost: the archive in its class, the ``extra_objects`` beside it
    (index, page table, inventory) in STANDARD."""
    prices = PriceTable.load()
    cost = prices.monthly_storage(archive_size, 1, storage_class)
    if extra_size:
        cost += prices.monthly_storage(extra_size, extra_objects, _HOT_CLASS)
    return float(cost)


@dataclass(frozen=True, slots=True)
class _Spools:
    """Where a ship keeps its member index and inventory items until they are uploaded."""

    index_file: IO[bytes]
    inventory: EntrySpool


def _pack_entries(
    packer: TarPacker,
    plan: ShipPlan,
    skip_unreadable: bool,
    keep: Callable[[InventoryEntry], object],
) -> tuple[int, tuple[str, ...]]:
    """Add every entry to ``packer`` in scan order (carried entries are not packed), small
    files read ahead in a thread (:class:`ReadAhead`), then close it; each inventory entry
    goes to ``keep``, in order, as it is made. The number of files and hard links, and the
    skipped paths."""
    files = 0
    skipped = list(plan.skipped)
    packer.plan(plan.to_pack)
    with ReadAhead(plan.entries, plan.carried) as read_ahead:
        for entry, read in read_ahead:
            made = plan.carried.get(entry.name)
            try:
                if made is None:
                    made = packer.add(entry, read)
            except SourceChangedError:
                raise
            except UnreadableFilesError as exc:
                if not skip_unreadable:
                    raise
                _logger.warning("skipped: %s", exc)
                skipped.append(entry.name)
                continue
            keep(made)
            files += made.type is EntryType.FILE or made.type is EntryType.HARDLINK
    packer.close()
    return files, tuple(skipped)


def _dry_run(plan: ShipPlan, skip_unreadable: bool, started: float) -> ShipReport:
    """The numbers a ship would give: the tree is read and hashed (duplicates found as a
    ship finds them) but not compressed; the stored size is the tar stream's size over the
    ratio of :mod:`cargoship.sample`'s sample of it: ``estimate``'s projection
    (:mod:`cargoship.estimate`)."""
    now = datetime.now(UTC)
    packer = TarPacker(_Discard(), compression=plan.compression, archived_at=now)
    links: dict[str, str] = {}

    def keep(entry: InventoryEntry) -> None:
        if entry.type is EntryType.HARDLINK and entry.link is not None:
            links[entry.path] = entry.link

    files, skipped = _pack_entries(packer, plan, skip_unreadable, keep)
    members = ToPack(plan.entries, {*plan.carried, *skipped})  # the members packed
    layout = TarLayout(members, links)
    _, ratio = measure_ratio(layout.frames(SAMPLE_BYTES), plan.compression, plan.level)
    stored = math.ceil(packer.tar_size / ratio)
    return ShipReport(
        keys=ArchiveKeys.new(plan.compression, now),
        archive=None,
        files=files,
        bytes_in=packer.bytes_in,
        bytes_stored=stored,
        dedup_bytes=packer.dedup_bytes,
        skipped=skipped,
        unchanged=len(plan.carried),
        seconds=time.monotonic() - started,
        monthly_cost=_monthly_cost(stored, 0, plan.storage_class, 0),
        storage_class=plan.storage_class,
    )


class _Discard:
    """A sink that drops what it is given (a dry run writes no archive)."""

    def write(self, data: bytes, /) -> int:
        return len(data)


async def _ship(
    store: ObjectStore,
    plan: ShipPlan,
    options: ShipOptions,
    keys: ArchiveKeys,
    archived_at: datetime,
    state: ShipState | None,
    progress: ShipProgress | None,
    started: float,
    spools: _Spools,
) -> ShipReport:
    """Stream the archive; store its index, the inventory's page table and the inventory
    beside its last parts, the inventory appearing last (see the module docstring)."""
    if progress is not None:
        count = size = 0
        for entry in plan.to_pack:
            if entry.type is EntryType.FILE:
                count += 1
                size += entry.size
        progress.start(count, size)
    reported = 0

    def report(bytes_in: int, *, last: bool = False) -> None:
        """Tell the progress callback, on the loop, every :data:`_PROGRESS_STEP` bytes read."""
        nonlocal reported
        step = bytes_in - reported
        if progress is not None and step > 0 and (last or step >= _PROGRESS_STEP):
            stream.notify(progress.advance, step)
            reported = bytes_in

    def pack(sink: WritableBinary) -> _Packed:
        codec = open_codec(sink, plan.compression, plan.level, options.threads)
        packer = TarPacker(
            codec,
            compression=plan.compression,
            archived_at=archived_at,
            frame_size=codec.frame_size,
            on_read=report if progress is not None else None,
            index_file=spools.index_file,
        )
        try:
            files, skipped = _pack_entries(
                packer, plan, options.skip_unreadable, spools.inventory.add
            )
            report(packer.bytes_in, last=True)
            index = packer.index_pieces(codec.finish())  # None for lz4 and gzip
        except BaseException:
            codec.abort()
            raise
        return _Packed(files, index, packer.bytes_in, packer.dedup_bytes, packer.tar_size, skipped)

    async def store_index(stream: ArchiveStream[_Packed]) -> ObjectInfo | None:
        """Upload the member index as soon as packing ends, beside the archive's last parts."""
        packed = await stream.packed()
        if packed.index is None:
            return None
        return await store.upload(
            keys.index, _thread_stream(packed.index), storage_class=_HOT_CLASS
        )

    sealed: asyncio.Future[ObjectInfo] = asyncio.get_running_loop().create_future()

    async def on_archive_sealed(info: ObjectInfo) -> None:
        sealed.set_result(info)

    def describe(info: ObjectInfo) -> _Description:
        """What the inventory says of the archive ``info`` describes: the sealed one (its
        size and digests are the stream's own) or the stored one, checked by the gate."""
        packed = stream.result
        record = ArchiveRecord(
            name=keys.name,
            key=keys.archive,
            index_key=keys.index if packed.index is not None else None,
            compression=plan.compression,
            level=plan.level,
            storage_class=plan.storage_class,
            created_at=archived_at,
            source=str(plan.root),
            size=info.size,
            tar_size=packed.tar_size,
            etag=info.etag,
            checksum=stream.sha256_tag(),
            parts=info.parts,
            base=plan.base.archive.name if plan.base is not None else None,
        )
        totals = Totals(
            files=packed.files,
            bytes_in=packed.bytes_in,
            bytes_stored=info.size,
            dedup_bytes=packed.dedup_bytes,
            skipped=packed.skipped,
        )
        return _Description(record, totals)

    async with ArchiveStream(pack) as stream:
        archive = asyncio.ensure_future(
            _upload(store, keys.archive, stream, plan.storage_class, state, on_archive_sealed)
        )
        index = asyncio.ensure_future(store_index(stream))

        async def describe_archive() -> tuple[_Description, int, int]:
            """Store the page table and the inventory while the archive's last parts travel;
            the inventory appears only once the archive and index are stored as expected."""
            expected = await asyncio.shield(sealed)
            await stream.packed()

            async def archive_stored(_: ObjectInfo) -> None:
                info = await asyncio.shield(archive)
                await asyncio.shield(index)
                _check_upload(keys.archive, info, stream.size, stream.sha256_tag())
                if (info.etag, info.parts) != (expected.etag, expected.parts):
                    raise _UnexpectedArchiveInfoError(info)

            try:
                description = describe(expected)
                stored = await _store_description(store, keys, spools, description, archive_stored)
            except _UnexpectedArchiveInfoError as exc:
                description = describe(exc.info)
                stored = await _store_description(store, keys, spools, description)
            return description, *stored

        info, (index_info, (description, extra, extra_objects)) = await both(
            archive, both(index, describe_archive())
        )
    record, totals = description
    if index_info is not None:
        extra, extra_objects = extra + index_info.size, extra_objects + 1
    _logger.info("shipped %s: %d bytes in, %d stored", keys.archive, totals.bytes_in, info.size)
    return ShipReport(
        keys=keys,
        archive=record,
        files=totals.files,
        bytes_in=totals.bytes_in,
        bytes_stored=info.size,
        dedup_bytes=totals.dedup_bytes,
        skipped=totals.skipped,
        unchanged=len(plan.carried),
        seconds=time.monotonic() - started,
        monthly_cost=_monthly_cost(info.size, extra, plan.storage_class, extra_objects),
        storage_class=plan.storage_class,
    )


class _Description(NamedTuple):
    """What the inventory says of the archive: its record and the ship's totals."""

    record: ArchiveRecord
    totals: Totals


class _UnexpectedArchiveInfoError(Exception):
    """The stored archive's ETag or parts differ from those expected when it was sealed (an
    ETag that is not an MD5, as with SSE-KMS): the inventory is written again with them."""

    def __init__(self, info: ObjectInfo) -> None:
        super().__init__(f"{info.key}: stored with ETag {info.etag!r}")
        self.info = info


async def _store_description(
    store: ObjectStore,
    keys: ArchiveKeys,
    spools: _Spools,
    description: _Description,
    on_sealed: SealHook | None = None,
) -> tuple[int, int]:
    """Store the inventory's page table (with an index) and the inventory side by side, the
    inventory committed only once ``on_sealed`` returned and the page table is stored; their
    bytes and count."""
    record, totals = description
    table = None
    if record.index_key is not None:  # only an archive with an index is restored in part
        table = spools.inventory.page_table(record, totals)
    pages = None
    if table is not None:
        pages = asyncio.ensure_future(
            store.put(keys.pages, table.dumps(), storage_class=_HOT_CLASS)
        )

    async def described_stored(info: ObjectInfo) -> None:
        """The inventory's gate: what it describes is stored, and so is its page table."""
        if on_sealed is not None:
            await on_sealed(info)
        if pages is not None:
            await asyncio.shield(pages)

    pieces = spools.inventory.yaml_pieces(record, totals)
    inventory = store.upload(
        keys.inventory, _thread_stream(pieces), storage_class=_HOT_CLASS, on_sealed=described_stored
    )
    if pages is None:
        return (await inventory).size, 1
    stored, pages_info = await both(inventory, pages)
    return stored.size + pages_info.size, 2


async def _thread_stream(pieces: Iterator[bytes]) -> AsyncIterator[bytes]:
    """``pieces`` (read from a spool file), each made in a thread: the index or the
    inventory a piece at a time, never the whole object in memory."""
    while piece := await asyncio.to_thread(next, pieces, b""):
        yield piece


async def _upload(
    store: ObjectStore,
    key: str,
    stream: ArchiveStream[_Packed],
    storage_class: str,
    state: ShipState | None,
    on_sealed: SealHook,
) -> ObjectInfo:
    """Upload the archive stream, tagged :data:`ARCHIVE_TAGS` (what lifecycle rules match)."""
    s3 = s3_store(store)
    if s3 is not None and state is not None:
        return await s3.upload(
            key,
            stream,
            storage_class=storage_class,
            tags=ARCHIVE_TAGS,
            resume_state=state.upload_state,
            on_sealed=on_sealed,
        )
    return await store.upload(
        key, stream, storage_class=storage_class, tags=ARCHIVE_TAGS, on_sealed=on_sealed
    )


def _check_upload(key: str, info: ObjectInfo, size: int, checksum: str) -> None:
    """The stored object must be the bytes streamed: same size, and same SHA-256 when known."""
    problems = []
    if info.size != size:
        problems.append(f"{key}: stored {info.size} bytes, streamed {size}")
    if (
        info.checksum is not None
        and info.checksum.startswith("sha256:")
        and info.checksum != checksum
    ):
        problems.append(f"{key}: stored {info.checksum}, streamed {checksum}")
    if problems:
        raise IntegrityError("; ".join(problems), problems)
