"""Downloads: in-order reassembly, ETag hashing, and ranged GETs from moto over real HTTP."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import tracemalloc
from collections.abc import Sequence
from pathlib import Path

import pytest

from opsmetrics.testing import MetricsRecorder
from s3opt.config import S3Config
from s3opt.errors import ChecksumMismatchError, NoSuchBucketError, NoSuchKeyError
from s3opt.s3store import S3Store
from s3opt.testing import MotoServer
from s3opt.transfer.file_download import _HashFollower, _PartialFile
from s3opt.transfer.parts import multipart_etag
from s3opt.transfer.reassembly import EtagHasher, ordered

MiB = 2**20

# -- reassembly and hashing (pure) ---------------------------------------------------------


@pytest.mark.asyncio
async def test_ordered_delivers_in_order_whatever_the_completion_order() -> None:
    rng = random.Random(7)
    running = 0
    peak = 0

    async def fetch(offset: int, length: int) -> bytes:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(rng.random() / 500)
        running -= 1
        return offset.to_bytes(4, "big") * length

    ranges = [(n, 2) for n in range(50)]
    got = [chunk async for chunk in ordered(ranges, fetch, lambda: 4)]
    assert got == [n.to_bytes(4, "big") * 2 for n in range(50)]
    assert 1 < peak <= 4


@pytest.mark.asyncio
async def test_ordered_holds_at_most_the_window_for_a_slow_consumer() -> None:
    started = 0

    async def fetch(offset: int, length: int) -> bytes:
        nonlocal started
        started += 1
        return b"x" * length

    stream = ordered([(n, 1) for n in range(100)], fetch, lambda: 3)
    await anext(stream)
    await asyncio.sleep(0.01)  # the consumer dawdles: nothing more may start
    assert started <= 4
    await stream.aclose()  # type: ignore[attr-defined]


@pytest.mark.asyncio
async def test_ordered_cancels_pending_fetches_when_one_fails() -> None:
    cancelled = 0

    async def fetch(offset: int, length: int) -> bytes:
        nonlocal cancelled
        if offset == 1:
            raise ConnectionError("range 1 failed")
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled += 1
            raise
        return b""

    async def first_two() -> None:
        stream = ordered([(1, 1), (2, 1), (3, 1)], fetch, lambda: 3)
        async for _ in stream:
            pass

    with pytest.raises(ConnectionError, match="range 1 failed"):
        await asyncio.wait_for(first_two(), 5)
    assert cancelled == 2


@pytest.mark.parametrize("layout", [(10,), (4, 4, 2), (3, 3, 3, 1)])
def test_etag_hasher_matches_s3s_multipart_etag(layout: tuple[int, ...]) -> None:
    data = os.urandom(sum(layout))
    md5s = []
    offset = 0
    for size in layout:
        md5s.append(hashlib.md5(data[offset : offset + size]).digest())
        offset += size
    hasher = EtagHasher(layout)
    for start in range(0, len(data), 3):  # chunks that straddle part boundaries
        hasher.update(data[start : start + 3])
    assert hasher.etag() == multipart_etag(md5s)
    single = EtagHasher(None)
    single.update(data)
    assert single.etag() == hashlib.md5(data).hexdigest()


@pytest.mark.asyncio
@pytest.mark.parametrize("layout", [None, (3 * MiB, 3 * MiB, MiB + 5)])
async def test_hash_follower_hashes_ranges_written_out_of_order(
    tmp_path: Path, layout: tuple[int, ...] | None
) -> None:
    size = 7 * MiB + 5
    data = os.urandom(size)
    expected = EtagHasher(layout)
    expected.update(data)
    partial = _PartialFile(tmp_path / "target")
    try:
        os.ftruncate(partial.fd, size)
        # The layout arrives after the first ranges (a HEAD ?partNumber=1 in flight).
        parts: asyncio.Future[tuple[int, ...] | None] = asyncio.get_running_loop().create_future()
        follower = _HashFollower(partial, parts)
        ranges = [(offset, min(MiB, size - offset)) for offset in range(0, size, MiB)]
        random.Random(7).shuffle(ranges)
        for index, (offset, length) in enumerate(ranges):
            if index == 3:
                parts.set_result(layout)
            os.pwrite(partial.fd, data[offset : offset + length], offset)
            follower.written(offset, length)
            await asyncio.sleep(0)
        assert await follower.etag(size) == expected.etag()
    finally:
        await partial.close()
        partial.path.unlink()


# -- against moto --------------------------------------------------------------------------


async def _streamed(store: S3Store, key: str) -> bytes:
    return b"".join([chunk async for chunk in store.get(key)])


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _leftovers(directory: Path) -> list[str]:
    return sorted(name for name in os.listdir(directory) if name.endswith(".tmp"))


@pytest.mark.asyncio
async def test_download_and_stream_are_byte_identical(
    small_parts: S3Config, bucket: str, tmp_path: Path
) -> None:
    async with S3Store.open(f"s3://{bucket}/down", small_parts) as store:
        for size in [0, 1, 5 * MiB - 1, 5 * MiB, 5 * MiB + 1, 4 * 5 * MiB + 3]:
            data = os.urandom(size)
            await store.upload(f"obj-{size}", data)
            target = tmp_path / f"out-{size}"
            info = await store.download(f"obj-{size}", target)
            assert (info.key, info.size) == (f"obj-{size}", size)
            assert _sha(target.read_bytes()) == _sha(data), size
            assert _sha(await _streamed(store, f"obj-{size}")) == _sha(data), size
        assert _leftovers(tmp_path) == []


@pytest.mark.asyncio
async def test_large_download_in_parallel_ranges(
    s3_config: S3Config, bucket: str, tmp_path: Path
) -> None:
    size = 64 * MiB + 11
    data = os.urandom(size)
    recorder = MetricsRecorder()
    async with S3Store.open(f"s3://{bucket}/down", s3_config) as store:
        await store.upload("large", data)
    async with S3Store.open(f"s3://{bucket}/down", s3_config, metrics=recorder.metrics) as store:
        target = tmp_path / "large"
        await store.download("large", target)
        assert _sha(target.read_bytes()) == _sha(data)
        # The first GET's 1 MiB (its headers give the size; no HEAD), then a fresh store's
        # 16-part initial window plus a quarter: one wave of 20 ranges for the other
        # 63 MiB + 11 (s3opt.transfer.parts.range_size), not ceil(size / 8 MiB) = 9.
        assert store.stats.ranges_received == 1 + 20
        assert _sha(await _streamed(store, "large")) == _sha(data)
    snapshot = recorder.snapshot()
    assert snapshot["s3opt.io"]["network.io.direction=receive"] == 2 * size


@pytest.mark.asyncio
async def test_download_memory_is_bounded_by_chunks_not_ranges(
    s3_config: S3Config, bucket: str, tmp_path: Path
) -> None:
    size = 64 * MiB
    data = os.urandom(size)
    expected = _sha(data)
    # 8 MiB parts: four whole ranges would hold 32 MiB, twice the bound below.
    config = s3_config.model_copy(update={"controller": "fixed:4", "part_size_min": 8 * MiB})
    async with S3Store.open(f"s3://{bucket}/down", config) as store:
        await store.upload("big", data)
        del data
        target = tmp_path / "big"
        tracemalloc.start()
        try:
            await store.download("big", target)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        # The first GET's 1 MiB, then fixed:4 holds 4 parts: waves of 5 ranges, two of
        # them for the other 63 MiB, the last 4 of those 10 cut in halves (split_tail).
        assert store.stats.ranges_received == 1 + 6 + 2 * 4
    assert _sha(target.read_bytes()) == expected
    # Four 8 MiB ranges in flight used to hold 32-64 MiB (each body read whole, then
    # joined); written as it arrives, a range holds about two 1 MiB chunks.
    assert peak < 16 * MiB, f"peak traced memory {peak / MiB:.1f} MiB"


@pytest.mark.asyncio
async def test_download_replaces_an_existing_file_only_when_complete(
    small_parts: S3Config, bucket: str, tmp_path: Path
) -> None:
    target = tmp_path / "existing"
    target.write_bytes(b"old content")
    async with S3Store.open(f"s3://{bucket}/down", small_parts) as store:
        with pytest.raises(NoSuchKeyError):
            await store.download("absent", target)
        assert target.read_bytes() == b"old content"
        data = os.urandom(6 * MiB)
        await store.upload("present", data)
        await store.download("present", target)
        assert target.read_bytes() == data
    assert _leftovers(tmp_path) == []


@pytest.mark.asyncio
async def test_corrupted_bytes_fail_verification_and_leave_no_file(
    small_parts: S3Config, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import s3opt.transfer.file_download as download_module

    real_write = download_module._write_at

    def flip_a_bit(fd: int, pieces: Sequence[bytes], offset: int) -> None:
        if offset == 0:
            data = b"".join(pieces)
            pieces = [bytes([data[0] ^ 1]) + data[1:]]
        real_write(fd, pieces, offset)

    monkeypatch.setattr(download_module, "_write_at", flip_a_bit)
    async with S3Store.open(f"s3://{bucket}/down", small_parts) as store:
        for size in (100, 2 * 5 * MiB + 1):  # single-part MD5 ETag, then multipart ETag
            await store.upload(f"obj-{size}", os.urandom(size))
            target = tmp_path / f"out-{size}"
            with pytest.raises(ChecksumMismatchError, match="does not match") as caught:
                await store.download(f"obj-{size}", target)
            assert (caught.value.bucket, caught.value.key) == (bucket, f"down/obj-{size}")
            assert not target.exists()
    assert _leftovers(tmp_path) == []


@pytest.mark.asyncio
async def test_object_replaced_during_download_is_detected(
    small_parts: S3Config, bucket: str, tmp_path: Path
) -> None:
    config = small_parts.model_copy(update={"controller": "fixed:1"})
    async with S3Store.open(f"s3://{bucket}/down", config) as store:
        await store.upload("moving", os.urandom(8 * 5 * MiB))
        target = tmp_path / "moving"
        task = asyncio.ensure_future(store.download("moving", target))
        async with asyncio.timeout(30):
            while store.stats.ranges_received < 1:
                await asyncio.sleep(0.002)
        await store.put("moving", b"replaced")
        with pytest.raises(ChecksumMismatchError, match="changed during the download"):
            await task
        assert not target.exists()
    assert _leftovers(tmp_path) == []


def _put_uneven_parts(server: MotoServer, bucket: str, key: str, sizes: list[int]) -> bytes:
    """An object whose parts are not all the same size (what other tools may write)."""
    client = server.boto3_client()
    upload_id = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    parts = []
    content = b""
    for number, size in enumerate(sizes, start=1):
        body = os.urandom(size)
        content += body
        reply = client.upload_part(
            Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
        )
        parts.append({"PartNumber": number, "ETag": reply["ETag"]})
    client.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
    )
    return content


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "sizes",
    [
        [6 * MiB, 5 * MiB, 1024],  # not uniform: the layout must be asked for part by part
        [6 * MiB, 5 * MiB, 6 * MiB],  # looks uniform from part 1 alone (6, 6, 5), but is not
    ],
)
async def test_uneven_multipart_layout_is_verified(
    small_parts: S3Config, bucket: str, tmp_path: Path, moto_server: MotoServer, sizes: list[int]
) -> None:
    content = _put_uneven_parts(moto_server, bucket, "down/uneven", sizes)
    async with S3Store.open(f"s3://{bucket}/down", small_parts) as store:
        target = tmp_path / "uneven"
        await store.download("uneven", target)
        assert _sha(target.read_bytes()) == _sha(content)
        assert _sha(await _streamed(store, "uneven")) == _sha(content)


@pytest.mark.asyncio
async def test_get_range_reads_what_exists(small_parts: S3Config, bucket: str) -> None:
    data = os.urandom(1000)
    async with S3Store.open(f"s3://{bucket}/down", small_parts) as store:
        await store.put("r", data)
        assert await store.get_range("r", 0, 10) == data[:10]
        assert await store.get_range("r", 500, 250) == data[500:750]
        assert await store.get_range("r", 990, 100) == data[990:]  # fewer at the end
        assert await store.get_range("r", 1000, 10) == b""  # past the end
        assert await store.get_range("r", 5, 0) == b""
        with pytest.raises(ValueError, match=">= 0"):
            await store.get_range("r", -1, 5)


@pytest.mark.asyncio
async def test_missing_key_is_typed_and_not_retried(
    small_parts: S3Config, bucket: str, tmp_path: Path
) -> None:
    recorder = MetricsRecorder()
    async with S3Store.open(f"s3://{bucket}/down", small_parts, metrics=recorder.metrics) as store:
        for read in (
            lambda: store.get_range("nope", 0, 5),
            lambda: store.download("nope", tmp_path / "nope"),
            lambda: _streamed(store, "nope"),
            lambda: store.head("nope"),
        ):
            with pytest.raises(NoSuchKeyError) as caught:
                await read()
            assert (caught.value.bucket, caught.value.key) == (
                bucket,
                "nope",
            )  # relative to the store prefix
            assert f"s3://{bucket}/down/nope" in str(caught.value)
    assert "s3opt.retries" not in recorder.snapshot()
    assert not (tmp_path / "nope").exists()
    assert _leftovers(tmp_path) == []


@pytest.mark.asyncio
async def test_missing_bucket_is_typed_and_not_retried(
    small_parts: S3Config, bucket: str, tmp_path: Path
) -> None:
    recorder = MetricsRecorder()
    missing = bucket + "-none"
    async with S3Store.open(f"s3://{missing}/down", small_parts, metrics=recorder.metrics) as store:
        with pytest.raises(NoSuchBucketError) as caught:
            await store.get_range("k", 0, 1)
        assert (caught.value.bucket, caught.value.key) == (missing, "down/k")
        with pytest.raises((NoSuchBucketError, NoSuchKeyError)) as on_head:
            await store.download("k", tmp_path / "k")
        assert on_head.value.bucket == missing
    assert "s3opt.retries" not in recorder.snapshot()


def test_pieces_are_written_whole_through_short_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``pwritev`` may write fewer bytes than asked (a signal, a full pipe): the rest of the
    pieces, from the exact byte where it stopped, is written at the right offset."""
    import s3opt.transfer.file_download as download_module

    real_pwritev = os.pwritev

    def at_most_five(fd: int, buffers: Sequence[memoryview], offset: int) -> int:
        first = bytes(buffers[0])[:5] if buffers[0] else b""
        return real_pwritev(fd, [first], offset)

    pieces = [b"abc", b"", b"defghijklm", b"n", b"opqrstu"]
    path = tmp_path / "out"
    path.write_bytes(b"_" * 30)
    fd = os.open(path, os.O_RDWR)
    try:
        monkeypatch.setattr(os, "pwritev", at_most_five)
        download_module._write_at(fd, pieces, 4)
    finally:
        os.close(fd)
    assert path.read_bytes() == b"____abcdefghijklmnopqrstu" + b"_" * 5


def test_bytes_past_a_range_are_cut_from_its_pieces() -> None:
    from s3opt.transfer.file_download import _cut

    assert _cut([b"abc", b"def", b"gh"], 5) == [b"abc", b"de"]
    assert _cut([b"abc", b"def"], 6) == [b"abc", b"def"]
    assert _cut([b"abc"], 0) == []
    assert _cut([b"abc"], -2) == []
