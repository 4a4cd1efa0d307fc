"""Reading an archive's inventory through its page table: the head and only the pages asked for.

``restore --include`` needs the inventory items of a few paths. With the page
table ship writes beside the inventory (``<name>.inventory.pages``,
:mod:`cargoship.inventory._pages`), :func:`open_paged_inventory` fetches the
table, HEADs the inventory, and reads the head and the pages whose bounds can
hold those paths with ranged GETs (``If-Match`` the inventory's ETag, so every
range is of the version the table was checked against), each range with the
byte before it and the two after it to check that it starts and ends at item
bounds. Pages a restore does not fetch cannot be checked here: ``verify``
checks the whole table against the whole inventory.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Iterator, Mapping
from typing import Final

from cargoship.errors import InventoryFormatError
from cargoship.fetch import ArchiveFetcher
from cargoship.inventory import (
    MAX_PAGES_BYTES,
    ArchiveRecord,
    InventoryEntry,
    InventoryPages,
    Totals,
    parse_head,
    parse_pages,
    read_page,
)
from cargoship.layout import INVENTORY_SUFFIX, PAGES_SUFFIX, archive_name, missing_archive_error
from s3opt.errors import NoSuchKeyError
from s3opt.protocols import ObjectInfo

__all__ = ["PAGED_BYTES", "PagedInventory", "open_paged_inventory"]

PAGED_BYTES: Final = 16 << 20
"""Most bytes of inventory pages a :class:`PagedInventory` holds (more: read it whole)."""


class PagedInventory:
    """An inventory read through its page table: its head, and the pages fetched so far
    (:func:`open_paged_inventory`). Every read of the inventory is of the version whose
    size the table was checked against (``If-Match`` its ETag)."""

    def __init__(
        self,
        archive: ArchiveRecord,
        totals: Totals,
        table: InventoryPages,
        read: Callable[[list[int]], Awaitable[dict[int, bytes]]],
        where: str,
        texts: dict[int, bytes],
    ) -> None:
        self.archive = archive
        self.totals = totals
        self.where = where
        """The inventory's key and store, which errors name."""
        self._table = table
        self._read = read
        self._texts = texts
        """The pages fetched, by number."""
        self._firsts = [0] * len(table.pages)  # number of each page's first item
        for number in range(1, len(table.pages)):
            self._firsts[number] = self._firsts[number - 1] + table.pages[number - 1].items

    async def fetch(self, *, prefixes: Collection[str] = (), paths: Collection[str] = ()) -> bool:
        """Fetch the pages not held yet that can hold a path starting with one of
        ``prefixes`` or in ``paths`` (:meth:`InventoryPages.holding`); False, fetching
        nothing, when they would take the pages held past :data:`PAGED_BYTES`."""
        numbers = [n for n in self._table.holding(prefixes, paths) if n not in self._texts]
        held = self._table.length_of(self._texts)
        if held + self._table.length_of(numbers) > PAGED_BYTES:
            return False
        if numbers:
            self._texts.update(await self._read(numbers))
        return True

    def select(self, wanted: Callable[[str], bool]) -> Iterator[InventoryEntry]:
        """The entries at the paths ``wanted`` accepts in the pages fetched, in document order:
        all there are when every path it accepts starts with a prefix, or is a path, that
        :meth:`fetch` was given. InventoryFormatError when a page is not what the table says
        (``cargoship.inventory.read_page``)."""
        for number in sorted(self._texts):
            page = self._table.pages[number]
            try:
                yield from read_page(self._texts[number], page, self._firsts[number], wanted)
            except InventoryFormatError as exc:
                raise InventoryFormatError(
                    f"{self.where}, page {number} (bytes {page.offset}-{page.end - 1}): "
                    f"{exc}: the page table does not match the inventory"
                ) from None


async def open_paged_inventory(
    fetcher: ArchiveFetcher,
    name: str,
    *,
    prefixes: Collection[str] = (),
    paths: Collection[str] = (),
) -> PagedInventory | None:
    """The inventory of archive ``name`` through its page table (``<name>.inventory.pages``),
    with its head and the pages that can hold the ``prefixes`` and ``paths`` fetched
    (:meth:`PagedInventory.fetch`), every read through ``fetcher``.

    None, having read no more than the table, when the inventory is to be read whole
    instead: the archive has no table (shipped before tables, or without an index), the
    table is of another format or larger than ``MAX_PAGES_BYTES``, or the pages would
    pass :data:`PAGED_BYTES` or half the inventory. InventoryFormatError when the table
    does not match the inventory: not tiling it after its head, another size than the
    object's, a range that does not start and end at item bounds (checked on the bytes
    read; each range is read with the byte before it and the two after); errors of a
    missing inventory as :func:`cargoship.layout.load_inventory` raises them.
    """
    store = fetcher.store
    name = archive_name(name)
    key, pages_key = name + INVENTORY_SUFFIX, name + PAGES_SUFFIX

    async def table_bytes() -> bytes | None:
        try:
            return await fetcher.read_range(pages_key, 0, MAX_PAGES_BYTES + 1)
        except NoSuchKeyError:
            return None

    async def inventory_info() -> ObjectInfo | None:
        try:
            return await fetcher.head(key)
        except NoSuchKeyError:
            return None

    data, info = await asyncio.gather(table_bytes(), inventory_info())
    if info is None:
        raise await missing_archive_error(store, name)
    if data is None or len(data) > MAX_PAGES_BYTES:
        return None
    where = f"{key} in {store}"
    table = parse_pages(data, f"{pages_key} in {store}")
    if table is None:
        return None
    if table.inventory_size != info.size:
        raise InventoryFormatError(
            f"{pages_key} in {store} describes an inventory of {table.inventory_size} bytes; "
            f"{key} has {info.size}: the page table does not match the inventory"
        )
    chosen = table.holding(prefixes, paths)
    if table.length_of(chosen) > min(PAGED_BYTES, table.inventory_size // 2):
        return None
    ranges = {number: (page.offset, page.end) for number, page in enumerate(table.pages)}

    async def read(numbers: list[int]) -> dict[int, bytes]:
        return await _read_ranges(fetcher, key, info, {n: ranges[n] for n in numbers}, where)

    texts = await _read_ranges(
        fetcher, key, info, {-1: (0, table.head_length)} | {n: ranges[n] for n in chosen}, where
    )
    try:
        archive, totals = parse_head(texts.pop(-1))
    except InventoryFormatError as exc:
        raise InventoryFormatError(f"{where}: {exc}") from None
    if archive.name != name:
        raise InventoryFormatError(f"{where} describes archive {archive.name}, not {name}")
    return PagedInventory(archive, totals, table, read, where, texts)


async def _read_ranges(
    fetcher: ArchiveFetcher,
    key: str,
    info: ObjectInfo,
    ranges: Mapping[int, tuple[int, int]],
    where: str,
) -> dict[int, bytes]:
    """The bytes of each ``(start, end)`` of ``ranges`` in the object ``key`` (``info`` its
    HEAD), adjacent ranges read together, all reads at once, each with the byte before it
    (which must end a line) and the two after it (which must open an item)."""
    runs: list[list[int]] = []
    for number in sorted(ranges, key=lambda n: ranges[n][0]):
        if runs and ranges[runs[-1][-1]][1] == ranges[number][0]:
            runs[-1].append(number)
        else:
            runs.append([number])

    async def run_bytes(run: list[int]) -> dict[int, bytes]:
        start, end = ranges[run[0]][0], ranges[run[-1]][1]
        before, after = min(start, 1), min(info.size - end, 2)
        data = await fetcher.read_range(
            key, start - before, before + end - start + after, if_match=info.etag
        )
        if len(data) != before + end - start + after:
            raise InventoryFormatError(f"{where} ends before byte {end + after}")
        if data[:before] not in (b"", b"\n") or data[len(data) - after :] != b"- "[:after]:
            raise InventoryFormatError(
                f"{where}: bytes {start}-{end - 1} do not start and end at item bounds: "
                "the page table does not match the inventory"
            )
        return {n: data[ranges[n][0] - start + before : ranges[n][1] - start + before] for n in run}

    found: dict[int, bytes] = {}
    for part in await asyncio.gather(*(run_bytes(run) for run in runs)):
        found.update(part)
    return found
