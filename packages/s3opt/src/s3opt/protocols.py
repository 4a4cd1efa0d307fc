"""The seam between s3opt and the tools built on it: the ``ObjectStore`` Protocol.

objectfs and cargoship talk to this Protocol, never to aiobotocore. Two
implementations satisfy it: :class:`s3opt.S3Store` (the real one) and
:class:`s3opt.LocalStore` (a directory, for ``file://`` targets and fast
unit tests). Keys are ``str``; sizes and offsets are bytes.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

__all__ = ["CommonPrefix", "ObjectInfo", "ObjectStore", "Source"]


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """What a store knows about one object, from HEAD, LIST or a completed write."""

    key: str
    size: int
    etag: str
    """The entity tag without quotes; for multipart objects ``<md5-of-md5s>-<parts>``."""
    last_modified: datetime | None = None
    storage_class: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    """User metadata (``x-amz-meta-*`` without the prefix); empty where LIST does not return it."""
    checksum: str | None = None
    """The full-object checksum as ``"sha256:<hex>"`` (or the store's own algorithm) when known."""


@dataclass(frozen=True, slots=True)
class CommonPrefix:
    """A "directory" in a delimited listing: the keys under it share ``prefix`` (ends in ``/``)."""

    prefix: str


Source = bytes | Path | AsyncIterable[bytes]
"""What :meth:`ObjectStore.upload` takes: bytes, a local file, or a stream of unknown length."""


@runtime_checkable
class ObjectStore(Protocol):
    """An object store under one bucket and prefix: keys are relative to that prefix."""

    async def head(self, key: str) -> ObjectInfo:
        """Size, ETag and metadata of ``key``; :class:`s3opt.errors.NoSuchKeyError` if absent."""
        ...

    async def get_range(self, key: str, offset: int, size: int) -> bytes:
        """``size`` bytes of ``key`` from ``offset`` (fewer only at the end of the object).

        The low-latency path for random reads: one request, no read-ahead.
        """
        ...

    def get(self, key: str) -> AsyncIterator[bytes]:
        """The whole object as a stream of chunks in order, fetched with parallel ranged GETs."""
        ...

    async def put(
        self, key: str, data: bytes, *, metadata: Mapping[str, str] | None = None
    ) -> ObjectInfo:
        """Store a small object in one request."""
        ...

    async def upload(
        self, key: str, source: Source, *, metadata: Mapping[str, str] | None = None
    ) -> ObjectInfo:
        """Store an object of any size: one PUT when small, else a verified multipart upload."""
        ...

    def list(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        """Every object whose key starts with ``prefix``, in key order, fetched page by page."""
        ...

    def list_dir(self, prefix: str = "") -> AsyncIterator[ObjectInfo | CommonPrefix]:
        """One level under ``prefix`` (``"a/b/"``): its objects and sub-prefixes, in key order."""
        ...

    async def copy(self, src_key: str, dst_key: str) -> ObjectInfo:
        """Server-side copy in the store (multipart above 5 GiB): no data passes the client."""
        ...

    async def delete(self, keys: Iterable[str]) -> None:
        """Delete the keys (in batches); keys that do not exist are not an error."""
        ...
