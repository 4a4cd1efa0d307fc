"""S3 Transfer Acceleration's fallback, over real HTTP.

moto has no acceleration endpoint, so a loopback address stands in for it
(``open_endpoints(accelerated_endpoint_url=...)``): a port nothing listens on
(connections refused) or a small server answering every request with
500 InternalError. The normal endpoint is the moto server, with acceleration
enabled on the bucket (PutBucketAccelerateConfiguration), so the store takes the
accelerated path as it would on AWS. Every request must succeed through the normal
endpoint, the accelerated endpoint's breaker must open after
``circuit_failures`` failures (and then stop traffic to it), and the switch must be
logged once, without the secret key.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from pydantic import SecretStr

import s3opt.s3store
from s3opt._aws import open_endpoints
from s3opt.config import S3Config
from s3opt.health import BreakerState
from s3opt.s3store import S3Store

SECRET = "s3cr3t-acceleration-test-never-logged"
INTERNAL_ERROR = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InternalError</Code>'
    b"<Message>We encountered an internal error. Please try again.</Message></Error>"
)


class FailingEndpoint:
    """An HTTP server on 127.0.0.1 that answers every request with 500 InternalError."""

    def __init__(self) -> None:
        self.requests = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._answer, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            self.requests += 1
            headers = {}
            for line in head.decode("latin-1").split("\r\n")[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            # A client that asked "Expect: 100-continue" sends no body before a 100: the
            # final answer comes at once (RFC 9110, 10.1.1).
            length = int(headers.get("content-length") or 0)
            if length and headers.get("expect", "").lower() != "100-continue":
                await asyncio.wait_for(reader.readexactly(length), 10)
            writer.write(
                b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/xml\r\n"
                b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
                % (len(INTERNAL_ERROR), INTERNAL_ERROR)
            )
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def refused_url() -> str:
    """A loopback URL nothing listens on (the port was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest_asyncio.fixture(params=["refused", "500"])
async def accelerated(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, Any]]:
    """(URL standing in for the acceleration endpoint, its FailingEndpoint or None)."""
    if request.param == "refused":
        yield refused_url(), None
        return
    endpoint = FailingEndpoint()
    url = await endpoint.start()
    try:
        yield url, endpoint
    finally:
        await endpoint.stop()


@pytest.mark.asyncio
async def test_requests_fall_back_to_the_normal_endpoint(
    accelerated: tuple[str, FailingEndpoint | None],
    s3_config: S3Config,
    bucket: str,
    boto3_client: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url, failing = accelerated
    boto3_client.put_bucket_accelerate_configuration(
        Bucket=bucket, AccelerateConfiguration={"Status": "Enabled"}
    )
    config = s3_config.model_copy(
        update={
            "accelerate": True,
            "circuit_failures": 2,
            "circuit_cooldown": 60.0,
            "secret_access_key": SecretStr(SECRET),
        }
    )
    monkeypatch.setattr(
        s3opt.s3store,
        "open_endpoints",
        functools.partial(open_endpoints, accelerated_endpoint_url=url),
    )
    caplog.set_level(logging.DEBUG, logger="s3opt")
    async with S3Store.open(f"s3://{bucket}/acc/", config) as store:
        requester = store._context.requester  # the store's one Requester (private)
        assert requester.health.endpoint == url
        assert requester.fallback is not None
        assert requester.fallback.health.endpoint == s3_config.endpoint_url
        contents = {f"k{n}": bytes([n]) * (1000 + n) for n in range(4)}
        for key, data in contents.items():
            await store.put(key, data)
        assert await store.get_range("k3", 10, 5) == contents["k3"][10:15]
        assert (await store.head("k2")).size == len(contents["k2"])
        listed = [info.key async for info in store.list("")]
        breaker = requester.health.breaker
        fallback_breaker = requester.fallback.health.breaker
    assert sorted(listed) == sorted(contents)
    # What the normal endpoint holds, read without s3opt.
    for key, data in contents.items():
        assert boto3_client.get_object(Bucket=bucket, Key=f"acc/{key}")["Body"].read() == data
    assert breaker.state is BreakerState.OPEN
    assert breaker.consecutive_failures == 2
    assert fallback_breaker.state is BreakerState.CLOSED
    if failing is not None:
        # Two requests reached it (one attempt each) before its breaker opened.
        assert failing.requests == 2
    switches = [r for r in caplog.records if "falling back to" in r.getMessage()]
    assert len(switches) == 1
    assert switches[0].levelno == logging.WARNING
    assert url in switches[0].getMessage()
    assert SECRET not in caplog.text


@pytest.mark.asyncio
async def test_without_acceleration_on_the_bucket_no_fallback_is_kept(
    s3_config: S3Config, bucket: str, caplog: pytest.LogCaptureFixture
) -> None:
    config = s3_config.model_copy(update={"accelerate": True})
    async with open_endpoints(
        config, bucket=bucket, accelerated_endpoint_url=refused_url()
    ) as endpoints:
        assert endpoints.primary_endpoint == s3_config.endpoint_url
        assert endpoints.fallback is None
        reply = await endpoints.primary.put_object(Bucket=bucket, Key="plain", Body=b"p")
    assert reply["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert "transfer acceleration is not enabled on bucket" in caplog.text
