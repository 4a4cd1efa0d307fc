"""The inventory's page table: where each run of file items lies in the inventory object.

``ship`` writes it next to the inventory, before it, as ``<name>.inventory.pages``
(:data:`cargoship.layout.PAGES_SUFFIX`), so that ``restore --include`` reads the head
and only the items that can match instead of the whole document. One JSON object, a
page per line::

    {"format": "cargoship-inventory-pages/1", "inventory_size": 33271825,
     "head_length": 612, "pages": [
    {"offset": 612, "length": 168811, "items": 512, "low": "a/b", "high": "a/c/z"},
    ...]}

``head_length`` bytes from the inventory's start are its head (``format``,
``archive``, ``totals``, up to and including the ``files:`` line); the pages
follow back to back, each a run of :data:`PAGE_ITEMS` whole ``files`` items (the
last one 1 to that many), the last ending at ``inventory_size``. ``low`` and
``high`` are the least and greatest path of the page's items, compared as their
UTF-8 bytes (names that are not UTF-8 as the bytes they stand for, shown in JSON
as ``\\udcNN`` escapes). Under that order the paths that start with a given text
form one interval, so a glob's literal prefix (what precedes its first ``*``,
``?`` or ``[``) bounds the pages that can hold its matches.

The table is untrusted input like the inventory, and the inventory is the truth:
:func:`parse_pages` refuses a table whose ranges overlap, leave gaps, or do not
end at ``inventory_size``; the reader (:class:`cargoship.paged_inventory.PagedInventory`)
refuses one whose size is not the object's, and a page it fetches that does not
start and end at item boundaries, holds another number of items, or holds a path
outside its bounds. What the table says of a page that is not fetched cannot be
checked without fetching it: a table written for another inventory of the same
size and layout would route a restore wrong. ``verify``, which reads the whole
inventory, checks every page of the table (:func:`check_pages`).
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any, Final

from cargoship.errors import InventoryFormatError
from cargoship.inventory._batches import FILES_KEY, NotBatchableError, item_starts, other_top_line
from cargoship.inventory._read import checked_entry, checked_head, load_head
from cargoship.inventory._records import MAX_INVENTORY_BYTES, ArchiveRecord, InventoryEntry, Totals
from cargoship.inventory._select import load_wanted, opening_paths

__all__ = [
    "MAX_CHECKED_PAGE_BYTES",
    "MAX_PAGES_BYTES",
    "PAGES_FORMAT",
    "PAGE_ITEMS",
    "InventoryPage",
    "InventoryPages",
    "PageRecorder",
    "check_pages",
    "glob_prefix",
    "parse_head",
    "parse_pages",
    "path_order",
    "read_page",
]

PAGES_FORMAT: Final = "cargoship-inventory-pages/1"
PAGE_ITEMS: Final = 512
"""File items per page (about 170 KB of YAML with a sha256 each)."""
MAX_PAGES_BYTES: Final = 8 << 20
"""A page table larger than this is not read (the inventory is then read whole)."""
MAX_CHECKED_PAGE_BYTES: Final = 16 << 20
"""Longest head or page :func:`check_pages` reads (ship's pages are a few hundred KB; the
bound keeps a lying table from making it hold a whole inventory at once)."""

_KEYS: Final = frozenset({"format", "inventory_size", "head_length", "pages"})
_PAGE_KEYS: Final = frozenset({"offset", "length", "items", "low", "high"})


def path_order(path: str) -> bytes:
    """The key pages are bounded by: the path's bytes (:func:`os.fsencode`'s)."""
    return path.encode("utf-8", "surrogateescape")


def glob_prefix(glob: str) -> str:
    """The text every path an fnmatch ``glob`` matches starts with: what precedes its first
    ``*``, ``?`` or ``[`` (``[`` without a ``]`` is literal to fnmatch: a shorter prefix
    still bounds the matches)."""
    ends = [index for index in map(glob.find, "*?[") if index >= 0]
    return glob[: min(ends)] if ends else glob


@dataclass(frozen=True, slots=True)
class InventoryPage:
    """One run of file items: its bytes in the inventory object and its least and greatest path."""

    offset: int
    length: int
    items: int
    low: str
    high: str

    @property
    def end(self) -> int:
        return self.offset + self.length


@dataclass(frozen=True, slots=True)
class InventoryPages:
    """An inventory's page table (see the module docstring)."""

    inventory_size: int
    head_length: int
    pages: tuple[InventoryPage, ...]

    def dumps(self) -> bytes:
        """The table as JSON, one page per line."""
        head = {
            "format": PAGES_FORMAT,
            "inventory_size": self.inventory_size,
            "head_length": self.head_length,
        }
        lines = [
            json.dumps(
                {"offset": p.offset, "length": p.length, "items": p.items}
                | {"low": p.low, "high": p.high}
            )
            for p in self.pages
        ]
        return (json.dumps(head)[:-1] + ', "pages": [\n' + ",\n".join(lines) + "\n]}\n").encode()

    def holding(self, prefixes: Iterable[str] = (), paths: Iterable[str] = ()) -> list[int]:
        """The numbers of the pages whose bounds can hold a path that starts with one of
        ``prefixes`` or is one of ``paths``, in order. Pages need not be in path order."""
        starts = sorted({path_order(prefix) for prefix in prefixes})
        exact = sorted({path_order(path) for path in paths})
        chosen = []
        for number, page in enumerate(self.pages):
            low, high = path_order(page.low), path_order(page.high)
            at = bisect.bisect_left(exact, low)
            if (at < len(exact) and exact[at] <= high) or any(
                start <= high and (low < start or low.startswith(start)) for start in starts
            ):
                chosen.append(number)
        return chosen

    def length_of(self, numbers: Collection[int]) -> int:
        """Bytes of the pages ``numbers``."""
        return sum(self.pages[number].length for number in numbers)


def parse_pages(data: bytes, where: str) -> InventoryPages | None:
    """The page table in ``data`` (named ``where`` in errors), checked to tile the inventory
    after its head; None for a table of another format (a newer ship's: the inventory is then
    read whole). InventoryFormatError naming the problem for anything malformed."""

    def fail(problem: str) -> InventoryFormatError:
        return InventoryFormatError(f"{where}: {problem}")

    try:
        raw = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise fail(f"not valid JSON: {exc}") from None
    if not isinstance(raw, dict) or raw.get("format") != PAGES_FORMAT:
        if isinstance(raw, dict) and isinstance(raw.get("format"), str):
            return None
        raise fail(f"not a page table (no format {PAGES_FORMAT!r})")
    if raw.keys() != _KEYS:
        raise fail(f"keys must be {sorted(_KEYS)}, got {sorted(map(str, raw))}")
    size = _integer(raw, "inventory_size", fail, MAX_INVENTORY_BYTES)
    head_length = _integer(raw, "head_length", fail, size)
    listed = raw["pages"]
    if not isinstance(listed, list) or not listed:
        raise fail("pages must be a non-empty list")
    pages = tuple(_page(item, number, fail) for number, item in enumerate(listed))
    expected = head_length
    for number, page in enumerate(pages):
        if page.offset != expected:
            how = "overlaps the bytes before it" if page.offset < expected else "leaves a gap"
            raise fail(f"page {number} at byte {page.offset} {how} (expected byte {expected})")
        expected = page.end
    if expected != size:
        raise fail(f"the pages end at byte {expected}, not at the inventory's end ({size})")
    return InventoryPages(size, head_length, pages)


_Fail = Callable[[str], InventoryFormatError]


def _integer(raw: dict[str, Any], key: str, fail: _Fail, high: int, low: int = 0) -> int:
    value = raw[key]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise fail(f"{key} must be an integer in {low}..{high}, got {value!r}")
    return value


def _page(raw: object, number: int, fail: _Fail) -> InventoryPage:
    where = f"page {number}"

    def page_fail(problem: str) -> InventoryFormatError:
        return fail(f"{where}: {problem}")

    if not isinstance(raw, dict) or raw.keys() != _PAGE_KEYS:
        raise fail(f"{where} must be a mapping of {', '.join(sorted(_PAGE_KEYS))}")
    low, high = raw["low"], raw["high"]
    for key, value in (("low", low), ("high", high)):
        if not isinstance(value, str) or not value or "\x00" in value:
            raise fail(f"{where}: {key} must be a non-empty path, got {value!r}")
    if path_order(low) > path_order(high):
        raise fail(f"{where}: low {low!r} is above high {high!r}")
    return InventoryPage(
        offset=_integer(raw, "offset", page_fail, MAX_INVENTORY_BYTES),
        length=_integer(raw, "length", page_fail, MAX_INVENTORY_BYTES, 1),
        items=_integer(raw, "items", page_fail, MAX_INVENTORY_BYTES, 1),
        low=low,
        high=high,
    )


def parse_head(text: bytes) -> tuple[ArchiveRecord, Totals]:
    """The record and totals of a YAML inventory's head: ``text`` is the document up to and
    including its ``files:`` line (what the page table bounds as the head), nothing more.
    InventoryFormatError naming the problem otherwise."""
    found = FILES_KEY.search(text)
    if found is None or found.end() != len(text):
        raise InventoryFormatError("its head does not end at the files: line")
    try:
        top = load_head(text[: found.start()])
    except NotBatchableError:
        raise InventoryFormatError(
            "its head is not a YAML mapping of format, archive and totals"
        ) from None
    return checked_head(top)


def read_page(
    text: bytes, page: InventoryPage, first: int, wanted: Callable[[str], bool]
) -> list[InventoryEntry]:
    """The entries ``wanted`` accepts among the file items of one page (``text`` its bytes,
    its first item numbered ``first`` in the document), in order.

    The page must be what the page table says: ``page.items`` whole items (``text``
    opens an item and ends a line, no line at column 0 but an item's first), every path
    within ``page.low``..``page.high``; InventoryFormatError naming the problem if not.
    Items at paths not wanted are skipped unparsed when their opening line settles the
    path (as :func:`read_document` skips them), their paths still checked against the
    bounds.
    """
    after_newline = b"\n" + text
    if not text.startswith(b"- ") or not text.endswith(b"\n"):
        raise InventoryFormatError("the page does not start and end at item bounds")
    if other_top_line(after_newline, 0):
        raise InventoryFormatError("the page holds a line that is not a files item")
    starts = item_starts(after_newline, 0)
    if len(starts) != page.items:
        raise InventoryFormatError(
            f"the page holds {len(starts)} items, the page table says {page.items}"
        )
    bounds = [*starts, len(text)]
    paths = opening_paths(text, bounds)
    low, high = path_order(page.low), path_order(page.high)

    def check(path: str) -> None:
        if not low <= path_order(path) <= high:
            raise InventoryFormatError(
                f"path {path!r} lies outside its page's bounds {page.low!r}..{page.high!r}"
            )

    for path in paths:
        if path is not None:
            check(path)
    try:
        numbers, items = load_wanted(text, bounds, first, wanted, paths)
    except NotBatchableError:
        raise InventoryFormatError(f"the page does not read as {page.items} files items") from None
    entries = []
    for number, item in zip(numbers, items, strict=True):
        entry = checked_entry(item, number)
        check(entry.path)
        if wanted(entry.path):
            entries.append(entry)
    return entries


def check_pages(table: InventoryPages, document: IO[bytes], size: int) -> Iterator[str]:
    """What is wrong with ``table`` as the page table of the inventory in ``document`` (a
    binary file of ``size`` bytes, read from its start), each problem naming its page; none
    when the table matches. That the pages tile the document after the head is
    :func:`parse_pages`'s check; this one reads the document, the head and then one page at
    a time: the size, the head ending at the ``files:`` line, and every page as
    :func:`read_page` checks it (item bounds, item count, each path within the bounds).
    """
    if table.inventory_size != size:
        yield f"describes an inventory of {table.inventory_size} bytes; it has {size}"
        return
    too_long = f"longer than {MAX_CHECKED_PAGE_BYTES} bytes, not read"
    if table.head_length > MAX_CHECKED_PAGE_BYTES:
        yield f"head_length {table.head_length}: {too_long}"
    else:
        document.seek(0)
        try:
            parse_head(document.read(table.head_length))
        except InventoryFormatError as exc:
            yield f"head_length {table.head_length}: {exc}"
    first = 0
    for number, page in enumerate(table.pages):
        where = f"page {number} (bytes {page.offset}-{page.end - 1})"
        if page.length > MAX_CHECKED_PAGE_BYTES:
            yield f"{where}: {too_long}"
        else:
            document.seek(page.offset)
            try:
                read_page(document.read(page.length), page, first, _none_wanted)
            except InventoryFormatError as exc:
                yield f"{where}: {exc}"
        first += page.items


def _none_wanted(path: str) -> bool:
    """No entry is wanted: :func:`read_page` only checks the page."""
    return False


class PageRecorder:
    """Builds the page table as the writer appends ``files`` items (:class:`EntrySpool`)."""

    def __init__(self, items_per_page: int = PAGE_ITEMS) -> None:
        self._per_page = items_per_page
        self._pages: list[tuple[int, int, int, str, str]] = []  # offset from files, ...
        self._offset = 0  # bytes of items recorded
        self._start = 0  # where the open page starts
        self._count = 0  # items in the open page
        self._low = self._high = ""
        self._low_key = self._high_key = b""

    def add(self, path: str, size: int) -> None:
        """Record the next item: its entry's path and its bytes of YAML."""
        key = path_order(path)
        if not self._count:
            self._low, self._high, self._low_key, self._high_key = path, path, key, key
        elif key < self._low_key:
            self._low, self._low_key = path, key
        elif key > self._high_key:
            self._high, self._high_key = path, key
        self._count += 1
        self._offset += size
        if self._count == self._per_page:
            self._close()

    def _close(self) -> None:
        self._pages.append((self._start, self._offset - self._start, self._count, self._low,
                            self._high))  # fmt: skip
        self._start, self._count = self._offset, 0

    def table(self, head_length: int) -> InventoryPages | None:
        """The table once every item is recorded, behind a head of ``head_length`` bytes;
        None when there are no items (nothing to page)."""
        if self._count:
            self._close()
        if not self._pages:
            return None
        pages = tuple(
            InventoryPage(head_length + offset, length, items, low, high)
            for offset, length, items, low, high in self._pages
        )
        return InventoryPages(head_length + self._offset, head_length, pages)
