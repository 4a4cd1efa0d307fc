"""The typed facade libraries record through: ``Metrics``.

Built on the OpenTelemetry API only. Without an SDK every call is a cheap
no-op; once an application installs one (``opsmetrics.setup()``, or any SDK
``MeterProvider`` set as the global provider) the same instruments start
recording, because the API's global meter is a proxy that is bound late.
Libraries never set the global provider; tests pass a provider explicitly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Literal

from opentelemetry.metrics import Counter, Histogram, MeterProvider, get_meter
from opentelemetry.metrics import _Gauge as Gauge

from opsmetrics import catalog
from opsmetrics._version import __version__
from opsmetrics.catalog import AttributeValue, MetricKind, MetricSpec

__all__ = ["INSTRUMENTATION_SCOPE", "CacheLevel", "FsIoDirection", "IoDirection", "Metrics"]

INSTRUMENTATION_SCOPE = "opsmetrics"
"""The OpenTelemetry instrumentation scope (meter name) every metric is recorded under."""

IoDirection = Literal["transmit", "receive"]
CacheLevel = Literal["l1", "l2"]
FsIoDirection = Literal["read", "write"]


class Metrics:
    """Records the catalog's metrics (``opsmetrics.catalog``) with validated attributes.

    ``meter_provider`` defaults to OpenTelemetry's global provider. Creating
    several ``Metrics`` on one provider is cheap and they share instruments.

    Every method raises ``ValueError`` for a negative or non-finite value or an
    attribute value outside the catalog's allowed set, and ``TypeError`` for a
    value of the wrong type: these are programming errors, not runtime
    conditions, so they are never swallowed.
    """

    __slots__ = ("_instruments",)

    def __init__(self, meter_provider: MeterProvider | None = None) -> None:
        meter = get_meter(INSTRUMENTATION_SCOPE, __version__, meter_provider=meter_provider)
        instruments: dict[str, Counter | Gauge | Histogram] = {}
        for spec in catalog.CATALOG.values():
            if spec.kind is MetricKind.COUNTER:
                instruments[spec.name] = meter.create_counter(
                    spec.name, spec.unit, spec.description
                )
            elif spec.kind is MetricKind.GAUGE:
                instruments[spec.name] = meter.create_gauge(spec.name, spec.unit, spec.description)
            else:
                instruments[spec.name] = meter.create_histogram(
                    spec.name,
                    spec.unit,
                    spec.description,
                    explicit_bucket_boundaries_advisory=spec.buckets,
                )
        self._instruments = instruments

    def record(
        self,
        metric: MetricSpec,
        value: float,
        attributes: Mapping[str, AttributeValue] | None = None,
    ) -> None:
        """Record ``value`` for a catalog metric: add it to a counter, set a gauge
        to it, or put it in a histogram.

        ``ValueError`` if ``metric`` is not in the catalog, an attribute key is
        unknown to it or a required one is missing.
        """
        if catalog.CATALOG.get(metric.name) != metric:
            raise ValueError(f"{metric.name!r} is not a metric of opsmetrics.catalog")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"metric {metric.name!r} takes a number, got {type(value).__name__}")
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"metric {metric.name!r} takes a finite value >= 0, got {value!r}")
        attrs = dict(attributes) if attributes else {}
        metric.check_attributes(attrs)
        instrument = self._instruments[metric.name]
        if isinstance(instrument, Counter):
            instrument.add(value, attrs)
        elif isinstance(instrument, Histogram):
            instrument.record(value, attrs)
        else:
            instrument.set(value, attrs)

    # S3 client (s3opt) ----------------------------------------------------

    def s3_request(
        self,
        *,
        operation: str,
        duration: float,
        status_code: int | None = None,
        error_type: str | None = None,
    ) -> None:
        """One completed S3 request: counts it and records its duration in seconds.

        ``status_code`` is the HTTP status when a response arrived; ``error_type``
        the error's class when the request failed (with or without a response).
        """
        attrs: dict[str, AttributeValue] = {"rpc.method": operation}
        if status_code is not None:
            attrs["http.response.status_code"] = status_code
        if error_type is not None:
            attrs["error.type"] = error_type
        self.record(catalog.S3_REQUEST_DURATION, duration, attrs)
        self.record(catalog.S3_REQUESTS, 1, attrs)

    def s3_transfer(self, *, direction: IoDirection, nbytes: int) -> None:
        """``nbytes`` of object data sent (``transmit``) or received (``receive``)."""
        self.record(catalog.S3_IO, nbytes, {"network.io.direction": direction})

    def s3_throughput(self, *, direction: IoDirection, bytes_per_second: float) -> None:
        """The current transfer rate in one direction."""
        self.record(catalog.S3_THROUGHPUT, bytes_per_second, {"network.io.direction": direction})

    def s3_retry(self, *, operation: str, reason: str) -> None:
        """One request sent again; ``reason`` is the failure's class (``error.type``)."""
        self.record(catalog.S3_RETRIES, 1, {"rpc.method": operation, "error.type": reason})

    def s3_throttle(self, *, operation: str, reason: str) -> None:
        """One throttling response; ``reason`` is its error code, e.g. ``SlowDown``."""
        self.record(catalog.S3_THROTTLES, 1, {"rpc.method": operation, "error.type": reason})

    def congestion_window(self, *, controller: str, nbytes: int) -> None:
        """The controller's current congestion window in bytes."""
        self.record(catalog.CONGESTION_WINDOW, nbytes, {"s3opt.controller": controller})

    def inflight(self, *, controller: str, requests: int, nbytes: int) -> None:
        """The requests and body bytes currently in flight under ``controller``."""
        attrs: dict[str, AttributeValue] = {"s3opt.controller": controller}
        self.record(catalog.S3_INFLIGHT_REQUESTS, requests, attrs)
        self.record(catalog.S3_INFLIGHT_SIZE, nbytes, attrs)

    # Filesystem (objectfs) -----------------------------------------------

    def cache_lookup(self, *, level: CacheLevel, hit: bool) -> None:
        """One lookup in the ``l1`` (memory) or ``l2`` (disk) cache."""
        result = "hit" if hit else "miss"
        self.record(
            catalog.CACHE_LOOKUPS,
            1,
            {"objectfs.cache.level": level, "objectfs.cache.result": result},
        )

    def fs_operation(
        self, *, operation: str, duration: float, error_type: str | None = None
    ) -> None:
        """One filesystem operation and its duration in seconds; ``error_type``
        (e.g. the errno name ``ENOENT``) when it failed."""
        attrs: dict[str, AttributeValue] = {"objectfs.operation": operation}
        if error_type is not None:
            attrs["error.type"] = error_type
        self.record(catalog.FS_OPERATION_DURATION, duration, attrs)

    def fs_io(self, *, direction: FsIoDirection, nbytes: int) -> None:
        """``nbytes`` of file data programs read from (``read``) or wrote to the mount."""
        self.record(catalog.FS_IO, nbytes, {"objectfs.io.direction": direction})

    # Archives (cargoship) -------------------------------------------------

    def archive_input(self, nbytes: int) -> None:
        """``nbytes`` read from the files being archived."""
        self.record(catalog.ARCHIVE_INPUT, nbytes)

    def archive_stored(self, nbytes: int, *, codec: str) -> None:
        """``nbytes`` written to the store, compressed with ``codec``."""
        self.record(catalog.ARCHIVE_STORED, nbytes, {"cargoship.codec": codec})

    def archive_deduplicated(self, nbytes: int) -> None:
        """``nbytes`` of input not stored because identical content already was."""
        self.record(catalog.ARCHIVE_DEDUPLICATED, nbytes)
