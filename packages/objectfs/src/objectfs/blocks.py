"""Reads of S3 objects assembled from fixed-size blocks, through L1 and L2.

A read of ``[offset, offset + length)`` becomes lookups of the blocks it
touches: block ``i`` of an object holds bytes ``[i * block_size, (i + 1) *
block_size)``. Each block is looked for in the memory cache (L1), then on disk
(L2), then fetched with one ranged GET (``ObjectStore.get_range``); missing
blocks are looked up concurrently. A fetched block goes into L1 at once and to
L2 after the reader has it.

Two lookups of the same block never fetch it twice: the first starts a fetch
and every later one waits on the same future until it settles. A waiter that
is cancelled (an interrupted ``read``) does not cancel the fetch the others
share.

Read-ahead (the ``readahead`` bytes a :class:`objectfs.readahead.SequentialDetector`
asks for) starts background fetches of the blocks after the read, at most
:data:`MAX_READAHEAD_FETCHES` at a time across all files: blocks beyond that
are not queued, the next sequential read asks for them again.

Counting (:class:`objectfs.stats.FsCounters`): every block a reader asks for is
one ``l1_hits``, ``l2_hits`` or ``misses`` (a lookup that waits on a fetch
already under way counts where that fetch found the block); read-ahead fetches
are not lookups, but their GETs and bytes count like any other.
"""

from __future__ import annotations

import asyncio
import errno
import logging
from typing import Final

from objectfs.cache import BlockKey, DiskBlockCache, MemoryBlockCache
from objectfs.stats import FsCounters
from s3opt import ObjectStore

__all__ = ["MAX_READAHEAD_FETCHES", "BlockReader"]

_logger = logging.getLogger(__name__)

MAX_READAHEAD_FETCHES: Final = 32
"""Read-ahead blocks being fetched at once, for all files together (bounds memory and requests)."""

_Fetched = tuple[bytes, bool]
"""A settled fetch: the block's bytes, and whether they came from L2 (else from the store)."""


def _mark_retrieved(future: asyncio.Future[_Fetched]) -> None:
    """Read-ahead futures may settle with nobody waiting: keep asyncio from logging their errors."""
    if not future.cancelled():
        future.exception()


class BlockReader:
    """Reads byte ranges of objects as cached blocks of ``block_size`` bytes."""

    def __init__(
        self,
        store: ObjectStore,
        *,
        block_size: int,
        memory: MemoryBlockCache,
        disk: DiskBlockCache | None,
        counters: FsCounters,
    ) -> None:
        if block_size <= 0:
            raise ValueError(f"block_size must be > 0 bytes, got {block_size}")
        self.block_size = block_size
        self._store = store
        self._memory = memory
        self._disk = disk
        self._counters = counters
        self._inflight: dict[BlockKey, asyncio.Future[_Fetched]] = {}
        self._tasks: dict[asyncio.Task[None], asyncio.Future[_Fetched]] = {}
        """Fetches under way -> the future their lookups wait on."""
        self._readahead: set[asyncio.Future[_Fetched]] = set()

    @property
    def readahead_pending(self) -> int:
        """Read-ahead fetches under way now (at most :data:`MAX_READAHEAD_FETCHES`)."""
        return len(self._readahead)

    async def read(
        self, key: str, etag: str, size: int, offset: int, length: int, *, readahead: int = 0
    ) -> bytes:
        """Bytes ``[offset, offset + length)`` of the ``size``-byte object ``key`` at ``etag``.

        Short at the end of the object, empty past it. Then starts fetching the
        next ``readahead`` bytes in the background.
        """
        if offset < 0 or length < 0 or size < 0:
            raise ValueError(
                f"offset, length and size must be >= 0, got {offset}, {length}, {size}"
            )
        end = min(offset + length, size)
        if offset >= end:
            return b""
        first = offset // self.block_size
        last = (end - 1) // self.block_size
        lookups = [self._lookup(key, etag, size, index) for index in range(first, last + 1)]
        if readahead > 0:
            self._read_ahead(key, etag, size, last + 1, end + readahead)
        blocks = await asyncio.gather(*lookups)
        start = offset - first * self.block_size
        if len(blocks) == 1:
            result = blocks[0][start : start + end - offset]
        else:
            result = b"".join(blocks)[start : start + end - offset]
        self._counters.bytes_read += len(result)
        return result

    def forget(self, key: str) -> None:
        """Drop every cached block of ``key`` from L1 and L2 (after a write or a delete)."""
        self._memory.discard(key)
        if self._disk is not None:
            self._disk.discard(key)

    async def close(self) -> None:
        """Cancel the fetches still waiting on S3; let blocks already fetched land in L2."""
        tasks = list(self._tasks)
        for task in tasks:
            if not self._tasks[task].done():
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- one block -------------------------------------------------------------------------

    async def _lookup(self, key: str, etag: str, size: int, index: int) -> bytes:
        block_key = (key, etag, index)
        data = self._memory.get(block_key)
        if data is not None:
            self._counters.l1_hits += 1
            return data
        future = self._inflight.get(block_key) or self._start_fetch(block_key, size)
        fetched, from_disk = await asyncio.shield(future)
        if from_disk:
            self._counters.l2_hits += 1
        else:
            self._counters.misses += 1
        return fetched

    def _read_ahead(self, key: str, etag: str, size: int, first: int, end: int) -> None:
        """Start background fetches of blocks ``first`` onwards that hold bytes before ``end``."""
        last = (min(end, size) - 1) // self.block_size
        for index in range(first, last + 1):
            if len(self._readahead) >= MAX_READAHEAD_FETCHES:
                return
            block_key = (key, etag, index)
            if block_key in self._memory or block_key in self._inflight:
                continue
            future = self._start_fetch(block_key, size)
            self._readahead.add(future)
            future.add_done_callback(self._readahead.discard)

    def _start_fetch(self, block_key: BlockKey, size: int) -> asyncio.Future[_Fetched]:
        future: asyncio.Future[_Fetched] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_mark_retrieved)
        self._inflight[block_key] = future
        task = asyncio.create_task(self._fetch(block_key, size, future))
        self._tasks[task] = future
        task.add_done_callback(self._tasks.pop)
        return future

    def _settle(self, block_key: BlockKey, future: asyncio.Future[_Fetched]) -> None:
        if self._inflight.get(block_key) is future:
            del self._inflight[block_key]

    async def _fetch(
        self, block_key: BlockKey, size: int, future: asyncio.Future[_Fetched]
    ) -> None:
        """Find the block in L2 or fetch it; settle ``future``; then write it to L2."""
        key, _, index = block_key
        offset = index * self.block_size
        expected = min(self.block_size, size - offset)
        try:
            data = await self._disk.get(block_key) if self._disk is not None else None
            if data is not None and len(data) == expected:
                self._memory.put(block_key, data)
                self._settle(block_key, future)
                future.set_result((data, True))
                return
            self._counters.request("GET")
            data = await self._store.get_range(key, offset, expected)
            self._counters.bytes_fetched += len(data)
            if len(data) != expected:
                raise OSError(
                    errno.ESTALE,
                    f"{key}: block {index} has {len(data)} bytes, expected {expected}: "
                    "the object changed while being read",
                )
            self._memory.put(block_key, data)
            self._settle(block_key, future)
            future.set_result((data, False))
            if self._disk is not None:
                await self._disk.put(block_key, data)
        except asyncio.CancelledError:
            self._settle(block_key, future)
            future.cancel()
            raise
        except Exception as exc:
            self._settle(block_key, future)
            if not future.done():
                _logger.debug("fetching block %d of %s failed: %r", index, key, exc)
                future.set_exception(exc)
