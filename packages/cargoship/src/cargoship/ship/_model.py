"""What ``ship`` takes and gives back: its options, the progress callback, and its report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cargoship.inventory import ArchiveRecord
from cargoship.layout import ArchiveKeys

__all__ = ["ShipOptions", "ShipProgress", "ShipReport"]


@dataclass(frozen=True, slots=True)
class ShipOptions:
    """How to ship a tree.

    ``compression`` is a blobcodec codec name (``zstd``, ``lz4``, ``gzip``,
    ``none``) or ``auto`` (measured on a sample of the tree with
    :func:`blobcodec.choose`); ``level`` is the codec's level (its default when
    None). ``threads`` is the number of zstd frames compressed in parallel
    (0: one per core).

    Ships to S3 keep a state file in ``state_dir`` (default
    ``$XDG_STATE_HOME/cargoship``, else ``~/.local/state/cargoship``) until
    their inventory is stored. ``resume`` continues the interrupted ship of the
    same source to the same prefix with the name, codec, level, storage class
    and incremental base it started with (those options are then not used);
    parts already uploaded are checked and not sent again. A ship without
    ``resume`` abandons such an interrupted ship and aborts its upload.
    """

    compression: str = "zstd"
    level: int | None = None
    storage_class: str = "STANDARD"
    dry_run: bool = False
    incremental: bool = False
    skip_unreadable: bool = False
    resume: bool = False
    state_dir: Path | None = None
    threads: int = 0


class ShipProgress(Protocol):
    """Told, on the event loop, how much there is to read and how much has been read."""

    def start(self, files: int, bytes_total: int) -> None:
        """The files and content bytes this ship will read (unchanged files not counted)."""
        ...

    def advance(self, bytes_in: int) -> None:
        """``bytes_in`` more content bytes were read (an increment, not a running total)."""
        ...


@dataclass(frozen=True, slots=True)
class ShipReport:
    """What a ship stored, or on a dry run would store.

    ``bytes_stored`` is the archive object's size (estimated from a compressed
    sample on a dry run); ``monthly_cost`` is the storage cost in US dollars per
    month of the archive in ``storage_class`` plus its index and inventory in
    STANDARD. ``unchanged`` counts files an incremental ship left in older
    archives. ``archive`` is the inventory's archive record (None on a dry run);
    the inventory's entries are not kept (a tree of millions of files would not
    fit in memory): :func:`cargoship.layout.load_inventory` reads them back.
    """

    keys: ArchiveKeys
    archive: ArchiveRecord | None
    files: int
    bytes_in: int
    bytes_stored: int
    dedup_bytes: int
    skipped: tuple[str, ...]
    unchanged: int
    seconds: float
    monthly_cost: float
    storage_class: str
