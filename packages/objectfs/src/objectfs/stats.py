"""What a mount has done: cache hits by level, bytes moved, S3 requests, FUSE operations.

:class:`FsCounters` is the one source of these numbers: the block reader and
the filesystem bump it through its methods on the event loop (no locks: one
loop), and each method also records the matching OpenTelemetry metric when
the counters were given an :class:`opsmetrics.Metrics`, so callers use one
API for both. ``objectfs stats MOUNTPOINT`` prints :func:`format_stats` of
its :meth:`FsCounters.snapshot`, a JSON-able dict::

    {"uptime_seconds": 12.5,
     "cache": {"lookups": 10, "l1": {"hits": 6, "ratio": 0.6},
               "l2": {"hits": 2, "ratio": 0.5}, "misses": 2, "hit_ratio": 0.8},
     "bytes": {"read": ..., "fetched": ..., "written": ..., "staged": ...},
     "requests": {"GET": 2, "HEAD": 1, ...},
     "request_cost": {"usd": 1.2e-06, "storage_class": "STANDARD",
                      "region": "us-east-1", "prices_as_of": "..."},
     "operations": {"read": {"count": 40, "errors": 0, "expected": 0, "seconds": 0.012},
                    ...}}

An operation's ``errors`` are its failures; answers that are part of the
operation's normal contract (:data:`EXPECTED_ERRORS`: no such attribute from
``getxattr``, an unsupported attribute namespace, no such name from
``lookup``) are counted apart as ``expected``: ``cp -r`` asks every file for
its ``security.*`` attributes, and those answers are not trouble.

The L1 ratio is over all block lookups, the L2 ratio over the lookups that
missed L1 (those are the ones L2 sees). A ratio is ``None`` before any lookup.

What reaches opsmetrics, and as what:

=====================================  =============================================
``l1_hit()``                           ``objectfs.cache.lookups`` l1 hit
``l2_hit()``                           l1 miss, l2 hit
``miss(l2_checked=...)``               l1 miss, and l2 miss when L2 was asked
``add_read(n)``, ``add_staged(n)``     ``objectfs.io`` read / write
``operation(name, seconds, errno)``    ``objectfs.operation.duration`` (``error.type``
                                       the errno name when it failed)
``request()``, ``add_fetched()``,      not recorded here: the S3 store records every
``add_written()``                      request and byte itself (``s3opt.requests``,
                                       ``s3opt.io``); recording them again would count
                                       them twice
=====================================  =============================================

The request cost is an estimate at S3 STANDARD list prices (s3opt.pricing):
PUT and COPY at the PUT rate, LIST at the same rate, GET and HEAD at the GET
rate ("all other requests"), DELETE free, as the S3 pricing page bills them.
"""

from __future__ import annotations

import errno
import functools
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from objectfs.config import format_size
from opsmetrics import Metrics
from s3opt.pricing import PriceTable

__all__ = [
    "EXPECTED_ERRORS",
    "PRICED_CLASS",
    "REQUEST_KINDS",
    "FsCounters",
    "OperationTotals",
    "format_stats",
]

REQUEST_KINDS: Final = ("HEAD", "GET", "PUT", "LIST", "COPY", "DELETE")
"""The S3 request types counted, in the order :func:`format_stats` prints them."""


EXPECTED_ERRORS: Final = frozenset(
    (operation, errno.errorcode[number])
    for operation, number in (
        ("lookup", errno.ENOENT),
        ("getxattr", errno.ENODATA),  # ENOATTR on Linux: getxattr(2) "attribute not found"
        ("removexattr", errno.ENODATA),
        ("getxattr", errno.ENOTSUP),  # namespaces other than user. (objectfs.fs docstring)
        ("setxattr", errno.ENOTSUP),
        ("removexattr", errno.ENOTSUP),
    )
)
"""``(operation, errno name)`` pairs that answer a question rather than report a failure."""

PRICED_CLASS: Final = "STANDARD"
"""The storage class whose request prices the estimate uses (a mount writes STANDARD objects)."""


@functools.cache
def _prices() -> PriceTable:
    return PriceTable.load()


@dataclass
class OperationTotals:
    """How often one FUSE operation ran, how often it failed, and its total time."""

    count: int = 0
    errors: int = 0
    """Failures: errnos outside :data:`EXPECTED_ERRORS`."""
    expected: int = 0
    """Answers in :data:`EXPECTED_ERRORS` (no such attribute, and the like)."""
    seconds: float = 0.0


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass
class FsCounters:
    """Running totals of one mount; mutate only from its event loop, through the methods.

    ``metrics``, when given, also receives each count as the metric the module
    docstring names (``None``: counted here only).
    """

    l1_hits: int = 0
    l2_hits: int = 0
    misses: int = 0
    """Block lookups that neither cache could answer (each became a ranged GET)."""
    bytes_read: int = 0
    """Bytes returned to readers of the mount."""
    bytes_fetched: int = 0
    """Bytes received from S3."""
    bytes_written: int = 0
    """Bytes sent to S3."""
    bytes_staged: int = 0
    """Bytes programs wrote into files of the mount (staged on disk until uploaded)."""
    requests: Counter[str] = field(default_factory=Counter)
    """S3 requests by type (:data:`REQUEST_KINDS`)."""
    operations: dict[str, OperationTotals] = field(default_factory=dict)
    """FUSE operations by name (``lookup``, ``read``, ...)."""
    started: float = field(default_factory=time.monotonic)
    """When counting began (``time.monotonic``), for the uptime and throughput."""
    metrics: Metrics | None = field(default=None, compare=False, repr=False)

    def l1_hit(self) -> None:
        """A block lookup answered from memory."""
        self.l1_hits += 1
        if self.metrics is not None:
            self.metrics.cache_lookup(level="l1", hit=True)

    def l2_hit(self) -> None:
        """A block lookup that missed L1 and was answered from disk."""
        self.l2_hits += 1
        if self.metrics is not None:
            self.metrics.cache_lookup(level="l1", hit=False)
            self.metrics.cache_lookup(level="l2", hit=True)

    def miss(self, *, l2_checked: bool) -> None:
        """A block lookup that neither cache answered; ``l2_checked``: L2 exists and was asked."""
        self.misses += 1
        if self.metrics is not None:
            self.metrics.cache_lookup(level="l1", hit=False)
            if l2_checked:
                self.metrics.cache_lookup(level="l2", hit=False)

    def add_read(self, nbytes: int) -> None:
        """``nbytes`` returned to a reader of the mount."""
        self.bytes_read += nbytes
        if self.metrics is not None:
            self.metrics.fs_io(direction="read", nbytes=nbytes)

    def add_staged(self, nbytes: int) -> None:
        """``nbytes`` a program wrote into a file of the mount."""
        self.bytes_staged += nbytes
        if self.metrics is not None:
            self.metrics.fs_io(direction="write", nbytes=nbytes)

    def add_fetched(self, nbytes: int) -> None:
        """``nbytes`` received from S3 (the store records its own ``s3opt.io``)."""
        self.bytes_fetched += nbytes

    def add_written(self, nbytes: int) -> None:
        """``nbytes`` sent to S3 (the store records its own ``s3opt.io``)."""
        self.bytes_written += nbytes

    def request(self, kind: str, n: int = 1) -> None:
        """Count ``n`` S3 requests of ``kind`` (one of :data:`REQUEST_KINDS`)."""
        if kind not in REQUEST_KINDS:
            raise ValueError(f"unknown S3 request kind {kind!r}; expected one of {REQUEST_KINDS}")
        self.requests[kind] += n

    def operation(self, name: str, seconds: float, error: str | None = None) -> None:
        """One FUSE operation that took ``seconds``; ``error``: its errno name if it failed."""
        totals = self.operations.get(name)
        if totals is None:
            totals = self.operations[name] = OperationTotals()
        totals.count += 1
        totals.seconds += seconds
        if error is not None:
            if (name, error) in EXPECTED_ERRORS:
                totals.expected += 1
            else:
                totals.errors += 1
        if self.metrics is not None:
            self.metrics.fs_operation(operation=name, duration=seconds, error_type=error)

    def snapshot(self) -> dict[str, Any]:
        """The counters now, as plain JSON-able values (see the module docstring)."""
        lookups = self.l1_hits + self.l2_hits + self.misses
        return {
            "uptime_seconds": max(0.0, time.monotonic() - self.started),
            "cache": {
                "lookups": lookups,
                "l1": {"hits": self.l1_hits, "ratio": _ratio(self.l1_hits, lookups)},
                "l2": {"hits": self.l2_hits, "ratio": _ratio(self.l2_hits, lookups - self.l1_hits)},
                "misses": self.misses,
                "hit_ratio": _ratio(self.l1_hits + self.l2_hits, lookups),
            },
            "bytes": {
                "read": self.bytes_read,
                "fetched": self.bytes_fetched,
                "written": self.bytes_written,
                "staged": self.bytes_staged,
            },
            "requests": {kind: self.requests[kind] for kind in REQUEST_KINDS},
            "request_cost": self._request_cost(),
            "operations": {
                name: {
                    "count": t.count,
                    "errors": t.errors,
                    "expected": t.expected,
                    "seconds": t.seconds,
                }
                for name, t in sorted(self.operations.items())
            },
        }

    def _request_cost(self) -> dict[str, Any]:
        prices = _prices()
        usd = prices.request_cost(
            PRICED_CLASS,
            puts=self.requests["PUT"] + self.requests["COPY"],
            gets=self.requests["GET"] + self.requests["HEAD"],
            lists=self.requests["LIST"],
        )
        return {
            "usd": usd,
            "storage_class": PRICED_CLASS,
            "region": prices.region,
            "prices_as_of": prices.as_of,
        }


def _percent(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio * 100:.1f}%"


def format_stats(snapshot: Mapping[str, Any]) -> str:
    """The table ``objectfs stats`` prints for a :meth:`FsCounters.snapshot`, one row a line.

    FUSE operations come last, one row each, in name order; expected answers
    (:data:`EXPECTED_ERRORS`) are shown apart from failures.
    """
    cache = snapshot["cache"]
    moved = snapshot["bytes"]
    uptime = float(snapshot["uptime_seconds"])
    rows: list[tuple[str, str]] = [
        ("uptime", f"{uptime:.1f} s"),
        ("cache L1 hits", f"{cache['l1']['hits']} ({_percent(cache['l1']['ratio'])})"),
        ("cache L2 hits", f"{cache['l2']['hits']} ({_percent(cache['l2']['ratio'])} of L1 misses)"),
        ("cache misses", str(cache["misses"])),
        ("cache hit ratio", _percent(cache["hit_ratio"])),
    ]
    for label, name in (
        ("read", "read"),
        ("fetched from S3", "fetched"),
        ("written to S3", "written"),
    ):
        amount = int(moved[name])
        rate = f", {format_size(amount / uptime)}/s" if uptime > 0 else ""
        rows.append((f"bytes {label}", f"{format_size(amount)}{rate}"))
    requests: Mapping[str, int] = snapshot["requests"]
    for kind, count in requests.items():
        rows.append((f"S3 {kind} requests", str(count)))
    cost = snapshot["request_cost"]
    rows.append(
        (
            "estimated request cost",
            f"${cost['usd']:.6f} (S3 {cost['storage_class']} list prices, "
            f"{cost['region']}, as of {cost['prices_as_of']})",
        )
    )
    operations: Mapping[str, Mapping[str, Any]] = snapshot.get("operations", {})
    for name, totals in operations.items():
        count = int(totals["count"])
        mean = float(totals["seconds"]) / count * 1000 if count else 0.0
        answers = f"{totals['errors']} failed"
        if totals.get("expected"):
            answers += f", {totals['expected']} expected errors"
        rows.append((f"operation {name}", f"{count} ({answers}), mean {mean:.2f} ms"))
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label:<{width}}  {value}" for label, value in rows)
