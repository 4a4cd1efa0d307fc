"""MemoryBlockCache: an LRU bounded by bytes, with discard by object."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from objectfs.cache import BlockKey, MemoryBlockCache


def test_least_recently_used_block_is_evicted_first() -> None:
    cache = MemoryBlockCache(10)
    cache.put(("a", "e", 0), b"aaaa")
    cache.put(("b", "e", 0), b"bbbb")
    assert cache.get(("a", "e", 0)) == b"aaaa"  # a is now the most recent
    cache.put(("c", "e", 0), b"cccc")  # 12 bytes > 10: b goes
    assert cache.get(("b", "e", 0)) is None
    assert cache.get(("a", "e", 0)) == b"aaaa"
    assert cache.get(("c", "e", 0)) == b"cccc"
    assert cache.size == 8
    assert len(cache) == 2


def test_membership_does_not_refresh_a_block() -> None:
    cache = MemoryBlockCache(8)
    cache.put(("a", "e", 0), b"aaaa")
    cache.put(("b", "e", 0), b"bbbb")
    assert ("a", "e", 0) in cache
    cache.put(("c", "e", 0), b"cccc")
    assert ("a", "e", 0) not in cache


def test_block_larger_than_capacity_is_not_cached_and_evicts_nothing() -> None:
    cache = MemoryBlockCache(4)
    cache.put(("a", "e", 0), b"aaaa")
    cache.put(("b", "e", 0), b"bbbbb")
    assert cache.get(("b", "e", 0)) is None
    assert cache.get(("a", "e", 0)) == b"aaaa"
    assert cache.size == 4


def test_replacing_a_block_counts_its_new_size_only() -> None:
    cache = MemoryBlockCache(100)
    cache.put(("a", "e", 0), b"x" * 30)
    cache.put(("a", "e", 0), b"y" * 10)
    assert cache.size == 10
    assert cache.get(("a", "e", 0)) == b"y" * 10


def test_discard_drops_every_block_of_the_object_whatever_its_etag() -> None:
    cache = MemoryBlockCache(100)
    cache.put(("a", "old", 0), b"1")
    cache.put(("a", "new", 0), b"22")
    cache.put(("a", "new", 1), b"333")
    cache.put(("ab", "new", 0), b"4444")
    cache.discard("a")
    assert cache.get(("a", "old", 0)) is None
    assert cache.get(("a", "new", 1)) is None
    assert cache.get(("ab", "new", 0)) == b"4444"
    assert cache.size == 4
    cache.discard("not-there")
    assert cache.size == 4


def test_zero_capacity_caches_nothing() -> None:
    cache = MemoryBlockCache(0)
    cache.put(("a", "e", 0), b"a")
    assert cache.get(("a", "e", 0)) is None
    assert cache.size == 0


_keys = st.tuples(st.sampled_from("abc"), st.sampled_from(["e1", "e2"]), st.integers(0, 3))
_ops = st.lists(
    st.one_of(
        st.tuples(st.just("put"), _keys, st.integers(0, 40)),
        st.tuples(st.just("get"), _keys, st.just(0)),
        st.tuples(st.just("discard"), _keys, st.just(0)),
    ),
    max_size=60,
)


@given(capacity=st.integers(0, 100), ops=_ops)
def test_matches_a_plain_lru_list_and_never_exceeds_capacity(
    capacity: int, ops: list[tuple[str, BlockKey, int]]
) -> None:
    cache = MemoryBlockCache(capacity)
    model: list[tuple[BlockKey, bytes]] = []  # least recent first
    for op, key, length in ops:
        if op == "put":
            data = bytes([key[2]]) * length
            model = [(k, v) for k, v in model if k != key]
            if length <= capacity:
                model.append((key, data))
                while sum(len(v) for _, v in model) > capacity:
                    model.pop(0)
            cache.put(key, data)
        elif op == "get":
            found = [v for k, v in model if k == key]
            if found:
                model = [(k, v) for k, v in model if k != key] + [(key, found[0])]
            assert cache.get(key) == (found[0] if found else None)
        else:
            model = [(k, v) for k, v in model if k[0] != key[0]]
            cache.discard(key[0])
        assert cache.size == sum(len(v) for _, v in model) <= capacity
        assert len(cache) == len(model)
