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
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import PurePath
from typing import Any, Literal

import click
from rich.console import Console
from rich.table import Table

from cargoship.inventory import format_time

__all__ = [
    "Output",
    "human_bytes",
    "human_money",
    "human_seconds",
    "jsonable",
    "ratio",
    "shown",
]

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


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
        title: str = "",
        right: Collection[str] = (),
    ) -> None:
        """A data table on stdout (not with --json; kept with -q: it is the command's data)."""
        if self.json_mode:
            return
        lines = [[shown(cell) for cell in row] for row in rows]
        if sys.stdout.isatty():
            table = Table(title=title or None, title_justify="left")
            for header in headers:
                justify: Literal["left", "right"] = "right" if header in right else "left"
                table.add_column(header, justify=justify, overflow="fold")
            for line in lines:
                table.add_row(*line)
            Console(file=sys.stdout, highlight=False).print(table, markup=False)
            return
        widths = [max(len(str(c)) for c in column) for column in zip(headers, *lines, strict=True)]
        if title:
            click.echo(title)
        for line in [list(headers), *lines]:
            cells = [
                cell.rjust(width) if header in right else cell.ljust(width)
                for header, cell, width in zip(headers, line, widths, strict=True)
            ]
            click.echo("  ".join(cells).rstrip())

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
