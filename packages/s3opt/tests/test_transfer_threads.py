"""Which thread touches a transfer's file, where that costs CPU.

* An upload's file parts are read on the event loop (:class:`s3opt._aws.LoopReadBody`):
  aiohttp's own payload for an ``io.IOBase`` body hops to a worker thread for every
  256 KiB, which costs more than the read.
* A download's ranges are written by one thread: writes from several threads at once
  spin on the file's inode lock (a buffered write holds it).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import s3opt.transfer.file_download as file_download
from s3opt.config import S3Config
from s3opt.s3store import S3Store
from s3opt.transfer.bodies import FilePartBody

MiB = 2**20

ThreadsCalling = Callable[[Any, str], list[int]]


@pytest.fixture
def threads_calling(monkeypatch: pytest.MonkeyPatch) -> ThreadsCalling:
    """``threads_calling(owner, name)``: the list the thread of every call of
    ``owner.name`` is appended to from now on."""

    def record(owner: Any, name: str) -> list[int]:
        threads: list[int] = []
        real = getattr(owner, name)

        def recorded(*args: Any, **kwargs: Any) -> Any:
            threads.append(threading.get_ident())
            return real(*args, **kwargs)

        monkeypatch.setattr(owner, name, recorded)
        return threads

    return record


def _config(s3_config: S3Config) -> S3Config:
    return s3_config.model_copy(
        update={"controller": "fixed:8", "part_size_min": 5 * MiB, "multipart_threshold": 5 * MiB}
    )


@pytest.mark.asyncio
async def test_file_part_bodies_are_read_on_the_event_loop(
    s3_config: S3Config,
    bucket: str,
    boto3_client: Any,
    tmp_path: Path,
    threads_calling: ThreadsCalling,
) -> None:
    source = tmp_path / "src"
    data = os.urandom(2 * 5 * MiB + 7)
    source.write_bytes(data)
    readers = threads_calling(FilePartBody, "read")
    async with S3Store.open(f"s3://{bucket}", _config(s3_config)) as store:
        await store.upload("inline", source)
    # 5 MiB, 5 MiB and 7 bytes, 256 KiB a read, all by the loop's thread.
    assert len(readers) == 20 + 20 + 1
    assert set(readers) == {threading.get_ident()}
    assert boto3_client.get_object(Bucket=bucket, Key="inline")["Body"].read() == data


@pytest.mark.asyncio
async def test_parallel_ranges_are_written_by_one_thread_off_the_loop(
    s3_config: S3Config, bucket: str, tmp_path: Path, threads_calling: ThreadsCalling
) -> None:
    data = os.urandom(24 * MiB + 3)
    writers = threads_calling(file_download, "_write_at")
    target = tmp_path / "out"
    async with S3Store.open(f"s3://{bucket}", _config(s3_config)) as store:
        await store.upload("parallel", data)
        await store.download("parallel", target)
        assert store.stats.ranges_received >= 6  # several ranges, in flight together
    assert hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(data).digest()
    assert len(writers) >= 24  # at most 1 MiB (SINK_CHUNK) a write
    assert len(set(writers)) == 1
    assert threading.get_ident() not in writers
