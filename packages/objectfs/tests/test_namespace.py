"""Namespace over a real LocalStore: listings answered from the cache, and the requests counted.

Requests are counted where the filesystem counts them (TimedStore into
FsCounters), so "zero requests" here is what ``objectfs stats`` would show.
The metadata cache runs on a hand-moved clock: expiry needs no sleeping.
"""

from __future__ import annotations

import asyncio
import stat
from collections import Counter
from pathlib import Path

import pytest
import pytest_asyncio

from objectfs.cache import MetadataCache
from objectfs.fs._namespace import HEAD_CONCURRENCY, Namespace, Owner
from objectfs.fs._timed import TimedStore
from objectfs.stats import FsCounters
from objectfs.writeback import WriteBack
from s3opt import LocalStore, ObjectInfo

TTL = 60.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class SlowHeadStore(LocalStore):
    """HEADs that take 10 ms each, recording how many were under way at once."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, fsync=False)
        self.active = 0
        self.most_active = 0

    async def head(self, key: str) -> ObjectInfo:
        self.active += 1
        self.most_active = max(self.most_active, self.active)
        try:
            await asyncio.sleep(0.01)
            return await super().head(key)
        finally:
            self.active -= 1


class Fixture:
    def __init__(self, root: Path) -> None:
        self.store = SlowHeadStore(root / "bucket")
        self.counters = FsCounters()
        self.clock = Clock()
        timed = TimedStore(self.store, timeout=10, counters=self.counters)
        self.writeback = WriteBack(timed, root / "staging")
        self.namespace = Namespace(
            timed,
            MetadataCache(TTL, clock=self.clock),
            self.writeback,
            Owner(uid=1000, gid=1000, umask=0o022),
        )

    def requests(self) -> Counter[str]:
        return +Counter(self.counters.requests)

    async def names(self, path: str) -> list[str]:
        return [name async for name, _, _ in self.namespace.entries(path)]


@pytest_asyncio.fixture
async def fx(tmp_path: Path) -> Fixture:
    (tmp_path / "bucket").mkdir()
    fixture = Fixture(tmp_path)
    await fixture.store.put("d/", b"")
    for name in ("a", "b", "c"):
        await fixture.store.put(f"d/{name}", name.encode(), metadata={"mode": "33152"})
    await fixture.store.put("d/link", b"a", metadata={"mode": str(stat.S_IFLNK | 0o777)})
    await fixture.store.put("d/sub/x", b"x")
    return fixture


@pytest.mark.asyncio
async def test_a_second_listing_within_the_ttl_makes_no_request(fx: Fixture) -> None:
    assert await fx.names("d") == ["a", "b", "c", "link", "sub"]
    # One LIST page, and one HEAD per object (LIST carries no headers); none for "sub".
    assert fx.requests() == Counter({"LIST": 1, "HEAD": 4})
    entries = {name: (node, exact) async for name, node, exact in fx.namespace.entries("d")}
    assert fx.requests() == Counter({"LIST": 1, "HEAD": 4})
    assert entries["a"][0].attributes.mode == stat.S_IFREG | 0o600  # the header, kept
    assert entries["link"][0].is_symlink
    assert entries["sub"][0].is_dir
    assert entries["sub"][1] is False
    # Lookups of names the listing lacks are answered by it, too.
    assert await fx.namespace.resolve("d/nothing") is None
    assert fx.requests() == Counter({"LIST": 1, "HEAD": 4})


@pytest.mark.asyncio
async def test_after_the_ttl_the_listing_is_asked_again(fx: Fixture) -> None:
    await fx.names("d")
    await fx.store.put("d/e", b"from another client")
    assert "e" not in await fx.names("d")
    fx.clock.now += TTL
    assert "e" in await fx.names("d")
    assert fx.requests()["LIST"] == 2


@pytest.mark.asyncio
async def test_own_creations_and_removals_keep_the_listing(fx: Fixture) -> None:
    await fx.names("d")
    before = fx.requests()
    created = await fx.store.put("d/new", b"n", metadata={"mode": "33188"})
    fx.namespace.learned("d/new", created)
    fx.namespace.removed("d/b")
    assert await fx.names("d") == ["a", "c", "link", "new", "sub"]
    node = await fx.namespace.resolve("d/new")
    assert node is not None
    assert node.size == 1
    assert await fx.namespace.resolve("d/b") is None
    assert await fx.namespace.resolve("d/other") is None
    assert fx.requests() == before
    # The listing's own expiry is not extended by the mount's changes.
    fx.clock.now += TTL
    await fx.names("d")
    assert fx.requests()["LIST"] == before["LIST"] + 1


@pytest.mark.asyncio
async def test_a_new_directory_is_known_empty(fx: Fixture) -> None:
    marker = await fx.store.put("d/fresh/", b"")
    fx.namespace.learned("d/fresh", marker)
    fx.namespace.made_empty("d/fresh")
    assert await fx.namespace.resolve("d/fresh/file") is None
    assert await fx.names("d/fresh") == []
    assert fx.requests() == Counter()


@pytest.mark.asyncio
async def test_a_cold_listing_heads_many_entries_at_once(tmp_path: Path) -> None:
    (tmp_path / "bucket").mkdir()
    fx = Fixture(tmp_path)
    for i in range(3 * HEAD_CONCURRENCY):
        await fx.store.put(f"many/f{i:03d}", b"")
    names = await fx.names("many")
    assert names == [f"f{i:03d}" for i in range(3 * HEAD_CONCURRENCY)]
    assert fx.store.most_active == HEAD_CONCURRENCY
