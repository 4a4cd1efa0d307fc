"""The seams between s3opt and the tools built on it: ``ObjectStore`` and ``ColdStorage``.

objectfs and cargoship talk to these Protocols, never to aiobotocore. Two
implementations satisfy :class:`ObjectStore`: :class:`s3opt.S3Store` (the
real one) and :class:`s3opt.LocalStore` (a directory, for ``file://`` targets
and fast unit tests). Only :class:`s3opt.S3Store` satisfies
:class:`ColdStorage` (restores from Glacier, part checksums, lifecycle
rules): a directory has no archive tiers, so tools check
``isinstance(store, ColdStorage)`` before using them. Keys are ``str``;
sizes and offsets are bytes.

The values the Protocols accept are checked here, once for every store:
storage class names (:func:`check_storage_class`), retrieval tiers
(:func:`check_restore_tier`), S3's key rules (:func:`check_key`) and object
tags (:func:`check_tags`).
"""

from __future__ import annotations

import unicodedata
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Mapping,
    Sequence,
)
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Protocol, runtime_checkable

from s3opt.errors import (
    InvalidKeyError,
    InvalidRestoreTierError,
    InvalidStorageClassError,
    InvalidTagsError,
)

__all__ = [
    "MAX_KEY_BYTES",
    "MAX_TAGS",
    "MAX_TAG_KEY_CHARS",
    "MAX_TAG_VALUE_CHARS",
    "RESTORE_TIERS",
    "STORAGE_CLASSES",
    "ColdStorage",
    "CommonPrefix",
    "ObjectInfo",
    "ObjectStore",
    "PartInfo",
    "RestoreStatus",
    "SealHook",
    "Source",
    "check_key",
    "check_restore_tier",
    "check_storage_class",
    "check_tags",
]

STORAGE_CLASSES: Final = (
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "DEEP_ARCHIVE",
    "GLACIER_IR",
    "OUTPOSTS",
    "SNOW",
    "EXPRESS_ONEZONE",
)
"""The ``x-amz-storage-class`` values S3 accepts (S3 API Reference, PutObject, "StorageClass").

``GLACIER`` is S3 Glacier Flexible Retrieval, ``GLACIER_IR`` Glacier Instant Retrieval."""

RESTORE_TIERS: Final = ("Expedited", "Standard", "Bulk")
"""Retrieval tiers of a restore (S3 API Reference, RestoreObject, "GlacierJobParameters")."""

MAX_KEY_BYTES: Final = 1024
"""S3's limit on the UTF-8 length of a key (User Guide, "Naming Amazon S3 objects")."""

MAX_TAGS: Final = 10
"""Tags one object may carry (User Guide, "Categorizing your storage using tags")."""
MAX_TAG_KEY_CHARS: Final = 128
"""Longest tag key, in Unicode characters (same section); keys are at least 1 long."""
MAX_TAG_VALUE_CHARS: Final = 256
"""Longest tag value, in Unicode characters (same section); values may be empty."""
_RESERVED_TAG_PREFIX: Final = "aws:"
_TAG_PUNCTUATION: Final = frozenset("_.:/=+-@")


def check_storage_class(storage_class: str) -> str:
    """``storage_class`` if S3 knows it, else :class:`InvalidStorageClassError` (case matters)."""
    if storage_class not in STORAGE_CLASSES:
        raise InvalidStorageClassError(
            f"unknown storage class {storage_class!r}; S3 accepts {', '.join(STORAGE_CLASSES)}"
        )
    return storage_class


def check_restore_tier(tier: str) -> str:
    """``tier`` if it is a retrieval tier, else :class:`InvalidRestoreTierError`."""
    if tier not in RESTORE_TIERS:
        raise InvalidRestoreTierError(
            f"unknown retrieval tier {tier!r}; S3 accepts {', '.join(RESTORE_TIERS)}"
        )
    return tier


def _key_problem(key: object) -> str | None:
    """What makes ``key`` unusable as an S3 key (``None`` when nothing does)."""
    if not isinstance(key, str):
        return f"must be a string, got {type(key).__name__}"
    if not key:
        return "is empty"
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        return "is not valid UTF-8"
    if size > MAX_KEY_BYTES:
        return f"is longer than {MAX_KEY_BYTES} UTF-8 bytes"
    return None


def check_key(key: str, *, where: str, what: str = "key") -> str:
    """``key`` if S3 accepts it: a non-empty string of at most 1024 UTF-8 bytes.

    Otherwise :class:`InvalidKeyError` naming ``where`` (the store) and the key.
    """
    problem = _key_problem(key)
    if problem is not None:
        shown = key if isinstance(key, str) else None
        raise InvalidKeyError(f"{what} {key!r} {problem}: refused by {where}", key=shown)
    return key


def _tag_problem(name: object, value: object) -> str | None:
    """What makes one tag unacceptable to S3 (``None`` when nothing does)."""
    if not isinstance(name, str) or not isinstance(value, str):
        return "keys and values must be strings"
    try:
        name.encode("utf-8")
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid UTF-8"
    if not 1 <= len(name) <= MAX_TAG_KEY_CHARS:
        return f"key must be 1 to {MAX_TAG_KEY_CHARS} characters"
    if len(value) > MAX_TAG_VALUE_CHARS:
        return f"value must be at most {MAX_TAG_VALUE_CHARS} characters"
    if name.lower().startswith(_RESERVED_TAG_PREFIX):
        return f"keys starting with {_RESERVED_TAG_PREFIX!r} are reserved for AWS"
    for char in name + value:
        if char not in _TAG_PUNCTUATION and unicodedata.category(char)[0] not in "LNZ":
            return f"{char!r} is not allowed (letters, digits, spaces and _ . : / = + - @ are)"
    return None


def check_tags(tags: Mapping[str, str], *, key: str | None = None) -> dict[str, str]:
    """``tags`` as a dict if S3 accepts them as an object's tag set, else :class:`InvalidTagsError`.

    S3's limits (User Guide, "Categorizing your storage using tags"): at most
    :data:`MAX_TAGS` tags; a key of 1 to 128 and a value of 0 to 256 Unicode
    characters, both valid UTF-8; keys beginning ``aws:`` are AWS's. Characters:
    letters, digits and spaces of any script and ``_ . : / = + - @`` (AWS's
    tagging rules, "Tag naming limits and requirements"; S3 answers others with
    400 InvalidTag). ``key`` (the object) only names the
    target in the error.
    """
    checked = dict(tags)
    if len(checked) > MAX_TAGS:
        raise InvalidTagsError(
            f"{len(checked)} tags for {key!r}: S3 allows at most {MAX_TAGS} per object", key=key
        )
    for name, value in checked.items():
        problem = _tag_problem(name, value)
        if problem is not None:
            raise InvalidTagsError(f"tag {name!r}={value!r} of {key!r}: {problem}", key=key)
    return checked


@dataclass(frozen=True, slots=True)
class RestoreStatus:
    """The restore state of an archived object, from HEAD's ``x-amz-restore``.

    ``ongoing`` while S3 is still retrieving it; once done, ``expiry`` says when
    the temporary copy goes away (S3 User Guide, "Checking restore status").
    """

    ongoing: bool
    expiry: datetime | None = None


@dataclass(frozen=True, slots=True)
class PartInfo:
    """One part of a multipart object: its number, size and the SHA-256 S3 verified."""

    number: int
    size: int
    checksum: str
    """``"sha256:<hex>"``."""


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
    """The full-object checksum as ``"sha256:<hex>"`` (or the store's own algorithm) when known.

    Known for single-PUT objects; a multipart object has per-part checksums instead."""
    restore: RestoreStatus | None = None
    """From HEAD: the state of a restore asked for (``None`` when none was)."""
    parts: tuple[PartInfo, ...] = ()
    """Filled only in what a multipart upload returns: every part, in order."""


@dataclass(frozen=True, slots=True)
class CommonPrefix:
    """A "directory" in a delimited listing: the keys under it share ``prefix`` (ends in ``/``)."""

    prefix: str


Source = bytes | Path | AsyncIterable[bytes]
"""What :meth:`ObjectStore.upload` takes: bytes, a local file, or a stream of unknown length."""

SealHook = Callable[[ObjectInfo], Awaitable[None]]
"""An upload's ``on_sealed``: awaited with the object's expected info once every byte of
the source is read and hashed; the object appears only after it returned."""


@runtime_checkable
class ObjectStore(Protocol):
    """An object store under one bucket and prefix: keys are relative to that prefix."""

    async def head(self, key: str) -> ObjectInfo:
        """Size, ETag and metadata of ``key``; :class:`s3opt.errors.NoSuchKeyError` if absent."""
        ...

    async def get_range(
        self, key: str, offset: int, size: int, *, if_match: str | None = None
    ) -> bytes:
        """``size`` bytes of ``key`` from ``offset`` (fewer only at the end of the object).

        The low-latency path for random reads: one request, no read-ahead. With
        ``if_match`` (an ETag as :attr:`ObjectInfo.etag` gives it) the read succeeds
        only while the object still has that ETag, else
        :class:`s3opt.errors.ObjectChangedError`: reads of one version never mix.
        """
        ...

    def get(self, key: str) -> AsyncIterator[bytes]:
        """The whole object as a stream of chunks in order, fetched with parallel ranged GETs."""
        ...

    async def put(
        self,
        key: str,
        data: bytes,
        *,
        metadata: Mapping[str, str] | None = None,
        storage_class: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> ObjectInfo:
        """Store a small object in one request.

        ``storage_class`` is one of :data:`STORAGE_CLASSES` (S3's default, STANDARD,
        when ``None``); an unknown name raises :class:`InvalidStorageClassError`.
        ``tags`` become the object's tag set (what lifecycle rules can filter on);
        tags S3 would refuse raise :class:`InvalidTagsError` (see :func:`check_tags`).
        Both are checked before anything is sent.
        """
        ...

    async def upload(
        self,
        key: str,
        source: Source,
        *,
        metadata: Mapping[str, str] | None = None,
        storage_class: str | None = None,
        tags: Mapping[str, str] | None = None,
        on_sealed: SealHook | None = None,
    ) -> ObjectInfo:
        """Store an object of any size: one PUT when small, else a verified multipart upload.

        ``storage_class`` and ``tags`` as for :meth:`put`.

        ``on_sealed`` is awaited with the :class:`ObjectInfo` the upload expects to return
        (size, ETag, parts; the key as given) as soon as the whole source is read and
        hashed, while its last bytes may still be on their way; the object appears only
        after the hook returned, and if the hook raises, nothing is stored and its error
        propagates. It lets a caller write an object that describes this one (a manifest
        naming its size and checksums) alongside it, yet commit it only after this one.
        The expected ETag is the MD5 kind, which SSE-KMS and SSE-C objects do not have:
        compare it with the returned one.
        """
        ...

    def list(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        """Every object whose key starts with ``prefix``, in key order, fetched page by page."""
        ...

    def list_dir(self, prefix: str = "") -> AsyncIterator[ObjectInfo | CommonPrefix]:
        """One level under ``prefix`` (``"a/b/"``): its objects and sub-prefixes, in key order."""
        ...

    async def copy(
        self,
        src_key: str,
        dst_key: str,
        *,
        metadata: Mapping[str, str] | None = None,
        source_if_match: str | None = None,
    ) -> ObjectInfo:
        """Server-side copy in the store (multipart above 5 GiB): no data passes the client.

        ``metadata=None`` copies the source's user metadata (S3's
        ``MetadataDirective=COPY``); the copy is STANDARD. A mapping replaces it by
        exactly that metadata (``REPLACE``), keeping the source's Content-Type and
        storage class; ``src_key == dst_key`` then changes an object's metadata without
        sending its data again. Tags are copied either way.

        ``source_if_match``: copy only the source with this ETag (S3's
        ``x-amz-copy-source-if-match``), else :class:`s3opt.errors.ObjectChangedError`
        (412 PreconditionFailed) and nothing is written; a metadata change by
        self-copy then cannot pick up bytes another client wrote since.
        """
        ...

    async def delete(self, keys: Iterable[str]) -> None:
        """Delete the keys (in batches); keys that do not exist are not an error."""
        ...


@runtime_checkable
class ColdStorage(Protocol):
    """Archive tiers and bucket lifecycle: what long-term archiving needs beyond ObjectStore.

    Satisfied by :class:`s3opt.S3Store` only.
    """

    async def request_restore(self, key: str, *, days: int, tier: str) -> bool:
        """Ask S3 to restore an archived object for ``days`` days at ``tier`` (RestoreObject).

        ``True`` when S3 accepted a request now (a new restore, or a new expiry for a
        copy already restored), ``False`` when a restore is already under way.
        :class:`s3opt.errors.InvalidObjectStateError` when the object is not in
        GLACIER or DEEP_ARCHIVE.
        """
        ...

    async def part_checksums(self, key: str) -> tuple[PartInfo, ...]:
        """The parts of a multipart object with the SHA-256 S3 keeps for each
        (GetObjectAttributes); ``()`` for an object stored with one PUT."""
        ...

    async def lifecycle_rules(self) -> list[dict[str, Any]]:
        """The bucket's lifecycle rules in the S3 API's shape; ``[]`` when it has none."""
        ...

    async def put_lifecycle_rules(self, rules: Sequence[Mapping[str, Any]]) -> None:
        """Replace the bucket's lifecycle rules by exactly ``rules`` (``[]`` removes them all)."""
        ...

    async def object_tags(self, key: str) -> dict[str, str]:
        """The object's tag set (GetObjectTagging); :class:`s3opt.errors.NoSuchKeyError` if
        absent."""
        ...
