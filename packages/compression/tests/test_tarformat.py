"""blobcodec.tarformat against headers written by Python's tarfile and by GNU tar.

The truth is what those tars wrote and read back (their checksum fields, the numbers and
times given to them, the pax records tarfile parses), never this module's own output.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Literal

import pytest

from blobcodec.errors import CorruptDataError
from blobcodec.index import TarIndexer
from blobcodec.seekable import SeekableWriter
from blobcodec.tarformat import (
    AREGTYPE,
    BLKTYPE,
    BLOCK_SIZE,
    CHRTYPE,
    CONTTYPE,
    DIRTYPE,
    FIFOTYPE,
    GNUTYPE_LONGLINK,
    GNUTYPE_LONGNAME,
    GNUTYPE_SPARSE,
    LNKTYPE,
    MEMBER_TYPES,
    REGTYPE,
    SYMTYPE,
    USTAR_MAGIC,
    XGLTYPE,
    XHDTYPE,
    checksum,
    checksum_matches,
    format_pax_record,
    format_pax_time,
    nul_terminated,
    parse_number,
    parse_octal,
    parse_pax_records,
    parse_pax_time,
)

GNU_TAR = shutil.which("tar")
needs_gnu_tar = pytest.mark.skipif(GNU_TAR is None, reason="GNU tar is not installed")
FORMATS: dict[str, Literal[0, 1, 2]] = {
    "ustar": tarfile.USTAR_FORMAT,
    "gnu": tarfile.GNU_FORMAT,
    "pax": tarfile.PAX_FORMAT,
}


def _blocks(data: bytes) -> list[bytes]:
    return [data[at : at + BLOCK_SIZE] for at in range(0, len(data), BLOCK_SIZE)]


def _headers(archive: bytes) -> dict[int, bytes]:
    """Every header block of ``archive`` (extended headers included) by offset; data skipped
    by the size tarfile reads in each header."""
    headers, at = {}, 0
    while at + BLOCK_SIZE <= len(archive) and any(archive[at : at + BLOCK_SIZE]):
        block = archive[at : at + BLOCK_SIZE]
        headers[at] = block
        size = tarfile.nti(block[124:136])  # type: ignore[attr-defined]
        at += BLOCK_SIZE + size + -size % BLOCK_SIZE
    return headers


def _gnu_tar(directory: Path, *args: str) -> bytes:
    assert GNU_TAR is not None
    names = sorted(os.listdir(directory))
    return subprocess.run(
        [GNU_TAR, "-cf", "-", "-C", str(directory), *args, *names],
        check=True,
        capture_output=True,
    ).stdout


def _member(name: str, **fields: object) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    for key, value in fields.items():
        setattr(info, key, value)
    return info


# -- constants ---------------------------------------------------------------------------------


def test_typeflags_and_block_size_are_tarfiles() -> None:
    assert BLOCK_SIZE == tarfile.BLOCKSIZE
    pairs = [
        (REGTYPE, tarfile.REGTYPE),
        (AREGTYPE, tarfile.AREGTYPE),
        (LNKTYPE, tarfile.LNKTYPE),
        (SYMTYPE, tarfile.SYMTYPE),
        (CHRTYPE, tarfile.CHRTYPE),
        (BLKTYPE, tarfile.BLKTYPE),
        (DIRTYPE, tarfile.DIRTYPE),
        (FIFOTYPE, tarfile.FIFOTYPE),
        (CONTTYPE, tarfile.CONTTYPE),
        (XHDTYPE, tarfile.XHDTYPE),
        (XGLTYPE, tarfile.XGLTYPE),
        (GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGNAME),
        (GNUTYPE_LONGLINK, tarfile.GNUTYPE_LONGLINK),
        (GNUTYPE_SPARSE, tarfile.GNUTYPE_SPARSE),
    ]
    for ours, theirs in pairs:
        assert ours == theirs


def test_member_types_agree_with_tarfile_on_each_typeflag() -> None:
    predicates = {
        "file": tarfile.TarInfo.isreg,
        "hardlink": tarfile.TarInfo.islnk,
        "symlink": tarfile.TarInfo.issym,
        "chardev": tarfile.TarInfo.ischr,
        "blockdev": tarfile.TarInfo.isblk,
        "directory": tarfile.TarInfo.isdir,
        "fifo": tarfile.TarInfo.isfifo,
    }
    for flag, kind in MEMBER_TYPES.items():
        info = _member("x", type=flag)
        assert [name for name, test in predicates.items() if test(info)] == [kind], flag
    assert set(MEMBER_TYPES) == set(tarfile.REGULAR_TYPES) | {
        LNKTYPE,
        SYMTYPE,
        CHRTYPE,
        BLKTYPE,
        DIRTYPE,
        FIFOTYPE,
    }


@needs_gnu_tar
def test_member_types_of_a_tree_gnu_tar_wrote(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "file").write_bytes(b"data")
    (tree / "dir").mkdir()
    (tree / "symlink").symlink_to("file")
    os.link(tree / "file", tree / "hardlink")
    os.mkfifo(tree / "fifo")
    archive = _gnu_tar(tree, "--format=ustar")
    kinds = {
        nul_terminated(block[0:100]).rstrip(b"/"): MEMBER_TYPES[block[156:157]]
        for block in _headers(archive).values()
    }
    # GNU tar archives "file" before "hardlink" (sorted names), so the second is the link.
    assert kinds == {
        b"dir": "directory",
        b"fifo": "fifo",
        b"file": "file",
        b"hardlink": "hardlink",
        b"symlink": "symlink",
    }


@needs_gnu_tar
@pytest.mark.parametrize("tar_format", ["ustar", "pax", "gnu"])
def test_ustar_magic_is_what_posix_formats_write(tar_format: str, tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"x")
    for archive in (
        _gnu_tar(tmp_path, f"--format={tar_format}"),
        _member("f").tobuf(FORMATS[tar_format], "utf-8", "surrogateescape"),
    ):
        magic = archive[257:265]
        # GNU's own format predates POSIX and writes "ustar  \0" instead.
        assert (magic == USTAR_MAGIC) == (tar_format != "gnu"), magic


# -- checksum ----------------------------------------------------------------------------------


@pytest.mark.parametrize("tar_format", list(FORMATS))
def test_checksum_is_the_one_tarfile_writes(tar_format: str) -> None:
    info = _member(
        "long-dir-" * 12 + "/é.txt",  # ustar: prefix and name; gnu: an L header; pax: path
        size=12345,
        mode=0o640,
        uid=1000,
        gid=100,
        mtime=1_700_000_000,
        uname="someone",
        gname="group",
    )
    blocks = [
        block
        for block in _blocks(info.tobuf(FORMATS[tar_format], "utf-8", "surrogateescape"))
        if block[257:262] == b"ustar"  # header blocks, not a long name's or pax data
    ]
    assert blocks
    for block in blocks:
        stored = tarfile.nti(block[148:156])  # type: ignore[attr-defined]
        assert checksum(block) == stored == tarfile.calc_chksums(block)[0]  # type: ignore[attr-defined]
        assert sum(block[:148]) + checksum(bytes(156) + block[156:]) == stored  # as documented
        assert checksum_matches(block)


@needs_gnu_tar
def test_checksum_of_gnu_tar_headers(tmp_path: Path) -> None:
    (tmp_path / "short").mkdir()
    (tmp_path / "short" / "f").write_bytes(b"data")
    (tmp_path / "short" / "l").symlink_to("f")
    (tmp_path / "long").mkdir()
    (tmp_path / "long" / ("n" * 120)).write_bytes(b"data")  # a GNU L or pax path header
    (tmp_path / "long" / "l").symlink_to("t" * 130)  # a GNU K or pax linkpath header
    for tar_format, tree in (("ustar", "short"), ("pax", "long"), ("gnu", "long")):
        headers = _headers(_gnu_tar(tmp_path / tree, f"--format={tar_format}")).values()
        assert len(headers) >= 2
        for block in headers:
            assert checksum(block) == tarfile.nti(block[148:156])  # type: ignore[attr-defined]
            assert checksum_matches(block)


def test_signed_checksum_of_old_tars_matches() -> None:
    block = _member("caf\xe9", size=3).tobuf(tarfile.GNU_FORMAT, "latin-1", "strict")
    unsigned, signed = tarfile.calc_chksums(block)  # type: ignore[attr-defined]
    assert signed != unsigned  # the name's 0xe9 counts -23, not 233
    old = block[:148] + b"%06o\x00 " % signed + block[156:]
    assert tarfile.TarInfo.frombuf(old, "latin-1", "strict").name == "caf\xe9"
    assert checksum_matches(old)
    assert checksum(old) == unsigned


def test_a_changed_byte_breaks_the_checksum() -> None:
    block = _member("file", size=3).tobuf(tarfile.USTAR_FORMAT, "utf-8", "strict")
    for at in (0, 100, 147, 156, 300, 511):
        damaged = bytearray(block)
        damaged[at] ^= 0x01
        assert not checksum_matches(bytes(damaged)), at
        with pytest.raises(tarfile.HeaderError):
            tarfile.TarInfo.frombuf(bytes(damaged), "utf-8", "strict")
    junk = block[:148] + b"12x4567\x00" + block[156:]
    assert not checksum_matches(junk)


# -- numbers and names -------------------------------------------------------------------------


@needs_gnu_tar
def test_numbers_gnu_tar_writes_in_base_256(tmp_path: Path) -> None:
    file = tmp_path / "f"
    file.write_bytes(b"hi")
    file.chmod(0o604)
    os.utime(file, ns=(0, -86_400_250_000_000))  # before 1970: GNU tar stores -86401 s
    archive = _gnu_tar(tmp_path, "--format=gnu", "--owner=big:3000000", "--group=g:4000000000")
    (block,) = _headers(archive).values()
    assert block[108] == block[116] == 0x80  # base-256, as GNU tar chose
    assert block[136] == 0xFF  # a negative number
    assert parse_number(block[108:116]) == 3_000_000
    assert parse_number(block[116:124]) == 4_000_000_000
    assert parse_number(block[136:148]) == -86_401
    assert parse_number(block[100:108]) == parse_octal(block[100:108]) == 0o604
    assert parse_number(block[124:136]) == parse_octal(block[124:136]) == 2
    for field in (block[108:116], block[116:124], block[136:148]):
        with pytest.raises(ValueError, match="invalid literal"):
            parse_octal(field)  # a reader that refuses base-256 sees it refused


@pytest.mark.parametrize(
    ("field", "value"),
    [("size", 2**40), ("size", 8**11), ("uid", 8**7), ("mtime", -5), ("mtime", 2**40)],
)
def test_numbers_tarfile_writes_in_base_256(field: str, value: int) -> None:
    block = _member("f", **{field: value}).tobuf(tarfile.GNU_FORMAT, "utf-8", "strict")
    start, end = {"size": (124, 136), "uid": (108, 116), "mtime": (136, 148)}[field]
    assert block[start] in (0x80, 0xFF)
    assert parse_number(block[start:end]) == value


@pytest.mark.parametrize(
    ("field", "value"),
    [
        (b"0000644\x00", 0o644),
        (b"     12 ", 0o12),  # old tars: leading spaces, a space terminator
        (b"12\x00junk\x00", 0o12),  # only the digits before the NUL count
        (b"\x00" * 8, 0),
        (b"        ", 0),
        (b"77777777777\x00", 8**11 - 1),
    ],
)
def test_octal_fields_read_as_tarfile_reads_them(field: bytes, value: int) -> None:
    assert tarfile.nti(field) == value  # type: ignore[attr-defined]
    assert parse_octal(field) == parse_number(field) == value


@pytest.mark.parametrize("field", [b"12x\x00", b"0009\x00", b"1 2\x00"])
def test_octal_fields_refused_as_tarfile_refuses_them(field: bytes) -> None:
    with pytest.raises(tarfile.HeaderError):
        tarfile.nti(field)  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="invalid literal"):
        parse_octal(field)


@pytest.mark.parametrize("length", [1, 99, 100])
def test_name_fields_end_at_the_nul_or_fill_the_field(length: int) -> None:
    name = "n" * length
    block = _member(name, type=SYMTYPE, linkname="t" * (101 - length)).tobuf(
        tarfile.USTAR_FORMAT, "utf-8", "strict"
    )
    assert nul_terminated(block[0:100]) == name.encode()
    assert nul_terminated(block[157:257]) == b"t" * (101 - length)


# -- pax records -------------------------------------------------------------------------------


def _pax_payload(archive: bytes) -> bytes:
    """The data of the first (pax extended) header of ``archive``."""
    assert archive[156:157] == XHDTYPE
    return archive[BLOCK_SIZE : BLOCK_SIZE + int(archive[124:135], 8)]


def test_pax_records_tarfile_writes_parse_as_tarfile_reads_them() -> None:
    headers = {
        "comment": "a=b\nc d",  # "=", newline and space inside a value
        "SCHILY.xattr.user.k": "v",
        "mtime": "1700000000.5",
        "uname": "",
    }
    info = _member("dir/" + "ü" * 120, size=0, pax_headers=headers)
    archive = info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape") + bytes(2 * BLOCK_SIZE)
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:") as tar:
        read_back = tar.getmembers()[0].pax_headers
    records = parse_pax_records(_pax_payload(archive))
    assert {key.decode(): value.decode() for key, value in records} == read_back
    assert read_back["path"] == "dir/" + "ü" * 120


@needs_gnu_tar
def test_pax_records_and_times_of_gnu_tar(tmp_path: Path) -> None:
    times = {
        "a": 1_700_000_000_123_456_789,
        "b": 1_700_000_000_500_000_000,
        "c": -1_500_000_000,
        "d": -86_400_250_000_000,
    }
    for name, mtime_ns in times.items():
        (tmp_path / name).write_bytes(b"x")
        os.utime(tmp_path / name, ns=(mtime_ns, mtime_ns))
    archive = _gnu_tar(tmp_path, "--format=pax")
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:") as tar:
        tarfile_headers = [info.pax_headers for info in tar]
    extended = [at for at, block in _headers(archive).items() if block[156:157] == XHDTYPE]
    assert len(extended) == len(times) == len(tarfile_headers)
    for at, (name, mtime_ns), expected in zip(
        extended, times.items(), tarfile_headers, strict=True
    ):
        payload = _pax_payload(archive[at:])
        records = parse_pax_records(payload)
        assert {key.decode(): value.decode() for key, value in records} == expected, name
        assert b"".join(format_pax_record(key, value) for key, value in records) == payload
        mtime = dict(records)[b"mtime"]
        assert parse_pax_time(mtime) == mtime_ns
        assert format_pax_time(mtime_ns) == mtime  # the same text GNU tar wrote


@pytest.mark.parametrize("value_length", range(120))
def test_pax_record_lengths_are_tarfiles(value_length: int) -> None:
    # Record lengths cross from one to two to three digits in this range.
    value = "v" * value_length
    info = _member("f", pax_headers={"comment": value})
    archive = info.tobuf(tarfile.PAX_FORMAT, "utf-8", "strict")
    assert format_pax_record(b"comment", value.encode()) == _pax_payload(archive)


def _archive_with_pax(payload: bytes) -> bytes:
    """A tar of one empty file whose pax extended header holds ``payload``."""
    pax = _member("././@PaxHeader", type=XHDTYPE, size=len(payload))
    return b"".join(
        [
            pax.tobuf(tarfile.USTAR_FORMAT, "utf-8", "strict"),
            payload + bytes(-len(payload) % BLOCK_SIZE),
            _member("f").tobuf(tarfile.USTAR_FORMAT, "utf-8", "strict"),
            bytes(2 * BLOCK_SIZE),
        ]
    )


def _gnu_tar_reads(payload: bytes) -> bool:
    """Whether GNU tar lists a tar whose pax extended header holds ``payload`` without error."""
    assert GNU_TAR is not None
    listing = subprocess.run(
        [GNU_TAR, "-tf", "-"], input=_archive_with_pax(payload), capture_output=True, check=False
    )
    return listing.returncode == 0


@needs_gnu_tar
@pytest.mark.parametrize(
    ("payload", "records"),
    [
        (b"5 x=\n", [(b"x", b"")]),
        (b"9 path=a\n12 uid=1000\n", [(b"path", b"a"), (b"uid", b"1000")]),
        (b"9 path=a\n9 path=b\n", [(b"path", b"a"), (b"path", b"b")]),
        (b"9 path=a\n\x00\x00\x00", [(b"path", b"a")]),  # NUL padding ends the records
        (b"11 k=a=b c\n", [(b"k", b"a=b c")]),
        (b"7 =abc\n", [(b"", b"abc")]),  # GNU tar ignores it; the caller decides
        (b"", []),
    ],
)
def test_well_formed_pax_records(payload: bytes, records: list[tuple[bytes, bytes]]) -> None:
    assert _gnu_tar_reads(payload)
    assert parse_pax_records(payload) == records


@needs_gnu_tar
@pytest.mark.parametrize(
    ("payload", "position"),
    [
        (b"x path=a\n", 0),  # no length
        (b"+9 path=a\n", 0),
        (b" 10 path=a\n", 0),
        (b"11 path=a\n", 0),  # the length reaches past the data
        (b"8 path=a\n", 0),  # the length ends before the newline
        (b"9 path=a\n8 uid=10\n", 9),
        (b"4 x=\n", 0),
        (b"0 x=\n", 0),
        (b"8 pathx\n", 0),  # no "="
        (b"9path=a\n", 0),  # no space after the length
    ],
)
def test_malformed_pax_records_are_refused_as_gnu_tar_refuses_them(
    payload: bytes, position: int
) -> None:
    assert not _gnu_tar_reads(payload)
    with pytest.raises(ValueError, match=f"^bad record at byte {position}$"):
        parse_pax_records(payload)


def test_pax_record_lengths_of_more_than_20_digits_are_refused() -> None:
    # Current Python tarfile reads 1 to 20 digits; GNU tar takes leading zeros past that.
    assert parse_pax_records(b"0" * 18 + b"37 comment=abcdefg\n") == [(b"comment", b"abcdefg")]
    with pytest.raises(ValueError, match=r"^bad record at byte 0$"):
        parse_pax_records(b"0" * 19 + b"38 comment=abcdefg\n")


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        (b"0", 0),
        (b"1700000000", 1_700_000_000_000_000_000),
        (b"1700000000.000000001", 1_700_000_000_000_000_001),
        (b"-0.5", -500_000_000),
        (b"12.1234567899", 12_123_456_789),  # digits past the ninth dropped
    ],
)
def test_pax_times_read_exactly(text: bytes, ns: int) -> None:
    assert parse_pax_time(text) == ns


@pytest.mark.parametrize("text", [b"", b"1e3", b"12.", b".5", b"- 1", b"1,5", b"0x10"])
def test_pax_times_refuse_what_is_no_decimal(text: bytes) -> None:
    with pytest.raises(ValueError, match="is not a pax time"):
        parse_pax_time(text)


@pytest.mark.parametrize(
    ("mtime", "ns"),
    [(1_700_000_000.25, 1_700_000_000_250_000_000), (-3.5, -3_500_000_000), (0.125, 125_000_000)],
)
def test_pax_times_tarfile_writes(mtime: float, ns: int) -> None:
    # tarfile writes the repr of a float time into a pax record
    archive = _member("f", mtime=mtime).tobuf(tarfile.PAX_FORMAT, "utf-8", "strict")
    (record,) = parse_pax_records(_pax_payload(archive))
    assert record[0] == b"mtime"
    assert parse_pax_time(record[1]) == ns


# -- the member index's parser reports these decoders' errors with the header's offset --------


def _second_header_damaged(field: slice, value: bytes) -> bytes:
    """A ustar tar of two empty files whose second header (at offset 512) holds ``value`` in
    ``field``, its checksum recomputed by tarfile so that only the field is wrong."""
    first, second = (
        _member(name).tobuf(tarfile.USTAR_FORMAT, "utf-8", "strict") for name in ("a", "b")
    )
    damaged = bytearray(second)
    damaged[field] = value
    damaged[148:156] = b"%06o\x00 " % tarfile.calc_chksums(bytes(damaged))[0]  # type: ignore[attr-defined]
    return first + bytes(damaged) + bytes(2 * BLOCK_SIZE)


def _index(archive: bytes) -> None:
    TarIndexer(SeekableWriter(io.BytesIO())).write(archive)


@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("size", slice(124, 136)),
        ("mode", slice(100, 108)),
        ("mtime", slice(136, 148)),
        ("uid", slice(108, 116)),
        ("gid", slice(116, 124)),
    ],
)
def test_the_index_names_a_field_that_is_no_number(name: str, field: slice) -> None:
    junk = b"12x".ljust(field.stop - field.start, b"\x00")
    message = f"tar header at offset 512: {name} field {junk!r} is not an octal number"
    with pytest.raises(CorruptDataError, match=re.escape(message)):
        _index(_second_header_damaged(field, junk))


def test_the_index_names_the_first_bad_number_field() -> None:
    archive = bytearray(_second_header_damaged(slice(116, 124), b"9" * 8))  # gid
    archive[512 + 100 : 512 + 108] = b"8" * 8  # mode, read before gid
    archive[512 + 148 : 512 + 156] = b"%06o\x00 " % tarfile.calc_chksums(archive[512:1024])[0]  # type: ignore[attr-defined]
    with pytest.raises(CorruptDataError, match="mode field b'88888888'"):
        _index(bytes(archive))


def test_the_index_names_a_bad_pax_record_and_where_its_header_lies() -> None:
    first = _member("a").tobuf(tarfile.USTAR_FORMAT, "utf-8", "strict")
    archive = first + _archive_with_pax(b"9 path=a\n8 uid=10\n")  # its data at 512 + 512
    with pytest.raises(
        CorruptDataError, match=r"^pax extended header at offset 1024: bad record at byte 9$"
    ):
        _index(archive)
