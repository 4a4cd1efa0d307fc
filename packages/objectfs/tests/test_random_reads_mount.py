"""Random 4 KiB reads through a real mount (/dev/fuse) of a moto S3 server over real HTTP.

What fio's ``--rw=randread --bs=4k`` does to a mount, checked against moto's own
access log (what crossed the wire) and the daemon's counters:

* a file read in full once is then served from the mount's caches: random
  reads that reach the daemon (the kernel's pages dropped, as fio's do not
  repeat) make no GET, from L1 on the same mount and from L2 after a remount;
* random reads of a file nobody read make one small GET each (a 64 KiB
  fragment), never a block or a read-ahead window.

Reads use ``posix_fadvise(POSIX_FADV_RANDOM)`` as fio does (its default
``fadvise_hint``), so the kernel asks for exactly the 4 KiB page read.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from pathlib import Path

import pytest

from objectfs.blocks import FRAGMENT_SIZE
from objectfs.testing import ForegroundMount
from s3opt import S3Store
from s3opt.testing import MotoServer

pytestmark = [
    pytest.mark.integration,
    pytest.mark.fuse,
    pytest.mark.skipif(not Path("/dev/fuse").exists(), reason="/dev/fuse is missing"),
]

MiB = 1024 * 1024
PAGE = 4096


def put_object(moto_server: MotoServer, bucket: str, key: str, data: bytes) -> None:
    async def put() -> None:
        async with S3Store.open(f"s3://{bucket}", moto_server.config()) as store:
            await store.put(key, data)

    asyncio.run(put())


def gets_of(moto_server: MotoServer, bucket: str, key: str) -> int:
    """GET requests for ``bucket/key`` that moto answered (its access log)."""
    path = f"/{bucket}/{key}"
    return sum(
        1 for method, target, _ in moto_server.requests_seen() if method == "GET" and target == path
    )


def mounted(moto_server: MotoServer, url: str, where: Path, cache: Path) -> ForegroundMount:
    """``objectfs -f URL WHERE --cache-dir CACHE`` on the moto server."""
    return ForegroundMount(url, where, "--cache-dir", str(cache), env=moto_server.env)


def random_reads(path: Path, data: bytes, offsets: list[int]) -> None:
    """``pread`` 4 KiB at each offset, as fio does, and compare with the source's bytes."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)  # earlier reads' pages: gone
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
        for offset in offsets:
            assert os.pread(fd, PAGE, offset) == data[offset : offset + PAGE], offset
    finally:
        os.close(fd)


def served_from_cache(
    moto_server: MotoServer, bucket: str, mount: ForegroundMount, data: bytes, offsets: list[int]
) -> dict[str, int]:
    """Random reads of ``big.bin``; the GETs moto saw and the cache lookups they made."""
    gets = gets_of(moto_server, bucket, "work/big.bin")
    before = mount.stats()
    random_reads(mount.path / "big.bin", data, offsets)
    after = mount.stats()
    return {
        "gets": gets_of(moto_server, bucket, "work/big.bin") - gets,
        "counted_gets": after["requests"]["GET"] - before["requests"]["GET"],
        "l1": after["cache"]["l1"]["hits"] - before["cache"]["l1"]["hits"],
        "l2": after["cache"]["l2"]["hits"] - before["cache"]["l2"]["hits"],
        "misses": after["cache"]["misses"] - before["cache"]["misses"],
    }


@pytest.mark.slow
def test_random_reads_of_a_file_read_in_full_make_no_get(
    moto_server: MotoServer, bucket: str, tmp_path: Path
) -> None:
    data = random.Random(6).randbytes(8 * MiB)
    put_object(moto_server, bucket, "work/big.bin", data)
    offsets = [page * PAGE for page in random.Random(7).sample(range(len(data) // PAGE), 200)]
    url, cache = f"s3://{bucket}/work", tmp_path / "cache"
    with mounted(moto_server, url, tmp_path / "mnt", cache) as mount:
        with (mount.path / "big.bin").open("rb", buffering=0) as whole:
            assert whole.read() == data
        same_mount = served_from_cache(moto_server, bucket, mount, data, offsets)
    with mounted(moto_server, url, tmp_path / "mnt", cache) as mount:  # L1 empty, L2 kept
        remounted = served_from_cache(moto_server, bucket, mount, data, offsets)
    # Every read reached the daemon (one lookup each) and L1 had its block.
    assert same_mount == {"gets": 0, "counted_gets": 0, "l1": 200, "l2": 0, "misses": 0}
    # After the remount each of the 8 blocks comes from disk once, then from memory.
    assert remounted["gets"] == remounted["counted_gets"] == remounted["misses"] == 0
    assert remounted["l2"] == len({offset // MiB for offset in offsets}) == 8
    assert remounted["l1"] == 200 - 8


def test_random_reads_of_an_uncached_file_fetch_a_fragment_each(
    moto_server: MotoServer, bucket: str, tmp_path: Path
) -> None:
    data = random.Random(8).randbytes(16 * MiB)
    put_object(moto_server, bucket, "work/big.bin", data)
    rng = random.Random(9)
    # One page in each 1 MiB block, the blocks in random order, never offset 0 (a read
    # from the start of a file may begin a sequential run).
    blocks = rng.sample(range(len(data) // MiB), 16)
    offsets = [block * MiB + rng.randrange(1, MiB // PAGE) * PAGE for block in blocks]
    with mounted(moto_server, f"s3://{bucket}/work", tmp_path / "mnt", tmp_path / "cache") as mount:
        gets = gets_of(moto_server, bucket, "work/big.bin")
        before = mount.stats()
        random_reads(mount.path / "big.bin", data, offsets)
        time.sleep(0.5)  # anything fetched in the background would be counted by now
        after = mount.stats()
    assert gets_of(moto_server, bucket, "work/big.bin") - gets == len(offsets)
    fetched = after["bytes"]["fetched"] - before["bytes"]["fetched"]
    assert len(offsets) * PAGE <= fetched <= len(offsets) * FRAGMENT_SIZE
