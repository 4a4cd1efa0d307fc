"""Assemble one mount's filesystem from a store and its options: caches, reader, write-back."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from objectfs.blocks import BlockReader
from objectfs.budget import MemoryBudget
from objectfs.cache import DiskBlockCache, MemoryBlockCache, MetadataCache
from objectfs.config import MountOptions
from objectfs.fs._namespace import Namespace, Owner
from objectfs.fs._ops import ObjectFs
from objectfs.fs._timed import TimedStore
from objectfs.stats import FsCounters
from objectfs.writeback import WriteBack
from s3opt.protocols import ObjectStore

__all__ = ["build_filesystem"]


def build_filesystem(
    store: ObjectStore,
    options: MountOptions,
    *,
    cache_dir: Path,
    counters: FsCounters,
    budget: MemoryBudget,
    after_init: Callable[[], None] | None = None,
) -> ObjectFs:
    """An :class:`ObjectFs` over ``store`` with its caches under ``cache_dir`` (this mount's own).

    Memory: the L1 cache and the metadata cache get their shares of ``budget``
    (:func:`objectfs.budget.plan_memory`); the block reader bounds read-ahead.
    ``after_init`` runs once the kernel has the answer to FUSE INIT.
    """
    timed = TimedStore(store, timeout=options.request_timeout, counters=counters)
    memory = MemoryBlockCache(budget.l1)
    disk = DiskBlockCache(cache_dir / "blocks", options.cache_size) if options.cache_size else None
    reader = BlockReader(
        timed, block_size=options.block_size, memory=memory, disk=disk, counters=counters
    )
    metadata = MetadataCache(
        options.metadata_ttl,
        negative_ttl=options.absent_ttl,
        max_entries=budget.metadata_entries,
    )
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
        timed,
        options,
        namespace=namespace,
        writeback=writeback,
        reader=reader,
        counters=counters,
        after_init=after_init,
    )
