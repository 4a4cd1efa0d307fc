"""Named network profiles: the paths to S3 regions the benchmarks emulate.

Units: seconds and bytes; MB means 10**6 bytes (the benchmark reports MB/s the same way).
Rates apply per direction (a real path is full duplex): ``per_connection_rate`` is one TCP
stream's ceiling at that RTT, ``aggregate_rate`` the bottleneck all connections share.
``queue_seconds`` bounds the bottleneck's queue (bytes = aggregate_rate * queue_seconds);
once full, the emulator stops reading (backpressure) so overload shows as delay.
``throttle_above``: requests in flight above which the emulator answers 503 SlowDown.
``reset_probability``: per request, the chance its connection is reset mid-transfer.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = ["MB", "PROFILES", "Profile", "get_profile"]

MB = 1_000_000


@dataclass(frozen=True)
class Profile:
    """One emulated path. ``None`` rates mean unlimited."""

    name: str
    rtt: float = 0.0
    per_connection_rate: float | None = None
    aggregate_rate: float | None = None
    queue_seconds: float = 0.1
    throttle_above: int | None = None
    reset_probability: float = 0.0
    seed: int | None = None

    @property
    def one_way(self) -> float:
        return self.rtt / 2

    @property
    def shaped(self) -> bool:
        """True when data is delayed or rate-limited (else it is forwarded at once)."""
        return bool(self.rtt or self.per_connection_rate or self.aggregate_rate)

    def with_changes(self, **changes: object) -> Profile:
        return replace(self, **changes)  # type: ignore[arg-type]


_WAN = Profile("wan", rtt=0.040, per_connection_rate=10 * MB, aggregate_rate=80 * MB)

PROFILES: dict[str, Profile] = {
    "lan": Profile("lan"),
    "wan": _WAN,
    "far": Profile("far", rtt=0.150, per_connection_rate=4 * MB, aggregate_rate=60 * MB),
    "throttled": replace(_WAN, name="throttled", throttle_above=24),
    "lossy": replace(_WAN, name="lossy", reset_probability=0.01),
    # wan's round trip and per-connection rate with no shared cap: what a client reaches when
    # only latency and its number of connections limit it, not the link.
    "wan-wide": replace(_WAN, name="wan-wide", aggregate_rate=None),
}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        known = ", ".join(PROFILES)
        raise ValueError(f"unknown profile {name!r} (known: {known})") from None
