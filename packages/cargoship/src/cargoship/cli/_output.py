"""How cargoship prints: data on stdout, everything else on stderr, one JSON document with --json.

Sizes are IEC (KiB, MiB: powers of 1024), as tar and du print them; money is
US dollars per month, the unit of s3opt's price table. Archive paths may hold
bytes that are not UTF-8 (kept as surrogate escapes, PEP 383): the human
output shows them as ``\\xNN``, the JSON output as ``\\udcNN`` escapes, which
``os.fsencode`` turns back into the original bytes.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import sys
import tempfile
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import PurePath
from typing import IO, Any, Final, Literal

import click

from cargoship.inventory import format_time

__all__ = [
    "TABLE_BATCH_ROWS",
    "Output",
    "human_bytes",
    "human_money",
    "human_seconds",
    "jsonable",
    "ratio",
    "shown",
]

TABLE_BATCH_ROWS: Final = 1000
"""Rows of a terminal table drawn at once (rich lays a table out whole); a longer one is
drawn as several tables of the same columns."""

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
_SPOOL_READ: Final = 1 << 20  # characters of a spooled document printed at a time

_JsonScalar = str | int | float | bool | None
# A flat mapping as an item of a top-level list at json.dumps(indent=2): its keys 6 spaces
# in, its braces 4. One call of the C encoder (json.dumps with indent runs the pure-Python
# one, about 3x slower), whose item separator carries the line break and indent.
_FLAT_ITEM: Final = json.JSONEncoder(separators=(",\n" + " " * 6, ": "))


def _indented_item(item: Mapping[str, _JsonScalar]) -> str:
    """``item`` as ``json.dumps(document, indent=2)`` writes an item of a top-level list."""
    if not item:
        return "    {}"
    return "    {\n      " + _FLAT_ITEM.encode(item)[1:-1] + "\n    }"


def shown(text: str) -> str:
    """``text`` printable: undecodable bytes (surrogate escapes) become ``\\xNN``."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def human_bytes(size: int) -> str:
    """``1536`` -> ``"1.5 KiB"``; bytes below 1 KiB are exact."""
    value = float(size)
    for unit in _UNITS:
        if abs(value) < 1024 or unit == _UNITS[-1]:
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def human_seconds(seconds: float) -> str:
    """``0.25`` -> ``"0.25 s"``, ``75`` -> ``"1 min 15 s"``, ``7300`` -> ``"2 h 1 min"``."""
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def human_money(dollars: float) -> str:
    """US dollars with enough digits to tell small amounts apart: ``$0.0023``, ``$12.40``."""
    return f"${dollars:,.2f}" if dollars >= 1 else f"${dollars:.4f}"


def ratio(bytes_in: int, stored: int) -> str:
    """The compression ratio ``in / stored`` as ``"3.20x"`` (``"-"`` when nothing was stored)."""
    return f"{bytes_in / stored:.2f}x" if stored else "-"


def jsonable(value: Any) -> Any:
    """Dataclasses, enums, datetimes, paths, tuples and mappings as JSON-ready values."""
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(item) for item in value]
    return value


class Output:
    """One command's printer: ``json_mode`` prints one document, ``quiet`` suppresses summaries.

    Tables are drawn with rich on a terminal; in a pipe or a file they are plain
    columns, never truncated or wrapped, so ``grep`` and ``awk`` see whole values.
    """

    def __init__(self, *, json_mode: bool, quiet: bool) -> None:
        self.json_mode = json_mode
        self.quiet = quiet

    def document(self, doc: Any) -> None:
        """The command's one JSON document (ASCII-only, so any path survives any terminal)."""
        click.echo(json.dumps(jsonable(doc), indent=2))

    def document_with_items(
        self, head: Mapping[str, Any], key: str, items: Iterable[Mapping[str, _JsonScalar]]
    ) -> None:
        """The command's one JSON document: ``head``'s keys, then ``key`` holding ``items``
        (flat mappings of JSON scalars, e.g. inventory items) as a list; the same text as
        :meth:`document` of ``{**head, key: list(items)}``.

        The items are written to a temporary file as they come and the document is printed
        once all are: memory holds one item whatever their number, and an error raised
        while making them prints nothing (no document cut short on stdout).
        """
        with tempfile.TemporaryFile("w+", encoding="ascii") as spool:
            count = 0
            for item in items:
                spool.write(",\n" if count else "[\n")
                spool.write(_indented_item(item))
                count += 1
            spool.write("\n  ]" if count else "[]")
            spool.seek(0)
            empty = json.dumps(jsonable({**head, key: []}), indent=2)
            click.echo(empty.removesuffix("[]\n}"), nl=False)  # up to the list's "["
            while text := spool.read(_SPOOL_READ):
                click.echo(text, nl=False)
            click.echo("\n}")

    def summary(self, title: str, rows: Iterable[tuple[str, str]]) -> None:
        """A titled block of ``name  value`` lines on stdout (not with --json or -q)."""
        if self.json_mode or self.quiet:
            return
        pairs = list(rows)
        width = max((len(name) for name, _ in pairs), default=0)
        if title:
            click.echo(title)
        for name, value in pairs:
            click.echo(f"{name:<{width}}  {value}")

    def table(
        self,
        headers: Sequence[str],
        rows: Iterable[Sequence[str]],
        *,
        title: str | Callable[[int], str] = "",
        right: Collection[str] = (),
    ) -> None:
        """A data table on stdout (not with --json; kept with -q: it is the command's data).

        ``title`` is the line above it, or a function of the number of rows that makes it.
        The rows are written to a temporary file as they come and printed once all are:
        memory holds :data:`TABLE_BATCH_ROWS` rows whatever their number, and an error
        raised while making them prints nothing.
        """
        if self.json_mode:
            return
        with tempfile.TemporaryFile("w+", encoding="ascii") as spool:
            count, widths = _spool_rows(spool, headers, rows)
            heading = title(count) if callable(title) else title
            if sys.stdout.isatty():
                # rich only for a terminal: importing it costs every command ~60 ms otherwise.
                from rich.console import Console
                from rich.table import Table

                for number, batch in enumerate(_spooled_batches(spool)):
                    shown_title = heading if heading and not number else None
                    table = Table(title=shown_title, title_justify="left")
                    for header in headers:
                        justify: Literal["left", "right"] = "right" if header in right else "left"
                        table.add_column(header, justify=justify, overflow="fold")
                    for line in batch:
                        table.add_row(*line)
                    Console(file=sys.stdout, highlight=False).print(table, markup=False)
                return
            if heading:
                click.echo(heading)

            def aligned(line: Sequence[str]) -> str:
                cells = [
                    cell.rjust(width) if header in right else cell.ljust(width)
                    for header, cell, width in zip(headers, line, widths, strict=True)
                ]
                return "  ".join(cells).rstrip()

            click.echo(aligned(headers))
            for batch in _spooled_batches(spool):
                if batch:
                    click.echo("\n".join(map(aligned, batch)))

    def lines(self, lines: Iterable[str]) -> None:
        """Plain data lines on stdout (not with --json)."""
        if not self.json_mode:
            for line in lines:
                click.echo(shown(line))

    def note(self, text: str) -> None:
        """A status line on stderr (not with -q)."""
        if not self.quiet:
            click.echo(f"cargoship: {text}", err=True)

    def warning(self, text: str) -> None:
        """A warning on stderr, shown even with --json (not with -q)."""
        if not self.quiet:
            click.echo(f"cargoship: warning: {text}", err=True)


def _spool_rows(
    spool: IO[str], headers: Sequence[str], rows: Iterable[Sequence[str]]
) -> tuple[int, list[int]]:
    """Write ``rows`` (a cell per header, as :func:`shown` makes it) to ``spool``, a JSON list
    a line (so any character survives); their number, and each column's widest cell (the
    headers' too)."""
    widths = [len(header) for header in headers]
    count = 0
    for row in rows:
        line = [shown(cell) for cell in row]
        widths = [max(width, len(cell)) for width, cell in zip(widths, line, strict=True)]
        spool.write(json.dumps(line) + "\n")
        count += 1
    return count, widths


def _spooled_batches(spool: IO[str]) -> Iterator[list[list[str]]]:
    """The rows :func:`_spool_rows` wrote, :data:`TABLE_BATCH_ROWS` at a time; one empty batch
    when there are none."""
    spool.seek(0)
    batch: list[list[str]] = []
    given = False
    for text in spool:
        batch.append(json.loads(text))
        if len(batch) == TABLE_BATCH_ROWS:
            yield batch
            batch, given = [], True
    if batch or not given:
        yield batch
