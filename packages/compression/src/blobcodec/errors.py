"""The exceptions blobcodec raises: one base, and a type per kind of bad input.

Each message says what is wrong and where (byte offset, frame number, member
path), so a user can tell a damaged archive from a mismatched index. Wrong
bytes are never returned as if good: a check that fails raises.
"""

from __future__ import annotations

__all__ = [
    "BlobcodecError",
    "ChecksumMismatchError",
    "CorruptDataError",
    "IndexFormatError",
    "IndexMismatchError",
    "SeekTableError",
    "TruncatedDataError",
    "UnknownCodecError",
]


class BlobcodecError(Exception):
    """Base of every error blobcodec raises on purpose."""


class UnknownCodecError(BlobcodecError, ValueError):
    """A codec name that is not registered."""


class CorruptDataError(BlobcodecError):
    """Compressed data that does not decode (a damaged frame or stream)."""


class TruncatedDataError(CorruptDataError):
    """Compressed data that ends before its stream or frame does."""


class ChecksumMismatchError(CorruptDataError):
    """Data whose checksum differs from the one recorded for it."""


class SeekTableError(CorruptDataError):
    """A missing or damaged seek table in a seekable zstd archive."""


class IndexFormatError(CorruptDataError):
    """Bytes that are not a readable archive member index (damaged, or an unknown version)."""


class IndexMismatchError(BlobcodecError):
    """An archive member index that does not describe the archive it is used with."""
