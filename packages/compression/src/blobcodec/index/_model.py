"""The archive member index: what each tar member is and where its bytes lie, and its file format.

:meth:`ArchiveIndex.dumps` writes format version 2, the paged layout of
:mod:`blobcodec.index._pages` (a directory, then pages of member lines, so that a few
members can be read without the rest). :meth:`ArchiveIndex.read` reads both versions.
Version 1, written by blobcodec 0.1.0 and still read, is one frame (all integers
little-endian)::

    offset  size  field
    0       8     magic  b"BCINDEX\\x00"
    8       2     format version, 1
    10      2     reserved, 0
    12      ...   one zstd frame (content size and XXH64 checksum set) holding
                  UTF-8 JSON lines:
                  line 1     the archive: {"frames": N, "size": U,
                             "compressed_size": C, "seek_table_sha256": "sha256:..",
                             "members": M}
                  M lines    one member each, in archive order: {"path", "type",
                             "size", "mode", "mtime", "uid", "gid", "offset",
                             "frames": [first, count], and "link" / "sha256" when set}

Both versions write a member's line alike. Names that are not valid UTF-8 are stored
base64-encoded under ``"path_b64"`` / ``"link_b64"`` instead of ``"path"`` /
``"link"``; in Python they are ``str`` decoded with ``surrogateescape``, as
:func:`os.fsdecode` does on POSIX. ``"mtime"`` is a JSON integer when it is a whole
number of seconds, else a fraction; in Python it is always a ``float``.

A version 1 payload is decompressed with a bound: the JSON text may be at most 64 MiB,
or 256 times the payload's compressed size when that is more
(:data:`MAX_INDEX_EXPANSION`); a payload that expands further is refused with
IndexFormatError before more is decompressed. Real indexes stay far below: JSON lines
of 200,000 empty files under a 160-character directory compress at level 9 by 87
times, the most measured; members with data, each carrying a sha256, compress by
about 10. (Version 2 bounds each page by its member count: see its module.)
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import math
import os
import struct
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii
from typing import BinaryIO, Final, Literal, TypeVar, get_args

from blobcodec.checksum import parse_sha256_tag
from blobcodec.errors import CorruptDataError, IndexFormatError
from blobcodec.zstd_codec import ZstdStreamDecompressor

__all__ = ["INDEX_FORMAT_VERSION", "ArchiveIndex", "Member", "MemberType"]

INDEX_FORMAT_VERSION = 2
"""The format version :meth:`ArchiveIndex.dumps` writes (version 1 is read too)."""
_ONE_FRAME_VERSION = 1
MAX_INDEX_EXPANSION = 256
"""Bytes of JSON text :meth:`ArchiveIndex.load` accepts per byte of compressed payload."""
MIN_INDEX_TEXT_LIMIT = 64 * 1024 * 1024
"""Bytes of JSON text :meth:`ArchiveIndex.load` accepts from any payload, however small."""
_TEXT_PIECE = 1 << 18
"""Bytes of JSON text :meth:`ArchiveIndex.load` decompresses at a time."""
_MAGIC = b"BCINDEX\x00"
_HEADER = struct.Struct("<8sHH")

MemberType = Literal["file", "hardlink", "symlink", "chardev", "blockdev", "directory", "fifo"]
_MEMBER_TYPES: dict[str, MemberType] = {name: name for name in get_args(MemberType)}
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Member:
    """One tar member: its header fields, where its data lies, and the data's sha256."""

    path: str
    type: MemberType
    size: int
    """Bytes of data stored in the archive (0 for links, directories and devices)."""
    mode: int
    mtime: float
    """Modification time in seconds since the epoch, always a ``float``: whole for ustar
    and GNU headers (octal or base-256 integers), possibly fractional from a pax record."""
    uid: int
    gid: int
    link: str
    """Target of a hard or symbolic link, else ``""``."""
    offset: int
    """Where the member's data starts in the uncompressed tar stream."""
    frames: range
    """The seekable archive's frames holding the data (empty when there is none)."""
    sha256: str | None
    """``"sha256:<hex>"`` of the data of a regular file, else None."""


class ArchiveIndex:
    """The members of one seekable tar archive, with the archive's identity to check against."""

    __slots__ = (
        "_by_path",
        "compressed_size",
        "frame_count",
        "members",
        "seek_table_sha256",
        "size",
    )

    def __init__(
        self,
        members: Iterable[Member],
        *,
        frame_count: int,
        size: int,
        compressed_size: int,
        seek_table_sha256: str,
    ) -> None:
        self.members: tuple[Member, ...] = tuple(members)
        self.frame_count = frame_count
        self.size = size
        """Bytes of the uncompressed tar stream."""
        self.compressed_size = compressed_size
        """Bytes of the archive file, seek table included."""
        self.seek_table_sha256 = seek_table_sha256
        """``"sha256:<hex>"`` of the archive's encoded seek table frame."""
        # A path stored twice (tar append) resolves to its last copy, as extraction would.
        self._by_path = {member.path: member for member in self.members}

    def lookup(self, path: str | bytes) -> Member:
        """The member stored under ``path`` (bytes are decoded as a file name); KeyError if none."""
        key = path.decode("utf-8", "surrogateescape") if isinstance(path, bytes) else path
        try:
            return self._by_path[key]
        except KeyError:
            raise KeyError(f"no member {key!r} in the archive index") from None

    def __contains__(self, path: object) -> bool:
        """Whether ``path`` (``str``, or ``bytes`` decoded as :meth:`lookup` does) is a member."""
        if isinstance(path, bytes):
            path = path.decode("utf-8", "surrogateescape")
        return isinstance(path, str) and path in self._by_path

    def __len__(self) -> int:
        return len(self.members)

    def dumps(self) -> bytes:
        """Serialise to the paged format (version 2, :mod:`blobcodec.index._pages`)."""
        from blobcodec.index._pages import PageWriter  # _pages builds on this module

        writer = PageWriter()
        pages = []
        for member in self.members:
            if (page := writer.add(member.path, _member_line(member))) is not None:
                pages.append(page)
        if (page := writer.flush()) is not None:
            pages.append(page)
        head = writer.head(
            frame_count=self.frame_count,
            size=self.size,
            compressed_size=self.compressed_size,
            seek_table_sha256=self.seek_table_sha256,
        )
        return head + b"".join(pages)

    @classmethod
    def load(cls, data: bytes, *, keep: Callable[[Member], bool] | None = None) -> ArchiveIndex:
        """Parse :meth:`dumps` output; IndexFormatError for damaged data or an unknown version.

        The payload is decompressed and parsed a piece at a time, one member line after
        another, so memory beyond the members held stays bounded. With ``keep``, every
        member is passed to it once checked, in archive order, and only those it returns
        true for are held (a caller that checks each member and needs a few keeps memory
        flat whatever the archive's member count); the archive's identity is kept whole.
        """
        return cls.read(io.BytesIO(data), keep=keep)

    @classmethod
    def read(cls, file: BinaryIO, *, keep: Callable[[Member], bool] | None = None) -> ArchiveIndex:
        """:meth:`load` of the index in ``file`` (binary, seekable, at its start), read a
        piece at a time: the compressed index is not held whole either."""
        header = file.read(_HEADER.size)
        if len(header) < _HEADER.size or header[: len(_MAGIC)] != _MAGIC:
            raise IndexFormatError("not an archive member index: the magic bytes are missing")
        _, version, reserved = _HEADER.unpack(header)
        if version not in (_ONE_FRAME_VERSION, INDEX_FORMAT_VERSION):
            raise IndexFormatError(
                f"archive member index format version {version} is not supported "
                f"(this blobcodec reads versions {_ONE_FRAME_VERSION} and {INDEX_FORMAT_VERSION})"
            )
        if reserved:
            raise IndexFormatError(f"archive member index header: reserved field is {reserved}")
        if version == INDEX_FORMAT_VERSION:
            from blobcodec.index._pages import read_paged  # _pages builds on this module

            file.seek(0)
            return read_paged(file, keep)
        payload_size = file.seek(0, os.SEEK_END) - _HEADER.size
        file.seek(_HEADER.size)
        limit = max(MIN_INDEX_TEXT_LIMIT, MAX_INDEX_EXPANSION * payload_size)
        lines = _payload_lines(file, payload_size, limit)
        first = next(lines, None)
        if first is None:
            raise IndexFormatError("archive member index is empty: no archive line")
        head = _record(_decode_line(first), 1)
        count = _get(head, "members", int, 1)
        digest = _get(head, "seek_table_sha256", str, 1)
        try:
            parse_sha256_tag(digest)
        except ValueError as error:
            raise IndexFormatError(f"archive member index line 1: {error}") from None
        frame_count = _get(head, "frames", int, 1)
        size = _get(head, "size", int, 1)
        compressed_size = _get(head, "compressed_size", int, 1)
        members: list[Member] = []
        line = 1
        for line, text in enumerate(lines, 2):
            member = _member(_record(_decode_line(text), line), line)
            _check_within(member, frame_count, size, line)
            if keep is None or keep(member):
                members.append(member)
        if count != line - 1:
            raise IndexFormatError(
                f"archive member index announces {count} members but holds {line - 1}"
            )
        return cls(
            members,
            frame_count=frame_count,
            size=size,
            compressed_size=compressed_size,
            seek_table_sha256=digest,
        )


def _decode_line(line: str) -> object:
    """One JSON line of an index."""
    try:
        return json.loads(line)
    except json.JSONDecodeError as error:
        raise IndexFormatError(f"archive member index does not decode: {error}") from error


def _payload_lines(payload: BinaryIO, size: int, limit: int) -> Iterator[str]:
    """The JSON lines of an index, fed and decompressed :data:`_TEXT_PIECE` bytes at a time,
    at most ``limit`` bytes of text; IndexFormatError for a damaged, truncated or oversized
    payload or text that is not UTF-8. ``payload`` is read from where it stands, ``size``
    bytes."""
    decompressor = ZstdStreamDecompressor()
    expanded = 0
    rest = b""
    position = 0
    feed = True
    while True:
        chunk = b""
        if (feed or decompressor.needs_input) and position < size:
            chunk = payload.read(min(_TEXT_PIECE, size - position))
            if not chunk:
                break  # the file is shorter than it was: reported as truncated below
            position += len(chunk)
        try:
            piece = decompressor.decompress(chunk, _TEXT_PIECE)
        except CorruptDataError as error:  # byte offsets count from the payload, 12 bytes in
            raise IndexFormatError(
                f"archive member index does not decode (payload from byte {_HEADER.size}): {error}"
            ) from error
        feed = not piece
        if not piece:
            if position >= size:
                break
            continue
        expanded += len(piece)
        if expanded > limit:
            raise IndexFormatError(
                f"archive member index expands beyond {limit} bytes from a {size}-byte "
                "payload (the most it may hold: see blobcodec.index's format docs)"
            )
        *complete, rest = (rest + piece).split(b"\n")
        for line in complete:
            yield _utf8(line)
    if not decompressor.eof:
        raise IndexFormatError(
            "archive member index is truncated or has trailing bytes: "
            + decompressor.describe_truncation()
        )
    if rest:
        yield _utf8(rest)


def _utf8(line: bytes) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError as error:
        raise IndexFormatError(f"archive member index does not decode: {error}") from error


def _check_within(member: Member, frame_count: int, size: int, line: int) -> None:
    """IndexFormatError unless ``member`` lies inside an archive of ``frame_count`` and ``size``."""
    if member.frames.stop > frame_count:
        raise IndexFormatError(
            f"archive member index line {line}: member {member.path!r} has frames "
            f"{member.frames}, past the archive's {frame_count} frames"
        )
    if member.offset + member.size > size:
        raise IndexFormatError(
            f"archive member index line {line}: member {member.path!r} ends at byte "
            f"{member.offset + member.size}, past the archive's {size} uncompressed bytes"
        )


_ENCODER = json.JSONEncoder(separators=(",", ":"))
"""What ``json.dumps(record, separators=(",", ":"))`` uses, made once rather than per line."""
_json_string = encode_basestring_ascii
"""A string as that encoder writes it (``ensure_ascii``: non-ASCII as ``\\u`` escapes)."""


def _json_line(record: Mapping[str, object]) -> bytes:
    return _ENCODER.encode(record).encode() + b"\n"


def _name_field(key: str, name: str) -> str:
    """``"key":"name"`` as JSON, or ``"key_b64":"..."`` when ``name`` is not valid UTF-8."""
    if not name.isascii():  # ASCII is valid UTF-8 without surrogate escapes
        raw = name.encode("utf-8", "surrogateescape")
        try:
            name = raw.decode("utf-8")
        except UnicodeDecodeError:
            return f'"{key}_b64":"{base64.b64encode(raw).decode("ascii")}"'
    return f'"{key}":{_json_string(name)}'


def _member_line(member: Member) -> bytes:
    """One member's JSON line (see :func:`_fields_line`)."""
    return _fields_line(
        member.path,
        member.type,
        member.size,
        member.mode,
        member.mtime,
        member.uid,
        member.gid,
        member.link,
        member.offset,
        member.frames,
        member.sha256,
    )


_TYPE_FIELDS: Final = {kind: f'"type":{_json_string(kind)}' for kind in get_args(MemberType)}


def _fields_line(
    path: str,
    kind: str,
    size: int,
    mode: int,
    mtime: float,
    uid: int,
    gid: int,
    link: str,
    offset: int,
    frames: range,
    sha256: str | None,
) -> bytes:
    """The JSON line of the member with these fields: the keys in the order of the module
    docstring, compact, as ``json.dumps`` with ``separators=(",", ":")`` writes them
    (formatted here: a dict and an encoder pass per member cost several times more on
    indexes of 100,000 members)."""
    value = float(mtime)  # a Member built by hand may hold an int
    if value.is_integer():
        mtime_text = str(int(value))
    elif math.isfinite(value):
        mtime_text = repr(value)  # what the encoder writes for a finite float
    else:
        mtime_text = _ENCODER.encode(value)
    path_field = '"path":' + _json_string(path) if path.isascii() else _name_field("path", path)
    type_field = _TYPE_FIELDS.get(kind) or f'"type":{_json_string(kind)}'
    line = (
        f'{{{path_field},{type_field},"size":{size:d},"mode":{mode:d},'
        f'"mtime":{mtime_text},"uid":{uid:d},"gid":{gid:d},"offset":{offset:d},'
        f'"frames":[{frames.start:d},{len(frames):d}]'
    )
    if link:
        line += "," + _name_field("link", link)
    if sha256 is not None:
        line += ',"sha256":' + _json_string(sha256)
    return (line + "}\n").encode()


def _record(raw: object, line: int) -> dict[str, object]:
    if not isinstance(raw, dict):
        raise IndexFormatError(f"archive member index line {line} is not a JSON object")
    return raw


def _get(record: dict[str, object], key: str, kind: type[_T], line: int) -> _T:
    value = record.get(key)
    # bool is an int in Python but never a valid size or offset here.
    if not isinstance(value, kind) or isinstance(value, bool):
        raise IndexFormatError(
            f"archive member index line {line}: {key!r} is missing or not a {kind.__name__}"
        )
    if isinstance(value, int) and value < 0:
        raise IndexFormatError(f"archive member index line {line}: {key!r} is negative")
    return value


def _name(record: dict[str, object], key: str, line: int) -> str:
    if key in record:
        return _get(record, key, str, line)
    if key + "_b64" in record:
        encoded = _get(record, key + "_b64", str, line)
        try:
            raw = base64.b64decode(encoded, validate=True)
        except binascii.Error as error:
            raise IndexFormatError(
                f"archive member index line {line}: {key}_b64: {error}"
            ) from None
        return raw.decode("utf-8", "surrogateescape")
    if key == "link":
        return ""
    raise IndexFormatError(f"archive member index line {line}: {key!r} is missing")


def _member(record: dict[str, object], line: int) -> Member:
    """The member line ``line``'s record describes; IndexFormatError naming what is wrong.

    The usual record (plain names, every field of its JSON type and in range) is taken at
    once, with the checks of :func:`_checked_member` made inline; any other record (base64
    names, or a problem to name) goes through that function."""
    path, kind_name = record.get("path"), record.get("type")
    size, mode, offset = record.get("size"), record.get("mode"), record.get("offset")
    uid, gid, mtime = record.get("uid"), record.get("gid"), record.get("mtime")
    frames, sha256 = record.get("frames"), record.get("sha256")
    link = record.get("link", None if "link_b64" in record else "")
    if (
        type(path) is str
        and type(kind_name) is str
        and (kind := _MEMBER_TYPES.get(kind_name)) is not None
        and type(link) is str
        and type(size) is int
        and size >= 0
        and type(mode) is int
        and mode >= 0
        and type(offset) is int
        and offset >= 0
        and type(uid) is int
        and uid >= 0
        and type(gid) is int
        and gid >= 0
        and (type(mtime) is float or type(mtime) is int)
        and type(frames) is list
        and len(frames) == 2
        and type(first := frames[0]) is int
        and first >= 0
        and type(count := frames[1]) is int
        and count >= 0
        and (sha256 is None or (type(sha256) is str and _is_sha256_tag(sha256)))
    ):
        return Member(
            path, kind, size, mode, float(mtime), uid, gid, link, offset,
            range(first, first + count), sha256,
        )  # fmt: skip
    return _checked_member(record, line)


def _is_sha256_tag(text: str) -> bool:
    try:
        parse_sha256_tag(text)
    except ValueError:
        return False
    return True


def _checked_member(record: dict[str, object], line: int) -> Member:
    """:func:`_member`, each field checked in turn, so that a problem is named."""
    kind = _MEMBER_TYPES.get(_get(record, "type", str, line))
    if kind is None:
        raise IndexFormatError(f"archive member index line {line}: unknown type {record['type']!r}")
    frames = record.get("frames")
    if (
        not isinstance(frames, list)
        or len(frames) != 2
        or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in frames)
    ):
        raise IndexFormatError(f"archive member index line {line}: 'frames' is not [first, count]")
    mtime = record.get("mtime")
    if not isinstance(mtime, int | float) or isinstance(mtime, bool):
        raise IndexFormatError(f"archive member index line {line}: 'mtime' is not a number")
    sha256 = record.get("sha256")
    if sha256 is not None:
        if not isinstance(sha256, str):
            raise IndexFormatError(f"archive member index line {line}: 'sha256' is not a string")
        try:
            parse_sha256_tag(sha256)
        except ValueError as error:
            raise IndexFormatError(f"archive member index line {line}: {error}") from None
    return Member(
        path=_name(record, "path", line),
        type=kind,
        size=_get(record, "size", int, line),
        mode=_get(record, "mode", int, line),
        mtime=float(mtime),
        uid=_get(record, "uid", int, line),
        gid=_get(record, "gid", int, line),
        link=_name(record, "link", line),
        offset=_get(record, "offset", int, line),
        frames=range(frames[0], frames[0] + frames[1]),
        sha256=sha256,
    )
