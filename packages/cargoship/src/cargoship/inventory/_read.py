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

A batch is read by the cheapest reader that can: lines that are all
``key: value`` with values the writer formats itself (``null``, decimal
integers, printable ASCII names plain or single-quoted) by one regular
expression; other flat items from the C parser's events; anything else by
PyYAML's loader. Each gives what ``yaml.safe_load`` gives (YAML 1.1 implicit
types: a plain ``0644`` is an int, ``yes`` a bool). Items whose fields are all
as expected become entries with the checks made inline; the rest are checked
field by field, which names the problem.
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
from cargoship.inventory._records import (
    INVENTORY_FORMAT,
    TIME_FORMAT,
    ArchiveRecord,
    EntryType,
    InventoryEntry,
    Totals,
)
from cargoship.layout import ARCHIVE_SUFFIXES, ArchiveKeys
from s3opt.protocols import STORAGE_CLASSES, PartInfo

__all__ = ["BATCH_ITEMS", "parse_document", "read_document"]

BATCH_ITEMS: Final = 2000
"""File items loaded from YAML at a time."""

_CODECS: Final = tuple(ARCHIVE_SUFFIXES)
_MAX_INT64: Final = (1 << 63) - 1
_MAX_PARTS: Final = 10_000  # S3's limit on the parts of a multipart upload
_TIME_RE: Final = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
_NAME_RE: Final = re.compile(r"\d{8}T\d{6}Z")
_MODE_RE: Final = re.compile(r"[0-7]{4}")

_FILES_KEY: Final = re.compile(rb"^files:[ \t]*\r?\n", re.MULTILINE)
# Searched in the text with a newline in front, so that each line, the first too, follows
# one (a MULTILINE ``^`` costs ten times more): an item opens with "- " at column 0; any other
# line there but a blank line or a comment ends the ``files`` sequence.
_ITEM_START: Final = re.compile(rb"\n- ")
_OTHER_TOP_LINE: Final = re.compile(rb"\n(?:[^- \t#\r\n]|-[^ ]|\r[^\n])")


def _other_top_line(text: bytes, newline: int) -> bool:
    """Whether the lines of ``text`` after the newline at ``newline`` have one at column 0
    that is not an item, a blank line or a comment."""
    return _OTHER_TOP_LINE.search(text, newline) is not None


def _item_starts(text: bytes, newline: int) -> list[int]:
    """The offsets from ``newline + 1`` of the lines of ``text`` after the newline at
    ``newline`` that open an item."""
    return [match.start() - newline for match in _ITEM_START.finditer(text, newline)]


_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_Document = tuple[ArchiveRecord, Totals, tuple[InventoryEntry, ...]]
_READ_BYTES: Final = 1 << 18  # bytes of a document file read at a time


class _NotBatchableError(Exception):
    """The YAML is not laid out so that it can be loaded in batches (load it whole)."""


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
    except _NotBatchableError:
        return _whole(_load_yaml(data))


def _load_yaml(text: bytes) -> object:
    try:
        return yaml.load(text, Loader=_Loader)  # _Loader is a SafeLoader (C or Python)
    except (yaml.YAMLError, RecursionError) as exc:
        problem = " ".join(str(exc).split())
        raise InventoryFormatError(f"inventory is not valid YAML: {problem}") from None


def _batched(data: bytes) -> _Document:
    """Load the head, then the file items in batches (see the module docstring)."""
    found = _FILES_KEY.search(data)
    if found is None:
        raise _NotBatchableError
    body = memoryview(data)[found.end() :]
    if _other_top_line(data, found.end() - 1):  # the files: line ends there
        raise _NotBatchableError
    starts = _item_starts(data, found.end() - 1)
    if not starts:
        raise _NotBatchableError
    head = _load_head(data[: found.start()])
    bounds = [0, *starts[BATCH_ITEMS::BATCH_ITEMS], len(body)]

    def batches() -> Iterator[list[Any]]:
        for number, (start, end) in enumerate(itertools.pairwise(bounds)):
            expected = len(starts[number * BATCH_ITEMS : (number + 1) * BATCH_ITEMS])
            yield _load_batch(bytes(body[start:end]), expected)

    return _document(head, batches())


def _load_head(text: bytes) -> dict[Any, Any]:
    """The top-level keys before ``files:``; :class:`_NotBatchableError` unless a mapping
    without ``files``."""
    try:
        head = yaml.load(text, Loader=_Loader)
    except (yaml.YAMLError, RecursionError):
        raise _NotBatchableError from None
    if not isinstance(head, dict) or "files" in head:
        raise _NotBatchableError
    return head


def _load_batch(text: bytes, expected: int) -> list[Any]:
    """The ``expected`` items of one batch of ``files`` by the cheapest reader that can;
    :class:`_NotBatchableError` when the text does not load as exactly that many."""
    try:
        try:
            items: object = _load_simple_items(text)
        except _NotFlatError:
            try:
                items = _load_flat_items(text)
            except _NotFlatError:
                items = yaml.load(text, Loader=_Loader)
    except (yaml.YAMLError, RecursionError):
        raise _NotBatchableError from None
    if not isinstance(items, list) or len(items) != expected:
        raise _NotBatchableError
    return items


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
        if (found := _FILES_KEY.search(head, line_start)) is not None:
            break
    try:
        top = _load_head(head[: found.start()])
    except _NotBatchableError:
        return _read_whole(file, wanted)
    archive, totals = _head(top)
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
                entry = _entry(item, number)
                if wanted is not None and not wanted(entry.path):
                    continue
                given_hash = hash((given_hash, entry))
                given += 1
                yield entry
            batch.clear()
    except _NotBatchableError:
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
    their opening line (:func:`_opening_path`) are dropped before the batch is loaded."""
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
        if _other_top_line(after_newline, 0):
            raise _NotBatchableError
        base = len(pending)
        starts.extend(base + start for start in _item_starts(after_newline, 0))
        pending += lines
        while len(starts) > BATCH_ITEMS:
            end = starts[BATCH_ITEMS]
            yield _load_wanted(pending, starts[: BATCH_ITEMS + 1], number, wanted)
            pending = pending[end:]
            starts = [offset - end for offset in starts[BATCH_ITEMS:]]
            number += BATCH_ITEMS
    if not starts:
        raise _NotBatchableError
    yield _load_wanted(pending, [*starts, len(pending)], number, wanted)


def _load_wanted(
    text: bytes, bounds: list[int], first: int, wanted: Callable[[str], bool] | None
) -> tuple[range | list[int], list[Any]]:
    """The numbers and loaded items of the items of ``text`` between consecutive ``bounds``
    (the first numbered ``first``), less those ``wanted`` rejects by their opening line."""
    count = len(bounds) - 1
    if wanted is None:
        return range(first, first + count), _load_batch(text[: bounds[-1]], count)
    numbers: list[int] = []
    pieces: list[bytes] = []
    for number, start, end, path in zip(
        itertools.count(first), bounds, bounds[1:], _opening_paths(text, bounds), strict=False
    ):
        if path is None or wanted(path):
            numbers.append(number)
            pieces.append(text[start:end])
    return numbers, _load_batch(b"".join(pieces), len(numbers)) if numbers else []


_OPENING_PATH: Final = re.compile(rb"\n- path: ([^\n]*)")


def _opening_paths(text: bytes, bounds: list[int]) -> list[str | None]:
    """What :func:`_opening_path` gives for each item of ``text`` between consecutive
    ``bounds``; for a batch that has none of what it looks for, from one search of the
    batch (every item opening with a path line), then a check of each name."""
    batch = b"\n" + text[bounds[0] : bounds[-1]]
    raws = _OPENING_PATH.findall(batch)
    if (
        len(raws) != len(bounds) - 1
        or b"\n   " in batch
        or b"\n  path" in batch
        or b"\t" in batch
        or b"\r" in batch
    ):
        return [_opening_path(text, start, end) for start, end in itertools.pairwise(bounds)]
    return [_path_value(raw) for raw in raws]


def _path_value(raw: bytes) -> str | None:
    """The path on a ``- path:`` line, when :func:`_simple_value` reads it as a string."""
    try:
        value = raw.decode("ascii")
    except UnicodeDecodeError:
        return None
    if "/" in value and _SIMPLE_SCALAR.fullmatch(value):  # what _simple_value decides
        return value
    try:
        value = _simple_value(value)
    except _NotFlatError:
        return None
    return value if type(value) is str else None


def _opening_path(text: bytes, start: int, end: int) -> str | None:
    """The path of the item in ``text[start:end]`` when its first line is ``- path: <name>``
    with a name :func:`_simple_value` reads as a string (such a name needs no ``path_b64``)
    that nothing else in the item can change, else None.

    What could change it is refused: a line indented three spaces or more (a plain
    scalar's continuation: ``"a\\n   b"`` is ``"a b"``), a tab, a carriage return (a line
    break too), a later ``path`` key (YAML keeps the last of a repeated key).
    """
    if not text.startswith(b"- path: ", start):
        return None
    line_end = text.find(b"\n", start, end)
    if line_end < 0:
        line_end = end
    if (
        text.find(b"\n   ", line_end, end) >= 0
        or text.find(b"\n  path", line_end, end) >= 0
        or text.find(b"\t", start, end) >= 0
        or text.find(b"\r", start, end) >= 0
    ):
        return None
    return _path_value(text[start + 8 : line_end])


class _NotFlatError(Exception):
    """The YAML uses more than :func:`_load_flat_items` reads (load it with PyYAML's loader)."""


_FLAT_STREAM: Final = (
    yaml.StreamStartEvent,
    yaml.DocumentStartEvent,
    yaml.SequenceStartEvent,
)


def _load_flat_items(text: bytes) -> list[dict[Any, Any]]:
    """A block sequence of flat mappings of scalars, as ``yaml.safe_load`` would give it,
    read from the C parser's events with no node graph; :class:`_NotFlatError` for anything
    else (anchors, aliases, tags, nested collections), which PyYAML's loader then reads.

    PyYAML's own loader composes a node per scalar and constructs it in Python; for the
    inventory's ~10 scalars per file that is most of the cost of reading it.
    """
    parser = _Loader(text)
    next_event: Callable[[], Any] = parser.get_event  # PyYAML is untyped
    try:
        for kind in _FLAT_STREAM:
            event = next_event()
            if (
                type(event) is not kind
                or getattr(event, "anchor", None)
                or getattr(event, "tag", None)
            ):
                raise _NotFlatError
        items: list[dict[Any, Any]] = []
        while True:
            event = next_event()
            if type(event) is yaml.SequenceEndEvent:
                break
            if type(event) is not yaml.MappingStartEvent or event.anchor or event.tag:
                raise _NotFlatError
            item: dict[Any, Any] = {}
            while type(event := next_event()) is not yaml.MappingEndEvent:
                key = _scalar_value(event)
                item[key] = _scalar_value(next_event())
            items.append(item)
        if type(next_event()) is not yaml.DocumentEndEvent or parser.check_event(
            yaml.DocumentStartEvent
        ):
            raise _NotFlatError
        return items
    finally:
        parser.dispose()


# One ``key: value`` line of an item as :mod:`cargoship.inventory._write` formats it when
# every value is simple: ``- `` opens an item, two spaces continue it.
_SIMPLE_LINE: Final = re.compile(r"^(- |  )([a-z_0-9]+): ([^\n]*)\n", re.MULTILINE)
_SIMPLE_SCALAR: Final = re.compile(r"(?!---|\.\.\.)[A-Za-z0-9_./+=~][A-Za-z0-9_./+=~:-]*(?<!:)")
_DECIMAL: Final = re.compile(r"-?(?:0|[1-9][0-9]*)")
# First characters of a plain scalar that YAML 1.1 might resolve to a type other than str.
_IMPLICIT_STARTS: Final = frozenset(
    key for key in yaml.resolver.Resolver.yaml_implicit_resolvers if key is not None
)


def _simple_value(text: str) -> Any:
    """A value as SafeLoader reads it, when it is ``null``, a decimal integer, or a
    :data:`_SIMPLE_SCALAR` (plain, or single-quoted); :class:`_NotFlatError` otherwise."""
    if text[:1] == "'":
        if len(text) > 2 and text[-1] == "'" and _SIMPLE_SCALAR.fullmatch(text, 1, len(text) - 1):
            return text[1:-1]
        raise _NotFlatError
    if text == "null":
        return None
    if _DECIMAL.fullmatch(text):
        return int(text)
    if not _SIMPLE_SCALAR.fullmatch(text):
        raise _NotFlatError
    # No YAML 1.1 implicit type (int, float, bool, null, timestamp, merge, value) has a "/".
    if (
        "/" not in text
        and text[0] in _IMPLICIT_STARTS
        and _RESOLVE(yaml.ScalarNode, text, (True, False)) != _STR_TAG
    ):
        raise _NotFlatError  # a plain bool, float or timestamp: the event reader constructs it
    return text


def _load_simple_items(text: bytes) -> list[dict[str, Any]]:
    """The items of a batch whose every line is ``- key: value`` or ``  key: value`` with a
    :func:`_simple_value` (what the writer formats itself, without PyYAML's emitter), read
    with one regular expression and no parser events; :class:`_NotFlatError` for anything
    else, which :func:`_load_flat_items` then reads.

    Values that repeat (codecs, types, modes, times) are read once per batch.
    """
    try:
        decoded = text.decode("ascii")
    except UnicodeDecodeError:
        raise _NotFlatError from None
    lines = _SIMPLE_LINE.findall(decoded)
    if len(lines) != decoded.count("\n") or not decoded.endswith("\n"):
        raise _NotFlatError  # a line that is not one simple key: value
    items: list[dict[str, Any]] = []
    item: dict[str, Any] = {}
    values: dict[str, Any] = {}
    for lead, key, raw in lines:
        if lead == "- ":
            item = {}
            items.append(item)
        elif not items or key in item:
            raise _NotFlatError  # a continuation before any item, or a repeated key
        value = values.get(raw, values)
        if value is values:
            value = _simple_value(raw)
            if key not in _UNIQUE_KEYS:
                values[raw] = value
        item[key] = value
    return items


_UNIQUE_KEYS: Final = frozenset({"path", "link", "checksum", "mtime_ns", "size"})

_CONSTRUCTOR: Final = yaml.constructor.SafeConstructor()
_RESOLVE: Final[Callable[..., str]] = yaml.resolver.Resolver().resolve  # PyYAML is untyped
_STR_TAG: Final = "tag:yaml.org,2002:str"
_PLAIN_TYPES: Final = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("bool", "int", "float", "null", "timestamp")
)


def _scalar_value(event: object) -> Any:
    """The value of a scalar event as SafeLoader constructs it (YAML 1.1 implicit types)."""
    if type(event) is not yaml.ScalarEvent or event.anchor or event.tag:
        raise _NotFlatError
    value: str = event.value
    if event.style:  # quoted or block scalar: always a string
        return value
    if value.isdigit() and value.isascii() and (value[0] != "0" or value == "0"):
        return int(value)
    tag = _RESOLVE(yaml.ScalarNode, value, (True, False))
    if tag == _STR_TAG:
        return value
    if tag not in _PLAIN_TYPES:
        raise _NotFlatError  # '<<' merge keys, '=' values
    return _CONSTRUCTOR.yaml_constructors[tag](_CONSTRUCTOR, yaml.ScalarNode(tag, value))


def _whole(raw: object) -> _Document:
    top = _Fields(raw, "the document", ("format", "archive", "totals", "files"), ())
    files = top.sequence("files")
    return _document({key: value for key, value in top.raw.items() if key != "files"}, [files])


def _document(head: object, batches: Iterable[list[Any]]) -> _Document:
    """Validate the head (every top-level key but ``files``) and the file items, batch by
    batch, each item turned into an entry as it is reached."""
    archive, totals = _head(head)
    entries: list[InventoryEntry] = []
    seen: set[str] = set()
    for batch in batches:
        for item in batch:
            entry = _entry(item, len(entries))
            if entry.path in seen:
                raise InventoryFormatError(
                    f"inventory: files[{len(entries)}]: path {entry.path!r} repeats"
                )
            seen.add(entry.path)
            entries.append(entry)
        batch.clear()  # the raw items go as soon as they are entries
    return archive, totals, tuple(entries)


def _head(head: object) -> tuple[ArchiveRecord, Totals]:
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
    of :func:`_entry` made inline; None when anything is off or unusual (then :func:`_entry`
    reads it again and names the problem)."""
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


def _entry(raw: object, index: int) -> InventoryEntry:
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
