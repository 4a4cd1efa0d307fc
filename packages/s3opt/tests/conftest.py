"""Shared fixtures: one real moto S3 server per session, a fresh bucket per test
(``s3opt.testing.fixtures``), and stores and request records built on them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from s3opt.config import S3Config
from s3opt.local import LocalStore
from s3opt.s3store import S3Store
from s3opt.testing.fixtures import boto3_client, bucket, moto_server, s3_config

__all__ = [
    "boto3_client",
    "bucket",
    "either_store",
    "moto_server",
    "s3_config",
    "sent_requests",
    "small_parts",
]


@pytest.fixture
def small_parts(s3_config: S3Config) -> S3Config:
    """``s3_config`` with S3's smallest parts (5 MiB) and multipart from 5 MiB on, so a
    multipart transfer needs only a few MiB of data."""
    return s3_config.model_copy(
        update={"part_size_min": 5 * 2**20, "multipart_threshold": 5 * 2**20}
    )


@pytest_asyncio.fixture(params=["local", "s3"])
async def either_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[S3Store | LocalStore]:
    """Each store in turn under the key prefix ``p/``: a LocalStore in a temporary
    directory, then an S3Store on the moto server (small multipart threshold: 5 MiB)."""
    if request.param == "local":
        yield LocalStore(tmp_path / "root", prefix="p/", fsync=False)
        return
    bucket: str = request.getfixturevalue("bucket")
    config: S3Config = request.getfixturevalue("s3_config")
    small = config.model_copy(update={"multipart_threshold": 5 * 2**20, "part_size_min": 5 * 2**20})
    async with S3Store.open(f"s3://{bucket}/p/", small) as store:
        yield store


@pytest.fixture
def sent_requests(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, str]]]:
    """(operation, headers) of every S3 request of stores opened in the test, as sent on
    the wire (botocore's ``before-send`` event, after signing), recorded through the
    session s3opt builds."""
    import s3opt._aws

    sent: list[tuple[str, dict[str, str]]] = []
    make_session = s3opt._aws._session

    def record(request: Any, event_name: str, **_: Any) -> None:
        headers = {
            name.lower(): value.decode() if isinstance(value, bytes) else value
            for name, value in request.headers.items()
        }
        sent.append((event_name.rsplit(".", 1)[-1], headers))

    def session(config: S3Config) -> Any:
        created = make_session(config)
        created.register("before-send.s3", record)
        return created

    monkeypatch.setattr(s3opt._aws, "_session", session)
    return sent
