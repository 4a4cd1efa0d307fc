"""Tar members read in order: cargoship's own headers directly, anything else through tarfile.

:class:`TarMemberReader` reads a tar stream one member at a time. It parses
exactly what :mod:`cargoship.tar_headers` writes (POSIX.1-2017, pax, "ustar
Interchange Format" and "pax Extended Header"):

* 512-byte ustar blocks with the magic ``ustar\\0`` and version ``00``, the
  checksum checked (the unsigned sum of the block with the checksum field
  as eight spaces), octal number fields;
* typeflags ``0`` and NUL (regular file), ``1``, ``2`` and ``5`` (hard link,
  symlink, directory: no data);
* one ``x`` extended header before a member, its records
  ``"<length> <keyword>=<value>\\n"`` (the length counting the whole record)
  with the keywords ``path``, ``linkpath``, ``mtime``, ``size``, ``uid``,
  ``gid`` and ``hdrcharset``; ``atime``, ``ctime``, ``uname``, ``gname`` and
  ``comment`` are read past (they change neither the member nor where its
  bytes lie).

The field decoding (checksum, octal numbers, names, pax records and times) is
:mod:`blobcodec.tarformat`'s; the decisions (what is handed to tarfile) are made here.

Fields come out as :mod:`tarfile` gives them (names decoded with the file
system encoding and ``surrogateescape``, so ``hdrcharset=BINARY`` names keep
their bytes; a directory's trailing ``/`` dropped; the ``prefix`` field
joined). Anything else (another typeflag, a ``g`` global header, GNU ``L`` /
``K`` long names, base-256 numbers, another pax keyword, a bad checksum, a
short header) is not guessed at: from that member on the stream is handed to
:mod:`tarfile`, with the bytes already read put back in front, so any
well-formed tar reads as tarfile reads it, and whatever tarfile refuses raises
its :class:`tarfile.ReadError`. One difference is deliberate: a damaged header
after the first member, which tarfile's stream mode takes for the end of the
archive, is handed to tarfile as a new stream, which refuses it ("bad
checksum", "truncated header"). The archive ends at a zero block or where the
stream ends at a member boundary, as tarfile has it; a stream that ends inside
a member's data raises :class:`tarfile.ReadError`.
"""

from __future__ import annotations

import re
import sys
import tarfile
from dataclasses import dataclass
from typing import IO, Final, Protocol

from blobcodec.tarformat import (
    AREGTYPE,
    BLOCK_SIZE,
    DIRTYPE,
    LNKTYPE,
    MEMBER_TYPES,
    REGTYPE,
    SYMTYPE,
    USTAR_MAGIC,
    XHDTYPE,
    checksum,
    nul_terminated,
    parse_octal,
    parse_pax_records,
    parse_pax_time,
)

__all__ = ["ByteSource", "TarMember", "TarMemberReader", "member_kind"]

_ZERO_BLOCK: Final = bytes(BLOCK_SIZE)
_READ_BYTES: Final = 1 << 20  # bytes asked of the source at a time
_MAX_PAX_BYTES: Final = 1 << 20  # larger extended headers go to tarfile
_NS_PER_SECOND: Final = 1_000_000_000
_FS_ENCODING: Final = sys.getfilesystemencoding()
_NAME_ERRORS: Final = "surrogateescape"  # tarfile's default for names
_FILE_FLAGS: Final = (REGTYPE, AREGTYPE)
_NO_DATA_FLAGS: Final = (LNKTYPE, SYMTYPE, DIRTYPE)
_READ_PAST: Final = frozenset((b"atime", b"ctime", b"uname", b"gname", b"comment"))
_KEYWORDS: Final = frozenset((b"path", b"linkpath", b"mtime", b"size", b"uid", b"gid"))
_READ_KEYWORDS: Final = _KEYWORDS | _READ_PAST | {b"hdrcharset"}
_UTF8_CHARSET: Final = b"ISO-IR 10646 2000 UTF-8"


def member_kind(typeflag: bytes) -> str:
    """A typeflag in :class:`blobcodec.index.MemberType`'s words (``"file"``, ``"fifo"``..,
    :data:`blobcodec.tarformat.MEMBER_TYPES`), or ``"type <flag>"`` for one outside them."""
    return MEMBER_TYPES.get(typeflag) or f"type {typeflag!r}"


class ByteSource(Protocol):
    """A blocking binary stream: ``read(size)`` gives up to ``size`` bytes, ``b""`` at the end."""

    def read(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True, slots=True)
class TarMember:
    """One tar member, its fields as :class:`tarfile.TarInfo` has them."""

    path: str
    typeflag: bytes
    kind: str
    """:func:`member_kind` of the typeflag."""
    size: int
    mode: int
    uid: int
    gid: int
    mtime_ns: int
    """Exact when a pax ``mtime`` record gives it (tarfile rounds it to a float)."""
    link: str
    offset: int
    """Stream offset of its first header block (the pax extended header when it has one)."""
    offset_data: int
    """Stream offset of its data (where its headers end)."""


class _NotOursError(Exception):
    """A member this module does not parse: tarfile reads on from its first header."""


def _octal(field: bytes) -> int:
    """An octal number field (:func:`blobcodec.tarformat.parse_octal`); _NotOursError for
    anything else, GNU base-256 numbers included: tarfile reads those."""
    try:
        return parse_octal(field)
    except ValueError:
        raise _NotOursError from None


_CANONICAL_NUMBERS: Final = re.compile(
    rb"([0-7]{7})\x00([0-7]{7})\x00([0-7]{7})\x00([0-7]{11})\x00([0-7]{11})\x00([0-7]{6})\x00 "
)
"""mode, uid, gid, size, mtime and checksum as tar_headers.py (and most writers) write them."""
_NUMBER_FIELDS: Final = ((100, 108), (108, 116), (116, 124), (124, 136), (136, 148), (148, 156))
_NO_DEVICE: Final = b"0000000\x00" * 2
_NO_HEAD: Final = bytes(156)
_TAIL_CHECKSUMS_KEPT: Final = 256
_PAX_BLOCKS_KEPT: Final = 1024
_OCTAL: Final = (8,) * 6


def _ustar_numbers(
    block: bytes, tail_checksums: dict[bytes, int]
) -> tuple[int, int, int, int, int]:
    """``(mode, uid, gid, size, mtime)`` of a ustar block (magic ``ustar\\0``, version
    ``00``) whose unsigned checksum is right and whose number fields tarfile reads; _NotOursError
    otherwise. ``tail_checksums`` caches the checksum share of the 356 bytes after the checksum
    field, which repeat from member to member when there is no link name."""
    if block[257:265] != USTAR_MAGIC:
        raise _NotOursError
    match = _CANONICAL_NUMBERS.match(block, 100)
    if match is not None:
        mode, uid, gid, size, mtime, stored_checksum = map(int, match.groups(), _OCTAL)
    else:
        fields = (_octal(block[a:b]) for a, b in _NUMBER_FIELDS)
        mode, uid, gid, size, mtime, stored_checksum = fields
    if block[329:345] != _NO_DEVICE:  # devmajor, devminor: tarfile refuses junk there too
        _octal(block[329:337])
        _octal(block[337:345])
    tail = block[156:]
    tail_checksum = tail_checksums.get(tail)
    if tail_checksum is None:
        tail_checksum = checksum(_NO_HEAD + tail)
        if not block[157] and len(tail_checksums) < _TAIL_CHECKSUMS_KEPT:
            tail_checksums[tail] = tail_checksum
    if stored_checksum != sum(block[:148]) + tail_checksum:
        raise _NotOursError
    return mode, uid, gid, size, mtime


def _pax_number(records: dict[bytes, bytes], keyword: bytes, default: int) -> int:
    value = records.get(keyword)
    if value is None:
        return default
    if not value.isdigit():
        raise _NotOursError
    return int(value)


def _pax_name(value: bytes, binary: bool) -> str:
    """A ``path`` / ``linkpath`` value decoded as tarfile does (``_decode_pax_field``)."""
    if not binary:
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return value.decode(_FS_ENCODING, _NAME_ERRORS)


def _pax_mtime_ns(text: str | None) -> int | None:
    """A pax ``mtime`` as tarfile keeps it (text), exact in nanoseconds; None when absent or
    not a decimal time."""
    if text is None:
        return None
    try:
        return parse_pax_time(text.encode("utf-8", _NAME_ERRORS))
    except ValueError:
        return None


def _from_tarinfo(info: tarfile.TarInfo, base: int) -> TarMember:
    """The member tarfile read, at stream offsets ``base`` on."""
    mtime_ns = _pax_mtime_ns(info.pax_headers.get("mtime"))
    if mtime_ns is None:
        mtime_ns = round(info.mtime * _NS_PER_SECOND)
    return TarMember(
        path=info.name,
        typeflag=info.type,
        kind=member_kind(info.type),
        size=info.size,
        mode=info.mode,
        uid=info.uid,
        gid=info.gid,
        mtime_ns=mtime_ns,
        link=info.linkname,
        offset=base + info.offset,
        offset_data=base + info.offset_data,
    )


class _Replay:
    """The bytes already read from a member on, then the rest of the source."""

    def __init__(self, head: bytes, source: ByteSource) -> None:
        self._head = head
        self._source = source

    def read(self, size: int = -1, /) -> bytes:
        if not self._head:
            return self._source.read(size)
        if size < 0:
            piece, self._head = self._head + self._source.read(), b""
            return piece
        piece, self._head = self._head[:size], self._head[size:]
        return piece


class TarMemberReader:
    """The members of the tar stream ``source``, in order (see the module docstring).

    :meth:`next` gives the next member, :meth:`read` the current member's data
    (a member's unread data is skipped by the next :meth:`next`). Use it from
    one thread.
    """

    def __init__(self, source: ByteSource) -> None:
        self._source = source
        self._buffer = b""
        self._at = 0
        """Next unread byte of the buffer."""
        self._mark = 0
        """First buffer byte of the member being parsed: kept for tarfile until it is parsed."""
        self._base = 0
        """Stream offset of the buffer's first byte."""
        self._data_left = 0
        self._padding = 0
        self._tar: tarfile.TarFile | None = None
        self._tar_base = 0
        self._tar_data: IO[bytes] | None = None
        self._ended = False
        self._tail_checksums: dict[bytes, int] = {}
        self._pax_sizes: dict[bytes, int] = {}
        """Extended header blocks already checked, and their sizes (most repeat)."""

    @property
    def position(self) -> int:
        """Stream offset of the next byte this reader parses (before tarfile takes over)."""
        return self._base + self._at

    def next(self) -> TarMember | None:
        """The next member, or None at the end of the archive."""
        if self._ended:
            return None
        if self._tar is None:
            self._skip(self._data_left + self._padding)
            self._data_left = self._padding = 0
            self._mark = self._at
            try:
                member = self._parse()
            except _NotOursError:
                self._hand_over()
            else:
                self._ended = member is None
                return member
        return self._next_from_tarfile()

    def read(self, size: int) -> bytes:
        """Up to ``size`` bytes of the current member's data; ``b""`` when all is read (or
        it has none). tarfile.ReadError when the stream ends inside the data."""
        if self._tar is not None:
            return b"" if self._tar_data is None else self._tar_data.read(size)
        size = min(size, self._data_left)
        if size <= 0:
            return b""
        if self._at < len(self._buffer):
            piece = self._buffer[self._at : self._at + size]
            self._at += len(piece)
        else:
            piece = self._source.read(size)
            if not piece:
                raise tarfile.ReadError("unexpected end of data")
            self._base += len(self._buffer) + len(piece)
            self._buffer, self._at, self._mark = b"", 0, 0
        self._data_left -= len(piece)
        return piece

    def _fill(self, size: int) -> bool:
        """At least ``size`` unread bytes in the buffer; False when the stream ends first."""
        while len(self._buffer) - self._at < size:
            chunk = self._source.read(max(_READ_BYTES, size))
            if not chunk:
                return False
            drop = self._mark
            self._buffer = self._buffer[drop:] + chunk
            self._base += drop
            self._at -= drop
            self._mark = 0
        return True

    def _skip(self, size: int) -> None:
        """Pass ``size`` bytes; tarfile.ReadError when the stream ends first."""
        left = len(self._buffer) - self._at
        if size <= left:
            self._at += size
            return
        size -= left
        self._base += len(self._buffer)
        self._buffer, self._at, self._mark = b"", 0, 0
        while size:
            piece = self._source.read(min(size, _READ_BYTES))
            if not piece:
                raise tarfile.ReadError("unexpected end of data")
            self._base += len(piece)
            size -= len(piece)

    def _block(self) -> bytes | None:
        """The next header block; None at the end (a zero block, or the stream's end at a
        member boundary after the first member)."""
        if not self._fill(BLOCK_SIZE):
            if self._at < len(self._buffer) or not self.position:
                raise _NotOursError  # a short block, or an empty stream: tarfile's error
            return None
        block = self._buffer[self._at : self._at + BLOCK_SIZE]
        self._at += BLOCK_SIZE
        return None if block == _ZERO_BLOCK else block

    def _parse(self) -> TarMember | None:
        offset = self.position
        block = self._block()
        if block is None:
            return None
        records: dict[bytes, bytes] = {}
        if block[156:157] == XHDTYPE:
            size = self._pax_sizes.get(block)
            if size is None:
                size = _ustar_numbers(block, self._tail_checksums)[3]
                if size > _MAX_PAX_BYTES:
                    raise _NotOursError
                if len(self._pax_sizes) < _PAX_BLOCKS_KEPT:
                    self._pax_sizes[block] = size
            if not self._fill(size + -size % BLOCK_SIZE):
                raise _NotOursError
            try:
                pairs = parse_pax_records(self._buffer[self._at : self._at + size])
            except ValueError:
                raise _NotOursError from None
            records = dict(pairs)
            if len(records) != len(pairs) or not records.keys() <= _READ_KEYWORDS:
                raise _NotOursError  # a keyword named twice, or one not read here
            self._at += size + -size % BLOCK_SIZE
            block = self._block()
            if block is None:
                raise _NotOursError
        typeflag = block[156:157]
        if typeflag not in _FILE_FLAGS and typeflag not in _NO_DATA_FLAGS:
            raise _NotOursError
        mode, uid, gid, size, mtime = _ustar_numbers(block, self._tail_checksums)
        name = nul_terminated(block[0:100]).decode(_FS_ENCODING, _NAME_ERRORS)
        if typeflag == b"\x00" and name.endswith("/"):
            typeflag = DIRTYPE
        directory = typeflag == DIRTYPE
        if block[345]:  # the ustar prefix, joined as tarfile joins it (after the rstrip)
            prefix = nul_terminated(block[345:500]).decode(_FS_ENCODING, _NAME_ERRORS)
            name = prefix + "/" + (name.rstrip("/") if directory else name)
        if directory:
            name = name.rstrip("/")
        link = nul_terminated(block[157:257]).decode(_FS_ENCODING, _NAME_ERRORS)
        mtime_ns = mtime * _NS_PER_SECOND
        if records:
            size = _pax_number(records, b"size", size)
            uid = _pax_number(records, b"uid", uid)
            gid = _pax_number(records, b"gid", gid)
            charset = records.get(b"hdrcharset")
            if charset not in (None, b"BINARY", _UTF8_CHARSET):
                raise _NotOursError
            binary = charset == b"BINARY"
            if b"path" in records:
                name = _pax_name(records[b"path"], binary).rstrip("/")
            if b"linkpath" in records:
                link = _pax_name(records[b"linkpath"], binary)
            if b"mtime" in records:
                try:
                    mtime_ns = parse_pax_time(records[b"mtime"])
                except ValueError:
                    raise _NotOursError from None
        if size and typeflag in _NO_DATA_FLAGS:
            raise _NotOursError  # tarfile would not skip such data: not guessed here
        member = TarMember(
            path=name,
            typeflag=typeflag,
            kind=MEMBER_TYPES[typeflag],
            size=size,
            mode=mode,
            uid=uid,
            gid=gid,
            mtime_ns=mtime_ns,
            link=link,
            offset=offset,
            offset_data=self.position,
        )
        self._data_left = size if typeflag in _FILE_FLAGS else 0
        self._padding = -self._data_left % BLOCK_SIZE
        self._mark = self._at
        return member

    def _hand_over(self) -> None:
        """Let tarfile read the stream from the member being parsed on."""
        self._tar_base = self._base + self._mark
        replay = _Replay(self._buffer[self._mark :], self._source)
        self._buffer, self._at, self._mark = b"", 0, 0
        try:
            # The TarFile reads the rest of the stream, member by member, as next() asks.
            self._tar = tarfile.open(fileobj=replay, mode="r|")  # type: ignore[call-overload]  # noqa: SIM115
        except tarfile.ReadError as error:
            self._ended = True
            raise tarfile.ReadError(f"tar header at byte {self._tar_base}: {error}") from error

    def _next_from_tarfile(self) -> TarMember | None:
        tar = self._tar
        assert tar is not None
        self._tar_data = None
        info = tar.next()
        tar.members.clear()  # type: ignore[attr-defined]  # kept for every member otherwise
        if info is None:
            self._ended = True
            return None
        if info.isreg():
            self._tar_data = tar.extractfile(info)
        return _from_tarinfo(info, self._tar_base)
