"""The L1 block cache: blocks of objects in memory, least recently used evicted first.

Bounded by bytes, not by entries: blocks at the end of an object are short,
and the mount's memory limit is in bytes. Every operation is O(1) except
:meth:`MemoryBlockCache.discard`, which is O(blocks of that object): a
per-object index of keys saves scanning the whole cache after a write.
"""

from __future__ import annotations

from collections import OrderedDict

__all__ = ["BlockKey", "MemoryBlockCache"]

BlockKey = tuple[str, str, int]
"""``(object key, etag, block index)``: a block is valid only for the object version (ETag)."""


class MemoryBlockCache:
    """An LRU cache of blocks holding at most ``capacity`` bytes.

    A block larger than ``capacity`` is not cached at all (it would evict
    everything and then itself). ``capacity=0`` caches nothing.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 0:
            raise ValueError(f"capacity must be >= 0 bytes, got {capacity}")
        self.capacity = capacity
        self.size = 0
        self._blocks: OrderedDict[BlockKey, bytes] = OrderedDict()
        self._by_object: dict[str, set[BlockKey]] = {}

    def __len__(self) -> int:
        return len(self._blocks)

    def __contains__(self, key: object) -> bool:
        """Whether ``key`` is cached, without making it the most recently used."""
        return key in self._blocks

    def get(self, key: BlockKey) -> bytes | None:
        """The block, now the most recently used; ``None`` when not cached."""
        data = self._blocks.get(key)
        if data is not None:
            self._blocks.move_to_end(key)
        return data

    def put(self, key: BlockKey, data: bytes) -> None:
        """Cache ``data`` under ``key`` (replacing any older copy), evicting the least recent."""
        self._remove(key)
        if len(data) > self.capacity:
            return
        self._blocks[key] = data
        self._by_object.setdefault(key[0], set()).add(key)
        self.size += len(data)
        while self.size > self.capacity:
            oldest = next(iter(self._blocks))
            self._remove(oldest)

    def discard(self, object_key: str) -> None:
        """Drop every block of ``object_key``, whatever its ETag."""
        for key in self._by_object.pop(object_key, set()):
            data = self._blocks.pop(key)
            self.size -= len(data)

    def _remove(self, key: BlockKey) -> None:
        data = self._blocks.pop(key, None)
        if data is None:
            return
        self.size -= len(data)
        keys = self._by_object[key[0]]
        keys.discard(key)
        if not keys:
            del self._by_object[key[0]]
