"""The catalog of a prefix: every complete archive's inventory, and a search across them.

Inventories stay in a hot storage class whatever happens to their archives,
so browsing and searching never need a retrieval. An archive is complete
when its inventory exists (:func:`cargoship.layout.list_archives`); the
inventories are fetched concurrently, a few at a time.
"""

from __future__ import annotations

import asyncio
import fnmatch
from dataclasses import dataclass
from typing import Final

from cargoship.inventory import Inventory, InventoryEntry
from cargoship.layout import list_archives, load_inventory
from s3opt.protocols import ObjectStore

__all__ = ["INVENTORY_FETCHES", "CatalogHit", "archives", "search"]

INVENTORY_FETCHES: Final = 8
"""Inventories fetched at once: small objects, so latency, not bandwidth, is what this hides."""


@dataclass(frozen=True, slots=True)
class CatalogHit:
    """One path found: the archive whose inventory lists it, and its entry there.

    For an incremental archive, ``entry.archive`` names the older archive that
    holds the bytes of an unchanged file (``None``: this archive holds them).
    """

    archive: str
    entry: InventoryEntry


async def archives(store: ObjectStore) -> list[Inventory]:
    """The inventory of every complete archive under the store, oldest first."""
    names = await list_archives(store)
    limit = asyncio.Semaphore(INVENTORY_FETCHES)

    async def fetch(name: str) -> Inventory:
        async with limit:
            return await load_inventory(store, name)

    tasks = [asyncio.create_task(fetch(name)) for name in names]
    try:
        return list(await asyncio.gather(*tasks))
    finally:
        # On a failure, stop the other fetches rather than leave them running.
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def search(store: ObjectStore, pattern: str) -> list[CatalogHit]:
    """Every entry whose path matches the shell pattern ``pattern``, archive by archive (oldest
    first), in inventory order.

    Matching is :func:`fnmatch.fnmatchcase` on the whole archive path: case-sensitive,
    and ``*`` also crosses ``/`` (``"*.txt"`` finds text files at any depth).
    """
    return [
        CatalogHit(inventory.archive.name, entry)
        for inventory in await archives(store)
        for entry in inventory.entries
        if fnmatch.fnmatchcase(entry.path, pattern)
    ]
