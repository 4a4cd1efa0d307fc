"""The exceptions s3opt raises: one base, a type per kind of failure, each naming its target.

Every error carries the bucket and key it concerns (where there is one) and a
one-line message fit for a CLI. Credentials never appear in a message. The
three classes of S3 failure (DESIGN.md "Transfers") map to the hierarchy:

* throttling (503 SlowDown, 429) -> :class:`ThrottledError` (retried, and a
  congestion signal to the limiter);
* transient failures (500, 502, 504, timeouts, resets) -> :class:`TransientError`
  (retried with backoff);
* fatal failures (400, 403, 404, 412, checksum mismatch) -> the other
  subclasses, never retried.

When retries run out, the last retryable error is raised as is: its type says
what kept failing. Input refused before anything is sent raises
:class:`InvalidS3UrlError` (a URL), :class:`InvalidKeyError` (a key),
:class:`InvalidMetadataError` (user metadata), :class:`InvalidTagsError` (object
tags), :class:`InvalidStorageClassError` (a storage class name) or
:class:`InvalidRestoreTierError` (a retrieval tier), each also a :class:`ValueError`.
"""

from __future__ import annotations

__all__ = [
    "AccessDeniedError",
    "ChecksumMismatchError",
    "ChecksumUnavailableError",
    "EndpointUnavailableError",
    "InvalidKeyError",
    "InvalidMetadataError",
    "InvalidObjectStateError",
    "InvalidRestoreTierError",
    "InvalidS3UrlError",
    "InvalidStorageClassError",
    "InvalidTagsError",
    "NoSuchBucketError",
    "NoSuchKeyError",
    "NoSuchUploadError",
    "ObjectChangedError",
    "S3OptError",
    "SourceChangedError",
    "ThrottledError",
    "TransientError",
]


class S3OptError(Exception):
    """Base of every error s3opt raises on purpose.

    ``bucket`` and ``key`` name the target (``None`` where there is none);
    ``code`` is the S3 error code (``"NoSuchKey"``, ``"SlowDown"``) when S3 sent one.
    """

    def __init__(
        self,
        message: str,
        *,
        bucket: str | None = None,
        key: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.bucket = bucket
        self.key = key
        self.code = code


class InvalidS3UrlError(S3OptError, ValueError):
    """A malformed ``s3://`` or ``file://`` URL, or an invalid bucket name."""


class InvalidKeyError(InvalidS3UrlError):
    """A key refused before anything is sent.

    Both stores refuse an empty key and one over 1024 UTF-8 bytes (S3's limit);
    :class:`s3opt.LocalStore` also refuses an absolute key, a ``.`` or ``..``
    segment and NUL, which would escape or break its directory tree.
    """


class InvalidMetadataError(S3OptError, ValueError):
    """User metadata S3 would refuse: non-string or non-ASCII names and values."""


class InvalidTagsError(S3OptError, ValueError):
    """Object tags S3 would refuse: more than 10, a key not 1-128 or a value over 256
    characters, characters outside letters, digits, spaces and ``_ . : / = + - @``,
    or a key in AWS's reserved ``aws:`` namespace."""


class InvalidStorageClassError(S3OptError, ValueError):
    """A storage class name S3 does not know (see :data:`s3opt.protocols.STORAGE_CLASSES`)."""


class InvalidRestoreTierError(S3OptError, ValueError):
    """A retrieval tier other than ``Expedited``, ``Standard`` or ``Bulk``."""


class InvalidObjectStateError(S3OptError):
    """The object's storage class does not allow this (S3's ``InvalidObjectState``).

    A restore asked for an object that is not in GLACIER or DEEP_ARCHIVE.
    """


class NoSuchBucketError(S3OptError):
    """The bucket does not exist (404 NoSuchBucket)."""


class NoSuchKeyError(S3OptError):
    """The object does not exist (404 NoSuchKey, or 404 on HEAD)."""


class NoSuchUploadError(S3OptError):
    """A multipart upload to resume no longer exists (completed, aborted or expired)."""


class ObjectChangedError(S3OptError):
    """The object no longer has the ETag a conditional request named (412 PreconditionFailed).

    Raised by ``get_range(..., if_match=etag)`` once the object was overwritten, and by
    ``copy(..., source_if_match=etag)`` for a source with another ETag (``key`` is the
    source): the caller's view of it is stale, and retrying would not help.
    """


class AccessDeniedError(S3OptError):
    """The credentials may not do this (403: AccessDenied, InvalidAccessKeyId and the like)."""


class ChecksumMismatchError(S3OptError):
    """Data whose checksum, size or ETag differs from what was sent or recorded."""


class ChecksumUnavailableError(S3OptError):
    """S3 keeps no SHA-256 for the parts of a multipart object, so they cannot be compared."""


class SourceChangedError(S3OptError):
    """A local file changed while it was uploaded: the upload was aborted, nothing stored."""


class ThrottledError(S3OptError):
    """S3 asked the client to slow down (503 SlowDown, 429) and retries ran out."""


class TransientError(S3OptError):
    """A failure that may pass (500, 502, 504, timeout, connection reset) and retries ran out."""


class EndpointUnavailableError(S3OptError):
    """The endpoint cannot be reached or its circuit breaker is open: S3 is down or unreachable."""
