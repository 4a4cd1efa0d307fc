"""Assemble one mount's filesystem from a store and its options: caches, reader, write-back."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Final

from objectfs.blocks import BlockReader
from objectfs.cache import DiskBlockCache, MemoryBlockCache, MetadataCache
from objectfs.config import MountOptions
from objectfs.fs._namespace import Namespace, Owner
from objectfs.fs._ops import ObjectFs
from objectfs.fs._timed import TimedStore
from objectfs.stats import FsCounters
from objectfs.writeback import WriteBack
from s3opt.protocols import ObjectStore

__all__ = ["build_filesystem"]

_logger = logging.getLogger(__name__)

METADATA_ENTRY_BYTES: Final = 1024
"""A generous estimate of one metadata cache entry's memory, to size it from the limit."""
MAX_METADATA_ENTRIES: Final = 200_000


def build_filesystem(
    store: ObjectStore, options: MountOptions, *, cache_dir: Path, counters: FsCounters
) -> ObjectFs:
    """An :class:`ObjectFs` over ``store`` with its caches under ``cache_dir`` (this mount's own).

    Memory: the L1 cache gets at most half of ``options.memory_limit`` and the
    metadata cache a quarter (at ~1 KiB an entry); read-ahead is bounded by
    the block reader.
    """
    timed = TimedStore(store, timeout=options.request_timeout, counters=counters)
    memory_size = min(options.memory_cache_size, options.memory_limit // 2)
    if memory_size < options.memory_cache_size:
        _logger.warning("memory cache limited to %d bytes: half of the memory limit", memory_size)
    memory = MemoryBlockCache(memory_size)
    disk = DiskBlockCache(cache_dir / "blocks", options.cache_size) if options.cache_size else None
    reader = BlockReader(
        timed, block_size=options.block_size, memory=memory, disk=disk, counters=counters
    )
    max_entries = max(
        1000, min(MAX_METADATA_ENTRIES, options.memory_limit // 4 // METADATA_ENTRY_BYTES)
    )
    metadata = MetadataCache(options.metadata_ttl, max_entries=max_entries)
    writeback = WriteBack(timed, cache_dir / "staging")
    owner = Owner(
        uid=os.getuid() if options.uid is None else options.uid,
        gid=os.getgid() if options.gid is None else options.gid,
        umask=options.umask,
        force_uid=options.uid is not None,
        force_gid=options.gid is not None,
    )
    namespace = Namespace(timed, metadata, writeback, owner)
    return ObjectFs(
        timed, options, namespace=namespace, writeback=writeback, reader=reader, counters=counters
    )
