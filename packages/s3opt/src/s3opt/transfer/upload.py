"""Uploads of any size from bytes, a local file or a stream of unknown length.

* Below ``config.multipart_threshold``: one verified PUT.
* Above it: a multipart upload whose part size comes from the object size and
  the measured BDP (:meth:`TransferContext.part_size_for`), with parts sent
  concurrently through the store's limiter. Memory stays within the parts the
  limiter admitted plus two read ahead, and never above the window plus one part
  (:class:`~s3opt.transfer.context.InFlight`). The CreateMultipartUpload round
  trip overlaps reading and hashing the first parts (``MultipartUpload.starting``;
  not with a resume state file, which must name the upload before any part).
* A failed upload is aborted, so no parts stay stored. With a resume state
  file, an interrupted upload (cancelled, or given up after retries on
  throttles, transient errors or an unreachable endpoint) keeps its parts and
  the file; the next call with the same file continues where it stopped.
* A local file is read once, part by part, and checked (size, mtime in ns,
  inode) before each part and after the last: a change aborts the upload with
  :class:`SourceChangedError`; a mix of old and new bytes is never stored.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncGenerator, AsyncIterable, Callable, Mapping
from pathlib import Path
from typing import Final

from s3opt.errors import (
    EndpointUnavailableError,
    NoSuchUploadError,
    SourceChangedError,
    ThrottledError,
    TransientError,
)
from s3opt.protocols import ObjectInfo
from s3opt.transfer.context import InFlight, TransferContext
from s3opt.transfer.multipart import MultipartUpload, put_single
from s3opt.transfer.parts import plan_parts, stream_part_size
from s3opt.transfer.resume import PartRecord, ResumeState, SourceIdentity, remove_state

__all__ = ["upload_bytes", "upload_file", "upload_stream"]

_logger = logging.getLogger(__name__)

SAVE_INTERVAL: Final = 0.5
"""Seconds between rewrites of a resume state file while parts complete (it is also
written when the upload stops); a crash loses at most this much progress."""

_PartSource = AsyncGenerator[tuple[int, bytes], None]


def _resumable(exc: BaseException) -> bool:
    """Whether an upload that failed with ``exc`` is worth resuming (else it is aborted)."""
    return isinstance(
        exc,
        asyncio.CancelledError
        | KeyboardInterrupt
        | ThrottledError
        | TransientError
        | EndpointUnavailableError,
    )


async def _send_parts(
    context: TransferContext,
    upload: MultipartUpload,
    parts: _PartSource,
    on_part: Callable[[PartRecord], None],
) -> None:
    """Send every part from ``parts`` concurrently within the window; stop all on a failure."""
    inflight = InFlight(context)

    async def send(number: int, data: bytes) -> None:
        on_part(await upload.send(number, data))

    try:
        async for number, data in parts:
            await inflight.wait_for_room(len(data))
            inflight.start(send(number, data), len(data))
        await inflight.drain()
    except BaseException:
        await inflight.cancel()
        raise
    finally:
        await parts.aclose()


async def _run(
    context: TransferContext,
    upload: MultipartUpload,
    parts: _PartSource,
    records: dict[int, PartRecord],
    metadata: Mapping[str, str] | None,
    *,
    size: Callable[[], int],
    before_complete: Callable[[], None] = lambda: None,
    journal: _Journal | None = None,
) -> ObjectInfo:
    """Send, complete and verify; abort on failure unless the journal keeps it resumable."""
    started = time.monotonic()

    def on_part(record: PartRecord) -> None:
        records[record.number] = record
        if journal is not None:
            journal.changed()

    try:
        await _send_parts(context, upload, parts, on_part)
        before_complete()
        ordered = [records[n] for n in sorted(records)]
        if [r.number for r in ordered] != list(range(1, len(ordered) + 1)):
            raise RuntimeError(f"parts missing before completion: {sorted(records)}")
        info = await upload.complete(ordered, size(), metadata)
    except BaseException as exc:
        if journal is not None and _resumable(exc):
            journal.save()
            _logger.info(
                "upload of s3://%s/%s stopped (%s): resumable from %s",
                context.bucket,
                upload.key,
                type(exc).__name__,
                journal.path,
            )
        else:
            await upload.abort()
            if journal is not None:
                remove_state(journal.path)
        raise
    if journal is not None:
        remove_state(journal.path)
    context.record_throughput("transmit", info.size, started)
    return info


class _Journal:
    """Writes a resume state to its file, at most every :data:`SAVE_INTERVAL` seconds."""

    __slots__ = ("_last", "path", "state")

    def __init__(self, state: ResumeState, path: Path) -> None:
        self.state = state
        self.path = path
        self._last = 0.0

    def changed(self) -> None:
        now = time.monotonic()
        if now - self._last >= SAVE_INTERVAL:
            self.save()

    def save(self) -> None:
        try:
            self.state.save(self.path)
        except OSError as exc:
            _logger.warning("cannot write resume state %s: %s", self.path, exc)
        self._last = time.monotonic()


# -- bytes ----------------------------------------------------------------------------------


async def upload_bytes(
    context: TransferContext, key: str, data: bytes, metadata: Mapping[str, str] | None
) -> ObjectInfo:
    """Store ``data`` (one PUT below the threshold, multipart above)."""
    size = len(data)
    if size < context.config.multipart_threshold:
        return await put_single(context, key, bytes(data), metadata)
    part_size = context.part_size_for(size)
    view = memoryview(data)

    async def parts() -> _PartSource:
        for span in plan_parts(size, part_size):
            yield span.number, bytes(view[span.offset : span.offset + span.length])

    upload = MultipartUpload.starting(context, key, metadata)
    return await _run(context, upload, parts(), {}, metadata, size=lambda: size)


# -- local files ----------------------------------------------------------------------------


def _changed(context: TransferContext, key: str, path: Path, what: str) -> SourceChangedError:
    return SourceChangedError(
        f"upload to s3://{context.bucket}/{key}: {str(path)!r} {what} while it was read; "
        "the upload was aborted and nothing was stored",
        bucket=context.bucket,
        key=key,
    )


def _read_exact(fd: int, offset: int, length: int) -> bytes | None:
    """``length`` bytes at ``offset``, or ``None`` if the file ends first (it shrank)."""
    chunks: list[bytes] = []
    got = 0
    while got < length:
        chunk = os.pread(fd, length - got, offset + got)
        if not chunk:
            return None
        chunks.append(chunk)
        got += len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def upload_file(
    context: TransferContext,
    key: str,
    path: Path,
    metadata: Mapping[str, str] | None,
    *,
    resume_state: Path | None = None,
) -> ObjectInfo:
    """Store the file at ``path``; with ``resume_state``, resumably (see the module doc)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        identity = SourceIdentity.of_fd(fd)

        def check(what: str = "changed") -> None:
            try:
                now = (SourceIdentity.of_fd(fd), SourceIdentity.of(path))
            except OSError:
                raise _changed(context, key, path, "was removed") from None
            if now != (identity, identity):
                raise _changed(context, key, path, what)

        resumed = None
        if resume_state is not None and resume_state.exists():
            resumed = await _resume(context, key, resume_state, identity)
        size = identity.size
        if size < context.config.multipart_threshold:
            if resumed is not None and resume_state is not None:
                # The threshold rose since: the old upload is not needed.
                await resumed[0].abort()
                remove_state(resume_state)
            data = await asyncio.to_thread(_read_exact, fd, 0, size)
            check()
            if data is None:
                raise _changed(context, key, path, "shrank")
            return await put_single(context, key, data, metadata)
        if resumed is None and resume_state is None:
            upload = MultipartUpload.starting(context, key, metadata)
            state = ResumeState(context.bucket, key, "", context.part_size_for(size), identity)
        elif resumed is None:
            upload = await MultipartUpload.create(context, key, metadata)
            state = ResumeState(
                context.bucket, key, upload.upload_id, context.part_size_for(size), identity
            )
        else:
            upload, state = resumed
        journal = None
        if resume_state is not None:
            journal = _Journal(state, resume_state)
            journal.save()

        async def parts() -> _PartSource:
            for span in plan_parts(size, state.part_size):
                if span.number in state.parts:
                    continue
                check()
                data = await asyncio.to_thread(_read_exact, fd, span.offset, span.length)
                if data is None:
                    raise _changed(context, key, path, "shrank")
                yield span.number, data

        return await _run(
            context,
            upload,
            parts(),
            state.parts,
            metadata,
            size=lambda: size,
            before_complete=check,
            journal=journal,
        )
    finally:
        os.close(fd)


async def _resume(
    context: TransferContext, key: str, state_path: Path, identity: SourceIdentity
) -> tuple[MultipartUpload, ResumeState] | None:
    """The upload to continue, with the parts S3 still holds intact; ``None`` to start over."""
    state = ResumeState.load(state_path, bucket=context.bucket, key=key)
    upload = MultipartUpload(context, key, state.upload_id)
    if state.source != identity:
        _logger.warning(
            "s3://%s/%s: the file changed since the interrupted upload; starting over",
            context.bucket,
            key,
        )
        await upload.abort()
        remove_state(state_path)
        return None
    try:
        stored = await upload.list_parts()
    except NoSuchUploadError:
        _logger.warning(
            "s3://%s/%s: upload %s no longer exists; starting over",
            context.bucket,
            key,
            state.upload_id,
        )
        remove_state(state_path)
        return None
    kept = {
        number: record
        for number, record in state.parts.items()
        if stored.get(number) == (record.etag, record.size)
    }
    _logger.info(
        "s3://%s/%s: resuming upload %s with %d of %d recorded parts intact",
        context.bucket,
        key,
        state.upload_id,
        len(kept),
        len(state.parts),
    )
    state.parts = kept
    context.stats.parts_reused += len(kept)
    return upload, state


# -- streams --------------------------------------------------------------------------------


async def upload_stream(
    context: TransferContext,
    key: str,
    stream: AsyncIterable[bytes],
    metadata: Mapping[str, str] | None,
) -> ObjectInfo:
    """Store a stream of unknown length with memory bounded by the window plus one part.

    The first ``multipart_threshold`` bytes are buffered to decide: a stream
    that ends sooner takes one PUT. Part sizes follow :func:`stream_part_size`
    (doubling every 800 parts so 10,000 parts reach 5 TiB).
    """
    config = context.config
    iterator = aiter(stream)
    buffer = bytearray()
    ended = False
    first = stream_part_size(1, config.part_size_min)
    while len(buffer) < max(config.multipart_threshold, first):
        try:
            buffer += await anext(iterator)
        except StopAsyncIteration:
            ended = True
            break
    if ended and len(buffer) < config.multipart_threshold:
        return await put_single(context, key, bytes(buffer), metadata)
    total = 0

    async def parts() -> _PartSource:
        nonlocal buffer, total, ended
        number = 1
        while True:
            target = stream_part_size(number, config.part_size_min)
            while not ended and len(buffer) < target:
                try:
                    buffer += await anext(iterator)
                except StopAsyncIteration:
                    ended = True
            if not buffer and (ended and number > 1):
                return
            with memoryview(buffer) as view:
                data = bytes(view[:target])
            del buffer[:target]
            total += len(data)
            yield number, data
            number += 1
            if ended and not buffer:
                return

    upload = MultipartUpload.starting(context, key, metadata)
    return await _run(context, upload, parts(), {}, metadata, size=lambda: total)
