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

Read-ahead (the ``readahead`` bytes a
:class:`objectfs.readahead.SequentialDetector` asks for) starts background
fetches of the blocks after the read, at most :data:`MAX_READAHEAD_FETCHES`
blocks at a time across all files: blocks beyond that are not queued then.
They are asked for again when a read-ahead block lands (its slot is free: the
file's read-ahead is refilled up to where its last read asked for) and by the
next sequential read. Refilling as blocks land keeps the slots full while the
reader itself waits on a block: on ``wan`` a sequential reader spends most of
its time waiting, and read-ahead that waited for the next read left a fifth of
the slots empty (measured: 6-8 GETs of 8 in flight). Blocks that neither cache
holds are fetched :data:`READAHEAD_RUN` at a time, one ranged GET for the run:
a GET's cost in the daemon (signing, parsing, a connection) does not depend on
its size, and on ``lan`` it was most of the CPU of a sequential read. A run
shorter than that waits for the window to grow unless the reader is about to
need it (it starts within a run of the read) or it ends the object. Each
file's read-ahead remembers where it stopped and how far its last read asked
for, so a read (or a block landing) looks only at the blocks the window newly
covers.

Random access (a read of at most :data:`FRAGMENT_SIZE` bytes that the
:class:`~objectfs.readahead.SequentialDetector` calls a seek) does not fetch
whole blocks: a 4 KiB read would cost a 1 MiB
GET. A block that neither L1 nor L2 holds is then read as the
:data:`FRAGMENT_SIZE`-aligned fragments that cover the read, kept in a
separate memory cache of fragments (never written to L2, which holds whole
blocks only, and never mistaken for a block: the two caches are apart).
A miss in a block that already has another fragment in memory fetches the
whole block instead: random reads that cluster (a small file, a hot region)
soon read from whole cached blocks, scattered ones keep costing 64 KiB each.
Sequential reads keep whole blocks and read-ahead.

Counting (:class:`objectfs.stats.FsCounters`): every block (or fragment) a
reader asks for is one ``l1_hits``, ``l2_hits`` or ``misses`` (a lookup that
waits on a fetch already under way counts where that fetch found the block;
fragments held in memory count as L1 hits); read-ahead fetches are not
lookups, but their GETs and bytes count like any other.
"""

from __future__ import annotations

import asyncio
import errno
import logging
from collections import OrderedDict
from functools import partial
from typing import Any, Final

from objectfs.cache import Block, BlockKey, DiskBlockCache, MemoryBlockCache
from objectfs.stats import FsCounters
from s3opt import ObjectStore
from s3opt.errors import ObjectChangedError

__all__ = [
    "FRAGMENT_CACHE_SHARE",
    "FRAGMENT_SIZE",
    "MAX_READAHEAD_FETCHES",
    "READAHEAD_RUN",
    "BlockReader",
]

_logger = logging.getLogger(__name__)

MAX_READAHEAD_FETCHES: Final = 48
"""Read-ahead blocks being fetched at once, for all files together (bounds memory and requests).
Forty-eight keep 48 / :data:`READAHEAD_RUN` = 12 GETs in flight. ``wan`` caps a connection
at 10 MB/s and the path at 80 MB/s: eight GETs would fill it only if each ran at the full
10 MB/s with no gap between one and the next, while a 4 MiB GET also pays its round trip
(and on a loaded host ran at 6 MB/s, measured); twelve leave that margin."""
READAHEAD_RUN: Final = 4
"""Blocks fetched by one read-ahead GET (4 MiB at the default block size). Measured on ``lan``
(256 MiB read with dd, daemon CPU): a 1 MiB GET costs the daemon about 4 ms whatever its
size."""
_READAHEAD_MARKS: Final = 1024
"""Files whose read-ahead position is remembered (least recently read forgotten first)."""

FRAGMENT_SIZE: Final = 64 * 1024
"""Bytes fetched around a random read. A ranged GET's cost is mostly its round trip: on
``wan`` (40 ms, 10 MB/s a connection) 64 KiB adds 6.5 ms to it, a 1 MiB block 105 ms. 64 KiB
still covers the 15 neighbouring 4 KiB pages (index pages, tar headers, records read near
each other), and is half the kernel's default 128 KiB read-ahead, so a random reader never
pays for more than the kernel itself would ask for."""
FRAGMENT_CACHE_SHARE: Final = 8
"""The fragment cache holds up to 1/8 of the L1 cache's capacity."""

_Mark = tuple[int, int, int, int]
"""A file's read-ahead state: the first block it has not yet considered, then the ``first``,
``end`` and ``size`` of the last :meth:`BlockReader._read_ahead` call (to refill it)."""
_Fetched = tuple[Block, bool]
"""A settled fetch: the block's bytes, and whether they came from L2 (else from the store)."""


def _mark_retrieved(future: asyncio.Future[Any]) -> None:
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
        self._tasks: dict[asyncio.Task[None], asyncio.Future[_Fetched] | asyncio.Future[bytes]] = {}
        """Fetches under way -> the future their lookups wait on."""
        self._readahead: set[asyncio.Future[_Fetched]] = set()
        self._closing = False
        """Set by :meth:`close`: blocks landing then refill nothing."""
        self._marks: OrderedDict[tuple[str, str], _Mark] = OrderedDict()
        """``(key, etag)`` -> where its read-ahead stopped and what its last read asked for."""
        self._fragments = MemoryBlockCache(memory.capacity // FRAGMENT_CACHE_SHARE)
        """Fragments of :data:`FRAGMENT_SIZE` by ``(key, etag, offset // FRAGMENT_SIZE)``."""
        self._fragments_inflight: dict[BlockKey, asyncio.Future[bytes]] = {}

    @property
    def readahead_pending(self) -> int:
        """Read-ahead fetches under way now (at most :data:`MAX_READAHEAD_FETCHES`)."""
        return len(self._readahead)

    async def read(
        self,
        key: str,
        etag: str,
        size: int,
        offset: int,
        length: int,
        *,
        readahead: int = 0,
        sequential: bool = True,
    ) -> Block:
        """Bytes ``[offset, offset + length)`` of the ``size``-byte object ``key`` at ``etag``.

        Short at the end of the object, empty past it. Then starts fetching the
        next ``readahead`` bytes in the background. A read that is not
        ``sequential`` and at most :data:`FRAGMENT_SIZE` long reads the blocks
        no cache holds as fragments around it instead; a longer one is the
        kernel reading ahead for some reader (several readers of one file share
        the kernel's page cache, so each handle sees gaps), and gets blocks.
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
        whole = sequential or length > FRAGMENT_SIZE or self.block_size <= FRAGMENT_SIZE
        if readahead > 0:
            self._read_ahead(key, etag, size, last + 1, end + readahead)
        parts = self._in_memory(key, etag, first, last) if whole else None
        if parts is None:
            if whole:
                lookups = [self._lookup(key, etag, size, i) for i in range(first, last + 1)]
            else:
                lookups = [
                    self._lookup_part(key, etag, size, i, offset, end)
                    for i in range(first, last + 1)
                ]
            parts = [await lookups[0]] if len(lookups) == 1 else await asyncio.gather(*lookups)
        if whole:
            start = offset - first * self.block_size
            joined = parts[0] if len(parts) == 1 else b"".join(parts)
            result = joined[start : start + end - offset]
        else:
            result = b"".join(parts)
        self._counters.add_read(len(result))
        return result

    def forget(self, key: str) -> None:
        """Drop every cached block of ``key`` from L1 and L2 (after a write or a delete)."""
        self._memory.discard(key)
        self._fragments.discard(key)
        if self._disk is not None:
            self._disk.discard(key)

    async def close(self) -> None:
        """Cancel the fetches still waiting on S3; let blocks already fetched land in L2."""
        self._closing = True
        tasks = list(self._tasks)
        for task in tasks:
            if not self._tasks[task].done():
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- one block -------------------------------------------------------------------------

    def _in_memory(self, key: str, etag: str, first: int, last: int) -> list[Block] | None:
        """Blocks ``first`` to ``last`` when L1 holds them all (each counted as an L1 hit);
        ``None`` otherwise. A read served whole from memory then costs no task and no turn
        of the event loop: the cached-read latency is the FUSE round trip."""
        parts = []
        for index in range(first, last + 1):
            data = self._memory.get((key, etag, index))
            if data is None:
                return None
            parts.append(data)
        for _ in parts:
            self._counters.l1_hit()
        return parts

    async def _lookup(self, key: str, etag: str, size: int, index: int) -> Block:
        block_key = (key, etag, index)
        data = self._memory.get(block_key)
        if data is not None:
            self._counters.l1_hit()
            return data
        future = self._inflight.get(block_key) or self._start_fetch(block_key, size)
        fetched, from_disk = await asyncio.shield(future)
        if from_disk:
            self._counters.l2_hit()
        else:
            self._counters.miss(l2_checked=self._disk is not None)
        return fetched

    async def _lookup_part(
        self, key: str, etag: str, size: int, index: int, offset: int, end: int
    ) -> Block:
        """The bytes of ``[offset, end)`` inside block ``index``: from a cached or coming whole
        block if there is one, else from fragments."""
        block_key = (key, etag, index)
        base = index * self.block_size
        start, stop = max(offset, base), min(end, base + self.block_size)
        if block_key in self._memory or block_key in self._inflight:
            block = await self._lookup(key, etag, size, index)
            return block[start - base : stop - base]
        if self._disk is not None:
            stored = await self._disk.get(block_key)
            if stored is not None and len(stored) == min(self.block_size, size - base):
                self._memory.put(block_key, stored)
                self._counters.l2_hit()
                return stored[start - base : stop - base]
        first = start // FRAGMENT_SIZE
        wanted = range(first, (stop - 1) // FRAGMENT_SIZE + 1)
        block_end = min(base + self.block_size, size)
        in_block = range(base // FRAGMENT_SIZE, (block_end - 1) // FRAGMENT_SIZE + 1)
        if any((key, etag, f) not in self._fragments for f in wanted) and any(
            (key, etag, f) in self._fragments for f in in_block if f not in wanted
        ):
            # A second miss in this block: reads cluster here, so it is worth fetching whole.
            block = await self._lookup(key, etag, size, index)
            return block[start - base : stop - base]
        fragments = await asyncio.gather(*(self._fragment(key, etag, size, f) for f in wanted))
        joined = fragments[0] if len(fragments) == 1 else b"".join(fragments)
        skip = start - first * FRAGMENT_SIZE
        return joined[skip : skip + stop - start]

    async def _fragment(self, key: str, etag: str, size: int, number: int) -> Block:
        """Fragment ``number`` of the object: from memory, a fetch under way, or a GET now."""
        fragment_key = (key, etag, number)
        data = self._fragments.get(fragment_key)
        if data is not None:
            self._counters.l1_hit()
            return data
        future = self._fragments_inflight.get(fragment_key)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            future.add_done_callback(_mark_retrieved)
            self._fragments_inflight[fragment_key] = future
            task = asyncio.create_task(self._fetch_fragment(fragment_key, size, future))
            self._tasks[task] = future
            task.add_done_callback(self._tasks.pop)
        data = await asyncio.shield(future)
        self._counters.miss(l2_checked=self._disk is not None)
        return data

    async def _fetch_fragment(
        self, fragment_key: BlockKey, size: int, future: asyncio.Future[bytes]
    ) -> None:
        key, etag, number = fragment_key
        offset = number * FRAGMENT_SIZE
        expected = min(FRAGMENT_SIZE, size - offset)
        try:
            data = await self._get_range(key, etag, offset, expected)
            self._fragments.put(fragment_key, data)
            future.set_result(data)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            _logger.debug("fetching %d bytes at %d of %s failed: %r", expected, offset, key, exc)
            future.set_exception(exc)
        finally:
            if self._fragments_inflight.get(fragment_key) is future:
                del self._fragments_inflight[fragment_key]

    async def _get_range(self, key: str, etag: str, offset: int, size: int) -> bytes:
        """``size`` bytes at ``offset`` of the object version ``etag`` (``If-Match``, RFC 9110
        section 13.1.1), else ESTALE: bytes of two versions of an object never mix."""
        self._counters.request("GET")
        try:
            data = await self._store.get_range(key, offset, size, if_match=etag or None)
        except ObjectChangedError:
            raise OSError(errno.ESTALE, f"{key} changed while being read") from None
        self._counters.add_fetched(len(data))
        if len(data) != size:
            raise OSError(
                errno.ESTALE,
                f"{key}: {len(data)} bytes at {offset}, expected {size}: "
                "the object changed while being read",
            )
        return data

    def _read_ahead(self, key: str, etag: str, size: int, first: int, end: int) -> None:
        """Start background fetches of blocks ``first`` onwards that hold bytes before ``end``.

        Blocks that L2 holds are read from it one by one; the others go in runs of
        up to :data:`READAHEAD_RUN` blocks, one GET each (see the module docstring).
        """
        last = (min(end, size) - 1) // self.block_size
        mark = self._marks.pop((key, etag), None)
        index = mark[0] if mark is not None and first <= mark[0] <= last + 1 else first
        run: list[BlockKey] = []
        while index <= last and len(self._readahead) + len(run) < MAX_READAHEAD_FETCHES:
            block_key = (key, etag, index)
            cached = block_key in self._memory or block_key in self._inflight
            on_disk = not cached and self._disk is not None and self._disk.holds(block_key)
            if cached or on_disk:
                if run:  # a gap ends a run
                    self._start_run(run, size)
                    run = []
                if on_disk:
                    self._track(block_key, self._start_fetch(block_key, size))
            else:
                run.append(block_key)
                if len(run) == READAHEAD_RUN:
                    self._start_run(run, size)
                    run = []
            index += 1
        if run:
            due = run[0][2] - first < READAHEAD_RUN or run[-1][2] == (size - 1) // self.block_size
            if due:
                self._start_run(run, size)
            else:
                index = run[0][2]
        self._marks[(key, etag)] = (index, first, end, size)
        if len(self._marks) > _READAHEAD_MARKS:
            self._marks.popitem(last=False)

    def _track(self, block_key: BlockKey, future: asyncio.Future[_Fetched]) -> None:
        self._readahead.add(future)
        future.add_done_callback(partial(self._landed, block_key[0], block_key[1]))

    def _landed(self, key: str, etag: str, future: asyncio.Future[_Fetched]) -> None:
        """A read-ahead block settled: free its slot, and refill the file's read-ahead up to
        where its last read asked for. Only after a success: a failing store is not asked
        again until a reader asks, and a cancelled fetch (``close``) starts nothing."""
        self._readahead.discard(future)
        if self._closing or future.cancelled() or future.exception() is not None:
            return
        mark = self._marks.get((key, etag))
        if mark is not None:
            _, first, end, size = mark
            self._read_ahead(key, etag, size, first, end)

    def _start_run(self, run: list[BlockKey], size: int) -> None:
        """Fetch the consecutive blocks ``run`` (none cached) with one GET, as read-ahead."""
        if len(run) == 1:
            self._track(run[0], self._start_fetch(run[0], size))
            return
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[_Fetched]] = []
        for block_key in run:
            future: asyncio.Future[_Fetched] = loop.create_future()
            future.add_done_callback(_mark_retrieved)
            self._inflight[block_key] = future
            self._track(block_key, future)
            futures.append(future)
        task = asyncio.create_task(self._fetch_run(run, size, futures))
        self._tasks[task] = futures[0]
        task.add_done_callback(self._tasks.pop)

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
        key, etag, index = block_key
        offset = index * self.block_size
        expected = min(self.block_size, size - offset)
        try:
            data = await self._disk.get(block_key) if self._disk is not None else None
            if data is not None and len(data) == expected:
                self._memory.put(block_key, data)
                self._settle(block_key, future)
                future.set_result((data, True))
                return
            data = await self._get_range(key, etag, offset, expected)
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

    async def _fetch_run(
        self, run: list[BlockKey], size: int, futures: list[asyncio.Future[_Fetched]]
    ) -> None:
        """One GET for the blocks of ``run``; settle each block's future; then write them to L2."""
        key, etag, first = run[0]
        offset = first * self.block_size
        expected = min(len(run) * self.block_size, size - offset)
        try:
            data = memoryview(await self._get_range(key, etag, offset, expected))
            blocks = [
                data[start : start + self.block_size]
                for start in range(0, expected, self.block_size)
            ]  # views, not copies: the L1 cache charges their shared buffer
            for block_key, future, block in zip(run, futures, blocks, strict=True):
                self._memory.put(block_key, block)
                self._settle(block_key, future)
                future.set_result((block, False))
            if self._disk is not None:
                for block_key, block in zip(run, blocks, strict=True):
                    await self._disk.put(block_key, block)
        except asyncio.CancelledError:
            for block_key, future in zip(run, futures, strict=True):
                self._settle(block_key, future)
                future.cancel()
            raise
        except Exception as exc:
            _logger.debug("fetching blocks %d-%d of %s failed: %r", first, run[-1][2], key, exc)
            for block_key, future in zip(run, futures, strict=True):
                self._settle(block_key, future)
                if not future.done():
                    future.set_exception(exc)
