"""``opsmetrics.setup()``: install the OpenTelemetry SDK once, in an application's main.

Libraries never call this; they record through ``opsmetrics.Metrics`` on the
API, which binds to the provider installed here. The SDK modules are imported
inside ``setup()`` only, so ``import opsmetrics`` works without the ``sdk``
extra.

Once per process: OpenTelemetry's global meter provider can be set only once,
so a second ``setup()`` raises ``MetricsSetupError`` (even after
``shutdown()``). A ``setup()`` that raises changes no global state and may be
called again, e.g. with another port.
"""

from __future__ import annotations

import atexit
import copy
import logging
import math
import sys
import threading
from typing import TYPE_CHECKING, Literal, TextIO, get_args

from opentelemetry.metrics import MeterProvider as ApiMeterProvider
from opentelemetry.metrics import get_meter_provider, set_meter_provider

from opsmetrics.errors import MetricsSetupError

if TYPE_CHECKING:
    from types import TracebackType
    from wsgiref.simple_server import WSGIServer

    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricReader

    from opsmetrics.snapshot import Snapshot

__all__ = ["EXPORTERS", "ExporterName", "MetricsHandle", "setup"]

_logger = logging.getLogger(__name__)

ExporterName = Literal["prometheus", "console", "none"]
EXPORTERS: tuple[str, ...] = get_args(ExporterName)
"""The exporter names ``setup()`` accepts."""

_SDK_HINT = "install the SDK with: pip install 'opsmetrics[sdk]'"

_setup_lock = threading.Lock()
_installed: MetricsHandle | None = None


def setup(
    exporter: ExporterName,
    *,
    port: int = 9464,
    host: str = "127.0.0.1",
    required: bool = False,
    stream: TextIO | None = None,
    interval: float = 60.0,
) -> MetricsHandle:
    """Install the SDK meter provider as the global one, with the chosen exporter.

    - ``"prometheus"``: serve the exposition format on
      ``http://host:port/metrics`` (9464 is the port OpenTelemetry's
      Prometheus exporter uses by default; ``port=0`` picks a free one, see
      ``MetricsHandle.endpoint``).
    - ``"console"``: write every ``interval`` seconds, and once at shutdown, one
      JSON document of all metrics to ``stream`` (default ``sys.stderr``, so
      that a CLI's data on stdout stays clean).
    - ``"none"``: no exporter; ``MetricsHandle.snapshot()`` still works.

    Every handle keeps an in-memory reader for ``snapshot()``.

    Raises ``ValueError`` for an unknown exporter or a bad port, host or
    interval, and ``MetricsSetupError`` if the SDK is missing, ``setup()``
    already ran, another global meter provider is installed, or (with
    ``required=True``) the endpoint cannot listen on ``host:port``. With
    ``required=False`` (the default) that last failure logs one warning and
    the application carries on without the endpoint.
    """
    global _installed
    if exporter not in EXPORTERS:
        raise ValueError(
            f"unknown metrics exporter {exporter!r}; choose one of: {', '.join(EXPORTERS)}"
        )
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"port must be an int in 0..65535, got {port!r}")
    if not isinstance(host, str) or not host:
        raise ValueError(f"host must be a non-empty string, got {host!r}")
    if not math.isfinite(interval) or interval <= 0:
        raise ValueError(f"interval must be a finite number of seconds > 0, got {interval!r}")

    with _setup_lock:
        if _installed is not None:
            raise MetricsSetupError(
                f"opsmetrics.setup() already ran in this process (exporter "
                f"{_installed.exporter!r}); call it once, in main"
            )
        try:
            from opentelemetry.sdk.metrics import MeterProvider
            from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        except ImportError as exc:
            raise MetricsSetupError(
                f"opsmetrics.setup() needs the OpenTelemetry SDK; {_SDK_HINT}"
            ) from exc

        readers: list[MetricReader] = []
        server: WSGIServer | None = None
        thread: threading.Thread | None = None
        endpoint: str | None = None
        active: str = exporter
        if exporter == "prometheus":
            started = _start_prometheus(host, port, required)
            if started is None:
                active = "none"
            else:
                server, thread, reader = started
                readers.append(reader)
                endpoint = f"http://{_netloc(host, server.server_address[1])}/metrics"
        elif exporter == "console":
            readers.append(_console_reader(stream if stream is not None else sys.stderr, interval))

        memory = InMemoryMetricReader()
        provider = MeterProvider(metric_readers=[memory, *readers], shutdown_on_exit=False)
        handle = MetricsHandle(
            exporter=active,
            endpoint=endpoint,
            provider=provider,
            memory=memory,
            server=server,
            thread=thread,
        )
        set_meter_provider(provider)
        if get_meter_provider() is not provider:
            handle.shutdown()
            raise MetricsSetupError(
                "a global OpenTelemetry meter provider was already set outside opsmetrics; "
                "call opsmetrics.setup() instead of setting one, once, in main"
            )
        atexit.register(handle.shutdown)
        _installed = handle
        return handle


def _netloc(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _start_prometheus(
    host: str, port: int, required: bool
) -> tuple[WSGIServer, threading.Thread, MetricReader] | None:
    """Start the HTTP endpoint on prometheus_client's default registry (which
    also carries its process and Python runtime collectors) and a reader that
    feeds it; or, when ``host:port`` cannot listen and ``required`` is false,
    warn and return nothing."""
    try:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from prometheus_client import start_http_server
    except ImportError as exc:
        raise MetricsSetupError(f"the prometheus exporter needs its packages; {_SDK_HINT}") from exc
    try:
        server, thread = start_http_server(port, addr=host)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if required:
            raise MetricsSetupError(
                f"cannot serve metrics on {_netloc(host, port)}: {reason}"
            ) from exc
        _logger.warning(
            "metrics endpoint not started: cannot listen on %s: %s; continuing without it",
            _netloc(host, port),
            reason,
        )
        return None
    return server, thread, PrometheusMetricReader()


def _console_reader(stream: TextIO, interval: float) -> MetricReader:
    from opentelemetry.sdk.metrics.export import (
        ConsoleMetricExporter,
        PeriodicExportingMetricReader,
    )

    return PeriodicExportingMetricReader(
        ConsoleMetricExporter(out=stream), export_interval_millis=interval * 1000
    )


class MetricsHandle:
    """What ``setup()`` installed: read current values, and shut it all down.

    Usable as a context manager that calls ``shutdown()`` on exit; ``setup()``
    also registers ``shutdown()`` to run at interpreter exit.
    """

    def __init__(
        self,
        *,
        exporter: str,
        endpoint: str | None,
        provider: MeterProvider,
        memory: InMemoryMetricReader,
        server: WSGIServer | None,
        thread: threading.Thread | None,
    ) -> None:
        self._exporter = exporter
        self._endpoint = endpoint
        self._provider = provider
        self._memory = memory
        self._server = server
        self._thread = thread
        self._lock = threading.Lock()
        self._final: Snapshot | None = None

    @property
    def exporter(self) -> str:
        """The exporter running: ``"prometheus"``, ``"console"`` or ``"none"``
        (``"none"`` too when the Prometheus endpoint could not start)."""
        return self._exporter

    @property
    def endpoint(self) -> str | None:
        """The Prometheus scrape URL, e.g. ``http://127.0.0.1:9464/metrics``; else ``None``."""
        return self._endpoint

    @property
    def meter_provider(self) -> ApiMeterProvider:
        """The installed provider (also the global one)."""
        return self._provider

    def snapshot(self) -> Snapshot:
        """Current values as a JSON-ready dict (``opsmetrics.snapshot``); after
        ``shutdown()``, the values as they were at shutdown."""
        from opsmetrics.snapshot import snapshot_of

        with self._lock:
            if self._final is not None:
                return copy.deepcopy(self._final)
            return snapshot_of(self._memory.get_metrics_data())

    def shutdown(self) -> None:
        """Flush the console exporter, stop the HTTP endpoint and the provider.
        Idempotent. Recording afterwards is a silent no-op."""
        from opsmetrics.snapshot import snapshot_of

        with self._lock:
            if self._final is not None:
                return
            self._final = snapshot_of(self._memory.get_metrics_data())
            atexit.unregister(self.shutdown)
            self._provider.shutdown()
            if self._server is not None:
                self._server.shutdown()
                self._server.server_close()
            if self._thread is not None:
                self._thread.join()

    def __enter__(self) -> MetricsHandle:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown()
