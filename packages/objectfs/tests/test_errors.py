"""The errno adapter: what programs see for each failure, and the time bound on S3 calls."""

from __future__ import annotations

import asyncio
import errno

import pyfuse3
import pytest

from objectfs.errors import as_errno, bounded, errno_of
from objectfs.stats import FsCounters
from s3opt.errors import (
    AccessDeniedError,
    EndpointUnavailableError,
    InvalidKeyError,
    NoSuchBucketError,
    NoSuchKeyError,
    ObjectChangedError,
    S3OptError,
    ThrottledError,
    TransientError,
)


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (NoSuchKeyError("gone"), errno.ENOENT),
        (NoSuchBucketError("gone"), errno.ENOENT),
        (AccessDeniedError("no"), errno.EACCES),
        (ObjectChangedError("412"), errno.ESTALE),
        (TransientError("500"), errno.EIO),
        (ThrottledError("503"), errno.EIO),
        (EndpointUnavailableError("down"), errno.EIO),
        (S3OptError("other"), errno.EIO),
        (TimeoutError(), errno.EIO),
        (InvalidKeyError("long", key="x" * 1025), errno.ENAMETOOLONG),
        (InvalidKeyError("bad", key="a"), errno.EINVAL),
        (OSError(errno.ENOSPC, "full"), errno.ENOSPC),
        (RuntimeError("bug"), errno.EIO),
        (pyfuse3.FUSEError(errno.EXDEV), errno.EXDEV),
    ],
)
def test_errno_of(exc: BaseException, code: int) -> None:
    assert errno_of(exc) == code


def test_as_errno_raises_only_fuse_errors() -> None:
    with pytest.raises(pyfuse3.FUSEError) as info, as_errno("test"):
        raise AccessDeniedError("denied", bucket="b", key="k")
    assert info.value.errno == errno.EACCES
    with pytest.raises(pyfuse3.FUSEError) as info, as_errno("test"):
        raise KeyError("a bug")
    assert info.value.errno == errno.EIO


def test_as_errno_lets_cancellation_through() -> None:
    with pytest.raises(asyncio.CancelledError), as_errno("test"):
        raise asyncio.CancelledError


def test_as_errno_times_and_counts_each_call() -> None:
    counters = FsCounters()
    with as_errno("getattr", counters):
        pass
    with pytest.raises(pyfuse3.FUSEError), as_errno("lookup", counters):
        raise NoSuchKeyError("gone")
    with pytest.raises(pyfuse3.FUSEError), as_errno("lookup", counters):
        raise pyfuse3.FUSEError(errno.ENOTDIR)
    with pytest.raises(asyncio.CancelledError), as_errno("read", counters):
        raise asyncio.CancelledError  # no reply was sent: not an operation
    snap = counters.snapshot()["operations"]
    # lookup's ENOENT is an expected answer (objectfs.stats.EXPECTED_ERRORS), ENOTDIR a failure.
    assert {name: (t["count"], t["errors"], t["expected"]) for name, t in snap.items()} == {
        "getattr": (1, 0, 0),
        "lookup": (2, 1, 1),
    }
    assert 0 <= snap["getattr"]["seconds"] < 1


@pytest.mark.asyncio
async def test_bounded_times_out_with_the_operation_named() -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(TimeoutError, match=r"HEAD k: no answer from S3 within 0\.05s"):
        await bounded(asyncio.sleep(10), 0.05, "HEAD k")
    assert loop.time() - started < 1.0
    assert await bounded(asyncio.sleep(0, result=7), 1.0, "x") == 7
