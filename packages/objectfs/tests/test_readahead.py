"""SequentialDetector: the read-ahead window, by hand-computed sequences."""

from __future__ import annotations

import pytest

from objectfs.readahead import SequentialDetector

KiB = 1024
BLOCK = 64 * KiB


def test_window_opens_at_the_second_read_from_the_start_and_quadruples_to_the_cap() -> None:
    detector = SequentialDetector(block_size=BLOCK, max_window=64 * BLOCK)
    read = 128 * KiB
    got = [detector.observe(i * read, read) for i in range(5)]
    # read 0 (at offset 0) begins a run; read 1 continues it -> 4 blocks, then x4 each.
    assert got == [0, 4 * BLOCK, 16 * BLOCK, 64 * BLOCK, 64 * BLOCK]
    assert detector.window == 64 * BLOCK
    capped = SequentialDetector(block_size=BLOCK, max_window=40 * BLOCK)
    assert [capped.observe(i * read, read) for i in range(5)] == [
        0,
        4 * BLOCK,
        16 * BLOCK,
        40 * BLOCK,
        40 * BLOCK,
    ]


def test_a_seek_resets_the_window() -> None:
    detector = SequentialDetector(block_size=BLOCK, max_window=64 * BLOCK)
    assert [detector.observe(o, 100) for o in (0, 100, 200)] == [0, 4 * BLOCK, 16 * BLOCK]
    # The window is 16 blocks around the frontier (300): 300 + 16 * BLOCK is past it.
    far = 300 + 16 * BLOCK
    assert detector.observe(far, 100) == 0  # seek forward
    assert (detector.window, detector.sequential) == (0, False)
    assert detector.observe(far + 100, 100) == 0  # after a seek, one sequential read is no run
    assert detector.sequential is True
    assert detector.observe(far + 200, 100) == 4 * BLOCK
    assert detector.observe(0, 100) == 0  # seek back, past the window
    assert detector.observe(50, 100) == 0  # overlapping re-read with no window: a seek
    assert detector.sequential is False


def test_cap_smaller_than_the_first_window_and_zero() -> None:
    small = SequentialDetector(block_size=BLOCK, max_window=BLOCK + 1)
    assert [small.observe(o * 10, 10) for o in range(4)] == [0, BLOCK + 1, BLOCK + 1, BLOCK + 1]
    off = SequentialDetector(block_size=BLOCK, max_window=0)
    assert [off.observe(o * 10, 10) for o in range(4)] == [0, 0, 0, 0]


def test_random_reads_never_read_ahead() -> None:
    detector = SequentialDetector(block_size=BLOCK, max_window=64 * BLOCK)
    offsets = [5_000, 900_000, 12, 77_777, 400_000, 3, 1_000_000]
    assert [detector.observe(o, 4096) for o in offsets] == [0] * len(offsets)


def test_a_late_read_inside_the_window_neither_grows_nor_resets() -> None:
    detector = SequentialDetector(block_size=BLOCK, max_window=64 * BLOCK)
    read = 64 * KiB
    # Reads 0..2 in order: the window is 4 blocks after read 1, 16 blocks after read 2.
    assert [detector.observe(i * read, read) for i in range(3)] == [0, 256 * KiB, 1024 * KiB]
    # Frontier 192 KiB, window 1 MiB, so [0, 1216 KiB) is inside: reads 5 and 4 arrive
    # before read 3 (the kernel had all three in flight).
    assert detector.observe(5 * read, read) == 1024 * KiB  # 320 KiB: ahead, inside
    assert detector.observe(4 * read, read) == 1024 * KiB  # 256 KiB: behind the new frontier
    assert detector.observe(3 * read, read) == 1024 * KiB  # 192 KiB: late, inside
    assert detector.sequential
    # The frontier is 384 KiB (the end of read 5): read 6 starts there: x4, 64 blocks = 4 MiB.
    assert detector.observe(6 * read, read) == 4096 * KiB
    # Frontier 448 KiB, window 4 MiB: 8 MiB is outside [0, 4544 KiB): a seek.
    assert detector.observe(8192 * KiB, read) == 0
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
