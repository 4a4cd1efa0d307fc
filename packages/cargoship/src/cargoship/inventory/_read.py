"""Reading and validating an inventory document (see :mod:`cargoship.inventory`).

YAML is read with PyYAML's C loader when it is there. Loading a whole
document of 85,000 entries at once builds a node for every scalar (with its
source marks) before any Python object: most of a GiB and half a minute. A
document laid out as :func:`~cargoship.inventory._write.yaml_pieces`
writes it (``files:`` the last top-level key, its items ``- ...`` at column 0,
no other line at column 0 after it) is loaded in pieces instead: the head,
then :data:`BATCH_ITEMS` items at a time, each batch turned into entries and
dropped. Each batch must load as a list of exactly the items counted in it,
so a split that YAML would not make (inside a quoted scalar, a flow
collection, an alias to the head) is caught, and such a document is loaded
whole, as any other YAML is.

A batch is read by the cheapest reader that can (:mod:`._batches`); with a
restore's selection, items at other paths are skipped unparsed
(:mod:`._select`). Items whose fields are all as expected become entries with
the checks made inline; the rest are checked field by field, which names the
problem.
"""

from __future__ import annotations

import base64
import binascii
import functools
import itertools
import json
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import IO, Any, Final

import yaml

from blobcodec.checksum import parse_sha256_tag
from cargoship.errors import InventoryFormatError
from cargoship.inventory._batches import (
    FILES_KEY,
    NotBatchableError,
    YamlLoader,
    item_starts,
    load_batch,
    other_top_line,
)
from cargoship.inventory._records import (
    INVENTORY_FORMAT,
    TIME_FORMAT,
    ArchiveRecord,
    EntryType,
    InventoryEntry,
    Totals,
)
from cargoship.inventory._select import load_wanted
from cargoship.layout import ARCHIVE_SUFFIXES, ArchiveKeys
from s3opt.protocols import STORAGE_CLASSES, PartInfo

__all__ = [
    "BATCH_ITEMS",
    "checked_entry",
    "checked_head",
    "load_head",
    "parse_document",
    "read_document",
]

BATCH_ITEMS: Final = 2000
"""File items loaded from YAML at a time."""

_CODECS: Final = tuple(ARCHIVE_SUFFIXES)
_MAX_INT64: Final = (1 << 63) - 1
_MAX_PARTS: Final = 10_000  # S3's limit on the parts of a multipart upload
_TIME_RE: Final = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
_NAME_RE: Final = re.compile(r"\d{8}T\d{6}Z")
_MODE_RE: Final = re.compile(r"[0-7]{4}")

_Document = tuple[ArchiveRecord, Totals, tuple[InventoryEntry, ...]]
_READ_BYTES: Final = 1 << 18  # bytes of a document file read at a time


def parse_document(data: bytes) -> _Document:
    """The record, totals and entries of a YAML or JSON inventory (JSON when it starts with
    ``{``); InventoryFormatError if anything is off."""
    if data.lstrip()[:1] == b"{":
        try:
            raw = json.loads(data, parse_constant=_refuse_constant)
        except (ValueError, RecursionError) as exc:
            raise InventoryFormatError(f"inventory is not valid JSON: {exc}") from None
        return _whole(raw)
    try:
        return _batched(data)
    except NotBatchableError:
        return _whole(_load_yaml(data))


def _load_yaml(text: bytes) -> object:
    try:
        return yaml.load(text, Loader=YamlLoader)  # YamlLoader is a SafeLoader (C or Python)
    except (yaml.YAMLError, RecursionError) as exc:
        problem = " ".join(str(exc).split())
        raise InventoryFormatError(f"inventory is not valid YAML: {problem}") from None


def _batched(data: bytes) -> _Document:
    """Load the head, then the file items in batches (see the module docstring)."""
    found = FILES_KEY.search(data)
    if found is None:
        raise NotBatchableError
    body = memoryview(data)[found.end() :]
    if other_top_line(data, found.end() - 1):  # the files: line ends there
        raise NotBatchableError
    starts = item_starts(data, found.end() - 1)
    if not starts:
        raise NotBatchableError
    head = load_head(data[: found.start()])
    bounds = [0, *starts[BATCH_ITEMS::BATCH_ITEMS], len(body)]

    def batches() -> Iterator[list[Any]]:
        for number, (start, end) in enumerate(itertools.pairwise(bounds)):
            expected = len(starts[number * BATCH_ITEMS : (number + 1) * BATCH_ITEMS])
            yield load_batch(bytes(body[start:end]), expected)

    return _document(head, batches())


def load_head(text: bytes) -> dict[Any, Any]:
    """The top-level keys before ``files:``; :class:`NotBatchableError` unless a mapping
    without ``files``."""
    try:
        head = yaml.load(text, Loader=YamlLoader)
    except (yaml.YAMLError, RecursionError):
        raise NotBatchableError from None
    if not isinstance(head, dict) or "files" in head:
        raise NotBatchableError
    return head


def read_document(
    file: IO[bytes], wanted: Callable[[str], bool] | None = None
) -> tuple[ArchiveRecord, Totals, Iterator[InventoryEntry]]:
    """The record and totals of the YAML or JSON inventory in ``file`` (a binary file at its
    start), and its entries as an iterator that reads the file a batch at a time.

    Memory stays at a batch's worth of text whatever the number of entries, for a
    document laid out as :func:`parse_document` reads in batches; any other (JSON, or
    YAML the batches cannot split) is read whole, as :func:`parse_document` does. The
    iterator raises InventoryFormatError for a malformed item when it reaches it. Unlike
    :func:`parse_document`, it does not check that paths do not repeat: the caller, which
    keeps what it needs of each entry, does.

    With ``wanted``, only the entries at the paths it accepts are given. An item whose
    ``path`` is a plain name on the line that opens it (as the writer puts it) and is not
    wanted is skipped without being parsed: its other fields are not checked. Other
    items are parsed and checked, then filtered.
    """
    head = b""
    while True:
        chunk = file.read(_READ_BYTES)
        if not chunk:
            return _read_whole(file, wanted)
        if not head and chunk.lstrip()[:1] == b"{":
            return _read_whole(file, wanted)  # JSON
        line_start = head.rfind(b"\n") + 1  # where a files: line may begin
        head += chunk
        if (found := FILES_KEY.search(head, line_start)) is not None:
            break
    try:
        top = load_head(head[: found.start()])
    except NotBatchableError:
        return _read_whole(file, wanted)
    archive, totals = checked_head(top)
    return archive, totals, _streamed_entries(file, head[found.end() :], wanted)


def _read_whole(
    file: IO[bytes], wanted: Callable[[str], bool] | None
) -> tuple[ArchiveRecord, Totals, Iterator[InventoryEntry]]:
    file.seek(0)
    archive, totals, entries = parse_document(file.read())
    return archive, totals, iter(_only(entries, wanted))


def _only(
    entries: Iterable[InventoryEntry], wanted: Callable[[str], bool] | None
) -> list[InventoryEntry]:
    if wanted is None:
        return list(entries)
    return [entry for entry in entries if wanted(entry.path)]


def _streamed_entries(
    file: IO[bytes], start: bytes, wanted: Callable[[str], bool] | None
) -> Iterator[InventoryEntry]:
    """The entries of the ``files`` items that follow ``start`` in ``file`` (those ``wanted``
    accepts); if the text turns out not to split into batches, the document is read again
    whole (its first entries must be those already given)."""
    given = 0
    given_hash = 0  # of the entries given, to check the whole document starts with them
    try:
        for numbers, batch in _file_batches(file, start, wanted):
            for number, item in zip(numbers, batch, strict=True):
                entry = checked_entry(item, number)
                if wanted is not None and not wanted(entry.path):
                    continue
                given_hash = hash((given_hash, entry))
                given += 1
                yield entry
            batch.clear()
    except NotBatchableError:
        file.seek(0)
        entries = _only(parse_document(file.read())[2], wanted)
        again = 0
        for entry in entries[:given]:
            again = hash((again, entry))
        if again != given_hash or len(entries) < given:
            raise InventoryFormatError(
                "inventory: its file items read differently in pieces and whole"
            ) from None
        yield from entries[given:]


def _file_batches(
    file: IO[bytes], start: bytes, wanted: Callable[[str], bool] | None
) -> Iterator[tuple[range | list[int], list[Any]]]:
    """The items after ``files:`` (``start``, then the rest of ``file``), :data:`BATCH_ITEMS`
    at a time, split and checked as :func:`_batched` splits the text in memory, each batch
    with the numbers of its items in the document. With ``wanted``, items it rejects by
    their opening line are dropped before the batch is loaded
    (:func:`~cargoship.inventory._select.load_wanted`)."""
    pending = b""  # whole lines not yet loaded, from a batch's start
    starts: list[int] = []  # offsets of the items in pending
    tail = start  # the last line read so far, while it has no end
    ended = False
    number = 0  # of the first item in pending
    while not ended:
        chunk = file.read(_READ_BYTES)
        ended = not chunk
        data = tail + chunk
        cut = len(data) if ended else data.rfind(b"\n") + 1
        lines, tail = data[:cut], data[cut:]
        after_newline = b"\n" + lines  # each line follows a newline, as the scans take it
        if other_top_line(after_newline, 0):
            raise NotBatchableError
        base = len(pending)
        starts.extend(base + start for start in item_starts(after_newline, 0))
        pending += lines
        while len(starts) > BATCH_ITEMS:
            end = starts[BATCH_ITEMS]
            yield load_wanted(pending, starts[: BATCH_ITEMS + 1], number, wanted)
            pending = pending[end:]
            starts = [offset - end for offset in starts[BATCH_ITEMS:]]
            number += BATCH_ITEMS
    if not starts:
        raise NotBatchableError
    yield load_wanted(pending, [*starts, len(pending)], number, wanted)


def _whole(raw: object) -> _Document:
    top = _Fields(raw, "the document", ("format", "archive", "totals", "files"), ())
    files = top.sequence("files")
    return _document({key: value for key, value in top.raw.items() if key != "files"}, [files])


def _document(head: object, batches: Iterable[list[Any]]) -> _Document:
    """Validate the head (every top-level key but ``files``) and the file items, batch by
    batch, each item turned into an entry as it is reached."""
    archive, totals = checked_head(head)
    entries: list[InventoryEntry] = []
    seen: set[str] = set()
    for batch in batches:
        for item in batch:
            entry = checked_entry(item, len(entries))
            if entry.path in seen:
                raise InventoryFormatError(
                    f"inventory: files[{len(entries)}]: path {entry.path!r} repeats"
                )
            seen.add(entry.path)
            entries.append(entry)
        batch.clear()  # the raw items go as soon as they are entries
    return archive, totals, tuple(entries)


def checked_head(head: object) -> tuple[ArchiveRecord, Totals]:
    """The record and totals of the head (every top-level key but ``files``), validated."""
    top = _Fields(head, "the document", ("format", "archive", "totals"), ())
    if top.raw["format"] != INVENTORY_FORMAT:
        raise top.fail("format", f"{top.raw['format']!r} is not {INVENTORY_FORMAT!r}")
    return _record(top.raw["archive"]), _totals(top.raw["totals"])


@functools.lru_cache(maxsize=256)
def _utc_time(text: str) -> datetime | None:
    """``2025-07-27T10:00:00Z`` as an aware datetime (one object per distinct text), or None."""
    if not _TIME_RE.fullmatch(text):
        return None
    try:
        return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


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
        if isinstance(value, str) and (moment := _utc_time(value)) is not None:
            return moment
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


_ENTRY_TYPES: Final = {member.value: member for member in EntryType}
_REQUIRED: Final = frozenset(_ENTRY_KEYS)
_COMMON: Final = frozenset((*_ENTRY_KEYS, "link", "archive"))
_SHA256_TAG: Final = re.compile(r"sha256:[0-9a-f]{64}")


def _common_entry(raw: dict[Any, Any]) -> InventoryEntry | None:
    """The entry of an item without ``_b64`` names whose every field is valid, with the checks
    of :func:`checked_entry` made inline; None when anything is off or unusual (then
    :func:`checked_entry` reads it again and names the problem)."""
    keys = raw.keys()
    if not (_REQUIRED <= keys <= _COMMON):
        return None
    kind = _ENTRY_TYPES.get(raw["type"]) if type(raw["type"]) is str else None
    path, size, checksum, link = raw["path"], raw["size"], raw["checksum"], raw.get("link")
    mode, mtime_ns, archive = raw["mode"], raw["mtime_ns"], raw.get("archive")
    if (
        kind is None
        or type(path) is not str
        or not _plain_relative(path)
        or type(size) is not int
        or not 0 <= size <= _MAX_INT64
        or type(mtime_ns) is not int
        or not -(1 << 63) <= mtime_ns <= _MAX_INT64
        or type(mode) is not str
        or not _MODE_RE.fullmatch(mode)
        or raw["compression"] not in _CODECS
        or type(raw["archived_at"]) is not str
        or (archived_at := _utc_time(raw["archived_at"])) is None
        or (archive is not None and (type(archive) is not str or not _NAME_RE.fullmatch(archive)))
    ):
        return None
    if kind is EntryType.FILE or kind is EntryType.HARDLINK:
        if type(checksum) is not str or not _SHA256_TAG.fullmatch(checksum):
            return None
    elif checksum is not None or size:
        return None
    if kind is EntryType.HARDLINK:
        if type(link) is not str or not _plain_relative(link):
            return None
    elif kind is EntryType.SYMLINK:
        if type(link) is not str or not link or "\x00" in link:
            return None
    elif "link" in keys:
        return None
    return InventoryEntry(
        path, kind, size, checksum, raw["compression"], archived_at, int(mode, 8), mtime_ns,
        link, archive,
    )  # fmt: skip


def _plain_relative(path: str) -> bool:
    """What :func:`_relative_path` accepts, for a name without ``_b64``."""
    return not _odd_path(path)


def _odd_path(path: str) -> bool:
    """Whether ``path`` is empty, absolute, ends in ``/``, has ``//``, NUL or a ``.`` or ``..``
    segment (string tests: one regular expression with these alternatives is slower)."""
    if not path or path[0] == "/" or path[-1] == "/" or "//" in path or "\x00" in path:
        return True
    if path[0] == "." or "/." in path:
        return any(part in (".", "..") for part in path.split("/"))
    return False


def checked_entry(raw: object, index: int) -> InventoryEntry:
    """File item number ``index`` as an entry, every field checked; InventoryFormatError
    naming the item and the field otherwise."""
    if type(raw) is dict and (entry := _common_entry(raw)) is not None:
        return entry
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
