"""Resumable uploads: the state file format, and resuming against moto over real HTTP."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from s3opt.config import S3Config
from s3opt.s3store import S3Store
from s3opt.transfer.resume import (
    PartRecord,
    ResumeState,
    ResumeStateError,
    SourceIdentity,
    remove_state,
)

MiB = 2**20


def _state(tmp_path: Path) -> ResumeState:
    source = tmp_path / "src.bin"
    source.write_bytes(b"x" * 100)
    state = ResumeState("bkt", "a/key", "upload-1", 5 * MiB, SourceIdentity.of(source))
    state.record(PartRecord(2, 5 * MiB, "0" * 32, "c2hhMjU2"))
    state.record(PartRecord(1, 5 * MiB, "f" * 32, "c2hhMjU2"))
    return state


def test_state_round_trips_through_json(tmp_path: Path) -> None:
    state = _state(tmp_path)
    path = tmp_path / "upload.state"
    state.save(path)
    loaded = ResumeState.load(path, bucket="bkt", key="a/key")
    assert loaded == state
    raw = json.loads(path.read_text())
    assert raw["version"] == 1
    assert [p["number"] for p in raw["parts"]] == [1, 2]
    assert state.source is not None
    assert raw["source"] == {
        "size": 100,
        "mtime_ns": state.source.mtime_ns,
        "inode": state.source.inode,
    }
    assert sorted(os.listdir(tmp_path)) == ["src.bin", "upload.state"]  # no temporary left


def test_state_for_another_object_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "upload.state"
    _state(tmp_path).save(path)
    with pytest.raises(ResumeStateError, match="s3://bkt/a/key, not s3://bkt/other") as caught:
        ResumeState.load(path, bucket="bkt", key="other")
    assert (caught.value.bucket, caught.value.key) == ("bkt", "other")


@pytest.mark.parametrize(
    "content",
    [
        b"not json",
        b"[]",
        b'{"version": 2}',
        b'{"version": 1, "bucket": "bkt"}',
        b'{"version": 1, "bucket": "bkt", "key": "a/key", "upload_id": "u", "part_size": "5",'
        b' "source": {"size": 1, "mtime_ns": 1, "inode": 1}, "parts": []}',
        b'{"version": 1, "bucket": "bkt", "key": "a/key", "upload_id": "u", "part_size": 5,'
        b' "source": {"size": 1, "mtime_ns": 1, "inode": 1},'
        b' "parts": [{"number": 0, "size": 1, "etag": "e", "sha256": "s"}]}',
    ],
)
def test_malformed_state_raises_a_typed_error_naming_the_file(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "bad.state"
    path.write_bytes(content)
    with pytest.raises(ResumeStateError, match=r"unreadable resume state .*bad\.state") as caught:
        ResumeState.load(path, bucket="bkt", key="a/key")
    assert "s3://bkt/a/key" in str(caught.value)


def test_source_identity_changes_when_the_file_is_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"one")
    before = SourceIdentity.of(path)
    os.utime(path, ns=(before.mtime_ns + 1_000, before.mtime_ns + 1_000))
    assert SourceIdentity.of(path) != before
    with path.open("rb") as handle:
        assert SourceIdentity.of_fd(handle.fileno()) == SourceIdentity.of(path)


def test_remove_state_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "s.state"
    _state(tmp_path).save(path)
    remove_state(path)
    remove_state(path)
    assert not path.exists()


# -- against moto --------------------------------------------------------------------------


@asynccontextmanager
async def _store(config: S3Config, bucket: str) -> AsyncIterator[S3Store]:
    async with S3Store.open(f"s3://{bucket}/resume", config) as store:
        yield store


@pytest.fixture
def small_parts(s3_config: S3Config) -> S3Config:
    """5 MiB parts, one at a time, so an upload can be stopped after a known number of parts."""
    return s3_config.model_copy(
        update={"part_size_min": 5 * MiB, "multipart_threshold": 5 * MiB, "controller": "fixed:1"}
    )


def _source(tmp_path: Path, parts: int, tail: int = 123) -> Path:
    path = tmp_path / "source.bin"
    path.write_bytes(os.urandom(parts * 5 * MiB + tail))
    return path


async def _interrupt_after(store: S3Store, coro: object, parts: int) -> None:
    task = asyncio.ensure_future(coro)  # type: ignore[call-overload]
    async with asyncio.timeout(60):
        while store.stats.parts_sent < parts and not task.done():
            await asyncio.sleep(0.002)
    assert not task.done(), "the upload finished before it could be interrupted"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def _sha256_of(store: S3Store, key: str) -> str:
    digest = hashlib.sha256()
    async for chunk in store.get(key):
        digest.update(chunk)
    return digest.hexdigest()


@pytest.mark.asyncio
async def test_cancelled_upload_resumes_sending_only_the_missing_parts(
    small_parts: S3Config, bucket: str, tmp_path: Path
) -> None:
    source = _source(tmp_path, parts=8)  # 9 parts, the last one 123 bytes
    state_path = tmp_path / "upload.state"
    async with _store(small_parts, bucket) as store:
        await _interrupt_after(store, store.upload("big", source, resume_state=state_path), 3)
        recorded = ResumeState.load(state_path, bucket=bucket, key="resume/big")
        assert len(recorded.parts) >= 3
        pending = await store.pending_uploads()
        assert [(p.key, p.upload_id) for p in pending] == [("big", recorded.upload_id)]
        assert not await store.exists("big")
    async with _store(small_parts, bucket) as store:
        info = await store.upload("big", source, resume_state=state_path)
        assert store.stats.parts_reused == len(recorded.parts)
        assert store.stats.parts_sent == 9 - len(recorded.parts)
        assert info.size == source.stat().st_size
        assert info.etag.endswith("-9")
        assert await _sha256_of(store, "big") == hashlib.sha256(source.read_bytes()).hexdigest()
        assert await store.pending_uploads() == []
    assert not state_path.exists()


@pytest.mark.asyncio
async def test_resume_after_the_file_changed_starts_over(
    small_parts: S3Config, bucket: str, tmp_path: Path
) -> None:
    source = _source(tmp_path, parts=4)
    state_path = tmp_path / "upload.state"
    async with _store(small_parts, bucket) as store:
        await _interrupt_after(store, store.upload("k", source, resume_state=state_path), 2)
    with source.open("ab") as handle:
        handle.write(b"appended")
    async with _store(small_parts, bucket) as store:
        await store.upload("k", source, resume_state=state_path)
        assert store.stats.parts_reused == 0
        assert await _sha256_of(store, "k") == hashlib.sha256(source.read_bytes()).hexdigest()
        assert await store.pending_uploads() == []  # the stale upload was aborted


@pytest.mark.asyncio
async def test_resume_of_an_upload_aborted_elsewhere_starts_over(
    small_parts: S3Config, bucket: str, tmp_path: Path
) -> None:
    source = _source(tmp_path, parts=3)
    state_path = tmp_path / "upload.state"
    async with _store(small_parts, bucket) as store:
        await _interrupt_after(store, store.upload("k", source, resume_state=state_path), 1)
        [pending] = await store.pending_uploads()
        await store.abort_upload(pending.key, pending.upload_id)
        info = await store.upload("k", source, resume_state=state_path)
        assert info.size == source.stat().st_size
        assert await _sha256_of(store, "k") == hashlib.sha256(source.read_bytes()).hexdigest()
        assert await store.pending_uploads() == []


@pytest.mark.asyncio
async def test_resume_state_of_another_key_is_refused_before_any_request(
    small_parts: S3Config, bucket: str, tmp_path: Path
) -> None:
    source = _source(tmp_path, parts=2)
    state_path = tmp_path / "upload.state"
    _state(tmp_path).save(state_path)
    async with _store(small_parts, bucket) as store:
        with pytest.raises(ResumeStateError) as caught:
            await store.upload("mine", source, resume_state=state_path)
        assert (caught.value.bucket, caught.value.key) == (bucket, "resume/mine")
        assert store.stats.parts_sent == 0
        assert await store.pending_uploads() == []
