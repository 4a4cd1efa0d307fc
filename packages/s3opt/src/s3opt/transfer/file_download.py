"""File downloads: parallel ranged GETs written at their offsets, verified, renamed.

No HEAD first: the first GET asks for :data:`FIRST_RANGE` bytes and its headers
(``Content-Range``, ``ETag``) describe the object; the other ranges start as soon as
they arrive, each with ``If-Match`` on that ETag, so an object replaced mid-download
fails loudly instead of yielding a mix of two versions. The download goes to a
temporary file beside the destination, is fsync'd, verified and only then renamed
into place. Its ranges are never held whole: each response body is written at its
file offsets as it arrives (:data:`s3opt._requests.SINK_CHUNK` bytes at a time), so
memory is about two chunks per range in flight, not the window, and the ETag is hashed
from the file, in order, behind the writes. Verification is :mod:`s3opt.transfer.download`'s
(size; ETag when it is an MD5 or an MD5 of part MD5s).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final, TypeVar

from s3opt._requests import BODY_BYTES
from s3opt.errors import ChecksumMismatchError, S3OptError
from s3opt.protocols import ObjectInfo
from s3opt.transfer.context import InFlight, TransferContext
from s3opt.transfer.download import (
    ObjectLayout,
    _changed,
    _mismatch,
    _probe_layout,
    _raise_mismatch,
    _ranged_get,
    _short,
    _true_layout,
    _uniform,
    fetch_range_into,
    info_from_head,
)
from s3opt.transfer.multipart import etag_is_md5, etag_of
from s3opt.transfer.parts import MIN_RANGE_SIZE
from s3opt.transfer.reassembly import EtagHasher

__all__ = ["FIRST_RANGE", "download_file", "object_headers"]

_R = TypeVar("_R")

_HASH_BLOCK: Final = 2**20
"""Bytes read back from the file per MD5 update (memory, not speed: MD5 is CPU-bound)."""
_CONTENT_RANGE: Final = re.compile(r"bytes [0-9]+-[0-9]+/([0-9]+)")
"""RFC 9110 section 14.4: ``bytes first-last/complete-length``."""
FIRST_RANGE: Final = MIN_RANGE_SIZE
"""Bytes a download's first GET asks for, before it knows the object's size: an object
up to this size takes one request; a larger one's other ranges start when this one's
headers arrive, one round trip in, as they would have after a HEAD."""


def _hash_file(fd: int, size: int, parts: tuple[int, ...] | None) -> str:
    hasher = EtagHasher(parts)
    offset = 0
    while offset < size:
        block = os.pread(fd, min(_HASH_BLOCK, size - offset), offset)
        if not block:
            break
        hasher.update(block)
        offset += len(block)
    return hasher.etag()


def _hash_span(fd: int, hasher: EtagHasher, start: int, end: int) -> None:
    offset = start
    while offset < end:
        block = os.pread(fd, min(_HASH_BLOCK, end - offset), offset)
        if not block:
            raise OSError(f"short read at {offset} while hashing the partial download")
        hasher.update(block)
        offset += len(block)


class _HashFollower:
    """Hashes the written file in order while later ranges are still arriving.

    Ranges land out of order; whenever the written prefix grows, the new bytes
    are read back (from the page cache) and fed to an :class:`EtagHasher` in a
    thread, one span at a time. The ETag is then ready moments after the last
    range instead of costing a full pass over the file (MD5 runs at ~0.5 GB/s:
    half a second per 256 MiB, on a path that moves 256 MiB in ~4 s).
    """

    __slots__ = ("_done", "_frontier", "_hashed", "_hasher", "_partial", "_parts", "_task")

    def __init__(
        self, partial: _PartialFile, parts: asyncio.Future[tuple[int, ...] | None]
    ) -> None:
        self._partial = partial
        self._parts = parts  # the part layout, learned while the first ranges arrive
        self._hasher: EtagHasher | None = None
        self._done: dict[int, int] = {}
        self._frontier = 0
        self._hashed = 0
        self._task: asyncio.Task[None] | None = None

    def written(self, offset: int, length: int) -> None:
        """Bytes ``offset .. offset + length`` are in the file."""
        self._done[offset] = length
        while self._frontier in self._done:
            self._frontier += self._done.pop(self._frontier)
        if self._hashed < self._frontier and (self._task is None or self._task.done()):
            self._task = asyncio.ensure_future(self._run())

    async def _started(self) -> EtagHasher:
        if self._hasher is None:
            self._hasher = EtagHasher(await self._parts)
        return self._hasher

    async def _run(self) -> None:
        hasher = await self._started()
        while self._hashed < self._frontier:
            end = self._frontier
            await self._partial.run(_hash_span, self._partial.fd, hasher, self._hashed, end)
            self._hashed = end

    async def etag(self, size: int) -> str:
        """The ETag of the first ``size`` bytes, once every range is written."""
        if self._task is not None:
            await self._task
        hasher = await self._started()
        if self._hashed < size:
            await self._partial.run(_hash_span, self._partial.fd, hasher, self._hashed, size)
            self._hashed = size
        return hasher.etag()

    async def cancel(self) -> None:
        task = self._task
        if task is None:
            return
        if not task.done():
            task.cancel()
        with contextlib.suppress(BaseException):  # the transfer's own error is the one raised
            await task


def _write_at(fd: int, pieces: Sequence[bytes], offset: int) -> None:
    """Write ``pieces`` back to back at ``offset`` (one ``pwritev`` unless it writes short)."""
    views = [memoryview(piece) for piece in pieces if piece]
    while views:
        written = os.pwritev(fd, views, offset)
        offset += written
        while views and written >= len(views[0]):
            written -= len(views.pop(0))
        if written:
            views[0] = views[0][written:]


def _cut(pieces: Sequence[bytes], size: int) -> list[bytes]:
    """The first ``size`` bytes of ``pieces`` (none when ``size`` <= 0), as pieces."""
    kept: list[bytes] = []
    for piece in pieces:
        if size <= 0:
            break
        kept.append(piece[:size])
        size -= len(piece)
    return kept


class _PartialFile:
    """A temporary file beside the destination, written at offsets by a worker thread.

    Writes go to one thread of the file's own (:meth:`write`), in the order asked;
    other work (hashing, fsync) to the loop's default executor (:meth:`run`). A
    file takes one write at a time anyway (Linux holds the inode's lock for a
    buffered write): writes from several threads at once spun on that lock, ~3% of a
    download's CPU on this machine (``perf``: ``rwsem_spin_on_owner`` under
    ``ext4_buffered_write_iter``). 256 MiB written in interleaved 1 MiB pieces took
    0.11-0.12 CPU s from six threads, 0.08-0.09 from one.

    Thread work is shielded and tracked: a cancelled download still waits for
    its threads before closing the descriptor, so a late ``pwrite`` can never
    land in another file that reused the descriptor number.
    """

    __slots__ = ("_pending", "_writer", "fd", "path")

    def __init__(self, destination: Path) -> None:
        self.path = destination.with_name(f".{destination.name}.s3opt-{secrets.token_hex(4)}.tmp")
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        self._pending: set[asyncio.Future[Any]] = set()
        self._writer: ThreadPoolExecutor | None = None

    async def run(self, func: Callable[..., _R], *args: Any) -> _R:
        """``func(*args)`` in a thread; its completion is awaited by :meth:`close` even if
        the caller is cancelled."""
        return await self._tracked(None, func, *args)

    async def write(self, pieces: Sequence[bytes], offset: int) -> None:
        """Write ``pieces`` back to back at ``offset``, in the file's writing thread."""
        if self._writer is None:
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="s3opt-download-write")
        await self._tracked(self._writer, _write_at, self.fd, pieces, offset)

    async def _tracked(
        self, executor: ThreadPoolExecutor | None, func: Callable[..., _R], *args: Any
    ) -> _R:
        future = asyncio.get_running_loop().run_in_executor(executor, func, *args)
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)
        return await asyncio.shield(future)

    async def close(self) -> None:
        while self._pending:
            done, _ = await asyncio.wait(set(self._pending))
            for future in done:
                if not future.cancelled():
                    future.exception()
        if self._writer is not None:
            self._writer.shutdown()  # idle: every write it was given is done
        os.close(self.fd)


async def download_file(context: TransferContext, key: str, path: Path) -> ObjectInfo:
    """Fetch ``key`` into ``path``: ranges written at offsets, verified, renamed into place.

    No HEAD first: the first ranged GET's headers (:func:`object_headers`) give the
    object's size and ETag, and the other ranges start as soon as they arrive.
    """
    started = time.monotonic()
    path = Path(path)
    partial = _PartialFile(path)
    try:
        try:
            head = await _fill(context, key, partial)
        finally:
            await partial.close()
        os.replace(partial.path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            partial.path.unlink()
        raise
    _fsync_dir(path.parent)
    context.record_throughput("receive", int(head["ContentLength"]), started)
    return info_from_head(key, head)


def object_headers(response: dict[str, Any]) -> dict[str, Any]:
    """A ranged GET's headers as a HEAD gives them: ``ContentLength`` is the object's size.

    RFC 9110 section 14.4: a 206 answer names the whole length in
    ``Content-Range: bytes first-last/complete-length``; a 200 (a server that sent
    the whole object) has it in ``Content-Length``. ``ValueError`` otherwise.
    """
    head = {
        name: value
        for name, value in response.items()
        if name not in ("Body", BODY_BYTES, "ContentRange", "ResponseMetadata")
    }
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    found = _CONTENT_RANGE.fullmatch(str(response.get("ContentRange") or ""))
    if found is not None:
        head["ContentLength"] = int(found.group(1))
    elif status != 200 or "ContentLength" not in response:
        raise ValueError(f"a ranged GET answered without the object's size (HTTP {status})")
    return head


async def _layout_of(
    context: TransferContext, key: str, size: int, etag: str
) -> tuple[int, ...] | None:
    """The part sizes behind a multipart ETag (``HEAD ?partNumber=1``, more if uneven)."""
    if "-" not in etag:
        return None
    first = await context.call("head_object", key=key, PartNumber=1)
    count = int(first.get("PartsCount") or etag.rsplit("-", 1)[1])
    parts = _uniform(size, int(first.get("ContentLength", 0)), count)
    return parts if parts is not None else await _probe_layout(context, key, count)


async def _fill(context: TransferContext, key: str, partial: _PartialFile) -> dict[str, Any]:
    """Fetch every range into ``partial``, fsync it and verify size and ETag; the headers.

    The first GET asks for :data:`FIRST_RANGE` bytes without ``If-Match``; its headers
    (each attempt's: a retry must find the same ETag) fix the size and ETag, and every
    other range carries ``If-Match`` with that ETag.
    """
    fd = partial.fd
    loop = asyncio.get_running_loop()
    opened: asyncio.Future[dict[str, Any]] = loop.create_future()
    follower_ready = asyncio.Event()
    follower: _HashFollower | None = None

    def learn(response: dict[str, Any]) -> None:
        head = object_headers(response)
        if not opened.done():
            opened.set_result(head)
        elif etag_of(head) != etag_of(opened.result()):
            raise _changed(context, key, etag_of(opened.result()))

    async def write_at(offset: int, length: int, at: int, pieces: Sequence[bytes]) -> None:
        # A retried GET starts again at 0 and overwrites: writes at offsets are
        # idempotent. Bytes past the range (never expected) would land in the next
        # range: they are dropped here and the length check fails the range.
        if at + sum(map(len, pieces)) > length:
            pieces = _cut(pieces, length - at)
        if pieces:
            await partial.write(pieces, offset + at)

    async def first_range() -> None:
        async def write(at: int, pieces: Sequence[bytes]) -> None:
            await write_at(0, FIRST_RANGE, at, pieces)

        reply = await _ranged_get(context, key, 0, FIRST_RANGE, None, write, learn)
        got = reply.get(BODY_BYTES)
        expected = min(FIRST_RANGE, int(opened.result()["ContentLength"]))
        if got != expected:
            raise _short(context, key, 0, expected, got if isinstance(got, int) else repr(got))
        context.record_received(expected)
        await follower_ready.wait()
        if follower is not None:
            follower.written(0, expected)

    async def one(offset: int, length: int, etag: str) -> None:
        async def write(at: int, pieces: Sequence[bytes]) -> None:
            await write_at(offset, length, at, pieces)

        await fetch_range_into(context, key, offset, length, etag, write)
        if follower is not None:  # told only once the whole range is in: never a retry's prefix
            follower.written(offset, length)

    inflight = InFlight(context)
    first = inflight.start(first_range(), FIRST_RANGE)
    layout_task: asyncio.Future[tuple[int, ...] | None] | None = None
    try:
        await asyncio.wait((opened, first), return_when=asyncio.FIRST_COMPLETED)
        if not opened.done():
            return await _fill_empty(context, key, first)
        head = opened.result()
        size, etag = int(head["ContentLength"]), etag_of(head)
        os.ftruncate(fd, size)
        md5_etag = etag_is_md5(head)
        layout_task = asyncio.ensure_future(
            _layout_of(context, key, size, etag) if md5_etag else _no_layout()
        )
        if md5_etag:
            follower = _HashFollower(partial, layout_task)
        follower_ready.set()
        rest = size - min(FIRST_RANGE, size)
        if rest > 0:
            ranges = context.download_ranges(rest)
            # The halved last ranges (split_tail) each hold a whole range's share of the
            # window here: as many requests stay in flight as before, each ending sooner
            # (a throttling service counts requests, not bytes).
            share = ranges[0][1]
            for offset, length in ranges:
                await inflight.wait_for_room(share)
                inflight.start(one(FIRST_RANGE + offset, length, etag), share)
        await inflight.drain()
        parts = await layout_task
    except BaseException:
        await inflight.cancel()
        if follower is not None:
            await follower.cancel()
        if layout_task is not None and not layout_task.done():
            layout_task.cancel()
            with contextlib.suppress(BaseException):
                await layout_task
        raise
    await _verify(context, key, partial, ObjectLayout(size, etag, parts, md5_etag), follower)
    return head


async def _no_layout() -> None:
    return None


async def _fill_empty(
    context: TransferContext, key: str, first: asyncio.Task[None]
) -> dict[str, Any]:
    """The first GET failed before any headers: an empty object if S3 said 416 (no byte
    0 to give: RFC 9110 section 15.5.17), else that GET's error."""
    try:
        await first
    except S3OptError as exc:
        if exc.code != "InvalidRange":
            raise
    else:  # pragma: no cover - the first GET returns only after its headers are learned
        raise AssertionError("the first range ended without headers")
    head = await context.call("head_object", key=key)
    if int(head.get("ContentLength", 0)) != 0:
        raise _changed(context, key, etag_of(head))
    return head


async def _verify(
    context: TransferContext,
    key: str,
    partial: _PartialFile,
    layout: ObjectLayout,
    follower: _HashFollower | None,
) -> None:
    """fsync the file and check its size and (when it is an MD5) its ETag."""
    fd, size = partial.fd, layout.size
    synced = asyncio.ensure_future(partial.run(os.fsync, fd))
    try:
        computed = await follower.etag(size) if follower is not None else None
    finally:
        await synced
    if computed is not None:
        if _mismatch(layout, computed) and layout.parts is not None:
            layout = await _true_layout(context, key, layout)
            computed = await partial.run(_hash_file, fd, size, layout.parts)
        if _mismatch(layout, computed):
            _raise_mismatch(context, key, layout, computed)
    stored = os.fstat(fd).st_size
    if stored != size:
        raise ChecksumMismatchError(
            f"download of s3://{context.bucket}/{key}: wrote {stored} bytes, expected {size}",
            bucket=context.bucket,
            key=key,
        )


def _fsync_dir(directory: Path) -> None:
    """Make a rename durable (POSIX: fsync the directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
