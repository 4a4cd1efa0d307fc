"""s3opt through the emulated throttled and lossy paths: every byte arrives, retries are counted.

Real parts end to end: moto's S3 server over HTTP on loopback, the emulator in front of
it answering valid 503 SlowDown errors above a request concurrency or resetting
connections, and s3opt's S3Store moving a multipart object up and back down. The
profiles are the named ones made harsher (a lower 503 threshold, more resets) so that
every run exercises the retry path, and seeded so that runs repeat.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.s3server import S3Server
from benchmarks.wanem import Profile, WanEmulator, get_profile
from opsmetrics.testing import MetricsRecorder
from s3opt import S3Config, S3Store
from s3opt.config import RetryConfig

MiB = 1 << 20
SIZE = 40 * MiB  # eight parts of the 5 MiB minimum


@pytest.fixture(scope="module")
def server() -> Iterator[S3Server]:
    with S3Server() as running:
        running.make_bucket("wan-tests")
        yield running


def config_for(endpoint: str) -> S3Config:
    return S3Config(
        endpoint_url=endpoint,
        region="us-east-1",
        access_key_id="testing",
        secret_access_key="testing",  # type: ignore[arg-type]  # pydantic makes it a SecretStr
        addressing_style="path",
        part_size_min=5 * MiB,
        part_size_max=5 * MiB,
        multipart_threshold=5 * MiB,
        read_timeout=30.0,
        retry=RetryConfig(max_attempts=30, base_delay=0.05, max_delay=0.5, deadline=300.0),
    )


def total(snapshot: dict[str, object], name: str) -> float:
    values = snapshot.get(name, {})
    assert isinstance(values, dict)
    return float(sum(values.values()))


async def round_trip(
    profile: Profile, server: S3Server, tmp_path: Path
) -> tuple[dict[str, object], dict[str, int]]:
    source = tmp_path / "source.bin"
    source.write_bytes(os.urandom(SIZE))
    target = tmp_path / "back.bin"
    with MetricsRecorder() as recorder:
        async with WanEmulator(profile, server.endpoint_url.removeprefix("http://")) as emu:
            config = config_for(emu.endpoint_url)
            async with S3Store.open(
                f"s3://wan-tests/{profile.name}", config, metrics=recorder.metrics
            ) as store:
                info = await store.upload("object.bin", source)
                assert info.size == SIZE
                await store.download("object.bin", target)
            counters = emu.counters
            seen = {"throttled": counters.throttled, "resets": counters.resets}
        snapshot = recorder.snapshot()
    assert (
        hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(source.read_bytes()).digest()
    )
    return dict(snapshot), seen


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.asyncio
async def test_throttled_path_completes_byte_identical_with_throttles_counted(
    server: S3Server, tmp_path: Path
) -> None:
    profile = get_profile("throttled").with_changes(throttle_above=3, seed=7)
    snapshot, seen = await round_trip(profile, server, tmp_path)
    assert seen["throttled"] > 0, "the emulator never throttled: the test did not test"
    # Every 503 the emulator sent was seen by s3opt as a throttle and retried.
    assert total(snapshot, "s3opt.throttles") == seen["throttled"]
    assert total(snapshot, "s3opt.retries") >= seen["throttled"]


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.asyncio
async def test_lossy_path_completes_byte_identical_with_retries_counted(
    server: S3Server, tmp_path: Path
) -> None:
    profile = get_profile("lossy").with_changes(reset_probability=0.15, seed=11)
    snapshot, seen = await round_trip(profile, server, tmp_path)
    assert seen["resets"] > 0, "the emulator never reset a connection: the test did not test"
    # aiohttp may resend an idempotent request once on its own; every other reset is an
    # s3opt retry.
    assert total(snapshot, "s3opt.retries") >= 1
    # A reset is retried as one at once, never after waiting out the read timeout: aiohttp's
    # own resend of a part once carried an empty body (the part's payload sent from where
    # the first attempt had left it), and the server waited for the bytes until it.
    retries = snapshot["s3opt.retries"]
    assert isinstance(retries, dict)
    assert [key for key in retries if "Timeout" in key] == []


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.asyncio
async def test_after_a_throttle_the_store_settles_below_the_throttling_concurrency(
    server: S3Server, tmp_path: Path
) -> None:
    # 503 SlowDown above 2 requests in flight; eight 5 MiB parts per upload. The first
    # upload starts with the initial window (all eight parts at once) and learns where
    # the refusals begin; the store's second upload must stay under that level, as S3's
    # "reduce your request rate" asks, instead of drawing the refusals again.
    profile = get_profile("throttled").with_changes(throttle_above=2, seed=5)
    source = tmp_path / "source.bin"
    source.write_bytes(os.urandom(SIZE))
    async with WanEmulator(profile, server.endpoint_url.removeprefix("http://")) as emu:
        config = config_for(emu.endpoint_url)
        async with S3Store.open("s3://wan-tests/settle", config) as store:
            await store.upload("first.bin", source)
            first = (emu.counters.requests, emu.counters.throttled)
            assert first[1] > 0, "the first upload was never throttled: the test did not test"
            await store.upload("second.bin", source)
            second = (emu.counters.requests - first[0], emu.counters.throttled - first[1])
            back = await store.get_range("second.bin", 0, SIZE)
    assert hashlib.sha256(back).digest() == hashlib.sha256(source.read_bytes()).digest()
    # Create + 8 parts + complete (+ the verifying HEAD): at most one refused.
    assert second[0] >= 10
    assert second[1] <= 1, f"second upload: {second[1]} of {second[0]} requests throttled"
