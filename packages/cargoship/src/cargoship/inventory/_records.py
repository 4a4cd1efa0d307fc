"""The inventory's value types: entries, the archive record and the totals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Final

from s3opt.protocols import PartInfo

__all__ = [
    "INVENTORY_FORMAT",
    "MAX_INVENTORY_BYTES",
    "TIME_FORMAT",
    "ArchiveRecord",
    "EntryType",
    "InventoryEntry",
    "Totals",
    "format_time",
]

INVENTORY_FORMAT: Final = "cargoship-inventory/1"
MAX_INVENTORY_BYTES: Final = 1 << 30
"""Inventories larger than this (1 GiB, some five million files) are refused unread."""
TIME_FORMAT: Final = "%Y-%m-%dT%H:%M:%SZ"


class EntryType(StrEnum):
    """What an inventory entry is; a HARDLINK's bytes are those of the member it names."""

    FILE = "file"
    DIRECTORY = "directory"
    SYMLINK = "symlink"
    HARDLINK = "hardlink"


def _utc_second(moment: datetime, what: str) -> datetime:
    """``moment`` in UTC, to the second; a naive datetime is a ValueError (its zone is unknown)."""
    if moment.tzinfo is UTC and not moment.microsecond:
        return moment  # already normalised: keep the object, which entries then share
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got {moment.isoformat()}")
    return moment.astimezone(UTC).replace(microsecond=0)


def format_time(moment: datetime) -> str:
    """``moment`` as the inventory writes it: ``"2025-07-27T10:00:00Z"`` (UTC, seconds)."""
    return _utc_second(moment, "time").strftime(TIME_FORMAT)


@dataclass(frozen=True, slots=True)
class InventoryEntry:
    """One file, directory or link of an archive."""

    path: str
    """Archive-relative, ``/``-separated, :func:`os.fsdecode`'d (surrogateescape)."""
    type: EntryType
    size: int
    """Content bytes; 0 for directories and symlinks."""
    checksum: str | None
    """``"sha256:<hex>"`` of the content for FILE and HARDLINK, else None."""
    compression: str
    archived_at: datetime
    """UTC, to the second (normalised on construction)."""
    mode: int
    """Permission bits (``& 0o7777``)."""
    mtime_ns: int
    link: str | None = None
    """SYMLINK: its target; HARDLINK: the path of the member that stores the bytes."""
    archive: str | None = None
    """Incremental ships: the older archive holding this unchanged file; None = this one."""

    def __post_init__(self) -> None:
        moment = self.archived_at
        if moment.tzinfo is not UTC or moment.microsecond:  # else already normalised
            object.__setattr__(self, "archived_at", _utc_second(moment, "archived_at"))


@dataclass(frozen=True, slots=True)
class ArchiveRecord:
    """Where an archive is stored and how it was made."""

    name: str
    key: str
    index_key: str | None
    """The member index's key; None for codecs without one (lz4, gzip)."""
    compression: str
    level: int | None
    storage_class: str
    created_at: datetime
    """UTC, to the second (normalised on construction)."""
    source: str
    size: int
    """Bytes of the archive object as stored."""
    tar_size: int
    """Bytes of the tar stream before compression."""
    etag: str
    checksum: str | None
    """``"sha256:<hex>"`` of a single-PUT archive; None for a multipart one (see ``parts``)."""
    parts: tuple[PartInfo, ...]
    base: str | None
    """The archive an incremental ship was based on."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "created_at", _utc_second(self.created_at, "created_at"))


@dataclass(frozen=True, slots=True)
class Totals:
    """The sums of one ship."""

    files: int
    bytes_in: int
    bytes_stored: int
    dedup_bytes: int
    skipped: tuple[str, ...]
