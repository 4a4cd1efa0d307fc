"""Error classification: real moto answers over HTTP, and botocore/aiohttp exceptions."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, cast

import pytest

from s3opt._aws import (
    AiohttpPayloadError,
    AioReadTimeoutError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    FlexibleChecksumError,
    ReadTimeoutError,
    ResponseStreamingError,
    open_client,
)
from s3opt.classify import (
    classify,
    error_status,
    error_type,
    is_congestion,
    is_connect_failure,
    is_retryable,
)
from s3opt.config import S3Config
from s3opt.errors import (
    AccessDeniedError,
    ChecksumMismatchError,
    InvalidObjectStateError,
    NoSuchBucketError,
    NoSuchKeyError,
    NoSuchUploadError,
    ObjectChangedError,
    S3OptError,
    ThrottledError,
    TransientError,
)

if TYPE_CHECKING:
    from botocore.exceptions import _ClientErrorResponseTypeDef


def _error_response(response: Mapping[str, object]) -> _ClientErrorResponseTypeDef:
    """``response`` as the TypedDict botocore-stubs gives ``ClientError``'s first argument.

    The stub's shape requires every ``ResponseMetadata`` field (RequestId, HostId, ...)
    and knows only Code and Message under ``Error``; these tests build the partial
    answers, and S3's extra ``Error`` fields, that classify must cope with: cast once, here.
    """
    return cast("_ClientErrorResponseTypeDef", response)


def _client_error(
    code: str, status: int, message: str = "msg", op: str = "PutObject"
) -> ClientError:
    response = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(_error_response(response), op)


async def _raised(call: Callable[[], Awaitable[object]]) -> BaseException:
    try:
        await call()
    except Exception as exc:
        return exc
    raise AssertionError("the call did not fail")


@pytest.mark.asyncio
async def test_real_moto_answers(s3_config: S3Config, bucket: str) -> None:
    async with open_client(s3_config) as client:
        await client.put_object(Bucket=bucket, Key="present", Body=b"x")
        cases: list[tuple[str, str | None, type[S3OptError], Callable[[], Awaitable[object]]]] = [
            (
                "get_object",
                "k",
                NoSuchBucketError,
                lambda: client.get_object(Bucket="no-such-bucket-here", Key="k"),
            ),
            (
                "get_object",
                "absent",
                NoSuchKeyError,
                lambda: client.get_object(Bucket=bucket, Key="absent"),
            ),
            (
                "head_object",
                "absent",
                NoSuchKeyError,
                lambda: client.head_object(Bucket=bucket, Key="absent"),
            ),
            (
                "head_bucket",
                None,
                NoSuchBucketError,
                lambda: client.head_bucket(Bucket="no-such-bucket-here"),
            ),
            (
                "list_parts",
                "present",
                NoSuchUploadError,
                lambda: client.list_parts(Bucket=bucket, Key="present", UploadId="nope"),
            ),
            (
                "abort_multipart_upload",
                "present",
                NoSuchUploadError,
                lambda: client.abort_multipart_upload(Bucket=bucket, Key="present", UploadId="x"),
            ),
        ]
        for operation, key, expected, call in cases:
            exc = await _raised(call)
            target_bucket = "no-such-bucket-here" if expected is NoSuchBucketError else bucket
            typed = classify(exc, bucket=target_bucket, key=key, operation=operation)
            assert type(typed) is expected, (operation, typed)
            assert not is_retryable(typed)
            assert not is_congestion(typed)
            assert typed.bucket == target_bucket
            assert typed.key == key
            message = str(typed)
            assert "\n" not in message
            assert operation in message
            assert target_bucket in message
            assert typed.__cause__ is exc


@pytest.mark.asyncio
async def test_real_moto_deny_policy_is_access_denied(s3_config: S3Config, bucket: str) -> None:
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": ["s3:GetObject", "s3:PutObject"],
                "Resource": f"arn:aws:s3:::{bucket}/*",
            }
        ],
    }
    async with open_client(s3_config) as client:
        await client.put_object(Bucket=bucket, Key="secret.txt", Body=b"x")
        await client.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
        exc = await _raised(lambda: client.get_object(Bucket=bucket, Key="secret.txt"))
    typed = classify(exc, bucket=bucket, key="secret.txt", operation="get_object")
    assert isinstance(typed, AccessDeniedError)
    assert error_status(typed) == 403
    assert f"get_object s3://{bucket}/secret.txt: access denied" in str(typed)


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("SlowDown", 503, ThrottledError),
        ("ServiceUnavailable", 503, ThrottledError),
        ("TooManyRequests", 429, ThrottledError),
        ("Throttling", 400, ThrottledError),
        ("RequestLimitExceeded", 400, ThrottledError),
        ("InternalError", 500, TransientError),
        ("500", 500, TransientError),
        ("BadGateway", 502, TransientError),
        ("504", 504, TransientError),
        ("RequestTimeout", 400, TransientError),
        ("NoSuchBucket", 404, NoSuchBucketError),
        ("NoSuchKey", 404, NoSuchKeyError),
        ("NoSuchUpload", 404, NoSuchUploadError),
        ("AccessDenied", 403, AccessDeniedError),
        ("InvalidAccessKeyId", 403, AccessDeniedError),
        ("SignatureDoesNotMatch", 403, AccessDeniedError),
        ("403", 403, AccessDeniedError),
        ("InvalidObjectState", 403, InvalidObjectStateError),
        ("BadDigest", 400, ChecksumMismatchError),
        ("InvalidDigest", 400, ChecksumMismatchError),
        ("InvalidArgument", 400, S3OptError),
        ("EntityTooSmall", 400, S3OptError),
        ("PreconditionFailed", 412, ObjectChangedError),
    ],
)
def test_client_error_table(code: str, status: int, expected: type[S3OptError]) -> None:
    typed = classify(_client_error(code, status), bucket="b", key="k", operation="put_object")
    assert type(typed) is expected
    assert typed.code == code
    assert is_retryable(typed) == (expected in (ThrottledError, TransientError))
    assert is_congestion(typed) == (expected is ThrottledError)
    assert error_status(typed) == status
    assert str(typed).startswith("put_object s3://b/k: ")


def test_404_without_code_names_key_or_bucket() -> None:
    with_key = classify(_client_error("404", 404), bucket="b", key="k", operation="head_object")
    without = classify(_client_error("404", 404), bucket="b", key=None, operation="head_bucket")
    assert isinstance(with_key, NoSuchKeyError)
    assert isinstance(without, NoSuchBucketError)


def test_412_without_code_is_an_object_change() -> None:
    # A HEAD with If-Match gets 412 and no body, so botocore's code is the status.
    typed = classify(_client_error("412", 412), bucket="b", key="k", operation="head_object")
    assert isinstance(typed, ObjectChangedError)
    assert not is_retryable(typed)


def test_unknown_4xx_keeps_its_code_and_is_fatal() -> None:
    typed = classify(
        _client_error("InvalidPart", 400, "One or more of the\nparts could not be found"),
        bucket="b",
        key="k",
        operation="complete_multipart_upload",
    )
    assert type(typed) is S3OptError
    assert typed.code == "InvalidPart"
    assert "\n" not in str(typed)
    assert "InvalidPart" in str(typed)


def _raw_cases() -> list[tuple[BaseException, type[S3OptError], bool, bool]]:
    """(exception, typed class, congestion?, connect failure?)"""
    url = "http://127.0.0.1:1/b/k"
    return [
        (TimeoutError(), TransientError, True, False),
        (TimeoutError(), TransientError, True, False),
        (ReadTimeoutError(endpoint_url=url), TransientError, True, False),
        (AioReadTimeoutError(endpoint_url=url, error="t"), TransientError, True, False),
        (ConnectionResetError("reset by peer"), TransientError, True, False),
        (ConnectionClosedError(endpoint_url=url), TransientError, True, False),
        (ResponseStreamingError(error="cut"), TransientError, True, False),
        (AiohttpPayloadError("Response payload is not completed"), TransientError, True, False),
        (ConnectTimeoutError(endpoint_url=url), TransientError, True, True),
        (EndpointConnectionError(endpoint_url=url), TransientError, False, True),
        (ConnectionRefusedError(), TransientError, False, True),
        (
            FlexibleChecksumError(error_msg="Expected checksum X did not match calculated Y"),
            ChecksumMismatchError,
            False,
            False,
        ),
        (RuntimeError("boom"), S3OptError, False, False),
    ]


@pytest.mark.parametrize(("exc", "expected", "congestion", "connect"), _raw_cases())
def test_raw_exception_table(
    exc: BaseException, expected: type[S3OptError], congestion: bool, connect: bool
) -> None:
    typed = classify(exc, bucket="bkt", key="dir/file", operation="get_object")
    assert type(typed) is expected
    assert typed.__cause__ is exc
    assert is_congestion(typed) is congestion
    assert is_congestion(exc) is congestion  # the raw form too (the limiter may see it)
    assert is_connect_failure(typed) is connect
    assert "s3://bkt/dir/file" in str(typed)
    assert "\n" not in str(typed)
    assert error_type(typed)


def test_typed_error_passes_through_and_cancellation_is_not_congestion() -> None:
    original = NoSuchKeyError("x", bucket="b", key="k")
    assert classify(original, bucket="b", key="k", operation="get_object") is original
    assert not is_congestion(asyncio.CancelledError())


def test_messages_never_carry_credentials() -> None:
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    response = {
        "Error": {
            "Code": "SignatureDoesNotMatch",
            "Message": "The request signature we calculated does not match",
            "StringToSign": f"AWS4-HMAC-SHA256 {secret}",
            "SignatureProvided": secret,
        },
        "ResponseMetadata": {"HTTPStatusCode": 403},
    }
    error = ClientError(_error_response(response), "PutObject")
    typed = classify(error, bucket="b", key="k", operation="p")
    assert isinstance(typed, AccessDeniedError)
    assert secret not in str(typed)
    assert secret not in repr(typed)


def test_error_type_is_a_metric_token() -> None:
    assert error_type(classify(_client_error("SlowDown", 503), bucket="b", operation="x")) == (
        "SlowDown"
    )
    assert error_type(classify(TimeoutError(), bucket="b", operation="x")) == "TimeoutError"
