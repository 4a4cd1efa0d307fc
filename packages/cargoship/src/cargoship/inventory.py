"""The inventory: what one archive holds, file by file, in the seed documents' YAML format.

The document (YAML by default, the same data as JSON on request)::

    format: cargoship-inventory/1
    archive:                      # the ArchiveRecord: where the archive is and how it was made
      name: 20261121T101500Z
      key: 20261121T101500Z.tar.zst
      ...
    totals: {files: 2, bytes_in: 1048576, bytes_stored: 40961, dedup_bytes: 0, skipped: []}
    files:
      - path: data/project/file.dat          # the seed format's five keys lead each item
        size: 1048576
        checksum: sha256:4f2a...
        compression: zstd
        archived_at: '2025-07-27T10:00:00Z'
        type: file                           # file | directory | symlink | hardlink
        mode: '0644'                         # permission bits, octal text
        mtime_ns: 1753610400000000000
        link: ...                            # symlink target / hard link's stored copy
        archive: ...                         # incremental: the older archive holding the bytes

Names that are not valid UTF-8 (Python keeps their bytes as lone surrogates,
as :func:`os.fsdecode` does) cannot be written in YAML or JSON text. For
those, ``path`` (likewise ``link``, ``source`` and ``skipped`` items) shows the
name with each invalid byte escaped as ``\\xNN`` for people to read, and
``path_b64`` holds the exact bytes, base64-encoded; :meth:`Inventory.loads`
takes the name from ``path_b64`` and checks the two agree. Times are UTC and
kept to the second (``YYYY-MM-DDTHH:MM:SSZ``); file mtimes are exact, in ns.

:meth:`Inventory.loads` trusts nothing: it refuses documents over
:data:`MAX_INVENTORY_BYTES`, unknown format versions, unknown or missing keys,
wrong types, out-of-range numbers, paths that are absolute or contain ``..``,
and malformed checksums, with an :class:`~cargoship.errors.InventoryFormatError`
naming the field and the file item.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

import yaml

from blobcodec.checksum import parse_sha256_tag
from cargoship.errors import InventoryFormatError
from cargoship.layout import ARCHIVE_SUFFIXES, ArchiveKeys
from s3opt.protocols import STORAGE_CLASSES, PartInfo

__all__ = [
    "INVENTORY_FORMAT",
    "MAX_INVENTORY_BYTES",
    "ArchiveRecord",
    "EntryType",
    "Inventory",
    "InventoryEntry",
    "Totals",
    "format_time",
]

INVENTORY_FORMAT: Final = "cargoship-inventory/1"
MAX_INVENTORY_BYTES: Final = 1 << 30
"""Inventories larger than this (1 GiB, some five million files) are refused unread."""

_CODECS: Final = tuple(ARCHIVE_SUFFIXES)
_MAX_INT64: Final = (1 << 63) - 1
_MAX_PARTS: Final = 10_000  # S3's limit on the parts of a multipart upload
_TIME_FORMAT: Final = "%Y-%m-%dT%H:%M:%SZ"
_TIME_RE: Final = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
_NAME_RE: Final = re.compile(r"\d{8}T\d{6}Z")
_MODE_RE: Final = re.compile(r"[0-7]{4}")

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class EntryType(StrEnum):
    """What an inventory entry is; a HARDLINK's bytes are those of the member it names."""

    FILE = "file"
    DIRECTORY = "directory"
    SYMLINK = "symlink"
    HARDLINK = "hardlink"


def _utc_second(moment: datetime, what: str) -> datetime:
    """``moment`` in UTC, to the second; a naive datetime is a ValueError (its zone is unknown)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got {moment.isoformat()}")
    return moment.astimezone(UTC).replace(microsecond=0)


def format_time(moment: datetime) -> str:
    """``moment`` as the inventory writes it: ``"2025-07-27T10:00:00Z"`` (UTC, seconds)."""
    return _utc_second(moment, "time").strftime(_TIME_FORMAT)


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
        object.__setattr__(self, "archived_at", _utc_second(self.archived_at, "archived_at"))


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


@dataclass(frozen=True, slots=True)
class Inventory:
    """An archive's record, totals and entries; :meth:`entry` looks a path up in O(1)."""

    archive: ArchiveRecord
    totals: Totals
    entries: tuple[InventoryEntry, ...]
    _by_path: Mapping[str, InventoryEntry] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_path", {entry.path: entry for entry in self.entries})

    def entry(self, path: str) -> InventoryEntry:
        """The entry for ``path``; KeyError if the archive has none."""
        return self._by_path[path]

    def to_json(self) -> dict[str, Any]:
        """The document as JSON-able data (what :meth:`dumps_yaml` writes as YAML)."""
        return {
            "format": INVENTORY_FORMAT,
            "archive": _record_doc(self.archive),
            "totals": {
                "files": self.totals.files,
                "bytes_in": self.totals.bytes_in,
                "bytes_stored": self.totals.bytes_stored,
                "dedup_bytes": self.totals.dedup_bytes,
                "skipped": [_text("path", path) for path in self.totals.skipped],
            },
            "files": [_entry_doc(entry) for entry in self.entries],
        }

    def dumps_yaml(self) -> bytes:
        """The document as UTF-8 YAML, keys in the seed format's order."""
        text: str = yaml.dump(
            self.to_json(),
            Dumper=_Dumper,
            sort_keys=False,
            allow_unicode=True,
            default_flow_style=False,
            width=1 << 16,
        )
        return text.encode("utf-8")

    @classmethod
    def loads(cls, data: bytes) -> Inventory:
        """Parse and validate a YAML or JSON inventory; InventoryFormatError if anything is off."""
        if len(data) > MAX_INVENTORY_BYTES:
            raise InventoryFormatError(
                f"inventory of {len(data)} bytes is larger than {MAX_INVENTORY_BYTES} bytes"
            )
        return _document(_parse(data))


# -- writing ---------------------------------------------------------------------------------


def _text(key: str, value: str) -> dict[str, str]:
    """``{key: value}``, plus ``key_b64`` holding the exact bytes when they are not UTF-8."""
    raw = value.encode("utf-8", "surrogateescape")
    try:
        return {key: raw.decode("utf-8")}
    except UnicodeDecodeError:
        shown = raw.decode("utf-8", "backslashreplace")
        return {key: shown, f"{key}_b64": base64.b64encode(raw).decode("ascii")}


def _record_doc(record: ArchiveRecord) -> dict[str, Any]:
    source = _text("source", record.source)
    return {
        "name": record.name,
        "key": record.key,
        "index_key": record.index_key,
        "compression": record.compression,
        "level": record.level,
        "storage_class": record.storage_class,
        "created_at": format_time(record.created_at),
        "source": source["source"],
        **({"source_b64": source["source_b64"]} if "source_b64" in source else {}),
        "size": record.size,
        "tar_size": record.tar_size,
        "etag": record.etag,
        "checksum": record.checksum,
        "parts": [
            {"number": part.number, "size": part.size, "checksum": part.checksum}
            for part in record.parts
        ],
        "base": record.base,
    }


def _entry_doc(entry: InventoryEntry) -> dict[str, Any]:
    path = _text("path", entry.path)
    item: dict[str, Any] = {
        "path": path["path"],
        "size": entry.size,
        "checksum": entry.checksum,
        "compression": entry.compression,
        "archived_at": format_time(entry.archived_at),
        "type": entry.type.value,
        "mode": f"{entry.mode:04o}",
        "mtime_ns": entry.mtime_ns,
    }
    if "path_b64" in path:
        item["path_b64"] = path["path_b64"]
    if entry.link is not None:
        item.update(_text("link", entry.link))
    if entry.archive is not None:
        item["archive"] = entry.archive
    return item


# -- reading ---------------------------------------------------------------------------------


def _parse(data: bytes) -> object:
    """JSON when the document starts with ``{``, else YAML (safe_load); errors name the spot."""
    if data.lstrip()[:1] == b"{":
        try:
            return json.loads(data, parse_constant=_refuse_constant)
        except (ValueError, RecursionError) as exc:
            raise InventoryFormatError(f"inventory is not valid JSON: {exc}") from None
    try:
        return yaml.load(data, Loader=_Loader)  # _Loader is a SafeLoader (C or Python)
    except (yaml.YAMLError, RecursionError) as exc:
        problem = " ".join(str(exc).split())
        raise InventoryFormatError(f"inventory is not valid YAML: {problem}") from None


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not a number an inventory may hold")


class _Fields:
    """Typed reads from one mapping of the document; every error names ``where`` and the key."""

    def __init__(self, raw: object, where: str, keys: tuple[str, ...], optional: tuple[str, ...]):
        if not isinstance(raw, dict):
            raise InventoryFormatError(f"inventory: {where} must be a mapping")
        unknown = [str(key) for key in raw if key not in keys and key not in optional]
        if unknown:
            raise InventoryFormatError(f"inventory: {where} has unknown key(s) {unknown}")
        missing = [key for key in keys if key not in raw]
        if missing:
            raise InventoryFormatError(f"inventory: {where} lacks {', '.join(missing)}")
        self.raw: dict[Any, Any] = raw
        self.where = where

    def fail(self, key: str, problem: str) -> InventoryFormatError:
        return InventoryFormatError(f"inventory: {self.where}: {key} {problem}")

    def has(self, key: str) -> bool:
        return self.raw.get(key) is not None

    def integer(self, key: str, low: int = 0, high: int = _MAX_INT64) -> int:
        value = self.raw[key]
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, f"must be an integer, got {value!r}")
        if not low <= value <= high:
            raise self.fail(key, f"must be in {low}..{high}, got {value}")
        return value

    def string(self, key: str) -> str:
        value = self.raw[key]
        if not isinstance(value, str) or not value or "\x00" in value:
            raise self.fail(key, f"must be a non-empty string without NUL, got {value!r}")
        return value

    def text(self, key: str) -> str:
        """A name that may carry non-UTF-8 bytes in ``<key>_b64`` (see the module docstring)."""
        shown = self.string(key)
        if f"{key}_b64" not in self.raw:
            return shown
        encoded = self.raw[f"{key}_b64"]
        try:
            raw = base64.b64decode(str(encoded).encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError):
            raise self.fail(f"{key}_b64", "is not base64") from None
        if raw.decode("utf-8", "backslashreplace") != shown or b"\x00" in raw:
            raise self.fail(f"{key}_b64", f"does not hold the bytes {key} shows")
        return raw.decode("utf-8", "surrogateescape")

    def choice(self, key: str, allowed: tuple[str, ...]) -> str:
        value = self.raw[key]
        if value not in allowed:
            raise self.fail(key, f"must be one of {', '.join(allowed)}, got {value!r}")
        return str(value)

    def pattern(self, key: str, regex: re.Pattern[str], what: str) -> str:
        value = self.raw[key]
        if not isinstance(value, str) or not regex.fullmatch(value):
            raise self.fail(key, f"must be {what}, got {value!r}")
        return value

    def checksum(self, key: str) -> str:
        value = self.raw[key]
        try:
            parse_sha256_tag(value if isinstance(value, str) else "")
        except ValueError:
            problem = f"must be 'sha256:' and 64 lowercase hex digits, got {value!r}"
            raise self.fail(key, problem) from None
        return str(value)

    def name(self, key: str) -> str:
        return self.pattern(key, _NAME_RE, "an archive name like 20261121T101500Z")

    def time(self, key: str) -> datetime:
        value = self.raw[key]
        if isinstance(value, datetime) and value.tzinfo is not None:
            return value  # a hand-edited YAML timestamp with a zone
        if isinstance(value, str) and _TIME_RE.fullmatch(value):
            try:
                return datetime.strptime(value, _TIME_FORMAT).replace(tzinfo=UTC)
            except ValueError:
                pass
        raise self.fail(key, f"must be a UTC time like 2025-07-27T10:00:00Z, got {value!r}")

    def sequence(self, key: str, limit: int = _MAX_INT64) -> list[Any]:
        value = self.raw[key]
        if not isinstance(value, list):
            raise self.fail(key, "must be a list")
        if len(value) > limit:
            raise self.fail(key, f"has {len(value)} items, more than {limit}")
        return value


def _relative_path(fields: _Fields, key: str) -> str:
    path = fields.text(key)
    if path.startswith("/") or any(part in ("", ".", "..") for part in path.split("/")):
        raise fields.fail(key, f"must be a relative path without '.', '..' or '//', got {path!r}")
    return path


def _document(raw: object) -> Inventory:
    top = _Fields(raw, "the document", ("format", "archive", "totals", "files"), ())
    if top.raw["format"] != INVENTORY_FORMAT:
        raise top.fail("format", f"{top.raw['format']!r} is not {INVENTORY_FORMAT!r}")
    archive = _record(top.raw["archive"])
    totals = _totals(top.raw["totals"])
    entries = tuple(_entry(item, index) for index, item in enumerate(top.sequence("files")))
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        if entry.path in seen:
            raise InventoryFormatError(f"inventory: files[{index}]: path {entry.path!r} repeats")
        seen.add(entry.path)
    return Inventory(archive, totals, entries)


_RECORD_KEYS: Final = (
    *("name", "key", "index_key", "compression", "level", "storage_class", "created_at"),
    *("source", "size", "tar_size", "etag", "checksum", "parts", "base"),
)


def _record(raw: object) -> ArchiveRecord:
    fields = _Fields(raw, "archive", _RECORD_KEYS, ("source_b64",))
    name = fields.name("name")
    compression = fields.choice("compression", _CODECS)
    expected = ArchiveKeys(name, compression)
    key = fields.choice("key", (expected.archive,))
    index_key = fields.choice("index_key", (expected.index,)) if fields.has("index_key") else None
    parts = []
    for number, item in enumerate(fields.sequence("parts", _MAX_PARTS), start=1):
        part = _Fields(item, f"archive.parts[{number - 1}]", ("number", "size", "checksum"), ())
        parts.append(
            PartInfo(
                number=part.integer("number", number, number),
                size=part.integer("size"),
                checksum=part.checksum("checksum"),
            )
        )
    return ArchiveRecord(
        name=name,
        key=key,
        index_key=index_key,
        compression=compression,
        level=fields.integer("level", -(1 << 17), 22) if fields.has("level") else None,
        storage_class=fields.choice("storage_class", STORAGE_CLASSES),
        created_at=fields.time("created_at"),
        source=fields.text("source"),
        size=fields.integer("size"),
        tar_size=fields.integer("tar_size"),
        etag=fields.string("etag"),
        checksum=fields.checksum("checksum") if fields.has("checksum") else None,
        parts=tuple(parts),
        base=fields.name("base") if fields.has("base") else None,
    )


def _totals(raw: object) -> Totals:
    keys = ("files", "bytes_in", "bytes_stored", "dedup_bytes", "skipped")
    fields = _Fields(raw, "totals", keys, ())
    skipped = [
        _Fields(item, f"totals.skipped[{index}]", ("path",), ("path_b64",)).text("path")
        for index, item in enumerate(fields.sequence("skipped"))
    ]
    return Totals(
        files=fields.integer("files"),
        bytes_in=fields.integer("bytes_in"),
        bytes_stored=fields.integer("bytes_stored"),
        dedup_bytes=fields.integer("dedup_bytes"),
        skipped=tuple(skipped),
    )


_ENTRY_KEYS: Final = (
    *("path", "size", "checksum", "compression", "archived_at"),
    *("type", "mode", "mtime_ns"),
)
_ENTRY_OPTIONAL: Final = ("path_b64", "link", "link_b64", "archive")


def _entry(raw: object, index: int) -> InventoryEntry:
    shown = raw.get("path") if isinstance(raw, dict) else None
    where = f"files[{index}]" + (f" ({shown!r})" if isinstance(shown, str) else "")
    fields = _Fields(raw, where, _ENTRY_KEYS, _ENTRY_OPTIONAL)
    kind = EntryType(fields.choice("type", tuple(member.value for member in EntryType)))
    has_content = kind in (EntryType.FILE, EntryType.HARDLINK)
    checksum = fields.checksum("checksum") if has_content else None
    if not has_content and fields.has("checksum"):
        raise fields.fail("checksum", f"must be null for a {kind.value}")
    size = fields.integer("size")
    if not has_content and size:
        raise fields.fail("size", f"must be 0 for a {kind.value}, got {size}")
    link: str | None = None
    if kind is EntryType.SYMLINK:
        link = fields.text("link") if "link" in fields.raw else None
    elif kind is EntryType.HARDLINK:
        link = _relative_path(fields, "link") if "link" in fields.raw else None
    elif "link" in fields.raw:
        raise fields.fail("link", f"is not allowed for a {kind.value}")
    if link is None and kind in (EntryType.SYMLINK, EntryType.HARDLINK):
        raise fields.fail("link", f"is required for a {kind.value}")
    return InventoryEntry(
        path=_relative_path(fields, "path"),
        type=kind,
        size=size,
        checksum=checksum,
        compression=fields.choice("compression", _CODECS),
        archived_at=fields.time("archived_at"),
        mode=int(fields.pattern("mode", _MODE_RE, "four octal digits like '0644'"), 8),
        mtime_ns=fields.integer("mtime_ns", -(1 << 63), _MAX_INT64),
        link=link,
        archive=fields.name("archive") if fields.has("archive") else None,
    )
