"""Loading a batch of an inventory's ``files`` items from YAML text (see :mod:`._read`).

A batch is read by the cheapest reader that can: lines that are all
``key: value`` with values the writer formats itself (``null``, decimal
integers, printable ASCII names plain or single-quoted) by one regular
expression; other flat items from the C parser's events; anything else by
PyYAML's loader. Each gives what ``yaml.safe_load`` gives (YAML 1.1 implicit
types: a plain ``0644`` is an int, ``yes`` a bool). A batch must load as a
list of exactly the items counted in it (:class:`NotBatchableError` if not).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final

import yaml

__all__ = [
    "FILES_KEY",
    "SIMPLE_SCALAR",
    "NotBatchableError",
    "NotFlatError",
    "YamlLoader",
    "item_starts",
    "load_batch",
    "other_top_line",
    "simple_value",
]

FILES_KEY: Final = re.compile(rb"^files:[ \t]*\r?\n", re.MULTILINE)
# Searched in the text with a newline in front, so that each line, the first too, follows
# one (a MULTILINE ``^`` costs ten times more): an item opens with "- " at column 0; any other
# line there but a blank line or a comment ends the ``files`` sequence.
_ITEM_START: Final = re.compile(rb"\n- ")
_OTHER_TOP_LINE: Final = re.compile(rb"\n(?:[^- \t#\r\n]|-[^ ]|\r[^\n])")


def other_top_line(text: bytes, newline: int) -> bool:
    """Whether the lines of ``text`` after the newline at ``newline`` have one at column 0
    that is not an item, a blank line or a comment."""
    return _OTHER_TOP_LINE.search(text, newline) is not None


def item_starts(text: bytes, newline: int) -> list[int]:
    """The offsets from ``newline + 1`` of the lines of ``text`` after the newline at
    ``newline`` that open an item."""
    return [match.start() - newline for match in _ITEM_START.finditer(text, newline)]


YamlLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class NotBatchableError(Exception):
    """The YAML is not laid out so that it can be loaded in batches (load it whole)."""


def load_batch(text: bytes, expected: int) -> list[Any]:
    """The ``expected`` items of one batch of ``files`` by the cheapest reader that can;
    :class:`NotBatchableError` when the text does not load as exactly that many."""
    try:
        try:
            items: object = _load_simple_items(text)
        except NotFlatError:
            try:
                items = _load_flat_items(text)
            except NotFlatError:
                items = yaml.load(text, Loader=YamlLoader)
    except (yaml.YAMLError, RecursionError):
        raise NotBatchableError from None
    if not isinstance(items, list) or len(items) != expected:
        raise NotBatchableError
    return items


class NotFlatError(Exception):
    """The YAML uses more than :func:`_load_flat_items` reads (load it with PyYAML's loader)."""


_FLAT_STREAM: Final = (
    yaml.StreamStartEvent,
    yaml.DocumentStartEvent,
    yaml.SequenceStartEvent,
)


def _load_flat_items(text: bytes) -> list[dict[Any, Any]]:
    """A block sequence of flat mappings of scalars, as ``yaml.safe_load`` would give it,
    read from the C parser's events with no node graph; :class:`NotFlatError` for anything
    else (anchors, aliases, tags, nested collections), which PyYAML's loader then reads.

    PyYAML's own loader composes a node per scalar and constructs it in Python; for the
    inventory's ~10 scalars per file that is most of the cost of reading it.
    """
    parser = YamlLoader(text)
    next_event: Callable[[], Any] = parser.get_event  # PyYAML is untyped
    try:
        for kind in _FLAT_STREAM:
            event = next_event()
            if (
                type(event) is not kind
                or getattr(event, "anchor", None)
                or getattr(event, "tag", None)
            ):
                raise NotFlatError
        items: list[dict[Any, Any]] = []
        while True:
            event = next_event()
            if type(event) is yaml.SequenceEndEvent:
                break
            if type(event) is not yaml.MappingStartEvent or event.anchor or event.tag:
                raise NotFlatError
            item: dict[Any, Any] = {}
            while type(event := next_event()) is not yaml.MappingEndEvent:
                key = _scalar_value(event)
                item[key] = _scalar_value(next_event())
            items.append(item)
        if type(next_event()) is not yaml.DocumentEndEvent or parser.check_event(
            yaml.DocumentStartEvent
        ):
            raise NotFlatError
        return items
    finally:
        parser.dispose()


# One ``key: value`` line of an item as :mod:`cargoship.inventory._write` formats it when
# every value is simple: ``- `` opens an item, two spaces continue it.
_SIMPLE_LINE: Final = re.compile(r"^(- |  )([a-z_0-9]+): ([^\n]*)\n", re.MULTILINE)
SIMPLE_SCALAR: Final = re.compile(r"(?!---|\.\.\.)[A-Za-z0-9_./+=~][A-Za-z0-9_./+=~:-]*(?<!:)")
_DECIMAL: Final = re.compile(r"-?(?:0|[1-9][0-9]*)")
# First characters of a plain scalar that YAML 1.1 might resolve to a type other than str.
_IMPLICIT_STARTS: Final = frozenset(
    key for key in yaml.resolver.Resolver.yaml_implicit_resolvers if key is not None
)


def simple_value(text: str) -> Any:
    """A value as SafeLoader reads it, when it is ``null``, a decimal integer, or a
    :data:`SIMPLE_SCALAR` (plain, or single-quoted); :class:`NotFlatError` otherwise."""
    if text[:1] == "'":
        if len(text) > 2 and text[-1] == "'" and SIMPLE_SCALAR.fullmatch(text, 1, len(text) - 1):
            return text[1:-1]
        raise NotFlatError
    if text == "null":
        return None
    if _DECIMAL.fullmatch(text):
        return int(text)
    if not SIMPLE_SCALAR.fullmatch(text):
        raise NotFlatError
    # No YAML 1.1 implicit type (int, float, bool, null, timestamp, merge, value) has a "/".
    if (
        "/" not in text
        and text[0] in _IMPLICIT_STARTS
        and _RESOLVE(yaml.ScalarNode, text, (True, False)) != _STR_TAG
    ):
        raise NotFlatError  # a plain bool, float or timestamp: the event reader constructs it
    return text


def _load_simple_items(text: bytes) -> list[dict[str, Any]]:
    """The items of a batch whose every line is ``- key: value`` or ``  key: value`` with a
    :func:`simple_value` (what the writer formats itself, without PyYAML's emitter), read
    with one regular expression and no parser events; :class:`NotFlatError` for anything
    else, which :func:`_load_flat_items` then reads.

    Values that repeat (codecs, types, modes, times) are read once per batch.
    """
    try:
        decoded = text.decode("ascii")
    except UnicodeDecodeError:
        raise NotFlatError from None
    lines = _SIMPLE_LINE.findall(decoded)
    if len(lines) != decoded.count("\n") or not decoded.endswith("\n"):
        raise NotFlatError  # a line that is not one simple key: value
    items: list[dict[str, Any]] = []
    item: dict[str, Any] = {}
    values: dict[str, Any] = {}
    for lead, key, raw in lines:
        if lead == "- ":
            item = {}
            items.append(item)
        elif not items or key in item:
            raise NotFlatError  # a continuation before any item, or a repeated key
        value = values.get(raw, values)
        if value is values:
            value = simple_value(raw)
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
        raise NotFlatError
    value: str = event.value
    if event.style:  # quoted or block scalar: always a string
        return value
    if value.isdigit() and value.isascii() and (value[0] != "0" or value == "0"):
        return int(value)
    tag = _RESOLVE(yaml.ScalarNode, value, (True, False))
    if tag == _STR_TAG:
        return value
    if tag not in _PLAIN_TYPES:
        raise NotFlatError  # '<<' merge keys, '=' values
    return _CONSTRUCTOR.yaml_constructors[tag](_CONSTRUCTOR, yaml.ScalarNode(tag, value))
