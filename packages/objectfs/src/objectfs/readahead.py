"""Sequential-access detection for one open file: how far to read ahead.

Modelled on the Linux page cache's on-demand read-ahead (Linux
mm/readahead.c, "on-demand readahead"), sized in blocks: a read that starts
where the previous one ended is sequential; after two sequential reads the
window opens at two blocks and doubles with each further sequential read, up
to ``max_window`` bytes; any other offset (a seek) closes it again.
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
        self._next_offset: int | None = None
        self._streak = 0
        self._window = 0

    @property
    def window(self) -> int:
        """The current read-ahead window in bytes (0 when access is not sequential)."""
        return self._window

    def observe(self, offset: int, length: int) -> int:
        """Record a read of ``length`` bytes at ``offset``; the bytes to read ahead after it.

        A read is sequential when it starts where the previous one ended. The
        second sequential read in a row opens the window at two blocks, each
        further one doubles it (capped at ``max_window``); a read anywhere
        else returns 0 and starts counting again.
        """
        sequential = offset == self._next_offset
        self._next_offset = offset + length
        if not sequential:
            self._streak = 0
            self._window = 0
            return 0
        self._streak += 1
        if self._streak < 2:
            return 0
        grown = 2 * self.block_size if self._window == 0 else 2 * self._window
        self._window = min(grown, self.max_window)
        return self._window
