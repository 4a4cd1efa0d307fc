"""cargoship.tar_headers against Python's tarfile parser and the ustar layout (POSIX.1-2017)."""

from __future__ import annotations

import io
import os
import tarfile
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cargoship.tar_headers import BLOCK_SIZE, member_header

_TYPES = {
    b"0": tarfile.REGTYPE,
    b"1": tarfile.LNKTYPE,
    b"2": tarfile.SYMTYPE,
    b"5": tarfile.DIRTYPE,
}

names = st.one_of(
    st.binary(min_size=1, max_size=300),
    st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=150).map(
        str.encode
    ),
).filter(lambda raw: b"\x00" not in raw and not raw.endswith(b"/"))  # tarfile strips a "/"
ids = st.one_of(st.integers(0, 8**7 - 1), st.integers(8**7, 2**32))
mtimes = st.one_of(
    st.integers(0, 2**33).map(lambda seconds: seconds * 1_000_000_000),
    st.integers(-(2**62), 2**62),
)


def _parse(header: bytes) -> tarfile.TarInfo:
    """The first member tarfile reads from ``header`` (its data is not needed for that)."""
    archive = io.BytesIO(header)
    with tarfile.open(
        fileobj=archive, mode="r:", encoding="utf-8", errors="surrogateescape"
    ) as tar:
        return next(iter(tar))  # the member read when the archive was opened


@given(
    name=names,
    link=st.one_of(st.just(b""), names),
    typeflag=st.sampled_from(list(_TYPES)),
    mode=st.integers(0, 0o7777),
    uid=ids,
    gid=ids,
    mtime_ns=mtimes,
    size=st.one_of(st.integers(0, 8**11 - 1), st.integers(8**11, 2**40)),
)
def test_tarfile_reads_back_every_field(
    name: bytes,
    link: bytes,
    typeflag: bytes,
    mode: int,
    uid: int,
    gid: int,
    mtime_ns: int,
    size: int,
) -> None:
    header = member_header(name, typeflag, mode, uid, gid, mtime_ns, size, link)
    assert len(header) % BLOCK_SIZE == 0
    ustar = header[-BLOCK_SIZE:]
    assert ustar[257:265] == b"ustar\x0000"
    checksum = sum(ustar[:148]) + 8 * ord(" ") + sum(ustar[156:])
    assert ustar[148:156] == b"%06o\x00 " % checksum
    member = _parse(header)
    assert os.fsencode(member.name) == name
    assert member.type == _TYPES[typeflag]
    assert os.fsencode(member.linkname) == link
    assert (member.mode, member.uid, member.gid, member.size) == (mode, uid, gid, size)
    records = member.pax_headers
    seconds, fraction = divmod(mtime_ns, 1_000_000_000)
    if fraction or not 0 <= seconds < 8**11:
        # The pax record is the exact decimal value, trailing zeros dropped.
        assert Decimal(records["mtime"]) == Decimal(mtime_ns) / 1_000_000_000
        assert not records["mtime"].endswith("0") or "." not in records["mtime"]
    else:
        assert "mtime" not in records
        assert member.mtime == seconds
    # A pax header only when a field does not fit its ustar field.
    fits = (
        len(name) <= 100
        and name.isascii()
        and len(link) <= 100
        and link.isascii()
        and uid < 8**7
        and gid < 8**7
        and size < 8**11
        and not fraction
        and 0 <= seconds < 8**11
    )
    assert (len(header) == BLOCK_SIZE) == fits


@pytest.mark.parametrize(
    ("mtime_ns", "record"),
    [
        (1_700_000_000_123_456_789, b"30 mtime=1700000000.123456789\n"),
        (5_100_000_000, b"13 mtime=5.1\n"),
        (1, b"21 mtime=0.000000001\n"),
        ((8**11 - 1) * 1_000_000_000 + 999_999_999, b"30 mtime=8589934591.999999999\n"),
    ],
)
def test_a_sub_second_mtime_gets_the_pax_record_by_hand(mtime_ns: int, record: bytes) -> None:
    """POSIX.1-2017 pax "Extended Header": "%d %s=%s\\n", the length counting the whole record
    (lengths worked out by hand); the extended header's data block holds only that record."""
    header = member_header(b"f", b"0", 0o644, 0, 0, mtime_ns)
    assert len(header) == 3 * BLOCK_SIZE
    assert header[156:157] == b"x"  # typeflag of the extended header
    assert int(header[124:135], 8) == len(record)  # its size field
    assert header[BLOCK_SIZE : 2 * BLOCK_SIZE] == record.ljust(BLOCK_SIZE, b"\x00")
    assert int(header[2 * BLOCK_SIZE + 136 : 2 * BLOCK_SIZE + 147], 8) == mtime_ns // 10**9
