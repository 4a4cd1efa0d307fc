"""Server-side copy: ``CopyObject`` up to 5 GiB, a multipart ``UploadPartCopy`` above.

No object data passes the client. The source is pinned by
``x-amz-copy-source-if-match`` (CopyObject and UploadPartCopy's
``CopySourceIfMatch``) on the ETag seen at the start, so a source replaced
mid-copy fails instead of producing a mix; a failed multipart copy is aborted.
A caller may name the ETag itself (``source_if_match``): a source with another
ETag is then not copied at all and the copy raises :class:`ObjectChangedError`,
S3's 412 PreconditionFailed. The ETag the first HEAD sees is compared with it
too, so a changed source fails before any copy request; S3 checks the header
atomically on every request that reads the source (moto 5.2.5 ignores the
header, so against moto only the HEAD comparison holds).

What the copy carries (S3 API Reference, CopyObject, "x-amz-metadata-directive"):

* without new metadata: the source's user metadata and content headers
  (``MetadataDirective=COPY`` for the single request, given explicitly to
  CreateMultipartUpload for a multipart copy); the storage class is S3's default;
* with new metadata: exactly that user metadata (``MetadataDirective=REPLACE``,
  or CreateMultipartUpload's ``Metadata``). ``REPLACE`` resets every header it
  is not given, so the source's content headers (Content-Type and kin) and its
  storage class are given back explicitly. Copying an object onto itself this way
  changes its metadata without moving its bytes.

Tags: CopyObject copies them (``x-amz-tagging-directive`` defaults to ``COPY``);
a multipart copy reads them (GetObjectTagging) and gives them to
CreateMultipartUpload.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

from s3opt.errors import ChecksumMismatchError, ObjectChangedError, S3OptError
from s3opt.protocols import ObjectInfo
from s3opt.transfer.cold import object_tags
from s3opt.transfer.context import InFlight, TransferContext
from s3opt.transfer.download import info_from_head
from s3opt.transfer.multipart import MultipartUpload, etag_of, object_params
from s3opt.transfer.parts import MAX_PUT_SIZE, choose_part_size, plan_parts
from s3opt.transfer.resume import PartRecord

__all__ = ["copy_object"]

_logger = logging.getLogger(__name__)

CONTENT_HEADERS: Final = (
    "CacheControl",
    "ContentDisposition",
    "ContentEncoding",
    "ContentLanguage",
    "ContentType",
)
"""The HEAD fields a copy with new user metadata keeps from its source (REPLACE would
drop them)."""


def _content_headers(head: Mapping[str, Any]) -> dict[str, Any]:
    return {name: head[name] for name in CONTENT_HEADERS if head.get(name)}


def _kept_storage_class(head: Mapping[str, Any]) -> str | None:
    """The source's storage class to give a REPLACE copy (HEAD omits STANDARD)."""
    found = head.get("StorageClass")
    return str(found) if found else None


def _pinned(context: TransferContext, src: str, etag: str) -> dict[str, Any]:
    return {"CopySource": {"Bucket": context.bucket, "Key": src}, "CopySourceIfMatch": f'"{etag}"'}


def _not_that_source(
    context: TransferContext, src: str, dst: str, wanted: str, found: str
) -> ObjectChangedError:
    return ObjectChangedError(
        f"copy s3://{context.bucket}/{src} -> {dst}: the source's ETag is {found}, "
        f"not {wanted!r}; nothing was copied",
        bucket=context.bucket,
        key=src,
        code="PreconditionFailed",
    )


def _source_changed(
    context: TransferContext, src: str, dst: str, exc: S3OptError, wanted: str | None
) -> Exception:
    if isinstance(exc, ObjectChangedError) and wanted is not None:
        return _not_that_source(context, src, dst, wanted, "another one")
    if isinstance(exc, ObjectChangedError):
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
    metadata: Mapping[str, str] | None = None,
    source_if_match: str | None = None,
    multipart_threshold: int = MAX_PUT_SIZE + 1,
    part_size: int | None = None,
) -> ObjectInfo:
    """Copy ``src`` to ``dst`` (full keys) in the context's bucket; returns ``dst``'s info.

    ``metadata``: ``None`` keeps the source's, a mapping replaces it (see the
    module doc). ``source_if_match``: copy only the source with this ETag, else
    :class:`ObjectChangedError`. Objects of ``multipart_threshold`` bytes or more
    (default: above S3's 5 GiB CopyObject limit) are copied in parts of
    ``part_size`` (default from the object size) through the limiter.
    """
    head = await context.call("head_object", key=src)
    size = int(head.get("ContentLength", 0))
    etag = etag_of(head)
    wanted = None if source_if_match is None else source_if_match.strip('"')
    if wanted is not None and etag != wanted:
        raise _not_that_source(context, src, dst, wanted, repr(etag))
    if size >= multipart_threshold:
        return await _copy_parts(context, src, dst, head, metadata, part_size, wanted)
    if metadata is None:
        params: dict[str, Any] = {"MetadataDirective": "COPY"}
    else:
        params = {
            "MetadataDirective": "REPLACE",
            # Metadata={} must still be sent: REPLACE with no metadata clears it.
            "Metadata": dict(metadata),
            **_content_headers(head),
            **object_params(None, _kept_storage_class(head)),
        }
    try:
        await context.call("copy_object", key=dst, **params, **_pinned(context, src, etag))
    except S3OptError as exc:
        raise _source_changed(context, src, dst, exc, wanted) from exc
    return info_from_head(dst, await context.call("head_object", key=dst))


async def _copy_parts(
    context: TransferContext,
    src: str,
    dst: str,
    head: dict[str, Any],
    new_metadata: Mapping[str, str] | None,
    part_size: int | None,
    wanted: str | None,
) -> ObjectInfo:
    size = int(head.get("ContentLength", 0))
    etag = etag_of(head)
    if part_size is None:
        config = context.config
        part_size = choose_part_size(
            size, min_part=config.part_size_min, max_part=config.part_size_max
        )
    if new_metadata is None:
        metadata = dict(head.get("Metadata") or {})
        storage_class = None
    else:
        metadata = dict(new_metadata)
        storage_class = _kept_storage_class(head)
    upload = await MultipartUpload.create(
        context,
        dst,
        metadata,
        storage_class=storage_class,
        tags=await object_tags(context, src),
        checksums=False,
        **_content_headers(head),
    )
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
            raise _source_changed(context, src, dst, exc, wanted) from exc
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
