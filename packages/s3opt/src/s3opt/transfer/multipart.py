"""One S3 multipart upload: create, send verified parts, complete and verify, or abort.

Every part travels with ``Content-MD5`` and ``x-amz-checksum-sha256``, both
of which S3 verifies before it stores the part (moto's server mode checks
neither; the ETag check below catches corruption there too). The ETag S3
returns for a part is the MD5 of the bytes it stored, so comparing it with the
MD5 of the bytes read proves the part arrived intact. The final object's
ETag is computed locally from the part MD5s (``md5(md5_1..md5_n)-n``) and
compared with the one CompleteMultipartUpload returns: equal ETags prove the
object is exactly the parts sent, in order, so its size is theirs. S3 checks
that size too (``x-amz-mp-object-size``, S3 API Reference,
CompleteMultipartUpload). An object that fails a check is deleted rather than
left looking complete.

Objects encrypted with SSE-KMS or SSE-C have ETags that are not MD5s; for
them only the SHA-256 checksums (verified by S3) and the size, read with a
HEAD, are checked. A HEAD also follows the completion of an upload resumed
from its ID, whose storage class this process did not choose.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import logging
import time
import urllib.parse
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

from s3opt.errors import ChecksumMismatchError, NoSuchUploadError, S3OptError
from s3opt.protocols import ObjectInfo, PartInfo, SealHook
from s3opt.transfer.bodies import FilePart, FilePartBody, PartBody
from s3opt.transfer.context import TransferContext
from s3opt.transfer.parts import PartDigest, digest_part, multipart_etag
from s3opt.transfer.resume import PartRecord

if TYPE_CHECKING:
    from types_aiobotocore_s3.type_defs import CompletedPartTypeDef

__all__ = [
    "CHECKSUM_ALGORITHM",
    "MultipartUpload",
    "etag_is_md5",
    "etag_of",
    "object_params",
    "part_info",
    "put_single",
    "tagging_header",
]

_logger = logging.getLogger(__name__)

CHECKSUM_ALGORITHM: Final = "SHA256"
"""The checksum every part carries (and S3 verifies); MD5 travels too, as Content-MD5."""

_ABORT_TIMEOUT: Final = 30.0


def etag_of(response: Mapping[str, Any]) -> str:
    """The ETag of a response without its quotes (``""`` when absent)."""
    return str(response.get("ETag") or "").strip('"')


def etag_is_md5(response: Mapping[str, Any]) -> bool:
    """Whether S3's ETag in ``response`` is an MD5 of the data (false under SSE-KMS / SSE-C)."""
    sse = str(response.get("ServerSideEncryption") or "")
    return not sse.startswith("aws:kms") and not response.get("SSECustomerAlgorithm")


def tagging_header(tags: Mapping[str, str]) -> str:
    """``x-amz-tagging``: the tag set as URL query parameters, every reserved byte
    percent-encoded (S3 API Reference, PutObject, "x-amz-tagging")."""
    return urllib.parse.urlencode(dict(tags), quote_via=urllib.parse.quote)


def object_params(
    metadata: Mapping[str, str] | None,
    storage_class: str | None,
    tags: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """What PutObject and CreateMultipartUpload carry about the object beyond its bytes."""
    params: dict[str, Any] = {"Metadata": dict(metadata)} if metadata else {}
    if storage_class is not None:
        params["StorageClass"] = storage_class
    if tags:
        params["Tagging"] = tagging_header(tags)
    return params


def part_info(record: PartRecord) -> PartInfo:
    """A part as :class:`ObjectInfo` reports it: its SHA-256 as ``"sha256:<hex>"``."""
    return PartInfo(record.number, record.size, "sha256:" + base64.b64decode(record.sha256).hex())


def _parts_etag(parts: list[PartRecord]) -> str:
    """The ETag S3 gives the object completed from ``parts`` when their ETags are MD5s
    (ValueError otherwise)."""
    return multipart_etag([bytes.fromhex(p.etag) for p in parts])


def _part_infos(parts: list[PartRecord]) -> tuple[PartInfo, ...]:
    """Every part's :class:`PartInfo`; none for server-side copies, which carry no checksums."""
    return tuple(part_info(p) for p in parts) if all(p.sha256 for p in parts) else ()


def _checksum_params(digest: PartDigest) -> dict[str, Any]:
    return {
        "ContentMD5": digest.content_md5,
        "ChecksumAlgorithm": CHECKSUM_ALGORITHM,
        "ChecksumSHA256": digest.checksum_sha256,
    }


def _check_etag(
    context: TransferContext, key: str, response: Mapping[str, Any], expected: str, what: str
) -> str:
    etag = etag_of(response)
    if etag_is_md5(response) and etag != expected:
        raise ChecksumMismatchError(
            f"{what} of s3://{context.bucket}/{key}: S3 stored ETag {etag!r}, "
            f"expected {expected!r} from the bytes sent",
            bucket=context.bucket,
            key=key,
        )
    return etag


async def put_single(
    context: TransferContext,
    key: str,
    data: bytes,
    metadata: Mapping[str, str] | None,
    storage_class: str | None = None,
    *,
    tags: Mapping[str, str] | None = None,
    on_sealed: SealHook | None = None,
) -> ObjectInfo:
    """Store ``data`` with one verified PUT (``key`` is the full S3 key); with ``on_sealed``,
    the PUT is sent once the hook, given the object's expected info, has returned.

    Counted like a multipart upload: its bytes in the transmit counter, its rate
    in the throughput metric."""
    started = time.monotonic()
    digest = await asyncio.to_thread(digest_part, data)
    expected = ObjectInfo(
        key=key,
        size=len(data),
        etag=digest.etag,
        storage_class=storage_class or "STANDARD",
        metadata=dict(metadata or {}),
        checksum=f"sha256:{digest.sha256.hex()}",
    )
    if on_sealed is not None:
        await on_sealed(expected)
    response = await context.call(
        "put_object",
        key=key,
        nbytes=len(data),
        Body=data,
        **_checksum_params(digest),
        **object_params(metadata, storage_class, tags),
    )
    etag = _check_etag(context, key, response, digest.etag, "PUT")
    context.record_sent(len(data))
    context.record_throughput("transmit", len(data), started)
    return dataclasses.replace(expected, etag=etag)


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Mark a background future's outcome as seen (no "never retrieved" warning)."""
    if not future.cancelled():
        future.exception()


class MultipartUpload:
    """A multipart upload in progress: ``upload_id`` on ``key`` in the context's bucket."""

    __slots__ = ("_context", "_pending", "key", "storage_class", "upload_id")

    def __init__(
        self,
        context: TransferContext,
        key: str,
        upload_id: str,
        *,
        storage_class: str | None = None,
    ) -> None:
        self._context = context
        self.key = key
        self.upload_id = upload_id
        self.storage_class = storage_class
        """The object's storage class when this process created the upload, else ``None``."""
        self._pending: asyncio.Future[MultipartUpload] | None = None

    @classmethod
    def starting(
        cls,
        context: TransferContext,
        key: str,
        metadata: Mapping[str, str] | None,
        storage_class: str | None = None,
        *,
        tags: Mapping[str, str] | None = None,
    ) -> MultipartUpload:
        """An upload whose CreateMultipartUpload is still on its way (one round trip).

        Parts are read and hashed meanwhile; :meth:`send` waits for the upload ID
        only when the part is ready to go, so the first parts leave a round trip
        sooner (150 ms on a far path). If the creation fails, every :meth:`send`
        raises its error and :meth:`abort` has nothing to abort. ``upload_id`` is
        ``""`` until :meth:`ready` has returned.
        """
        upload = cls(context, key, "", storage_class=storage_class or "STANDARD")
        upload._pending = asyncio.ensure_future(
            cls.create(context, key, metadata, storage_class=storage_class, tags=tags)
        )
        return upload

    async def ready(self) -> None:
        """Wait for the upload ID (at once unless built by :meth:`starting`)."""
        pending = self._pending
        if pending is None:
            return
        # Shielded: a cancelled sender must not cancel the creation the others share.
        created = await asyncio.shield(pending)
        self.upload_id = created.upload_id
        self._pending = None

    @classmethod
    async def create(
        cls,
        context: TransferContext,
        key: str,
        metadata: Mapping[str, str] | None,
        *,
        storage_class: str | None = None,
        tags: Mapping[str, str] | None = None,
        checksums: bool = True,
        **params: Any,
    ) -> MultipartUpload:
        """Start a multipart upload whose parts carry SHA-256 checksums (unless ``checksums``
        is false: server-side copies, whose parts never pass the client).

        ``metadata``, ``storage_class`` and ``tags`` belong to the object from here: a
        resumed upload keeps what it was created with."""
        if checksums:
            params["ChecksumAlgorithm"] = CHECKSUM_ALGORITHM
        response = await context.call(
            "create_multipart_upload",
            key=key,
            **params,
            **object_params(metadata, storage_class, tags),
        )
        upload_id = str(response["UploadId"])
        _logger.debug("s3://%s/%s: multipart upload %s", context.bucket, key, upload_id)
        return cls(context, key, upload_id, storage_class=storage_class or "STANDARD")

    async def send(
        self,
        number: int,
        data: bytes | FilePart,
        *,
        on_digest: Callable[[PartRecord], None] | None = None,
    ) -> PartRecord:
        """Upload part ``number``, verified; returns its record for the resume state.

        ``on_digest`` is told that record as soon as the part is hashed, before it is sent."""
        context = self._context
        body: PartBody | FilePartBody
        if isinstance(data, FilePart):
            digest = data.digested
            if digest is None:
                digest = await asyncio.to_thread(data.digest)
            body = data.body()
        else:
            digest = await asyncio.to_thread(digest_part, data)
            body = PartBody(data)
        record = PartRecord(number, len(data), digest.etag, digest.checksum_sha256)
        if on_digest is not None:
            on_digest(record)
        await self.ready()
        response = await context.call(
            "upload_part",
            key=self.key,
            nbytes=len(data),
            rewind=body,
            UploadId=self.upload_id,
            PartNumber=number,
            Body=body,
            **_checksum_params(digest),
        )
        _check_etag(context, self.key, response, digest.etag, f"part {number}")
        context.record_sent(len(data))
        return record

    async def list_parts(self) -> dict[int, tuple[str, int]]:
        """The parts S3 holds for this upload: number -> (ETag, size), all pages."""
        found: dict[int, tuple[str, int]] = {}
        marker: int | None = None
        while True:
            extra: dict[str, Any] = {} if marker is None else {"PartNumberMarker": marker}
            page = await self._context.call(
                "list_parts", key=self.key, UploadId=self.upload_id, **extra
            )
            for part in page.get("Parts") or ():
                found[int(part["PartNumber"])] = (etag_of(part), int(part["Size"]))
            if not page.get("IsTruncated"):
                return found
            next_marker = page.get("NextPartNumberMarker")
            if next_marker is None or int(next_marker) == marker:
                return found
            marker = int(next_marker)

    def expected_info(
        self, parts: list[PartRecord], size: int, metadata: Mapping[str, str] | None
    ) -> ObjectInfo:
        """What :meth:`complete` with ``parts`` (in order) will return when S3's ETags are
        MD5s (no SSE-KMS or SSE-C): the ETag computed from the parts' MD5s."""
        return ObjectInfo(
            key=self.key,
            size=size,
            etag=_parts_etag(parts),
            storage_class=self.storage_class,
            metadata=dict(metadata or {}),
            parts=_part_infos(parts),
        )

    async def complete(
        self, parts: list[PartRecord], size: int, metadata: Mapping[str, str] | None
    ) -> ObjectInfo:
        """Complete with ``parts`` (in order), then verify the object's ETag and size.

        The result lists every part (:attr:`ObjectInfo.parts`) with the SHA-256 S3 verified.
        Its ``last_modified`` is ``None`` (as after a single PUT) unless a HEAD was needed
        (see the module doc).
        """
        await self.ready()
        context = self._context
        try:
            expected: str | None = _parts_etag(parts)
        except ValueError:  # part ETags that are not MD5s (SSE-KMS): nothing to compare
            expected = None
        listing: list[CompletedPartTypeDef] = []
        for part in parts:
            entry: CompletedPartTypeDef = {"PartNumber": part.number, "ETag": f'"{part.etag}"'}
            if part.sha256:
                entry["ChecksumSHA256"] = part.sha256
            listing.append(entry)
        head: Mapping[str, Any] | None = None
        try:
            response = await context.call(
                "complete_multipart_upload",
                key=self.key,
                UploadId=self.upload_id,
                MultipartUpload={"Parts": listing},
                MpuObjectSize=size,
            )
        except NoSuchUploadError:
            # A retried complete whose first attempt succeeded: the object tells.
            response = head = await context.call("head_object", key=self.key)
        etag = etag_of(response)
        proven = expected is not None and etag_is_md5(response)
        if head is None and (not proven or self.storage_class is None):
            head = await context.call("head_object", key=self.key)
        problem = None
        if proven and etag != expected:
            problem = f"S3 has ETag {etag!r}, expected {expected!r} from the parts sent"
        elif head is not None and int(head.get("ContentLength", -1)) != size:
            problem = f"S3 has {head.get('ContentLength')} bytes, {size} were sent"
        elif sum(p.size for p in parts) != size:
            problem = f"the parts sent hold {sum(p.size for p in parts)} bytes, not {size}"
        if problem is not None:
            await self._delete_bad_object()
            raise ChecksumMismatchError(
                f"multipart upload of s3://{context.bucket}/{self.key}: {problem}; "
                "the object was deleted",
                bucket=context.bucket,
                key=self.key,
            )
        if head is None:
            last_modified, storage_class = None, self.storage_class
        else:
            last_modified = head.get("LastModified")
            storage_class = head.get("StorageClass") or "STANDARD"
        return ObjectInfo(
            key=self.key,
            size=size,
            etag=etag,
            last_modified=last_modified,
            storage_class=storage_class,
            metadata=dict(metadata or {}),
            parts=_part_infos(parts),
        )

    async def _delete_bad_object(self) -> None:
        try:
            await self._context.call("delete_object", key=self.key)
        except S3OptError as exc:
            _logger.warning(
                "could not delete unverified object s3://%s/%s: %s",
                self._context.bucket,
                self.key,
                exc,
            )

    async def abort(self) -> None:
        """Abort the upload so no part stays stored (and billed); already gone is fine.

        It runs to its end even if the caller is cancelled again meanwhile (an abort is
        what a cancellation runs, and a cancelled ``gather`` cancels its tasks once more):
        that cancellation is raised once the abort is done. It takes at most twice
        :data:`_ABORT_TIMEOUT` (the creation it waits for, then the abort).
        """
        abort = asyncio.ensure_future(self._abort())
        cancelled = False
        while not abort.done():
            try:
                await asyncio.shield(abort)
            except asyncio.CancelledError:
                cancelled = True
        if cancelled:
            raise asyncio.CancelledError
        abort.result()

    async def _abort(self) -> None:
        if self._pending is not None:
            try:
                async with asyncio.timeout(_ABORT_TIMEOUT):
                    await self.ready()
            except (S3OptError, TimeoutError):
                # Never created (its error is the transfer's), or still unknown after
                # the timeout: the pending creation is left to finish unobserved.
                self._pending.add_done_callback(_retrieve)
                return
        try:
            async with asyncio.timeout(_ABORT_TIMEOUT):
                await self._context.call(
                    "abort_multipart_upload", key=self.key, UploadId=self.upload_id
                )
        except NoSuchUploadError:
            pass
        except (S3OptError, TimeoutError) as exc:
            _logger.warning(
                "could not abort multipart upload %s of s3://%s/%s: %s (its parts stay "
                "until a lifecycle rule removes them)",
                self.upload_id,
                self._context.bucket,
                self.key,
                exc,
            )
        else:
            _logger.debug(
                "aborted multipart upload %s of s3://%s/%s",
                self.upload_id,
                self._context.bucket,
                self.key,
            )
