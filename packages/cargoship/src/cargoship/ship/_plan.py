"""What a ship decides before writing a byte: the entries, the unchanged files, the codec."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Container, Iterator
from dataclasses import dataclass
from pathlib import Path

from blobcodec import get_codec, names
from cargoship.duplicates import FileFacts
from cargoship.errors import CargoshipError, UnreadableFilesError
from cargoship.inventory import Inventory, InventoryEntry
from cargoship.layout import load_inventory
from cargoship.sample import choose_codec
from cargoship.scan import SourceEntry, scan
from cargoship.ship._incremental import newest_inventory, unchanged_entries
from cargoship.ship._model import ShipOptions
from cargoship.ship._state import ShipState
from cargoship.source_table import SourceTable
from s3opt import ObjectStore
from s3opt.protocols import check_storage_class

__all__ = ["ShipPlan", "ToPack", "make_plan", "source_dir"]

_logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ShipPlan:
    """The ship decided before any byte is written."""

    root: Path
    entries: SourceTable
    carried: dict[str, InventoryEntry]
    skipped: tuple[str, ...]
    base: Inventory | None
    compression: str
    level: int | None
    storage_class: str

    @property
    def to_pack(self) -> ToPack:
        """The entries to write into the archive: all but the unchanged files."""
        return ToPack(self.entries, self.carried)


@dataclass(frozen=True, slots=True)
class ToPack:
    """The entries of a table but those named in ``left_out`` (the carried ones), read
    afresh each time (never a list of them: the table is what keeps memory per file small)."""

    entries: SourceTable
    left_out: Container[str]

    def __iter__(self) -> Iterator[SourceEntry]:
        left_out = self.left_out
        return (entry for entry in self.entries if entry.name not in left_out)

    def file_facts(self) -> Iterator[FileFacts]:
        """What :func:`cargoship.duplicates.copy_groups` reads, from the table's columns."""
        return self.entries.file_facts(self.left_out)


def source_dir(source: Path) -> Path:
    """``source`` as an absolute, normalised path; CargoshipError unless it is a directory."""
    root = Path(os.path.abspath(source))
    if not root.is_dir():
        raise CargoshipError(f"cannot ship {source}: not a directory")
    return root


async def make_plan(
    store: ObjectStore, root: Path, options: ShipOptions, resumed: ShipState | None
) -> ShipPlan:
    """Scan, find unchanged files, and settle the codec: everything before the first byte."""
    storage_class = resumed.storage_class if resumed is not None else options.storage_class
    check_storage_class(storage_class)
    if options.compression not in (*names(), "auto"):
        raise CargoshipError(
            f"unknown compression {options.compression!r}; use auto, {', '.join(names())}"
        )
    unreadable: list[str] = []

    def on_unreadable(path: Path, error: OSError) -> None:
        name = path.relative_to(root).as_posix()
        _logger.warning("cannot read %s: %s", path, error.strerror or error)
        unreadable.append(name)

    entries = await asyncio.to_thread(
        lambda: SourceTable(root, scan(root, on_unreadable=on_unreadable))
    )
    if unreadable and not options.skip_unreadable:
        raise UnreadableFilesError(unreadable, "use --skip-unreadable to archive the rest")
    base: Inventory | None = None
    if resumed is not None and resumed.base is not None:
        base = await load_inventory(store, resumed.base)
    elif resumed is None and options.incremental:
        base = await newest_inventory(store)
    carried: dict[str, InventoryEntry] = {}
    if base is not None:
        carried = await asyncio.to_thread(unchanged_entries, entries, base)
    if resumed is not None:
        compression, level = resumed.compression, resumed.level
    elif options.compression == "auto":
        pending = ToPack(entries, carried)
        compression, level = await asyncio.to_thread(choose_codec, pending)
    else:
        compression, level = options.compression, options.level
    try:
        codec = get_codec(compression, level)
    except (ValueError, TypeError) as exc:
        raise CargoshipError(f"compression {compression} level {level}: {exc}") from exc
    effective = getattr(codec, "level", None)
    return ShipPlan(
        root=root,
        entries=entries,
        carried=carried,
        skipped=tuple(unreadable),
        base=base,
        compression=compression,
        level=effective if isinstance(effective, int) else None,
        storage_class=storage_class,
    )
