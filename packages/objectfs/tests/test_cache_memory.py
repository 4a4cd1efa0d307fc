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


def test_views_of_one_buffer_are_charged_the_buffer_once_until_the_last_goes() -> None:
    buffer = bytes(range(40))
    view = memoryview(buffer)
    cache = MemoryBlockCache(100)
    for index in range(4):
        cache.put(("a", "e", index), view[10 * index : 10 * index + 10])
    assert cache.size == 40
    cache.put(("b", "e", 0), b"x" * 5)
    assert cache.size == 45
    cache.put(("a", "e", 0), b"y" * 10)  # replaced by bytes: three views still hold the buffer
    assert cache.size == 55
    cache.discard("a")
    assert cache.size == 5
    assert cache.get(("a", "e", 3)) is None


def test_a_view_keeps_its_buffer_charged_so_eviction_takes_its_siblings_too() -> None:
    view = memoryview(bytes(40))
    cache = MemoryBlockCache(50)
    for index in range(4):
        cache.put(("a", "e", index), view[10 * index : 10 * index + 10])
    cache.get(("a", "e", 0))  # the most recent view; the others are older
    cache.put(("b", "e", 0), b"x" * 20)  # 60 > 50: evicting views frees nothing until all go
    assert [("a", "e", i) in cache for i in range(4)] == [False] * 4
    assert cache.get(("b", "e", 0)) == b"x" * 20
    assert cache.size == 20


def test_a_view_into_a_buffer_larger_than_the_cache_is_kept_as_a_copy() -> None:
    buffer = bytes(range(40))
    cache = MemoryBlockCache(16)
    cache.put(("a", "e", 0), memoryview(buffer)[8:18])
    kept = cache.get(("a", "e", 0))
    assert type(kept) is bytes
    assert kept == buffer[8:18]
    assert cache.size == 10


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


_BUFFERS = [bytes([n]) * size for n, size in enumerate((12, 30, 64))]
_view_ops = st.lists(
    st.one_of(
        # put bytes of a length, or a view of [start, start + length) of one of _BUFFERS
        st.tuples(st.just("put"), _keys, st.integers(0, 40), st.none(), st.just(0)),
        st.tuples(st.just("put"), _keys, st.integers(0, 12), st.integers(0, 2), st.integers(0, 12)),
        st.tuples(st.just("get"), _keys, st.just(0), st.none(), st.just(0)),
        st.tuples(st.just("discard"), _keys, st.just(0), st.none(), st.just(0)),
    ),
    max_size=60,
)


@given(capacity=st.integers(0, 100), ops=_view_ops)
def test_with_views_matches_an_lru_list_charging_shared_buffers_once(
    capacity: int, ops: list[tuple[str, BlockKey, int, int | None, int]]
) -> None:
    cache = MemoryBlockCache(capacity)
    model: list[tuple[BlockKey, bytes, int | None]] = []  # least recent first; buffer number

    def charged() -> int:
        own = sum(len(v) for _, v, b in model if b is None)
        return own + sum(len(_BUFFERS[b]) for b in {b for _, _, b in model if b is not None})

    for op, key, length, buffer, start in ops:
        if op == "put":
            model = [m for m in model if m[0] != key]
            if buffer is None:
                data: bytes | memoryview = bytes([key[2]]) * length
                value, shared = bytes(data), None
            else:
                data = memoryview(_BUFFERS[buffer])[start : start + length]
                value, shared = bytes(data), buffer
                if len(_BUFFERS[buffer]) > capacity:
                    shared = None  # kept as a copy
            if len(value) <= capacity:
                model.append((key, value, shared))
                while charged() > capacity:
                    model.pop(0)
            cache.put(key, data)
        elif op == "get":
            found = [m for m in model if m[0] == key]
            if found:
                model = [m for m in model if m[0] != key] + found
            got = cache.get(key)
            assert (None if got is None else bytes(got)) == (found[0][1] if found else None)
        else:
            model = [m for m in model if m[0][0] != key[0]]
            cache.discard(key[0])
        assert cache.size == charged() <= capacity
        assert len(cache) == len(model)
