"""The L1 block cache: blocks of objects in memory, least recently used evicted first.

Bounded by bytes, not by entries: blocks at the end of an object are short,
and the mount's memory limit is in bytes. Every operation is O(1) except
:meth:`MemoryBlockCache.discard`, which is O(blocks of that object): a
per-object index of keys saves scanning the whole cache after a write.

A block may be a :class:`memoryview` slice of a larger buffer: one GET of
several blocks is cut into views rather than copied into new ``bytes`` (those
copies cost the daemon about 0.45 CPU s/GiB read). A view keeps its whole
buffer alive, so the cache charges the buffer, once, while any view of it is
cached, never just the view: the byte bound holds whatever is evicted.
"""

from __future__ import annotations

from collections import OrderedDict

__all__ = ["Block", "BlockKey", "MemoryBlockCache"]

BlockKey = tuple[str, str, int]
"""``(object key, etag, block index)``: a block is valid only for the object version (ETag)."""
Block = bytes | memoryview
"""A block's bytes: its own ``bytes``, or a read-only view into a buffer shared with other
blocks (see the module docstring)."""


class MemoryBlockCache:
    """An LRU cache of blocks holding at most ``capacity`` bytes.

    A block larger than ``capacity`` is not cached at all (it would evict
    everything and then itself); a view whose buffer is larger is cached as a
    copy of its bytes. ``capacity=0`` caches nothing. :attr:`size` counts each
    ``bytes`` block, and each buffer that cached views share, once.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 0:
            raise ValueError(f"capacity must be >= 0 bytes, got {capacity}")
        self.capacity = capacity
        self.size = 0
        self._blocks: OrderedDict[BlockKey, Block] = OrderedDict()
        self._by_object: dict[str, set[BlockKey]] = {}
        self._buffers: dict[int, int] = {}
        """Cached views per shared buffer, by the buffer's ``id`` (stable: the views keep it
        alive while it is counted here)."""

    def __len__(self) -> int:
        return len(self._blocks)

    def __contains__(self, key: object) -> bool:
        """Whether ``key`` is cached, without making it the most recently used."""
        return key in self._blocks

    def get(self, key: BlockKey) -> Block | None:
        """The block, now the most recently used; ``None`` when not cached."""
        data = self._blocks.get(key)
        if data is not None:
            self._blocks.move_to_end(key)
        return data

    def put(self, key: BlockKey, data: Block) -> None:
        """Cache ``data`` under ``key`` (replacing any older copy), evicting the least recent."""
        self._remove(key)
        if len(data) > self.capacity:
            return
        if isinstance(data, memoryview) and _buffer_size(data) > self.capacity:
            data = bytes(data)
        self._blocks[key] = data
        self._by_object.setdefault(key[0], set()).add(key)
        self._charge(data)
        while self.size > self.capacity:
            oldest = next(iter(self._blocks))
            self._remove(oldest)

    def discard(self, object_key: str) -> None:
        """Drop every block of ``object_key``, whatever its ETag."""
        for key in self._by_object.pop(object_key, set()):
            self._release(self._blocks.pop(key))

    def _remove(self, key: BlockKey) -> None:
        data = self._blocks.pop(key, None)
        if data is None:
            return
        self._release(data)
        keys = self._by_object[key[0]]
        keys.discard(key)
        if not keys:
            del self._by_object[key[0]]

    def _charge(self, data: Block) -> None:
        """Count ``data`` in :attr:`size`: a view's buffer only when no cached view shares it."""
        if not isinstance(data, memoryview):
            self.size += len(data)
            return
        buffer = id(data.obj)
        views = self._buffers.get(buffer, 0)
        if not views:
            self.size += _buffer_size(data)
        self._buffers[buffer] = views + 1

    def _release(self, data: Block) -> None:
        """Uncount ``data``, just removed: a view's buffer once its last cached view is gone."""
        if not isinstance(data, memoryview):
            self.size -= len(data)
            return
        buffer = id(data.obj)
        views = self._buffers.pop(buffer) - 1
        if views:
            self._buffers[buffer] = views
        else:
            self.size -= _buffer_size(data)


def _buffer_size(view: memoryview) -> int:
    """Bytes of the whole buffer ``view`` looks into."""
    return memoryview(view.obj).nbytes
