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
  throttles, transient errors or an unreachable endpoint; for a stream, also
  the stream's own failure) keeps its parts and the file; the next call with
  the same file, or a stream yielding the same bytes, continues where it
  stopped. A stream's recorded parts are checked against the bytes it yields
  again (SHA-256) and not sent twice.
* A local file's parts are never held in memory: each is hashed from the file and
  then sent from it (:class:`~s3opt.transfer.bodies.FilePart`; the page cache
  serves the second read), so memory does not grow with the window. The file is
  checked (size, mtime in ns, inode) before each part, after the last and after any
  failure: a change aborts the upload with :class:`SourceChangedError`; a mix of old
  and new bytes is never stored (each part's bytes must match the digests sent
  with it).
* ``on_sealed``: a hook awaited with the object's expected :class:`ObjectInfo` (size,
  the ETag S3 computes from the parts' MD5s, the parts' checksums) as soon as every
  byte is read and hashed, while the last parts are still on their way; the object
  appears (CompleteMultipartUpload) only after it returned, and its failure aborts the
  upload. A caller can thus write an object that describes this one and have it stored
  by the time this one completes. With a hook, any non-empty source goes multipart.
* Metadata, storage class and tags travel on CreateMultipartUpload, so a
  resumed upload keeps those it was started with; the ones given when it is
  resumed are not sent again (the resume state does not record them).
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
    S3OptError,
    SourceChangedError,
    ThrottledError,
    TransientError,
)
from s3opt.protocols import ObjectInfo, SealHook
from s3opt.transfer.bodies import FilePart, hashed_ahead
from s3opt.transfer.context import InFlight, TransferContext
from s3opt.transfer.multipart import MultipartUpload, put_single
from s3opt.transfer.parts import digest_part, plan_parts, stream_part_size
from s3opt.transfer.resume import (
    PartRecord,
    ResumeState,
    ResumeStateError,
    SourceIdentity,
    remove_state,
)

__all__ = ["upload_bytes", "upload_file", "upload_stream"]

_logger = logging.getLogger(__name__)

SAVE_INTERVAL: Final = 0.5
"""Seconds between rewrites of a resume state file while parts complete (it is also
written when the upload stops); a crash loses at most this much progress."""

_PartSource = AsyncGenerator[tuple[int, bytes | FilePart], None]


def _one_put(size: int, threshold: int, on_sealed: SealHook | None) -> bool:
    """Whether ``size`` bytes go in one PUT: below the threshold, unless an ``on_sealed``
    hook is to run while the bytes travel (then any non-empty source goes multipart, one
    part when small, and only CompleteMultipartUpload waits for the hook)."""
    return size == 0 or (on_sealed is None and size < threshold)


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


class _Seal:
    """Runs an upload's ``on_sealed`` hook: started once the source is exhausted and every
    part hashed (``recorded`` parts of a resumed upload count as hashed), with the info
    :meth:`MultipartUpload.complete` will give; the upload completes only after it returned.
    """

    __slots__ = (
        "_digests",
        "_exhausted",
        "_hook",
        "_metadata",
        "_size",
        "_task",
        "_unhashed",
        "_upload",
    )

    def __init__(
        self,
        hook: SealHook,
        upload: MultipartUpload,
        recorded: Mapping[int, PartRecord],
        metadata: Mapping[str, str] | None,
        size: Callable[[], int],
    ) -> None:
        self._hook = hook
        self._upload = upload
        self._digests = dict(recorded)
        self._metadata = metadata
        self._size = size
        self._unhashed = 0
        self._exhausted = False
        self._task: asyncio.Future[None] | None = None

    def sending(self) -> None:
        """A part was handed to a sender; its digest is due."""
        self._unhashed += 1

    def hashed(self, record: PartRecord) -> None:
        self._digests[record.number] = record
        self._unhashed -= 1
        self._start_if_sealed()

    def exhausted(self) -> None:
        """The source has no more parts."""
        self._exhausted = True
        self._start_if_sealed()

    def _start_if_sealed(self) -> None:
        if self._exhausted and not self._unhashed and self._task is None:
            parts = [self._digests[n] for n in sorted(self._digests)]
            info = self._upload.expected_info(parts, self._size(), self._metadata)
            self._task = asyncio.ensure_future(self._hook(info))

    async def wait(self) -> None:
        """Wait for the hook (started by now: every part was sent, so hashed)."""
        assert self._task is not None, "waited on a seal before the source was exhausted"
        await self._task

    async def cancel(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


async def _send_parts(
    context: TransferContext,
    upload: MultipartUpload,
    parts: _PartSource,
    on_part: Callable[[PartRecord], None],
    seal: _Seal | None,
) -> None:
    """Send every part from ``parts`` concurrently within the window, then wait for the
    ``seal`` hook, if any; stop all on a failure."""
    inflight = InFlight(context)
    on_digest = seal.hashed if seal is not None else None

    async def send(number: int, data: bytes | FilePart) -> None:
        on_part(await upload.send(number, data, on_digest=on_digest))

    try:
        async for number, data in parts:
            await inflight.wait_for_room(len(data))
            if seal is not None:
                seal.sending()
            inflight.start(send(number, data), len(data))
        if seal is not None:
            seal.exhausted()
        await inflight.drain()
        if seal is not None:
            await seal.wait()
    except BaseException:
        await inflight.cancel()
        if seal is not None:
            await seal.cancel()
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
    keep: Callable[[BaseException], bool] = _resumable,
    on_sealed: SealHook | None = None,
) -> ObjectInfo:
    """Send, complete and verify; abort on failure unless the journal keeps it resumable
    (``keep(exc)`` says which failures do). With ``on_sealed``, complete only after it
    returned (see :class:`_Seal`); its failure aborts the upload like any other."""
    started = time.monotonic()
    seal = None if on_sealed is None else _Seal(on_sealed, upload, records, metadata, size)

    def on_part(record: PartRecord) -> None:
        records[record.number] = record
        if journal is not None:
            journal.changed()

    try:
        await _send_parts(context, upload, parts, on_part, seal)
        before_complete()
        ordered = [records[n] for n in sorted(records)]
        if [r.number for r in ordered] != list(range(1, len(ordered) + 1)):
            raise RuntimeError(f"parts missing before completion: {sorted(records)}")
        info = await upload.complete(ordered, size(), metadata)
    except BaseException as exc:
        if journal is not None and keep(exc):
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
    context: TransferContext,
    key: str,
    data: bytes,
    metadata: Mapping[str, str] | None,
    storage_class: str | None = None,
    *,
    tags: Mapping[str, str] | None = None,
    on_sealed: SealHook | None = None,
) -> ObjectInfo:
    """Store ``data`` (one PUT below the threshold, multipart above; see :func:`_one_put`)."""
    size = len(data)
    if _one_put(size, context.config.multipart_threshold, on_sealed):
        return await put_single(
            context, key, bytes(data), metadata, storage_class, tags=tags, on_sealed=on_sealed
        )
    part_size = context.part_size_for(size)
    view = memoryview(data)

    async def parts() -> _PartSource:
        for span in plan_parts(size, part_size):
            yield span.number, bytes(view[span.offset : span.offset + span.length])

    upload = MultipartUpload.starting(context, key, metadata, storage_class, tags=tags)
    return await _run(
        context, upload, parts(), {}, metadata, size=lambda: size, on_sealed=on_sealed
    )


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
    storage_class: str | None = None,
    *,
    tags: Mapping[str, str] | None = None,
    resume_state: Path | None = None,
    on_sealed: SealHook | None = None,
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
        if _one_put(size, context.config.multipart_threshold, on_sealed):
            if resumed is not None and resume_state is not None:
                # The threshold rose since: the old upload is not needed.
                await resumed[0].abort()
                remove_state(resume_state)
            data = await asyncio.to_thread(_read_exact, fd, 0, size)
            check()
            if data is None:
                raise _changed(context, key, path, "shrank")
            return await put_single(
                context, key, data, metadata, storage_class, tags=tags, on_sealed=on_sealed
            )
        if resumed is None and resume_state is None:
            upload = MultipartUpload.starting(context, key, metadata, storage_class, tags=tags)
            state = ResumeState(context.bucket, key, "", context.part_size_for(size), identity)
        elif resumed is None:
            upload = await MultipartUpload.create(
                context, key, metadata, storage_class=storage_class, tags=tags
            )
            state = ResumeState(
                context.bucket, key, upload.upload_id, context.part_size_for(size), identity
            )
        else:
            upload, state = resumed
        journal = None
        if resume_state is not None:
            journal = _Journal(state, resume_state)
            journal.save()

        def shrank() -> SourceChangedError:
            return _changed(context, key, path, "shrank")

        async def parts() -> _PartSource:
            pieces = (
                (span.number, FilePart(fd, span.offset, span.length, shrank))
                for span in plan_parts(size, state.part_size)
                if span.number not in state.parts
            )
            async for number, part in hashed_ahead(pieces):
                check()
                yield number, part

        try:
            return await _run(
                context,
                upload,
                parts(),
                state.parts,
                metadata,
                size=lambda: size,
                before_complete=check,
                journal=journal,
                on_sealed=on_sealed,
            )
        except SourceChangedError:
            raise
        except Exception:
            # A part read twice (hashed, then sent) may fail its checks because the
            # file changed in between: say so rather than report the symptom.
            check()
            raise
    finally:
        os.close(fd)


async def _parts_still_stored(
    context: TransferContext,
    key: str,
    upload: MultipartUpload,
    state: ResumeState,
    state_path: Path,
) -> dict[int, PartRecord] | None:
    """The recorded parts S3 still holds with the same ETag and size; ``None`` (and the state
    file removed) when the upload itself is gone, so the caller starts over."""
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
    return {
        number: record
        for number, record in state.parts.items()
        if stored.get(number) == (record.etag, record.size)
    }


async def _resume(
    context: TransferContext, key: str, state_path: Path, identity: SourceIdentity
) -> tuple[MultipartUpload, ResumeState] | None:
    """The upload to continue, with the parts S3 still holds intact; ``None`` to start over."""
    state = ResumeState.load(state_path, bucket=context.bucket, key=key)
    if state.source is None:
        raise ResumeStateError(
            f"resume state {str(state_path)!r} is for a stream upload, not a file",
            bucket=context.bucket,
            key=key,
        )
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
    kept = await _parts_still_stored(context, key, upload, state, state_path)
    if kept is None:
        return None
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


class _StreamCutter:
    """Cuts a stream into parts at fixed points: part ``n`` is
    ``stream_part_size(n, base)`` bytes (the last one shorter), so the same stream
    is cut the same way on every run."""

    __slots__ = ("_iterator", "buffer", "ended", "total")

    def __init__(self, stream: AsyncIterable[bytes]) -> None:
        self._iterator = aiter(stream)
        self.buffer = bytearray()
        self.ended = False
        self.total = 0
        """Bytes handed out as parts so far."""

    async def fill(self, size: int) -> None:
        """Buffer until ``size`` bytes are held or the stream ends."""
        while not self.ended and len(self.buffer) < size:
            try:
                self.buffer += await anext(self._iterator)
            except StopAsyncIteration:
                self.ended = True

    async def parts(self, base: int) -> AsyncGenerator[tuple[int, bytes], None]:
        number = 1
        while True:
            target = stream_part_size(number, base)
            await self.fill(target)
            if not self.buffer and self.ended and number > 1:
                return
            with memoryview(self.buffer) as view:
                data = bytes(view[:target])
            del self.buffer[:target]
            self.total += len(data)
            yield number, data
            number += 1
            if self.ended and not self.buffer:
                return


def _stream_changed(context: TransferContext, key: str, what: str) -> SourceChangedError:
    return SourceChangedError(
        f"resumed upload to s3://{context.bucket}/{key}: {what}; the stream is not the one "
        "the recorded parts came from, so the upload was aborted and nothing was stored",
        bucket=context.bucket,
        key=key,
    )


def _stream_resumable(exc: BaseException) -> bool:
    """A stream upload is kept on an interruption, including the stream's own failure;
    s3opt's fatal errors (a changed stream, a refused request) abort it."""
    return _resumable(exc) or not isinstance(exc, S3OptError)


async def upload_stream(
    context: TransferContext,
    key: str,
    stream: AsyncIterable[bytes],
    metadata: Mapping[str, str] | None,
    storage_class: str | None = None,
    *,
    tags: Mapping[str, str] | None = None,
    resume_state: Path | None = None,
    on_sealed: SealHook | None = None,
) -> ObjectInfo:
    """Store a stream of unknown length with memory bounded by the window plus one part.

    The first ``multipart_threshold`` bytes are buffered to decide: a stream
    that ends sooner takes one PUT (with ``on_sealed``, the first byte decides).
    Part sizes follow :func:`stream_part_size` (doubling every 800 parts so
    10,000 parts reach 5 TiB).

    With ``resume_state`` the part size is recorded with the parts: an
    interrupted upload (the stream failing, cancellation, S3 unavailable) is
    kept, and a later call with the same stream continues it. Recorded parts
    are not sent again once the stream yields the same bytes for them (same
    size and SHA-256); different bytes raise :class:`SourceChangedError` and
    abort the upload.
    """
    config = context.config
    cutter = _StreamCutter(stream)
    if on_sealed is None:
        first_part = stream_part_size(1, config.part_size_min)
        await cutter.fill(max(config.multipart_threshold, first_part))
    else:  # any byte means multipart (see _one_put): create the upload while the part fills
        await cutter.fill(1)
    if cutter.ended and _one_put(len(cutter.buffer), config.multipart_threshold, on_sealed):
        if resume_state is not None and resume_state.exists():
            await _forget_stream_upload(context, key, resume_state)
        return await put_single(
            context,
            key,
            bytes(cutter.buffer),
            metadata,
            storage_class,
            tags=tags,
            on_sealed=on_sealed,
        )
    if resume_state is None:
        upload = MultipartUpload.starting(context, key, metadata, storage_class, tags=tags)
        plain = cutter.parts(config.part_size_min)
        return await _run(
            context,
            upload,
            plain,
            {},
            metadata,
            size=lambda: cutter.total,
            on_sealed=on_sealed,
        )
    resumed = None
    if resume_state.exists():
        resumed = await _resume_stream(context, key, resume_state)
    if resumed is None:
        upload = await MultipartUpload.create(
            context, key, metadata, storage_class=storage_class, tags=tags
        )
        base = stream_part_size(1, config.part_size_min)
        state = ResumeState(context.bucket, key, upload.upload_id, base, None)
    else:
        upload, state = resumed
    journal = _Journal(state, resume_state)
    journal.save()
    recorded = dict(state.parts)

    async def parts() -> _PartSource:
        last = 0
        async for number, data in cutter.parts(state.part_size):
            last = number
            record = recorded.get(number)
            if record is None:
                yield number, data
                continue
            digest = await asyncio.to_thread(digest_part, data)
            if (len(data), digest.checksum_sha256) != (record.size, record.sha256):
                raise _stream_changed(context, key, f"part {number} differs from the recorded one")
            context.stats.parts_reused += 1
        if recorded and max(recorded) > last:
            raise _stream_changed(
                context, key, f"it ended at part {last}, {max(recorded)} were sent"
            )

    return await _run(
        context,
        upload,
        parts(),
        state.parts,
        metadata,
        size=lambda: cutter.total,
        journal=journal,
        keep=_stream_resumable,
        on_sealed=on_sealed,
    )


async def _resume_stream(
    context: TransferContext, key: str, state_path: Path
) -> tuple[MultipartUpload, ResumeState] | None:
    """The stream upload to continue with the parts S3 still holds; ``None`` to start over."""
    state = ResumeState.load(state_path, bucket=context.bucket, key=key)
    if state.source is not None:
        raise ResumeStateError(
            f"resume state {str(state_path)!r} is for a file upload, not a stream",
            bucket=context.bucket,
            key=key,
        )
    upload = MultipartUpload(context, key, state.upload_id)
    kept = await _parts_still_stored(context, key, upload, state, state_path)
    if kept is None:
        return None
    state.parts = kept
    _logger.info(
        "s3://%s/%s: resuming stream upload %s with %d recorded parts intact",
        context.bucket,
        key,
        state.upload_id,
        len(state.parts),
    )
    return upload, state


async def _forget_stream_upload(context: TransferContext, key: str, state_path: Path) -> None:
    """A stream now too short for multipart: abort its earlier upload (a changed stream if
    parts were recorded)."""
    state = ResumeState.load(state_path, bucket=context.bucket, key=key)
    await MultipartUpload(context, key, state.upload_id).abort()
    remove_state(state_path)
    if state.parts:
        raise _stream_changed(context, key, "it is now shorter than one part")
