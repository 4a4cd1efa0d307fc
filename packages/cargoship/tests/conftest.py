"""Shared fixtures for cargoship's tests: a real moto S3 server over HTTP, stores, a sample tree.

One moto server runs for the whole session (``moto_server``); every test gets
a fresh bucket (``bucket``) and the URL ``s3://<bucket>/archives`` (``s3_url``)
to ship under. ``store`` is an :class:`s3opt.S3Store` opened on that URL,
``local_store`` a :class:`s3opt.LocalStore` on a temporary directory.
``sample_tree`` builds a small tree with every kind of entry ship handles.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from s3opt import LocalStore, ObjectStore, S3Config, open_store
from s3opt.testing import MotoServer

SAMPLE_MTIME_NS = 1_700_000_000_123_456_789
"""The mtime every entry of ``sample_tree`` gets (a fixed value, with a sub-second part)."""

BIG_FILE_SIZE = 3 << 20
"""Size of ``sample_tree``'s compressible file ``data/big.txt`` (3 MiB)."""


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """A moto S3 server on a free 127.0.0.1 port for the whole session, stopped at the end."""
    with MotoServer() as server:
        yield server


@pytest.fixture
def bucket(moto_server: MotoServer) -> str:
    """The name of a new, empty bucket on the session's moto server."""
    name = f"cargo-{uuid.uuid4().hex[:20]}"
    moto_server.make_bucket(name)
    return name


@pytest.fixture
def s3_config(moto_server: MotoServer) -> S3Config:
    """An S3Config for the moto server: fake credentials, path-style, short timeouts and retries."""
    return moto_server.config()


@pytest.fixture
def s3_url(bucket: str) -> str:
    """``s3://<bucket>/archives``: the prefix tests ship under."""
    return f"s3://{bucket}/archives"


@pytest_asyncio.fixture
async def store(s3_url: str, s3_config: S3Config) -> AsyncIterator[ObjectStore]:
    """An S3Store opened on ``s3_url``, closed after the test."""
    async with open_store(s3_url, s3_config) as opened:
        yield opened


@pytest.fixture
def local_store(tmp_path: Path) -> LocalStore:
    """A LocalStore on an empty temporary directory (no fsync: tests need no durability)."""
    root = tmp_path / "local-store"
    root.mkdir()
    return LocalStore(root, fsync=False)


def _compressible_text(size: int) -> bytes:
    """``size`` bytes of numbered text lines: compresses well but is not one repeated block."""
    lines = bytearray()
    number = 0
    while len(lines) < size:
        lines += f"line {number:08d}: the quick brown fox jumps over the lazy dog\n".encode()
        number += 1
    return bytes(lines[:size])


@pytest.fixture
def sample_tree(tmp_path: Path) -> Path:
    """A small source tree, every entry's mtime set to ``SAMPLE_MTIME_NS``::

    source/
      README.txt              text
      empty.dat               0 bytes
      data/
        big.txt               3 MiB of compressible text
        nested/deeper/
          leaf.bin            256 bytes 0..255
        copy-a.bin            64 KiB, identical to ...
      other/
        copy-b.bin            ... this one (same bytes, different inode)
      link-to-readme          symlink -> README.txt (relative)
      data/nested/up          symlink -> ../big.txt
    """
    root = tmp_path / "source"
    (root / "data" / "nested" / "deeper").mkdir(parents=True)
    (root / "other").mkdir()
    (root / "README.txt").write_bytes(b"cargoship sample tree\n")
    (root / "empty.dat").write_bytes(b"")
    (root / "data" / "big.txt").write_bytes(_compressible_text(BIG_FILE_SIZE))
    (root / "data" / "nested" / "deeper" / "leaf.bin").write_bytes(bytes(range(256)))
    duplicate = bytes((i * 7 + 3) % 251 for i in range(64 << 10))
    (root / "data" / "copy-a.bin").write_bytes(duplicate)
    (root / "other" / "copy-b.bin").write_bytes(duplicate)
    (root / "data" / "nested" / "deeper" / "leaf.bin").chmod(0o600)
    (root / "link-to-readme").symlink_to("README.txt")
    (root / "data" / "nested" / "up").symlink_to("../big.txt")
    # Deepest first, so setting a directory's mtime is not undone by touching its contents.
    paths = sorted(root.rglob("*"), key=lambda p: len(p.parts), reverse=True)
    for path in [*paths, root]:
        os.utime(path, ns=(SAMPLE_MTIME_NS, SAMPLE_MTIME_NS), follow_symlinks=False)
    return root
