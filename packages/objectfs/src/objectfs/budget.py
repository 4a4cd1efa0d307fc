"""One memory budget for the daemon: how ``--memory-limit`` is split, in one place.

The daemon's memory is the sum of parts that are each bounded on their own;
:func:`plan_memory` sizes them from ``options.memory_limit`` so the sum fits::

    limit = baseline + read-ahead + transfers + metadata + L1

- ``baseline`` (:data:`BASELINE_BYTES`): the interpreter, the libraries
  (aiobotocore, pyfuse3, OpenTelemetry) and the connection pool, measured on
  an idle mount;
- ``read-ahead``: :data:`objectfs.blocks.MAX_READAHEAD_FETCHES` blocks of
  ``block_size`` being fetched at once, for all files together (the block
  reader's hard bound);
- ``transfers``: an eighth of the limit reserved for write-back, whose
  staging files live on disk but whose uploads hold s3opt's in-flight window
  plus two parts in memory (s3opt bounds each transfer so; this share is a
  reservation, not a cap objectfs enforces);
- ``metadata``: an eighth of the limit for the attribute and listing cache,
  at :data:`METADATA_ENTRY_BYTES` an entry (a listing costs one entry per
  name), at most :data:`MAX_METADATA_ENTRIES` entries;
- ``L1``: what is left, up to ``memory_cache_size``, for whole blocks,
  plus an eighth of that (:data:`objectfs.blocks.FRAGMENT_CACHE_SHARE`) for
  the small fragments random reads fetch.

A combination that cannot fit is a :class:`~objectfs.config.ConfigError` with
one line naming the figures. An ``L1`` larger than what is left is refused
when ``memory_cache_size`` was given explicitly, and shrunk (with an info
log) when it is the default.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Final

from objectfs.blocks import FRAGMENT_CACHE_SHARE, MAX_READAHEAD_FETCHES
from objectfs.config import ConfigError, MountOptions, format_size

__all__ = [
    "BASELINE_BYTES",
    "MAX_METADATA_ENTRIES",
    "METADATA_ENTRY_BYTES",
    "MemoryBudget",
    "plan_memory",
]

_logger = logging.getLogger(__name__)

BASELINE_BYTES: Final = 96 * 1024 * 1024
"""Resident memory of an idle mount before any cache fills (measured: 82 MiB, Prometheus on)."""
METADATA_ENTRY_BYTES: Final = 1024
"""A generous estimate of one metadata cache entry's memory (an ObjectInfo, or one name)."""
MAX_METADATA_ENTRIES: Final = 200_000
"""The metadata cache's ceiling however large the limit (attributes expire in seconds anyway)."""
_SHARE: Final = 8
"""Transfers and metadata each get ``limit // _SHARE``."""


@dataclass(frozen=True, slots=True)
class MemoryBudget:
    """The parts of one mount's memory limit, in bytes; they sum to at most ``limit``."""

    limit: int
    baseline: int
    readahead: int
    transfers: int
    metadata: int
    l1: int
    """The block cache's bound; its fragment cache adds :attr:`fragments`."""

    @property
    def fragments(self) -> int:
        """The fragment cache's bound (the block reader sizes it from L1's)."""
        return self.l1 // FRAGMENT_CACHE_SHARE

    @property
    def metadata_entries(self) -> int:
        """The metadata cache's ``max_entries`` for its share."""
        return min(MAX_METADATA_ENTRIES, self.metadata // METADATA_ENTRY_BYTES)

    def describe(self) -> str:
        """One line, e.g. ``1.0 GiB = 96.0 MiB baseline + 48.0 MiB read-ahead + ...``."""
        parts = (
            ("baseline", self.baseline),
            ("read-ahead", self.readahead),
            ("transfers", self.transfers),
            ("metadata", self.metadata),
            ("L1", self.l1),
            ("fragments", self.fragments),
        )
        shares = " + ".join(f"{format_size(size)} {name}" for name, size in parts)
        return f"memory limit {format_size(self.limit)}: {shares}"


def plan_memory(options: MountOptions) -> MemoryBudget:
    """Split ``options.memory_limit`` (see the module docstring); ConfigError if it cannot fit."""
    limit = options.memory_limit
    readahead = MAX_READAHEAD_FETCHES * options.block_size
    if readahead > limit:
        raise ConfigError(
            f"block_size {format_size(options.block_size)} needs "
            f"{MAX_READAHEAD_FETCHES} x {format_size(options.block_size)} = "
            f"{format_size(readahead)} for read-ahead, more than memory_limit "
            f"{format_size(limit)}: lower block_size or raise memory_limit"
        )
    transfers = limit // _SHARE
    metadata = min(limit // _SHARE, MAX_METADATA_ENTRIES * METADATA_ENTRY_BYTES)
    fixed = BASELINE_BYTES + readahead + transfers + metadata
    if fixed > limit:
        raise ConfigError(
            f"memory_limit {format_size(limit)} is too small: the daemon needs "
            f"{format_size(BASELINE_BYTES)} baseline + {format_size(readahead)} read-ahead + "
            f"{format_size(transfers)} transfers + {format_size(metadata)} metadata = "
            f"{format_size(fixed)} before any memory cache"
        )
    left = limit - fixed
    left -= left // (FRAGMENT_CACHE_SHARE + 1)  # so that l1 + l1 // FRAGMENT_CACHE_SHARE fits
    l1 = min(options.memory_cache_size, left)
    if l1 < options.memory_cache_size:
        if "memory_cache_size" in options.model_fields_set:
            raise ConfigError(
                f"memory_cache_size {format_size(options.memory_cache_size)} does not fit in "
                f"memory_limit {format_size(limit)}: at most {format_size(left)} is left for it "
                f"after {format_size(fixed)} baseline, read-ahead, transfers and metadata"
            )
        _logger.info("memory cache limited to %s by the memory limit", format_size(l1))
    return MemoryBudget(limit, BASELINE_BYTES, readahead, transfers, metadata, l1)
