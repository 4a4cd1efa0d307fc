"""Shared fixtures: one real moto S3 server per session, a fresh bucket per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from s3opt.config import S3Config
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
