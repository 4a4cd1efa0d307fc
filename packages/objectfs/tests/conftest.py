"""Shared fixtures for objectfs's tests: a real local object store in a temporary folder, and
a moto S3 server over HTTP with a new bucket per test (from :mod:`s3opt.testing.fixtures`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from s3opt import LocalStore
from s3opt.testing.fixtures import bucket, moto_server

__all__ = ["bucket", "local_store", "moto_server"]


@pytest.fixture
def local_store(tmp_path: Path) -> LocalStore:
    """A :class:`s3opt.LocalStore` on an empty folder (the ObjectStore used without a network)."""
    root = tmp_path / "bucket"
    root.mkdir()
    return LocalStore(root)
