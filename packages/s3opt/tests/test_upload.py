"""Uploads: part arithmetic, the in-flight window, and round trips through moto over real HTTP."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any, cast

import pytest

from opsmetrics.testing import MetricsRecorder
from s3opt.config import S3Config
from s3opt.control import make_limiter
from s3opt.errors import (
    ChecksumMismatchError,
    NoSuchBucketError,
    SourceChangedError,
)
from s3opt.protocols import ObjectInfo
from s3opt.s3store import S3Store
from s3opt.testing import MotoServer
from s3opt.transfer.bodies import PartBody
from s3opt.transfer.context import READ_AHEAD, InFlight, TransferContext
from s3opt.transfer.multipart import MultipartUpload
from s3opt.transfer.parts import (
    MAX_OBJECT_SIZE,
    MAX_PART_SIZE,
    MAX_PARTS,
    MIN_PART_SIZE,
    STREAM_TIER_PARTS,
    PartDigest,
    choose_part_size,
    digest_part,
    multipart_etag,
    plan_parts,
    plan_ranges,
    stream_part_size,
)

MiB = 2**20
GiB = 2**30

# -- part arithmetic (pure) ----------------------------------------------------------------


@pytest.mark.parametrize(
    "size", [0, 1, 5 * MiB, 8 * MiB + 1, 10 * GiB, 100 * GiB, 4 * 2**40, MAX_OBJECT_SIZE]
)
def test_part_size_stays_within_s3_limits(size: int) -> None:
    part = choose_part_size(size, min_part=8 * MiB, max_part=512 * MiB)
    assert MIN_PART_SIZE <= part <= MAX_PART_SIZE
    assert len(plan_parts(size, part)) <= MAX_PARTS


def test_part_size_without_estimate_is_the_minimum_that_fits() -> None:
    assert choose_part_size(64 * MiB, min_part=8 * MiB, max_part=512 * MiB) == 8 * MiB
    # 200 GiB in 10,000 parts needs more than 8 MiB each.
    part = choose_part_size(200 * GiB, min_part=8 * MiB, max_part=512 * MiB)
    assert part == -(-200 * GiB // MAX_PARTS)


def test_part_size_grows_with_the_measured_bdp() -> None:
    # 1 GB/s over 0.5 s: a 500 MB BDP held by 16 parts of ~31 MB.
    part = choose_part_size(10 * GiB, min_part=8 * MiB, max_part=512 * MiB, estimate=(1e9, 0.5))
    assert part == -(-500_000_000 // 16)
    # A small path keeps the minimum; a huge one is capped by the config.
    assert choose_part_size(GiB, min_part=8 * MiB, max_part=64 * MiB, estimate=(1e6, 0.01)) == (
        8 * MiB
    )
    assert choose_part_size(
        100 * GiB, min_part=8 * MiB, max_part=64 * MiB, estimate=(1e11, 1.0)
    ) == (64 * MiB)


def test_part_size_config_below_s3_minimum_is_raised_to_it() -> None:
    assert choose_part_size(100 * MiB, min_part=1, max_part=2) == MIN_PART_SIZE


def test_part_size_refuses_objects_over_5_tib() -> None:
    with pytest.raises(ValueError, match="5 TiB"):
        choose_part_size(MAX_OBJECT_SIZE + 1, min_part=8 * MiB, max_part=512 * MiB)


@pytest.mark.parametrize(("size", "part"), [(0, 5), (1, 5), (5, 5), (6, 5), (101, 10)])
def test_plan_parts_covers_the_object_exactly(size: int, part: int) -> None:
    spans = plan_parts(size, part)
    assert [s.number for s in spans] == list(range(1, len(spans) + 1))
    assert sum(s.length for s in spans) == size
    offset = 0
    for span in spans:
        assert span.offset == offset
        assert 0 < span.length <= part or size == 0
        offset += span.length
    assert plan_ranges(size, part) == ([] if size == 0 else [(s.offset, s.length) for s in spans])


def test_stream_parts_reach_5_tib_in_10000_parts() -> None:
    sizes = [stream_part_size(n, 5 * MiB) for n in range(1, MAX_PARTS + 1)]
    assert sizes[0] == sizes[STREAM_TIER_PARTS - 1] == 5 * MiB
    assert sizes[STREAM_TIER_PARTS] == 10 * MiB
    assert sum(sizes) >= MAX_OBJECT_SIZE
    assert max(sizes) <= MAX_PART_SIZE


def test_multipart_etag_is_md5_of_the_part_md5s() -> None:
    parts = [b"a" * 10, b"b" * 3]
    md5s = [hashlib.md5(p).digest() for p in parts]
    assert multipart_etag(md5s) == hashlib.md5(b"".join(md5s)).hexdigest() + "-2"
    with pytest.raises(ValueError, match="at least one part"):
        multipart_etag([])


def test_part_digest_encodings() -> None:
    digest = digest_part(b"x")
    assert digest.etag == "9dd4e461268c8034f5c8564e155c67a6"
    assert base64.b64decode(digest.content_md5) == hashlib.md5(b"x").digest()
    assert base64.b64decode(digest.checksum_sha256) == hashlib.sha256(b"x").digest()


async def _produce(
    inflight: InFlight, part: Callable[[], Coroutine[Any, Any, None]], parts: int
) -> int:
    """Start ``parts`` parts of 1 MiB as an upload's producer does, each once there is room,
    and wait for them all: the most bytes ``inflight`` held at once."""
    peak = 0
    for _ in range(parts):
        await inflight.wait_for_room(MiB)
        inflight.start(part(), MiB)
        peak = max(peak, inflight.held_bytes)
    await inflight.drain()
    return peak


@pytest.mark.asyncio
async def test_in_flight_window_bounds_what_the_producer_may_hold() -> None:
    config = S3Config()
    limiter = make_limiter("fixed:2", part_size=MiB)
    context = TransferContext(cast(Any, None), limiter, "b", config)
    inflight = InFlight(context)
    release = asyncio.Event()

    async def part() -> None:
        await release.wait()

    task = asyncio.ensure_future(_produce(inflight, part, 5))
    await asyncio.sleep(0.01)
    assert inflight.held_bytes == 2 * MiB  # the window (two parts), the third waits
    assert not task.done()
    release.set()
    assert await asyncio.wait_for(task, 5) == 2 * MiB


@pytest.mark.asyncio
async def test_in_flight_prepares_only_a_few_units_beyond_what_the_limiter_admits() -> None:
    # A window far larger than what runs (here: eight slots, seven of them held by
    # another transfer; in BBR Startup or under pacing, the same): the producer holds
    # only the parts the limiter admitted plus READ_AHEAD waiting ones, not the window.
    limiter = make_limiter("fixed:8", part_size=MiB)
    context = TransferContext(cast(Any, None), limiter, "b", S3Config())
    inflight = InFlight(context)
    release = asyncio.Event()
    others = asyncio.Event()

    async def other() -> None:
        async with limiter.slot(MiB):
            await others.wait()

    blockers = [asyncio.ensure_future(other()) for _ in range(7)]
    await asyncio.sleep(0)
    assert context.window_bytes(MiB) == 8 * MiB

    async def part() -> None:
        async with context.slot(MiB)():
            await release.wait()

    task = asyncio.ensure_future(_produce(inflight, part, 8))
    await asyncio.sleep(0.01)
    assert limiter.ops_in_flight == 8
    assert inflight.waiting == READ_AHEAD
    assert inflight.held_bytes == (1 + READ_AHEAD) * MiB
    assert not task.done()
    release.set()
    others.set()
    peak = await asyncio.wait_for(task, 5)
    await asyncio.gather(*blockers)
    assert peak == (1 + READ_AHEAD) * MiB


@pytest.mark.asyncio
async def test_a_streamed_body_is_rewound_for_every_attempt() -> None:
    context = TransferContext(
        cast(Any, None), make_limiter("fixed:1", part_size=MiB), "b", S3Config()
    )
    body = PartBody(b"0123456789")
    for _ in range(2):
        async with context.slot(10, body)():
            assert body.tell() == 0
            assert body.read() == b"0123456789"


def test_part_body_reads_the_bytes_it_was_given_without_copying_them() -> None:
    data = os.urandom(3 * MiB)
    body = PartBody(data)
    with body.getbuffer() as view:  # what aiohttp asks for to learn the size
        assert view.obj is data
        assert len(view) == len(data)
    assert body.read(MiB) == data[:MiB]
    body.seek(0)
    assert body.read() == data
    with pytest.raises(OSError, match="read-only"):
        body.write(b"x")


@pytest.mark.asyncio
async def test_in_flight_raises_the_first_failure_and_cancels_the_rest() -> None:
    context = TransferContext(
        cast(Any, None), make_limiter("fixed:4", part_size=MiB), "b", S3Config()
    )
    inflight = InFlight(context)
    never = asyncio.Event()

    async def fails() -> None:
        raise RuntimeError("part failed")

    slow = inflight.start(never.wait(), MiB)
    inflight.start(fails(), MiB)
    with pytest.raises(RuntimeError, match="part failed"):
        await inflight.drain()
    await inflight.cancel()
    assert slow.cancelled()


# -- against moto --------------------------------------------------------------------------


async def _sha256_of(store: S3Store, key: str) -> str:
    digest = hashlib.sha256()
    async for chunk in store.get(key):
        digest.update(chunk)
    return digest.hexdigest()


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for offset in range(0, len(data), size):
        yield data[offset : offset + size]
        await asyncio.sleep(0)


def _expected_etag(data: bytes, part: int, threshold: int) -> str:
    if len(data) < threshold:
        return hashlib.md5(data).hexdigest()
    spans = plan_parts(len(data), part)
    md5s = [hashlib.md5(data[s.offset : s.offset + s.length]).digest() for s in spans]
    return multipart_etag(md5s)


ROUND_TRIP_SIZES = [0, 1, 5 * MiB - 1, 5 * MiB, 5 * MiB + 1, 3 * 5 * MiB + 17]
"""Empty, one byte, just under the threshold, exactly one part, one part plus one byte, several."""


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["bytes", "path", "stream"])
async def test_round_trip_is_byte_identical(
    small_parts: S3Config, bucket: str, tmp_path: Path, kind: str
) -> None:
    async with S3Store.open(f"s3://{bucket}/up", small_parts) as store:
        for size in ROUND_TRIP_SIZES:
            data = os.urandom(size)
            source: Any = data
            if kind == "path":
                source = tmp_path / f"src-{size}"
                source.write_bytes(data)
            elif kind == "stream":
                source = _chunks(data, 1 * MiB + 7)
            key = f"obj-{size}"
            info = await store.upload(key, source, metadata={"origin": kind})
            assert (info.key, info.size) == (key, size)
            # Every kind cuts the same parts here (a stream's parts start at the minimum).
            assert info.etag == _expected_etag(data, 5 * MiB, 5 * MiB), size
            head = await store.head(key)
            assert (head.size, head.etag) == (size, info.etag)
            assert dict(head.metadata) == {"origin": kind}
            assert await _sha256_of(store, key) == hashlib.sha256(data).hexdigest(), size
        assert await store.pending_uploads() == []


@pytest.mark.asyncio
async def test_large_file_round_trip(s3_config: S3Config, bucket: str, tmp_path: Path) -> None:
    await _large_round_trip(s3_config, bucket, tmp_path, 64 * MiB + 3)


@pytest.mark.slow
@pytest.mark.asyncio
async def test_very_large_file_round_trip(s3_config: S3Config, bucket: str, tmp_path: Path) -> None:
    await _large_round_trip(s3_config, bucket, tmp_path, 320 * MiB + 5)


async def _large_round_trip(config: S3Config, bucket: str, tmp_path: Path, size: int) -> None:
    source = tmp_path / "large"
    with source.open("wb") as handle:
        for _ in range(size // MiB):
            handle.write(os.urandom(MiB))
        handle.write(os.urandom(size % MiB))
    expected = hashlib.sha256(source.read_bytes()).hexdigest()
    recorder = MetricsRecorder()
    async with S3Store.open(f"s3://{bucket}/up", config, metrics=recorder.metrics) as store:
        info = await store.upload("large", source)
        assert info.size == size
        # A new store knows no path yet: parts of the default minimum, S3's 5 MiB.
        assert int(info.etag.rsplit("-", 1)[1]) == -(-size // (5 * MiB))
        assert await _sha256_of(store, "large") == expected
        assert store.stats.bytes_sent == size
    snapshot = recorder.snapshot()
    assert snapshot["s3opt.io"]["network.io.direction=transmit"] == size
    assert _number(snapshot["s3opt.congestion_window"]["s3opt.controller=bbr"]) > 0
    assert "s3opt.controller=bbr" in snapshot["s3opt.request.inflight"]
    assert _number(snapshot["s3opt.throughput"]["network.io.direction=transmit"]) > 0


def _number(value: object) -> float:
    assert isinstance(value, int | float)
    return float(value)


@pytest.mark.asyncio
async def test_stream_of_unknown_length_is_read_only_a_window_ahead(
    small_parts: S3Config, bucket: str
) -> None:
    config = small_parts.model_copy(update={"controller": "fixed:2"})
    data = os.urandom(12 * 5 * MiB + 999)
    produced = 0
    ahead = 0

    async with S3Store.open(f"s3://{bucket}/up", config) as store:

        async def stream() -> AsyncIterator[bytes]:
            nonlocal produced, ahead
            for offset in range(0, len(data), 256 * 1024):
                chunk = data[offset : offset + 256 * 1024]
                produced += len(chunk)
                ahead = max(ahead, produced - store.stats.bytes_sent)
                yield chunk
                await asyncio.sleep(0)

        info = await store.upload("stream", stream())
        assert info.size == len(data)
        assert await _sha256_of(store, "stream") == hashlib.sha256(data).hexdigest()
    # Never more than the window (2 parts in flight) plus the part being filled,
    # plus the first multipart_threshold buffered to choose PUT or multipart.
    assert ahead <= 4 * 5 * MiB


async def _upload_under_way(
    store: S3Store, source: Path, *, parts_sent: int
) -> asyncio.Task[ObjectInfo]:
    """Write six 5 MiB parts of random bytes to ``source`` and start uploading it (under its
    file name); return the upload's task once ``parts_sent`` parts have been sent."""
    source.write_bytes(os.urandom(6 * 5 * MiB))
    task = asyncio.ensure_future(store.upload(source.name, source))
    async with asyncio.timeout(30):
        while store.stats.parts_sent < parts_sent:
            await asyncio.sleep(0.002)
    return task


@pytest.mark.asyncio
async def test_file_changed_during_upload_aborts_with_nothing_stored(
    small_parts: S3Config, bucket: str, tmp_path: Path, moto_server: MotoServer
) -> None:
    config = small_parts.model_copy(update={"controller": "fixed:1"})
    source = tmp_path / "changing"
    async with S3Store.open(f"s3://{bucket}/up", config) as store:
        task = await _upload_under_way(store, source, parts_sent=1)
        with source.open("r+b") as handle:
            handle.seek(7 * MiB)
            handle.write(b"changed!")
        with pytest.raises(SourceChangedError) as caught:
            await task
        assert (caught.value.bucket, caught.value.key) == (bucket, "up/changing")
        assert str(source) in str(caught.value)
        assert not await store.exists("changing")
        assert store.stats.parts_sent < 6
    uploads = moto_server.boto3_client().list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert uploads == []


@pytest.mark.asyncio
async def test_small_file_truncated_while_read_is_refused(
    s3_config: S3Config, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "small"
    source.write_bytes(b"0123456789")
    import s3opt.transfer.upload as upload_module

    real_read = upload_module._read_exact

    def read_then_truncate(fd: int, offset: int, length: int) -> bytes | None:
        data = real_read(fd, offset, length)
        source.write_bytes(b"01234")
        return data

    monkeypatch.setattr(upload_module, "_read_exact", read_then_truncate)
    async with S3Store.open(f"s3://{bucket}/up", s3_config) as store:
        with pytest.raises(SourceChangedError):
            await store.upload("small", source)
        assert not await store.exists("small")


@pytest.mark.asyncio
async def test_failing_stream_aborts_the_multipart_upload(
    small_parts: S3Config, bucket: str, moto_server: MotoServer
) -> None:
    async with S3Store.open(f"s3://{bucket}/up", small_parts) as store:

        async def broken() -> AsyncIterator[bytes]:
            for _ in range(3):
                yield os.urandom(5 * MiB)
            async with asyncio.timeout(30):
                while store.stats.parts_sent < 1:
                    await asyncio.sleep(0.002)
            raise OSError("the producer died")

        with pytest.raises(OSError, match="the producer died"):
            await store.upload("broken", broken())
        assert store.stats.parts_sent >= 1  # parts were stored, then aborted
        assert await store.pending_uploads() == []
        assert not await store.exists("broken")
    assert moto_server.boto3_client().list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


@pytest.mark.asyncio
async def test_cancelled_upload_without_state_is_aborted(
    small_parts: S3Config, bucket: str, tmp_path: Path
) -> None:
    config = small_parts.model_copy(update={"controller": "fixed:1"})
    async with S3Store.open(f"s3://{bucket}/up", config) as store:
        task = await _upload_under_way(store, tmp_path / "cancelled", parts_sent=2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await store.pending_uploads() == []


@pytest.mark.asyncio
async def test_an_upload_cancelled_twice_while_it_is_created_is_still_aborted(
    small_parts: S3Config, bucket: str, moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cancellation that arrives while CreateMultipartUpload is on its way waits for the
    upload ID to abort it; a second cancellation (a cancelled ``gather`` cancels its tasks
    again) must not leave the upload behind once it is created."""
    created = asyncio.Event()
    real_create = MultipartUpload.create.__func__  # type: ignore[attr-defined]

    async def slow_create(cls: type[MultipartUpload], *args: Any, **kwargs: Any) -> Any:
        created.set()
        await asyncio.sleep(0.5)
        return await real_create(cls, *args, **kwargs)

    monkeypatch.setattr(MultipartUpload, "create", classmethod(slow_create))
    async with S3Store.open(f"s3://{bucket}/up", small_parts) as store:
        task = asyncio.create_task(store.upload("twice", os.urandom(2 * 5 * MiB)))
        await asyncio.wait_for(created.wait(), 10)
        task.cancel()
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(1.0)  # long enough for a creation left running to end
        assert await store.pending_uploads() == []
    assert moto_server.boto3_client().list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


@pytest.mark.asyncio
async def test_a_part_whose_etag_disagrees_fails_the_upload_and_aborts_it(
    small_parts: S3Config, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_digest = digest_part

    def corrupted(data: bytes | memoryview) -> PartDigest:
        digest = real_digest(data)
        if len(data) < 5 * MiB:  # the last part: as if its bytes changed on the way
            return PartDigest(hashlib.md5(b"other bytes").digest(), digest.sha256)
        return digest

    monkeypatch.setattr("s3opt.transfer.multipart.digest_part", corrupted)
    async with S3Store.open(f"s3://{bucket}/up", small_parts) as store:
        with pytest.raises(ChecksumMismatchError, match=r"part 3 of s3://.*/up/bad") as caught:
            await store.upload("bad", os.urandom(2 * 5 * MiB + 10))
        assert (caught.value.bucket, caught.value.key) == (bucket, "up/bad")
        assert await store.pending_uploads() == []
        assert not await store.exists("bad")


@pytest.mark.asyncio
async def test_parts_carry_a_sha256_checksum(
    small_parts: S3Config, bucket: str, moto_server: MotoServer
) -> None:
    async with S3Store.open(f"s3://{bucket}/up", small_parts) as store:
        await store.upload("summed", os.urandom(5 * MiB + 1))
    head = moto_server.boto3_client().head_object(
        Bucket=bucket, Key="up/summed", ChecksumMode="ENABLED"
    )
    assert head.get("ChecksumSHA256")


@pytest.mark.asyncio
@pytest.mark.parametrize("size", [10, 6 * MiB])
async def test_upload_to_a_missing_bucket_is_typed_and_not_retried(
    small_parts: S3Config, bucket: str, size: int
) -> None:
    recorder = MetricsRecorder()
    async with S3Store.open(
        f"s3://{bucket}-missing/up", small_parts, metrics=recorder.metrics
    ) as store:
        with pytest.raises(NoSuchBucketError) as caught:
            await store.upload("key", os.urandom(size))
    assert (caught.value.bucket, caught.value.key) == (bucket + "-missing", "up/key")
    assert f"s3://{bucket}-missing/up/key" in str(caught.value)
    snapshot = recorder.snapshot()
    assert "s3opt.retries" not in snapshot
    assert sum(v for v in snapshot["s3opt.requests"].values() if isinstance(v, int)) == 1


@pytest.mark.asyncio
async def test_single_puts_feed_the_transmit_counter_and_throughput(
    s3_config: S3Config, bucket: str
) -> None:
    recorder = MetricsRecorder()
    async with S3Store.open(f"s3://{bucket}/up", s3_config, metrics=recorder.metrics) as store:
        await store.put("one", b"x" * 1000)
        await store.upload("two", b"y" * 500)  # below the threshold: one PUT as well
    snapshot = recorder.snapshot()
    assert snapshot["s3opt.io"]["network.io.direction=transmit"] == 1500
    assert _number(snapshot["s3opt.throughput"]["network.io.direction=transmit"]) > 0
