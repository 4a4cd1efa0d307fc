"""The one adapter from library errors to errno: FUSE handlers raise only ``FUSEError``.

pyfuse3 turns a ``FUSEError`` into the errno of the syscall being served and
treats anything else as a bug. Every handler runs its body under
:func:`as_errno`, which maps s3opt's typed errors, ``OSError`` (the staging
files) and timeouts (:func:`bounded` around every S3 call) to the errno a
program expects:

==========================================  ==========
NoSuchKeyError                              ENOENT
NoSuchBucketError                           ENOENT
AccessDeniedError                           EACCES
InvalidKeyError (a name S3 cannot store)    ENAMETOOLONG / EINVAL
ObjectChangedError (If-Match failed)        ESTALE
InvalidObjectStateError (Glacier object)    EIO
TimeoutError, TransientError, Throttled,    EIO
EndpointUnavailableError, other S3 errors
OSError (local staging)                     its own errno
==========================================  ==========

Given the mount's :class:`objectfs.stats.FsCounters`, :func:`as_errno` also
times the operation and counts it (``objectfs.operation.duration``, with the
errno name as ``error.type`` when it fails).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import time
from collections.abc import Awaitable, Iterator
from typing import TypeVar

import pyfuse3

from objectfs.stats import FsCounters
from s3opt.errors import (
    AccessDeniedError,
    InvalidKeyError,
    NoSuchBucketError,
    NoSuchKeyError,
    ObjectChangedError,
    S3OptError,
)
from s3opt.protocols import MAX_KEY_BYTES

__all__ = ["as_errno", "bounded", "errno_of"]

_logger = logging.getLogger(__name__)

T = TypeVar("T")


def errno_of(exc: BaseException) -> int:
    """The errno a program should see for ``exc`` (see the module's table)."""
    if isinstance(exc, pyfuse3.FUSEError):
        return exc.errno
    if isinstance(exc, NoSuchKeyError | NoSuchBucketError):
        return errno.ENOENT
    if isinstance(exc, ObjectChangedError):
        return errno.ESTALE
    if isinstance(exc, AccessDeniedError):
        return errno.EACCES
    if isinstance(exc, InvalidKeyError):
        too_long = exc.key is not None and len(exc.key.encode("utf-8", "replace")) > MAX_KEY_BYTES
        return errno.ENAMETOOLONG if too_long else errno.EINVAL
    if isinstance(exc, S3OptError | TimeoutError):
        return errno.EIO
    if isinstance(exc, OSError) and exc.errno:
        return exc.errno
    return errno.EIO


@contextlib.contextmanager
def as_errno(operation: str, counters: FsCounters | None = None) -> Iterator[None]:
    """Run a handler's body; re-raise whatever escapes it as ``FUSEError`` (cancellation aside).

    Expected failures (absent objects) are logged at debug level, the rest as
    warnings with the operation's name, once per failed call. With
    ``counters``, the call is timed and counted under ``operation`` (a
    cancelled call is not: it got no reply).
    """
    started = time.perf_counter()
    failure: int | None = None
    try:
        yield
    except pyfuse3.FUSEError as exc:
        failure = exc.errno
        raise
    except (asyncio.CancelledError, KeyboardInterrupt, SystemExit):
        counters = None
        raise
    except Exception as exc:
        failure = errno_of(exc)
        level = logging.DEBUG if failure == errno.ENOENT else logging.WARNING
        if isinstance(exc, S3OptError | TimeoutError | OSError):
            _logger.log(
                level,
                "%s: %s (%s)",
                operation,
                exc or type(exc).__name__,
                errno.errorcode.get(failure, failure),
            )
        else:
            _logger.exception("%s: unexpected error", operation)
        raise pyfuse3.FUSEError(failure) from exc
    finally:
        if counters is not None:
            error = None if failure is None else errno.errorcode.get(failure, str(failure))
            counters.operation(operation, time.perf_counter() - started, error)


async def bounded(call: Awaitable[T], timeout: float, what: str) -> T:
    """Await ``call`` for at most ``timeout`` seconds; TimeoutError naming ``what`` after that."""
    try:
        async with asyncio.timeout(timeout):
            return await call
    except TimeoutError:
        raise TimeoutError(f"{what}: no answer from S3 within {timeout:g}s") from None
