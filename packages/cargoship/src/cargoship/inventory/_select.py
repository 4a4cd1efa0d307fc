"""Loading only the wanted items of a batch: items whose opening ``- path:`` line settles
their path, and whose path is not wanted, are skipped without being parsed."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from typing import Any, Final

from cargoship.inventory._batches import SIMPLE_SCALAR, NotFlatError, load_batch, simple_value

__all__ = ["load_wanted", "opening_paths"]


def load_wanted(
    text: bytes,
    bounds: list[int],
    first: int,
    wanted: Callable[[str], bool] | None,
    paths: list[str | None] | None = None,
) -> tuple[range | list[int], list[Any]]:
    """The numbers and loaded items of the items of ``text`` between consecutive ``bounds``
    (the first numbered ``first``), less those ``wanted`` rejects by their opening line
    (``paths``, when the caller has them: :func:`opening_paths`)."""
    count = len(bounds) - 1
    if wanted is None:
        return range(first, first + count), load_batch(text[: bounds[-1]], count)
    numbers: list[int] = []
    pieces: list[bytes] = []
    for number, start, end, path in zip(
        itertools.count(first),
        bounds,
        bounds[1:],
        opening_paths(text, bounds) if paths is None else paths,
        strict=False,
    ):
        if path is None or wanted(path):
            numbers.append(number)
            pieces.append(text[start:end])
    return numbers, load_batch(b"".join(pieces), len(numbers)) if numbers else []


_OPENING_PATH: Final = re.compile(rb"\n- path: ([^\n]*)")


def opening_paths(text: bytes, bounds: list[int]) -> list[str | None]:
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
    """The path on a ``- path:`` line, when :func:`simple_value` reads it as a string."""
    try:
        value = raw.decode("ascii")
    except UnicodeDecodeError:
        return None
    if "/" in value and SIMPLE_SCALAR.fullmatch(value):  # what simple_value decides
        return value
    try:
        value = simple_value(value)
    except NotFlatError:
        return None
    return value if type(value) is str else None


def _opening_path(text: bytes, start: int, end: int) -> str | None:
    """The path of the item in ``text[start:end]`` when its first line is ``- path: <name>``
    with a name :func:`simple_value` reads as a string (such a name needs no ``path_b64``)
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
