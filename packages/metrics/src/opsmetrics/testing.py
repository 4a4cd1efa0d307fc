"""Test doubles for code that records metrics: ``MetricsRecorder``.

A library's tests pass ``recorder.metrics`` (or ``recorder.meter_provider``)
to the code under test and assert on ``recorder.snapshot()``; nothing global
is touched, so tests stay isolated. Needs the ``sdk`` extra.
"""

from __future__ import annotations

from types import TracebackType

from opentelemetry.metrics import MeterProvider as ApiMeterProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from opsmetrics.recording import Metrics
from opsmetrics.snapshot import Snapshot, snapshot_of

__all__ = ["MetricsRecorder"]


class MetricsRecorder:
    """An SDK meter provider of its own with an in-memory reader, and a
    ``Metrics`` facade bound to it. Use as a context manager, or call
    ``shutdown()``."""

    def __init__(self) -> None:
        self._reader = InMemoryMetricReader()
        self._provider = MeterProvider(metric_readers=[self._reader], shutdown_on_exit=False)
        self.metrics = Metrics(self._provider)
        """The facade recording into this recorder."""

    @property
    def meter_provider(self) -> ApiMeterProvider:
        """The provider, for code that takes one rather than a ``Metrics``."""
        return self._provider

    def snapshot(self) -> Snapshot:
        """Everything recorded so far, in the ``opsmetrics.snapshot`` shape."""
        return snapshot_of(self._reader.get_metrics_data())

    def shutdown(self) -> None:
        """Shut the provider down."""
        self._provider.shutdown()

    def __enter__(self) -> MetricsRecorder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown()
