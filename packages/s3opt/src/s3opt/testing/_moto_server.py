"""A real moto S3 server on loopback (:class:`MotoServer`); see :mod:`s3opt.testing`.

:class:`MotoServer` starts moto's server in a subprocess bound to 127.0.0.1
(through :mod:`s3opt.testing._moto_parts`, which adds the part list S3 gives in
GetObjectAttributes and moto leaves out), waits until it answers HTTP, and stops it
reliably (terminate, then kill: :func:`~s3opt.testing.stop_process`). The server keeps
all data in memory; :meth:`MotoServer.reset` empties it. This module does not import
moto itself (the server runs in its own process), so importing it is cheap.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from types import TracebackType
from typing import IO, Any, Final, Self

from pydantic import SecretStr

from s3opt.config import RetryConfig, S3Config
from s3opt.testing._process import stop_process

__all__ = ["MotoServer", "MotoServerError"]

_logger = logging.getLogger(__name__)

_HOST: Final = "127.0.0.1"
_POLL_INTERVAL: Final = 0.05
_REQUEST_TIMEOUT: Final = 5.0
_STOP_TIMEOUT: Final = 5.0
_PORT_ATTEMPTS: Final = 3
_SETTLE_INTERVAL: Final = 0.25
_SETTLE_READS: Final = 40
_ACCESS_LINE: Final = re.compile(r'"([A-Z]+) (\S+) HTTP/[0-9.]+" ([0-9]{3}) ')
"""A request in werkzeug's access log: ``... "GET /bucket/key?x=1 HTTP/1.1" 206 -``."""
_ANSI_STYLE: Final = re.compile(r"\x1b\[[0-9;]*m")
"""werkzeug colours the request of some answers (206, 304, 4xx) with ANSI SGR codes."""

TEST_ACCESS_KEY_ID: Final = "testing"
TEST_SECRET_ACCESS_KEY: Final = "testing"  # moto accepts any credentials
TEST_REGION: Final = "us-east-1"


class MotoServerError(RuntimeError):
    """The moto server did not start, did not answer in time, or refused a request."""


def _free_port() -> int:
    """A port on 127.0.0.1 that is free right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_HOST, 0))
        port: int = sock.getsockname()[1]
        return port


class MotoServer:
    """A real moto S3 server in a subprocess on a loopback port.

    ``port=0`` (the default) picks a free port. :meth:`start` returns once the
    server answers HTTP (or raises :class:`MotoServerError` after
    ``startup_timeout`` seconds with the tail of its log); :meth:`stop` ends
    it (SIGTERM, then SIGKILL after 5 s). Use it as a context manager.

    ``command`` is the server program and its leading arguments, by default
    ``[sys.executable, "-m", "s3opt.testing._moto_parts"]``: moto's server with
    GetObjectAttributes' ``ObjectParts`` added. :meth:`start` appends
    ``-H 127.0.0.1 -p PORT`` to it, so another program must accept those two
    arguments as moto's server does, and answer HTTP on ``/moto-api/``.
    """

    def __init__(
        self,
        *,
        port: int = 0,
        startup_timeout: float = 30.0,
        command: Sequence[str] | None = None,
    ) -> None:
        if port < 0 or port > 65535:
            raise ValueError(f"port must be 0 (pick one) or 1-65535, got {port}")
        if startup_timeout <= 0:
            raise ValueError(f"startup_timeout must be positive, got {startup_timeout}")
        if command is None:
            command = [sys.executable, "-m", "s3opt.testing._moto_parts"]
        if isinstance(command, str) or not command:
            raise ValueError(f"command must be a non-empty list of arguments, got {command!r}")
        self._command = list(command)
        self._requested_port = port
        self._startup_timeout = startup_timeout
        self._port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start the server and wait until it answers; idempotent while running."""
        if self._process is not None and self._process.poll() is None:
            return
        attempts = 1 if self._requested_port else _PORT_ATTEMPTS
        last_error: MotoServerError | None = None
        for _ in range(attempts):
            port = self._requested_port or _free_port()
            try:
                self._launch(port)
                return
            except MotoServerError as exc:
                # Most likely another process took the port between our probe and moto's bind.
                last_error = exc
                self.stop()
        assert last_error is not None
        raise last_error

    def _launch(self, port: int) -> None:
        self._log = tempfile.TemporaryFile(prefix="moto-server-")  # noqa: SIM115 - kept until stop()
        env = dict(os.environ)
        env.update(
            AWS_ACCESS_KEY_ID=TEST_ACCESS_KEY_ID,
            AWS_SECRET_ACCESS_KEY=TEST_SECRET_ACCESS_KEY,
            AWS_DEFAULT_REGION=TEST_REGION,
        )
        # The log goes to a file, never a pipe: an unread pipe fills and blocks the server.
        self._process = subprocess.Popen(
            [*self._command, "-H", _HOST, "-p", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        self._port = port
        deadline = time.monotonic() + self._startup_timeout
        while True:
            code = self._process.poll()
            if code is not None:
                raise MotoServerError(
                    f"moto server on port {port} exited with status {code} before answering: "
                    f"{self._log_tail()}"
                )
            if self._answers():
                _logger.debug("moto server answering at %s", self.endpoint_url)
                return
            if time.monotonic() >= deadline:
                raise MotoServerError(
                    f"moto server on port {port} did not answer within "
                    f"{self._startup_timeout:g}s: {self._log_tail()}"
                )
            time.sleep(_POLL_INTERVAL)

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.endpoint_url}/moto-api/", timeout=1.0) as reply:
                return bool(reply.status < 500)
        except urllib.error.HTTPError as exc:
            return exc.code < 500
        except OSError:
            return False

    def _log_tail(self, limit: int = 2000) -> str:
        if self._log is None:
            return "(no log)"
        try:
            fd = self._log.fileno()  # pread: the server writes at this file's shared offset
            text = os.pread(fd, os.fstat(fd).st_size, 0).decode("utf-8", "replace")
        except (OSError, ValueError):
            return "(log unreadable)"
        tail = text[-limit:].strip()
        return " | ".join(tail.splitlines()) or "(empty log)"

    def stop(self) -> None:
        """Stop the server (terminate, then kill) and release its log; safe to call twice."""
        process, self._process = self._process, None
        if process is not None:
            stop_process(process, _STOP_TIMEOUT)
        if self._log is not None:
            with contextlib.suppress(OSError):
                self._log.close()
            self._log = None

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int:
        """The server process's id; :class:`MotoServerError` before :meth:`start`."""
        if self._process is None:
            raise MotoServerError("the moto server is not started")
        return self._process.pid

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        where = self.endpoint_url if self._port else "no port yet"
        return f"{type(self).__name__}({where}, {state})"

    # -- what tests use --------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port the server listens on (known once started)."""
        if self._port is None:
            raise MotoServerError("the moto server has not been started")
        return self._port

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:PORT``: pass it as an S3 endpoint URL."""
        return f"http://{_HOST}:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        """``AWS_*`` variables pointing any AWS SDK at this server with moto's fake credentials."""
        return {
            "AWS_ACCESS_KEY_ID": TEST_ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": TEST_SECRET_ACCESS_KEY,
            "AWS_DEFAULT_REGION": TEST_REGION,
            "AWS_REGION": TEST_REGION,
            "AWS_ENDPOINT_URL": self.endpoint_url,
        }

    def config(self, **overrides: Any) -> S3Config:
        """An :class:`S3Config` that reaches this server, tuned for tests.

        moto's fake credentials, path-style addressing, and timeouts and retries
        short enough that a failing test fails in seconds; ``overrides`` replace
        any field (``config(part_size_min=5 * 1024 * 1024)``).
        """
        fields: dict[str, Any] = {
            "endpoint_url": self.endpoint_url,
            "region": TEST_REGION,
            "access_key_id": TEST_ACCESS_KEY_ID,
            "secret_access_key": SecretStr(TEST_SECRET_ACCESS_KEY),
            "addressing_style": "path",
            "connect_timeout": 5.0,
            "read_timeout": 30.0,
            "retry": RetryConfig(max_attempts=4, base_delay=0.01, max_delay=0.1, deadline=30.0),
        }
        return S3Config(**(fields | overrides))

    def boto3_client(self) -> Any:
        """A plain boto3 S3 client on this server with moto's fake credentials.

        The outside view for tests: what the server holds, read without s3opt. boto3
        comes with moto (the ``testing`` extra); it is imported on the first call.
        """
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=TEST_REGION,
            aws_access_key_id=TEST_ACCESS_KEY_ID,
            aws_secret_access_key=TEST_SECRET_ACCESS_KEY,
        )

    def _request(self, method: str, path: str, body: bytes | None = None) -> bytes:
        if not self.running:
            raise MotoServerError("the moto server is not running")
        request = urllib.request.Request(f"{self.endpoint_url}{path}", data=body, method=method)
        try:
            with urllib.request.urlopen(request, timeout=_REQUEST_TIMEOUT) as reply:
                data: bytes = reply.read()
                return data
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")
            one_line = " ".join(detail.split())[:300]
            raise MotoServerError(f"{method} {path} failed: HTTP {exc.code}: {one_line}") from exc
        except OSError as exc:
            raise MotoServerError(f"{method} {path} failed: {exc}") from exc

    def requests_seen(self) -> list[tuple[str, str, int]]:
        """``(method, path and query, status)`` of each request answered so far, in order.

        Read from the server's access log (moto's server is werkzeug's, which logs a
        line per request once it has answered; a ``command=`` server must log alike),
        so it is what crossed the wire, not what a client meant to send. A request
        answered a moment ago may not be there yet.
        """
        log = self._log
        if log is None:
            raise MotoServerError("the moto server is not started")
        fd = log.fileno()
        # pread: the server shares this file's offset (its stdout); never move it.
        text = os.pread(fd, os.fstat(fd).st_size, 0).decode("utf-8", "replace")
        text = _ANSI_STYLE.sub("", text)
        return [
            (found.group(1), found.group(2), int(found.group(3)))
            for found in _ACCESS_LINE.finditer(text)
        ]

    def requests_settled(self) -> list[tuple[str, str, int]]:
        """:meth:`requests_seen` once the log has stopped growing (two reads
        ``0.25`` s apart agree; at most 10 s): what a test reads after its client is done,
        since the server logs each request only after answering it."""
        seen = self.requests_seen()
        for _ in range(_SETTLE_READS):
            time.sleep(_SETTLE_INTERVAL)
            again = self.requests_seen()
            if again == seen:
                break
            seen = again
        return seen

    def make_bucket(self, name: str) -> None:
        """Create bucket ``name`` (in us-east-1) with a plain path-style HTTP PUT."""
        self._request("PUT", f"/{name}")

    def reset(self) -> None:
        """Forget every bucket and object (moto's ``/moto-api/reset``)."""
        self._request("POST", "/moto-api/reset")
