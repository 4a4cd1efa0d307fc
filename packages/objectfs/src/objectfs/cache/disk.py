"""The L2 block cache: blocks on local disk, surviving remounts, bounded in bytes.

Layout under the cache directory (mode 0700; files 0600, readable by the owner
only, since they hold bucket data)::

    <h[:2]>/<h>/<e>-<index>      h = sha256(object key), e = sha256(etag)[:32]

The ETag is part of every block's name, so a block of an old version of an
object is never served for a new one: it is simply never asked for again and
is evicted in time (or at once by :meth:`DiskBlockCache.discard`). There is no
separate database: the cache rebuilds its index from the files at start, and
keeps least-recently-used order by file mtime (touched on every hit).

Every file starts with a 24-byte header: the magic ``b"OFSB"``, a format
version byte, three zero bytes, the data length (u64 little-endian) and the
XXH3-64 of the block's identity (key, ETag, index) followed by its data. A
block is written to a temporary name, then renamed, so a crash never leaves a
half block under a real name; a file whose header, length or checksum does
not match (truncated, corrupted, or from another key after a hash collision)
is a miss and is removed.

A failing disk must not fail reads: the first ``OSError`` on a write or read
(ENOSPC, EIO, EROFS, ...) logs one warning and turns the cache off
(:attr:`DiskBlockCache.disabled`); reads then go to S3.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import shutil
import struct
import threading
import uuid
from collections import OrderedDict
from pathlib import Path
from typing import Final

from blobcodec.checksum import Xxh3_64
from objectfs.cache.memory import Block, BlockKey

__all__ = ["DiskBlockCache"]

_logger = logging.getLogger(__name__)

_MAGIC: Final = b"OFSB"
_VERSION: Final = 1
_HEADER: Final = struct.Struct("<4sB3xQQ")
"""magic, version, (pad), data length, XXH3-64 of identity + data."""
_TEMP_PREFIX: Final = ".tmp-"
_TRASH_PREFIX: Final = ".trash-"


def _object_dir_name(object_key: str) -> str:
    return hashlib.sha256(object_key.encode("utf-8", "surrogateescape")).hexdigest()


def _block_name(etag: str, index: int) -> str:
    return f"{hashlib.sha256(etag.encode('utf-8', 'surrogateescape')).hexdigest()[:32]}-{index}"


def _checksum(key: BlockKey, data: Block) -> int:
    object_key, etag, index = key
    hasher = Xxh3_64(f"{object_key}\0{etag}\0{index}\0".encode("utf-8", "surrogateescape"))
    hasher.update(data)
    return hasher.intdigest()


def _header(key: BlockKey, data: Block) -> bytes:
    return _HEADER.pack(_MAGIC, _VERSION, len(data), _checksum(key, data))


def _decode(key: BlockKey, header: bytes, data: bytes) -> bytes | None:
    """The block's data, or ``None`` if ``header`` and ``data`` are not a whole, intact block
    of ``key``."""
    if len(header) < _HEADER.size:
        return None
    magic, version, length, checksum = _HEADER.unpack(header)
    if magic != _MAGIC or version != _VERSION or length != len(data):
        return None
    if _checksum(key, data) != checksum:
        return None
    return data


class DiskBlockCache:
    """Blocks in files under ``directory``, at most ``capacity`` bytes of files (headers included).

    :meth:`get` and :meth:`put` do their file I/O in a worker thread; the
    index is changed only on the caller's event loop. A block larger than
    ``capacity`` is not cached.
    """

    def __init__(self, directory: Path, capacity: int) -> None:
        if capacity < 0:
            raise ValueError(f"capacity must be >= 0 bytes, got {capacity}")
        self.directory = Path(directory)
        self.capacity = capacity
        self.size = 0
        self.disabled = False
        self._index: OrderedDict[Path, int] = OrderedDict()
        """Block file -> its size in bytes, least recently used first."""
        self._by_object: dict[str, set[Path]] = {}
        self._writing: set[Path] = set()
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        self._rebuild()

    def __len__(self) -> int:
        return len(self._index)

    def _path(self, key: BlockKey) -> Path:
        name = _object_dir_name(key[0])
        return self.directory.joinpath(name[:2], name, _block_name(key[1], key[2]))

    # -- start: the index from the files ---------------------------------------------------

    def _rebuild(self) -> None:
        """Index the block files present, oldest mtime first; remove debris of crashes."""
        found: list[tuple[float, Path, int]] = []
        for entry in self.directory.iterdir():
            if entry.name.startswith(_TRASH_PREFIX):
                shutil.rmtree(entry, ignore_errors=True)
                continue
            if not entry.is_dir() or entry.is_symlink():
                continue
            for object_dir in entry.iterdir():
                if not object_dir.is_dir() or object_dir.is_symlink():
                    continue
                for block in object_dir.iterdir():
                    if block.name.startswith(_TEMP_PREFIX):
                        block.unlink(missing_ok=True)
                        continue
                    info = block.lstat()
                    found.append((info.st_mtime, block, info.st_size))
        for _, block, size in sorted(found):
            self._add(block, size)
        self._unlink(self._evict(0))
        _logger.debug("disk cache %s: %d blocks, %d bytes", self.directory, len(self), self.size)

    # -- the index -------------------------------------------------------------------------

    def _add(self, path: Path, size: int) -> None:
        self._index[path] = size
        self._by_object.setdefault(path.parent.name, set()).add(path)
        self.size += size

    def _forget(self, path: Path) -> bool:
        size = self._index.pop(path, None)
        if size is None:
            return False
        self.size -= size
        paths = self._by_object[path.parent.name]
        paths.discard(path)
        if not paths:
            del self._by_object[path.parent.name]
        return True

    def _evict(self, incoming: int) -> list[Path]:
        """Take least recently used blocks out of the index until ``incoming`` more bytes fit."""
        victims: list[Path] = []
        while self._index and self.size + incoming > self.capacity:
            oldest = next(iter(self._index))
            self._forget(oldest)
            victims.append(oldest)
        return victims

    @staticmethod
    def _unlink(paths: list[Path]) -> None:
        for path in paths:
            path.unlink(missing_ok=True)

    def _disable(self, action: str, error: OSError) -> None:
        if not self.disabled:
            self.disabled = True
            _logger.warning(
                "disk cache %s disabled after a failed %s (%s); reads go on uncached",
                self.directory,
                action,
                error.strerror or error,
            )

    # -- reads and writes ------------------------------------------------------------------

    def holds(self, key: BlockKey) -> bool:
        """Whether the index lists the block (no file I/O: :meth:`get` may still miss)."""
        path = self._path(key)
        return not self.disabled and path in self._index and path not in self._writing

    async def get(self, key: BlockKey) -> bytes | None:
        """The cached block, or ``None`` (not cached, damaged, or the cache is disabled)."""
        path = self._path(key)
        if self.disabled or path not in self._index or path in self._writing:
            return None
        self._index.move_to_end(path)
        try:
            stored = await asyncio.to_thread(self._read_file, path)
        except OSError as exc:
            self._disable("read", exc)
            return None
        data = None if stored is None else _decode(key, *stored)
        if data is None and path not in self._writing and self._forget(path):
            _logger.warning("disk cache: dropping damaged or missing block file %s", path)
            await asyncio.to_thread(path.unlink, missing_ok=True)
        return data

    @staticmethod
    def _read_file(path: Path) -> tuple[bytes, bytes] | None:
        """The file's header and data, read apart: slicing the data out of one read of the
        whole file copied every block once more: 256 MiB read from L2 on ``lan``, five A/B
        remounts, 2.04-2.32 -> 1.36-2.00 daemon CPU s/GiB."""
        try:
            with open(path, "rb", buffering=0) as file:
                header = file.read(_HEADER.size)
                data = file.readall()
        except FileNotFoundError:
            return None
        os.utime(path)
        return header, data

    async def put(self, key: BlockKey, data: Block) -> None:
        """Store the block (replacing an older copy); never raises for disk errors."""
        path = self._path(key)
        if self.disabled or path in self._writing:
            return
        stored = _HEADER.size + len(data)
        self._forget(path)
        if stored > self.capacity:
            return
        victims = self._evict(stored)
        self._add(path, stored)
        self._writing.add(path)
        try:
            await asyncio.to_thread(self._write_file, path, key, data, victims)
        except FileNotFoundError:
            # discard() moved the object's directory away while we wrote into it.
            self._forget(path)
        except OSError as exc:
            self._forget(path)
            self._disable("write", exc)
        finally:
            self._writing.discard(path)
        if path not in self._index:
            # Discarded while being written: the file must not outlive its index entry.
            await asyncio.to_thread(path.unlink, missing_ok=True)

    @staticmethod
    def _write_file(path: Path, key: BlockKey, data: Block, victims: list[Path]) -> None:
        """Checksum and write the block in the worker thread: off the event loop, no copy."""
        DiskBlockCache._unlink(victims)
        path.parent.parent.mkdir(mode=0o700, exist_ok=True)
        path.parent.mkdir(mode=0o700, exist_ok=True)
        temp = path.with_name(f"{_TEMP_PREFIX}{uuid.uuid4().hex}")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(_header(key, data))
                file.write(data)
            os.replace(temp, path)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise

    def discard(self, object_key: str) -> None:
        """Drop every block of ``object_key`` (any ETag) now; the files go in the background."""
        name = _object_dir_name(object_key)
        for path in self._by_object.pop(name, set()):
            self.size -= self._index.pop(path)
        object_dir = self.directory / name[:2] / name
        trash = self.directory / f"{_TRASH_PREFIX}{uuid.uuid4().hex}"
        try:
            object_dir.rename(trash)
        except FileNotFoundError:
            return
        except OSError as exc:
            _logger.warning("disk cache: could not remove %s: %s", object_dir, exc)
            return
        threading.Thread(
            target=shutil.rmtree, args=(trash,), kwargs={"ignore_errors": True}, daemon=True
        ).start()
