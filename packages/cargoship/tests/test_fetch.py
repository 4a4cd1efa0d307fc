"""cargoship.fetch's worker-thread bridge: a cancelled restore or verify stops its thread; and
a stream started ahead of its reader.

The tests of the bridge and of StreamAhead need no store (an async generator stands in for
the object's chunks); the restores are from a LocalStore on disk, as ``file://`` targets do.
"""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import time
from collections.abc import AsyncGenerator, Callable
from pathlib import Path

import pytest

from cargoship.errors import CargoshipError
from cargoship.fetch import FetchCancelledError, StreamAhead, StreamBridge, run_with_stream
from cargoship.restore import RestoreOptions, restore
from cargoship.ship import ShipOptions, ship
from s3opt import LocalStore

CHUNKS = 2000


async def _ready_chunks() -> AsyncGenerator[bytes, None]:
    """Chunks that never keep the reader waiting (read ahead, or a local file)."""
    for _ in range(CHUNKS):
        yield b"x" * 1024


async def _one_chunk_then_nothing() -> AsyncGenerator[bytes, None]:
    """A chunk, then a stream that stalls (a connection that stopped delivering)."""
    yield b"x"
    await asyncio.Event().wait()


def _reader(started: threading.Event, read: list[int]) -> Callable[[StreamBridge], None]:
    def work(bridge: StreamBridge) -> None:
        while bridge.read(1024):
            read.append(1)
            if len(read) == 10:
                started.set()
            time.sleep(0.001)  # the work done with each chunk

    return work


def test_cancelling_stops_a_thread_whose_chunks_are_always_ready() -> None:
    started, read = threading.Event(), list[int]()
    unretrieved: list[dict[str, object]] = []

    async def cancel_after_ten_chunks() -> None:
        asyncio.get_running_loop().set_exception_handler(
            lambda _, context: unretrieved.append(context)
        )
        task = asyncio.ensure_future(run_with_stream(_ready_chunks(), _reader(started, read)))
        await asyncio.to_thread(started.wait, 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    # A loop of its own, closed here, so its finished tasks are collected within the test.
    asyncio.run(cancel_after_ten_chunks())
    gc.collect()
    # The thread stopped at its next chunk: it did not read the remaining ~2000 (2 s of work).
    assert len(read) < 100, f"the thread read {len(read)} of {CHUNKS} chunks after the cancel"
    # Its FetchCancelledError was consumed, not reported as "never retrieved" (a traceback
    # printed after Ctrl-C).
    assert not unretrieved, unretrieved


@pytest.mark.asyncio
async def test_cancelling_stops_a_thread_waiting_for_a_chunk() -> None:
    failed: list[BaseException] = []

    def work(bridge: StreamBridge) -> None:
        try:
            while bridge.read(1):
                pass
        except FetchCancelledError as error:
            failed.append(error)
            raise

    task = asyncio.ensure_future(run_with_stream(_one_chunk_then_nothing(), work))
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    assert len(failed) == 1


@pytest.mark.asyncio
async def test_a_cancelled_restore_stops_writing(local_store: LocalStore, tmp_path: Path) -> None:
    source = tmp_path / "source"
    (source / "d").mkdir(parents=True)
    count = 400
    for number in range(count):  # ~13 MiB that does not compress: 13 chunks of 1 MiB
        (source / "d" / f"f{number:04}").write_bytes(os.urandom(32 << 10))
    shipped = await ship(local_store, source, ShipOptions())
    dest = tmp_path / "dest"
    task = asyncio.ensure_future(restore(local_store, shipped.keys.name, dest, RestoreOptions()))
    while not task.done() and not any((dest / "d").glob("f*")):
        await asyncio.sleep(0.001)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    written = sorted(path.name for path in (dest / "d").iterdir())
    assert written, "the restore was cancelled before it wrote a file"
    assert not [name for name in written if not name.startswith("f")]  # no temporary names
    assert len(written) < count // 2, f"{len(written)} of {count} files written after the cancel"


class _Source:
    """An object's chunks, recording how many were asked for and whether the stream was
    closed."""

    def __init__(self, count: int, *, fail_at: int | None = None) -> None:
        self.count = count
        self.fail_at = fail_at
        self.pulled = 0
        self.closed = False

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        try:
            for number in range(self.count):
                await asyncio.sleep(0)  # a chunk arrives later than asked for
                if number == self.fail_at:
                    raise ConnectionResetError("the connection dropped")
                self.pulled += 1
                yield bytes([number]) * 1024
        finally:
            self.closed = True


async def _settle() -> None:
    for _ in range(100):
        await asyncio.sleep(0)


@pytest.mark.asyncio
async def test_a_stream_started_ahead_holds_up_to_its_limit_then_gives_every_chunk() -> None:
    source = _Source(10)
    ahead = StreamAhead(source.chunks(), limit=3 * 1024)
    await _settle()
    assert source.pulled == 3  # it stopped receiving at the limit, with no reader yet
    got = [chunk async for chunk in ahead.chunks()]
    assert got == [bytes([number]) * 1024 for number in range(10)]
    assert source.closed
    with pytest.raises(RuntimeError, match="only once"):
        [chunk async for chunk in ahead.chunks()]


@pytest.mark.asyncio
async def test_a_stream_shorter_than_the_limit_is_held_whole() -> None:
    source = _Source(2)
    ahead = StreamAhead(source.chunks(), limit=1 << 20)
    await _settle()
    assert (source.pulled, source.closed) == (2, True)
    assert [chunk[0] async for chunk in ahead.chunks()] == [0, 1]


@pytest.mark.asyncio
async def test_an_error_met_ahead_is_raised_to_the_reader() -> None:
    source = _Source(10, fail_at=1)
    ahead = StreamAhead(source.chunks(), limit=1 << 20)
    await _settle()
    with pytest.raises(ConnectionResetError, match="dropped"):
        [chunk async for chunk in ahead.chunks()]
    assert source.closed


@pytest.mark.asyncio
async def test_closing_a_stream_nobody_read_stops_it() -> None:
    stalled_closed = asyncio.Event()

    async def one_chunk_then_nothing() -> AsyncGenerator[bytes, None]:
        try:
            yield b"x"
            await asyncio.Event().wait()
            yield b"never"
        finally:
            stalled_closed.set()

    ahead = StreamAhead(one_chunk_then_nothing(), limit=1 << 20)
    await _settle()  # now waiting for a chunk that never comes
    await asyncio.wait_for(ahead.close(), 5)
    assert stalled_closed.is_set()


@pytest.mark.asyncio
async def test_a_restore_refused_by_its_checks_stops_the_stream_it_started(
    local_store: LocalStore, tmp_path: Path, closed_streams: list[StreamAhead]
) -> None:
    source = tmp_path / "source"
    source.mkdir()
    (source / "taken").write_bytes(b"mine")
    (source / "data").write_bytes(os.urandom(1 << 20))
    shipped = await ship(local_store, source, ShipOptions())
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "taken").write_bytes(b"already here")
    with pytest.raises(CargoshipError, match="refusing to overwrite"):
        await restore(local_store, shipped.keys.name, dest, RestoreOptions())
    assert len(closed_streams) == 1
    assert (dest / "taken").read_bytes() == b"already here"
    assert sorted(path.name for path in dest.iterdir()) == ["taken"]
