"""s3fs's metadata headers, read and written: values computed by hand from s3fs's conventions.

s3fs-fuse keeps ``x-amz-meta-mode`` as the decimal ``st_mode`` (type bits
included), ``x-amz-meta-uid``/``-gid`` in decimal and ``x-amz-meta-mtime`` in
seconds (an integer, or with a fraction).
"""

from __future__ import annotations

import stat
import urllib.parse
from datetime import UTC, datetime

from objectfs.meta import (
    Attributes,
    attributes_of,
    decode_xattrs,
    encode_attributes,
    encode_xattrs,
)
from s3opt.protocols import ObjectInfo

LAST_MODIFIED = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)  # 1704164645 s


def info(metadata: dict[str, str], key: str = "f") -> ObjectInfo:
    return ObjectInfo(key=key, size=3, etag="e", last_modified=LAST_MODIFIED, metadata=metadata)


def test_s3fs_file_headers_are_read() -> None:
    headers = {"mode": "33261", "uid": "1000", "gid": "100", "mtime": "1700000000"}
    attributes = attributes_of(info(headers), directory=False, uid=0, gid=0, umask=0o022)
    assert attributes.mode == stat.S_IFREG | 0o755  # 33261 == 0o100755
    assert (attributes.uid, attributes.gid) == (1000, 100)
    assert attributes.mtime_ns == 1_700_000_000 * 10**9


def test_fractional_mtime_keeps_nanoseconds() -> None:
    attributes = attributes_of(
        info({"mtime": "1700000000.25"}), directory=False, uid=0, gid=0, umask=0
    )
    assert attributes.mtime_ns == 1_700_000_000_250_000_000


def test_s3fs_directory_and_symlink_modes() -> None:
    directory = attributes_of(info({"mode": "16877"}, "d/"), directory=True, uid=0, gid=0, umask=0)
    assert directory.mode == stat.S_IFDIR | 0o755
    assert directory.is_dir
    link = attributes_of(info({"mode": "41471"}), directory=False, uid=0, gid=0, umask=0)
    assert link.mode == stat.S_IFLNK | 0o777
    assert link.is_symlink


def test_objects_without_headers_get_defaults_less_umask() -> None:
    plain = attributes_of(info({}), directory=False, uid=7, gid=8, umask=0o027)
    assert plain.mode == stat.S_IFREG | 0o640
    assert (plain.uid, plain.gid) == (7, 8)
    assert plain.mtime_ns == 1_704_164_645 * 10**9
    directory = attributes_of(info({}, "d/"), directory=True, uid=7, gid=8, umask=0o027)
    assert directory.mode == stat.S_IFDIR | 0o750


def test_malformed_headers_fall_back() -> None:
    headers = {"mode": "rwx", "uid": "-", "mtime": "yesterday", "xattr": "%7Bnot json"}
    attributes = attributes_of(info(headers), directory=False, uid=5, gid=6, umask=0o022)
    assert attributes.mode == stat.S_IFREG | 0o644
    assert attributes.uid == 5
    assert attributes.mtime_ns == 1_704_164_645 * 10**9
    assert attributes.xattrs == {}


def test_type_bits_follow_what_the_key_is() -> None:
    # A directory marker whose mode says "regular file" is still a directory.
    marker = attributes_of(info({"mode": "33188"}, "d/"), directory=True, uid=0, gid=0, umask=0)
    assert marker.mode == stat.S_IFDIR | 0o644


def test_encoding_writes_s3fs_headers() -> None:
    attributes = Attributes(mode=0o100600, uid=1000, gid=1000, mtime_ns=1_700_000_000_500_000_000)
    assert encode_attributes(attributes) == {
        "mode": "33152",
        "uid": "1000",
        "gid": "1000",
        "mtime": "1700000000.5",
    }
    whole = Attributes(mode=0o40755, uid=0, gid=0, mtime_ns=1_700_000_000 * 10**9)
    assert encode_attributes(whole)["mtime"] == "1700000000"


def test_xattrs_use_s3fs_encoding() -> None:
    header = encode_xattrs({"user.color": b"bar"})
    assert urllib.parse.unquote(header) == '{"user.color":"YmFy"}'  # base64(b"bar") == "YmFy"
    assert header.isascii()
    assert " " not in header
    assert decode_xattrs(header) == {"user.color": b"bar"}
    assert decode_xattrs(urllib.parse.quote('{"user.a":"AAE="}')) == {"user.a": b"\x00\x01"}


def test_round_trip_through_headers() -> None:
    original = Attributes(
        mode=0o100644, uid=3, gid=4, mtime_ns=1_234_567_890_123_456_789, xattrs={"user.k": b"v"}
    )
    again = attributes_of(info(encode_attributes(original)), directory=False, uid=0, gid=0, umask=0)
    assert again == original
