"""cargoship.fetch's worker-thread bridge: a cancelled restore or verify stops its thread.

The first two tests need no store (an async generator stands in for the object's
chunks); the last restores from a LocalStore on disk, as ``file://`` targets do.
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

from cargoship.fetch import FetchCancelledError, StreamBridge, run_with_stream
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
