"""Run coroutines side by side, and stop them all if one fails.

Browsing and planning read many small objects (inventory heads, object tags),
and ``ship`` ends with uploads that do not depend on each other: their
latency, not bandwidth, is what running them side by side hides.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

__all__ = ["both", "each_bounded", "settle"]

_T = TypeVar("_T")
_R = TypeVar("_R")


async def each_bounded(
    items: Iterable[_T], read: Callable[[_T], Awaitable[_R]], *, limit: int
) -> list[_R]:
    """``read(item)`` for every item, at most ``limit`` at once; results in ``items``' order.

    The first failure propagates; the other calls are cancelled rather than left running.
    """
    if limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    gate = asyncio.Semaphore(limit)

    async def one(item: _T) -> _R:
        async with gate:
            return await read(item)

    tasks = [asyncio.create_task(one(item)) for item in items]
    try:
        return list(await asyncio.gather(*tasks))
    finally:
        await settle(*tasks)


async def both(first: Awaitable[_T], second: Awaitable[_R]) -> tuple[_T, _R]:
    """``first`` and ``second`` side by side; both results.

    The first failure propagates; the other is cancelled rather than left running.
    """
    one, two = asyncio.ensure_future(first), asyncio.ensure_future(second)
    try:
        first_result, second_result = await asyncio.gather(one, two)
        return first_result, second_result
    finally:
        await settle(one, two)


async def settle(*tasks: asyncio.Future[Any]) -> None:
    """Cancel those of ``tasks`` still running and wait until all have ended; their outcomes
    are dropped (an error that mattered was raised where a task was awaited)."""
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
