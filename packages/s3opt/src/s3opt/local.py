"""A directory as an object store: ``file://`` targets and fast unit tests.

:class:`LocalStore` satisfies :class:`s3opt.ObjectStore` with S3's semantics
(key order, delimiter listings, ETags, ranged reads, idempotent delete), so
code written against the Protocol behaves the same on a laptop directory as on
a bucket. The conformance suite (tests/test_conformance.py) holds it and
:class:`s3opt.S3Store` to one contract.

On-disk layout, chosen so a plain ``ls`` shows the objects:

* A key is split on ``/``; every segment but the last is a directory, the last
  is a regular file holding the object's bytes exactly. ``%`` in a segment is
  written ``%25`` and an empty segment (``"a//b"``, ``"dir/"``) ``%00``, so
  names the store reserves for itself (they all contain ``%`` followed by a
  lowercase letter) can never collide with a key.
* S3 allows an object ``a`` next to ``a/b``; a file system does not. Such an
  object is kept inside the directory as ``a/.%self`` (it is moved there, by
  renames, when ``a/...`` keys arrive; ``a.%mig`` names the directory while
  the move is under way, and lookups check it so a crash loses nothing).
* Metadata lives in a sidecar ``<dir>/.%meta/<name>.json``: size, ETag (MD5
  hex), ``sha256``, user metadata, storage class, tags and the data file's identity
  (inode, size, mtime). Tags are only kept (:meth:`LocalStore.object_tags` reads
  them back): a directory has no lifecycle rules to act on them. A sidecar
  whose identity does not match the file (a crash between the two renames, or
  a file copied in by hand) is ignored: the ETag is then computed from the
  bytes and the metadata is empty.
* Writes are atomic: the bytes go to ``.%tmp-*`` in the destination
  directory, are fsync'd, then renamed over the target, and the directory is
  fsync'd. A reader never sees a half-written object; a crash leaves at most a
  ``.%tmp-*`` file, which listings ignore.

Keys that could leave the root are refused with :class:`InvalidKeyError`: an
empty key, a leading ``/``, a ``.`` or ``..`` segment, NUL, text that is not
valid UTF-8, or more than 1024 UTF-8 bytes (S3's limit). Symbolic links under
the root are never followed. One process should own a root: the store
serialises its own renames with a lock, and concurrent writers in other
processes are safe only in that each object they write is atomic.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Final, TypeVar

from s3opt._localfs import (
    Hasher,
    Sidecar,
    children,
    data_path,
    find_dir,
    read_sidecar,
    remove_object,
    walk,
)
from s3opt._localwrite import PendingWrite
from s3opt.errors import InvalidKeyError as InvalidKeyError
from s3opt.errors import InvalidMetadataError as InvalidMetadataError
from s3opt.errors import NoSuchKeyError, ObjectChangedError, SourceChangedError
from s3opt.protocols import (
    CommonPrefix,
    ObjectInfo,
    SealHook,
    Source,
    check_key,
    check_storage_class,
    check_tags,
)

__all__ = ["InvalidKeyError", "InvalidMetadataError", "LocalStore"]

_logger = logging.getLogger(__name__)

_T = TypeVar("_T")

CHUNK_SIZE: Final = 1024 * 1024
"""Bytes read or written per step: the store's memory bound per transfer."""
PAGE_SIZE: Final = 1000
"""Objects produced per step of a listing (as S3's pages)."""

_PendingWrite = PendingWrite
"""The write in progress (named here so tests can patch it)."""


async def _in_thread(
    fn: Callable[..., _T], *args: Any, release: Callable[[_T], object] | None = None
) -> _T:
    """Run blocking file work in a thread; if cancelled, let the thread finish first.

    Waiting keeps a cancelled transfer from closing or unlinking a file while
    its thread still writes to it. What the thread returned then goes to
    ``release`` (a file it opened is closed, a temporary file removed), as
    nobody else will have it.
    """
    future = asyncio.ensure_future(asyncio.to_thread(fn, *args))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        with contextlib.suppress(BaseException):
            result = await future
            if release is not None:
                release(result)
        raise


def _close_first(opened: tuple[Any, ...]) -> None:
    """Close the file an ``_open`` left first in its result."""
    opened[0].close()


def _close(file: Any) -> None:
    file.close()


class LocalStore:
    """An :class:`s3opt.ObjectStore` over the directory ``root``; keys are under ``prefix``.

    ``fsync=False`` skips the fsync calls (faster tests; a power cut may then
    lose recent writes, though never leave a partial object in place).
    """

    def __init__(
        self, root: str | os.PathLike[str], prefix: str = "", *, fsync: bool = True
    ) -> None:
        self._root = Path(root).absolute()
        self._prefix = ""
        if prefix:
            self._check_key(prefix.rstrip("/") or prefix, what="prefix")
            prefix = prefix if prefix.endswith("/") else prefix + "/"
        self._prefix = prefix
        self._fsync = fsync
        self._lock = threading.Lock()

    @property
    def root(self) -> Path:
        """The directory holding the objects."""
        return self._root

    @property
    def prefix(self) -> str:
        """The key prefix every key of this store is relative to (``""`` or ends in ``/``)."""
        return self._prefix

    def __repr__(self) -> str:
        return f"LocalStore({str(self._root)!r}, prefix={self._prefix!r})"

    def __str__(self) -> str:
        """The store's URL, ``file:///root/prefix``: how messages name it."""
        return self._root.as_uri() + ("/" + self._prefix if self._prefix else "")

    async def __aenter__(self) -> LocalStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None

    # -- keys and paths ---------------------------------------------------------------------

    def _check_key(self, key: str, *, what: str = "key") -> str:
        check_key(key, where=str(self), what=what)
        problem = None
        if key.startswith("/"):
            problem = "starts with '/' (absolute)"
        elif "\x00" in key:
            problem = "contains NUL"
        elif any(part in (".", "..") for part in key.split("/")):
            problem = "has a '.' or '..' segment"
        if problem:
            raise InvalidKeyError(f"{what} {key!r} {problem}: refused by {self}", key=key)
        return key

    def _full(self, key: str) -> str:
        return self._check_key(self._prefix + self._check_key(key))

    def _relative(self, full_key: str) -> str:
        return full_key[len(self._prefix) :]

    def _missing(self, key: str) -> NoSuchKeyError:
        return NoSuchKeyError(f"no such key {key!r} in {self}", key=key, code="NoSuchKey")

    # -- reading ----------------------------------------------------------------------------

    def _object_info(
        self, full_key: str, st: os.stat_result, sidecar: Sidecar, *, with_metadata: bool
    ) -> ObjectInfo:
        return ObjectInfo(
            key=self._relative(full_key),
            size=st.st_size,
            etag=sidecar.etag,
            last_modified=datetime.fromtimestamp(st.st_mtime_ns / 1e9, UTC),
            storage_class=sidecar.storage_class,
            metadata=sidecar.metadata if with_metadata else {},
            checksum=f"sha256:{sidecar.sha256}",
        )

    def _info(self, full_key: str, path: Path, *, with_metadata: bool) -> ObjectInfo:
        st = os.lstat(path)
        sidecar = read_sidecar(path, full_key, st)
        if sidecar is None:
            with open(path, "rb") as src:
                sidecar = _hashed(src)
        return self._object_info(full_key, st, sidecar, with_metadata=with_metadata)

    def _sidecar_of_open(self, src: BinaryIO, full_key: str) -> Sidecar:
        """The record of the open file ``src``: its sidecar if that matches it, else hashed
        from its bytes (with no metadata)."""
        path = data_path(self._root, full_key)
        sidecar = None
        if path is not None:
            sidecar = read_sidecar(path, full_key, os.fstat(src.fileno()))
        return sidecar if sidecar is not None else _hashed(src)

    def _open(self, key: str) -> tuple[Any, str]:
        full_key = self._full(key)
        path = data_path(self._root, full_key)
        if path is None:
            raise self._missing(key)
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError:
            raise self._missing(key) from None
        return os.fdopen(fd, "rb"), full_key

    def _open_with_sidecar(self, key: str) -> tuple[Any, Sidecar]:
        src, full_key = self._open(key)
        try:
            return src, self._sidecar_of_open(src, full_key)
        except BaseException:
            src.close()
            raise

    def _head_sync(self, key: str) -> ObjectInfo:
        full_key = self._full(key)
        path = data_path(self._root, full_key)
        if path is None:
            raise self._missing(key)
        try:
            return self._info(full_key, path, with_metadata=True)
        except FileNotFoundError:
            raise self._missing(key) from None

    async def head(self, key: str) -> ObjectInfo:
        """Size, ETag, checksum and metadata of ``key``; :class:`NoSuchKeyError` if absent."""
        return await _in_thread(self._head_sync, key)

    def _range_sync(self, key: str, offset: int, size: int, if_match: str | None) -> bytes:
        src, full_key = self._open(key)
        with src:
            if if_match is not None:
                etag = self._sidecar_of_open(src, full_key).etag
                if etag != if_match.strip('"'):
                    raise ObjectChangedError(
                        f"get_range {key!r} in {self}: the object changed (ETag {etag!r}, "
                        f"not {if_match!r})",
                        key=key,
                        code="PreconditionFailed",
                    )
            length = os.fstat(src.fileno()).st_size
            src.seek(offset)
            data: bytes = src.read(max(0, min(size, length - offset)))
            return data

    async def get_range(
        self, key: str, offset: int, size: int, *, if_match: str | None = None
    ) -> bytes:
        """``size`` bytes from ``offset``: fewer at the end, ``b""`` from the end on.

        Like :meth:`s3opt.S3Store.get_range` (and ``pread``): a range past the
        end is empty rather than S3's 416 InvalidRange; a missing key is still
        :class:`NoSuchKeyError`. With ``if_match`` the bytes come from the open file
        only if its ETag is that one, else :class:`ObjectChangedError` (S3's 412).
        """
        if offset < 0 or size < 0:
            raise ValueError(f"offset and size must be >= 0, got offset={offset} size={size}")
        return await _in_thread(self._range_sync, key, offset, size, if_match)

    async def get(self, key: str) -> AsyncIterator[bytes]:
        """The whole object in chunks of up to 1 MiB, read from one open file (one version)."""
        src, _ = await _in_thread(self._open, key, release=_close_first)
        try:
            while chunk := await _in_thread(src.read, CHUNK_SIZE):
                yield chunk
        finally:
            src.close()

    # -- writing ----------------------------------------------------------------------------

    def _check_metadata(self, key: str, metadata: Mapping[str, str] | None) -> dict[str, str]:
        checked: dict[str, str] = {}
        for name, value in (metadata or {}).items():
            if not (isinstance(name, str) and isinstance(value, str)):
                raise InvalidMetadataError(
                    f"metadata of {key!r} must map str to str, got {name!r}: {value!r}", key=key
                )
            if not name or not (name.isascii() and name.isprintable()) or not value.isascii():
                raise InvalidMetadataError(
                    f"metadata {name!r} of {key!r}: S3 allows only non-empty ASCII names and "
                    "ASCII values",
                    key=key,
                )
            checked[name.lower()] = value  # S3 lowercases metadata names.
        return checked

    async def _store(
        self,
        key: str,
        chunks: AsyncIterator[bytes],
        metadata: Mapping[str, str] | None,
        storage_class: str | None,
        tags: Mapping[str, str] | None,
        on_sealed: SealHook | None = None,
    ) -> ObjectInfo:
        full_key = self._full(key)
        checked = self._check_metadata(key, metadata)
        kept_class = "STANDARD" if storage_class is None else check_storage_class(storage_class)
        kept_tags = {} if tags is None else check_tags(tags, key=key)
        pending = await _in_thread(
            _PendingWrite,
            self._root,
            self._lock,
            full_key,
            self._fsync,
            release=_PendingWrite.abort,
        )
        try:
            async for chunk in chunks:
                await _in_thread(pending.write, chunk)
            if on_sealed is not None:
                await on_sealed(
                    ObjectInfo(
                        key=key,
                        size=pending.size,
                        etag=pending.hasher.md5.hexdigest(),
                        storage_class=kept_class,
                        metadata=checked,
                        checksum=f"sha256:{pending.hasher.sha256.hexdigest()}",
                    )
                )
            st, sidecar = await _in_thread(pending.commit, checked, kept_class, kept_tags)
        except BaseException:
            await _in_thread(pending.abort)
            raise
        return self._object_info(full_key, st, sidecar, with_metadata=True)

    async def put(
        self,
        key: str,
        data: bytes,
        *,
        metadata: Mapping[str, str] | None = None,
        storage_class: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> ObjectInfo:
        """Store ``data`` under ``key`` atomically, replacing any object there.

        ``storage_class`` is only recorded (and reported by :meth:`head`): a
        directory has no tiers, so the bytes stay readable whatever the class.
        ``tags`` are checked as S3 would (:class:`s3opt.errors.InvalidTagsError`) and
        recorded (:meth:`object_tags`); nothing acts on them.
        """
        data = data if isinstance(data, bytes) else bytes(data)
        return await self._store(key, _one(data), metadata, storage_class, tags)

    async def upload(
        self,
        key: str,
        source: Source,
        *,
        metadata: Mapping[str, str] | None = None,
        storage_class: str | None = None,
        tags: Mapping[str, str] | None = None,
        on_sealed: SealHook | None = None,
    ) -> ObjectInfo:
        """Store bytes, a local file, or an async stream of chunks, one chunk in memory at a time.

        A file that changes while it is copied raises :class:`SourceChangedError`
        and stores nothing. ``storage_class`` and ``tags`` are recorded as by :meth:`put`.
        ``on_sealed`` is awaited before the object is renamed into place (see
        :meth:`s3opt.protocols.ObjectStore.upload`); its expected info is the final one.
        """
        if isinstance(source, bytes | bytearray | memoryview):
            return await self._store(
                key, _one(bytes(source)), metadata, storage_class, tags, on_sealed
            )
        if isinstance(source, Path):
            return await self._upload_file(key, source, metadata, storage_class, tags, on_sealed)
        if hasattr(source, "__aiter__"):
            chunks = _checked_chunks(source, key)
            return await self._store(key, chunks, metadata, storage_class, tags, on_sealed)
        raise TypeError(f"upload source must be bytes, a Path or an async iterable, not {source!r}")

    async def _upload_file(
        self,
        key: str,
        path: Path,
        metadata: Mapping[str, str] | None,
        storage_class: str | None,
        tags: Mapping[str, str] | None,
        on_sealed: SealHook | None,
    ) -> ObjectInfo:
        src = await _in_thread(_open_binary, path, release=_close)
        try:
            before = os.fstat(src.fileno())

            async def chunks() -> AsyncIterator[bytes]:
                copied = 0
                while True:
                    # Read at most one byte past the size seen at the start: growth shows at once.
                    want = min(CHUNK_SIZE, before.st_size - copied + 1)
                    chunk = await _in_thread(src.read, want)
                    copied += len(chunk)
                    if copied > before.st_size:
                        break
                    if not chunk:
                        after = await _in_thread(os.stat, path)
                        if (after.st_size, after.st_mtime_ns, after.st_ino) == (
                            before.st_size,
                            before.st_mtime_ns,
                            before.st_ino,
                        ):
                            return
                        break
                    yield chunk
                raise SourceChangedError(
                    f"{path} changed while it was copied to {key!r}: nothing stored", key=key
                )

            return await self._store(key, chunks(), metadata, storage_class, tags, on_sealed)
        finally:
            src.close()

    async def copy(
        self,
        src_key: str,
        dst_key: str,
        *,
        metadata: Mapping[str, str] | None = None,
        source_if_match: str | None = None,
    ) -> ObjectInfo:
        """Copy ``src_key`` to ``dst_key`` with its tags, as S3's CopyObject does.

        ``metadata=None`` copies the source's metadata (``MetadataDirective=COPY``) and
        the copy is STANDARD whatever the source's class, as CopyObject without
        ``StorageClass`` makes it. A mapping replaces the metadata (``REPLACE``) and
        keeps the source's storage class; ``src_key == dst_key`` is allowed then. The
        bytes are copied from one open version of the source into a new file.
        ``source_if_match``: that open version must have this ETag, else
        :class:`ObjectChangedError` and nothing is written
        (``x-amz-copy-source-if-match``).
        """
        self._full(dst_key)
        src, sidecar = await _in_thread(self._open_with_sidecar, src_key, release=_close_first)
        try:
            if source_if_match is not None and sidecar.etag != source_if_match.strip('"'):
                raise ObjectChangedError(
                    f"copy {src_key!r} -> {dst_key!r} in {self}: the source changed "
                    f"(ETag {sidecar.etag!r}, not {source_if_match!r})",
                    key=src_key,
                    code="PreconditionFailed",
                )

            async def chunks() -> AsyncIterator[bytes]:
                while chunk := await _in_thread(src.read, CHUNK_SIZE):
                    yield chunk

            if metadata is None:
                return await self._store(dst_key, chunks(), sidecar.metadata, None, sidecar.tags)
            kept_class = sidecar.storage_class
            return await self._store(dst_key, chunks(), metadata, kept_class, sidecar.tags)
        finally:
            src.close()

    def _tags_sync(self, key: str) -> dict[str, str]:
        src, full_key = self._open(key)
        with src:
            return dict(self._sidecar_of_open(src, full_key).tags)

    async def object_tags(self, key: str) -> dict[str, str]:
        """The tags recorded for ``key`` (``{}`` when none); :class:`NoSuchKeyError` if absent.

        What :meth:`s3opt.S3Store.object_tags` gives for S3; LocalStore is not a
        :class:`s3opt.ColdStorage` (it has no archive tiers or lifecycle rules).
        """
        return await _in_thread(self._tags_sync, key)

    def _delete_sync(self, full_keys: list[str]) -> None:
        with self._lock:
            for full_key in full_keys:
                remove_object(self._root, full_key)

    async def delete(self, keys: Iterable[str]) -> None:
        """Delete ``keys``; keys that do not exist are not an error."""
        full_keys = [self._full(key) for key in keys]
        for start in range(0, len(full_keys), PAGE_SIZE):
            await _in_thread(self._delete_sync, full_keys[start : start + PAGE_SIZE])

    # -- listing ----------------------------------------------------------------------------

    def _start(self, prefix: str) -> tuple[Path | None, str, str]:
        """Where a listing of ``prefix`` starts: directory, its key prefix, the partial name."""
        if not isinstance(prefix, str):
            raise InvalidKeyError(f"prefix must be a string, got {type(prefix).__name__}")
        full_prefix = self._prefix + prefix
        head, slash, partial = full_prefix.rpartition("/")
        segments = head.split("/") if slash else []
        return find_dir(self._root, segments), head + slash, partial

    def _objects(self, prefix: str) -> Iterator[ObjectInfo]:
        directory, key_prefix, partial = self._start(prefix)
        if directory is None:
            return
        for full_key, path in walk(directory, key_prefix, partial):
            with contextlib.suppress(FileNotFoundError):  # deleted while listing
                yield self._info(full_key, path, with_metadata=False)

    def _one_level(self, prefix: str) -> Iterator[ObjectInfo | CommonPrefix]:
        directory, key_prefix, partial = self._start(prefix)
        if directory is None:
            return
        for entry in children(directory):
            if not entry.segment.startswith(partial):
                continue
            full_key = key_prefix + entry.segment
            if entry.is_object:
                if prefix.endswith("/") and full_key == self._prefix + prefix:
                    continue  # the directory marker of the prefix itself
                with contextlib.suppress(FileNotFoundError):
                    yield self._info(full_key, entry.path, with_metadata=False)
            elif next(walk(entry.path, "", ""), None) is not None:
                yield CommonPrefix(self._relative(full_key + "/"))

    async def list(
        self, prefix: str = "", *, page_size: int = PAGE_SIZE
    ) -> AsyncIterator[ObjectInfo]:
        """Every object whose key starts with ``prefix``, in S3 key order (UTF-8 bytes).

        Read ``page_size`` entries at a time, like S3's pages.
        """
        async for item in _paged(self._objects(prefix), page_size):
            yield item

    async def list_dir(
        self, prefix: str = "", *, page_size: int = PAGE_SIZE
    ) -> AsyncIterator[ObjectInfo | CommonPrefix]:
        """One level under ``prefix``: objects and :class:`CommonPrefix` es, in key order.

        As in :meth:`s3opt.S3Store.list_dir`, a "directory marker" object whose
        key is ``prefix`` itself is left out (:meth:`list` includes it).
        """
        async for item in _paged(self._one_level(prefix), page_size):
            yield item


def _open_binary(path: Path) -> BinaryIO:
    return path.open("rb")


def _hashed(src: BinaryIO) -> Sidecar:
    """A record for a file with no trustworthy sidecar (put there by hand, or a crash):
    its ETag and SHA-256 from its bytes, read with ``pread`` so ``src``'s position stays."""
    hasher = Hasher()
    offset = 0
    while chunk := os.pread(src.fileno(), CHUNK_SIZE, offset):
        hasher.update(chunk)
        offset += len(chunk)
    return Sidecar(hasher.md5.hexdigest(), hasher.sha256.hexdigest(), {})


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _checked_chunks(source: Any, key: str) -> AsyncIterator[bytes]:
    async for chunk in source:
        if not isinstance(chunk, bytes | bytearray | memoryview):
            raise TypeError(f"upload of {key!r}: the stream yielded {type(chunk).__name__}")
        if chunk:
            yield bytes(chunk)


async def _paged(items: Iterator[_T], page_size: int) -> AsyncIterator[_T]:
    """Drain a blocking iterator a page at a time in a thread."""
    if page_size < 1:
        raise ValueError(f"page_size must be >= 1, got {page_size}")

    def page() -> list[_T]:
        return [item for _, item in zip(range(page_size), items, strict=False)]

    while batch := await _in_thread(page):
        for item in batch:
            yield item
