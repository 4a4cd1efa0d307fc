"""Every aiobotocore and botocore import s3opt makes, and the one way to open an S3 client.

aiobotocore pins botocore to a narrow range and its internals move between
releases, so s3opt touches it in this module only (aiobotocore's own advice);
the rest of s3opt imports the client type and the exception classes from
here (aiohttp's too: aiobotocore lets some of them through unwrapped, e.g.
``ClientPayloadError`` when a body is cut off mid-read).

The client is configured for s3opt's own retry loop and limiter:

* botocore retries are off (``standard`` mode, ``total_max_attempts=1``). Retrying inside
  botocore would hide throttles and timeouts from the limiter, and the
  ``adaptive`` mode runs a CUBIC rate limiter of its own that would fight
  netalgo's controller.
* ``max_pool_connections`` is ``config.max_connections``, which must be at or
  above the limiter's ceiling, or requests queue in aiohttp and distort the
  RTT samples the controller learns from.
* checksums are computed for every request that supports them and validated
  on responses that carry one (``when_supported``): each part travels with a
  CRC that S3 verifies.
* the body of a part or PUT is not hashed again for the signature: those requests carry
  ``Content-MD5`` and ``x-amz-checksum-sha256``, both signed and both checked by S3
  against the body, so the body is bound to the signature already. botocore draws the
  same conclusion over https (it then signs ``UNSIGNED-PAYLOAD``) but over plain http
  (MinIO, moto, Ceph on a LAN) hashes every body on the event loop: 35 ms for an 8 MiB
  part on this machine under load, which held back the start of each window of parts.
  See :func:`_unsigned_when_checksummed`.
* parts and PUTs go without ``Expect: 100-continue`` (:func:`_no_expect_continue`):
  waiting for ``100 Continue`` idled each part's connection for a round trip.
* timestamps (``Last-Modified`` on every GET and HEAD, ``LastModified`` on every listed
  key) are parsed by :func:`parse_s3_timestamp` (the standard library) rather than
  botocore's default, ``dateutil``: ~0.43 ms each on this machine, ~1 ms of CPU per
  request under load, 0.4 s per listed page of 1,000 keys. botocore offers the hook
  for this (``ResponseParserFactory.set_parser_defaults(timestamp_parser=...)``).
* the ``User-Agent`` is a fixed string (:func:`user_agent`: s3opt, aiobotocore,
  Python and OS versions; botocore adds its own), given as botocore's ``Config(user_agent=...)``.
  Left unset, botocore assembles its structured User-Agent from ~16 components twice
  per request (~1 ms of CPU under load), to report SDK feature ids to AWS.
* a part read from a file (a :class:`LoopReadBody`) is sent by :class:`_LoopReadPayload`,
  registered with aiohttp's payload registry (``aiohttp.payload.register_payload``, for
  that type only): 256 KiB at a time read on the event loop, where aiohttp's own
  ``io.IOBase`` payload hops to a worker thread for every 256 KiB. Those hops cost
  ~0.9 CPU seconds per GiB uploaded (256 MiB from a file to moto on loopback, three A/B
  pairs: 5.3-5.8 CPU s/GiB with them, 4.2-4.6 without); the reads they moved off the
  loop take ~25 us each, the part having just been hashed through the page cache.
* S3 Transfer Acceleration (``config.accelerate``) is used only when the
  bucket has it enabled; otherwise the normal endpoint is used and a warning
  logged. When it is used, the normal endpoint's client stays open as the
  fallback (see :func:`open_endpoints`).
"""

from __future__ import annotations

import io
import logging
import os
import platform
import threading
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import IO, TYPE_CHECKING, Any, Final

import aiobotocore
from aiobotocore.config import AioConfig
from aiobotocore.response import AioReadTimeoutError
from aiobotocore.session import AioSession
from aiohttp import ClientConnectionError as AiohttpConnectionError
from aiohttp import ClientPayloadError as AiohttpPayloadError
from aiohttp.abc import AbstractStreamWriter
from aiohttp.payload import IOBasePayload, Order, register_payload
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    FlexibleChecksumError,
    HTTPClientError,
    NoCredentialsError,
    ReadTimeoutError,
    ResponseStreamingError,
)
from botocore.exceptions import ChecksumError as BotoChecksumError
from botocore.exceptions import ConnectionError as BotoConnectionError
from botocore.loaders import Loader, create_loader
from botocore.utils import parse_timestamp

from s3opt._version import __version__

if TYPE_CHECKING:
    from aiobotocore.session import ClientCreatorContext
    from types_aiobotocore_s3 import S3Client

    from s3opt.config import S3Config
else:
    # types-aiobotocore-s3 is a type checker's dependency only: at run time the name is
    # the base class every generated aiobotocore client (S3's included) derives from.
    from aiobotocore.client import AioBaseClient as S3Client

__all__ = [
    "ACCELERATED_ENDPOINT",
    "AioConfig",
    "AioReadTimeoutError",
    "AiohttpConnectionError",
    "AiohttpPayloadError",
    "BotoChecksumError",
    "BotoConnectionError",
    "BotoCoreError",
    "ClientError",
    "ConnectTimeoutError",
    "ConnectionClosedError",
    "EndpointConnectionError",
    "Endpoints",
    "FlexibleChecksumError",
    "HTTPClientError",
    "LoopReadBody",
    "NoCredentialsError",
    "ReadTimeoutError",
    "ResponseStreamingError",
    "S3Client",
    "client_config",
    "open_client",
    "open_endpoints",
    "parse_s3_timestamp",
    "user_agent",
]

_logger = logging.getLogger(__name__)

ACCELERATED_ENDPOINT = "s3-accelerate.amazonaws.com"
"""The Transfer Acceleration endpoint botocore addresses as ``<bucket>.s3-accelerate...``."""


@dataclass(frozen=True, slots=True)
class Endpoints:
    """The clients a store talks through: ``primary`` for every request, and while
    Transfer Acceleration is in use, ``fallback`` on the normal endpoint."""

    primary: S3Client
    primary_endpoint: str
    fallback: S3Client | None = None
    fallback_endpoint: str | None = None


class LoopReadBody(io.RawIOBase):
    """A request body aiohttp reads on the event loop, 256 KiB per read, never in a thread.

    For bodies whose reads are cheap enough for the loop: spans of a file the page
    cache has just served. A subclass implements ``read`` and the seeking botocore
    and retries need. Sent by :class:`_LoopReadPayload`.
    """


_SEND_BLOCK: Final = 2**18
"""Bytes of a :class:`LoopReadBody` read and handed to the connection at a time (aiohttp's
own chunk size): the socket takes them in one write on a fast path, and a slow one
holds at most this much beyond the socket's buffer."""


class _LoopReadPayload(IOBasePayload):
    """aiohttp's payload for a :class:`LoopReadBody`: read :data:`_SEND_BLOCK` bytes on the
    loop, write them, wait for the connection to drain, repeat.

    aiohttp's :class:`~aiohttp.payload.IOBasePayload` does the same but runs every read in
    the default executor: one thread hop (futures, a wake-up, the GIL handed over twice)
    per 256 KiB, 20 for each 5 MiB part, which cost more CPU than the read itself.

    Every write sends the body from where it stood when the payload was made, at most
    ``content_length`` bytes. aiohttp writes one payload more than once: it resends an
    idempotent request (a PUT, so every part) by itself when a kept-alive connection
    turns out to be closed or reset, with the payload of the attempt that consumed the
    body. Sent from where the body then stood, that resend carried no bytes under a
    ``Content-Length`` of a whole part, and the part hung until the read timeout (60 s
    on the ``lossy`` profile, one reset in a hundred requests: 1 GiB uploads ran at 19%
    of the path instead of 97%). A body that ends before ``content_length`` fails the
    write (:class:`ValueError`, which aiohttp reports as a connection error, so the
    attempt is retried) rather than leave the server waiting for the rest.
    """

    def __init__(self, value: IO[Any], *args: Any, **kwargs: Any) -> None:
        super().__init__(value, *args, **kwargs)
        self._start = value.tell()

    async def write_with_length(
        self, writer: AbstractStreamWriter, content_length: int | None
    ) -> None:
        body = self._value
        body.seek(self._start)
        remaining = content_length
        while remaining is None or remaining > 0:
            block = body.read(_SEND_BLOCK if remaining is None else min(_SEND_BLOCK, remaining))
            if not block:
                if remaining is None:
                    return
                raise ValueError(f"request body ended {remaining} bytes before its Content-Length")
            await writer.write(block)
            if remaining is not None:
                remaining -= len(block)


# try_first: aiobotocore hands aiohttp every io.IOBase body inside a proxy, so aiohttp's
# lookup by exact type misses and its isinstance() scan would find IOBasePayload first.
register_payload(_LoopReadPayload, LoopReadBody, order=Order.try_first)


def user_agent() -> str:
    """``s3opt/V aiobotocore/V Python/V OS/release [app/ID]``: s3opt's ``User-Agent``.

    One fixed string instead of botocore building its structured one twice per
    request. ``app/ID`` carries ``AWS_SDK_UA_APP_ID``, the application id the AWS
    SDKs send. botocore appends the session's extras to it (aiobotocore's session
    adds ``botocore/V``) and a config's ``user_agent_extra``.
    """
    agent = (
        f"s3opt/{__version__} aiobotocore/{aiobotocore.__version__} "
        f"Python/{platform.python_version()} {platform.system()}/{platform.release()}"
    )
    app_id = os.environ.get("AWS_SDK_UA_APP_ID", "").strip()
    return f"{agent} app/{app_id}" if app_id else agent


def client_config(config: S3Config, *, accelerate: bool = False) -> AioConfig:
    """The botocore ``Config`` s3opt uses: no botocore retries, pool sized from ``config``."""
    s3_options: dict[str, str | bool] = {"addressing_style": config.addressing_style}
    if accelerate:
        s3_options["use_accelerate_endpoint"] = True
        # Acceleration endpoints are virtual-hosted only.
        s3_options["addressing_style"] = "virtual"
    return AioConfig(
        region_name=config.region,
        # total_max_attempts, not max_attempts: in a client Config botocore reads
        # "max_attempts" as the number of *retries* (1 would mean two attempts).
        retries={"mode": "standard", "total_max_attempts": 1},
        max_pool_connections=config.max_connections,
        connect_timeout=config.connect_timeout,
        read_timeout=config.read_timeout,
        s3=s3_options,
        request_checksum_calculation="when_supported",
        response_checksum_validation="when_supported",
        tcp_keepalive=True,
        user_agent=user_agent(),
    )


_loaders: dict[str | None, Loader] = {}
_loaders_lock = threading.Lock()


def _shared_loader(data_path: str | None) -> Loader:
    """One botocore data loader per data path for the whole process.

    A new session parses botocore's JSON models (the S3 service model, endpoint
    rules, partitions) again through its own loader: ~170 ms of every store
    opened. The loader only reads and caches those files, so sessions can share
    it across threads and event loops; the sessions themselves (credentials,
    whose refresh locks belong to a loop) stay one per client.
    """
    with _loaders_lock:
        loader = _loaders.get(data_path)
        if loader is None:
            loader = _loaders[data_path] = create_loader(data_path)
        return loader


_BODY_CHECKSUMS: Final = ("Content-MD5", "x-amz-checksum-sha256")


def _unsigned_when_checksummed(request: Any, **_: Any) -> None:
    """``before-sign`` handler: sign ``UNSIGNED-PAYLOAD`` for a body carrying both checksums.

    AWS Signature Version 4 for S3 ("Signature Calculations for the Authorization
    Header: Transferring Payload in a Single Chunk") lets a request sign the literal
    ``UNSIGNED-PAYLOAD`` instead of the body's SHA-256. The body stays bound to the
    signature through the signed ``Content-MD5`` and ``x-amz-checksum-sha256`` headers,
    which S3 verifies against it. botocore reads the choice from the request's client
    config (``s3.payload_signing_enabled``), so this request gets a copy with it off.
    """
    headers = request.headers
    if not all(name in headers for name in _BODY_CHECKSUMS):
        return
    context = request.context
    client_config = context.get("client_config")
    s3_options = getattr(client_config, "s3", None) or {}
    if s3_options.get("payload_signing_enabled") is False:
        return
    base = client_config if isinstance(client_config, Config) else Config()
    options: Any = {**s3_options, "payload_signing_enabled": False}
    merged = base.merge(Config(s3=options))
    context["client_config"] = merged


def _no_expect_continue(request: Any, **_: Any) -> None:
    """``before-sign`` handler: send a part's or PUT's body without ``Expect: 100-continue``.

    botocore asks for ``100 Continue`` before every file-like body (``add_expect_header``)
    and aiohttp then waits for it (RFC 9110 section 10.1.1): one round trip per part
    during which the connection carries nothing, 150 ms of every 2-3 s part on a 150 ms
    path. The header only saves sending a body the server would refuse; S3's refusals of
    parts (throttles, a gone upload, denied access) are rare and a part is at most what
    the window admits, so s3opt sends at once. S3 documents the header as optional
    (S3 API Reference, PutObject and UploadPart, ``Expect``).
    """
    if "Expect" in request.headers:
        del request.headers["Expect"]


def parse_s3_timestamp(value: Any) -> datetime:
    """A timestamp of an S3 response as an aware ``datetime``, as botocore would give it.

    S3 sends RFC 7231 IMF-fixdates in headers (``Sun, 06 Nov 1994 08:49:37 GMT``;
    RFC 7231 section 7.1.1.1) and ISO 8601 in XML bodies (``2009-10-12T17:50:30.000Z``).
    Those two forms are read by the standard library when they name their zone;
    anything else (epoch seconds, a zoneless time) goes to botocore's own parser, so
    the answer is never a different instant from botocore's.
    """
    if isinstance(value, str) and value:
        try:
            parsed = (
                datetime.fromisoformat(value)
                if value[0].isdigit()
                else parsedate_to_datetime(value)
            )
        except (TypeError, ValueError):
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed
    result: datetime = parse_timestamp(value)
    return result


def _session(config: S3Config) -> AioSession:
    # A profile only selects credentials/region from the shared files; explicit keys win.
    session = AioSession(profile=config.profile) if config.profile else AioSession()
    session.register_component(
        "data_loader", _shared_loader(session.get_config_variable("data_path"))
    )
    for operation in ("UploadPart", "PutObject"):
        session.register(f"before-sign.s3.{operation}", _unsigned_when_checksummed)
        session.register(f"before-sign.s3.{operation}", _no_expect_continue)
    parsers = session.get_component("response_parser_factory")
    parsers.set_parser_defaults(timestamp_parser=parse_s3_timestamp)
    return session


def _create(
    session: AioSession, config: S3Config, *, accelerate: bool, endpoint_url: str | None = None
) -> ClientCreatorContext[S3Client]:
    """A client for the normal endpoint, the accelerated one, or ``endpoint_url`` standing
    in for the accelerated one (an ordinary client: botocore refuses acceleration with a
    custom endpoint)."""
    secret = config.secret_access_key
    token = config.session_token
    if endpoint_url is None:
        endpoint_url = None if accelerate else config.endpoint_url
    else:
        accelerate = False
    return session.create_client(
        "s3",
        region_name=config.region,
        endpoint_url=endpoint_url,
        aws_access_key_id=config.access_key_id,
        aws_secret_access_key=secret.get_secret_value() if secret is not None else None,
        aws_session_token=token.get_secret_value() if token is not None else None,
        config=client_config(config, accelerate=accelerate),
    )


async def _acceleration_enabled(client: S3Client, bucket: str) -> bool:
    try:
        reply = await client.get_bucket_accelerate_configuration(Bucket=bucket)
    except (ClientError, BotoCoreError) as exc:
        _logger.warning(
            "cannot read transfer acceleration status of bucket %s (%s): using the normal endpoint",
            bucket,
            type(exc).__name__,
        )
        return False
    return bool(reply.get("Status") == "Enabled")


@asynccontextmanager
async def _open(
    config: S3Config, bucket: str | None, accelerated_endpoint_url: str | None
) -> AsyncIterator[Endpoints]:
    session = _session(config)
    normal = config.endpoint_url or "s3.amazonaws.com"
    stand_in = accelerated_endpoint_url is not None
    want_accelerate = config.accelerate and (config.endpoint_url is None or stand_in)
    if config.accelerate and not want_accelerate:
        _logger.warning(
            "transfer acceleration ignored: a custom endpoint_url (%s) is set", config.endpoint_url
        )
    async with _create(session, config, accelerate=False) as client:
        if not want_accelerate:
            yield Endpoints(client, normal)
            return
        if bucket is not None and "." in bucket:
            _logger.warning(
                "transfer acceleration unavailable for bucket %s (dots in its name): "
                "using the normal endpoint",
                bucket,
            )
            yield Endpoints(client, normal)
            return
        if bucket is not None and not await _acceleration_enabled(client, bucket):
            _logger.warning(
                "transfer acceleration is not enabled on bucket %s: using the normal endpoint",
                bucket,
            )
            yield Endpoints(client, normal)
            return
        accelerated_cm = _create(
            session, config, accelerate=True, endpoint_url=accelerated_endpoint_url
        )
        async with accelerated_cm as accelerated:
            yield Endpoints(
                accelerated, accelerated_endpoint_url or ACCELERATED_ENDPOINT, client, normal
            )


def open_endpoints(
    config: S3Config, *, bucket: str | None = None, accelerated_endpoint_url: str | None = None
) -> AbstractAsyncContextManager[Endpoints]:
    """Open the :class:`Endpoints` for ``config``: ``async with open_endpoints(cfg) as ep:``.

    Credentials: ``config.access_key_id`` / ``secret_access_key`` / ``session_token``
    when set, else botocore's standard chain (environment, ``config.profile`` or the
    default profile, container and instance metadata).

    Transfer acceleration: with ``config.accelerate`` and ``bucket`` given, the
    bucket's acceleration status is read first; when it is not ``Enabled`` (or
    cannot be read, or the bucket name has dots, or a custom ``endpoint_url`` is
    set) only the normal endpoint is opened and a warning is logged. Without
    ``bucket`` the accelerated endpoint is used as asked. Either way the normal
    endpoint's client is kept as ``fallback``.

    ``accelerated_endpoint_url`` stands in for the acceleration endpoint (tests point
    it at a loopback port while ``config.endpoint_url`` is a local S3 server).
    """
    return _open(config, bucket, accelerated_endpoint_url)


@asynccontextmanager
async def _primary(config: S3Config, bucket: str | None) -> AsyncIterator[S3Client]:
    async with open_endpoints(config, bucket=bucket) as endpoints:
        yield endpoints.primary


def open_client(
    config: S3Config, *, bucket: str | None = None
) -> AbstractAsyncContextManager[S3Client]:
    """The primary client of :func:`open_endpoints` alone (no fallback)."""
    return _primary(config, bucket)
