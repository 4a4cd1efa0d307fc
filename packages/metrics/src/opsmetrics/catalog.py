"""The platform's metrics: one frozen description per metric, in one place.

Names, units and attributes follow OpenTelemetry's semantic conventions:

- names are lowercase, dot-separated namespaces with snake_case words inside a
  component (semconv ``general/naming.md``, "General naming considerations");
- each name starts with the namespace of the component that records it
  (``s3opt``, ``objectfs``, ``cargoship``), as the conventions recommend for
  application-specific metrics, and none reuses an existing semconv namespace;
- units are UCUM case-sensitive codes (``s``, ``By``, ``By/s``) or a curly-brace
  annotation in the singular (``{request}``), and never appear in the name
  (semconv ``general/metrics.md``, "Units" and "Instrument units");
- counters of discrete things are plural (``s3opt.retries``), other names are
  not, and no name ends in ``total`` (``general/naming.md``, "Pluralization",
  "Do not use total"); bidirectional byte flow is ``*.io`` with a direction
  attribute ("Instrument naming");
- attribute keys reuse the semconv registry where one fits (``rpc.method``,
  ``http.response.status_code``, ``error.type``, ``network.io.direction``).

Every value recorded through this catalog is a non-negative count, size, rate
or duration.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = [
    "ARCHIVE_DEDUPLICATED",
    "ARCHIVE_INPUT",
    "ARCHIVE_STORED",
    "CACHE_LEVEL",
    "CACHE_LOOKUPS",
    "CACHE_RESULT",
    "CATALOG",
    "CODEC",
    "CONGESTION_WINDOW",
    "CONTROLLER",
    "ERROR_TYPE",
    "FS_IO",
    "FS_IO_DIRECTION",
    "FS_OPERATION",
    "FS_OPERATION_DURATION",
    "FS_OPERATION_DURATION_BUCKETS",
    "HTTP_STATUS_CODE",
    "IO_DIRECTION",
    "S3_INFLIGHT_REQUESTS",
    "S3_INFLIGHT_SIZE",
    "S3_IO",
    "S3_OPERATION",
    "S3_REQUESTS",
    "S3_REQUEST_DURATION",
    "S3_REQUEST_DURATION_BUCKETS",
    "S3_RETRIES",
    "S3_THROTTLES",
    "S3_THROUGHPUT",
    "AttributeSpec",
    "AttributeValue",
    "MetricKind",
    "MetricSpec",
]

AttributeValue = str | int | bool
"""The attribute value types the catalog uses (a subset of OpenTelemetry's)."""

# Free-form string values must be short identifiers: an operation name, an error
# class, a codec. This keeps object keys, paths and messages (unbounded
# cardinality) out of metric attributes by construction.
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class MetricKind(enum.Enum):
    """The OpenTelemetry instrument a metric is recorded with."""

    COUNTER = "counter"
    """Monotonic sum; every recording adds a non-negative amount."""
    GAUGE = "gauge"
    """Synchronous gauge; every recording replaces the last value."""
    HISTOGRAM = "histogram"
    """Distribution over explicit bucket boundaries."""


@dataclass(frozen=True, slots=True)
class AttributeSpec:
    """One attribute key a metric accepts, the type of its values and, where the
    set is closed, the values allowed."""

    key: str
    value_type: type[str] | type[int] | type[bool]
    description: str
    values: frozenset[str] | None = None

    def check(self, value: object) -> None:
        """Raise ``TypeError`` or ``ValueError`` naming the key if ``value`` is not allowed."""
        # bool is an int subclass: accept it only where bool is the declared type.
        if not isinstance(value, self.value_type) or (
            self.value_type is int and isinstance(value, bool)
        ):
            raise TypeError(
                f"attribute {self.key!r} takes {self.value_type.__name__}, "
                f"got {type(value).__name__}"
            )
        if self.values is not None:
            if value not in self.values:
                choices = ", ".join(sorted(self.values))
                raise ValueError(f"attribute {self.key!r} must be one of {choices}; got {value!r}")
        elif isinstance(value, str) and _TOKEN.fullmatch(value) is None:
            raise ValueError(
                f"attribute {self.key!r} takes a short identifier (letters, digits, _ . -, "
                f"at most 64 characters); got {value!r}"
            )


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """The frozen description of one metric: what it is called, what instrument
    records it, its UCUM unit, what it means and which attributes it takes.

    ``required`` names the attribute keys every recording must carry;
    ``buckets`` are a histogram's explicit upper bounds, in the metric's unit.
    """

    name: str
    kind: MetricKind
    unit: str
    description: str
    attributes: tuple[AttributeSpec, ...] = ()
    required: frozenset[str] = frozenset()
    buckets: tuple[float, ...] = ()
    _by_key: Mapping[str, AttributeSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_key = {spec.key: spec for spec in self.attributes}
        if len(by_key) != len(self.attributes):
            raise ValueError(f"metric {self.name!r} lists an attribute key twice")
        if not self.required <= by_key.keys():
            raise ValueError(f"metric {self.name!r} requires keys it does not allow")
        if (self.kind is MetricKind.HISTOGRAM) != bool(self.buckets):
            raise ValueError(f"metric {self.name!r}: buckets go with histograms, and only them")
        if list(self.buckets) != sorted(set(self.buckets)):
            raise ValueError(f"metric {self.name!r}: buckets must strictly increase")
        object.__setattr__(self, "_by_key", MappingProxyType(by_key))

    @property
    def attribute_keys(self) -> frozenset[str]:
        """The attribute keys this metric accepts."""
        return frozenset(self._by_key)

    def check_attributes(self, attributes: Mapping[str, AttributeValue]) -> None:
        """Raise ``ValueError`` for an unknown or missing key, and ``TypeError`` or
        ``ValueError`` for a value the key does not take."""
        for key, value in attributes.items():
            spec = self._by_key.get(key)
            if spec is None:
                allowed = ", ".join(sorted(self._by_key)) or "none"
                raise ValueError(
                    f"metric {self.name!r} has no attribute {key!r}; allowed: {allowed}"
                )
            spec.check(value)
        missing = self.required - attributes.keys()
        if missing:
            raise ValueError(
                f"metric {self.name!r} needs attribute(s) {', '.join(sorted(missing))}"
            )


# Attributes ---------------------------------------------------------------

S3_OPERATION = AttributeSpec(
    "rpc.method",
    str,
    "S3 API operation as the AWS SDKs name it, e.g. GetObject, UploadPart",
)
HTTP_STATUS_CODE = AttributeSpec(
    "http.response.status_code",
    int,
    "HTTP status code of the response, when one was received",
)
ERROR_TYPE = AttributeSpec(
    "error.type",
    str,
    "class of the error: the S3 error code (SlowDown, InternalError) or the "
    "exception class (TimeoutError, ConnectionResetError)",
)
IO_DIRECTION = AttributeSpec(
    "network.io.direction",
    str,
    "transmit (upload: request bodies) or receive (download: response bodies)",
    frozenset({"transmit", "receive"}),
)
CONTROLLER = AttributeSpec(
    "s3opt.controller",
    str,
    "congestion controller steering the transfers, e.g. bbr, cubic, fixed",
)
CACHE_LEVEL = AttributeSpec(
    "objectfs.cache.level",
    str,
    "l1 (memory) or l2 (persistent disk)",
    frozenset({"l1", "l2"}),
)
CACHE_RESULT = AttributeSpec(
    "objectfs.cache.result",
    str,
    "hit or miss",
    frozenset({"hit", "miss"}),
)
FS_OPERATION = AttributeSpec(
    "objectfs.operation",
    str,
    "FUSE operation, e.g. lookup, getattr, read, write, readdir",
)
FS_IO_DIRECTION = AttributeSpec(
    "objectfs.io.direction",
    str,
    "read (bytes programs read from the mount) or write (bytes programs wrote to it)",
    frozenset({"read", "write"}),
)
CODEC = AttributeSpec(
    "cargoship.codec",
    str,
    "codec of the stored data, e.g. zstd, lz4, gzip, none",
)

# Histogram buckets --------------------------------------------------------

S3_REQUEST_DURATION_BUCKETS: tuple[float, ...] = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip
"""1 ms .. 60 s: a cached HEAD in one region answers in a few ms, a first-byte
GET in tens of ms, a large part upload over a slow link takes tens of seconds."""

FS_OPERATION_DURATION_BUCKETS: tuple[float, ...] = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip
"""100 µs .. 60 s: a cache hit answers in microseconds, a miss waits for S3."""

# Metrics ------------------------------------------------------------------

_REQUEST_ATTRIBUTES = (S3_OPERATION, HTTP_STATUS_CODE, ERROR_TYPE)

S3_REQUESTS = MetricSpec(
    "s3opt.requests",
    MetricKind.COUNTER,
    "{request}",
    "S3 requests completed, by operation and outcome",
    _REQUEST_ATTRIBUTES,
    frozenset({"rpc.method"}),
)
S3_REQUEST_DURATION = MetricSpec(
    "s3opt.request.duration",
    MetricKind.HISTOGRAM,
    "s",
    "Duration of S3 requests, from send to the end of the response body",
    _REQUEST_ATTRIBUTES,
    frozenset({"rpc.method"}),
    S3_REQUEST_DURATION_BUCKETS,
)
S3_IO = MetricSpec(
    "s3opt.io",
    MetricKind.COUNTER,
    "By",
    "Object bytes transferred to and from S3",
    (IO_DIRECTION,),
    frozenset({"network.io.direction"}),
)
S3_THROUGHPUT = MetricSpec(
    "s3opt.throughput",
    MetricKind.GAUGE,
    "By/s",
    "Recent transfer rate to or from S3",
    (IO_DIRECTION,),
    frozenset({"network.io.direction"}),
)
CONGESTION_WINDOW = MetricSpec(
    "s3opt.congestion_window",
    MetricKind.GAUGE,
    "By",
    "Congestion window: the bytes the controller lets be in flight",
    (CONTROLLER,),
    frozenset({"s3opt.controller"}),
)
S3_INFLIGHT_SIZE = MetricSpec(
    "s3opt.request.inflight.size",
    MetricKind.GAUGE,
    "By",
    "Bytes of S3 request and response bodies in flight",
    (CONTROLLER,),
    frozenset({"s3opt.controller"}),
)
S3_INFLIGHT_REQUESTS = MetricSpec(
    "s3opt.request.inflight",
    MetricKind.GAUGE,
    "{request}",
    "S3 requests in flight",
    (CONTROLLER,),
    frozenset({"s3opt.controller"}),
)
S3_RETRIES = MetricSpec(
    "s3opt.retries",
    MetricKind.COUNTER,
    "{retry}",
    "S3 requests sent again after a retryable failure, by the failure's class",
    (S3_OPERATION, ERROR_TYPE),
    frozenset({"rpc.method", "error.type"}),
)
S3_THROTTLES = MetricSpec(
    "s3opt.throttles",
    MetricKind.COUNTER,
    "{throttle}",
    "S3 responses that asked the client to slow down (503 SlowDown and the like)",
    (S3_OPERATION, ERROR_TYPE),
    frozenset({"rpc.method", "error.type"}),
)
CACHE_LOOKUPS = MetricSpec(
    "objectfs.cache.lookups",
    MetricKind.COUNTER,
    "{lookup}",
    "Cache lookups, by cache level and result (hit or miss)",
    (CACHE_LEVEL, CACHE_RESULT),
    frozenset({"objectfs.cache.level", "objectfs.cache.result"}),
)
FS_OPERATION_DURATION = MetricSpec(
    "objectfs.operation.duration",
    MetricKind.HISTOGRAM,
    "s",
    "Duration of filesystem operations, from the kernel's request to the reply",
    (FS_OPERATION, ERROR_TYPE),
    frozenset({"objectfs.operation"}),
    FS_OPERATION_DURATION_BUCKETS,
)
FS_IO = MetricSpec(
    "objectfs.io",
    MetricKind.COUNTER,
    "By",
    "File bytes programs read from and wrote to the mount, whichever cache served them",
    (FS_IO_DIRECTION,),
    frozenset({"objectfs.io.direction"}),
)
ARCHIVE_INPUT = MetricSpec(
    "cargoship.archive.input",
    MetricKind.COUNTER,
    "By",
    "Bytes read from the files being archived, before compression and deduplication",
)
ARCHIVE_STORED = MetricSpec(
    "cargoship.archive.stored",
    MetricKind.COUNTER,
    "By",
    "Bytes written to the store, after compression and deduplication",
    (CODEC,),
)
ARCHIVE_DEDUPLICATED = MetricSpec(
    "cargoship.archive.deduplicated",
    MetricKind.COUNTER,
    "By",
    "Input bytes not stored again because identical content was already stored",
)

CATALOG: Mapping[str, MetricSpec] = MappingProxyType(
    {
        spec.name: spec
        for spec in (
            S3_REQUESTS,
            S3_REQUEST_DURATION,
            S3_IO,
            S3_THROUGHPUT,
            CONGESTION_WINDOW,
            S3_INFLIGHT_SIZE,
            S3_INFLIGHT_REQUESTS,
            S3_RETRIES,
            S3_THROTTLES,
            CACHE_LOOKUPS,
            FS_OPERATION_DURATION,
            FS_IO,
            ARCHIVE_INPUT,
            ARCHIVE_STORED,
            ARCHIVE_DEDUPLICATED,
        )
    }
)
"""Every metric of the platform, by name."""
