"""Shared fixtures for objectfs's unit tests: a real local object store in a temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from s3opt import LocalStore


@pytest.fixture
def local_store(tmp_path: Path) -> LocalStore:
    """A :class:`s3opt.LocalStore` on an empty folder (the ObjectStore used without a network)."""
    root = tmp_path / "bucket"
    root.mkdir()
    return LocalStore(root)
