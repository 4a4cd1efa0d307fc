"""pytest fixtures on a real moto S3 server: a conftest imports the ones its tests use.

::

    # conftest.py
    from s3opt.testing.fixtures import boto3_client, bucket, moto_server, s3_config

    __all__ = ["boto3_client", "bucket", "moto_server", "s3_config"]

Importing a fixture into a conftest makes it available to the tests below that
conftest, and to no others (pytest's own rule), so nothing here is registered
behind a user's back. One server runs per conftest that imports
``moto_server``, for the whole session; every test that asks for ``bucket``
gets a new, empty one. This module imports pytest, which the ``testing`` extra
does not install: it is for projects that test with pytest.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from s3opt.config import S3Config
from s3opt.testing._moto_server import MotoServer

__all__ = ["boto3_client", "bucket", "moto_server", "s3_config"]


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """A moto S3 server on a free 127.0.0.1 port for the whole session, stopped at the end."""
    with MotoServer() as server:
        yield server


@pytest.fixture
def bucket(moto_server: MotoServer) -> str:
    """The name of a new, empty bucket on ``moto_server``."""
    name = f"test-{uuid.uuid4().hex[:20]}"
    moto_server.make_bucket(name)
    return name


@pytest.fixture
def s3_config(moto_server: MotoServer) -> S3Config:
    """An S3Config for ``moto_server``: fake credentials, path-style, short timeouts and retries."""
    return moto_server.config()


@pytest.fixture
def boto3_client(moto_server: MotoServer) -> Any:
    """A boto3 client on ``moto_server``: checks what the server holds without s3opt."""
    return moto_server.boto3_client()
