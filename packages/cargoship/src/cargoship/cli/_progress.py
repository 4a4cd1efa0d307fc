"""The ship progress bar: rich, on stderr, and only when stderr is a terminal.

A bar in a pipe or a log file is noise (hatch and borg show theirs only on a
TTY), so :func:`ship_progress` yields ``None`` there and ship runs without one.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from cargoship.ship import ShipProgress

__all__ = ["RichShipProgress", "ship_progress"]


class RichShipProgress:
    """A :class:`cargoship.ship.ShipProgress` drawn as a rich progress bar of content bytes read."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task: TaskID | None = None

    def start(self, files: int, bytes_total: int) -> None:
        label = f"shipping {files} file{'s' if files != 1 else ''}"
        self._task = self._progress.add_task(label, total=bytes_total)

    def advance(self, bytes_in: int) -> None:
        if self._task is not None:
            self._progress.advance(self._task, bytes_in)


@contextmanager
def ship_progress(*, enabled: bool) -> Iterator[ShipProgress | None]:
    """A live progress bar while the block runs, or ``None`` when disabled or not on a TTY."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(file=sys.stderr),
        transient=True,
    )
    with progress:
        yield RichShipProgress(progress)
