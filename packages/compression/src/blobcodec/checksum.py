"""Checksums: sha256 in the inventory's ``"sha256:<hex>"`` form, and XXH3.

sha256 (FIPS 180-4) identifies content in inventories and member indexes,
written as ``"sha256:"`` followed by 64 lowercase hex digits. XXH3 (the xxHash
specification, 64- and 128-bit variants, seed 0) is the fast check for parts
and frames. Every function has a streaming counterpart with ``update()`` so
that large data is hashed chunk by chunk. hashlib and xxhash release the GIL
on large buffers, so hashing can run in worker threads.
"""

from __future__ import annotations

import hashlib
import re
from typing import TypeAlias

import xxhash

from blobcodec.errors import ChecksumMismatchError

__all__ = [
    "SHA256_PREFIX",
    "BytesLike",
    "Sha256",
    "Xxh3_64",
    "Xxh3_128",
    "parse_sha256_tag",
    "sha256_hex",
    "sha256_tag",
    "verify_sha256_tag",
    "xxh3_64",
    "xxh3_128",
]

SHA256_PREFIX = "sha256:"
"""The prefix of a sha256 checksum in the inventory format."""

_SHA256_TAG = re.compile(r"sha256:([0-9a-f]{64})")

BytesLike: TypeAlias = bytes | bytearray | memoryview
"""What the hash functions accept: any contiguous bytes buffer."""


def sha256_hex(data: BytesLike) -> str:
    """The sha256 of ``data`` as 64 lowercase hex digits."""
    return hashlib.sha256(data).hexdigest()


def sha256_tag(data: BytesLike) -> str:
    """The sha256 of ``data`` in the inventory's ``"sha256:<hex>"`` form."""
    return SHA256_PREFIX + sha256_hex(data)


def parse_sha256_tag(tag: str) -> str:
    """The hex digest inside a ``"sha256:<hex>"`` tag; ValueError if it is not one."""
    match = _SHA256_TAG.fullmatch(tag)
    if match is None:
        raise ValueError(f"checksum {tag!r} is not 'sha256:' followed by 64 lowercase hex digits")
    return match.group(1)


def verify_sha256_tag(data: BytesLike, tag: str, *, what: str = "data") -> None:
    """Raise :class:`ChecksumMismatchError` (naming ``what``) unless ``data`` has ``tag``."""
    expected = parse_sha256_tag(tag)
    actual = sha256_hex(data)
    if actual != expected:
        raise ChecksumMismatchError(f"{what}: sha256 is {actual}, expected {expected}")


class Sha256:
    """Streaming sha256: ``update()`` chunk by chunk, then :meth:`tag` or :meth:`hexdigest`."""

    def __init__(self, data: BytesLike = b"") -> None:
        self._hash = hashlib.sha256(data)

    def update(self, data: BytesLike) -> None:
        """Add ``data`` to the hashed content."""
        self._hash.update(data)

    def hexdigest(self) -> str:
        """The digest so far as 64 lowercase hex digits."""
        return self._hash.hexdigest()

    def tag(self) -> str:
        """The digest so far in the ``"sha256:<hex>"`` form."""
        return SHA256_PREFIX + self._hash.hexdigest()


def xxh3_64(data: BytesLike) -> int:
    """XXH3 64-bit hash of ``data`` (seed 0) as an unsigned int."""
    return xxhash.xxh3_64_intdigest(data)


def xxh3_128(data: BytesLike) -> int:
    """XXH3 128-bit hash of ``data`` (seed 0) as an unsigned int."""
    return xxhash.xxh3_128_intdigest(data)


class _StreamingXxh3:
    """What both streaming XXH3 hashers do; each subclass chooses the xxhash object."""

    __slots__ = ("_hash",)

    _hash: xxhash.xxh3_64 | xxhash.xxh3_128

    def update(self, data: BytesLike) -> None:
        """Add ``data`` to the hashed content."""
        self._hash.update(data)

    def intdigest(self) -> int:
        """The hash so far as an unsigned int."""
        return self._hash.intdigest()

    def hexdigest(self) -> str:
        """The hash so far in lowercase hex (big-endian, as ``xxhsum`` prints): 16 or 32 digits."""
        return self._hash.hexdigest()


class Xxh3_64(_StreamingXxh3):  # noqa: N801 - named after the algorithm, as xxhash does
    """Streaming XXH3 64-bit hash (seed 0)."""

    __slots__ = ()

    def __init__(self, data: BytesLike = b"") -> None:
        self._hash = xxhash.xxh3_64(data)


class Xxh3_128(_StreamingXxh3):  # noqa: N801 - named after the algorithm, as xxhash does
    """Streaming XXH3 128-bit hash (seed 0)."""

    __slots__ = ()

    def __init__(self, data: BytesLike = b"") -> None:
        self._hash = xxhash.xxh3_128(data)
