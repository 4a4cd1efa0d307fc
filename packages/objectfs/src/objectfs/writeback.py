"""Write-back: files being written live whole in a staging file on disk until uploaded.

S3 objects cannot be changed in place, so the first write to a file (or a
truncate) stages it: the existing object is fetched into a local file (not
when the file is created or opened with ``O_TRUNC``), writes and truncates
go to that file at their offsets, and ``flush``, ``fsync`` and the last
``release`` upload it whole with ``ObjectStore.upload`` (one PUT when small,
multipart above s3opt's threshold). The upload returns only once S3 has
stored the object, which is what makes ``fsync`` durable; the file stays
staged, so it can keep growing afterwards. Writes wait while an upload reads
the staging file, so what S3 stores is a state the file really had.

Staging files live in one directory of the mount's cache folder (mode 0700,
files 0600). They hold data not yet uploaded only; a daemon killed before a
flush loses those writes (never fsynced ones), and the next mount removes the
leftovers.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from pathlib import Path

from objectfs.meta import Attributes, encode_attributes
from s3opt.protocols import ObjectInfo, ObjectStore

__all__ = ["StagedFile", "WriteBack"]

_logger = logging.getLogger(__name__)


class StagedFile:
    """One file's whole contents on local disk, while handles have it open for writing."""

    def __init__(
        self,
        path: Path,
        key: str,
        *,
        size: int,
        attributes: Attributes,
        source: Callable[[], AsyncIterator[bytes]] | None,
    ) -> None:
        self.path = path
        self.key = key
        self.size = size
        """The file's size now (the object's until it is loaded or truncated)."""
        self.attributes = attributes
        self.new = source is None
        """Created or truncated by this mount and not uploaded since: S3 does not have it yet."""
        self.dirty = self.new
        self._source = source
        """The object's contents as a stream, fetched before the first change."""
        self.unlinked = False
        """Removed while open: never uploaded."""
        self.handles = 0
        self.uploaded: ObjectInfo | None = None
        self._lock = asyncio.Lock()
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)

    def __repr__(self) -> str:
        state = "dirty" if self.dirty else "clean"
        return f"StagedFile({self.key!r}, {self.size} bytes, {state})"

    @property
    def loaded(self) -> bool:
        """Whether the staging file holds the contents (else they are still only in S3)."""
        return self._source is None

    async def _load(self, keep: int) -> None:
        """Fetch the first ``keep`` bytes of the object into the staging file (lock held)."""
        if self._source is None:
            return
        offset = 0
        if keep > 0:
            async for chunk in self._source():
                os.pwrite(self._fd, chunk[: max(0, keep - offset)], offset)
                offset += len(chunk)
                if offset >= keep:
                    break
        os.ftruncate(self._fd, min(self.size, keep))
        self._source = None

    def read(self, offset: int, length: int) -> bytes:
        """Bytes ``[offset, offset+length)`` of the loaded contents (fewer at the end)."""
        if offset >= self.size:
            return b""
        return os.pread(self._fd, min(length, self.size - offset), offset)

    async def write(self, offset: int, data: bytes) -> int:
        """Write ``data`` at ``offset`` (past the end extends the file with zeros)."""
        async with self._lock:
            await self._load(self.size)
            written = os.pwrite(self._fd, data, offset)
            self.size = max(self.size, offset + written)
            self._touch()
            return written

    async def truncate(self, size: int) -> None:
        """Cut or extend the contents to ``size`` bytes (POSIX ftruncate: zeros when growing)."""
        async with self._lock:
            await self._load(size)
            os.ftruncate(self._fd, size)
            self.size = size
            self._touch()

    def _touch(self) -> None:
        self.dirty = True
        self.attributes = replace(self.attributes, mtime_ns=time.time_ns())

    async def upload(self, store: ObjectStore) -> ObjectInfo | None:
        """Upload the contents if dirty; the stored object's info, or ``None`` when clean.

        Returns once S3 has the object; a failure leaves the file dirty.
        """
        async with self._lock:
            if not self.dirty or self.unlinked:
                return None
            metadata = encode_attributes(self.attributes)
            info = await store.upload(self.key, self.path, metadata=metadata)
            self.dirty = False
            self.new = False
            self.uploaded = info
            _logger.debug("uploaded %s (%d bytes)", self.key, info.size)
            return info

    def close(self) -> None:
        """Drop the staging file (its contents are in S3 or no longer wanted)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self.path.unlink(missing_ok=True)


class WriteBack:
    """The staged files of one mount, by key; one :class:`StagedFile` per open written file."""

    def __init__(self, store: ObjectStore, directory: Path) -> None:
        self._store = store
        self._directory = directory
        self._files: dict[str, StagedFile] = {}
        self._serial = 0
        if directory.exists():
            leftovers = sum(1 for _ in directory.iterdir())
            if leftovers:
                _logger.warning("removing %d staging files left by an earlier mount", leftovers)
            shutil.rmtree(directory)
        directory.mkdir(mode=0o700, parents=True)

    def __iter__(self) -> Iterator[StagedFile]:
        return iter(list(self._files.values()))

    def get(self, key: str) -> StagedFile | None:
        return self._files.get(key)

    def open(
        self,
        key: str,
        *,
        size: int,
        attributes: Attributes,
        source: Callable[[], AsyncIterator[bytes]] | None,
    ) -> StagedFile:
        """The staged file for ``key``, created if none; one more handle holds it.

        ``source`` streams the existing object, fetched before the first change;
        ``None`` for a file that starts empty (created, or opened with ``O_TRUNC``).
        """
        staged = self._files.get(key)
        if staged is None:
            self._serial += 1
            path = self._directory / f"{self._serial:08d}.stage"
            staged = StagedFile(path, key, size=size, attributes=attributes, source=source)
            self._files[key] = staged
        staged.handles += 1
        return staged

    async def release(self, staged: StagedFile) -> ObjectInfo | None:
        """One handle let go; the last one uploads a dirty file, then drops the staging file."""
        staged.handles -= 1
        if staged.handles > 0:
            return None
        try:
            return await staged.upload(self._store)
        finally:
            if not staged.dirty or staged.unlinked:
                self._drop(staged)

    def _drop(self, staged: StagedFile) -> None:
        if self._files.get(staged.key) is staged:
            del self._files[staged.key]
        staged.close()

    def unlinked(self, key: str) -> None:
        """``key`` was removed while open: its staged file is never uploaded."""
        staged = self._files.pop(key, None)
        if staged is not None:
            staged.unlinked = True
            if staged.handles <= 0:
                staged.close()

    def renamed(self, old: str, new: str) -> None:
        """Keys under ``old`` now live under ``new`` (a file or directory renamed while open)."""
        self.unlinked(new)
        below = old + "/"
        for key in [k for k in self._files if k == old or k.startswith(below)]:
            staged = self._files.pop(key)
            staged.key = new + key[len(old) :]
            self._files[staged.key] = staged

    def new_under(self, directory: str) -> list[str]:
        """Keys created by this mount directly in ``directory`` (``"a/b/"``) and not yet in S3."""
        return sorted(
            k
            for k, s in self._files.items()
            if s.new and k.startswith(directory) and "/" not in k[len(directory) :]
        )

    async def flush_all(self) -> int:
        """Upload every dirty staged file (at unmount); how many failed (logged)."""
        failed = 0
        for staged in list(self._files.values()):
            try:
                await staged.upload(self._store)
            except Exception:
                failed += 1
                _logger.exception("could not upload %s at unmount", staged.key)
        return failed

    def close(self) -> None:
        """Drop every staging file (after :meth:`flush_all`)."""
        for staged in list(self._files.values()):
            self._drop(staged)
