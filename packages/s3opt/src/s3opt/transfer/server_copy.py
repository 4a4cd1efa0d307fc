"""Server-side copy: ``CopyObject`` up to 5 GiB, a multipart ``UploadPartCopy`` above.

No object data passes the client. The source is pinned by ``If-Match`` on
the ETag seen at the start, so a source replaced mid-copy fails instead of
producing a mix; a failed multipart copy is aborted. Metadata and content
type are carried over (``MetadataDirective=COPY`` for the single request,
copied explicitly into the multipart upload).
"""

from __future__ import annotations

import logging
from typing import Any

from s3opt.errors import ChecksumMismatchError, S3OptError
from s3opt.protocols import ObjectInfo
from s3opt.transfer.context import InFlight, TransferContext
from s3opt.transfer.download import info_from_head
from s3opt.transfer.multipart import MultipartUpload, etag_of
from s3opt.transfer.parts import MAX_PUT_SIZE, choose_part_size, plan_parts
from s3opt.transfer.resume import PartRecord

__all__ = ["copy_object"]

_logger = logging.getLogger(__name__)


def _pinned(context: TransferContext, src: str, etag: str) -> dict[str, Any]:
    return {"CopySource": {"Bucket": context.bucket, "Key": src}, "CopySourceIfMatch": f'"{etag}"'}


def _source_changed(context: TransferContext, src: str, dst: str, exc: S3OptError) -> Exception:
    if exc.code == "PreconditionFailed":
        return ChecksumMismatchError(
            f"copy s3://{context.bucket}/{src} -> {dst}: the source changed during the copy",
            bucket=context.bucket,
            key=src,
            code=exc.code,
        )
    return exc


async def copy_object(
    context: TransferContext,
    src: str,
    dst: str,
    *,
    multipart_threshold: int = MAX_PUT_SIZE + 1,
    part_size: int | None = None,
) -> ObjectInfo:
    """Copy ``src`` to ``dst`` (full keys) in the context's bucket; returns ``dst``'s info.

    Objects of ``multipart_threshold`` bytes or more (default: above S3's
    5 GiB CopyObject limit) are copied in parts of ``part_size`` (default
    from the object size) through the limiter.
    """
    head = await context.call("head_object", key=src)
    size = int(head.get("ContentLength", 0))
    etag = etag_of(head)
    if size < multipart_threshold:
        try:
            await context.call(
                "copy_object", key=dst, MetadataDirective="COPY", **_pinned(context, src, etag)
            )
        except S3OptError as exc:
            raise _source_changed(context, src, dst, exc) from exc
        return info_from_head(dst, await context.call("head_object", key=dst))
    return await _copy_parts(context, src, dst, head, part_size)


async def _copy_parts(
    context: TransferContext, src: str, dst: str, head: dict[str, Any], part_size: int | None
) -> ObjectInfo:
    size = int(head.get("ContentLength", 0))
    etag = etag_of(head)
    if part_size is None:
        config = context.config
        part_size = choose_part_size(
            size, min_part=config.part_size_min, max_part=config.part_size_max
        )
    metadata = dict(head.get("Metadata") or {})
    extra: dict[str, Any] = {}
    if head.get("ContentType"):
        extra["ContentType"] = head["ContentType"]
    upload = await MultipartUpload.create(context, dst, metadata, checksums=False, **extra)
    records: dict[int, PartRecord] = {}
    inflight = InFlight(context)

    async def one(number: int, offset: int, length: int) -> None:
        try:
            reply = await context.call(
                "upload_part_copy",
                key=dst,
                nbytes=length,
                UploadId=upload.upload_id,
                PartNumber=number,
                CopySourceRange=f"bytes={offset}-{offset + length - 1}",
                **_pinned(context, src, etag),
            )
        except S3OptError as exc:
            raise _source_changed(context, src, dst, exc) from exc
        part_etag = etag_of(reply.get("CopyPartResult") or {})
        records[number] = PartRecord(number, length, part_etag, "")

    try:
        for span in plan_parts(size, part_size):
            await inflight.wait_for_room(span.length)
            inflight.start(one(span.number, span.offset, span.length), span.length)
        await inflight.drain()
        ordered = [records[n] for n in sorted(records)]
        info = await upload.complete(ordered, size, metadata)
    except BaseException:
        await inflight.cancel()
        await upload.abort()
        raise
    _logger.debug("copied s3://%s/%s -> %s in %d parts", context.bucket, src, dst, len(records))
    return info
