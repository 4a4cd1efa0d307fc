"""Shared fixtures: one real moto S3 server per session, a fresh bucket per test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import pytest_asyncio

from s3opt.config import S3Config
from s3opt.local import LocalStore
from s3opt.s3store import S3Store
from s3opt.testing import MotoServer


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """A moto S3 server on a free 127.0.0.1 port for the whole session, stopped at the end."""
    with MotoServer() as server:
        yield server


@pytest.fixture
def bucket(moto_server: MotoServer) -> str:
    """The name of a new, empty bucket on the session's moto server."""
    name = f"test-{uuid.uuid4().hex[:20]}"
    moto_server.make_bucket(name)
    return name


@pytest.fixture
def s3_config(moto_server: MotoServer) -> S3Config:
    """An S3Config for the moto server: fake credentials, path-style, short timeouts and retries."""
    return moto_server.config()


@pytest.fixture
def boto3_client(moto_server: MotoServer) -> Any:
    """An independent client (boto3) to check what the server holds without s3opt."""
    return boto3.client(
        "s3",
        endpoint_url=moto_server.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
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
