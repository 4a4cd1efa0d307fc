"""The filesystem: pyfuse3 handlers over an object store (see :mod:`objectfs.fs._ops`)."""

from objectfs.fs._build import build_filesystem as build_filesystem
from objectfs.fs._ops import PID_XATTR as PID_XATTR
from objectfs.fs._ops import STATS_XATTR as STATS_XATTR
from objectfs.fs._ops import ObjectFs as ObjectFs

__all__ = ["PID_XATTR", "STATS_XATTR", "ObjectFs", "build_filesystem"]
