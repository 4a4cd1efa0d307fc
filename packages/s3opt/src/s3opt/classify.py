"""Turn whatever a request raised into one of s3opt's typed errors, and say which are congestion.

Three classes (DESIGN.md "Transfers"):

* **throttle**: 503 (SlowDown, ServiceUnavailable), 429, ``Throttling``,
  ``RequestLimitExceeded`` and kin -> :class:`ThrottledError`; retried, and a
  loss signal to the limiter.
* **transient**: 500/502/504, ``InternalError``, ``RequestTimeout``, timeouts,
  connection resets and closes, bodies cut off mid-read, failed connects ->
  :class:`TransientError`; retried. A failed connect stays a TransientError
  while retries last; :class:`s3opt._requests.Requester` turns it into
  :class:`EndpointUnavailableError` when they run out.
* **fatal**: everything else, never retried: NoSuchBucket, NoSuchKey (and 404
  on HEAD), NoSuchUpload, 403s, 412 PreconditionFailed (a conditional request on an
  object that changed: :class:`ObjectChangedError`), digest and checksum
  mismatches, and any other
  4xx as a plain :class:`S3OptError` carrying the S3 code.

The typed error's ``__cause__`` is the original exception, so
:func:`is_congestion` can tell a timeout or reset from a 500 later on.
Messages are one line: operation, ``s3://bucket/key``, what happened. They
never include request headers, signatures or credentials.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

from s3opt._aws import (
    AiohttpConnectionError,
    AiohttpPayloadError,
    AioReadTimeoutError,
    BotoChecksumError,
    BotoConnectionError,
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    FlexibleChecksumError,
    HTTPClientError,
    ReadTimeoutError,
    ResponseStreamingError,
)
from s3opt.errors import (
    AccessDeniedError,
    ChecksumMismatchError,
    EndpointUnavailableError,
    InvalidObjectStateError,
    NoSuchBucketError,
    NoSuchKeyError,
    NoSuchUploadError,
    ObjectChangedError,
    S3OptError,
    ThrottledError,
    TransientError,
)

__all__ = [
    "THROTTLE_CODES",
    "TRANSIENT_CODES",
    "classify",
    "error_status",
    "error_type",
    "is_congestion",
    "is_connect_failure",
    "is_retryable",
    "is_throttle",
    "target",
]

THROTTLE_CODES: Final = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "BandwidthLimitExceeded",
        "ServiceUnavailable",
        "EC2ThrottledException",
        "PriorRequestNotComplete",
    }
)
"""S3 (and AWS-wide) error codes that mean "slow down"; HTTP 429 and 503 count too."""

TRANSIENT_CODES: Final = frozenset(
    {"InternalError", "RequestTimeout", "RequestTimeoutException", "OperationAborted"}
)
"""Codes that may pass on retry; HTTP 500, 502 and 504 count too."""

_TRANSIENT_STATUS: Final = frozenset({500, 502, 504})
_ACCESS_CODES: Final = frozenset(
    {
        "AccessDenied",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "AllAccessDisabled",
        "AccountProblem",
        "ExpiredToken",
        "InvalidToken",
        "InvalidSecurity",
    }
)
_CHECKSUM_CODES: Final = frozenset(
    {"BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch", "InvalidChecksum"}
)
_NOT_FOUND_CODES: Final = frozenset({"404", "NotFound"})
_MESSAGE_LIMIT: Final = 200

_TIMEOUTS: Final = (TimeoutError, asyncio.TimeoutError, ReadTimeoutError, AioReadTimeoutError)
_RESETS: Final = (
    ConnectionResetError,
    ConnectionAbortedError,
    BrokenPipeError,
    ConnectionClosedError,
    ResponseStreamingError,
    AiohttpPayloadError,
)
_CONNECT_FAILURES: Final = (EndpointConnectionError, ConnectTimeoutError, ConnectionRefusedError)


def target(bucket: str | None, key: str | None) -> str:
    """``s3://bucket/key`` (or ``s3://bucket``) for messages."""
    if not bucket:
        return "s3://"
    return f"s3://{bucket}/{key}" if key else f"s3://{bucket}"


def _one_line(text: object) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= _MESSAGE_LIMIT else line[: _MESSAGE_LIMIT - 3] + "..."


def _error_fields(exc: ClientError) -> tuple[str, str, int | None]:
    response = exc.response
    error = response.get("Error") or {}
    metadata = response.get("ResponseMetadata")
    status = metadata.get("HTTPStatusCode") if metadata else None
    code = str(error.get("Code") or "")
    message = str(error.get("Message") or "")
    return code, message, status if isinstance(status, int) else None


def _from_client_error(
    exc: ClientError, bucket: str, key: str | None, operation: str
) -> S3OptError:
    code, message, status = _error_fields(exc)
    where = target(bucket, key)
    said = f"{code or status}" + (f" ({_one_line(message)})" if message else "")
    kw: dict[str, Any] = {"bucket": bucket, "key": key, "code": code or None}
    if code in THROTTLE_CODES or status in (429, 503):
        return ThrottledError(f"{operation} {where}: throttled by S3: {said}", **kw)
    if code in TRANSIENT_CODES or status in _TRANSIENT_STATUS:
        return TransientError(f"{operation} {where}: server error: {said}", **kw)
    if code == "NoSuchBucket":
        return NoSuchBucketError(f"{operation} {where}: no such bucket {bucket!r}", **kw)
    if code == "NoSuchKey":
        return NoSuchKeyError(f"{operation} {where}: no such key", **kw)
    if code == "NoSuchUpload":
        return NoSuchUploadError(
            f"{operation} {where}: the multipart upload no longer exists "
            "(completed, aborted or expired)",
            **kw,
        )
    if status == 404 and (code in _NOT_FOUND_CODES or not code):
        # HEAD answers carry no body, so no code: a 404 names the key, or the bucket without one.
        if key is not None:
            return NoSuchKeyError(f"{operation} {where}: no such key (404)", **kw)
        return NoSuchBucketError(f"{operation} {where}: no such bucket {bucket!r} (404)", **kw)
    if code == "PreconditionFailed" or status == 412:
        # HEAD answers have no body: a 412 there carries no code.
        return ObjectChangedError(
            f"{operation} {where}: the object changed (its ETag is not the one asked for)", **kw
        )
    if code == "InvalidObjectState":
        # A GET of an object in GLACIER / DEEP_ARCHIVE that was not restored: S3 answers 403.
        return InvalidObjectStateError(
            f"{operation} {where}: the object is archived ({said}); restore it first", **kw
        )
    if code in _ACCESS_CODES or status == 403:
        return AccessDeniedError(f"{operation} {where}: access denied: {said}", **kw)
    if code in _CHECKSUM_CODES:
        return ChecksumMismatchError(
            f"{operation} {where}: S3 rejected the data's checksum: {said}", **kw
        )
    return S3OptError(f"{operation} {where}: S3 error {said} (HTTP {status})", **kw)


def classify(
    exc: BaseException, *, bucket: str, key: str | None = None, operation: str
) -> S3OptError:
    """The typed error for ``exc`` raised by ``operation`` on ``bucket``/``key``.

    An :class:`S3OptError` is returned as it is. Anything else becomes a typed
    error whose ``__cause__`` is ``exc``.
    """
    if isinstance(exc, S3OptError):
        return exc
    where = target(bucket, key)
    kw: dict[str, Any] = {"bucket": bucket, "key": key}
    result: S3OptError
    if isinstance(exc, ClientError):
        result = _from_client_error(exc, bucket, key, operation)
    elif isinstance(exc, FlexibleChecksumError | BotoChecksumError):
        result = ChecksumMismatchError(
            f"{operation} {where}: checksum mismatch: {_one_line(exc)}", **kw
        )
    elif isinstance(exc, _CONNECT_FAILURES):
        result = TransientError(f"{operation} {where}: cannot connect: {_one_line(exc)}", **kw)
    elif isinstance(exc, _TIMEOUTS):
        result = TransientError(f"{operation} {where}: timed out: {_describe(exc)}", **kw)
    elif isinstance(exc, _RESETS):
        result = TransientError(
            f"{operation} {where}: connection reset or closed: {_describe(exc)}", **kw
        )
    elif isinstance(exc, HTTPClientError | BotoConnectionError | AiohttpConnectionError | OSError):
        result = TransientError(f"{operation} {where}: network error: {_describe(exc)}", **kw)
    elif isinstance(exc, BotoCoreError):
        result = S3OptError(f"{operation} {where}: {_describe(exc)}", **kw)
    else:
        result = S3OptError(f"{operation} {where}: unexpected {_describe(exc)}", **kw)
    result.__cause__ = exc
    return result


def _describe(exc: BaseException) -> str:
    text = _one_line(exc)
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


def _origin(exc: BaseException) -> BaseException:
    """The exception a typed error was made from (itself if not one of ours)."""
    if isinstance(exc, S3OptError) and exc.__cause__ is not None:
        return exc.__cause__
    return exc


def is_throttle(exc: BaseException | None) -> bool:
    """Whether ``exc`` (typed or raw) is S3 asking for fewer requests: 503 SlowDown, 429 and kin.

    ``None`` (no failure) is not. This is the request-rate signal the limiter's
    :class:`~s3opt.throttling.ThrottleCeiling` answers; timeouts and resets are not.
    """
    if exc is None:
        return False
    if isinstance(exc, ThrottledError):
        return True
    if isinstance(exc, S3OptError) and not isinstance(exc, TransientError):
        return False
    origin = _origin(exc)
    if isinstance(origin, ClientError):
        code, _, status = _error_fields(origin)
        return code in THROTTLE_CODES or status in (429, 503)
    return False


def is_congestion(exc: BaseException) -> bool:
    """Whether ``exc`` is a congestion signal for the limiter.

    Throttles, timeouts (connect timeouts included) and connection resets are;
    server errors (500), refused connections, cancellation and fatal errors are not.
    """
    if is_throttle(exc):
        return True
    if isinstance(exc, S3OptError) and not isinstance(exc, TransientError):
        return False
    return isinstance(_origin(exc), _TIMEOUTS + _RESETS + (ConnectTimeoutError,))


def is_connect_failure(exc: BaseException) -> bool:
    """Whether ``exc`` (typed or raw) is a failure to reach the endpoint at all."""
    if isinstance(exc, EndpointUnavailableError):
        return True
    return isinstance(_origin(exc), _CONNECT_FAILURES)


def is_retryable(exc: BaseException) -> bool:
    """Throttles and transient failures are retried; everything else is final."""
    return isinstance(exc, ThrottledError | TransientError)


def error_status(exc: BaseException) -> int | None:
    """The HTTP status S3 answered with, if the failure carried a response."""
    origin = _origin(exc)
    if isinstance(origin, ClientError):
        return _error_fields(origin)[2]
    return None


def error_type(exc: BaseException) -> str:
    """A short name for metrics' ``error.type``: the S3 code, else the exception class."""
    if isinstance(exc, S3OptError) and exc.code and exc.code.replace("-", "").isalnum():
        return exc.code[:64]
    return type(_origin(exc)).__name__[:64]
