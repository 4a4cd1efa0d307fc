"""What every transfer of one store shares: its requester, its limiter, its bucket, its counters.

One :class:`TransferContext` per :class:`s3opt.S3Store`; the limiter inside
is the store's congestion state, shared by all its transfers (DESIGN.md:
concurrency is the controller's decision, never a fixed number).
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol, TypeVar

from netalgo.limiter import Limiter
from s3opt.control import controller_name, path_estimate
from s3opt.transfer.parts import choose_part_size, plan_ranges, range_size, split_tail

if TYPE_CHECKING:
    from opsmetrics import Metrics
    from s3opt._requests import BodySink, Requester, ResponseHook
    from s3opt.config import S3Config

__all__ = ["InFlight", "Rewindable", "TransferContext", "TransferStats"]

_T = TypeVar("_T")

READ_AHEAD: Final = 2
"""Units (parts read, ranges asked for) a transfer prepares beyond those the limiter has
admitted: enough that a freed slot never waits for a file read and a hash, few enough
that memory stays the in-flight window plus two parts (not the whole congestion window,
which Startup and pacing can keep well above what is in flight)."""

_ON_ADMIT: contextvars.ContextVar[Callable[[], None] | None] = contextvars.ContextVar(
    "s3opt_on_admit", default=None
)
"""Set by :meth:`InFlight.start` in each task's context: told when the limiter admits it."""


class Rewindable(Protocol):
    """A request body sent as a stream: sought back to its start before every attempt."""

    def seek(self, offset: int, whence: int = ..., /) -> int: ...


@dataclass(slots=True)
class TransferStats:
    """Running totals of a store's data traffic (parts, ranges, bytes): cheap, always on."""

    parts_sent: int = 0
    """Part uploads (and single PUTs) S3 acknowledged."""
    parts_reused: int = 0
    """Parts of resumed uploads found intact on S3 and not sent again."""
    bytes_sent: int = 0
    ranges_received: int = 0
    bytes_received: int = 0


@dataclass(slots=True)
class TransferContext:
    """The store-wide pieces a transfer needs."""

    requester: Requester
    limiter: Limiter
    bucket: str
    config: S3Config
    metrics: Metrics | None = None
    stats: TransferStats = field(default_factory=TransferStats)

    def slot(
        self, nbytes: int, rewind: Rewindable | None = None
    ) -> Callable[[], AbstractAsyncContextManager[object]]:
        """The ``attempt`` argument of :meth:`Requester.call`: one limiter slot per attempt.

        ``rewind``, a request body read as a stream, is sought back to its start
        before every attempt (a retry sends the whole body again).
        """
        size = max(nbytes, 1)
        return lambda: self._attempt(size, rewind)

    @asynccontextmanager
    async def _attempt(self, size: int, rewind: Rewindable | None) -> AsyncIterator[object]:
        if rewind is not None:
            rewind.seek(0)
        async with self.limiter.slot(size) as slot:
            on_admit = _ON_ADMIT.get()
            if on_admit is not None:
                on_admit()
            yield slot

    async def call(
        self,
        operation: str,
        *,
        key: str | None,
        nbytes: int | None = None,
        rewind: Rewindable | None = None,
        sink: BodySink | None = None,
        on_response: ResponseHook | None = None,
        **params: Any,
    ) -> dict[str, Any]:
        """One request on this bucket; through the limiter when ``nbytes`` is given.

        ``rewind``: the streamed ``Body`` among ``params``, rewound for each attempt.
        ``sink``: where the response body goes as it arrives (see
        :meth:`s3opt._requests.Requester.call`); ``on_response``: told each attempt's
        headers before its body.
        """
        if nbytes is None:
            return await self.requester.call(
                operation, bucket=self.bucket, key=key, sink=sink, on_response=on_response, **params
            )
        return await self.requester.call(
            operation,
            bucket=self.bucket,
            key=key,
            attempt=self.slot(nbytes, rewind),
            timeout=self.attempt_timeout(nbytes),
            sink=sink,
            on_response=on_response,
            **params,
        )

    def attempt_timeout(self, nbytes: int) -> float:
        """Seconds one attempt moving ``nbytes`` may take: ``read_timeout`` per minimum part.

        A fixed timeout would fail every large part on a slow path; scaling it
        keeps the slowest acceptable rate the same for every part size.
        """
        config = self.config
        return config.read_timeout * max(1.0, nbytes / config.part_size_min)

    def part_size_for(self, total_size: int) -> int:
        """Part (or range) size for an object of ``total_size`` bytes from the measured path."""
        return choose_part_size(
            total_size,
            min_part=self.config.part_size_min,
            max_part=self.config.part_size_max,
            estimate=path_estimate(self.limiter),
        )

    def download_ranges(self, total_size: int) -> list[tuple[int, int]]:
        """``(offset, length)`` ranged GETs covering ``total_size`` bytes.

        Their length is :func:`~s3opt.transfer.parts.range_size`'s, with a wave a
        quarter more ranges than the window now holds parts: each range leaves its
        connection idle for a round trip before its bytes flow, so a path that
        needs ``n`` connections' rates to fill its aggregate rate stays full only
        with more than ``n`` ranges in flight. On the benchmark's ``far`` path (4
        MB/s per connection, 60 MB/s shared) 16 ranges of 8 MiB moved 52-55 MB/s;
        20 fill it. The last window's worth of ranges is cut in halves
        (:func:`~s3opt.transfer.parts.split_tail`), so the download does not end
        on a few connections alone.
        """
        chunk = self.part_size_for(total_size)
        parts = self.window_bytes(chunk) // chunk
        length = range_size(total_size, chunk, parts + parts // 4)
        return split_tail(plan_ranges(total_size, length), parts)

    def window_bytes(self, part: int) -> int:
        """Bytes the limiter may keep in flight now for ``part``-byte operations (>= one part)."""
        limiter = self.limiter
        window = limiter.cwnd
        if limiter.max_ops is not None:
            window = min(window, limiter.max_ops * part)
        return max(window, part)

    def record_sent(self, nbytes: int) -> None:
        self.stats.parts_sent += 1
        self.stats.bytes_sent += nbytes
        self._record_io("transmit", nbytes)

    def record_received(self, nbytes: int) -> None:
        self.stats.ranges_received += 1
        self.stats.bytes_received += nbytes
        self._record_io("receive", nbytes)

    def record_throughput(
        self, direction: Literal["transmit", "receive"], nbytes: int, started: float
    ) -> None:
        """The rate of one finished transfer (bytes over its wall time)."""
        elapsed = time.monotonic() - started
        if self.metrics is not None and elapsed > 0:
            self.metrics.s3_throughput(direction=direction, bytes_per_second=nbytes / elapsed)

    def _record_io(self, direction: Literal["transmit", "receive"], nbytes: int) -> None:
        metrics = self.metrics
        if metrics is None:
            return
        metrics.s3_transfer(direction=direction, nbytes=nbytes)
        name = controller_name(self.limiter)
        metrics.congestion_window(controller=name, nbytes=min(self.limiter.cwnd, 2**62))
        metrics.inflight(
            controller=name,
            requests=self.limiter.ops_in_flight,
            nbytes=self.limiter.bytes_in_flight,
        )


class InFlight:
    """The tasks of one transfer, with memory bounded by what the limiter admits.

    :meth:`wait_for_room` blocks the producer until the bytes held by
    unfinished tasks plus the next unit fit in the window *and* fewer than
    :data:`READ_AHEAD` started tasks wait for the limiter, so a transfer
    buffers at most the bytes in flight plus two parts (and never more than
    the window plus one part).
    The first task to fail makes the next call raise its error; :meth:`cancel`
    stops the rest (and waits for them, so no request outlives the transfer).
    """

    __slots__ = ("_context", "_progress", "_tasks", "_unadmitted")

    def __init__(self, context: TransferContext) -> None:
        self._context = context
        self._tasks: dict[asyncio.Task[Any], int] = {}
        self._unadmitted: set[asyncio.Task[Any]] = set()
        self._progress = asyncio.Event()

    @property
    def held_bytes(self) -> int:
        """Bytes held by tasks not yet finished."""
        return sum(size for task, size in self._tasks.items() if not task.done())

    @property
    def waiting(self) -> int:
        """Started tasks the limiter has not admitted yet (preparing, or queued)."""
        return len(self._unadmitted)

    def start(self, coro: Coroutine[Any, Any, _T], nbytes: int) -> asyncio.Task[_T]:
        context = contextvars.copy_context()
        holder: list[asyncio.Task[Any]] = []

        def admitted() -> None:
            if holder:
                self._unadmitted.discard(holder[0])
            self._progress.set()

        context.run(_ON_ADMIT.set, admitted)
        task = asyncio.get_running_loop().create_task(coro, context=context)
        holder.append(task)
        self._tasks[task] = nbytes
        self._unadmitted.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._unadmitted.discard(task)
        self._progress.set()

    def _raise_failures(self) -> None:
        for task in list(self._tasks):
            if task.done():
                del self._tasks[task]
                if not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]

    def _full(self, nbytes: int) -> bool:
        if len(self._unadmitted) >= READ_AHEAD:
            return True
        return self.held_bytes + nbytes > self._context.window_bytes(nbytes)

    async def wait_for_room(self, nbytes: int) -> None:
        """Wait until ``nbytes`` more fit (see the class doc); raise the first task failure."""
        self._raise_failures()
        while self._tasks and self._full(nbytes):
            self._progress.clear()
            await self._progress.wait()
            self._raise_failures()

    async def drain(self) -> None:
        """Wait for every task; raise the first failure (the others are cancelled)."""
        while self._tasks:
            await asyncio.wait(list(self._tasks), return_when=asyncio.FIRST_COMPLETED)
            self._raise_failures()

    async def cancel(self) -> None:
        """Cancel every unfinished task and wait until they have all stopped."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        for task in tasks:
            if not task.cancelled():
                task.exception()  # retrieved: no "never retrieved" warning
        self._tasks.clear()
