"""The catalog of a prefix: every complete archive's summary, and a search across them.

Inventories stay in a hot storage class whatever happens to their archives,
so browsing and searching never need a retrieval. An archive is complete
when its inventory exists (:func:`cargoship.layout.list_archives`). Neither
operation holds whole inventories: a summary (the archive record and totals,
which lead the document) is read from the inventory's first
:data:`HEAD_BYTES`, and a search reads, through the inventory's page table,
only the pages that can hold its matches, or streams the whole inventory
through a temporary file; either keeps only the entries that match.
Inventories are read a few at a time.
"""

from __future__ import annotations

import asyncio
import fnmatch
import io
import re
import tempfile
from dataclasses import dataclass
from typing import Any, Final

from cargoship.concurrency import each_bounded
from cargoship.entry_table import without_repeats
from cargoship.errors import InventoryFormatError
from cargoship.fetch import ArchiveFetcher
from cargoship.inventory import (
    ArchiveRecord,
    Inventory,
    InventoryEntry,
    Totals,
    glob_prefix,
    read_document,
)
from cargoship.layout import INVENTORY_SUFFIX, list_archives, stream_inventory
from cargoship.paged_inventory import open_paged_inventory
from s3opt.errors import NoSuchKeyError
from s3opt.protocols import ObjectStore

__all__ = [
    "HEAD_BYTES",
    "INVENTORY_FETCHES",
    "ArchiveSummary",
    "CatalogHit",
    "search",
    "summaries",
]

INVENTORY_FETCHES: Final = 8
"""Inventories read at once: latency, not bandwidth, is what this hides for summaries."""

HEAD_BYTES: Final = 64 * 1024
"""Bytes of an inventory read for its summary: the record and totals take about 1 KiB,
more only with many skipped files; a longer head is read whole instead."""


@dataclass(frozen=True, slots=True)
class ArchiveSummary:
    """An archive's record and totals, as its inventory document states them."""

    archive: ArchiveRecord
    totals: Totals

    def to_json(self) -> dict[str, Any]:
        """The inventory document without its ``files`` list."""
        document = Inventory(self.archive, self.totals, ()).to_json()
        del document["files"]
        return document


@dataclass(frozen=True, slots=True)
class CatalogHit:
    """One path found: the archive whose inventory lists it, and its entry there.

    For an incremental archive, ``entry.archive`` names the older archive that
    holds the bytes of an unchanged file (``None``: this archive holds them).
    """

    archive: str
    entry: InventoryEntry


async def summaries(store: ObjectStore) -> list[ArchiveSummary]:
    """The summary of every complete archive under the store, oldest first.

    InventoryFormatError (naming the inventory) for a malformed head.
    """
    names = await list_archives(store)
    return await each_bounded(names, lambda name: _summary(store, name), limit=INVENTORY_FETCHES)


async def _summary(store: ObjectStore, name: str) -> ArchiveSummary:
    key = name + INVENTORY_SUFFIX
    try:
        head = await store.get_range(key, 0, HEAD_BYTES)
    except NoSuchKeyError:
        head = b""  # deleted since the listing: the full read below names the problem
    whole = 0 < len(head) < HEAD_BYTES
    if head and not head.lstrip().startswith(b"{"):  # JSON has no head to cut
        try:
            archive, totals, _ = read_document(io.BytesIO(head))
        except InventoryFormatError:
            if whole:
                return await _streamed_summary(store, name)  # the error, named
        else:
            if archive.name == name:
                return ArchiveSummary(archive, totals)
    return await _streamed_summary(store, name)


async def _streamed_summary(store: ObjectStore, name: str) -> ArchiveSummary:
    """The summary from the whole inventory, read through a temporary file (and validated as
    :func:`stream_inventory` does: the errors it raises name the inventory)."""
    with tempfile.TemporaryFile() as file:
        stream = await stream_inventory(store, name, file)
        return ArchiveSummary(stream.archive, stream.totals)


async def search(
    store: ObjectStore, pattern: str, *, archive: str | None = None
) -> list[CatalogHit]:
    """Every entry whose path matches the shell pattern ``pattern``, archive by archive (oldest
    first), in inventory order.

    Matching is :func:`fnmatch.fnmatchcase` on the whole archive path: case-sensitive,
    and ``*`` also crosses ``/`` (``"*.txt"`` finds text files at any depth). With
    ``archive`` (a name), only that archive's inventory is read (the errors of
    :func:`stream_inventory` if it has none).

    Every path the pattern matches starts with its literal prefix (the text before its
    first ``*``, ``?`` or ``[``). When there is one, an archive's inventory is read
    through its page table (:func:`~cargoship.paged_inventory.open_paged_inventory`): its
    head and only the pages whose bounds can hold such paths. Otherwise (a pattern that
    starts with a wildcard, an archive shipped without a table, pages over half the
    inventory or :data:`~cargoship.paged_inventory.PAGED_BYTES`) the inventory is streamed
    whole; only the hits are kept, and a path listed twice is an InventoryFormatError
    (:func:`~cargoship.entry_table.without_repeats`).

    The page table is checked as ``restore --include`` checks it: a table that does not
    tile the inventory, is of another size than the inventory object, or whose fetched
    pages hold other items or paths outside their bounds is an InventoryFormatError, not
    fewer hits. What it says of the pages not fetched cannot be checked without reading
    them: a table whose bounds for such a page leave out a path that is there (written
    for another inventory of the same size and layout) hides that path from the search;
    ``cargoship verify`` checks every page.
    """
    match = re.compile(fnmatch.translate(pattern)).match  # fnmatchcase's test, compiled once
    prefix = glob_prefix(pattern)

    def matches(path: str) -> bool:
        return match(path) is not None

    async def hits(name: str) -> list[CatalogHit]:
        if prefix:
            paged = await open_paged_inventory(ArchiveFetcher(store), name, prefixes=[prefix])
            if paged is not None:
                selected = paged.select(matches)
                found = await asyncio.to_thread(list, selected)
                return [CatalogHit(name, entry) for entry in found]
        with tempfile.TemporaryFile() as file:
            stream = await stream_inventory(store, name, file)

            def scan() -> list[CatalogHit]:
                return [CatalogHit(name, e) for e in without_repeats(stream) if match(e.path)]

            return await asyncio.to_thread(scan)

    names = [archive] if archive is not None else await list_archives(store)
    found = await each_bounded(names, hits, limit=INVENTORY_FETCHES)
    return [hit for archive in found for hit in archive]
