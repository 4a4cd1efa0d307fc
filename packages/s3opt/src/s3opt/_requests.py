"""The one place s3opt makes an S3 request: attempt, time, classify, retry.

For each attempt, in this order:

1. the endpoint's circuit breaker is asked (:class:`EndpointUnavailableError`
   at once when it is open);
2. the caller's ``attempt()`` context is entered (``limiter.slot(nbytes)``), so
   the limiter counts the attempt in flight;
3. the botocore call runs under ``asyncio.timeout`` covering the whole
   attempt, the response body included (``get_object`` bodies are read here,
   inside the attempt, so a reset mid-body is retried like any other): into
   bytes, or chunk by chunk into the caller's :data:`BodySink`;
4. a failure is classified (:mod:`s3opt.classify`) and raised *inside* the
   slot, so the limiter sees the throttle, timeout or reset as a loss.

With a :class:`Fallback` (the normal endpoint while the primary one is S3
Transfer Acceleration), an attempt goes to the fallback when the primary's
breaker is open, or when this request's last attempt failed at the primary for
the endpoint's own reasons (:func:`s3opt.health.is_endpoint_failure`); the
first such switch is logged once, as a warning.

The retry loop (full-jitter backoff under the deadline, :mod:`s3opt.retry`)
sleeps *outside* the slot: a backing-off request holds no window. Fatal
errors are raised at once; when retries run out the last error is raised as
is, except that repeated connect failures become :class:`EndpointUnavailableError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, TypeAlias

from s3opt._aws import S3Client
from s3opt.classify import (
    classify,
    error_status,
    error_type,
    is_connect_failure,
    is_retryable,
    target,
)
from s3opt.errors import EndpointUnavailableError, S3OptError, ThrottledError
from s3opt.health import EndpointHealth, is_endpoint_failure
from s3opt.retry import RetryBudget, RetryPolicy

if TYPE_CHECKING:
    from opsmetrics import Metrics
    from s3opt.config import S3Config

__all__ = [
    "BODY_BYTES",
    "SINK_CHUNK",
    "BodySink",
    "Fallback",
    "Requester",
    "ResponseHook",
    "operation_name",
]

_logger = logging.getLogger(__name__)

BodySink: TypeAlias = Callable[[int, Sequence[bytes]], Awaitable[object]]
"""``await sink(offset_in_body, pieces)``: where a streamed response body goes, in order.

``pieces`` are consecutive slices of the body as the connection delivered them (about
:data:`SINK_CHUNK` bytes in all), not joined: a sink that writes them to a file hands them
to ``os.pwritev`` as they are, so the body is copied once, from the socket buffer.

Called inside the attempt, so its time counts against the attempt's timeout and a
failure mid-body fails (and retries) the attempt. A retried attempt starts again at
offset 0: the sink sees the same offsets again and must overwrite what it got before
(writing at file offsets is idempotent; appending is not). An exception the sink raises
ends the call with that exception, as it is: it is the caller's failure, not the
endpoint's, so it is neither classified nor retried."""

ResponseHook: TypeAlias = Callable[[dict[str, Any]], object]
"""``hook(response)``: told each attempt's response headers before its body is read.

botocore's response dict with the ``Body`` still unread (the hook must not read it).
The headers of a ranged GET name the object's size, ETag and metadata, so a download
can plan its other ranges while the first one's bytes are still arriving. Called once
per successful attempt (a retry calls it again); an exception it raises ends the call
with that exception, as a sink's does."""

BODY_BYTES: Final = "BodyBytes"
"""The response key that replaces ``Body`` when a sink took it: the bytes it was given."""

SINK_CHUNK: Final = 2**20
"""Bytes a sink gets per call (the last call may get fewer): few enough that a range in
flight holds about one chunk, many enough that a thread hop per chunk costs nothing."""


def operation_name(operation: str) -> str:
    """botocore's method name as the AWS SDKs spell it: ``put_object`` -> ``PutObject``."""
    return "".join(part[:1].upper() + part[1:] for part in operation.split("_"))


@dataclass(frozen=True, slots=True)
class Fallback:
    """Where attempts go while the primary endpoint is failing: a client and its health."""

    client: S3Client
    health: EndpointHealth


class Requester:
    """Makes S3 requests through one aiobotocore client with s3opt's retry, timeout and
    breaker (and a :class:`Fallback` client while the primary endpoint is down)."""

    def __init__(
        self,
        client: S3Client,
        config: S3Config,
        *,
        health: EndpointHealth,
        fallback: Fallback | None = None,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._client = client
        self._config = config
        self._health = health
        self._fallback = fallback
        self._fell_back = False
        self._metrics = metrics
        self._clock = clock
        self._sleep = sleep
        self._policy = RetryPolicy(
            config.retry, clock=clock, rng=rng if rng is not None else random.Random()
        )

    @property
    def health(self) -> EndpointHealth:
        """The primary endpoint's health."""
        return self._health

    @property
    def fallback(self) -> Fallback | None:
        return self._fallback

    async def call(
        self,
        operation: str,
        *,
        bucket: str,
        key: str | None = None,
        attempt: Callable[[], AbstractAsyncContextManager[object]] | None = None,
        timeout: float | None = None,
        sink: BodySink | None = None,
        on_response: ResponseHook | None = None,
        **params: Any,
    ) -> dict[str, Any]:
        """Run ``client.<operation>(Bucket=bucket, Key=key, **params)`` with retries.

        ``key`` is passed as ``Key`` when not None (and names the target in errors
        either way). ``timeout`` bounds each attempt (default ``config.read_timeout``);
        the whole call is bounded by ``config.retry.deadline``. Returns botocore's
        response dict; a streaming ``Body`` is replaced by its bytes or, with ``sink``,
        handed to the sink in chunks of :data:`SINK_CHUNK` bytes as it arrives and
        replaced by its length under :data:`BODY_BYTES` (each attempt restarts the
        sink at offset 0: see :data:`BodySink`). ``on_response`` sees each attempt's
        headers before its body (:data:`ResponseHook`).
        """
        if operation.startswith("_") or getattr(self._client, operation, None) is None:
            raise ValueError(f"the S3 client has no operation {operation!r}")
        if key is not None:
            params.setdefault("Key", key)
        per_attempt = self._config.read_timeout if timeout is None else timeout
        budget = self._policy.begin()
        failed_at_primary: S3OptError | None = None
        while True:
            client, health = self._route(operation, bucket, key, failed_at_primary)
            method = getattr(client, operation)
            error = await self._attempt(
                method,
                health,
                operation,
                bucket,
                key,
                attempt,
                params,
                per_attempt,
                budget,
                sink,
                on_response,
            )
            if not isinstance(error, S3OptError):
                return error
            if health is self._health and is_endpoint_failure(error):
                failed_at_primary = error
            delay = budget.next_delay() if is_retryable(error) else None
            if delay is None:
                raise self._final(error, health, operation, bucket, key, budget)
            self._count_retry(operation, error)
            _logger.debug(
                "%s %s: retry %d in %.3fs after %s",
                operation,
                target(bucket, key),
                budget.attempts,
                delay,
                error_type(error),
            )
            await self._sleep(delay)

    def _route(
        self, operation: str, bucket: str, key: str | None, failed_at_primary: S3OptError | None
    ) -> tuple[S3Client, EndpointHealth]:
        """The client and health for the next attempt (admitted by that endpoint's breaker)."""
        fallback = self._fallback
        reason = None if failed_at_primary is None else error_type(failed_at_primary)
        try:
            if fallback is None or reason is None:
                try:
                    self._health.before_attempt(bucket=bucket, key=key)
                    return self._client, self._health
                except EndpointUnavailableError:
                    if fallback is None:
                        raise
                    reason = "circuit breaker open"
            if not self._fell_back:
                self._fell_back = True
                _logger.warning(
                    "endpoint %s is failing (%s): falling back to %s while it is down",
                    self._health.endpoint,
                    reason,
                    fallback.health.endpoint,
                )
            fallback.health.before_attempt(bucket=bucket, key=key)
            return fallback.client, fallback.health
        except EndpointUnavailableError as exc:
            raise EndpointUnavailableError(
                f"{operation} {target(bucket, key)}: {exc}", bucket=bucket, key=key
            ) from None

    async def _attempt(
        self,
        method: Callable[..., Awaitable[dict[str, Any]]],
        health: EndpointHealth,
        operation: str,
        bucket: str,
        key: str | None,
        attempt: Callable[[], AbstractAsyncContextManager[object]] | None,
        params: dict[str, Any],
        per_attempt: float,
        budget: RetryBudget,
        sink: BodySink | None,
        on_response: ResponseHook | None,
    ) -> dict[str, Any] | S3OptError:
        """One attempt: the response, or the classified error (raised through the slot)."""
        started = self._clock()
        outcome: dict[str, Any] | S3OptError
        slot = attempt() if attempt is not None else contextlib.nullcontext()
        try:
            async with slot:
                started = self._clock()
                try:
                    limit = max(0.0, min(per_attempt, budget.remaining()))
                    async with asyncio.timeout(limit):
                        response = await method(Bucket=bucket, **params)
                        if on_response is not None:
                            _tell(on_response, response)
                        await _read_body(response, sink)
                except (asyncio.CancelledError, _SinkError):
                    raise
                except Exception as exc:
                    raise classify(exc, bucket=bucket, key=key, operation=operation) from exc
        except asyncio.CancelledError:
            health.on_abandoned()
            raise
        except _SinkError as exc:  # the caller's own failure: not the endpoint's, not retried
            health.on_abandoned()
            raise exc.error from None
        except S3OptError as exc:
            outcome = exc
            health.on_failure(exc)
            self._record(operation, started, status=error_status(exc), error=error_type(exc))
            if isinstance(exc, ThrottledError):
                self._count_throttle(operation, exc)
        else:
            health.on_success(self._clock() - started)
            status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
            self._record(operation, started, status=status if isinstance(status, int) else None)
            outcome = response
        return outcome

    def _final(
        self,
        error: S3OptError,
        health: EndpointHealth,
        operation: str,
        bucket: str,
        key: str | None,
        budget: RetryBudget,
    ) -> S3OptError:
        """The error to raise once the request gives up."""
        if is_retryable(error) and is_connect_failure(error):
            reason = str(error).removeprefix(f"{operation} {target(bucket, key)}: ")
            final = EndpointUnavailableError(
                f"{operation} {target(bucket, key)}: endpoint {health.endpoint} is "
                f"unavailable: {reason}; gave up after {budget.attempts} attempts "
                f"in {budget.elapsed:.1f}s",
                bucket=bucket,
                key=key,
            )
            final.__cause__ = error.__cause__
            return final
        return error

    def _record(
        self, operation: str, started: float, *, status: int | None, error: str | None = None
    ) -> None:
        if self._metrics is None:
            return
        try:
            self._metrics.s3_request(
                operation=operation_name(operation),
                duration=max(0.0, self._clock() - started),
                status_code=status,
                error_type=error,
            )
        except (TypeError, ValueError):  # a metric must never fail a request
            _logger.debug("could not record s3_request for %s", operation, exc_info=True)

    def _count_retry(self, operation: str, error: S3OptError) -> None:
        if self._metrics is None:
            return
        name, reason = operation_name(operation), error_type(error)
        try:
            self._metrics.s3_retry(operation=name, reason=reason)
        except (TypeError, ValueError):
            _logger.debug("could not record s3_retry for %s", operation, exc_info=True)

    def _count_throttle(self, operation: str, error: S3OptError) -> None:
        if self._metrics is None:
            return
        try:
            self._metrics.s3_throttle(operation=operation_name(operation), reason=error_type(error))
        except (TypeError, ValueError):
            _logger.debug("could not record s3_throttle for %s", operation, exc_info=True)


class _SinkError(Exception):
    """A sink's own failure (a local write, say): raised to the caller as it is, never
    classified as a network error (an ``OSError`` would be), retried or seen as congestion."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def _tell(hook: ResponseHook, response: dict[str, Any]) -> None:
    try:
        hook(response)
    except Exception as exc:
        raise _SinkError(exc) from exc


async def _feed(sink: BodySink, offset: int, pieces: Sequence[bytes]) -> None:
    try:
        await sink(offset, pieces)
    except Exception as exc:
        raise _SinkError(exc) from exc


async def _read_body(response: dict[str, Any], sink: BodySink | None) -> None:
    """Replace a streaming ``Body`` by its bytes, or feed it to ``sink`` (inside the attempt)."""
    body = response.get("Body")
    if body is None or isinstance(body, bytes | bytearray) or not hasattr(body, "read"):
        if sink is not None:
            data = response.pop("Body", None) or b""
            if data:
                await _feed(sink, 0, (bytes(data),))
            response[BODY_BYTES] = len(data)
        return
    try:
        if sink is None:
            response["Body"] = await body.read()
        else:
            del response["Body"]
            response[BODY_BYTES] = await _stream_body(body, sink)
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            result = close()
            if asyncio.iscoroutine(result):
                await result


async def _stream_body(body: Any, sink: BodySink) -> int:
    """Read ``body`` to its end (length checked by botocore) into ``sink``; the bytes read.

    aiohttp hands over what its buffer holds (tens of KiB at a time, its buffer being
    bounded); pieces are handed on in groups of about :data:`SINK_CHUNK` bytes, so a body
    in flight holds about two groups, whatever its size.
    """
    offset = 0
    pieces: list[bytes] = []
    pending = 0
    while True:
        piece = await body.read(SINK_CHUNK - pending)
        if piece:
            pieces.append(piece)
            pending += len(piece)
        if pending >= SINK_CHUNK or (not piece and pending):
            await _feed(sink, offset, pieces)
            offset += pending
            pieces = []
            pending = 0
        if not piece:
            return offset
