"""MetadataCache: TTL by an injected clock, negative entries, bounded size, invalidation."""

from __future__ import annotations

import pytest

from objectfs.cache import ABSENT, MetadataCache
from s3opt import ObjectInfo


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def info(key: str, size: int = 1) -> ObjectInfo:
    return ObjectInfo(key=key, size=size, etag="0" * 32)


def test_entries_expire_after_ttl() -> None:
    clock = FakeClock()
    cache = MetadataCache(5.0, clock=clock)
    cache.put("a/b", info("a/b"))
    cache.put_listing("a", ["b"])
    clock.now += 4.999
    assert cache.get("a/b") == info("a/b")
    assert cache.listing("a") == ("b",)
    clock.now += 0.001  # exactly ttl after storing: expired
    assert cache.get("a/b") is None
    assert cache.listing("a") is None
    assert len(cache) == 0


def test_a_refreshed_entry_gets_a_new_ttl() -> None:
    clock = FakeClock()
    cache = MetadataCache(5.0, clock=clock)
    cache.put("x", info("x", 1))
    clock.now += 4
    cache.put("x", info("x", 2))
    clock.now += 4
    assert cache.get("x") == info("x", 2)


def test_negative_entries() -> None:
    cache = MetadataCache(5.0, clock=FakeClock())
    assert cache.get("missing") is None
    cache.put("missing", ABSENT)
    assert cache.get("missing") is ABSENT
    assert repr(ABSENT) == "ABSENT"


def test_zero_ttl_caches_nothing() -> None:
    cache = MetadataCache(0.0, clock=FakeClock())
    cache.put("x", info("x"))
    cache.put_listing("", ["x"])
    assert cache.get("x") is None
    assert cache.listing("") is None


def test_listing_is_sorted_and_a_copy() -> None:
    cache = MetadataCache(5.0, clock=FakeClock())
    names = ["b", "a", "C"]
    cache.put_listing("d", names)
    names.append("z")
    assert cache.listing("d") == ("C", "a", "b")


def test_huge_listing_is_refused_and_drops_an_older_one() -> None:
    cache = MetadataCache(5.0, max_entries=40, clock=FakeClock())
    cache.put_listing("d", [f"f{i}" for i in range(10)])  # 40 // 4 = 10: accepted
    assert cache.listing("d") is not None
    cache.put_listing("d", [f"f{i}" for i in range(11)])
    assert cache.listing("d") is None


def test_entry_count_is_bounded_least_recently_used_first() -> None:
    cache = MetadataCache(5.0, max_entries=10, clock=FakeClock())
    for i in range(10):
        cache.put(f"k{i}", info(f"k{i}"))
    assert cache.get("k0") is not None  # k0 now most recent; k1 is the oldest
    cache.put("k10", info("k10"))
    assert cache.get("k1") is None
    assert cache.get("k0") is not None
    assert len(cache) == 10
    # A listing of 2 names costs 3 entries: three more of the oldest go.
    cache.put_listing("dir", ["a", "b"])
    assert [cache.get(f"k{i}") is None for i in (2, 3, 4, 5)] == [True, True, True, False]


def test_invalidate_drops_the_path_its_listing_and_its_parents_listing() -> None:
    cache = MetadataCache(5.0, clock=FakeClock())
    cache.put("a/b/c", info("a/b/c"))
    cache.put("a/b", info("a/b"))
    cache.put_listing("a/b", ["c"])
    cache.put_listing("a", ["b"])
    cache.put_listing("", ["a"])
    cache.invalidate("a/b")
    assert cache.get("a/b") is None
    assert cache.listing("a/b") is None
    assert cache.listing("a") is None
    assert cache.get("a/b/c") == info("a/b/c")
    assert cache.listing("") == ("a",)
    cache.invalidate("a")
    assert cache.listing("") is None


def test_invalidate_with_absolute_paths_and_trailing_slash() -> None:
    cache = MetadataCache(5.0, clock=FakeClock())
    cache.put_listing("/", ["top"])
    cache.put_listing("/top", ["d"])
    cache.invalidate("/top/d/")
    assert cache.listing("/top") is None
    cache.invalidate("/top")
    assert cache.listing("/") is None


def test_negative_entries_expire_after_the_negative_ttl() -> None:
    clock = FakeClock()
    cache = MetadataCache(300.0, negative_ttl=5.0, clock=clock)
    cache.put("gone", ABSENT)
    cache.put("here", info("here"))
    cache.put_listing("", ["here"])
    clock.now += 4.999
    assert cache.get("gone") is ABSENT
    clock.now += 0.001
    assert cache.get("gone") is None
    assert cache.get("here") == info("here")  # positive answers keep the long TTL
    assert cache.listing("") == ("here",)
    clock.now += 295
    assert cache.get("here") is None


def test_zero_negative_ttl_caches_no_negative_answer() -> None:
    cache = MetadataCache(300.0, negative_ttl=0.0, clock=FakeClock())
    cache.put("gone", ABSENT)
    assert cache.get("gone") is None
    assert len(cache) == 0


@pytest.mark.parametrize(
    ("ttl", "negative_ttl", "max_entries"), [(-1.0, None, 10), (1.0, None, 0), (1.0, -1.0, 10)]
)
def test_bad_arguments_are_refused(
    ttl: float, negative_ttl: float | None, max_entries: int
) -> None:
    with pytest.raises(ValueError, match="must be"):
        MetadataCache(ttl, negative_ttl=negative_ttl, max_entries=max_entries)
