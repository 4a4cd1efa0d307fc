"""BatchThread: run a producer of batches in a thread and iterate over its items here.

``ship`` spends most of its time in Python, which holds the GIL; system calls
(``lstat``, ``open``, ``read``) and hashing release it. Producing the items
that take such calls (a tree's ``lstat`` results, small files' contents) in a
thread of their own lets them run on a second core while this thread formats
the previous items. Items travel in batches, a batch per handover, so the
queue's locking stays off the per-item path, through a queue of ``depth``
batches: the producer runs at most that far ahead (memory stays bounded).
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator
from types import TracebackType
from typing import Final, Generic, Self, TypeVar

__all__ = ["BatchThread"]

_T = TypeVar("_T")
_STOP_POLL: Final = 0.2
"""Seconds between the producer's checks, while the queue is full, that it should stop."""


class _Failed:
    """The producer's error, handed over to be raised where the items are read."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


class BatchThread(Generic[_T]):
    """Iterate, in order, over the items of the batches ``batches`` yields in a thread.

    Use as a context manager and iterate once; an error raised by ``batches``
    is raised here after the items yielded before it. Leaving the block stops
    the producer at its next batch, closes ``batches`` and waits for the thread.
    """

    def __init__(self, batches: Iterator[list[_T]], *, name: str, depth: int) -> None:
        self._batches = batches
        self._queue: queue.Queue[list[_T] | _Failed | None] = queue.Queue(depth)
        self._stopped = threading.Event()
        # A daemon: a producer left waiting by an abandoned reader never blocks the exit.
        self._thread = threading.Thread(target=self._produce, name=name, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stopped.set()
        while self._thread.is_alive():
            with contextlib.suppress(queue.Empty):  # make room: a waiting producer sees the stop
                self._queue.get(timeout=_STOP_POLL)
        self._thread.join()

    def __iter__(self) -> Iterator[_T]:
        while True:
            batch = self._queue.get()
            if batch is None:
                return
            if isinstance(batch, _Failed):
                raise batch.error
            yield from batch

    def _produce(self) -> None:
        try:
            for batch in self._batches:
                if not self._put(batch):
                    return
        except BaseException as exc:  # handed over: a producer never dies silently
            self._put(_Failed(exc))
        else:
            self._put(None)
        finally:
            close = getattr(self._batches, "close", None)
            if close is not None:
                close()

    def _put(self, item: list[_T] | _Failed | None) -> bool:
        """Queue ``item``, waiting for room; False once the reading side has stopped."""
        while not self._stopped.is_set():
            try:
                self._queue.put(item, timeout=_STOP_POLL)
                return True
            except queue.Full:
                pass
        return False
