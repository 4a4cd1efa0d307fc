"""s3opt.transfer.parts.range_size and split_tail: downloads split into whole waves of equal
ranges, the last window's worth of them in halves."""

from __future__ import annotations

import pytest

from s3opt.transfer.parts import MIN_RANGE_SIZE, plan_ranges, range_size, split_tail

MiB = 2**20


@pytest.mark.parametrize(
    ("total", "chunk", "streams", "expected", "ranges"),
    [
        # 256 MiB over 20 streams of at most 8 MiB: 32 ranges would leave a second wave
        # of 12; two full waves of 20 are 40 ranges of 6.4 MiB (rounded up to a byte).
        (256 * MiB, 8 * MiB, 20, 6_710_887, 40),
        # Exactly two waves of 16 chunks: nothing to balance.
        (256 * MiB, 8 * MiB, 16, 8 * MiB, 32),
        # A small object is spread over every stream: 20 ranges of 1.6 MiB, one wave.
        (32 * MiB, 8 * MiB, 20, 1_677_722, 20),
        # ... but ranges stay at least 1 MiB: 4 MiB in 4 ranges, not 20 of 205 KiB.
        (4 * MiB, 8 * MiB, 20, MiB, 4),
        (100, 8 * MiB, 20, MiB, 1),
        # 1 GiB: seven waves of 20 (140 ranges of 7.3 MiB) instead of 128 of 8 MiB.
        (1024 * MiB, 8 * MiB, 20, 7_669_585, 140),
        # A chunk below the 1 MiB floor is kept.
        (10 * MiB, MiB // 2, 4, MiB // 2, 20),
    ],
)
def test_range_size_fills_whole_waves(
    total: int, chunk: int, streams: int, expected: int, ranges: int
) -> None:
    size = range_size(total, chunk, streams)
    assert size == expected
    plan = plan_ranges(total, size)
    assert len(plan) == ranges
    assert sum(length for _, length in plan) == total


def test_range_size_of_an_empty_object_is_the_chunk() -> None:
    assert range_size(0, 8 * MiB, 20) == 8 * MiB


@pytest.mark.parametrize(("chunk", "streams"), [(0, 4), (MiB, 0), (-1, 4)])
def test_range_size_refuses_nonsense(chunk: int, streams: int) -> None:
    with pytest.raises(ValueError, match="must be > 0"):
        range_size(MiB, chunk, streams)


def test_split_tail_halves_the_last_window_of_ranges() -> None:
    # 10 ranges of 6 MiB, a window of 4: the first 6 whole, then 8 halves of 3 MiB,
    # in order and covering the same bytes.
    ranges = plan_ranges(60 * MiB, 6 * MiB)
    split = split_tail(ranges, 4)
    assert split[:6] == ranges[:6]
    assert split[6:] == [(36 * MiB + i * 3 * MiB, 3 * MiB) for i in range(8)]


def test_split_tail_keeps_an_odd_byte_in_the_second_half() -> None:
    ranges = [(0, 5 * MiB), (5 * MiB, 5 * MiB), (10 * MiB, 5 * MiB + 1)]
    assert split_tail(ranges, 1) == [
        *ranges[:2],
        (10 * MiB, 5 * MiB // 2),
        (10 * MiB + 5 * MiB // 2, 5 * MiB // 2 + 1),
    ]


@pytest.mark.parametrize("count", [0, 5, 6])
def test_split_tail_leaves_downloads_of_two_windows_or_fewer_whole(count: int) -> None:
    # 12 ranges: a window of 6 or more is at most two waves, which start and end together.
    ranges = plan_ranges(12 * 4 * MiB, 4 * MiB)
    expected = (
        ranges
        if count != 5
        else [*ranges[:7], *[(o + h, 2 * MiB) for o, _ in ranges[7:] for h in (0, 2 * MiB)]]
    )
    assert split_tail(ranges, count) == expected


def test_split_tail_never_cuts_below_the_minimum_range() -> None:
    small = 2 * MIN_RANGE_SIZE - 1
    ranges = [(i * small, small) for i in range(9)]
    assert split_tail(ranges, 3) == ranges
