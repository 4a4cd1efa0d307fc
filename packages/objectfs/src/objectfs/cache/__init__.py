"""objectfs's caches: L1 blocks in memory, L2 blocks on disk, and file metadata.

A block is addressed by :data:`BlockKey` ``(object key, etag, block index)``,
so a cached block can never be served for a newer version of its object.
"""

from objectfs.cache.disk import DiskBlockCache as DiskBlockCache
from objectfs.cache.memory import Block as Block
from objectfs.cache.memory import BlockKey as BlockKey
from objectfs.cache.memory import MemoryBlockCache as MemoryBlockCache
from objectfs.cache.metadata import ABSENT as ABSENT
from objectfs.cache.metadata import Absent as Absent
from objectfs.cache.metadata import MetadataCache as MetadataCache

__all__ = [
    "ABSENT",
    "Absent",
    "Block",
    "BlockKey",
    "DiskBlockCache",
    "MemoryBlockCache",
    "MetadataCache",
]
