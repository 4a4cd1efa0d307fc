"""Read small files ahead of the packer, in a thread of their own.

The packer's thread spends most of its time in Python (headers, index and
inventory records), which holds the GIL; opening, reading, checking and
hashing a file release it. :class:`ReadAhead` does the latter for the files
of at most :data:`cargoship.pack.READ_SIZE` bytes (nearly every file of a
source tree) in a second thread, in scan order, so that on a machine with
two cores they run while the packer formats the previous members, instead
of between them.

Memory stays bounded: results travel in batches of at most
:data:`BATCH_BYTES` of file data (or :data:`BATCH_ENTRIES` entries) through a
queue of :data:`QUEUE_BATCHES` batches (:class:`cargoship._batch_thread.BatchThread`),
so at most about ten MiB are read ahead whatever the tree.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Iterator
from typing import Final

from cargoship._batch_thread import BatchThread
from cargoship.errors import UnreadableFilesError
from cargoship.inventory import EntryType
from cargoship.pack import READ_SIZE, SmallFile, read_small
from cargoship.scan import SourceEntry

__all__ = ["BATCH_BYTES", "BATCH_ENTRIES", "QUEUE_BATCHES", "Read", "ReadAhead"]

BATCH_BYTES: Final = 1 << 20
"""File data gathered before a batch is handed over (a batch may end one file beyond it)."""
BATCH_ENTRIES: Final = 64
"""Entries per batch at most (directories and empty files carry no data)."""
QUEUE_BATCHES: Final = 8
"""Batches waiting for the packer before the reader waits."""

Read = SmallFile | UnreadableFilesError | None
"""What :func:`cargoship.pack.read_small` gave or raised; None when not read ahead."""


class ReadAhead(BatchThread[tuple[SourceEntry, Read]]):
    """Pair each of ``entries`` with its content read ahead, in order.

    Use as a context manager and iterate once: ``(entry, read)`` for every
    entry, where ``read`` is what :func:`cargoship.pack.read_small` returned
    or raised for a regular file of at most ``READ_SIZE`` bytes, and None for
    everything else: directories, symlinks, larger files, names in ``skip``
    (files not packed), and a later path of an inode read already (the packer
    links it to the first; if that one failed, the packer reads it itself).
    Leaving the block stops the reader and waits for it (at most one file read).
    """

    def __init__(self, entries: Iterable[SourceEntry], skip: Container[str] = ()) -> None:
        super().__init__(
            _read_batches(entries, skip), name="cargoship-read-ahead", depth=QUEUE_BATCHES
        )


def _read_batches(
    entries: Iterable[SourceEntry], skip: Container[str]
) -> Iterator[list[tuple[SourceEntry, Read]]]:
    read_inodes: set[tuple[int, int]] = set()
    batch: list[tuple[SourceEntry, Read]] = []
    size = 0
    try:
        for entry in entries:
            read: Read = None
            if (
                entry.type is EntryType.FILE
                and entry.size <= READ_SIZE
                and entry.name not in skip
                and (entry.nlink == 1 or _first(read_inodes, entry.inode))
            ):
                try:
                    read = read_small(entry)
                except UnreadableFilesError as exc:
                    read = exc
                size += entry.size
            batch.append((entry, read))
            if size >= BATCH_BYTES or len(batch) >= BATCH_ENTRIES:
                yield batch
                batch, size = [], 0
    except Exception:
        if batch:
            yield batch  # what came before the error, then the error
        raise
    if batch:
        yield batch


def _first(seen: set[tuple[int, int]], inode: tuple[int, int]) -> bool:
    """Whether ``inode`` is met for the first time (and remember it)."""
    if inode in seen:
        return False
    seen.add(inode)
    return True
