"""``S3Store``: the :class:`~s3opt.protocols.ObjectStore` on S3, steered by one limiter.

::

    async with S3Store.open("s3://bucket/prefix", config) as store:
        await store.upload("big.bin", Path("big.bin"))
        async for chunk in store.get("big.bin"):
            ...

Every request goes through one :class:`s3opt._requests.Requester` (retries,
timeouts, the endpoint's circuit breaker, metrics). Data operations (PUTs,
parts, ranged GETs, part copies) also go through the store's one
:class:`netalgo.limiter.Limiter`, so all transfers of a store share its
congestion state. Metadata requests (HEAD, LIST, DELETE) and
:meth:`S3Store.get_range` skip the limiter: they carry no bulk data, and a
random read must not queue behind a window of part uploads. The HTTP pool
has ``config.max_connections`` connections; the limiter may use all but a
few of them, the rest being kept for those requests (STYLE.md: a pool
smaller than the limiter's ceiling queues requests in aiohttp and distorts
the RTT samples).

Keys are relative to the URL's prefix (``s3://b/data`` and ``s3://b/data/``
both put key ``x`` at ``data/x``).
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from netalgo.limiter import Limiter
from s3opt._aws import open_endpoints
from s3opt._requests import Fallback, Requester
from s3opt.config import S3Config
from s3opt.control import initial_window, make_limiter
from s3opt.errors import AccessDeniedError, NoSuchKeyError, ObjectChangedError, S3OptError
from s3opt.health import EndpointHealth
from s3opt.protocols import (
    CommonPrefix,
    ObjectInfo,
    PartInfo,
    SealHook,
    Source,
    check_key,
    check_storage_class,
    check_tags,
)
from s3opt.transfer.cold import (
    lifecycle_rules,
    object_tags,
    part_checksums,
    put_lifecycle_rules,
    request_restore,
)
from s3opt.transfer.context import TransferContext, TransferStats
from s3opt.transfer.download import info_from_head, stream_object
from s3opt.transfer.file_download import download_file
from s3opt.transfer.multipart import MultipartUpload, etag_of, put_single
from s3opt.transfer.parts import MAX_PUT_SIZE
from s3opt.transfer.server_copy import copy_object
from s3opt.transfer.upload import upload_bytes, upload_file, upload_stream
from s3opt.url import S3Url, parse_url

if TYPE_CHECKING:
    from types_aiobotocore_s3.type_defs import DeleteTypeDef

    from opsmetrics import Metrics

__all__ = ["DELETE_BATCH", "PendingUpload", "S3Store"]

_logger = logging.getLogger(__name__)

DELETE_BATCH: Final = 1000
"""Keys per DeleteObjects request: S3's maximum."""


@dataclass(frozen=True, slots=True)
class PendingUpload:
    """A multipart upload started and neither completed nor aborted (its parts are billed)."""

    key: str
    upload_id: str
    initiated: datetime | None


def _health(endpoint: str, config: S3Config) -> EndpointHealth:
    return EndpointHealth(
        endpoint, failure_threshold=config.circuit_failures, cooldown=config.circuit_cooldown
    )


def _reserved_connections(max_connections: int) -> int:
    """Connections kept from the limiter for metadata requests and random reads."""
    return min(4, max_connections // 8)


class S3Store:
    """An object store on one S3 bucket and prefix. Build it with :meth:`S3Store.open`.

    Satisfies :class:`s3opt.ObjectStore` and :class:`s3opt.ColdStorage`.
    """

    def __init__(self, url: S3Url, config: S3Config, context: TransferContext) -> None:
        self._url = url
        self._config = config
        self._context = context
        key = url.key
        self._prefix = key if not key or key.endswith("/") else key + "/"

    @classmethod
    def open(
        cls,
        url: S3Url | str,
        config: S3Config | None = None,
        *,
        metrics: Metrics | None = None,
    ) -> AbstractAsyncContextManager[S3Store]:
        """``async with S3Store.open("s3://bucket/prefix", config) as store:``.

        ``config`` defaults to :meth:`S3Config.from_env`. A malformed URL raises
        :class:`s3opt.errors.InvalidS3UrlError` before anything is opened.
        """
        parsed = parse_url(url) if isinstance(url, str) else url
        if not isinstance(parsed, S3Url):
            raise ValueError(f"S3Store needs an s3:// URL, got {url!r}")
        return cls._open(parsed, config if config is not None else S3Config.from_env(), metrics)

    @classmethod
    @asynccontextmanager
    async def _open(
        cls, url: S3Url, config: S3Config, metrics: Metrics | None
    ) -> AsyncIterator[S3Store]:
        limiter = make_limiter(
            config.controller,
            part_size=config.part_size_min,
            max_ops=max(1, config.max_connections - _reserved_connections(config.max_connections)),
            initial_window=initial_window(config.part_size_min),
        )
        async with open_endpoints(config, bucket=url.bucket) as endpoints:
            fallback = None
            if endpoints.fallback is not None and endpoints.fallback_endpoint is not None:
                fallback = Fallback(
                    endpoints.fallback, _health(endpoints.fallback_endpoint, config)
                )
            requester = Requester(
                endpoints.primary,
                config,
                health=_health(endpoints.primary_endpoint, config),
                fallback=fallback,
                metrics=metrics,
            )
            context = TransferContext(requester, limiter, url.bucket, config, metrics)
            yield cls(url, config, context)

    # -- what the store is -----------------------------------------------------------------

    @property
    def url(self) -> S3Url:
        return self._url

    @property
    def bucket(self) -> str:
        return self._url.bucket

    @property
    def config(self) -> S3Config:
        return self._config

    @property
    def limiter(self) -> Limiter:
        """The store's limiter: its congestion state, shared by all its transfers."""
        return self._context.limiter

    @property
    def stats(self) -> TransferStats:
        """Running totals: parts sent and reused, ranges received, bytes each way."""
        return self._context.stats

    def _full(self, key: str) -> str:
        check_key(key, where=str(self))
        return check_key(self._prefix + key, where=str(self))

    def _relative(self, info: ObjectInfo) -> ObjectInfo:
        return replace(info, key=info.key[len(self._prefix) :])

    def __repr__(self) -> str:
        return f"S3Store({str(self._url)!r}, controller={self._config.controller!r})"

    def __str__(self) -> str:
        """The store's URL, ``s3://bucket/prefix``: how messages name it."""
        return str(self._url)

    # -- reads -----------------------------------------------------------------------------

    @contextmanager
    def _keys_as_given(self) -> Iterator[None]:
        """Make a :class:`NoSuchKeyError` or :class:`ObjectChangedError` name the key as the
        caller did (relative to the store's prefix, as LocalStore's do); its message keeps
        the full ``s3://`` URL."""
        try:
            yield
        except (NoSuchKeyError, ObjectChangedError) as exc:
            if exc.key is not None and exc.key.startswith(self._prefix):
                exc.key = exc.key[len(self._prefix) :]
            raise

    async def _chunks_as_given(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        with self._keys_as_given():
            async for chunk in chunks:
                yield chunk

    async def head(self, key: str) -> ObjectInfo:
        """Size, ETag, metadata (and a full-object SHA-256 when S3 keeps one)."""
        with self._keys_as_given():
            reply = await self._context.call(
                "head_object", key=self._full(key), ChecksumMode="ENABLED"
            )
        return info_from_head(key, reply)

    async def get_range(
        self, key: str, offset: int, size: int, *, if_match: str | None = None
    ) -> bytes:
        """``size`` bytes from ``offset`` in one request (fewer at the end, none past it).

        ``if_match``: an ETag (:attr:`ObjectInfo.etag`) sent as ``If-Match``; S3 answers
        412 once the object has another, raised as :class:`ObjectChangedError` (not
        retried).
        """
        if offset < 0 or size < 0:
            raise ValueError(f"offset and size must be >= 0, got {offset} and {size}")
        if size == 0:
            return b""
        full = self._full(key)
        params: dict[str, Any] = {"Range": f"bytes={offset}-{offset + size - 1}"}
        if if_match is not None:
            params["IfMatch"] = f'"{if_match.strip(chr(34))}"'
        try:
            with self._keys_as_given():
                reply = await self._context.call("get_object", key=full, **params)
        except S3OptError as exc:
            if exc.code == "InvalidRange":
                return b""
            raise
        body: bytes = reply.get("Body", b"")
        self._context.record_received(len(body))
        return body

    def get(self, key: str) -> AsyncIterator[bytes]:
        """The object in order, from parallel ranged GETs, ETag-verified at the end."""
        return self._chunks_as_given(stream_object(self._context, self._full(key)))

    async def download(self, key: str, path: Path | str) -> ObjectInfo:
        """Fetch ``key`` into ``path`` atomically: written beside it, verified, renamed."""
        with self._keys_as_given():
            info = await download_file(self._context, self._full(key), Path(path))
        return replace(info, key=key)

    # -- writes ----------------------------------------------------------------------------

    async def put(
        self,
        key: str,
        data: bytes,
        *,
        metadata: Mapping[str, str] | None = None,
        storage_class: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> ObjectInfo:
        """One verified PUT (up to 5 GiB; use :meth:`upload` for anything large).

        ``storage_class`` (one of :data:`s3opt.protocols.STORAGE_CLASSES`) is sent as
        ``x-amz-storage-class``; ``None`` leaves S3's default, STANDARD. ``tags`` are
        sent as ``x-amz-tagging`` (checked first: :func:`s3opt.protocols.check_tags`).
        """
        full = self._full(key)
        if storage_class is not None:
            check_storage_class(storage_class)
        if tags is not None:
            tags = check_tags(tags, key=key)
        if len(data) > MAX_PUT_SIZE:
            raise ValueError(
                f"put s3://{self.bucket}/{full}: {len(data)} bytes exceeds S3's 5 GiB single-PUT "
                "limit; use upload()"
            )
        info = await put_single(
            self._context, full, bytes(data), metadata, storage_class, tags=tags
        )
        return self._relative(info)

    async def upload(
        self,
        key: str,
        source: Source,
        *,
        metadata: Mapping[str, str] | None = None,
        storage_class: str | None = None,
        tags: Mapping[str, str] | None = None,
        resume_state: Path | None = None,
        on_sealed: SealHook | None = None,
    ) -> ObjectInfo:
        """Store ``source`` (bytes, a file, or an async stream): one PUT or a multipart upload.

        With ``resume_state`` (a file path; ``source`` a :class:`Path` or an async
        stream) an interrupted upload keeps its parts and records them there;
        calling again with the same arguments continues it. A stream must yield the
        same bytes again: recorded parts are checked by SHA-256 and not resent, and
        a difference raises :class:`s3opt.errors.SourceChangedError` (nothing is
        stored). The state file is removed on success. See :mod:`s3opt.transfer.upload`.

        ``tags`` (checked first, as by :meth:`put`) travel on PutObject or
        CreateMultipartUpload: a resumed upload keeps the metadata, storage class
        and tags it was started with.

        ``on_sealed`` (see :meth:`s3opt.protocols.ObjectStore.upload`) gets the expected
        info with the key as given; its ETag is the MD5 kind, which SSE-KMS and SSE-C
        objects do not have.
        """
        full = self._full(key)
        if storage_class is not None:
            check_storage_class(storage_class)
        if tags is not None:
            tags = check_tags(tags, key=key)
        context = self._context
        hook = None
        if on_sealed is not None:
            given = on_sealed

            async def hook(info: ObjectInfo) -> None:
                await given(self._relative(info))

        if isinstance(source, Path):
            info = await upload_file(
                context,
                full,
                source,
                metadata,
                storage_class,
                tags=tags,
                resume_state=resume_state,
                on_sealed=hook,
            )
        elif isinstance(source, AsyncIterable):
            info = await upload_stream(
                context,
                full,
                source,
                metadata,
                storage_class,
                tags=tags,
                resume_state=resume_state,
                on_sealed=hook,
            )
        elif resume_state is not None:
            raise ValueError("resume_state needs a local file (a Path) or a stream as the source")
        elif isinstance(source, bytes | bytearray | memoryview):
            info = await upload_bytes(
                context, full, bytes(source), metadata, storage_class, tags=tags, on_sealed=hook
            )
        else:
            raise TypeError(
                f"upload source must be bytes, a Path or an async iterable of bytes, "
                f"got {type(source).__name__}"
            )
        return self._relative(info)

    async def copy(
        self,
        src_key: str,
        dst_key: str,
        *,
        metadata: Mapping[str, str] | None = None,
        source_if_match: str | None = None,
        multipart_threshold: int | None = None,
        part_size: int | None = None,
    ) -> ObjectInfo:
        """Server-side copy; multipart at ``multipart_threshold`` bytes (default: above 5 GiB).

        ``metadata=None`` copies the source's user metadata (``MetadataDirective=COPY``);
        a mapping replaces it (``REPLACE``) and keeps the source's Content-Type and
        storage class. ``store.copy(key, key, metadata=...)`` changes an object's
        metadata in place without sending its bytes. ``source_if_match`` copies only
        the source with that ETag, else :class:`ObjectChangedError` (sent as
        ``x-amz-copy-source-if-match`` on every request that reads the source). See
        :mod:`s3opt.transfer.server_copy`.
        """
        kwargs: dict[str, Any] = {
            "metadata": metadata,
            "source_if_match": source_if_match,
            "part_size": part_size,
        }
        if multipart_threshold is not None:
            kwargs["multipart_threshold"] = multipart_threshold
        with self._keys_as_given():
            info = await copy_object(
                self._context, self._full(src_key), self._full(dst_key), **kwargs
            )
        return self._relative(info)

    async def delete(self, keys: Iterable[str]) -> None:
        """Delete ``keys`` in batches of 1,000; absent keys are fine, refusals raise.

        A key S3 refuses to delete raises (after every batch was tried) a typed
        error naming the first such key and how many there were.
        """
        batch: builtins.list[str] = []
        failures: builtins.list[tuple[str, str, str]] = []
        for key in keys:
            batch.append(self._full(key))
            if len(batch) == DELETE_BATCH:
                failures += await self._delete_batch(batch)
                batch = []
        if batch:
            failures += await self._delete_batch(batch)
        if failures:
            key, code, message = failures[0]
            more = f" (and {len(failures) - 1} more keys)" if len(failures) > 1 else ""
            text = f"delete s3://{self.bucket}/{key}: {code}: {message}{more}"
            if code == "AccessDenied":
                raise AccessDeniedError(text, bucket=self.bucket, key=key, code=code)
            raise S3OptError(text, bucket=self.bucket, key=key, code=code)

    async def _delete_batch(self, keys: builtins.list[str]) -> builtins.list[tuple[str, str, str]]:
        delete: DeleteTypeDef = {"Objects": [{"Key": k} for k in keys], "Quiet": True}
        reply = await self._context.call("delete_objects", key=None, Delete=delete)
        return [
            (str(e.get("Key", "")), str(e.get("Code", "")), str(e.get("Message", "")))
            for e in reply.get("Errors") or ()
        ]

    # -- listings --------------------------------------------------------------------------

    async def _pages(
        self, prefix: str, page_size: int | None, **params: Any
    ) -> AsyncIterator[dict[str, Any]]:
        if page_size is not None:
            if page_size < 1:
                raise ValueError(f"page_size must be >= 1, got {page_size}")
            params["MaxKeys"] = page_size
        token: str | None = None
        while True:
            extra: dict[str, Any] = {"ContinuationToken": token} if token else {}
            page = await self._context.call(
                "list_objects_v2", key=None, Prefix=self._prefix + prefix, **params, **extra
            )
            yield page
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return

    def _listed(self, item: Mapping[str, Any]) -> ObjectInfo:
        return ObjectInfo(
            key=str(item["Key"])[len(self._prefix) :],
            size=int(item.get("Size", 0)),
            etag=etag_of(item),
            last_modified=item.get("LastModified"),
            storage_class=item.get("StorageClass"),
        )

    async def list(
        self, prefix: str = "", *, page_size: int | None = None
    ) -> AsyncIterator[ObjectInfo]:
        """Every object under ``prefix``, in key order, page by page (``page_size`` keys each,
        S3's default 1,000 when ``None``)."""
        async for page in self._pages(prefix, page_size):
            for item in page.get("Contents") or ():
                yield self._listed(item)

    async def list_dir(
        self, prefix: str = "", *, page_size: int | None = None
    ) -> AsyncIterator[ObjectInfo | CommonPrefix]:
        """One level under ``prefix``: objects and sub-prefixes (ending in ``/``), in key order.

        A "directory marker" object named exactly like a ``prefix`` ending in ``/`` is the
        directory itself and is left out (:meth:`list` keeps it).
        """
        async for page in self._pages(prefix, page_size, Delimiter="/"):
            entries: builtins.list[tuple[str, ObjectInfo | CommonPrefix]] = []
            for item in page.get("Contents") or ():
                info = self._listed(item)
                if not (prefix.endswith("/") and info.key == prefix):
                    entries.append((info.key, info))
            for common in page.get("CommonPrefixes") or ():
                name = str(common["Prefix"])[len(self._prefix) :]
                entries.append((name, CommonPrefix(name)))
            entries.sort(key=lambda entry: entry[0])
            for _, entry in entries:
                yield entry

    # -- cold storage (the ColdStorage Protocol) -------------------------------------------

    async def request_restore(self, key: str, *, days: int, tier: str) -> bool:
        """Restore an archived object for ``days`` days at ``tier`` (RestoreObject).

        ``tier``: ``"Expedited"``, ``"Standard"`` or ``"Bulk"``
        (:class:`s3opt.errors.InvalidRestoreTierError` otherwise). ``True`` when S3
        accepted a request now (a new restore, or a new expiry for a copy already
        restored), ``False`` when a restore is already under way;
        :class:`s3opt.errors.InvalidObjectStateError` for an object not in GLACIER or
        DEEP_ARCHIVE. Watch :attr:`ObjectInfo.restore` from :meth:`head` for the end.
        """
        with self._keys_as_given():
            return await request_restore(self._context, self._full(key), days=days, tier=tier)

    async def part_checksums(self, key: str) -> tuple[PartInfo, ...]:
        """The parts of a multipart object and the SHA-256 S3 verified for each.

        ``()`` for a single-PUT object (compare :attr:`ObjectInfo.checksum` from
        :meth:`head` instead); :class:`s3opt.errors.ChecksumUnavailableError` for a
        multipart object S3 lists no part SHA-256s for.
        """
        with self._keys_as_given():
            return await part_checksums(self._context, self._full(key))

    async def lifecycle_rules(self) -> builtins.list[dict[str, Any]]:
        """The bucket's lifecycle rules in the S3 API's shape (``[]`` when it has none).

        Rules belong to the whole bucket: their ``Filter`` prefixes are full keys,
        not relative to this store's prefix (``store.url.key``).
        """
        return await lifecycle_rules(self._context)

    async def put_lifecycle_rules(self, rules: Sequence[Mapping[str, Any]]) -> None:
        """Make ``rules`` the bucket's whole lifecycle configuration; ``[]`` deletes it.

        Rules already there and not in ``rules`` are gone afterwards: read them with
        :meth:`lifecycle_rules` first to change one.
        """
        await put_lifecycle_rules(self._context, rules)

    async def object_tags(self, key: str) -> dict[str, str]:
        """The object's tag set (GetObjectTagging; ``{}`` when it has none);
        :class:`s3opt.errors.NoSuchKeyError` if ``key`` does not exist."""
        with self._keys_as_given():
            return await object_tags(self._context, self._full(key))

    # -- multipart housekeeping ------------------------------------------------------------

    async def pending_uploads(self, prefix: str = "") -> builtins.list[PendingUpload]:
        """Multipart uploads under ``prefix`` neither completed nor aborted (all pages)."""
        found: builtins.list[PendingUpload] = []
        markers: dict[str, Any] = {}
        while True:
            page = await self._context.call(
                "list_multipart_uploads", key=None, Prefix=self._prefix + prefix, **markers
            )
            for item in page.get("Uploads") or ():
                found.append(
                    PendingUpload(
                        str(item["Key"])[len(self._prefix) :],
                        str(item["UploadId"]),
                        item.get("Initiated"),
                    )
                )
            if not page.get("IsTruncated"):
                return found
            markers = {
                "KeyMarker": page.get("NextKeyMarker", ""),
                "UploadIdMarker": page.get("NextUploadIdMarker", ""),
            }

    async def abort_upload(self, key: str, upload_id: str) -> None:
        """Abort one multipart upload (its stored parts are deleted); already gone is fine."""
        await MultipartUpload(self._context, self._full(key), upload_id).abort()

    async def exists(self, key: str) -> bool:
        """Whether ``key`` exists (a HEAD; a missing key is ``False``, other errors raise)."""
        try:
            await self._context.call("head_object", key=self._full(key))
        except NoSuchKeyError:
            return False
        return True
