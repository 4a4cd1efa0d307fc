"""The emulator measured: its own ceiling on ``lan`` and its accuracy on ``wan`` / ``far``.

``python -m benchmarks.wanem --selftest`` runs the emulator in its own process (as the
benchmark does) in front of :class:`.upstream.BlobServer`, with a light asyncio HTTP
client, and reports MB/s (10**6 bytes/s) and milliseconds. On this machine (2 vCPUs,
shared; one run, about +-10% run to run):

=====================  ======  ======  ==============================================
measurement            lan     wan     far
=====================  ======  ======  ==============================================
tiny request (ms)      0.4     41.7    152.9   (profile RTT 0 / 40 / 150)
1 connection GET       140     9.6     3.8     (cap - / 10 / 4; includes one RTT)
1 connection PUT       158     9.6     3.8
8 / 24 conns GET       221     76.9    52.4    (aggregate - / 80 / 60; each conn
8 / 24 conns PUT       194     64.6    47.0     moves 1 s of its cap, plus an RTT)
=====================  ======  ======  ==============================================

The emulator's own ceiling (``lan``) is ~140-160 MB/s on one connection and ~200-220 MB/s
over several (direct loopback, same client and server: ~300 MB/s): above every profile's
cap, so on ``wan`` / ``far`` the shaping, not the emulator, is the bottleneck. The
aggregate rows fall short of the cap by the RTT each connection waits for its first byte
(~5% on wan, ~9% on far) and, for PUT, by the client's own CPU (24 writers in one
process). The token bucket allows a burst of 50 ms of its rate (a late timer wake-up is
caught up, not lost), so a connection's first 50 ms of data go at full speed.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from .process import WanEmulatorProcess
from .profiles import MB, get_profile
from .upstream import BlobServer

__all__ = ["get_bytes", "put_bytes", "request_seconds", "run_selftest"]


_ZEROS = bytes(1024 * 1024)
TIMEOUT = 120.0


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.decode("latin-1").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    left = length
    while left:
        chunk = await reader.read(min(left, 1024 * 1024))
        if not chunk:
            raise ConnectionError("response cut short")
        left -= len(chunk)
    return length


async def get_bytes(port: int, size: int, *, requests: int = 1) -> int:
    """GET ``size`` bytes ``requests`` times on one keep-alive connection; bytes received."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1024 * 1024)
    try:
        received = 0
        for _ in range(requests):
            writer.write(f"GET /{size} HTTP/1.1\r\nHost: selftest\r\n\r\n".encode())
            received += await asyncio.wait_for(_read_response(reader), TIMEOUT)
        return received
    finally:
        writer.close()


async def put_bytes(port: int, size: int) -> int:
    """PUT ``size`` bytes on one connection; bytes sent."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1024 * 1024)
    try:
        writer.write(
            f"PUT /x HTTP/1.1\r\nHost: selftest\r\nContent-Length: {size}\r\n\r\n".encode()
        )
        left = size
        while left:
            piece = min(left, len(_ZEROS))
            writer.write(_ZEROS if piece == len(_ZEROS) else _ZEROS[:piece])
            left -= piece
            await writer.drain()
        await asyncio.wait_for(_read_response(reader), TIMEOUT)
        return size
    finally:
        writer.close()


async def request_seconds(port: int, samples: int = 10) -> float:
    """Median time of a tiny GET on a warm keep-alive connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        times = []
        for _ in range(samples + 1):
            began = time.perf_counter()
            writer.write(b"GET /0 HTTP/1.1\r\nHost: selftest\r\n\r\n")
            await asyncio.wait_for(_read_response(reader), TIMEOUT)
            times.append(time.perf_counter() - began)
        return statistics.median(times[1:])
    finally:
        writer.close()


async def _rate(connections: int, job: Callable[[], Awaitable[int]]) -> float:
    began = time.perf_counter()
    moved: int = sum(await asyncio.gather(*(job() for _ in range(connections))))
    return moved / (time.perf_counter() - began) / MB


async def _measure(profile: str, blob: BlobServer) -> dict[str, float]:
    shaped = get_profile(profile).shaped
    size = 40 * MB if shaped else 512 * MB
    with WanEmulatorProcess(profile, blob.endpoint_url) as emu:
        port = int(emu.endpoint_url.rsplit(":", 1)[1])
        result = {"rtt_ms": await request_seconds(port) * 1000}
        per_conn = get_profile(profile).per_connection_rate or 100 * MB
        one = int(min(size, per_conn * 2))
        result["get_1_conn_MBps"] = await _rate(1, lambda: get_bytes(port, one))
        result["put_1_conn_MBps"] = await _rate(1, lambda: put_bytes(port, one))
        many = 24 if shaped else 8
        each = int(per_conn * 1.0) if shaped else size // many
        result[f"get_{many}_conn_MBps"] = await _rate(many, lambda: get_bytes(port, each))
        result[f"put_{many}_conn_MBps"] = await _rate(many, lambda: put_bytes(port, each))
    return result


async def _baseline(blob: BlobServer) -> dict[str, float]:
    """The same client and server without the emulator: what the loopback itself carries."""
    return {
        "rtt_ms": await request_seconds(blob.port) * 1000,
        "get_1_conn_MBps": await _rate(1, lambda: get_bytes(blob.port, 512 * MB)),
        "put_1_conn_MBps": await _rate(1, lambda: put_bytes(blob.port, 512 * MB)),
    }


async def _selftest() -> dict[str, Any]:
    report: dict[str, Any] = {}
    async with BlobServer() as blob:
        report["direct"] = await _baseline(blob)
        for name in ("lan", "wan", "far"):
            report[name] = await _measure(name, blob)
    return report


def run_selftest(*, as_json: bool = False) -> int:
    report = asyncio.run(_selftest())
    if as_json:
        print(json.dumps(report, indent=2))
        return 0
    for name, values in report.items():
        expected = ""
        if name in ("wan", "far"):
            p = get_profile(name)
            assert p.per_connection_rate is not None
            assert p.aggregate_rate is not None
            expected = (
                f"  (profile: rtt {p.rtt * 1000:.0f} ms, {p.per_connection_rate / MB:.0f} MB/s"
                f" per connection, {p.aggregate_rate / MB:.0f} MB/s aggregate)"
            )
        print(f"{name}{expected}")
        for key, value in values.items():
            print(f"  {key:20s} {value:9.1f}")
    return 0
