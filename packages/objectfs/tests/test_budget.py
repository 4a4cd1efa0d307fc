"""The memory budget: how --memory-limit is split, checked against hand-computed figures."""

from __future__ import annotations

import pytest

from objectfs.blocks import MAX_READAHEAD_FETCHES
from objectfs.budget import BASELINE_BYTES, MAX_METADATA_ENTRIES, plan_memory
from objectfs.config import ConfigError, MountOptions

MiB = 1024 * 1024
GiB = 1024 * MiB


def test_default_split_of_one_gib() -> None:
    budget = plan_memory(MountOptions())
    assert MAX_READAHEAD_FETCHES == 48  # the figures below assume it
    assert budget.limit == 1 * GiB
    assert budget.readahead == 48 * MiB  # 48 blocks of 1 MiB
    assert budget.transfers == 128 * MiB  # an eighth
    assert budget.metadata == 128 * MiB  # an eighth ...
    assert budget.metadata_entries == 131_072  # ... at 1 KiB an entry
    assert budget.l1 == 256 * MiB  # the default, it fits
    used = budget.baseline + budget.readahead + budget.transfers + budget.metadata
    used += budget.l1 + budget.fragments
    assert used <= budget.limit
    assert budget.describe().startswith("memory limit 1.0 GiB: 96.0 MiB baseline + 48.0 MiB")


def test_default_l1_shrinks_to_what_is_left() -> None:
    budget = plan_memory(MountOptions(memory_limit=384 * MiB))
    # 384 - 96 baseline - 48 read-ahead - 48 transfers - 48 metadata = 144 MiB for L1 and
    # its fragment cache (an eighth of L1): L1 = 144 MiB x 8/9 = 128 MiB.
    assert (budget.transfers, budget.metadata) == (48 * MiB, 48 * MiB)
    assert budget.l1 == 128 * MiB
    assert budget.l1 + budget.fragments == 144 * MiB


def test_explicit_l1_that_does_not_fit_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"at most 128\.0 MiB is left"):
        plan_memory(MountOptions(memory_limit=384 * MiB, memory_cache_size=129 * MiB))
    fits = plan_memory(MountOptions(memory_limit=384 * MiB, memory_cache_size=128 * MiB))
    assert fits.l1 == 128 * MiB


def test_read_ahead_larger_than_the_limit_is_refused() -> None:
    with pytest.raises(ConfigError) as info:
        plan_memory(MountOptions(block_size=64 * MiB))
    message = str(info.value)
    assert "\n" not in message
    assert "48 x 64.0 MiB = 3.0 GiB for read-ahead" in message
    assert "memory_limit 1.0 GiB" in message


def test_limit_below_the_fixed_parts_is_refused() -> None:
    # 160 MiB: 96 + 48 + 20 + 20 = 184 MiB > 160 MiB before any L1.
    with pytest.raises(ConfigError, match=r"160\.0 MiB is too small.*= 184\.0 MiB"):
        plan_memory(MountOptions(memory_limit=160 * MiB))
    # 200 MiB: 96 + 48 + 25 + 25 = 194 MiB: 6 MiB left for L1 and its fragments (8/9 for L1).
    assert plan_memory(MountOptions(memory_limit=200 * MiB)).l1 == 6 * MiB - 6 * MiB // 9


def test_metadata_share_is_capped_in_entries() -> None:
    budget = plan_memory(MountOptions(memory_limit=8 * GiB))
    assert budget.metadata_entries == MAX_METADATA_ENTRIES
    assert budget.metadata == MAX_METADATA_ENTRIES * 1024
    assert budget.baseline == BASELINE_BYTES
