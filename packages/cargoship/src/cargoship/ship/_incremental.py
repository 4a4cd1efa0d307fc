"""Incremental ships: the files unchanged since the newest archive stay where they are.

A file is unchanged when the base inventory lists it at the same path with the
same size, mtime (ns) and permission bits, and its content's SHA-256 (read to
confirm) equals the recorded one. Its entry is carried into the new inventory
with ``archive`` naming the archive that stores its bytes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Sequence

from cargoship.inventory import EntryType, Inventory, InventoryEntry
from cargoship.layout import list_archives, load_inventory
from cargoship.scan import SourceEntry
from s3opt import ObjectStore

__all__ = ["newest_inventory", "unchanged_entries"]

_logger = logging.getLogger(__name__)

_STORED_TYPES = (EntryType.FILE, EntryType.HARDLINK)


async def newest_inventory(store: ObjectStore) -> Inventory | None:
    """The inventory of the newest complete archive under the store's prefix, if any."""
    names = await list_archives(store)
    if not names:
        return None
    return await load_inventory(store, names[-1])


def _sha256_tag(entry: SourceEntry) -> str | None:
    try:
        with entry.path.open("rb") as file:
            return "sha256:" + hashlib.file_digest(file, "sha256").hexdigest()
    except OSError as exc:
        _logger.debug("cannot hash %s to compare it: %s", entry.path, exc)
        return None


def unchanged_entries(entries: Sequence[SourceEntry], base: Inventory) -> dict[str, InventoryEntry]:
    """Archive path -> the carried inventory entry, for each file of ``entries`` unchanged
    since ``base``. Reads the content of every file whose size, mtime and mode match."""
    recorded = {entry.path: entry for entry in base.entries if entry.type in _STORED_TYPES}
    carried: dict[str, InventoryEntry] = {}
    for entry in entries:
        old = recorded.get(entry.name)
        if (
            entry.type is not EntryType.FILE
            or old is None
            or (old.size, old.mtime_ns, old.mode) != (entry.size, entry.mtime_ns, entry.mode)
        ):
            continue
        if _sha256_tag(entry) == old.checksum:
            holder = old.archive if old.archive is not None else base.archive.name
            carried[entry.name] = dataclasses.replace(old, archive=holder)
    return carried
