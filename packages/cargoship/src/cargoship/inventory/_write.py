"""Writing the inventory document: as JSON-able data, or as YAML text in pieces.

:func:`yaml_pieces` writes the same bytes as one ``yaml.dump`` of the whole
document (a block mapping whose last key, ``files``, holds a block sequence
that PyYAML writes unindented: ``files:`` then one ``- path: ...`` item after
another at column 0), but dumps the head and then the entries a batch at a
time. A whole-document dump builds PyYAML's representation of every entry at
once: for 85,000 files that is hundreds of MiB and, with the cyclic garbage
collector walking it, most of a minute. In batches memory stays at one batch.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Final

import yaml

from cargoship.inventory._records import (
    INVENTORY_FORMAT,
    ArchiveRecord,
    InventoryEntry,
    Totals,
    format_time,
)

__all__ = ["BATCH_ENTRIES", "document", "entry_doc", "yaml_pieces"]

BATCH_ENTRIES: Final = 2000
"""Entries dumped to YAML at a time."""

_Dumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
# The implicit types PyYAML's safe dumper checks a plain scalar against (PyYAML is untyped).
_RESOLVE: Final[Callable[..., str]] = yaml.resolver.Resolver().resolve
_STR_TAG: Final = "tag:yaml.org,2002:str"
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
    yield _dump(_head(archive, totals)) + b"files:\n"
    known: dict[str, str] = {}
    for start in range(0, len(entries), BATCH_ENTRIES):
        batch = entries[start : start + BATCH_ENTRIES]
        yield "".join([_yaml_item(entry_doc(entry), known) for entry in batch]).encode("utf-8")


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
    if _RESOLVE(yaml.ScalarNode, value, (True, False)) == _STR_TAG:
        return value
    return f"'{value}'"


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
