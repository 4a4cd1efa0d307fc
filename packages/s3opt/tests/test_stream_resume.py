"""Resumable stream uploads against moto over real HTTP.

A deterministic stream is interrupted (its iterator raises) once some parts
are on S3; the same stream is uploaded again with the same state file. The
object must be byte-identical to the stream (compared by SHA-256 of the
bytes read back), and the second run must send only the parts that were
missing (counted by ``store.stats``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from s3opt.config import S3Config
from s3opt.errors import NoSuchKeyError, SourceChangedError
from s3opt.protocols import ObjectInfo
from s3opt.s3store import S3Store
from s3opt.transfer.resume import ResumeStateError

MiB = 2**20
PART = 5 * MiB
SIZE = 4 * PART + 123  # five parts: four of 5 MiB and one of 123 bytes


class StreamStoppedError(Exception):
    """What the test stream raises to stop an upload midway."""


def content(seed: int = 7) -> bytes:
    return random.Random(seed).randbytes(SIZE)


async def stream_of(
    data: bytes, store: S3Store | None = None, *, stop_after_parts: int | None = None
) -> AsyncIterator[bytes]:
    """``data`` in 1 MiB chunks; with ``stop_after_parts``, raise once that many parts are
    acknowledged by S3 and the stream has reached the part after them."""
    for offset in range(0, len(data), MiB):
        if store is not None and stop_after_parts is not None and offset >= stop_after_parts * PART:
            async with asyncio.timeout(20):
                while store.stats.parts_sent < stop_after_parts:
                    await asyncio.sleep(0.01)
            raise StreamStoppedError("the archive generator stopped")
        yield data[offset : offset + MiB]


@asynccontextmanager
async def _store(config: S3Config, bucket: str) -> AsyncIterator[S3Store]:
    fixed = config.model_copy(update={"multipart_threshold": PART, "part_size_min": PART})
    async with S3Store.open(f"s3://{bucket}/streams/", fixed) as store:
        yield store


async def read_back(store: S3Store, key: str) -> bytes:
    return b"".join([chunk async for chunk in store.get(key)])


async def _stopped_after_two_parts(store: S3Store, tmp_path: Path) -> tuple[bytes, Path]:
    """Stream :func:`content` to ``a.tar.zst`` with resume state in ``archive.state``, the
    stream failing once S3 has acknowledged two parts: the data and the state to resume."""
    data = content()
    state = tmp_path / "archive.state"
    with pytest.raises(StreamStoppedError):
        await store.upload(
            "a.tar.zst", stream_of(data, store, stop_after_parts=2), resume_state=state
        )
    return data, state


@pytest.mark.asyncio
async def test_interrupted_stream_resumes_sending_only_missing_parts(
    s3_config: S3Config, bucket: str, tmp_path: Path
) -> None:
    async with _store(s3_config, bucket) as store:
        data, state = await _stopped_after_two_parts(store, tmp_path)
        # Kept, not aborted: the upload is pending and the state names its parts.
        assert [u.key for u in await store.pending_uploads()] == ["a.tar.zst"]
        recorded = json.loads(state.read_text())
        assert recorded["source"] is None
        assert recorded["part_size"] == PART
        assert [p["number"] for p in recorded["parts"]] == [1, 2]
        with pytest.raises(NoSuchKeyError):
            await store.head("a.tar.zst")

        sent_before = store.stats.parts_sent
        info = await store.upload("a.tar.zst", stream_of(data), resume_state=state)
        assert store.stats.parts_sent - sent_before == 3  # parts 3, 4 and 5 only
        assert store.stats.parts_reused == 2
        assert not state.exists()
        assert await store.pending_uploads() == []

        assert info.size == SIZE
        assert [(p.number, p.size) for p in info.parts] == [
            (1, PART),
            (2, PART),
            (3, PART),
            (4, PART),
            (5, 123),
        ]
        assert info.parts[0].checksum == "sha256:" + hashlib.sha256(data[:PART]).hexdigest()
        stored = await read_back(store, "a.tar.zst")
        assert hashlib.sha256(stored).hexdigest() == hashlib.sha256(data).hexdigest()


@pytest.mark.asyncio
async def test_changed_stream_on_resume_is_refused_and_nothing_stored(
    s3_config: S3Config, bucket: str, tmp_path: Path
) -> None:
    async with _store(s3_config, bucket) as store:
        data, state = await _stopped_after_two_parts(store, tmp_path)
        changed = bytearray(data)
        changed[PART + 10] ^= 0xFF  # one byte of part 2
        sent_before = store.stats.parts_sent
        with pytest.raises(SourceChangedError, match="part 2 differs"):
            await store.upload("a.tar.zst", stream_of(bytes(changed)), resume_state=state)
        assert store.stats.parts_sent == sent_before
        assert not state.exists()
        assert await store.pending_uploads() == []
        with pytest.raises(NoSuchKeyError):
            await store.head("a.tar.zst")


@pytest.mark.asyncio
async def test_shorter_stream_on_resume_is_refused(
    s3_config: S3Config, bucket: str, tmp_path: Path
) -> None:
    async with _store(s3_config, bucket) as store:
        data, state = await _stopped_after_two_parts(store, tmp_path)
        # The same first part, then the end: part 2 was recorded but never comes.
        with pytest.raises(SourceChangedError, match="ended at part 1"):
            await store.upload("a.tar.zst", stream_of(data[:PART]), resume_state=state)
        assert await store.pending_uploads() == []


@pytest.mark.asyncio
async def test_interrupted_stream_without_state_is_aborted(
    s3_config: S3Config, bucket: str
) -> None:
    async with _store(s3_config, bucket) as store:
        with pytest.raises(StreamStoppedError):
            await store.upload("a.tar.zst", stream_of(content(), store, stop_after_parts=1))
        assert await store.pending_uploads() == []


@pytest.mark.asyncio
async def test_file_state_is_not_taken_for_a_stream(
    s3_config: S3Config, bucket: str, tmp_path: Path
) -> None:
    source = tmp_path / "src.bin"
    source.write_bytes(content())
    state = tmp_path / "file.state"
    async with _store(s3_config, bucket) as store:
        task = asyncio.ensure_future(store.upload("k", source, resume_state=state))
        async with asyncio.timeout(20):
            while store.stats.parts_sent < 2:
                await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert state.exists()
        with pytest.raises(ResumeStateError, match="for a file upload, not a stream"):
            await store.upload("k", stream_of(content()), resume_state=state)


@pytest.mark.asyncio
async def test_a_resumed_stream_tells_its_hook_of_every_part_the_recorded_ones_too(
    s3_config: S3Config, bucket: str, tmp_path: Path
) -> None:
    async with _store(s3_config, bucket) as store:
        data, state = await _stopped_after_two_parts(store, tmp_path)
        told: list[ObjectInfo] = []

        async def hook(info: ObjectInfo) -> None:
            told.append(info)

        info = await store.upload("a.tar.zst", stream_of(data), resume_state=state, on_sealed=hook)
        assert store.stats.parts_reused == 2
        (sealed,) = told
        assert [(p.number, p.size) for p in sealed.parts] == [(n, PART) for n in (1, 2, 3, 4)] + [
            (5, 123)
        ]
        assert (sealed.size, sealed.etag, sealed.parts) == (info.size, info.etag, info.parts)
