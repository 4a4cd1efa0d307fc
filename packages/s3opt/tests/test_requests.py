"""Requester against moto over real HTTP, with a small fault-injecting proxy in front of it."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import json
import os
import socket
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest

from opsmetrics.testing import MetricsRecorder
from s3opt._aws import AioConfig, client_config, open_client
from s3opt._requests import BODY_BYTES, SINK_CHUNK, Requester, operation_name
from s3opt.classify import is_congestion
from s3opt.config import RetryConfig, S3Config
from s3opt.errors import (
    AccessDeniedError,
    EndpointUnavailableError,
    NoSuchKeyError,
    ThrottledError,
    TransientError,
)
from s3opt.health import BreakerState, EndpointHealth
from s3opt.testing import MotoServer

SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message><RequestId>R1</RequestId>"
    b"<HostId>H1</HostId></Error>"
)


class FaultProxy:
    """An HTTP/1.1 proxy on loopback: the first ``faults`` requests get ``mode``, the rest moto.

    Modes: ``throttle`` (a valid S3 503 SlowDown), ``reset`` (connection closed after
    the request is read, no answer), ``hang`` (never answers), ``cut`` (moto's answer
    forwarded up to ``cut_after`` bytes, headers included, then the connection closed:
    a reset mid-body).
    """

    def __init__(self, upstream_port: int, *, mode: str, faults: int, cut_after: int = 0) -> None:
        self.upstream_port = upstream_port
        self.mode = mode
        self.faults = faults
        self.cut_after = cut_after
        self.requests = 0
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[Any]] = set()

    @property
    def endpoint_url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aenter__(self) -> FaultProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            await self._handle(reader, writer)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        except asyncio.CancelledError:
            pass  # the proxy is shutting down; the task ends here (nobody awaits it but us)
        finally:
            self._handlers.discard(task)
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        self.requests += 1
        fault = self.mode if self.requests <= self.faults else None
        if fault == "throttle":
            # Like S3: answer at once, before any body (the client sent Expect: 100-continue).
            writer.write(
                b"HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\n"
                + f"Content-Length: {len(SLOW_DOWN)}\r\n".encode()
                + b"Connection: close\r\n\r\n"
                + SLOW_DOWN
            )
            await writer.drain()
            return
        if fault == "hang":
            await asyncio.sleep(3600)
            return
        headers = _headers(head)
        if headers.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await writer.drain()
        head = b"\r\n".join(
            line
            for line in head.split(b"\r\n")
            if not line.lower().startswith((b"expect:", b"connection:"))
        )
        body = await _read_body(reader, headers)
        if fault == "reset":
            writer.transport.abort()
            return
        await self._forward(head + body, writer, self.cut_after if fault == "cut" else None)

    async def _forward(
        self, request: bytes, writer: asyncio.StreamWriter, cut_after: int | None = None
    ) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        sent = 0
        try:
            # One request per connection: ask both sides to close afterwards.
            up_writer.write(request.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1))
            await up_writer.drain()
            while chunk := await up_reader.read(65536):
                if cut_after is not None and sent + len(chunk) >= cut_after:
                    writer.write(chunk[: cut_after - sent])
                    await writer.drain()
                    writer.transport.abort()
                    return
                writer.write(chunk)
                sent += len(chunk)
                await writer.drain()
        finally:
            up_writer.close()


def _headers(head: bytes) -> dict[str, str]:
    fields = (line.decode("latin-1").partition(":") for line in head.split(b"\r\n")[1:] if line)
    return {name.strip().lower(): value.strip() for name, _, value in fields}


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if "content-length" in headers:
        return await reader.readexactly(int(headers["content-length"]))
    body = b""
    if headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            body += size_line + await reader.readexactly(size + 2) if size else size_line
            if size == 0:
                return body + await _read_trailers(reader)
    return body


async def _read_trailers(reader: asyncio.StreamReader) -> bytes:
    data = b""
    while True:
        line = await reader.readuntil(b"\r\n")
        data += line
        if line == b"\r\n":
            return data


class AttemptLog:
    """An ``attempt`` context factory recording entries, exits and what was raised inside."""

    def __init__(self) -> None:
        self.entered = 0
        self.exited = 0
        self.inside = 0
        self.raised: list[BaseException] = []

    def __call__(self) -> AbstractAsyncContextManager[object]:
        return self._slot()

    @asynccontextmanager
    async def _slot(self) -> AsyncIterator[object]:
        self.entered += 1
        self.inside += 1
        assert self.inside == 1, "attempts overlapped: each must run in its own context"
        try:
            yield self
        except BaseException as exc:
            self.raised.append(exc)
            raise
        finally:
            self.inside -= 1
            self.exited += 1


def _config(endpoint: str, **changes: Any) -> S3Config:
    retry = changes.pop(
        "retry", RetryConfig(max_attempts=5, base_delay=0.01, max_delay=0.05, deadline=20.0)
    )
    return S3Config(
        endpoint_url=endpoint,
        region="us-east-1",
        access_key_id="testing",
        secret_access_key="testing",  # type: ignore[arg-type]
        addressing_style="path",
        connect_timeout=2.0,
        read_timeout=10.0,
        retry=retry,
        **changes,
    )


@asynccontextmanager
async def _requester(
    config: S3Config, *, metrics: MetricsRecorder | None = None, threshold: int = 5
) -> AsyncIterator[Requester]:
    health = EndpointHealth(config.endpoint_url or "aws", failure_threshold=threshold)
    async with open_client(config) as client:
        yield Requester(client, config, health=health, metrics=metrics.metrics if metrics else None)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_operation_name() -> None:
    assert operation_name("put_object") == "PutObject"
    assert operation_name("list_objects_v2") == "ListObjectsV2"


@pytest.mark.asyncio
async def test_round_trip_reads_body_inside_the_attempt(s3_config: S3Config, bucket: str) -> None:
    data = bytes(range(256)) * 4099
    log = AttemptLog()
    async with _requester(s3_config) as requester:
        await requester.call("put_object", bucket=bucket, key="a/b.bin", attempt=log, Body=data)
        got = await requester.call("get_object", bucket=bucket, key="a/b.bin", attempt=log)
        ranged = await requester.call(
            "get_object", bucket=bucket, key="a/b.bin", Range="bytes=10-19"
        )
        head = await requester.call("head_object", bucket=bucket, key="a/b.bin")
    assert isinstance(got["Body"], bytes)
    assert _sha(got["Body"]) == _sha(data)
    assert ranged["Body"] == data[10:20]
    assert head["ContentLength"] == len(data)
    assert (log.entered, log.exited, log.raised) == (2, 2, [])
    assert requester.health.latency.value is not None
    assert requester.health.error_rate.value == 0.0


@pytest.mark.asyncio
async def test_fatal_error_is_not_retried(s3_config: S3Config, bucket: str) -> None:
    log = AttemptLog()
    async with _requester(s3_config) as requester:
        with pytest.raises(NoSuchKeyError) as info:
            await requester.call("get_object", bucket=bucket, key="missing", attempt=log)
    assert (info.value.bucket, info.value.key) == (bucket, "missing")
    assert log.entered == 1
    assert len(log.raised) == 1
    assert isinstance(log.raised[0], NoSuchKeyError)
    assert requester.health.breaker.state is BreakerState.CLOSED


@pytest.mark.asyncio
async def test_access_denied_by_bucket_policy_is_fatal(
    moto_server: MotoServer, s3_config: S3Config, bucket: str
) -> None:
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": f"arn:aws:s3:::{bucket}/*",
            }
        ],
    }
    log = AttemptLog()
    async with _requester(s3_config) as requester:
        # moto enforces a bucket policy on existing objects only (getmoto/moto#7837).
        await requester.call("put_object", bucket=bucket, key="locked", Body=b"v1")
        await requester.call("put_bucket_policy", bucket=bucket, Policy=json.dumps(policy))
        with pytest.raises(AccessDeniedError) as info:
            await requester.call("put_object", bucket=bucket, key="locked", attempt=log, Body=b"v2")
        got = await requester.call("get_object", bucket=bucket, key="locked")
    assert log.entered == 1
    assert (info.value.bucket, info.value.key) == (bucket, "locked")
    assert f"s3://{bucket}/locked" in str(info.value)
    assert "put_object" in str(info.value)
    assert got["Body"] == b"v1"


@pytest.mark.asyncio
async def test_throttles_are_retried_and_seen_as_congestion_inside_the_slot(
    moto_server: MotoServer, bucket: str
) -> None:
    data = b"x" * 100_000
    log = AttemptLog()
    with MetricsRecorder() as recorder:
        async with FaultProxy(moto_server.port, mode="throttle", faults=2) as proxy:
            config = _config(proxy.endpoint_url)
            async with _requester(config, metrics=recorder) as requester:
                await requester.call("put_object", bucket=bucket, key="t", attempt=log, Body=data)
                got = await requester.call("get_object", bucket=bucket, key="t")
        snapshot = recorder.snapshot()
    assert _sha(got["Body"]) == _sha(data)
    assert proxy.requests == 4
    assert log.entered == log.exited == 3
    assert len(log.raised) == 2
    assert all(isinstance(e, ThrottledError) and is_congestion(e) for e in log.raised)
    assert snapshot["s3opt.throttles"] == {"error.type=SlowDown,rpc.method=PutObject": 2}
    assert snapshot["s3opt.retries"] == {"error.type=SlowDown,rpc.method=PutObject": 2}
    requests = snapshot["s3opt.requests"]
    assert requests["http.response.status_code=200,rpc.method=PutObject"] == 1
    assert requests["error.type=SlowDown,http.response.status_code=503,rpc.method=PutObject"] == 2
    # Throttles prove the endpoint is up: the breaker never counted them.
    assert requester.health.breaker.consecutive_failures == 0


@pytest.mark.asyncio
async def test_throttles_past_max_attempts_raise_throttled_error(
    moto_server: MotoServer, bucket: str
) -> None:
    retry = RetryConfig(max_attempts=3, base_delay=0.01, max_delay=0.02, deadline=20.0)
    async with FaultProxy(moto_server.port, mode="throttle", faults=100) as proxy:
        requesting = _requester(_config(proxy.endpoint_url, retry=retry))
        async with requesting as requester:
            with pytest.raises(ThrottledError) as info:
                await requester.call("put_object", bucket=bucket, key="k", Body=b"1")
    assert proxy.requests == 3
    assert info.value.code == "SlowDown"
    assert (info.value.bucket, info.value.key) == (bucket, "k")


@pytest.mark.asyncio
async def test_resets_are_retried_as_congestion(moto_server: MotoServer, bucket: str) -> None:
    data = bytes(range(256)) * 1000
    moto_server_config = _config(moto_server.endpoint_url)
    async with _requester(moto_server_config) as direct:
        await direct.call("put_object", bucket=bucket, key="r", Body=data)
    log = AttemptLog()
    # aiohttp itself resends an idempotent request once after a disconnect, so one
    # attempt may absorb two resets: 4 resets make at least 2 failed attempts.
    async with FaultProxy(moto_server.port, mode="reset", faults=4) as proxy:
        requesting = _requester(_config(proxy.endpoint_url))
        async with requesting as requester:
            got = await requester.call("get_object", bucket=bucket, key="r", attempt=log)
    assert _sha(got["Body"]) == _sha(data)
    assert proxy.requests == 5
    assert len(log.raised) >= 2
    assert log.entered == log.exited == len(log.raised) + 1
    assert all(isinstance(e, TransientError) and is_congestion(e) for e in log.raised)


class BufferSink:
    """A sink writing at offsets into a buffer, as a download writes into its file."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.calls: list[tuple[int, int]] = []

    async def __call__(self, offset: int, pieces: Sequence[bytes]) -> None:
        chunk = b"".join(pieces)
        self.calls.append((offset, len(chunk)))
        end = offset + len(chunk)
        if len(self.data) < end:
            self.data.extend(bytes(end - len(self.data)))
        self.data[offset:end] = chunk
        await asyncio.sleep(0)  # a write takes a moment: the body keeps arriving meanwhile


@pytest.mark.asyncio
async def test_sink_receives_the_body_in_chunks_inside_the_attempt(
    s3_config: S3Config, bucket: str
) -> None:
    data = os.urandom(3 * SINK_CHUNK + 12345)
    sink = BufferSink()
    log = AttemptLog()
    async with _requester(s3_config) as requester:
        await requester.call("put_object", bucket=bucket, key="s", Body=data)
        got = await requester.call("get_object", bucket=bucket, key="s", attempt=log, sink=sink)
        ranged = BufferSink()
        small = await requester.call(
            "get_object", bucket=bucket, key="s", Range="bytes=10-19", sink=ranged
        )
        whole = await requester.call("get_object", bucket=bucket, key="s")
    assert "Body" not in got
    assert got[BODY_BYTES] == len(data)
    assert bytes(sink.data) == data
    assert len(sink.calls) >= 4
    assert all(length <= SINK_CHUNK for _, length in sink.calls)
    offsets = [offset for offset, _ in sink.calls]
    assert offsets == sorted(offsets)
    assert offsets[0] == 0
    assert all(a + n == b for (a, n), (b, _) in zip(sink.calls, sink.calls[1:], strict=False))
    assert (log.entered, log.exited, log.raised) == (1, 1, [])
    assert (small[BODY_BYTES], bytes(ranged.data)) == (10, data[10:20])
    assert _sha(whole["Body"]) == _sha(data)  # without a sink: the body's bytes, as before


@pytest.mark.asyncio
async def test_a_reset_mid_body_restarts_the_sink_at_offset_zero(
    moto_server: MotoServer, bucket: str
) -> None:
    data = os.urandom(3 * SINK_CHUNK)
    async with _requester(_config(moto_server.endpoint_url)) as direct:
        await direct.call("put_object", bucket=bucket, key="m", Body=data)
    sink = BufferSink()
    log = AttemptLog()
    # The first answer stops halfway through the second chunk: its headers and one
    # chunk were delivered, so aiohttp cannot resend it; the attempt itself fails.
    cut = SINK_CHUNK + SINK_CHUNK // 2
    async with FaultProxy(moto_server.port, mode="cut", faults=1, cut_after=cut) as proxy:
        requesting = _requester(_config(proxy.endpoint_url))
        async with requesting as requester:
            got = await requester.call("get_object", bucket=bucket, key="m", attempt=log, sink=sink)
    assert proxy.requests == 2
    assert got[BODY_BYTES] == len(data)
    assert bytes(sink.data) == data
    starts = [n for n, (offset, _) in enumerate(sink.calls) if offset == 0]
    assert len(starts) == 2  # the retry began again at 0 and overwrote
    assert starts[1] >= 1  # after the failed attempt had already written something
    assert log.entered == log.exited == 2
    assert len(log.raised) == 1
    assert isinstance(log.raised[0], TransientError)
    assert is_congestion(log.raised[0])  # a reset mid-body is a loss, inside the slot


@pytest.mark.asyncio
async def test_a_failing_sink_is_raised_as_is_and_not_retried(
    s3_config: S3Config, bucket: str
) -> None:
    async def full_disk(offset: int, pieces: Sequence[bytes]) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    log = AttemptLog()
    async with _requester(s3_config) as requester:
        await requester.call("put_object", bucket=bucket, key="d", Body=b"x" * 1000)
        with pytest.raises(OSError, match="No space left") as info:
            await requester.call("get_object", bucket=bucket, key="d", attempt=log, sink=full_disk)
    assert not isinstance(info.value, TransientError)
    assert log.entered == log.exited == 1  # not retried
    assert not any(is_congestion(e) for e in log.raised)  # not a loss for the limiter
    assert requester.health.breaker.consecutive_failures == 0


@pytest.mark.asyncio
async def test_a_hung_attempt_times_out_and_is_retried(
    moto_server: MotoServer, bucket: str
) -> None:
    log = AttemptLog()
    async with FaultProxy(moto_server.port, mode="hang", faults=1) as proxy:
        requesting = _requester(_config(proxy.endpoint_url))
        async with requesting as requester:
            started = time.monotonic()
            await requester.call(
                "put_object", bucket=bucket, key="h", attempt=log, timeout=0.5, Body=b"abc"
            )
            elapsed = time.monotonic() - started
    assert 0.5 <= elapsed < 5.0
    assert log.entered == 2
    assert len(log.raised) == 1
    assert isinstance(log.raised[0], TransientError)
    assert is_congestion(log.raised[0])
    assert "timed out" in str(log.raised[0])


@pytest.mark.asyncio
async def test_unreachable_endpoint_gives_endpoint_unavailable_quickly() -> None:
    config = _config(f"http://127.0.0.1:{_closed_port()}")
    log = AttemptLog()
    started = time.monotonic()
    async with _requester(config, threshold=100) as requester:
        with pytest.raises(EndpointUnavailableError) as info:
            await requester.call("head_object", bucket="some-bucket", key="k", attempt=log)
    assert time.monotonic() - started < 10.0
    message = str(info.value)
    assert "\n" not in message
    assert "s3://some-bucket/k" in message
    assert "unavailable" in message
    assert "testing" not in message  # no credentials
    assert log.entered == config.retry.max_attempts
    assert not any(is_congestion(e) for e in log.raised)  # refused is not congestion


@pytest.mark.asyncio
async def test_open_breaker_fails_fast_then_probes() -> None:
    config = _config(
        f"http://127.0.0.1:{_closed_port()}",
        retry=RetryConfig(max_attempts=10, base_delay=0.001, max_delay=0.002, deadline=20.0),
    )
    async with _requester(config, threshold=3) as requester:
        with pytest.raises(EndpointUnavailableError) as first:
            await requester.call("head_object", bucket="bkt", key="k")
        assert requester.health.breaker.state is BreakerState.OPEN
        log = AttemptLog()
        with pytest.raises(EndpointUnavailableError) as second:
            await requester.call("head_object", bucket="bkt", key="k2", attempt=log)
    assert "circuit breaker open, no request goes to it for" in str(first.value)
    assert config.endpoint_url is not None
    assert config.endpoint_url in str(second.value)
    assert "circuit breaker open, no request goes to it for" in str(second.value)
    assert log.entered == 0  # failed fast: no attempt was made
    assert second.value.key == "k2"


@pytest.mark.asyncio
async def test_cancellation_propagates_and_releases_the_slot(
    moto_server: MotoServer, bucket: str
) -> None:
    log = AttemptLog()
    async with FaultProxy(moto_server.port, mode="hang", faults=1) as proxy:
        requesting = _requester(_config(proxy.endpoint_url))
        async with requesting as requester:
            task = asyncio.create_task(
                requester.call("put_object", bucket=bucket, key="c", attempt=log, Body=b"1")
            )
            while log.entered == 0:
                await asyncio.sleep(0.01)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
    assert log.exited == 1
    assert requester.health.breaker.state is BreakerState.CLOSED


@pytest.mark.asyncio
async def test_unknown_operation_is_rejected(s3_config: S3Config) -> None:
    async with _requester(s3_config) as requester:
        with pytest.raises(ValueError, match="no operation"):
            await requester.call("no_such_operation", bucket="b")


@pytest.mark.asyncio
async def test_fake_clock_and_sleep_drive_backoff(moto_server: MotoServer, bucket: str) -> None:
    now = [0.0]
    sleeps: list[float] = []

    def clock() -> float:
        return now[0]

    async def sleep(delay: float) -> None:
        sleeps.append(delay)
        now[0] += delay

    retry = RetryConfig(max_attempts=4, base_delay=1.0, max_delay=4.0, deadline=1000.0)
    async with FaultProxy(moto_server.port, mode="throttle", faults=3) as proxy:
        config = _config(proxy.endpoint_url, retry=retry)
        health = EndpointHealth(proxy.endpoint_url, clock=clock)
        async with open_client(config) as client:
            requester = Requester(client, config, health=health, clock=clock, sleep=sleep)
            await requester.call("put_object", bucket=bucket, key="f", Body=b"z")
    assert len(sleeps) == 3
    for retry_index, delay in enumerate(sleeps):
        assert 0.0 <= delay <= min(4.0, 1.0 * 2**retry_index)


def test_client_config_leaves_retries_and_pacing_to_s3opt(s3_config: S3Config) -> None:
    config = client_config(s3_config.model_copy(update={"max_connections": 96}))
    assert _option(config, "retries") == {"mode": "standard", "total_max_attempts": 1}
    assert _option(config, "max_pool_connections") == 96
    timeouts = (_option(config, "connect_timeout"), _option(config, "read_timeout"))
    assert timeouts == (5.0, 30.0)
    assert _option(config, "s3") == {"addressing_style": "path"}
    assert _option(config, "request_checksum_calculation") == "when_supported"
    assert _option(config, "response_checksum_validation") == "when_supported"
    accelerated = client_config(s3_config, accelerate=True)
    assert _option(accelerated, "s3") == {
        "addressing_style": "virtual",
        "use_accelerate_endpoint": True,
    }


def _option(config: AioConfig, name: str) -> object:
    """One option of a client ``Config`` as botocore stored it.

    botocore sets each option as an instance attribute at run time; botocore-stubs
    declares only the constructor's parameters, not those attributes.
    """
    return getattr(config, name)


@pytest.mark.asyncio
async def test_accelerate_with_a_custom_endpoint_falls_back(
    s3_config: S3Config, bucket: str, caplog: pytest.LogCaptureFixture
) -> None:
    config = s3_config.model_copy(update={"accelerate": True})
    async with open_client(config, bucket=bucket) as client:
        reply = await client.put_object(Bucket=bucket, Key="acc", Body=b"a")
        assert client.meta.endpoint_url == s3_config.endpoint_url
    assert reply["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert "transfer acceleration ignored" in caplog.text
