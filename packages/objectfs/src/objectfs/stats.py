"""What a mount has done: cache hits by level, bytes moved, S3 requests by type.

:class:`FsCounters` is the one source of these numbers: the block reader and
the filesystem bump it on the event loop (no locks: one loop), the Prometheus
exporter reads it, and ``objectfs stats MOUNTPOINT`` prints
:func:`format_stats` of its :meth:`FsCounters.snapshot`, a JSON-able dict::

    {"uptime_seconds": 12.5,
     "cache": {"lookups": 10, "l1": {"hits": 6, "ratio": 0.6},
               "l2": {"hits": 2, "ratio": 0.5}, "misses": 2, "hit_ratio": 0.8},
     "bytes": {"read": ..., "fetched": ..., "written": ...},
     "requests": {"GET": 2, "HEAD": 1, ...},
     "request_cost": {"usd": 1.2e-06, "storage_class": "STANDARD",
                      "region": "us-east-1", "prices_as_of": "..."}}

The L1 ratio is over all block lookups, the L2 ratio over the lookups that
missed L1 (those are the ones L2 sees). A ratio is ``None`` before any lookup.

The request cost is an estimate at S3 STANDARD list prices (s3opt.pricing):
PUT and COPY at the PUT rate, LIST at the same rate, GET and HEAD at the GET
rate ("all other requests"), DELETE free, as the S3 pricing page bills them.
"""

from __future__ import annotations

import functools
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from s3opt.pricing import PriceTable

__all__ = ["PRICED_CLASS", "REQUEST_KINDS", "FsCounters", "format_stats"]

REQUEST_KINDS: Final = ("HEAD", "GET", "PUT", "LIST", "COPY", "DELETE")
"""The S3 request types counted, in the order :func:`format_stats` prints them."""


PRICED_CLASS: Final = "STANDARD"
"""The storage class whose request prices the estimate uses (a mount writes STANDARD objects)."""


@functools.cache
def _prices() -> PriceTable:
    return PriceTable.load()


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass
class FsCounters:
    """Running totals of one mount; mutate only from its event loop."""

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
    requests: Counter[str] = field(default_factory=Counter)
    """S3 requests by type (:data:`REQUEST_KINDS`)."""
    started: float = field(default_factory=time.monotonic)
    """When counting began (``time.monotonic``), for the uptime and throughput."""

    def request(self, kind: str, n: int = 1) -> None:
        """Count ``n`` S3 requests of ``kind`` (one of :data:`REQUEST_KINDS`)."""
        if kind not in REQUEST_KINDS:
            raise ValueError(f"unknown S3 request kind {kind!r}; expected one of {REQUEST_KINDS}")
        self.requests[kind] += n

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
            },
            "requests": {kind: self.requests[kind] for kind in REQUEST_KINDS},
            "request_cost": self._request_cost(),
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


_UNITS: Final = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def _size_text(count: float) -> str:
    """``1536`` -> ``"1.5 KiB"`` (binary units, IEC 80000-13)."""
    value = float(count)
    for unit in _UNITS[:-1]:
        if abs(value) < 1024:
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} {_UNITS[-1]}"


def _percent(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio * 100:.1f}%"


def format_stats(snapshot: Mapping[str, Any]) -> str:
    """The table ``objectfs stats`` prints for a :meth:`FsCounters.snapshot`, one row a line."""
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
        rate = f", {_size_text(amount / uptime)}/s" if uptime > 0 else ""
        rows.append((f"bytes {label}", f"{_size_text(amount)}{rate}"))
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
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label:<{width}}  {value}" for label, value in rows)
