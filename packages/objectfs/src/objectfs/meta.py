"""File attributes kept in S3 user metadata, the way s3fs-fuse keeps them.

s3fs stores POSIX attributes as ``x-amz-meta-*`` headers (s3opt's
``ObjectInfo.metadata`` holds them without that prefix):

* ``mode``: ``st_mode`` in decimal, file-type bits included (``33188`` is
  ``S_IFREG | 0o644``, ``16877`` is ``S_IFDIR | 0o755``, ``41471`` is
  ``S_IFLNK | 0o777``);
* ``uid``, ``gid``: decimal ids;
* ``mtime``: seconds since the epoch, an integer or a decimal fraction.
* ``xattr``: extended attributes as a percent-encoded JSON object mapping each
  name to its base64-encoded value.

A symbolic link is an object whose body is the target path and whose mode
has ``S_IFLNK``. A directory is a key prefix ``dir/``; an empty one is a
zero-byte marker object ``dir/``. Objects written by other tools carry no
such headers: files read as ``0644`` and directories as ``0755`` (less the
mount's umask), owned by the mount's uid and gid, dated by S3's
``Last-Modified``.
"""

from __future__ import annotations

import base64
import binascii
import json
import stat
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Final

from s3opt.protocols import ObjectInfo

__all__ = [
    "MODE",
    "MTIME",
    "XATTR",
    "Attributes",
    "attributes_of",
    "decode_xattrs",
    "encode_attributes",
    "encode_xattrs",
]

MODE: Final = "mode"
UID: Final = "uid"
GID: Final = "gid"
MTIME: Final = "mtime"
XATTR: Final = "xattr"

_NS: Final = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Attributes:
    """The POSIX view of one object: type and permission bits, owner, mtime (ns)."""

    mode: int
    uid: int
    gid: int
    mtime_ns: int
    xattrs: Mapping[str, bytes] = field(default_factory=dict)

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.mode)

    @property
    def is_symlink(self) -> bool:
        return stat.S_ISLNK(self.mode)


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


def _mtime_ns(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        seconds = Decimal(value.strip())
    except InvalidOperation:
        return None
    if not seconds.is_finite():
        return None
    return int(seconds * _NS)


def _seconds(mtime_ns: int) -> str:
    whole, frac = divmod(mtime_ns, _NS)
    return str(whole) if frac == 0 else f"{whole}.{frac:09d}".rstrip("0")


def attributes_of(
    info: ObjectInfo,
    *,
    directory: bool,
    uid: int,
    gid: int,
    umask: int,
    now_ns: int = 0,
) -> Attributes:
    """Attributes of ``info`` (a file, or with ``directory`` a directory) from its headers.

    Missing or malformed headers fall back to the defaults: ``0o755`` for
    directories, ``0o644`` for files (less ``umask``), ``uid``/``gid``, and
    ``Last-Modified`` (else ``now_ns``). A mode whose type bits contradict
    ``directory`` keeps its permission bits and takes the right type.
    """
    meta = {k.lower(): v for k, v in info.metadata.items()}
    kind = stat.S_IFDIR if directory else stat.S_IFREG
    default_perm = (0o755 if directory else 0o644) & ~umask
    mode = _int(meta.get(MODE))
    if mode is None:
        mode = kind | default_perm
    elif directory and not stat.S_ISDIR(mode):
        mode = stat.S_IFDIR | stat.S_IMODE(mode)
    elif not directory and not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
        mode = stat.S_IFREG | stat.S_IMODE(mode)
    mtime = _mtime_ns(meta.get(MTIME))
    if mtime is None:
        modified: datetime | None = info.last_modified
        mtime = int(modified.timestamp() * _NS) if modified is not None else now_ns
    file_uid = _int(meta.get(UID))
    file_gid = _int(meta.get(GID))
    return Attributes(
        mode=mode,
        uid=uid if file_uid is None else file_uid,
        gid=gid if file_gid is None else file_gid,
        mtime_ns=mtime,
        xattrs=decode_xattrs(meta.get(XATTR)),
    )


def encode_attributes(attributes: Attributes) -> dict[str, str]:
    """The s3fs headers (without ``x-amz-meta-``) that carry ``attributes``."""
    headers = {
        MODE: str(attributes.mode),
        UID: str(attributes.uid),
        GID: str(attributes.gid),
        MTIME: _seconds(attributes.mtime_ns),
    }
    if attributes.xattrs:
        headers[XATTR] = encode_xattrs(attributes.xattrs)
    return headers


def encode_xattrs(xattrs: Mapping[str, bytes]) -> str:
    """``{"user.x": b"v"}`` -> percent-encoded ``{"user.x":"dg=="}`` (ASCII, header-safe)."""
    document = {name: base64.b64encode(value).decode("ascii") for name, value in xattrs.items()}
    text = json.dumps(document, separators=(",", ":"), sort_keys=True)
    return urllib.parse.quote(text, safe="")


def decode_xattrs(header: str | None) -> dict[str, bytes]:
    """The inverse of :func:`encode_xattrs`; an absent or malformed header is no xattrs."""
    if not header:
        return {}
    try:
        document = json.loads(urllib.parse.unquote(header))
    except ValueError:
        return {}
    if not isinstance(document, dict):
        return {}
    xattrs: dict[str, bytes] = {}
    for name, value in document.items():
        if isinstance(name, str) and isinstance(value, str):
            try:
                xattrs[name] = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                continue
    return xattrs
