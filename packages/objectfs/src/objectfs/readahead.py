"""Sequential-access detection for one open file: how far to read ahead, and how much to fetch.

Modelled on the Linux page cache's on-demand read-ahead (Linux
mm/readahead.c, "on-demand readahead"), sized in blocks: a read that starts
where the previous one ended is sequential. A run is two sequential reads
after a seek, or one after a first read at offset 0 (a read from the start of
a file begins a run, as Linux starts its initial window there). A run opens
the window at :data:`INITIAL_WINDOW_BLOCKS` blocks and each further
sequential read quadruples it (Linux's ``get_next_ra_size`` quadruples a
small window too), up to ``max_window`` bytes.

Why it ramps this fast: measured on the ``wan`` profile (40 ms, 10 MB/s a
connection), a sequential read's first reads each wait a whole GET (0.1-0.2 s
for 1 MiB); opening at two blocks and doubling took 0.8 s of a 256 MiB read
(about 5 s in all) to reach eight GETs in flight. Four blocks are one
read-ahead run (:data:`objectfs.blocks.READAHEAD_RUN`), so the first window
is one GET; the window reaches the default 64 MiB at the fourth read.

Under concurrency the kernel delivers the reads of a sequential reader
slightly out of order (several FUSE requests in flight, answered by
different tasks). Linux treats a hit inside the current read-ahead window as
sequential (the ``PG_readahead`` marker page, mm/readahead.c); likewise here a
read that lands within the open window around the furthest byte read so far,
``[frontier - window, frontier + window)``, keeps the window as it is: it
neither grows it (only a read that starts exactly at the frontier does) nor
resets it. Any other offset (a seek) closes the window.

:attr:`SequentialDetector.sequential` tells the block reader whether the last
read belongs to a sequential run (it then fetches whole blocks) or was a seek
(it fetches only a small range around the read).
"""

from __future__ import annotations

from typing import Final

__all__ = ["INITIAL_WINDOW_BLOCKS", "WINDOW_GROWTH", "SequentialDetector"]

INITIAL_WINDOW_BLOCKS: Final = 4
"""The window a run opens with, in blocks."""
WINDOW_GROWTH: Final = 4
"""What each further sequential read multiplies the window by (up to ``max_window``)."""


class SequentialDetector:
    """One per open file handle: :meth:`observe` each read, get back the bytes to prefetch."""

    def __init__(self, *, block_size: int, max_window: int) -> None:
        if block_size <= 0:
            raise ValueError(f"block_size must be > 0 bytes, got {block_size}")
        if max_window < 0:
            raise ValueError(f"max_window must be >= 0 bytes, got {max_window}")
        self.block_size = block_size
        self.max_window = max_window
        self._frontier: int | None = None
        """The end of the furthest read of the current run (``None`` before the first read)."""
        self._streak = 0
        self._window = 0
        self._sequential = False

    @property
    def window(self) -> int:
        """The current read-ahead window in bytes (0 when access is not sequential)."""
        return self._window

    @property
    def sequential(self) -> bool:
        """Whether the last read continued a run (or began the file at offset 0), not a seek."""
        return self._sequential

    def observe(self, offset: int, length: int) -> int:
        """Record a read of ``length`` bytes at ``offset``; the bytes to read ahead after it.

        A read that starts at the frontier is sequential: the one that makes a
        run (see the module docstring) opens the window at
        :data:`INITIAL_WINDOW_BLOCKS` blocks, each further one multiplies it by
        :data:`WINDOW_GROWTH` (capped at ``max_window``). A read within the open
        window keeps it. A read anywhere else returns 0 and starts counting again.
        """
        end = offset + length
        frontier = self._frontier
        if frontier is None:
            self._frontier = end
            self._sequential = offset == 0
            self._streak = 1 if offset == 0 else 0
            return 0
        if offset == frontier:
            self._frontier = end
            self._sequential = True
            self._streak += 1
            if self._streak >= 2:
                grown = (
                    INITIAL_WINDOW_BLOCKS * self.block_size
                    if self._window == 0
                    else WINDOW_GROWTH * self._window
                )
                self._window = min(grown, self.max_window)
            return self._window
        if self._window and frontier - self._window <= offset < frontier + self._window:
            self._frontier = max(frontier, end)
            self._sequential = True
            return self._window
        self._frontier = end
        self._sequential = False
        self._streak = 0
        self._window = 0
        return 0
