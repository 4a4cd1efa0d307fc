"""SequentialDetector: the read-ahead window, by hand-computed sequences."""

from __future__ import annotations

import pytest

from objectfs.readahead import SequentialDetector

KiB = 1024
BLOCK = 64 * KiB


def test_window_opens_after_two_sequential_reads_and_doubles_to_the_cap() -> None:
    detector = SequentialDetector(block_size=BLOCK, max_window=16 * BLOCK)
    read = 128 * KiB
    got = [detector.observe(i * read, read) for i in range(8)]
    # read 0: first; read 1: 1st sequential; read 2: 2nd sequential -> 2 blocks, then x2 each.
    assert got == [0, 0, 2 * BLOCK, 4 * BLOCK, 8 * BLOCK, 16 * BLOCK, 16 * BLOCK, 16 * BLOCK]
    assert detector.window == 16 * BLOCK


def test_a_seek_resets_the_window() -> None:
    detector = SequentialDetector(block_size=BLOCK, max_window=64 * BLOCK)
    assert [detector.observe(o, 100) for o in (0, 100, 200, 300)] == [0, 0, 2 * BLOCK, 4 * BLOCK]
    assert detector.observe(10_000, 100) == 0  # seek forward
    assert detector.window == 0
    assert detector.observe(10_100, 100) == 0  # one sequential read is not yet a run
    assert detector.observe(10_200, 100) == 2 * BLOCK
    assert detector.observe(0, 100) == 0  # seek back
    assert detector.observe(50, 100) == 0  # overlapping re-read is not sequential


def test_cap_smaller_than_two_blocks_and_zero() -> None:
    small = SequentialDetector(block_size=BLOCK, max_window=BLOCK + 1)
    assert [small.observe(o * 10, 10) for o in range(4)] == [0, 0, BLOCK + 1, BLOCK + 1]
    off = SequentialDetector(block_size=BLOCK, max_window=0)
    assert [off.observe(o * 10, 10) for o in range(4)] == [0, 0, 0, 0]


def test_random_reads_never_read_ahead() -> None:
    detector = SequentialDetector(block_size=BLOCK, max_window=64 * BLOCK)
    offsets = [5_000, 900_000, 12, 77_777, 400_000, 3, 1_000_000]
    assert [detector.observe(o, 4096) for o in offsets] == [0] * len(offsets)


@pytest.mark.parametrize(("block_size", "max_window"), [(0, 10), (10, -1)])
def test_bad_arguments_are_refused(block_size: int, max_window: int) -> None:
    with pytest.raises(ValueError, match="must be"):
        SequentialDetector(block_size=block_size, max_window=max_window)
