"""The progress bar of ``ship``, ``restore`` and ``verify``: rich, on stderr, on a terminal only.

A bar in a pipe or a log file is noise (hatch and borg show theirs only on a
TTY), so :func:`progress_bar` yields ``None`` there and the command runs
without one. The same bar serves :class:`cargoship.ship.ShipProgress` (bytes
read, told on the event loop), :class:`cargoship.restore.RestoreProgress`
(bytes written, told from the writing thread: rich's updates take a lock) and
:class:`cargoship.verify.VerifyProgress` (archive bytes read, on the loop).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # rich is imported only when a bar is drawn (~60 ms every command otherwise)
    from rich.progress import Progress, TaskID

__all__ = ["RichProgress", "progress_bar"]


class RichProgress:
    """Files and bytes drawn as a rich progress bar labelled ``<verb> N files``."""

    def __init__(self, progress: Progress, verb: str) -> None:
        self._progress = progress
        self._verb = verb
        self._task: TaskID | None = None

    def start(self, files: int, bytes_total: int) -> None:
        label = f"{self._verb} {files} file{'s' if files != 1 else ''}"
        self._task = self._progress.add_task(label, total=bytes_total)

    def advance(self, nbytes: int) -> None:
        if self._task is not None:
            self._progress.advance(self._task, nbytes)


@contextmanager
def progress_bar(verb: str, *, enabled: bool) -> Iterator[RichProgress | None]:
    """A live progress bar while the block runs, or ``None`` when disabled or not on a TTY."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

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
        yield RichProgress(progress, verb)
