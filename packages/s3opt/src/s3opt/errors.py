"""The exceptions s3opt raises: one base, a type per kind of failure, each naming its target.

Every error carries the bucket and key it concerns (where there is one) and a
one-line message fit for a CLI. Credentials never appear in a message. The
three classes of S3 failure (DESIGN.md "Transfers") map to the hierarchy:

* throttling (503 SlowDown, 429) -> :class:`ThrottledError` (retried, and a
  congestion signal to the limiter);
* transient failures (500, 502, 504, timeouts, resets) -> :class:`TransientError`
  (retried with backoff);
* fatal failures (400, 403, 404, checksum mismatch) -> the other subclasses,
  never retried.

When retries run out, the last retryable error is raised as is: its type says
what kept failing. Input refused before anything is sent raises
:class:`InvalidS3UrlError` (a URL), :class:`InvalidKeyError` (a key) or
:class:`InvalidMetadataError` (user metadata), each also a :class:`ValueError`.
"""

from __future__ import annotations

__all__ = [
    "AccessDeniedError",
    "ChecksumMismatchError",
    "EndpointUnavailableError",
    "InvalidKeyError",
    "InvalidMetadataError",
    "InvalidS3UrlError",
    "NoSuchBucketError",
    "NoSuchKeyError",
    "NoSuchUploadError",
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
    """A key a :class:`s3opt.LocalStore` refuses.

    Empty, absolute, a ``.`` or ``..`` segment, NUL, not UTF-8, or over 1024 UTF-8 bytes.
    """


class InvalidMetadataError(S3OptError, ValueError):
    """User metadata S3 would refuse: non-string or non-ASCII names and values."""


class NoSuchBucketError(S3OptError):
    """The bucket does not exist (404 NoSuchBucket)."""


class NoSuchKeyError(S3OptError):
    """The object does not exist (404 NoSuchKey, or 404 on HEAD)."""


class NoSuchUploadError(S3OptError):
    """A multipart upload to resume no longer exists (completed, aborted or expired)."""


class AccessDeniedError(S3OptError):
    """The credentials may not do this (403: AccessDenied, InvalidAccessKeyId and the like)."""


class ChecksumMismatchError(S3OptError):
    """Data whose checksum, size or ETag differs from what was sent or recorded."""


class SourceChangedError(S3OptError):
    """A local file changed while it was uploaded: the upload was aborted, nothing stored."""


class ThrottledError(S3OptError):
    """S3 asked the client to slow down (503 SlowDown, 429) and retries ran out."""


class TransientError(S3OptError):
    """A failure that may pass (500, 502, 504, timeout, connection reset) and retries ran out."""


class EndpointUnavailableError(S3OptError):
    """The endpoint cannot be reached or its circuit breaker is open: S3 is down or unreachable."""
