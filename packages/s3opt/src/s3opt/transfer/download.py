"""Downloads: what they verify against, ranged GETs, and delivery in order to a stream.

File downloads (ranges written at their offsets) are :mod:`s3opt.transfer.file_download`;
both fetch every range through the store's limiter with ``If-Match`` on the ETag seen at
the start, so an object replaced mid-download fails loudly instead of yielding a mix of
two versions.

Verification: the size always; the ETag when it is an MD5 (single-part
objects) or an MD5 of part MD5s (multipart objects, whose part layout comes
from ``HEAD ?partNumber=1``, with every part's size asked for when the layout
is not uniform).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Final, TypeVar

from s3opt._requests import BODY_BYTES, BodySink, ResponseHook
from s3opt.errors import ChecksumMismatchError, ObjectChangedError, S3OptError
from s3opt.protocols import ObjectInfo, RestoreStatus
from s3opt.transfer.context import TransferContext
from s3opt.transfer.multipart import etag_is_md5, etag_of
from s3opt.transfer.reassembly import EtagHasher, ordered

__all__ = [
    "ObjectLayout",
    "describe",
    "fetch_range",
    "fetch_range_into",
    "info_from_head",
    "restore_status",
    "stream_object",
]

_logger = logging.getLogger(__name__)

_R = TypeVar("_R")

_LAYOUT_PROBES: Final = 8
"""HEAD ?partNumber=N requests in flight when a non-uniform part layout must be learned."""


@dataclass(frozen=True, slots=True)
class ObjectLayout:
    """What a download verifies against: size, ETag and (multipart) the part sizes."""

    size: int
    etag: str
    parts: tuple[int, ...] | None
    """Part sizes when the ETag is a multipart MD5 (uniform layout assumed first)."""
    md5_etag: bool
    """Whether the ETag is an MD5 (false for SSE-KMS / SSE-C objects)."""


_ONGOING: Final = re.compile(r'ongoing-request\s*=\s*"(true|false)"', re.IGNORECASE)
_EXPIRY: Final = re.compile(r'expiry-date\s*=\s*"([^"]+)"', re.IGNORECASE)


def restore_status(header: str | None) -> RestoreStatus | None:
    """Parse ``x-amz-restore`` (``ongoing-request="false", expiry-date="<RFC 1123 date>"``).

    S3 API Reference, HeadObject, "x-amz-restore". ``None`` without the header, or
    when it does not say whether the restore is ongoing.
    """
    if not header:
        return None
    ongoing = _ONGOING.search(header)
    if ongoing is None:
        _logger.debug("unrecognised x-amz-restore header %r", header)
        return None
    expiry = None
    found = _EXPIRY.search(header)
    if found is not None:
        try:
            expiry = parsedate_to_datetime(found.group(1))
        except (TypeError, ValueError):
            _logger.debug("unrecognised expiry-date in x-amz-restore %r", header)
    return RestoreStatus(ongoing=ongoing.group(1).lower() == "true", expiry=expiry)


def info_from_head(key: str, head: dict[str, Any]) -> ObjectInfo:
    """An :class:`ObjectInfo` from a ``head_object`` response (``key`` as the caller names it).

    S3 omits ``x-amz-storage-class`` for STANDARD objects: it is reported as ``"STANDARD"``.
    """
    checksum = None
    sha = head.get("ChecksumSHA256")
    kind = head.get("ChecksumType")
    # A composite (multipart) checksum is not a hash of the object's bytes; S3 says which
    # it is, and an object without a multipart ETag can only have a full-object one.
    if sha and (kind == "FULL_OBJECT" or (kind is None and "-" not in etag_of(head))):
        checksum = "sha256:" + base64.b64decode(sha).hex()
    return ObjectInfo(
        key=key,
        size=int(head.get("ContentLength", 0)),
        etag=etag_of(head),
        last_modified=head.get("LastModified"),
        storage_class=head.get("StorageClass") or "STANDARD",
        metadata=dict(head.get("Metadata") or {}),
        checksum=checksum,
        restore=restore_status(head.get("Restore")),
    )


def _uniform(size: int, part_size: int, count: int) -> tuple[int, ...] | None:
    if part_size <= 0 or count < 1 or not (part_size * (count - 1) < size <= part_size * count):
        return None
    return (part_size,) * (count - 1) + (size - part_size * (count - 1),)


async def describe(context: TransferContext, key: str) -> tuple[dict[str, Any], ObjectLayout]:
    """HEAD the object and learn its part layout (one more HEAD for multipart objects).

    Both HEADs go out together: a round trip saved on every multipart download (on a
    150 ms path, 3% of a 256 MiB transfer), one small extra request for a single-part
    object (whose answer is then not needed).
    """
    first_task = asyncio.ensure_future(context.call("head_object", key=key, PartNumber=1))
    try:
        head = await context.call("head_object", key=key)
    except BaseException:
        first_task.cancel()
        with contextlib.suppress(BaseException):
            await first_task
        raise
    size = int(head.get("ContentLength", 0))
    etag = etag_of(head)
    md5_etag = etag_is_md5(head)
    parts: tuple[int, ...] | None = None
    if not (md5_etag and "-" in etag):
        with contextlib.suppress(S3OptError):  # not needed: S3 may answer it any way
            await first_task
    else:
        first = await first_task
        count = int(first.get("PartsCount") or etag.rsplit("-", 1)[1])
        parts = _uniform(size, int(first.get("ContentLength", 0)), count)
        if parts is None:
            parts = await _probe_layout(context, key, count)
    return head, ObjectLayout(size, etag, parts, md5_etag)


async def _probe_layout(context: TransferContext, key: str, count: int) -> tuple[int, ...]:
    """Every part's size, one ``HEAD ?partNumber=N`` each (a few at a time)."""
    gate = asyncio.Semaphore(_LAYOUT_PROBES)

    async def size_of(number: int) -> int:
        async with gate:
            reply = await context.call("head_object", key=key, PartNumber=number)
            return int(reply.get("ContentLength", 0))

    return tuple(await asyncio.gather(*(size_of(n) for n in range(1, count + 1))))


async def fetch_range(
    context: TransferContext, key: str, offset: int, length: int, etag: str | None
) -> bytes:
    """``length`` bytes of ``key`` at ``offset`` through the limiter, checked for length."""
    if length <= 0:
        return b""
    reply = await _ranged_get(context, key, offset, length, etag, None)
    body = reply.get("Body", b"")
    if not isinstance(body, bytes) or len(body) != length:
        got = len(body) if isinstance(body, bytes) else type(body).__name__
        raise _short(context, key, offset, length, got)
    context.record_received(length)
    return body


async def fetch_range_into(
    context: TransferContext,
    key: str,
    offset: int,
    length: int,
    etag: str | None,
    sink: BodySink,
) -> None:
    """Stream ``length`` bytes of ``key`` at ``offset`` into ``sink`` (chunks as they
    arrive, offsets within the range; a retry restarts at 0), checked for length."""
    if length <= 0:
        return
    reply = await _ranged_get(context, key, offset, length, etag, sink)
    got = reply.get(BODY_BYTES)
    if got != length:
        raise _short(context, key, offset, length, got if isinstance(got, int) else repr(got))
    context.record_received(length)


async def _ranged_get(
    context: TransferContext,
    key: str,
    offset: int,
    length: int,
    etag: str | None,
    sink: BodySink | None,
    on_response: ResponseHook | None = None,
) -> dict[str, Any]:
    params: dict[str, Any] = {"Range": f"bytes={offset}-{offset + length - 1}"}
    if etag:
        params["IfMatch"] = f'"{etag}"'
    try:
        return await context.call(
            "get_object", key=key, nbytes=length, sink=sink, on_response=on_response, **params
        )
    except ObjectChangedError as exc:
        raise _changed(context, key, etag or "", exc.code) from exc


def _short(
    context: TransferContext, key: str, offset: int, length: int, got: int | str
) -> ChecksumMismatchError:
    """The error for a range that did not return ``length`` bytes."""
    return ChecksumMismatchError(
        f"download of s3://{context.bucket}/{key}: range at {offset} returned {got} bytes, "
        f"expected {length}",
        bucket=context.bucket,
        key=key,
    )


def _mismatch(layout: ObjectLayout, computed: str) -> bool:
    """Whether ``computed`` contradicts the layout's ETag (``False`` when it matches)."""
    return layout.md5_etag and computed != layout.etag


async def _true_layout(context: TransferContext, key: str, layout: ObjectLayout) -> ObjectLayout:
    """The layout with every part's size asked for (the uniform guess may have been wrong)."""
    count = len(layout.parts or ())
    if count == 0:
        return layout
    parts = await _probe_layout(context, key, count)
    return ObjectLayout(layout.size, layout.etag, parts, layout.md5_etag)


def _raise_mismatch(
    context: TransferContext, key: str, layout: ObjectLayout, computed: str
) -> None:
    raise ChecksumMismatchError(
        f"download of s3://{context.bucket}/{key}: the data's ETag {computed!r} does not "
        f"match S3's {layout.etag!r}",
        bucket=context.bucket,
        key=key,
    )


def _changed(
    context: TransferContext, key: str, etag: str, code: str | None = None
) -> ChecksumMismatchError:
    return ChecksumMismatchError(
        f"download of s3://{context.bucket}/{key}: the object changed during the "
        f"download (ETag is no longer {etag!r})",
        bucket=context.bucket,
        key=key,
        code=code,
    )


async def stream_object(context: TransferContext, key: str) -> AsyncIterator[bytes]:
    """The object's bytes in order, fetched with parallel ranged GETs and verified at the end.

    A mismatch is raised after the last chunk (the consumer has seen the data
    by then: treat the stream as failed, as with any truncated download).
    """
    started = time.monotonic()
    _, layout = await describe(context, key)
    ranges = context.download_ranges(layout.size)
    chunk = ranges[0][1] if ranges else 1
    hasher = EtagHasher(layout.parts) if layout.md5_etag else None
    if hasher is not None and "-" in layout.etag and layout.parts is None:
        hasher = None

    async def fetch(offset: int, length: int) -> bytes:
        return await fetch_range(context, key, offset, length, layout.etag)

    def ahead() -> int:
        return max(1, context.window_bytes(chunk) // chunk)

    delivered = 0
    chunks = ordered(ranges, fetch, ahead)
    try:
        async for data in chunks:
            if hasher is not None:
                hasher.update(data)
            delivered += len(data)
            yield data
    finally:
        await chunks.aclose()  # type: ignore[attr-defined]
    if delivered != layout.size:
        raise ChecksumMismatchError(
            f"download of s3://{context.bucket}/{key}: got {delivered} bytes, "
            f"expected {layout.size}",
            bucket=context.bucket,
            key=key,
        )
    if hasher is not None and _mismatch(layout, computed := hasher.etag()):
        if layout.parts is not None and (await _true_layout(context, key, layout)) != layout:
            _logger.warning(
                "s3://%s/%s: parts of unequal size; the streamed data's ETag cannot be checked",
                context.bucket,
                key,
            )
        else:
            _raise_mismatch(context, key, layout, computed)
    context.record_throughput("receive", delivered, started)
