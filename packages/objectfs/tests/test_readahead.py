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
    # The window is 4 blocks around the frontier (400): 400 + 4 * BLOCK is past it.
    far = 400 + 4 * BLOCK
    assert detector.observe(far, 100) == 0  # seek forward
    assert (detector.window, detector.sequential) == (0, False)
    assert detector.observe(far + 100, 100) == 0  # one sequential read is not yet a run
    assert detector.sequential is True
    assert detector.observe(far + 200, 100) == 2 * BLOCK
    assert detector.observe(0, 100) == 0  # seek back, past the window
    assert detector.observe(50, 100) == 0  # overlapping re-read with no window: a seek
    assert detector.sequential is False


def test_cap_smaller_than_two_blocks_and_zero() -> None:
    small = SequentialDetector(block_size=BLOCK, max_window=BLOCK + 1)
    assert [small.observe(o * 10, 10) for o in range(4)] == [0, 0, BLOCK + 1, BLOCK + 1]
    off = SequentialDetector(block_size=BLOCK, max_window=0)
    assert [off.observe(o * 10, 10) for o in range(4)] == [0, 0, 0, 0]


def test_random_reads_never_read_ahead() -> None:
    detector = SequentialDetector(block_size=BLOCK, max_window=64 * BLOCK)
    offsets = [5_000, 900_000, 12, 77_777, 400_000, 3, 1_000_000]
    assert [detector.observe(o, 4096) for o in offsets] == [0] * len(offsets)


def test_a_late_read_inside_the_window_neither_grows_nor_resets() -> None:
    detector = SequentialDetector(block_size=BLOCK, max_window=64 * BLOCK)
    read = 64 * KiB
    # Reads 0..3 in order: the window is open at 2 blocks after read 2, 4 blocks after read 3.
    assert [detector.observe(i * read, read) for i in range(4)] == [0, 0, 128 * KiB, 256 * KiB]
    # Frontier 256 KiB, window 256 KiB, so [0, 512 KiB) is inside: reads 6 and 5 arrive
    # before read 4 (the kernel had all three in flight).
    assert detector.observe(6 * read, read) == 256 * KiB  # 384 KiB: ahead, inside
    assert detector.observe(5 * read, read) == 256 * KiB  # 320 KiB: behind the new frontier
    assert detector.observe(4 * read, read) == 256 * KiB  # 256 KiB: late, inside
    assert detector.sequential
    # The frontier is 448 KiB (the end of read 6): read 7 starts there and doubles the window.
    assert detector.observe(7 * read, read) == 512 * KiB
    # Frontier 512 KiB, window 512 KiB: 2 MiB is outside [0, 1 MiB): a seek.
    assert detector.observe(2048 * KiB, read) == 0
    assert detector.window == 0
    assert not detector.sequential


def test_a_first_read_at_zero_is_sequential_and_elsewhere_a_seek() -> None:
    at_start = SequentialDetector(block_size=BLOCK, max_window=BLOCK)
    at_start.observe(0, 4096)
    assert at_start.sequential
    mid_file = SequentialDetector(block_size=BLOCK, max_window=BLOCK)
    mid_file.observe(8192, 4096)
    assert not mid_file.sequential


@pytest.mark.parametrize(("block_size", "max_window"), [(0, 10), (10, -1)])
def test_bad_arguments_are_refused(block_size: int, max_window: int) -> None:
    with pytest.raises(ValueError, match="must be"):
        SequentialDetector(block_size=block_size, max_window=max_window)
