"""each_bounded: every item read once, results in order, the limit held, failures stop the rest;
both: two awaits side by side, a failure stops the other."""

from __future__ import annotations

import asyncio

import pytest

from cargoship.concurrency import both, each_bounded


@pytest.mark.asyncio
async def test_results_come_in_item_order_with_at_most_limit_running() -> None:
    running = 0
    peak = 0

    async def double(item: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.001 * (item % 3))  # finish out of order
        running -= 1
        return item * 2

    assert await each_bounded(range(20), double, limit=4) == [n * 2 for n in range(20)]
    assert peak == 4


@pytest.mark.asyncio
async def test_a_failure_propagates_and_cancels_the_others() -> None:
    started: list[int] = []
    finished: list[int] = []

    async def read(item: int) -> int:
        started.append(item)
        if item == 1:
            raise LookupError("item 1")
        await asyncio.sleep(10)
        finished.append(item)
        return item

    with pytest.raises(LookupError, match="item 1"):
        await asyncio.wait_for(each_bounded(range(6), read, limit=3), timeout=5)
    assert finished == []
    # The slot item 1 freed may let item 3 in before the failure is seen; never 4 or 5.
    assert started[:3] == [0, 1, 2]
    assert set(started) <= {0, 1, 2, 3}


@pytest.mark.asyncio
async def test_nothing_to_read_and_a_bad_limit() -> None:
    async def never(item: int) -> int:
        raise AssertionError(item)

    assert await each_bounded([], never, limit=2) == []
    with pytest.raises(ValueError, match="limit must be >= 1, got 0"):
        await each_bounded([1], never, limit=0)


@pytest.mark.asyncio
async def test_both_runs_side_by_side_and_gives_both_results() -> None:
    """Each waits for the other to have started: run one after the other, they would hang."""
    first_started, second_started = asyncio.Event(), asyncio.Event()

    async def first() -> str:
        first_started.set()
        await second_started.wait()
        return "first"

    async def second() -> int:
        second_started.set()
        await first_started.wait()
        return 2

    assert await asyncio.wait_for(both(first(), second()), timeout=5) == ("first", 2)


@pytest.mark.parametrize("failing", [0, 1])
@pytest.mark.asyncio
async def test_both_propagates_either_failure_and_cancels_the_other(failing: int) -> None:
    cancelled = asyncio.Event()

    async def fail() -> None:
        await asyncio.sleep(0)
        raise LookupError("failed")

    async def wait() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    pair = (fail(), wait()) if failing == 0 else (wait(), fail())
    with pytest.raises(LookupError, match="failed"):
        await asyncio.wait_for(both(*pair), timeout=5)
    assert cancelled.is_set()
