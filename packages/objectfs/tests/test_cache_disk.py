"""DiskBlockCache: the file format, permissions, remounts, eviction, damage and a full disk."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import stat
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import xxhash

from objectfs.cache import BlockKey, DiskBlockCache

HEADER = 24


def block_file(root: Path, key: BlockKey) -> Path:
    """Where the layout documented in objectfs.cache.disk puts a block, computed independently."""
    h = hashlib.sha256(key[0].encode()).hexdigest()
    e = hashlib.sha256(key[1].encode()).hexdigest()[:32]
    return root / h[:2] / h / f"{e}-{key[2]}"


def expected_file(key: BlockKey, data: bytes) -> bytes:
    identity = f"{key[0]}\0{key[1]}\0{key[2]}\0".encode()
    digest = xxhash.xxh3_64_intdigest(identity + data)
    return (
        b"OFSB\x01\x00\x00\x00"
        + len(data).to_bytes(8, "little")
        + digest.to_bytes(8, "little")
        + data
    )


def files_under(root: Path) -> list[Path]:
    """Every file below ``root`` (os.walk tolerates directories vanishing meanwhile)."""
    return sorted(Path(top, name) for top, _, names in os.walk(root) for name in names)


@pytest.mark.asyncio
async def test_block_file_format_and_layout(tmp_path: Path) -> None:
    cache = DiskBlockCache(tmp_path / "c", 1 << 20)
    key = ("dir/file.bin", "9b2cf535f27731c974343645a3985328", 7)
    await cache.put(key, b"hello block")
    path = block_file(tmp_path / "c", key)
    assert path.read_bytes() == expected_file(key, b"hello block")
    assert files_under(tmp_path / "c") == [path]
    assert cache.size == HEADER + 11
    assert await cache.get(key) == b"hello block"


@pytest.mark.asyncio
async def test_directories_are_0700_and_files_0600(tmp_path: Path) -> None:
    old_umask = os.umask(0)  # a permissive umask must not widen the modes
    try:
        cache = DiskBlockCache(tmp_path / "c", 1 << 20)
        await cache.put(("k", "e", 0), b"secret")
    finally:
        os.umask(old_umask)
    root = tmp_path / "c"
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(os.stat(path).st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), path


def test_an_existing_directory_is_narrowed_to_0700(tmp_path: Path) -> None:
    root = tmp_path / "c"
    root.mkdir(mode=0o755)
    DiskBlockCache(root, 100)
    assert stat.S_IMODE(os.stat(root).st_mode) == 0o700


@pytest.mark.asyncio
async def test_a_second_instance_on_the_directory_hits(tmp_path: Path) -> None:
    first = DiskBlockCache(tmp_path / "c", 1 << 20)
    await first.put(("a", "e1", 0), b"zero")
    await first.put(("a", "e1", 1), b"one")
    second = DiskBlockCache(tmp_path / "c", 1 << 20)
    assert len(second) == 2
    assert second.size == 2 * HEADER + 7
    assert await second.get(("a", "e1", 1)) == b"one"
    assert await second.get(("a", "e1", 0)) == b"zero"


@pytest.mark.asyncio
async def test_an_etag_change_misses(tmp_path: Path) -> None:
    cache = DiskBlockCache(tmp_path / "c", 1 << 20)
    await cache.put(("a", "old", 0), b"old bytes")
    assert await cache.get(("a", "new", 0)) is None
    assert await cache.get(("a", "old", 0)) == b"old bytes"


@pytest.mark.asyncio
async def test_evicts_least_recently_used_to_stay_under_capacity(tmp_path: Path) -> None:
    cache = DiskBlockCache(tmp_path / "c", 3 * (HEADER + 100))
    for i in range(3):
        await cache.put(("obj", "e", i), bytes([i]) * 100)
    assert await cache.get(("obj", "e", 0)) is not None  # 1 is now the oldest
    await cache.put(("obj", "e", 3), b"\x03" * 100)
    assert cache.size == 3 * (HEADER + 100)
    assert await cache.get(("obj", "e", 1)) is None
    assert not block_file(tmp_path / "c", ("obj", "e", 1)).exists()
    assert len(files_under(tmp_path / "c")) == 3
    # A block larger than the whole cache is not stored and evicts nothing.
    await cache.put(("big", "e", 0), b"x" * 400)
    assert await cache.get(("big", "e", 0)) is None
    assert len(files_under(tmp_path / "c")) == 3


@pytest.mark.asyncio
async def test_recency_survives_a_restart(tmp_path: Path) -> None:
    root = tmp_path / "c"
    first = DiskBlockCache(root, 10 * (HEADER + 10))
    for i in range(3):
        await first.put(("o", "e", i), b"." * 10)
    past = time.time() - 100
    for i in range(3):  # block 0 written earliest, but read most recently
        os.utime(block_file(root, ("o", "e", i)), (past + i, past + i))
    assert await first.get(("o", "e", 0)) is not None
    smaller = DiskBlockCache(root, 2 * (HEADER + 10))  # must drop one: the least recent, 1
    assert len(smaller) == 2
    assert await smaller.get(("o", "e", 1)) is None
    assert await smaller.get(("o", "e", 0)) == b"." * 10
    assert not block_file(root, ("o", "e", 1)).exists()


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda raw: raw[:-1], id="truncated"),
        pytest.param(lambda raw: raw[:10], id="header-cut"),
        pytest.param(lambda raw: raw[:-1] + bytes([raw[-1] ^ 1]), id="bit-flip"),
        pytest.param(lambda raw: b"", id="empty"),
    ],
)
async def test_a_damaged_block_is_a_miss_and_is_removed(
    tmp_path: Path, damage: object, caplog: pytest.LogCaptureFixture
) -> None:
    assert callable(damage)
    cache = DiskBlockCache(tmp_path / "c", 1 << 20)
    key = ("a", "e", 0)
    await cache.put(key, b"payload" * 10)
    path = block_file(tmp_path / "c", key)
    path.write_bytes(damage(path.read_bytes()))
    with caplog.at_level(logging.WARNING, logger="objectfs.cache.disk"):
        assert await cache.get(key) is None
    assert not path.exists()
    assert cache.size == 0
    assert "damaged" in caplog.text
    assert not cache.disabled


@pytest.mark.asyncio
async def test_a_block_file_renamed_to_another_key_is_refused(tmp_path: Path) -> None:
    cache = DiskBlockCache(tmp_path / "c", 1 << 20)
    await cache.put(("a", "e", 0), b"block zero")
    os.replace(block_file(tmp_path / "c", ("a", "e", 0)), block_file(tmp_path / "c", ("a", "e", 1)))
    reopened = DiskBlockCache(tmp_path / "c", 1 << 20)
    assert await reopened.get(("a", "e", 1)) is None


@pytest.mark.asyncio
async def test_crash_debris_is_cleaned_at_start(tmp_path: Path) -> None:
    root = tmp_path / "c"
    cache = DiskBlockCache(root, 1 << 20)
    await cache.put(("a", "e", 0), b"good")
    object_dir = block_file(root, ("a", "e", 0)).parent
    (object_dir / ".tmp-deadbeef").write_bytes(b"half a blo")
    (root / ".trash-0123").mkdir()
    (root / ".trash-0123" / "x").write_bytes(b"old")
    reopened = DiskBlockCache(root, 1 << 20)
    assert files_under(root) == [block_file(root, ("a", "e", 0))]
    assert reopened.size == HEADER + 4


@pytest.mark.asyncio
async def test_discard_drops_every_etag_of_the_object_at_once(tmp_path: Path) -> None:
    root = tmp_path / "c"
    cache = DiskBlockCache(root, 1 << 20)
    await cache.put(("a", "old", 0), b"1")
    await cache.put(("a", "new", 3), b"2")
    await cache.put(("b", "new", 0), b"3")
    cache.discard("a")
    assert await cache.get(("a", "old", 0)) is None
    assert await cache.get(("a", "new", 3)) is None
    assert await cache.get(("b", "new", 0)) == b"3"
    assert cache.size == HEADER + 1
    deadline = time.monotonic() + 5
    while len(files_under(root)) > 1 and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert files_under(root) == [block_file(root, ("b", "new", 0))]
    cache.discard("never-cached")


@pytest.mark.asyncio
async def test_discard_during_a_write_leaves_no_file(tmp_path: Path) -> None:
    root = tmp_path / "c"
    cache = DiskBlockCache(root, 1 << 20)
    writing = asyncio.create_task(cache.put(("a", "e", 0), b"x" * 1000))
    await asyncio.sleep(0)  # the write is now in its thread
    cache.discard("a")
    await writing
    deadline = time.monotonic() + 5
    while files_under(root) and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert files_under(root) == []
    assert cache.size == 0
    assert await cache.get(("a", "e", 0)) is None


@pytest.mark.asyncio
async def test_a_full_disk_disables_the_cache_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    mountpoint = tmp_path / "tiny"
    mountpoint.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mountpoint)], check=True)
    try:
        cache = DiskBlockCache(mountpoint / "cache", 10 << 20)  # capacity above the disk's size
        block = os.urandom(256 * 1024)
        with caplog.at_level(logging.WARNING, logger="objectfs.cache.disk"):
            for i in range(8):  # 2 MiB into a 1 MiB file system
                await cache.put(("obj", "e", i), block)
            assert await cache.get(("obj", "e", 0)) is None
        assert cache.disabled
        warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(warnings) == 1
        assert "disabled" in warnings[0].getMessage()
        assert list((mountpoint / "cache").rglob(".tmp-*")) == []
    finally:
        subprocess.run(["umount", str(mountpoint)], check=True)


@pytest.mark.asyncio
async def test_keys_with_odd_characters(tmp_path: Path) -> None:
    cache = DiskBlockCache(tmp_path / "c", 1 << 20)
    key = (f"../../{uuid.uuid4()}/\udcff/ü\0", '"etag/../x"', 0)
    await cache.put(key, b"ok")
    assert await cache.get(key) == b"ok"
    assert all(p.is_relative_to(tmp_path / "c") for p in files_under(tmp_path))
