"""benchmarks.wanem: latency, per-connection and aggregate caps, 503 SlowDown, resets.

The emulator runs in-process in front of a tiny HTTP server (BlobServer), so what is
measured is the emulator. Bounds are generous (the machine is shared); each still fails
when the feature is missing (e.g. no delay gives ~0 ms, no cap gives hundreds of MB/s).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.wanem import MB, BlobServer, Profile, WanEmulator, get_profile
from benchmarks.wanem.selftest import get_bytes, put_bytes, request_seconds


def port_of(emulator: WanEmulator) -> int:
    return emulator.address[1]


async def raw_exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, dict[str, str], bytes]:
    writer.write(request)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    lines = head.decode("latin-1").split("\r\n")
    headers = {
        k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:] if x)
    }
    body = await asyncio.wait_for(reader.readexactly(int(headers.get("content-length", 0))), 10)
    return int(lines[0].split()[1]), headers, body


@pytest.mark.integration
@pytest.mark.asyncio
async def test_a_tiny_request_takes_one_round_trip() -> None:
    async with BlobServer() as blob, WanEmulator("wan", blob.endpoint_url) as emu:
        seconds = await request_seconds(port_of(emu), samples=5)
    assert 0.038 <= seconds <= 0.1, seconds


@pytest.mark.integration
@pytest.mark.asyncio
async def test_data_in_flight_is_not_serialised_by_the_delay() -> None:
    # 4 MB at 20 MB/s with 100 ms RTT: ~0.3 s if delayed in flight, seconds if stop-and-wait.
    profile = Profile("t", rtt=0.1, per_connection_rate=20 * MB)
    async with BlobServer() as blob, WanEmulator(profile, blob.endpoint_url) as emu:
        began = time.perf_counter()
        await get_bytes(port_of(emu), 4 * MB)
        elapsed = time.perf_counter() - began
    assert 0.25 <= elapsed <= 0.8, elapsed


@pytest.mark.integration
@pytest.mark.asyncio
async def test_one_connection_is_capped_at_the_per_connection_rate() -> None:
    profile = Profile("t", rtt=0.01, per_connection_rate=5 * MB)
    async with BlobServer() as blob, WanEmulator(profile, blob.endpoint_url) as emu:
        for transfer in (get_bytes, put_bytes):
            began = time.perf_counter()
            moved = await transfer(port_of(emu), 5 * MB)
            rate = moved / (time.perf_counter() - began) / MB
            assert 3.5 <= rate <= 5.6, (transfer.__name__, rate)


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.asyncio
async def test_many_connections_share_the_aggregate_cap() -> None:
    profile = Profile("t", rtt=0.01, per_connection_rate=5 * MB, aggregate_rate=10 * MB)
    async with BlobServer() as blob, WanEmulator(profile, blob.endpoint_url) as emu:
        began = time.perf_counter()
        moved = sum(await asyncio.gather(*(get_bytes(port_of(emu), 3 * MB) for _ in range(6))))
        rate = moved / (time.perf_counter() - began) / MB
    # 6 x 5 MB/s would be 30 MB/s without the shared bottleneck.
    assert 7.0 <= rate <= 11.0, rate


@pytest.mark.integration
@pytest.mark.asyncio
async def test_requests_above_the_limit_get_503_slowdown_on_a_kept_alive_connection() -> None:
    profile = get_profile("wan").with_changes(throttle_above=4)
    async with BlobServer() as blob, WanEmulator(profile, blob.endpoint_url) as emu:
        port = port_of(emu)
        streams = [await asyncio.open_connection("127.0.0.1", port) for _ in range(10)]
        request = b"GET /10?wait=0.5 HTTP/1.1\r\nHost: t\r\n\r\n"
        answers = []
        for reader, writer in streams:  # in order, so the first four are in flight first
            answers.append(asyncio.create_task(raw_exchange(reader, writer, request)))
            await asyncio.sleep(0.01)
        results = await asyncio.gather(*answers)
        statuses = [status for status, _, _ in results]
        assert statuses.count(200) == 4
        assert statuses.count(503) == 6
        assert emu.counters.throttled == 6
        assert emu.counters.requests == 10
        status, headers, body = next(r for r in results if r[0] == 503)
        assert headers["connection"] == "keep-alive"
        assert headers["content-type"] == "application/xml"
        assert b"<Code>SlowDown</Code>" in body
        # The throttled connection stays usable: the next request on it goes through.
        reader, writer = streams[statuses.index(503)]
        status, _, body = await raw_exchange(reader, writer, b"GET /7 HTTP/1.1\r\nHost: t\r\n\r\n")
        assert (status, body) == (200, bytes(7))
        for _, writer in streams:
            writer.close()
        assert emu.counters.in_flight == 0


@pytest.mark.integration
@pytest.mark.asyncio
async def test_connections_are_reset_with_the_profile_probability() -> None:
    profile = Profile("t", rtt=0.002, reset_probability=0.3, seed=7)
    async with BlobServer() as blob, WanEmulator(profile, blob.endpoint_url) as emu:
        failures = 0
        for index in range(60):
            try:
                if index % 2:
                    await get_bytes(port_of(emu), 200_000)
                else:
                    await put_bytes(port_of(emu), 200_000)
            except (ConnectionError, asyncio.IncompleteReadError):
                failures += 1
        assert 6 <= failures <= 32, failures
        assert emu.counters.resets == failures
        assert emu.counters.requests == 60


@pytest.mark.integration
@pytest.mark.asyncio
async def test_keep_alive_is_kept_and_latency_accumulates_per_request() -> None:
    profile = Profile("t", rtt=0.03)
    async with BlobServer() as blob, WanEmulator(profile, blob.endpoint_url) as emu:
        began = time.perf_counter()
        await get_bytes(port_of(emu), 1000, requests=5)
        elapsed = time.perf_counter() - began
        assert emu.counters.connections == 1
        assert emu.counters.requests == 5
    assert 0.14 <= elapsed <= 0.4, elapsed
    assert statistics.mean([elapsed]) > 0
