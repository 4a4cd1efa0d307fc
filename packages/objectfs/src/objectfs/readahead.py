"""Sequential-access detection for one open file: how far to read ahead, and how much to fetch.

Modelled on the Linux page cache's on-demand read-ahead (Linux
mm/readahead.c, "on-demand readahead"), sized in blocks: a read that starts
where the previous one ended is sequential; after two sequential reads the
window opens at two blocks and doubles with each further sequential read, up
to ``max_window`` bytes.

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

__all__ = ["SequentialDetector"]


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

        A read that starts at the frontier is sequential: the second one in a
        row opens the window at two blocks, each further one doubles it
        (capped at ``max_window``). A read within the open window keeps it. A
        read anywhere else returns 0 and starts counting again.
        """
        end = offset + length
        frontier = self._frontier
        if frontier is None:
            self._frontier = end
            self._sequential = offset == 0
            return 0
        if offset == frontier:
            self._frontier = end
            self._sequential = True
            self._streak += 1
            if self._streak >= 2:
                grown = 2 * self.block_size if self._window == 0 else 2 * self._window
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
