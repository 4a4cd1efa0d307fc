"""BlockReader over real stores: bytes equal the object's, and requests are what caching promises.

Most tests use s3opt.LocalStore on a temporary directory (no network); one
reads through S3Store from a real moto server over HTTP. The stores are
subclassed only to count (and, where a test needs it, hold) ``get_range``
calls at the Protocol boundary: every call is one ranged GET.
"""

from __future__ import annotations

import asyncio
import errno
import os
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from objectfs.blocks import MAX_READAHEAD_FETCHES, READAHEAD_RUN, BlockReader
from objectfs.cache import DiskBlockCache, MemoryBlockCache
from objectfs.stats import FsCounters
from s3opt import LocalStore, ObjectStore, S3Store
from s3opt.config import RetryConfig
from s3opt.errors import NoSuchKeyError
from s3opt.testing import MotoServer

BLOCK = 1024
SIZE = 10 * BLOCK + 123  # ten whole blocks and a short one
DATA = random.Random(6).randbytes(SIZE)
KEY = "dir/data.bin"


class CountingStore(LocalStore):
    """A LocalStore that records each ranged GET, and can hold them until ``gate`` is set."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, fsync=False)
        self.ranges: list[tuple[str, int, int]] = []
        self.active = 0
        self.most_active = 0
        self.gate: asyncio.Event | None = None

    async def get_range(
        self, key: str, offset: int, size: int, *, if_match: str | None = None
    ) -> bytes:
        self.ranges.append((key, offset, size))
        self.active += 1
        self.most_active = max(self.most_active, self.active)
        try:
            if self.gate is not None:
                await self.gate.wait()
            return await super().get_range(key, offset, size, if_match=if_match)
        finally:
            self.active -= 1


class CountingS3Store(S3Store):
    """An S3Store that records each ranged GET it sends."""

    ranges: list[tuple[str, int, int]]

    async def get_range(
        self, key: str, offset: int, size: int, *, if_match: str | None = None
    ) -> bytes:
        self.ranges.append((key, offset, size))
        return await super().get_range(key, offset, size, if_match=if_match)


def reader_for(
    store: ObjectStore,
    *,
    memory: int = 1 << 20,
    disk: DiskBlockCache | None = None,
    counters: FsCounters | None = None,
) -> BlockReader:
    return BlockReader(
        store,
        block_size=BLOCK,
        memory=MemoryBlockCache(memory),
        disk=disk,
        counters=counters if counters is not None else FsCounters(),
    )


@pytest_asyncio.fixture
async def store(tmp_path: Path) -> CountingStore:
    counting = CountingStore(tmp_path / "bucket")
    await counting.put(KEY, DATA)
    return counting


async def readahead_done(reader: BlockReader) -> None:
    """Wait (at most 5 s) until no read-ahead fetch is under way."""
    async with asyncio.timeout(5):
        while reader.readahead_pending:
            await asyncio.sleep(0.005)


async def etag_of(store: ObjectStore, key: str = KEY) -> str:
    return (await store.head(key)).etag


# -- bytes ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[CountingStore, str]:
    counting = CountingStore(tmp_path_factory.mktemp("bucket"))
    info = asyncio.run(counting.put(KEY, DATA))
    return counting, info.etag


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    reads=st.lists(
        st.tuples(st.integers(0, SIZE + 2 * BLOCK), st.integers(0, 4 * BLOCK)),
        min_size=1,
        max_size=8,
    ),
    memory=st.sampled_from([0, BLOCK, 3 * BLOCK, 1 << 20]),
)
def test_reads_equal_the_objects_bytes(
    shared_store: tuple[CountingStore, str], reads: list[tuple[int, int]], memory: int
) -> None:
    store, etag = shared_store

    async def run() -> None:
        reader = reader_for(store, memory=memory)
        try:
            results = await asyncio.gather(
                *(reader.read(KEY, etag, SIZE, offset, length) for offset, length in reads)
            )
            for (offset, length), got in zip(reads, results, strict=True):
                assert got == DATA[offset : offset + length]
        finally:
            await reader.close()

    asyncio.run(run())


@pytest.mark.asyncio
async def test_reads_past_the_end_are_short_or_empty_without_requests(
    store: CountingStore,
) -> None:
    reader = reader_for(store)
    etag = await etag_of(store)
    assert await reader.read(KEY, etag, SIZE, SIZE - 10, 100) == DATA[-10:]
    before = len(store.ranges)
    assert await reader.read(KEY, etag, SIZE, SIZE, 100) == b""
    assert await reader.read(KEY, etag, SIZE, SIZE + 5000, 1) == b""
    assert await reader.read(KEY, etag, SIZE, 0, 0) == b""
    assert len(store.ranges) == before
    # The last block is asked for with its true length: 123 bytes.
    assert store.ranges == [(KEY, 10 * BLOCK, 123)]
    with pytest.raises(ValueError, match=">= 0"):
        await reader.read(KEY, etag, SIZE, -1, 10)


@pytest.mark.asyncio
async def test_empty_object(store: CountingStore) -> None:
    info = await store.put("empty", b"")
    reader = reader_for(store)
    assert await reader.read("empty", info.etag, 0, 0, 4096, readahead=1 << 20) == b""
    assert store.ranges == []


# -- counting ------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_second_read_is_an_l1_hit_with_no_request(store: CountingStore) -> None:
    counters = FsCounters()
    reader = reader_for(store, counters=counters)
    etag = await etag_of(store)
    assert await reader.read(KEY, etag, SIZE, 1000, 100) == DATA[1000:1100]  # blocks 0 and 1
    assert store.ranges == [(KEY, 0, BLOCK), (KEY, BLOCK, BLOCK)]
    assert (counters.misses, counters.l1_hits, counters.requests["GET"]) == (2, 0, 2)
    assert counters.bytes_fetched == 2 * BLOCK
    assert await reader.read(KEY, etag, SIZE, 1010, 50) == DATA[1010:1060]
    assert len(store.ranges) == 2
    assert (counters.misses, counters.l1_hits, counters.requests["GET"]) == (2, 2, 2)
    assert counters.bytes_read == 150


@pytest.mark.asyncio
async def test_l2_serves_a_new_reader_with_an_empty_l1(
    store: CountingStore, tmp_path: Path
) -> None:
    etag = await etag_of(store)
    first = reader_for(store, disk=DiskBlockCache(tmp_path / "l2", 1 << 20))
    assert await first.read(KEY, etag, SIZE, 0, SIZE) == DATA
    await first.close()
    fetched = len(store.ranges)
    assert fetched == 11

    counters = FsCounters()
    second = reader_for(store, disk=DiskBlockCache(tmp_path / "l2", 1 << 20), counters=counters)
    assert await second.read(KEY, etag, SIZE, 0, SIZE) == DATA
    assert len(store.ranges) == fetched  # zero GETs
    assert counters.requests["GET"] == 0
    assert (counters.l2_hits, counters.misses) == (11, 0)
    assert await second.read(KEY, etag, SIZE, 5, 5) == DATA[5:10]
    assert counters.l1_hits == 1


@pytest.mark.asyncio
async def test_a_new_etag_misses_both_caches(store: CountingStore, tmp_path: Path) -> None:
    disk = DiskBlockCache(tmp_path / "l2", 1 << 20)
    reader = reader_for(store, disk=disk)
    old = await etag_of(store)
    assert await reader.read(KEY, old, SIZE, 0, 10) == DATA[:10]
    new = await store.put(KEY, b"new content!" + DATA[12:])
    assert new.etag != old
    assert await reader.read(KEY, new.etag, SIZE, 0, 12) == b"new content!"
    assert len(store.ranges) == 2


@pytest.mark.asyncio
async def test_forget_drops_l1_and_l2(store: CountingStore, tmp_path: Path) -> None:
    disk = DiskBlockCache(tmp_path / "l2", 1 << 20)
    reader = reader_for(store, disk=disk)
    etag = await etag_of(store)
    await reader.read(KEY, etag, SIZE, 0, 10)
    await reader.close()  # the L2 write has landed
    assert len(disk) == 1
    reader.forget(KEY)
    assert len(disk) == 0
    await reader.read(KEY, etag, SIZE, 0, 10)
    assert len(store.ranges) == 2


@pytest.mark.asyncio
async def test_concurrent_reads_of_one_block_make_one_request(store: CountingStore) -> None:
    counters = FsCounters()
    reader = reader_for(store, counters=counters)
    etag = await etag_of(store)
    store.gate = asyncio.Event()
    reads = [asyncio.create_task(reader.read(KEY, etag, SIZE, i * 100, 50)) for i in range(8)]
    await asyncio.sleep(0.01)
    assert store.ranges == [(KEY, 0, BLOCK)]
    store.gate.set()
    results = await asyncio.gather(*reads)
    assert results == [DATA[i * 100 : i * 100 + 50] for i in range(8)]
    assert store.ranges == [(KEY, 0, BLOCK)]
    assert (counters.misses, counters.requests["GET"]) == (8, 1)


@pytest.mark.asyncio
async def test_a_cancelled_reader_does_not_cancel_the_shared_fetch(store: CountingStore) -> None:
    reader = reader_for(store)
    etag = await etag_of(store)
    store.gate = asyncio.Event()
    impatient = asyncio.create_task(reader.read(KEY, etag, SIZE, 0, 10))
    patient = asyncio.create_task(reader.read(KEY, etag, SIZE, 10, 10))
    await asyncio.sleep(0.01)
    impatient.cancel()
    store.gate.set()
    assert await patient == DATA[10:20]
    assert impatient.cancelled()
    assert len(store.ranges) == 1


@pytest.mark.asyncio
async def test_a_failed_fetch_reaches_every_waiter_and_is_not_remembered(
    store: CountingStore,
) -> None:
    reader = reader_for(store)
    info = await store.put("gone", b"x" * 100)
    await store.delete(["gone"])
    reads = [reader.read("gone", info.etag, 100, 0, 10) for _ in range(3)]
    results = await asyncio.gather(*reads, return_exceptions=True)
    assert all(isinstance(r, NoSuchKeyError) for r in results)
    assert len(store.ranges) == 1
    info = await store.put("gone", b"y" * 100)
    assert await reader.read("gone", info.etag, 100, 0, 3) == b"yyy"


@pytest.mark.asyncio
async def test_an_object_shorter_than_its_size_is_estale(store: CountingStore) -> None:
    reader = reader_for(store)
    info = await store.put("shrinks", b"z" * 2 * BLOCK)
    await store.put("shrinks", b"z" * 100)
    with pytest.raises(OSError, match="changed") as raised:
        await reader.read("shrinks", info.etag, 2 * BLOCK, 0, 10)
    assert raised.value.errno == errno.ESTALE


# -- read-ahead ----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_readahead_fetches_the_next_blocks_in_the_background(store: CountingStore) -> None:
    counters = FsCounters()
    reader = reader_for(store, counters=counters)
    etag = await etag_of(store)
    # Block 0 on demand; 3000 bytes ahead of byte 1000 reach into block 3: blocks 1..3, in
    # one GET (a run shorter than READAHEAD_RUN goes at once when it starts near the read).
    assert await reader.read(KEY, etag, SIZE, 900, 100, readahead=3000) == DATA[900:1000]
    await readahead_done(reader)
    assert sorted(store.ranges) == [(KEY, 0, BLOCK), (KEY, BLOCK, 3 * BLOCK)]
    assert counters.requests["GET"] == 2
    assert counters.misses == 1  # read-ahead is not a lookup
    assert await reader.read(KEY, etag, SIZE, BLOCK, 3 * BLOCK) == DATA[BLOCK : 4 * BLOCK]
    assert len(store.ranges) == 2
    assert counters.l1_hits == 3
    # Read-ahead stops at the end of the object: block 9 on demand, block 10 (123 bytes).
    await reader.read(KEY, etag, SIZE, 9 * BLOCK, 10, readahead=1 << 30)
    await readahead_done(reader)
    assert sorted(store.ranges)[-2:] == [(KEY, 9 * BLOCK, BLOCK), (KEY, 10 * BLOCK, 123)]
    assert len(store.ranges) == 4


@pytest.mark.asyncio
async def test_readahead_fetches_whole_runs_as_the_window_moves(tmp_path: Path) -> None:
    """A sequential reader's read-ahead: runs of READAHEAD_RUN blocks, one GET each, every
    block fetched once; the window's partial tail waits until a whole run is missing."""
    store = CountingStore(tmp_path / "bucket")
    blocks = 6 * READAHEAD_RUN + 1
    big = random.Random(3).randbytes(blocks * BLOCK - 7)
    info = await store.put("big", big)
    reader = reader_for(store, memory=len(big))
    window = 2 * READAHEAD_RUN * BLOCK + BLOCK // 2
    read = 256
    for offset in range(0, len(big), read):
        got = await reader.read("big", info.etag, len(big), offset, read, readahead=window)
        assert got == big[offset : offset + read]
        await readahead_done(reader)
    starts = sorted(offset // BLOCK for _, offset, _ in store.ranges)
    sizes = {offset // BLOCK: size for _, offset, size in store.ranges}
    # Block 0 on demand; then whole runs of READAHEAD_RUN blocks (the last one short).
    assert starts == [0, *range(1, blocks, READAHEAD_RUN)]
    assert all(sizes[s] == READAHEAD_RUN * BLOCK for s in starts[1:-1])
    assert sizes[starts[-1]] == len(big) - starts[-1] * BLOCK
    assert sum(sizes.values()) == len(big)
    await reader.close()


@pytest.mark.asyncio
async def test_a_run_is_cached_as_views_of_its_one_buffer_and_read_without_a_copy(
    tmp_path: Path,
) -> None:
    """The blocks of a read-ahead run are views into the run's one GET body (no copy per
    block), which L1 charges once; a read inside one of them is a view of it as well."""
    store = CountingStore(tmp_path / "bucket")
    big = random.Random(4).randbytes((1 + READAHEAD_RUN) * BLOCK)
    info = await store.put("big", big)
    memory = MemoryBlockCache(1 << 20)
    reader = BlockReader(store, block_size=BLOCK, memory=memory, disk=None, counters=FsCounters())
    await reader.read("big", info.etag, len(big), 0, BLOCK, readahead=READAHEAD_RUN * BLOCK)
    await readahead_done(reader)
    assert sorted(offset for _, offset, _ in store.ranges) == [0, BLOCK]  # block 0; the run
    assert memory.size == len(big)  # block 0's bytes and the run's buffer, once
    got = await reader.read("big", info.etag, len(big), 2 * BLOCK + 10, 100)
    block = memory.get(("big", info.etag, 2))
    assert isinstance(got, memoryview)
    assert isinstance(block, memoryview)
    assert got.obj is block.obj
    assert bytes(got) == big[2 * BLOCK + 10 : 2 * BLOCK + 110]
    assert len(store.ranges) == 2
    await reader.close()


@pytest.mark.asyncio
async def test_readahead_reads_blocks_l2_holds_from_l2(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "bucket")
    info = await store.put(KEY, DATA)
    disk = DiskBlockCache(tmp_path / "l2", 1 << 20)
    await disk.put((KEY, info.etag, 2), DATA[2 * BLOCK : 3 * BLOCK])
    reader = reader_for(store, disk=disk)
    assert await reader.read(KEY, info.etag, SIZE, 0, 10, readahead=5 * BLOCK) == DATA[:10]
    await readahead_done(reader)
    # Block 2 came from L2: the blocks around it are two runs, not one.
    assert sorted(store.ranges) == [
        (KEY, 0, BLOCK),
        (KEY, BLOCK, BLOCK),
        (KEY, 3 * BLOCK, 3 * BLOCK),
    ]
    assert await reader.read(KEY, info.etag, SIZE, 0, 6 * BLOCK) == DATA[: 6 * BLOCK]
    assert len(store.ranges) == 3
    await reader.close()


@pytest.mark.asyncio
async def test_readahead_stays_bounded(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "bucket")
    blocks = 4 * MAX_READAHEAD_FETCHES
    big = os.urandom(blocks * BLOCK)
    info = await store.put("big", big)
    reader = reader_for(store, memory=len(big))
    store.gate = asyncio.Event()
    first = asyncio.create_task(reader.read("big", info.etag, len(big), 0, 10, readahead=len(big)))
    await asyncio.sleep(0.01)
    # MAX_READAHEAD_FETCHES blocks under way, READAHEAD_RUN to a GET.
    gets = MAX_READAHEAD_FETCHES // READAHEAD_RUN
    assert reader.readahead_pending == MAX_READAHEAD_FETCHES
    assert store.active == 1 + gets
    # A second sequential read while they are under way adds nothing.
    second = asyncio.create_task(
        reader.read("big", info.etag, len(big), BLOCK, 10, readahead=len(big))
    )
    await asyncio.sleep(0.01)
    assert store.most_active == 1 + gets
    store.gate.set()
    assert await first == big[:10]
    assert await second == big[BLOCK : BLOCK + 10]
    await readahead_done(reader)
    # As blocks landed, read-ahead refilled their slots up to the window asked for (the
    # whole object): each block fetched once, never more than the bound under way.
    starts = sorted(offset for _, offset, _ in store.ranges)
    assert starts == [0, *range(BLOCK, len(big), READAHEAD_RUN * BLOCK)]
    assert sum(size for _, _, size in store.ranges) == len(big)
    assert store.most_active == 1 + gets
    await reader.close()


@pytest.mark.asyncio
async def test_readahead_refills_as_blocks_land_up_to_the_window(tmp_path: Path) -> None:
    """One read asks for 60 blocks ahead: 48 go at once, the other 12 as the first land,
    with no further read; nothing past the window is fetched."""
    store = CountingStore(tmp_path / "bucket")
    assert MAX_READAHEAD_FETCHES == 48  # the figures below assume it
    big = os.urandom(100 * BLOCK)
    info = await store.put("big", big)
    reader = reader_for(store, memory=len(big))
    store.gate = asyncio.Event()
    read = asyncio.create_task(reader.read("big", info.etag, len(big), 0, 10, readahead=60 * BLOCK))
    await asyncio.sleep(0.01)
    assert store.active == 1 + 12  # block 0, then 12 runs of 4: blocks 1-48
    store.gate.set()
    assert await read == big[:10]
    await readahead_done(reader)
    # Bytes 10 + 60 blocks end in block 60: blocks 49-60 are three more runs, and no more.
    starts = sorted(offset // BLOCK for _, offset, _ in store.ranges)
    assert starts == [0, *range(1, 61, 4)]
    assert {size for _, offset, size in store.ranges if offset} == {4 * BLOCK}
    assert reader.readahead_pending == 0
    await reader.close()


class FailingStore(CountingStore):
    """A CountingStore whose ranged GETs fail from byte ``BLOCK`` on."""

    async def get_range(
        self, key: str, offset: int, size: int, *, if_match: str | None = None
    ) -> bytes:
        if offset >= BLOCK:
            self.ranges.append((key, offset, size))
            raise OSError(errno.EIO, "injected")
        return await super().get_range(key, offset, size, if_match=if_match)


@pytest.mark.asyncio
async def test_failed_readahead_does_not_refill(tmp_path: Path) -> None:
    """Read-ahead GETs that fail free their slots but start nothing: 12 runs failed, and the
    window's other 12 blocks (three runs) are not asked for until a reader asks."""
    store = FailingStore(tmp_path / "bucket")
    big = os.urandom(100 * BLOCK)
    info = await store.put("big", big)
    reader = reader_for(store, memory=len(big))
    got = await reader.read("big", info.etag, len(big), 0, 10, readahead=60 * BLOCK)
    assert got == big[:10]
    await readahead_done(reader)
    assert sorted(offset // BLOCK for _, offset, _ in store.ranges) == [0, *range(1, 49, 4)]
    await reader.close()


@pytest.mark.asyncio
async def test_close_cancels_background_fetches(store: CountingStore) -> None:
    reader = reader_for(store)
    etag = await etag_of(store)
    await reader.read(KEY, etag, SIZE, 0, 10)
    store.gate = asyncio.Event()
    reading_ahead = reader.read(KEY, etag, SIZE, 0, 10, readahead=SIZE)
    assert await reading_ahead == DATA[:10]
    await asyncio.sleep(0.01)
    assert reader.readahead_pending == 10
    await reader.close()
    assert reader.readahead_pending == 0
    assert store.active == 0


# -- a real S3 server ----------------------------------------------------------------------


@pytest_asyncio.fixture
async def s3_store(moto_server: MotoServer, bucket: str) -> AsyncIterator[CountingS3Store]:
    retry = RetryConfig(max_attempts=2, base_delay=0.01, max_delay=0.1, deadline=20.0)
    config = moto_server.config(retry=retry)
    async with CountingS3Store.open(f"s3://{bucket}/mount", config) as opened:
        assert isinstance(opened, CountingS3Store)
        opened.ranges = []
        yield opened


@pytest.mark.integration
@pytest.mark.asyncio
async def test_reads_through_s3_over_http(s3_store: CountingS3Store, tmp_path: Path) -> None:
    info = await s3_store.put(KEY, DATA)
    counters = FsCounters()
    reader = reader_for(s3_store, disk=DiskBlockCache(tmp_path / "l2", 1 << 20), counters=counters)
    rng = random.Random(7)
    spans = [(rng.randrange(SIZE), rng.randrange(3 * BLOCK)) for _ in range(20)]
    for offset, length in spans:
        assert (
            await reader.read(KEY, info.etag, SIZE, offset, length)
            == DATA[offset : offset + length]
        )
    touched = {i for o, n in spans for i in range(o // BLOCK, (min(o + n, SIZE) - 1) // BLOCK + 1)}
    assert len(s3_store.ranges) == counters.requests["GET"] == len(touched)
    await reader.close()

    again = reader_for(s3_store, disk=DiskBlockCache(tmp_path / "l2", 1 << 20))
    for offset, length in spans:
        assert (
            await again.read(KEY, info.etag, SIZE, offset, length) == DATA[offset : offset + length]
        )
    assert len(s3_store.ranges) == len(touched)
