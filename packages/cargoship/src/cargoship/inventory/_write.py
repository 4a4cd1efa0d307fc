"""Writing the inventory document: as JSON-able data, or as YAML text in pieces.

:func:`yaml_pieces` writes the same bytes as one ``yaml.dump`` of the whole
document (a block mapping whose last key, ``files``, holds a block sequence
that PyYAML writes unindented: ``files:`` then one ``- path: ...`` item after
another at column 0), but dumps the head and then the entries a batch at a
time. A whole-document dump builds PyYAML's representation of every entry at
once: for 85,000 files that is hundreds of MiB and, with the cyclic garbage
collector walking it, most of a minute. In batches memory stays at one batch.

:class:`EntrySpool` goes further for ``ship``: each entry's item is written
to a file as the entry is made, so no entry is held at all, and the document
is read back from the file at the end (the same bytes as :func:`yaml_pieces`),
and it records where each item lies for the inventory's page table
(:mod:`cargoship.inventory._pages`).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import IO, Any, Final

import yaml

from cargoship.inventory._pages import InventoryPages, PageRecorder
from cargoship.inventory._records import (
    INVENTORY_FORMAT,
    ArchiveRecord,
    EntryType,
    InventoryEntry,
    Totals,
    format_time,
)

__all__ = ["BATCH_ENTRIES", "SPOOL_READ_SIZE", "EntrySpool", "document", "entry_doc", "yaml_pieces"]

BATCH_ENTRIES: Final = 2000
"""Entries dumped to YAML at a time."""
SPOOL_READ_SIZE: Final = 1 << 20
"""Bytes of spooled YAML read back per piece."""

_Dumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
# The implicit types (bool, int, float, null, timestamp, ...) PyYAML's safe dumper checks a
# plain scalar against, by the scalar's first character (BaseResolver.resolve's lookup).
_IMPLICIT: Final[dict[str | None, list[tuple[str, re.Pattern[str]]]]] = (
    yaml.resolver.Resolver.yaml_implicit_resolvers
)
_ANY_FIRST: Final = tuple(regexp for _, regexp in _IMPLICIT.get(None, []))
_BY_FIRST: Final = {
    first: tuple(regexp for _, regexp in resolvers) + _ANY_FIRST
    for first, resolvers in _IMPLICIT.items()
    if first is not None
}
# Printable ASCII, no space, quote or leading indicator, not a document marker, no ':' last.
_SIMPLE_SCALAR: Final = re.compile(r"(?!---|\.\.\.)[A-Za-z0-9_./+=~][A-Za-z0-9_./+=~:-]*(?<!:)")
_UNIQUE_KEYS: Final = frozenset({"path", "path_b64", "link", "link_b64", "checksum"})


def _dump(data: object) -> bytes:
    """``data`` as UTF-8 block YAML, keys in insertion order (the seed format's), no wrapping."""
    text: str = yaml.dump(
        data,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=1 << 16,
    )
    return text.encode("utf-8")


def _head(archive: ArchiveRecord, totals: Totals) -> dict[str, Any]:
    return {
        "format": INVENTORY_FORMAT,
        "archive": _record_doc(archive),
        "totals": {
            "files": totals.files,
            "bytes_in": totals.bytes_in,
            "bytes_stored": totals.bytes_stored,
            "dedup_bytes": totals.dedup_bytes,
            "skipped": [_text("path", path) for path in totals.skipped],
        },
    }


def document(
    archive: ArchiveRecord, totals: Totals, entries: Sequence[InventoryEntry]
) -> dict[str, Any]:
    """The whole document as JSON-able data."""
    return {**_head(archive, totals), "files": [entry_doc(entry) for entry in entries]}


def yaml_pieces(
    archive: ArchiveRecord, totals: Totals, entries: Sequence[InventoryEntry]
) -> Iterator[bytes]:
    """The document as UTF-8 YAML in pieces whose concatenation is the whole-document dump."""
    if not entries:
        yield _dump({**_head(archive, totals), "files": []})
        return
    yield _head_text(archive, totals)
    known: dict[str, str] = {}
    shared: dict[_SharedKey, str | None] = {}
    for start in range(0, len(entries), BATCH_ENTRIES):
        batch = entries[start : start + BATCH_ENTRIES]
        yield "".join([_entry_yaml(entry, known, shared) for entry in batch]).encode("utf-8")


def _head_text(archive: ArchiveRecord, totals: Totals) -> bytes:
    """The document up to its first file item: the head and the ``files:`` line."""
    return _dump(_head(archive, totals)) + b"files:\n"


_SharedKey = tuple[str, datetime, EntryType, int]


class EntrySpool:
    """Inventory entries written as the document's ``files`` items to ``file`` (an empty
    binary file open for reading and writing, e.g. :func:`tempfile.TemporaryFile`; the caller
    closes it) as they come, a batch of :data:`BATCH_ENTRIES` at a time."""

    def __init__(self, file: IO[bytes]) -> None:
        self._file = file
        self._batch: list[str] = []
        self._count = 0
        self._known: dict[str, str] = {}
        self._shared: dict[_SharedKey, str | None] = {}
        self._pages = PageRecorder()

    def __len__(self) -> int:
        """Entries added so far."""
        return self._count

    def add(self, entry: InventoryEntry) -> None:
        """Write ``entry``'s item (after those added before it)."""
        text = _entry_yaml(entry, self._known, self._shared)
        self._batch.append(text)
        self._pages.add(entry.path, len(text) if text.isascii() else len(text.encode("utf-8")))
        self._count += 1
        if len(self._batch) >= BATCH_ENTRIES:
            self._write_batch()

    def yaml_pieces(self, archive: ArchiveRecord, totals: Totals) -> Iterator[bytes]:
        """The document, in pieces whose concatenation is :func:`yaml_pieces` of the same
        record, totals and entries. Reads the file from its start: add nothing meanwhile."""
        if not self._count:
            yield _dump({**_head(archive, totals), "files": []})
            return
        self._write_batch()
        self._file.flush()
        self._file.seek(0)
        yield _head_text(archive, totals)
        while piece := self._file.read(SPOOL_READ_SIZE):
            yield piece

    def page_table(self, archive: ArchiveRecord, totals: Totals) -> InventoryPages | None:
        """Where each page of the items added lies in the document :meth:`yaml_pieces` gives
        for ``archive`` and ``totals``; None when there are no items."""
        return self._pages.table(len(_head_text(archive, totals)))

    def _write_batch(self) -> None:
        if self._batch:
            self._file.write("".join(self._batch).encode("utf-8"))
            self._batch.clear()


def _entry_yaml(
    entry: InventoryEntry, known: dict[str, str], shared: dict[_SharedKey, str | None]
) -> str:
    """``_yaml_item(entry_doc(entry), known)``, formatted without building the item's dict
    for the usual entry (every string a :func:`_plain_or_quoted` one, no ``archive``).
    ``shared`` keeps the lines an archive's entries have in common (codec, time, type, mode)."""
    key = (entry.compression, entry.archived_at, entry.type, entry.mode)
    if key in shared:
        lines = shared[key]
    else:
        lines = shared[key] = _shared_lines(*key)
    path = _plain_or_quoted(entry.path)  # never None for a path that needs path_b64
    checksum = "null" if entry.checksum is None else _plain_or_quoted(entry.checksum)
    link = "" if entry.link is None else _plain_or_quoted(entry.link)
    if path is None or checksum is None or link is None or lines is None or entry.archive:
        return _yaml_item(entry_doc(entry), known)
    text = (
        f"- path: {path}\n  size: {entry.size:d}\n  checksum: {checksum}\n"
        f"{lines}  mtime_ns: {entry.mtime_ns:d}\n"
    )
    return text + f"  link: {link}\n" if entry.link is not None else text


def _shared_lines(
    compression: str, archived_at: datetime, kind: EntryType, mode: int
) -> str | None:
    """The ``compression``, ``archived_at``, ``type`` and ``mode`` lines of an entry."""
    fields = {
        "compression": compression,
        "archived_at": format_time(archived_at),
        "type": kind.value,
        "mode": f"{mode:04o}",
    }
    lines = []
    for name, value in fields.items():
        text = _plain_or_quoted(value)
        if text is None:
            return None
        lines.append(f"  {name}: {text}\n")
    return "".join(lines)


def _yaml_item(item: dict[str, Any], known: dict[str, str]) -> str:
    """One ``- key: value`` item as PyYAML's emitter writes it (block style, inside a block
    sequence), formatted here when every value is an int, null or a :func:`_plain_or_quoted`
    string, else dumped by PyYAML itself (a list of one item gives exactly that item's text).
    ``known`` remembers the text of repeated values (times, modes, codecs)."""
    lines = []
    for key, value in item.items():
        if value is None:
            text = "null"
        elif type(value) is int:
            text = str(value)
        elif value in known:
            text = known[value]
        else:
            plain = _plain_or_quoted(value)
            if plain is None:
                return _dump([item]).decode("utf-8")
            if key not in _UNIQUE_KEYS:
                known[value] = plain
            text = plain
        lines.append(f"  {key}: {text}\n")
    return "- " + "".join(lines)[2:]


def _plain_or_quoted(value: str) -> str | None:
    """``value`` as the emitter writes a block mapping value, when it is printable ASCII
    without spaces, quotes or indicators that change its style (YAML 1.1, PyYAML's
    ``analyze_scalar``): plain, or single-quoted when YAML would resolve the plain text to
    another type (``'0644'``, ``'2025-07-27T10:00:00Z'``, ``'true'``); None otherwise."""
    if not _SIMPLE_SCALAR.fullmatch(value):
        return None
    if "/" in value:  # no implicit type's pattern (bool, int, float, null, timestamp) has one
        return value
    for regexp in _BY_FIRST.get(value[0], _ANY_FIRST):
        if regexp.match(value):
            return f"'{value}'"
    return value


def _text(key: str, value: str) -> dict[str, str]:
    """``{key: value}``, plus ``key_b64`` holding the exact bytes when they are not UTF-8."""
    if value.isascii():  # valid UTF-8 without surrogate escapes
        return {key: value}
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


def entry_doc(entry: InventoryEntry) -> dict[str, Any]:
    """One item of the document's ``files`` list."""
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
