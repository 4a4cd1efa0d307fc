"""Safe extraction: which members may be written under DEST, and writing them there.

A member is refused (:class:`HostileMemberError`, before anything is written)
when its path is absolute or has a ``..`` segment, when it lies under a path
the archive stores as a symlink, when it is a device, fifo or other special
file, when a hard link's target is not an earlier regular file of the same
archive, or when a symlink's target resolves outside DEST. Symlink targets
are resolved as the kernel would (POSIX.1-2017, "Pathname Resolution"): the
symlinks the restore creates and those already under DEST are followed, and a
``..`` above DEST, an absolute target or more than :data:`MAX_SYMLINK_HOPS`
hops is outside.

Writing never follows a symlink: every directory on a member's path is opened
with ``O_NOFOLLOW | O_DIRECTORY`` relative to its parent's descriptor, so a
symlink planted in DEST (or by a crafted tar) cannot redirect a write. A file
is written under a temporary name in its directory, its SHA-256 compared with
the inventory's, and only then linked (or, with ``overwrite``, renamed) to its
real name: a damaged file never appears under its real name, and without
``overwrite`` an existing name is never replaced (``link`` fails with EEXIST).
Files are not fsynced, as tar does not: the archive stays in the store and
the checksum, not the disk cache, is what proves the restored bytes.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
import tarfile
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

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
    "MAX_SYMLINK_HOPS",
    "Extractor",
    "PendingFile",
    "check_entries",
    "find_conflicts",
    "hostile",
    "member_parts",
    "member_problem",
    "normal_path",
    "tar_member_kind",
]

MAX_SYMLINK_HOPS = 40
"""Symlinks followed while resolving one target before it counts as a loop (Linux's limit)."""
DIR_CACHE_SIZE = 64
"""Directory descriptors an :class:`Extractor` keeps open between entries."""

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


_TAR_KINDS: dict[bytes, str] = {
    tarfile.REGTYPE: "file",
    tarfile.AREGTYPE: "file",
    tarfile.CONTTYPE: "file",
    tarfile.GNUTYPE_SPARSE: "file",
    tarfile.LNKTYPE: "hardlink",
    tarfile.SYMTYPE: "symlink",
    tarfile.DIRTYPE: "directory",
    tarfile.CHRTYPE: "chardev",
    tarfile.BLKTYPE: "blockdev",
    tarfile.FIFOTYPE: "fifo",
}


def tar_member_kind(member: tarfile.TarInfo) -> str:
    """The member's type in :class:`blobcodec.index.MemberType`'s words (``"file"``, ``"fifo"``..),
    or ``"type <flag>"`` for a typeflag outside POSIX ustar."""
    return _TAR_KINDS.get(member.type, f"type {member.type!r}")


def member_problem(
    path: str, kind: str, size: int, link: str, expected: Mapping[str, InventoryEntry]
) -> str | None:
    """Why an archive member (from the tar stream or the index) may not be restored: its
    path or type is unsafe, or it is not the entry ``expected`` (the inventory) lists there."""
    try:
        member_parts(path)
    except ValueError as error:
        return str(error)
    if kind not in tuple(EntryType):
        return f"a {kind} member: only files, directories and links are restored"
    entry = expected.get(path)
    if entry is None:
        return "not in the inventory"
    if entry.type != kind:
        return f"a {kind} in the archive but a {entry.type} in the inventory"
    if kind == EntryType.FILE and size != entry.size:
        return f"{size} bytes in the archive but {entry.size} in the inventory"
    if kind in (EntryType.SYMLINK, EntryType.HARDLINK) and link != entry.link:
        return f"links to {link!r} in the archive but to {entry.link!r} in the inventory"
    return None


def hostile(problems: Mapping[str, str]) -> HostileMemberError:
    """The error refusing ``problems`` (member path -> why), the first few named in its message."""
    listed = "; ".join(f"{path!r} ({why})" for path, why in list(problems.items())[:5])
    more = f" and {len(problems) - 5} more" if len(problems) > 5 else ""
    return HostileMemberError(f"refusing hostile archive members: {listed}{more}", problems)


def _symlink_escapes(
    dest: Path,
    link_dir: tuple[str, ...],
    target: str,
    archive: Mapping[str, InventoryEntry],
) -> bool:
    """Whether ``target``, the target of a symlink in ``link_dir``, resolves outside ``dest``.

    ``archive`` holds the entries the restore creates; elsewhere the
    filesystem under ``dest`` is looked at as it is now.
    """
    if target.startswith("/"):
        return True
    where = list(link_dir)
    todo = list(reversed(target.split("/")))
    hops = 0
    while todo:
        part = todo.pop()
        if part in ("", "."):
            continue
        if part == "..":
            if not where:
                return True
            where.pop()
            continue
        candidate = (*where, part)
        entry = archive.get("/".join(candidate))
        if entry is not None:
            link = entry.link if entry.type is EntryType.SYMLINK else None
        else:
            link = _existing_symlink(dest, candidate)
        if link is None:
            where.append(part)
            continue
        hops += 1
        if hops > MAX_SYMLINK_HOPS or link.startswith("/"):
            return True
        todo.extend(reversed(link.split("/")))
    return False


def _existing_symlink(dest: Path, parts: tuple[str, ...]) -> str | None:
    try:
        return os.readlink(dest.joinpath(*parts))
    except OSError:  # absent, or not a symlink
        return None


def check_entries(
    dest: Path, restored: Sequence[InventoryEntry], everything: Iterable[InventoryEntry]
) -> None:
    """HostileMemberError naming every entry of ``restored`` that could escape ``dest``.

    ``everything`` is the whole inventory: a member under a path it stores as
    a symlink is refused even when that symlink is not restored.
    """
    problems: dict[str, str] = {}
    symlinks: set[str] = set()
    kinds: dict[str, EntryType] = {}
    for entry in everything:
        try:
            key = normal_path(entry.path)
        except ValueError:
            continue  # reported below if it is restored
        if entry.type is EntryType.SYMLINK:
            symlinks.add(key)
        kinds.setdefault(key, entry.type)
    planned: dict[str, InventoryEntry] = {}
    for entry in restored:
        try:
            key = normal_path(entry.path)
            if key in planned:
                raise ValueError("listed twice")
            if not key and entry.type is not EntryType.DIRECTORY:
                raise ValueError("names DEST itself")
            if symlinks and _under(key, symlinks):
                raise ValueError("its path goes through a symlink in the archive")
            if entry.type is EntryType.HARDLINK:
                _check_hardlink(entry, kinds)
        except ValueError as error:
            problems[entry.path] = str(error)
            continue
        planned[key] = entry
    for key, entry in planned.items():
        if entry.type is EntryType.SYMLINK and (
            entry.link is None
            or _symlink_escapes(dest, member_parts(key)[:-1], entry.link, planned)
        ):
            problems[entry.path] = f"symlink to {entry.link!r} resolves outside the destination"
    if problems:
        raise hostile(problems)


def _under(path: str, directories: set[str]) -> bool:
    """Whether a proper ancestor of the normal ``path`` is in ``directories``."""
    end = path.find("/")
    while end >= 0:
        if path[:end] in directories:
            return True
        end = path.find("/", end + 1)
    return False


def _check_hardlink(entry: InventoryEntry, kinds: Mapping[str, EntryType]) -> None:
    if entry.link is None:
        raise ValueError("hard link without a target")
    try:
        target = kinds.get(normal_path(entry.link))
    except ValueError as error:
        raise ValueError(f"hard link to {entry.link!r}: {error}") from None
    if target is not EntryType.FILE:
        raise ValueError(f"hard link to {entry.link!r}, which is not a file in the archive")


def find_conflicts(dest: Path, restored: Sequence[InventoryEntry], *, overwrite: bool) -> None:
    """HostileMemberError for a path that goes through a symlink already under ``dest``; without
    ``overwrite``, DestinationExistsError listing the entries whose names exist there (an
    existing directory is no conflict for a directory entry)."""
    conflicts: list[str] = []
    through: dict[str, str] = {}
    directories: set[tuple[str, ...]] = {()}
    absent: set[tuple[str, ...]] = set()  # nothing under these exists, so no lstat
    for entry in restored:
        parts = member_parts(entry.path)
        for depth in range(1, len(parts) + 1):
            prefix = parts[:depth]
            if prefix in directories:
                continue
            if prefix in absent:
                break
            try:
                found = os.lstat(os.path.join(dest, *prefix)).st_mode
            except FileNotFoundError:
                absent.add(prefix)
                break
            last = depth == len(parts)
            if stat.S_ISDIR(found):
                directories.add(prefix)
                if last and entry.type is not EntryType.DIRECTORY:
                    conflicts.append(entry.path)
            elif stat.S_ISLNK(found) and not last:
                through[entry.path] = f"its path goes through the symlink {'/'.join(prefix)!r}"
                break
            else:
                conflicts.append(entry.path)
                break
    if through:
        listed = "; ".join(f"{path!r} ({why})" for path, why in list(through.items())[:5])
        raise HostileMemberError(f"refusing to write through symlinks in DEST: {listed}", through)
    if conflicts and not overwrite:
        raise DestinationExistsError(conflicts, "pass --overwrite to replace them")


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
        """Append ``data``; an OSError (ENOSPC) removes the temporary file."""
        assert self._fd is not None
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError as error:
            self.discard()
            raise _os_error(self._entry.path, error) from error
        self._hash.update(data)
        self._size += len(data)

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

    Directories get their mode and mtime in :meth:`finish`, deepest first, so
    writing their contents does not undo the mtime and a read-only mode does
    not block it. Counters: :attr:`entries`, :attr:`verified`, :attr:`bytes_written`.
    Use it from one thread at a time.
    """

    def __init__(self, dest: Path, *, overwrite: bool) -> None:
        self.dest = dest
        self.overwrite = overwrite
        self.entries = 0
        """Entries created other than directories."""
        self.verified = 0
        """Regular files whose SHA-256 was checked before they took their name."""
        self.bytes_written = 0
        self._directories: list[InventoryEntry] = []
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
        self._directories.append(entry)

    def finish(self) -> None:
        """Set every restored directory's mode and mtime, deepest first."""
        for entry in sorted(self._directories, key=lambda e: -len(member_parts(e.path))):
            fd = self._open_dir(entry.path, member_parts(entry.path))
            try:
                os.fchmod(fd, entry.mode & 0o7777)
                os.utime(fd, ns=(entry.mtime_ns, entry.mtime_ns))
            except OSError as error:
                raise _os_error(entry.path, error) from error
            finally:
                os.close(fd)
        self._directories.clear()
