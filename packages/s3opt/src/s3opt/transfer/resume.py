"""The state file that lets an interrupted multipart upload continue where it stopped.

A small JSON document, rewritten atomically (temporary file, fsync, rename)
so a crash leaves either the old or the new state, never a torn one::

    {"version": 1, "bucket": "b", "key": "k", "upload_id": "...", "part_size": 8388608,
     "source": {"size": 123, "mtime_ns": 1700000000000000000, "inode": 42},
     "parts": [{"number": 1, "size": 8388608, "etag": "<hex md5>", "sha256": "<base64>"}]}

``source`` identifies the local file (size, modification time in ns, inode):
a file whose identity differs is not the one the parts came from, and its
upload starts over. For a stream ``source`` is ``null``: a stream has no
identity, so each recorded part's ``sha256`` is compared with the part the
stream yields again (``part_size`` fixes the cut points:
:func:`s3opt.transfer.parts.stream_part_size` from it). Every recorded part
had its ETag checked against the MD5 of the bytes read, so the final
multipart ETag can be computed from the state alone.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeVar

from s3opt.errors import S3OptError

__all__ = [
    "STATE_VERSION",
    "PartRecord",
    "ResumeState",
    "ResumeStateError",
    "SourceIdentity",
    "remove_state",
]

STATE_VERSION: Final = 1

_T = TypeVar("_T")


class ResumeStateError(S3OptError, ValueError):
    """A resume state file that cannot be read or belongs to another upload."""


@dataclass(frozen=True, slots=True)
class SourceIdentity:
    """What identifies a local file's content without reading it: size, mtime (ns), inode."""

    size: int
    mtime_ns: int
    inode: int

    @classmethod
    def of(cls, path: Path) -> SourceIdentity:
        """The identity of the file at ``path`` now (``OSError`` if it is gone)."""
        st = os.stat(path)
        return cls(st.st_size, st.st_mtime_ns, st.st_ino)

    @classmethod
    def of_fd(cls, fd: int) -> SourceIdentity:
        """The identity of an open file."""
        st = os.fstat(fd)
        return cls(st.st_size, st.st_mtime_ns, st.st_ino)


@dataclass(frozen=True, slots=True)
class PartRecord:
    """One uploaded part, as S3 acknowledged it and as its bytes hashed locally."""

    number: int
    size: int
    etag: str
    """The part's ETag without quotes: the hex MD5 of its bytes (checked on upload)."""
    sha256: str
    """Base64 SHA-256 of the part (the ``ChecksumSHA256`` S3 verified)."""


@dataclass(slots=True)
class ResumeState:
    """Everything needed to continue a multipart upload of a local file or a stream."""

    bucket: str
    key: str
    upload_id: str
    part_size: int
    source: SourceIdentity | None
    """The local file's identity; ``None`` for a stream."""
    parts: dict[int, PartRecord] = field(default_factory=dict)

    def record(self, part: PartRecord) -> None:
        """Remember a part S3 acknowledged."""
        self.parts[part.number] = part

    def to_json(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "bucket": self.bucket,
            "key": self.key,
            "upload_id": self.upload_id,
            "part_size": self.part_size,
            "source": None
            if self.source is None
            else {
                "size": self.source.size,
                "mtime_ns": self.source.mtime_ns,
                "inode": self.source.inode,
            },
            "parts": [
                {"number": p.number, "size": p.size, "etag": p.etag, "sha256": p.sha256}
                for p in sorted(self.parts.values(), key=lambda p: p.number)
            ],
        }

    def save(self, path: Path) -> None:
        """Write the state to ``path`` atomically (blocking: small, but fsync'd)."""
        data = json.dumps(self.to_json(), separators=(",", ":")).encode()
        tmp = path.with_name(f".{path.name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path, *, bucket: str, key: str) -> ResumeState:
        """Read ``path``; :class:`ResumeStateError` if it is malformed or for another object."""
        try:
            raw = json.loads(path.read_bytes())
            state = cls._from_json(raw)
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise ResumeStateError(
                f"unreadable resume state {str(path)!r} for s3://{bucket}/{key}: {exc}",
                bucket=bucket,
                key=key,
            ) from None
        if (state.bucket, state.key) != (bucket, key):
            raise ResumeStateError(
                f"resume state {str(path)!r} is for s3://{state.bucket}/{state.key}, "
                f"not s3://{bucket}/{key}",
                bucket=bucket,
                key=key,
            )
        return state

    @classmethod
    def _from_json(cls, raw: Any) -> ResumeState:
        if not isinstance(raw, dict) or raw.get("version") != STATE_VERSION:
            raise ValueError(f"not a version {STATE_VERSION} s3opt resume state")
        src = raw["source"]
        state = cls(
            bucket=_typed(raw["bucket"], str),
            key=_typed(raw["key"], str),
            upload_id=_typed(raw["upload_id"], str),
            part_size=_typed(raw["part_size"], int),
            source=None
            if src is None
            else SourceIdentity(
                _typed(src["size"], int), _typed(src["mtime_ns"], int), _typed(src["inode"], int)
            ),
        )
        if state.part_size <= 0:
            raise ValueError(f"part_size must be > 0, got {state.part_size}")
        for item in raw["parts"]:
            part = PartRecord(
                _typed(item["number"], int),
                _typed(item["size"], int),
                _typed(item["etag"], str),
                _typed(item["sha256"], str),
            )
            if part.number < 1 or part.size < 0:
                raise ValueError(f"bad part record {item!r}")
            state.record(part)
        return state


def _typed(value: object, kind: type[_T]) -> _T:
    if not isinstance(value, kind) or isinstance(value, bool):
        raise TypeError(f"expected {kind.__name__}, got {value!r}")
    return value


def remove_state(path: Path) -> None:
    """Delete a state file (and a leftover temporary) once its upload is finished or aborted."""
    for candidate in (path, path.with_name(f".{path.name}.tmp")):
        with contextlib.suppress(FileNotFoundError):
            candidate.unlink()
