"""BlockReader on random access: small fetches around the read, never stored as whole blocks.

The object is 1 MiB + 1000 bytes of seeded random bytes in an s3opt.LocalStore
(no network), read with 256 KiB blocks; the expected ranged GETs are worked
out by hand from FRAGMENT_SIZE = 64 KiB alignment.
"""

from __future__ import annotations

import asyncio
import errno
import random
from pathlib import Path

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from objectfs.blocks import BlockReader
from objectfs.cache import DiskBlockCache, MemoryBlockCache
from objectfs.stats import FsCounters
from s3opt import LocalStore

KiB = 1024
BLOCK = 256 * KiB
SIZE = 4 * BLOCK + 1000
DATA = random.Random(61).randbytes(SIZE)
KEY = "data.bin"


class CountingStore(LocalStore):
    """A LocalStore that records each ranged GET (one call is one request)."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, fsync=False)
        self.ranges: list[tuple[int, int]] = []

    async def get_range(
        self, key: str, offset: int, size: int, *, if_match: str | None = None
    ) -> bytes:
        self.ranges.append((offset, size))
        return await super().get_range(key, offset, size, if_match=if_match)


@pytest_asyncio.fixture
async def store(tmp_path: Path) -> CountingStore:
    counting = CountingStore(tmp_path / "bucket")
    await counting.put(KEY, DATA)
    return counting


def reader_for(
    store: CountingStore,
    counters: FsCounters,
    *,
    disk: DiskBlockCache | None = None,
    block_size: int = BLOCK,
) -> BlockReader:
    return BlockReader(
        store,
        block_size=block_size,
        memory=MemoryBlockCache(8 * BLOCK),
        disk=disk,
        counters=counters,
    )


@pytest.mark.asyncio
async def test_a_random_4k_read_fetches_its_aligned_64k_and_serves_neighbours_from_memory(
    store: CountingStore,
) -> None:
    counters = FsCounters()
    reader = reader_for(store, counters)
    etag = (await store.head(KEY)).etag
    # 300,000 lies in fragment 4: [262,144, 327,680).
    got = await reader.read(KEY, etag, SIZE, 300_000, 4096, sequential=False)
    assert got == DATA[300_000:304_096]
    assert store.ranges == [(262_144, 65_536)]
    assert (counters.requests["GET"], counters.bytes_fetched, counters.misses) == (1, 65_536, 1)
    # Another page of the same fragment: memory, no request.
    again = await reader.read(KEY, etag, SIZE, 263_000, 4096, sequential=False)
    assert again == DATA[263_000:267_096]
    assert len(store.ranges) == 1
    assert counters.l1_hits == 1
    assert counters.bytes_read == 8192


@pytest.mark.asyncio
async def test_a_read_across_fragments_and_blocks_fetches_both_fragments(
    store: CountingStore,
) -> None:
    reader = reader_for(store, FsCounters())
    etag = (await store.head(KEY)).etag
    # [260,000, 264,096) spans blocks 0/1 (boundary 262,144) and fragments 3/4.
    got = await reader.read(KEY, etag, SIZE, 260_000, 4096, sequential=False)
    assert got == DATA[260_000:264_096]
    assert sorted(store.ranges) == [(196_608, 65_536), (262_144, 65_536)]


@pytest.mark.asyncio
async def test_the_last_fragment_is_short(store: CountingStore) -> None:
    reader = reader_for(store, FsCounters())
    etag = (await store.head(KEY)).etag
    got = await reader.read(KEY, etag, SIZE, SIZE - 100, 4096, sequential=False)
    assert got == DATA[-100:]
    # The object's last fragment starts at 16 * 64 KiB = 1,048,576 and holds 1000 bytes.
    assert store.ranges == [(1_048_576, 1000)]


@pytest.mark.asyncio
async def test_whole_blocks_in_l1_or_l2_serve_random_reads(
    store: CountingStore, tmp_path: Path
) -> None:
    etag = (await store.head(KEY)).etag
    first = reader_for(store, FsCounters(), disk=DiskBlockCache(tmp_path / "l2", 1 << 24))
    assert await first.read(KEY, etag, SIZE, 0, BLOCK) == DATA[:BLOCK]  # sequential: block 0
    assert store.ranges == [(0, BLOCK)]
    assert await first.read(KEY, etag, SIZE, 5000, 10, sequential=False) == DATA[5000:5010]
    assert len(store.ranges) == 1  # L1 had the block
    await first.close()  # the block has landed in L2

    counters = FsCounters()
    second = reader_for(store, counters, disk=DiskBlockCache(tmp_path / "l2", 1 << 24))
    assert await second.read(KEY, etag, SIZE, 9000, 10, sequential=False) == DATA[9000:9010]
    assert len(store.ranges) == 1
    assert (counters.l2_hits, counters.misses) == (1, 0)


@pytest.mark.asyncio
async def test_fragments_never_reach_l2_nor_pass_for_blocks(
    store: CountingStore, tmp_path: Path
) -> None:
    disk = DiskBlockCache(tmp_path / "l2", 1 << 24)
    reader = reader_for(store, FsCounters(), disk=disk)
    etag = (await store.head(KEY)).etag
    await reader.read(KEY, etag, SIZE, 70_000, 4096, sequential=False)
    await reader.close()
    assert len(disk) == 0
    # A sequential read of the same bytes wants the whole block: it is fetched whole.
    assert await reader.read(KEY, etag, SIZE, 70_000, 4096) == DATA[70_000:74_096]
    assert store.ranges == [(65_536, 65_536), (0, BLOCK)]


@pytest.mark.asyncio
async def test_forget_drops_fragments(store: CountingStore) -> None:
    reader = reader_for(store, FsCounters())
    etag = (await store.head(KEY)).etag
    await reader.read(KEY, etag, SIZE, 70_000, 10, sequential=False)
    reader.forget(KEY)
    await reader.read(KEY, etag, SIZE, 70_000, 10, sequential=False)
    assert store.ranges == [(65_536, 65_536)] * 2


@pytest.mark.asyncio
async def test_a_second_miss_in_a_block_fetches_it_whole_into_l1_and_l2(
    store: CountingStore, tmp_path: Path
) -> None:
    disk = DiskBlockCache(tmp_path / "l2", 1 << 24)
    reader = reader_for(store, FsCounters(), disk=disk)
    etag = (await store.head(KEY)).etag
    await reader.read(KEY, etag, SIZE, 300_000, 4096, sequential=False)  # fragment 4
    # 400,000 is fragment 6, also in block 1 [262,144, 524,288): the block is fetched whole.
    got = await reader.read(KEY, etag, SIZE, 400_000, 4096, sequential=False)
    assert got == DATA[400_000:404_096]
    assert store.ranges == [(262_144, 65_536), (BLOCK, BLOCK)]
    # Any byte of block 1 is now in memory; a miss in block 2 is a fragment again.
    assert (
        await reader.read(KEY, etag, SIZE, 500_000, 10, sequential=False) == DATA[500_000:500_010]
    )
    await reader.read(KEY, etag, SIZE, 600_000, 10, sequential=False)
    assert store.ranges[2:] == [(589_824, 65_536)]
    await reader.close()
    assert len(disk) == 1  # the whole block reached L2


@pytest.mark.asyncio
async def test_a_long_read_after_a_seek_gets_whole_blocks(store: CountingStore) -> None:
    """128 KiB at once is the kernel reading ahead for someone, not a random reader."""
    reader = reader_for(store, FsCounters())
    etag = (await store.head(KEY)).etag
    got = await reader.read(KEY, etag, SIZE, 300_000, 128 * KiB, sequential=False)
    assert got == DATA[300_000 : 300_000 + 128 * KiB]
    assert store.ranges == [(BLOCK, BLOCK)]  # [262,144, 524,288) holds all of it


@pytest.mark.asyncio
async def test_blocks_no_larger_than_a_fragment_are_fetched_whole(store: CountingStore) -> None:
    reader = reader_for(store, FsCounters(), block_size=32 * KiB)
    etag = (await store.head(KEY)).etag
    assert await reader.read(KEY, etag, SIZE, 70_000, 10, sequential=False) == DATA[70_000:70_010]
    assert store.ranges == [(65_536, 32 * KiB)]


@pytest.mark.asyncio
@pytest.mark.parametrize("sequential", [True, False])
async def test_an_object_overwritten_mid_read_is_estale_not_mixed(
    store: CountingStore, sequential: bool
) -> None:
    reader = reader_for(store, FsCounters())
    etag = (await store.head(KEY)).etag
    assert await reader.read(KEY, etag, SIZE, 0, 10, sequential=sequential) == DATA[:10]
    await store.put(KEY, bytes(SIZE))  # same size, new bytes: only the ETag tells
    with pytest.raises(OSError, match="changed") as raised:
        await reader.read(KEY, etag, SIZE, 2 * BLOCK, 10, sequential=sequential)
    assert raised.value.errno == errno.ESTALE


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    reads=st.lists(
        st.tuples(st.integers(0, SIZE + 10), st.integers(0, 300 * KiB), st.booleans()),
        min_size=1,
        max_size=6,
    ),
    block_size=st.sampled_from([100_000, BLOCK]),
)
def test_any_mix_of_random_and_sequential_reads_returns_the_objects_bytes(
    tmp_path_factory: pytest.TempPathFactory,
    reads: list[tuple[int, int, bool]],
    block_size: int,
) -> None:
    async def check() -> None:
        store = CountingStore(tmp_path_factory.mktemp("bucket"))
        etag = (await store.put(KEY, DATA)).etag
        reader = reader_for(store, FsCounters(), block_size=block_size)
        for offset, length, sequential in reads:
            got = await reader.read(KEY, etag, SIZE, offset, length, sequential=sequential)
            assert got == DATA[offset : offset + length]
        await reader.close()

    asyncio.run(check())
