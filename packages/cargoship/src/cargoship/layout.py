"""Where an archive's objects live under the user's prefix, and how archives are found.

Each ship writes, directly under the prefix (keys relative to it)::

    <name>.tar.zst | .tar.lz4 | .tar.gz | .tar   the archive, in the requested storage class
    <name>.index             the member index (zstd and none only), always STANDARD
    <name>.inventory.pages   where each page of inventory items lies (with an index), STANDARD
    <name>.inventory.yaml    the inventory, always STANDARD, written LAST

``<name>`` is the UTC time the ship started, ``20261121T101500Z``, so names
sort in time order. An archive is complete exactly when its inventory exists:
an archive object without one is what an interrupted ship leaves.

The page table (:mod:`cargoship.inventory._pages`) lets ``restore --include``
read the inventory's head and the pages that can hold its matches
(:mod:`cargoship.paged_inventory`) instead of the whole document; archives
shipped before it, or without an index, have none and are read whole.

The archive object, and only it, carries the object tag :data:`ARCHIVE_TAGS`
(``cargoship-role=archive``), set at upload: ``cargoship lifecycle`` filters
its transition rule on it, so the index, page table and inventory stay in STANDARD.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import IO, TYPE_CHECKING, Final

from cargoship.errors import (
    ArchiveNotFoundError,
    CargoshipError,
    IncompleteArchiveError,
    InventoryFormatError,
)
from s3opt.errors import NoSuchKeyError
from s3opt.protocols import ObjectInfo, ObjectStore

if TYPE_CHECKING:
    from cargoship.fetch import ArchiveFetcher
    from cargoship.inventory import ArchiveRecord, Inventory, InventoryEntry, Totals

__all__ = [
    "ARCHIVE_SUFFIXES",
    "ARCHIVE_TAGS",
    "ARCHIVE_TAG_KEY",
    "ARCHIVE_TAG_VALUE",
    "INDEX_SUFFIX",
    "INVENTORY_SUFFIX",
    "PAGES_SUFFIX",
    "ArchiveKeys",
    "InventoryStream",
    "archive_name",
    "archive_object_keys",
    "is_archive_key",
    "is_interrupted",
    "list_archives",
    "load_inventory",
    "missing_archive_error",
    "stream_inventory",
]

ARCHIVE_SUFFIXES: Final[Mapping[str, str]] = MappingProxyType(
    {"zstd": ".tar.zst", "lz4": ".tar.lz4", "gzip": ".tar.gz", "none": ".tar"}
)
"""The archive object's suffix for each codec."""
ARCHIVE_TAG_KEY: Final = "cargoship-role"
ARCHIVE_TAG_VALUE: Final = "archive"
ARCHIVE_TAGS: Final[Mapping[str, str]] = MappingProxyType({ARCHIVE_TAG_KEY: ARCHIVE_TAG_VALUE})
"""The object tag set of every archive object ship uploads (never of the objects beside it)."""
INDEX_SUFFIX: Final = ".index"
INVENTORY_SUFFIX: Final = ".inventory.yaml"
PAGES_SUFFIX: Final = ".inventory.pages"

_NAME_FORMAT: Final = "%Y%m%dT%H%M%SZ"
_NAME_RE: Final = re.compile(r"\d{8}T\d{6}Z")
_SUFFIXES: Final = (*ARCHIVE_SUFFIXES.values(), INDEX_SUFFIX, INVENTORY_SUFFIX, PAGES_SUFFIX)


def _is_name(text: str) -> bool:
    """Whether ``text`` is an archive name: the digits match and form a real UTC time."""
    if not _NAME_RE.fullmatch(text):
        return False
    try:
        datetime.strptime(text, _NAME_FORMAT)
    except ValueError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class ArchiveKeys:
    """The keys of one archive's objects, relative to the store's prefix."""

    name: str
    compression: str

    def __post_init__(self) -> None:
        if not _is_name(self.name):
            raise ValueError(
                f"archive name must be a UTC time like 20261121T101500Z: {self.name!r}"
            )
        if self.compression not in ARCHIVE_SUFFIXES:
            known = ", ".join(ARCHIVE_SUFFIXES)
            raise ValueError(f"unknown compression {self.compression!r}; expected one of {known}")

    @property
    def archive(self) -> str:
        return self.name + ARCHIVE_SUFFIXES[self.compression]

    @property
    def index(self) -> str:
        return self.name + INDEX_SUFFIX

    @property
    def inventory(self) -> str:
        return self.name + INVENTORY_SUFFIX

    @property
    def pages(self) -> str:
        return self.name + PAGES_SUFFIX

    @classmethod
    def new(cls, compression: str, now: datetime) -> ArchiveKeys:
        """Keys for an archive started at ``now`` (see :func:`name_at`)."""
        return cls(name_at(now), compression)


def name_at(now: datetime) -> str:
    """The name of an archive started at ``now`` (timezone-aware): its UTC second."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be timezone-aware, got {now.isoformat()}")
    return now.astimezone(UTC).strftime(_NAME_FORMAT)


def archive_name(segment: str) -> str:
    """The archive name in ``segment``: the bare name, or any of its keys.

    ``"20261121T101500Z"``, ``"20261121T101500Z.tar.zst"`` and
    ``"20261121T101500Z.inventory.yaml"`` all give ``"20261121T101500Z"``;
    anything else raises :class:`ArchiveNotFoundError` naming it.
    """
    for suffix in ("", *_SUFFIXES):
        if segment.endswith(suffix):
            name = segment[: len(segment) - len(suffix)]
            if _is_name(name):
                return name
    raise ArchiveNotFoundError(
        f"{segment!r} is not an archive name (a UTC time like 20261121T101500Z, "
        "optionally with an archive suffix)"
    )


def is_archive_key(key: str) -> bool:
    """Whether the last segment of ``key`` is an archive object's name: ``<name>.tar.zst``,
    ``.tar.lz4``, ``.tar.gz`` or ``.tar``, at any depth (other prefixes' archives too)."""
    base = key.rsplit("/", 1)[-1]
    return any(
        base.endswith(suffix) and _is_name(base[: -len(suffix)])
        for suffix in ARCHIVE_SUFFIXES.values()
    )


async def list_archives(store: ObjectStore) -> list[str]:
    """Names of the complete archives (those with an inventory) under the prefix, oldest first.

    One delimited listing of the prefix's top level: keys in sub-"directories"
    are not archives of this prefix.
    """
    names = []
    async for item in store.list_dir(""):
        if isinstance(item, ObjectInfo) and item.key.endswith(INVENTORY_SUFFIX):
            name = item.key[: -len(INVENTORY_SUFFIX)]
            if _is_name(name):
                names.append(name)
    return sorted(names)


async def load_inventory(store: ObjectStore, name: str) -> Inventory:
    """The inventory of archive ``name`` (a name or any of its keys), validated.

    :class:`ArchiveNotFoundError` when there is no such archive,
    :class:`IncompleteArchiveError` when its archive object exists without an
    inventory (an interrupted ship), :class:`InventoryFormatError` when the
    inventory is malformed or belongs to another archive.
    """
    from cargoship.inventory import MAX_INVENTORY_BYTES, Inventory  # inventory imports layout

    name = archive_name(name)
    key = name + INVENTORY_SUFFIX
    try:
        data = await store.get_range(key, 0, MAX_INVENTORY_BYTES + 1)
    except NoSuchKeyError:
        raise await missing_archive_error(store, name) from None
    try:
        inventory = Inventory.loads(data)
    except InventoryFormatError as exc:
        raise InventoryFormatError(f"{key} in {store}: {exc}") from None
    if inventory.archive.name != name:
        raise InventoryFormatError(
            f"{key} in {store} describes archive {inventory.archive.name}, not {name}"
        )
    return inventory


@dataclass(frozen=True, slots=True)
class InventoryStream:
    """An inventory whose entries are read from a file as they are iterated
    (:func:`stream_inventory`)."""

    archive: ArchiveRecord
    totals: Totals
    entries: Iterator[InventoryEntry]
    """Read a batch at a time; InventoryFormatError for a malformed item when reached.
    Paths are not checked for repeats: the reader does that."""
    file: IO[bytes]
    """The downloaded document (the caller's file), which :meth:`select` reads again."""
    where: str
    """The inventory's key and store, which errors name."""

    def select(self, wanted: Callable[[str], bool]) -> Iterator[InventoryEntry]:
        """The entries at the paths ``wanted`` accepts, read again from the start of
        :attr:`file` (:attr:`entries` is then spent). Items at other paths are skipped
        without being parsed, so their fields are not checked (see
        :func:`cargoship.inventory.read_document`): what a restore of a few entries
        needs, which reads nothing else."""
        from cargoship.inventory import read_document  # inventory imports layout

        self.file.seek(0)
        _, _, entries = read_document(self.file, wanted)
        return _named_errors(entries, self.where)


async def stream_inventory(
    store: ObjectStore, name: str, file: IO[bytes], fetcher: ArchiveFetcher | None = None
) -> InventoryStream:
    """The inventory of archive ``name``, downloaded into ``file`` (an empty binary file open
    for reading and writing, e.g. :func:`tempfile.TemporaryFile`, that the caller closes) and
    read from there: memory does not grow with its size, as it does with
    :func:`load_inventory`. Errors as :func:`load_inventory` raises them. Downloaded
    through ``fetcher`` when given (which counts the bytes and requests)."""
    from cargoship.inventory import MAX_INVENTORY_BYTES, read_document  # it imports layout

    name = archive_name(name)
    key = name + INVENTORY_SUFFIX
    chunks: AsyncIterator[bytes] = store.get(key) if fetcher is None else fetcher.stream(key)
    size = 0
    try:
        async for chunk in chunks:
            size += len(chunk)
            if size > MAX_INVENTORY_BYTES:
                raise InventoryFormatError(
                    f"{key} in {store}: inventory larger than {MAX_INVENTORY_BYTES} bytes"
                )
            file.write(chunk)
    except NoSuchKeyError:
        raise await missing_archive_error(store, name) from None
    finally:
        if isinstance(chunks, AsyncGenerator):
            await chunks.aclose()
    file.flush()
    file.seek(0)
    try:
        archive, totals, entries = read_document(file)
    except InventoryFormatError as exc:
        raise InventoryFormatError(f"{key} in {store}: {exc}") from None
    if archive.name != name:
        raise InventoryFormatError(f"{key} in {store} describes archive {archive.name}, not {name}")
    where = f"{key} in {store}"
    return InventoryStream(archive, totals, _named_errors(entries, where), file, where)


def _named_errors(entries: Iterator[InventoryEntry], where: str) -> Iterator[InventoryEntry]:
    """``entries``, with ``where`` in front of an InventoryFormatError's message."""
    try:
        yield from entries
    except InventoryFormatError as exc:
        raise InventoryFormatError(f"{where}: {exc}") from None


def archive_object_keys(name: str) -> frozenset[str]:
    """Every key an object of archive ``name`` may have: the archive in each codec's suffix,
    its index, page table and inventory."""
    return frozenset(name + suffix for suffix in _SUFFIXES)


def is_interrupted(name: str, keys: Iterable[str]) -> bool:
    """Whether ``keys`` hold what an interrupted ship of archive ``name`` leaves: its archive
    object, its member index (uploaded beside the archive's last parts) or its page table."""
    leftovers = archive_object_keys(name) - {name + INVENTORY_SUFFIX}
    return not leftovers.isdisjoint(keys)


async def missing_archive_error(store: ObjectStore, name: str) -> CargoshipError:
    """The error for archive ``name`` without an inventory: IncompleteArchiveError when
    other objects of it are there (an interrupted ship), else ArchiveNotFoundError."""
    if is_interrupted(name, [info.key async for info in store.list(name + ".")]):
        return IncompleteArchiveError(
            f"archive {name} in {store} has no inventory: its ship did not finish"
        )
    return ArchiveNotFoundError(f"no archive {name} in {store}")
