"""Safe extraction: which members may be written under DEST, and writing them there.

A tar or index member is refused (:func:`member_problem`, then
:class:`HostileMemberError`) when its path is absolute or has a ``..``
segment, when it is a device, fifo or other special file, or when it is not
the entry the inventory lists at its path; the inventory's own entries are
checked before anything is written by :mod:`cargoship.precheck`.

Writing never follows a symlink: every directory on a member's path is opened
with ``O_NOFOLLOW | O_DIRECTORY`` relative to its parent's descriptor, so a
symlink planted in DEST (or by a crafted tar) cannot redirect a write. A file
is written under a temporary name in its directory, its SHA-256 compared with
the inventory's, and only then linked (or, with ``overwrite``, renamed) to its
real name: a damaged file never appears under its real name, and without
``overwrite`` an existing name is never replaced (``link`` fails with EEXIST).
Files are not fsynced, as tar does not: the archive stays in the store and
the checksum, not the disk cache, is what proves the restored bytes.

With ``sparse``, each :data:`HOLE_BLOCK` of a file (aligned to the file's
offsets) that holds only zeros is skipped instead of written, so the file
system leaves a hole there, as ``cp --sparse=always`` does: ``ship`` stores a
sparse file's holes as zeros, and this brings them back as holes.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Final

from blobcodec.checksum import Sha256
from cargoship.errors import (
    CargoshipError,
    DestinationExistsError,
    HostileMemberError,
    IntegrityError,
)
from cargoship.inventory import EntryType, InventoryEntry

__all__ = [
    "DIR_CACHE_SIZE",
    "HOLE_BLOCK",
    "Extractor",
    "PendingFile",
    "hostile",
    "member_parts",
    "member_problem",
    "normal_path",
]

DIR_CACHE_SIZE = 64
"""Directory descriptors an :class:`Extractor` keeps open between entries."""

HOLE_BLOCK: Final = 4096
"""Bytes of zeros a sparse restore leaves as a hole: a common file-system block."""
_ZERO_BLOCK: Final = bytes(HOLE_BLOCK)

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def member_parts(path: str) -> tuple[str, ...]:
    """The segments of an archive path; ValueError naming why it could escape DEST.

    Empty and ``.`` segments are dropped (``./a//b`` is ``a/b``); ``""`` and ``.``
    name DEST itself.
    """
    if "\x00" in path:
        raise ValueError("NUL in its name")
    if path.startswith("/"):
        raise ValueError("absolute path")
    parts = path.split("/")
    if "" in parts or "." in parts:
        parts = [part for part in parts if part not in ("", ".")]
    if ".." in parts:
        raise ValueError("'..' in its path")
    return tuple(parts)


def normal_path(path: str) -> str:
    """``path`` as :func:`member_parts` joined by ``/`` (``path`` itself when already so);
    ValueError as :func:`member_parts` raises it."""
    if (
        path
        and path[0] != "/"
        and path[-1] != "/"
        and "//" not in path
        and "\x00" not in path
        and path[0] != "."
        and "/." not in path
    ):
        return path  # no empty, "." or ".." segment
    return "/".join(member_parts(path))


_RESTORED_KINDS = frozenset(EntryType)


def member_problem(
    path: str, kind: str, size: int, link: str, entry: InventoryEntry | None
) -> str | None:
    """Why an archive member (from the tar stream or the index) may not be restored: its
    path or type is unsafe, or it is not ``entry``, what the inventory lists at its path."""
    try:
        member_parts(path)
    except ValueError as error:
        return str(error)
    if kind not in _RESTORED_KINDS:
        return f"a {kind} member: only files, directories and links are restored"
    if entry is None:
        return "not in the inventory"
    if entry.type != kind:
        return f"a {kind} in the archive but a {entry.type} in the inventory"
    if kind == EntryType.FILE and size != entry.size:
        return f"{size} bytes in the archive but {entry.size} in the inventory"
    if kind in (EntryType.SYMLINK, EntryType.HARDLINK) and link != entry.link:
        return f"links to {link!r} in the archive but to {entry.link!r} in the inventory"
    return None


def data_runs(data: bytes, offset: int) -> Iterator[tuple[int, int]]:
    """``(start, end)`` in ``data``, which lies at ``offset`` in its file, of the runs of
    :data:`HOLE_BLOCK`-aligned blocks that hold a byte other than zero (blocks cut by the
    ends of ``data`` count as whole ones)."""
    size = len(data)
    if data == bytes(size):
        return
    run: int | None = None
    start = 0
    while start < size:
        end = min(size, start + HOLE_BLOCK - (offset + start) % HOLE_BLOCK)
        if data[start:end] == _ZERO_BLOCK[: end - start]:
            if run is not None:
                yield run, start
                run = None
        elif run is None:
            run = start
        start = end
    if run is not None:
        yield run, size


def hostile(problems: Mapping[str, str], *, hint: str = "") -> HostileMemberError:
    """The error refusing ``problems`` (member path -> why), the first few named in its
    message, then ``hint`` if any."""
    listed = "; ".join(f"{path!r} ({why})" for path, why in list(problems.items())[:5])
    more = f" and {len(problems) - 5} more" if len(problems) > 5 else ""
    after = f" ({hint})" if hint else ""
    return HostileMemberError(f"refusing hostile archive members: {listed}{more}{after}", problems)


def _os_error(path: str, error: OSError) -> CargoshipError:
    """The one-line error for a failed write of ``path`` (ENOSPC and the like)."""
    return CargoshipError(f"cannot restore {path!r}: {error.strerror or error}")


class PendingFile:
    """A regular file being written under a temporary name; :meth:`commit` checks and places it."""

    def __init__(self, extractor: Extractor, entry: InventoryEntry, parent: int, name: str) -> None:
        self._extractor = extractor
        self._entry = entry
        self._parent = parent
        self._name = name
        self._temp = f".cargoship-{secrets.token_hex(6)}.part"
        self._hash = Sha256()
        self._size = 0
        self._fd: int | None = os.open(self._temp, _FILE_FLAGS, 0o600, dir_fd=parent)

    def write(self, data: bytes) -> None:
        """Append ``data`` (skipping blocks of zeros when sparse); an OSError (ENOSPC)
        removes the temporary file."""
        assert self._fd is not None
        runs = data_runs(data, self._size) if self._extractor.sparse else ((0, len(data)),)
        view = memoryview(data)
        try:
            for start, end in runs:
                self._write_at(view[start:end], self._size + start)
        except OSError as error:
            self.discard()
            raise _os_error(self._entry.path, error) from error
        self._hash.update(data)
        self._size += len(data)
        if self._extractor.on_written is not None:
            self._extractor.on_written(len(data))

    def _write_at(self, view: memoryview, offset: int) -> None:
        """All of ``view`` at ``offset`` (``pwrite`` may write less at once)."""
        assert self._fd is not None
        while view:
            written = os.pwrite(self._fd, view, offset)
            view, offset = view[written:], offset + written

    def commit(self) -> None:
        """Check size and SHA-256 against the inventory, set mode and mtime, take the real name."""
        entry = self._entry
        assert self._fd is not None
        digest = self._hash.tag()
        if self._size != entry.size or digest != entry.checksum:
            self.discard()
            problem = (
                f"{entry.path}: restored {self._size} bytes with {digest}, "
                f"the inventory records {entry.size} bytes with {entry.checksum}"
            )
            raise IntegrityError(f"checksum mismatch: {problem}", (problem,))
        try:
            if self._extractor.sparse:
                os.ftruncate(self._fd, self._size)  # the length, when the file ends in a hole
            os.fchmod(self._fd, entry.mode & 0o7777)
            os.utime(self._fd, ns=(entry.mtime_ns, entry.mtime_ns))
            os.close(self._fd)
            self._fd = None
            self._extractor.place(entry.path, self._parent, self._temp, self._name)
        except BaseException:
            self.discard()
            raise
        self._extractor.verified += 1
        self._extractor.bytes_written += self._size
        os.close(self._parent)

    def discard(self) -> None:
        """Close and remove the temporary file (idempotent)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._parent >= 0:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._temp, dir_fd=self._parent)
            os.close(self._parent)
            self._parent = -1


class Extractor:
    """Creates checked entries under ``dest`` without following any symlink on the way.

    Directories get their mode and mtime in :meth:`finish`, after everything
    else, so writing their contents does not undo the mtime and a read-only
    mode does not block it. Counters: :attr:`entries`, :attr:`verified`, :attr:`bytes_written`.
    Use it from one thread at a time.
    """

    def __init__(
        self,
        dest: Path,
        *,
        overwrite: bool,
        sparse: bool = False,
        on_written: Callable[[int], None] | None = None,
    ) -> None:
        self.dest = dest
        self.overwrite = overwrite
        self.sparse = sparse
        """Leave blocks of zeros in files as holes."""
        self.on_written = on_written
        """Called with the size of each piece of a file written (a progress bar)."""
        self.entries = 0
        """Entries created other than directories."""
        self.verified = 0
        """Regular files whose SHA-256 was checked before they took their name."""
        self.bytes_written = 0
        self._dir_cache: OrderedDict[tuple[str, ...], int] = OrderedDict()
        try:
            dest.mkdir(parents=True, exist_ok=True)
            self._root = os.open(dest, _DIR_FLAGS & ~os.O_NOFOLLOW)
        except OSError as error:
            raise _os_error(str(dest), error) from error

    def close(self) -> None:
        """Release the destination's descriptor and the directories kept open."""
        while self._dir_cache:
            os.close(self._dir_cache.popitem()[1])
        if self._root >= 0:
            os.close(self._root)
            self._root = -1

    def _open_dir(self, path: str, parts: tuple[str, ...]) -> int:
        """A new descriptor of the directory ``parts`` under DEST, created as needed, no symlinks.

        Each directory is opened ``O_NOFOLLOW`` relative to its parent's descriptor. The
        last :data:`DIR_CACHE_SIZE` directories opened stay open, so a file next to the one
        before it costs one ``dup`` instead of an ``open`` per path segment.
        """
        cached = self._dir_cache.get(parts)
        if cached is not None:
            self._dir_cache.move_to_end(parts)
            return os.dup(cached)
        depth = len(parts)
        while depth and parts[:depth] not in self._dir_cache:
            depth -= 1
        fd = self._dir_cache[parts[:depth]] if depth else self._root
        try:
            for end in range(depth + 1, len(parts) + 1):
                part = parts[end - 1]
                try:
                    child = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    os.mkdir(part, 0o777, dir_fd=fd)
                    child = os.open(part, _DIR_FLAGS, dir_fd=fd)
                fd = child
                self._remember_dir(parts[:end], child)
        except OSError as error:
            if error.errno in (errno.ELOOP, errno.ENOTDIR):
                raise HostileMemberError(
                    f"refusing {path!r}: its path goes through a symlink or a file in DEST",
                    (path,),
                ) from error
            raise _os_error(path, error) from error
        return os.dup(fd)

    def _remember_dir(self, parts: tuple[str, ...], fd: int) -> None:
        """Keep ``fd`` (now owned by the cache) open for ``parts``; close the least recent."""
        self._dir_cache[parts] = fd
        while len(self._dir_cache) > DIR_CACHE_SIZE:
            os.close(self._dir_cache.popitem(last=False)[1])

    def _parent(self, entry: InventoryEntry) -> tuple[int, str]:
        parts = member_parts(entry.path)
        return self._open_dir(entry.path, parts[:-1]), parts[-1]

    def place(self, path: str, parent: int, temp: str, name: str) -> None:
        """Give the finished ``temp`` in ``parent`` its real ``name``: a rename with
        ``overwrite``, else a link that fails on an existing name."""
        try:
            if self.overwrite:
                os.rename(temp, name, src_dir_fd=parent, dst_dir_fd=parent)
            else:
                try:
                    os.link(temp, name, src_dir_fd=parent, dst_dir_fd=parent, follow_symlinks=False)
                finally:
                    os.unlink(temp, dir_fd=parent)
        except FileExistsError:
            raise DestinationExistsError((path,), "pass --overwrite to replace it") from None
        except OSError as error:
            raise _os_error(path, error) from error
        self.entries += 1

    def open_file(self, entry: InventoryEntry) -> PendingFile:
        """Start writing the regular file ``entry`` (or a hard link's copy of its bytes)."""
        parent, name = self._parent(entry)
        try:
            return PendingFile(self, entry, parent, name)
        except OSError as error:
            os.close(parent)
            raise _os_error(entry.path, error) from error

    def write_file(self, entry: InventoryEntry, chunks: Iterable[bytes]) -> None:
        """Write, check and place ``entry`` from ``chunks`` (blocking)."""
        pending = self.open_file(entry)
        try:
            for chunk in chunks:
                pending.write(chunk)
        except BaseException:
            pending.discard()
            raise
        pending.commit()

    def hardlink(self, entry: InventoryEntry, target: InventoryEntry) -> None:
        """Make ``entry`` a hard link to ``target``, restored earlier by this extractor."""
        source_dir, source_name = self._parent(target)
        parent, name = self._parent(entry)
        temp = f".cargoship-{secrets.token_hex(6)}.part"
        try:
            os.link(
                source_name,
                temp,
                src_dir_fd=source_dir,
                dst_dir_fd=parent,
                follow_symlinks=False,
            )
            self.place(entry.path, parent, temp, name)
        except OSError as error:
            raise _os_error(entry.path, error) from error
        finally:
            os.close(source_dir)
            os.close(parent)

    def symlink(self, entry: InventoryEntry) -> None:
        """Create the symlink ``entry`` (its own mtime set, the target never touched)."""
        assert entry.link is not None
        parent, name = self._parent(entry)
        temp = f".cargoship-{secrets.token_hex(6)}.part"
        try:
            os.symlink(entry.link, temp, dir_fd=parent)
            ns = (entry.mtime_ns, entry.mtime_ns)
            os.utime(temp, ns=ns, dir_fd=parent, follow_symlinks=False)
            self.place(entry.path, parent, temp, name)
        except OSError as error:
            raise _os_error(entry.path, error) from error
        finally:
            os.close(parent)

    def directory(self, entry: InventoryEntry) -> None:
        """Create the directory ``entry`` now; its mode and mtime are set by :meth:`finish`."""
        os.close(self._open_dir(entry.path, member_parts(entry.path)))

    def finish(self, directories: Iterable[InventoryEntry]) -> None:
        """Set the mode and mtime of each of ``directories``, created earlier; pass them
        deepest first, so setting one does not undo a parent's mtime."""
        for entry in directories:
            fd = self._open_dir(entry.path, member_parts(entry.path))
            try:
                os.fchmod(fd, entry.mode & 0o7777)
                os.utime(fd, ns=(entry.mtime_ns, entry.mtime_ns))
            except OSError as error:
                raise _os_error(entry.path, error) from error
            finally:
                os.close(fd)
