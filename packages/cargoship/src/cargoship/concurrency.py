"""Run one coroutine per item, a few at a time, and stop them all if one fails.

Browsing and planning read many small objects (inventory heads, object tags):
their latency, not bandwidth, is what running them side by side hides.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

__all__ = ["each_bounded"]

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
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
