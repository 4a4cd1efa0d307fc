"""Read one member's bytes from a seekable archive through its index, checking both agree."""

from __future__ import annotations

import asyncio

from blobcodec.checksum import sha256_tag, verify_sha256_tag
from blobcodec.errors import IndexMismatchError
from blobcodec.index._model import ArchiveIndex, Member
from blobcodec.seekable import AsyncSeekableReader, SeekableReader

__all__ = ["read_member", "read_member_async"]


def _data_member(index: ArchiveIndex, path: str | bytes) -> Member:
    """The member holding ``path``'s bytes: itself, or the target of a hard link."""
    member = index.lookup(path)
    if member.type == "hardlink":
        member = index.lookup(member.link)
    if member.type != "file":
        raise ValueError(f"member {member.path!r} is a {member.type}, not a file with data")
    return member


def _check_archive(index: ArchiveIndex, reader: SeekableReader | AsyncSeekableReader) -> None:
    table = reader.table
    found = (len(table.frames), table.decompressed_size, reader.compressed_size)
    expected = (index.frame_count, index.size, index.compressed_size)
    if found != expected:
        raise IndexMismatchError(
            "the index describes an archive of {} frames, {} bytes uncompressed, {} bytes "
            "compressed; this archive has {} frames, {} and {} bytes".format(*expected, *found)
        )
    if sha256_tag(table.encode()) != index.seek_table_sha256:
        raise IndexMismatchError("the index was made for an archive with a different seek table")


def _check_frames(member: Member, reader: SeekableReader | AsyncSeekableReader) -> None:
    frames = [frame.index for frame in reader.table.covering(member.offset, member.size)]
    if frames != list(member.frames):
        raise IndexMismatchError(
            f"member {member.path!r}: the index places its data in frames {member.frames}, "
            f"the archive in frames {frames}"
        )


def _check_sha256(member: Member, data: bytes) -> bytes:
    # The archive's identity and the member's frames were checked before the read, so a
    # different digest means damaged bytes (ChecksumMismatchError, a CorruptDataError).
    if member.sha256 is None:
        raise IndexMismatchError(f"member {member.path!r}: the index records no sha256 for it")
    verify_sha256_tag(data, member.sha256, what=f"member {member.path!r}")
    return data


def read_member(index: ArchiveIndex, reader: SeekableReader, path: str | bytes) -> bytes:
    """The bytes of the member at ``path`` (a regular file or a hard link to one).

    One ranged read: the frames holding the member (none when the reader's
    opening tail read holds them). IndexMismatchError when the index does not
    describe ``reader``'s archive or places the member in other frames;
    ChecksumMismatchError (a CorruptDataError: damaged data) when the bytes'
    sha256 differs from the index's.
    """
    member = _data_member(index, path)
    _check_archive(index, reader)
    _check_frames(member, reader)
    return _check_sha256(member, reader.read(member.offset, member.size))


async def read_member_async(
    index: ArchiveIndex, reader: AsyncSeekableReader, path: str | bytes
) -> bytes:
    """:func:`read_member` through an :class:`AsyncSeekableReader`; hashing runs in a thread."""
    member = _data_member(index, path)
    _check_archive(index, reader)
    _check_frames(member, reader)
    data = await reader.read(member.offset, member.size)
    return await asyncio.to_thread(_check_sha256, member, data)
