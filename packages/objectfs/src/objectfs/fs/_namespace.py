"""Paths to objects: what exists, what it is, and the listing of a directory.

The mapping (see :mod:`objectfs.meta` for the attributes):

* a file or symlink ``a/b`` is the object ``a/b``;
* a directory ``a/b`` exists when some key starts with ``a/b/``; an empty
  one is the zero-byte marker object ``a/b/`` (its headers carry the mode);
  an object ``a/b`` whose ``mode`` header says directory (old s3fs) counts
  as one too;
* where both a file ``a/b`` and keys under ``a/b/`` exist, the file wins.

Resolving a path costs a HEAD, and a one-key LIST when that finds no file;
answers (negative ones too) stay in the :class:`MetadataCache` for its TTL,
and a cached listing of the parent answers for names it lacks. A file being
written by this mount is answered from its staging file.
"""

from __future__ import annotations

import asyncio
import stat
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass, replace
from typing import Final

from objectfs.cache import ABSENT, MetadataCache
from objectfs.fs._timed import TimedStore
from objectfs.inodes import child_path, parent_path
from objectfs.meta import MODE, Attributes, attributes_of
from objectfs.writeback import StagedFile, WriteBack
from s3opt.errors import NoSuchKeyError
from s3opt.protocols import CommonPrefix, ObjectInfo

__all__ = ["Namespace", "Node", "Owner", "dir_prefix"]

LISTING_CACHE_LIMIT: Final = 50_000
"""Names collected from one listing for the cache; longer listings are streamed only."""
HEAD_BATCH: Final = 256
"""Listed entries described at a time (bounds memory for huge directories)."""
HEAD_CONCURRENCY: Final = 16
"""HEAD requests at once while describing a batch."""


def dir_prefix(path: str) -> str:
    """The key prefix of directory ``path``: ``"a/b/"``, or ``""`` for the root."""
    return path + "/" if path else ""


@dataclass(frozen=True, slots=True)
class Owner:
    """Who owns what carries no uid/gid headers, and the mount's umask for default modes."""

    uid: int
    gid: int
    umask: int
    force_uid: bool = False
    """``--uid`` given: it overrides the headers too (as s3fs's ``-o uid=``)."""
    force_gid: bool = False


@dataclass(frozen=True, slots=True)
class Node:
    """One resolved path: its attributes and the object behind it (``None``: an implicit dir)."""

    path: str
    attributes: Attributes
    size: int
    info: ObjectInfo | None
    staged: StagedFile | None = None

    @property
    def is_dir(self) -> bool:
        return self.attributes.is_dir

    @property
    def is_symlink(self) -> bool:
        return self.attributes.is_symlink

    @property
    def etag(self) -> str:
        return self.info.etag if self.info is not None else ""

    @property
    def marker(self) -> str | None:
        """The key of the object that makes this directory exist, if one does."""
        return self.info.key if self.is_dir and self.info is not None and self.info.etag else None


def _implicit_dir(path: str) -> ObjectInfo:
    """The cache's stand-in for a directory that only exists as a key prefix."""
    return ObjectInfo(key=dir_prefix(path), size=0, etag="")


def _is_dir_info(info: ObjectInfo) -> bool:
    if info.key.endswith("/"):
        return True
    mode = info.metadata.get(MODE)
    return mode is not None and mode.isdigit() and stat.S_ISDIR(int(mode))


class Namespace:
    """Resolves paths under one store, through the metadata cache and the staged files."""

    def __init__(
        self, store: TimedStore, cache: MetadataCache, writeback: WriteBack, owner: Owner
    ) -> None:
        self._store = store
        self._cache = cache
        self._writeback = writeback
        self._owner = owner
        self._mounted_ns = time.time_ns()

    def node_of(self, path: str, info: ObjectInfo) -> Node:
        """The node for ``path`` given what S3 said about it (HEAD, LIST or a write)."""
        directory = not path or _is_dir_info(info)
        owner = self._owner
        attributes = attributes_of(
            info,
            directory=directory,
            uid=owner.uid,
            gid=owner.gid,
            umask=owner.umask,
            now_ns=self._mounted_ns,
        )
        if owner.force_uid:
            attributes = replace(attributes, uid=owner.uid)
        if owner.force_gid:
            attributes = replace(attributes, gid=owner.gid)
        size = 4096 if directory else info.size
        return Node(path, attributes, size, info)

    def root(self) -> Node:
        return self.node_of("", _implicit_dir(""))

    def default_attributes(self, mode: int, uid: int, gid: int) -> Attributes:
        """Attributes of something this mount creates now."""
        return Attributes(mode=mode, uid=uid, gid=gid, mtime_ns=time.time_ns())

    async def resolve(self, path: str, *, fresh: bool = False) -> Node | None:
        """The node at ``path``, or ``None`` if nothing is there.

        ``fresh`` skips the cache (open() revalidates: close-to-open consistency).
        """
        if not path:
            return self.root()
        staged = self._writeback.get(path)
        if staged is not None:
            return Node(path, staged.attributes, staged.size, staged.uploaded, staged)
        if not fresh:
            cached = self._cache.get(path)
            if cached is ABSENT:
                return None
            if isinstance(cached, ObjectInfo):
                return self.node_of(path, cached)
            siblings = self._cache.listing(parent_path(path))
            name = path.rpartition("/")[2]
            if siblings is not None and name not in siblings and name + "/" not in siblings:
                return None
        info = await self._fetch(path)
        self._cache.put(path, ABSENT if info is None else info)
        return None if info is None else self.node_of(path, info)

    async def _fetch(self, path: str) -> ObjectInfo | None:
        try:
            return await self._store.head(path)
        except NoSuchKeyError:
            pass
        prefix = dir_prefix(path)
        listing = self._store.list(prefix)
        try:
            first = await anext(listing, None)
        finally:
            await listing.aclose()
        if first is None:
            return None
        if first.key == prefix:
            try:
                return await self._store.head(prefix)
            except NoSuchKeyError:
                return None
        return _implicit_dir(path)

    def forget(self, path: str, *, gone: bool = False) -> None:
        """The mount changed ``path``: drop what is cached about it (and its parent's listing)."""
        self._cache.invalidate(path)
        if gone:
            self._cache.put(path, ABSENT)

    async def entries(self, path: str) -> AsyncGenerator[tuple[str, Node, bool], None]:
        """The directory's children in key order, page by page: ``(name, node, exact)``.

        LIST returns no headers, so the objects of each batch of
        :data:`HEAD_BATCH` entries that the cache does not know are HEADed
        concurrently (as s3fs does): the kernel must learn a symlink as a
        symlink. Sub-directories are certain to be directories, but their mode
        is known only once looked up: ``exact`` is ``False`` for them, and
        callers should not let the kernel keep those attributes. Files this
        mount created and has not uploaded yet come last. A complete listing
        of at most :data:`LISTING_CACHE_LIMIT` names is cached.
        """
        prefix = dir_prefix(path)
        names: list[str] | None = []
        pending = set(self._writeback.new_under(prefix))
        batch: list[tuple[str, ObjectInfo]] = []
        async for entry in self._store.list_dir(prefix):
            if isinstance(entry, CommonPrefix):
                name = entry.prefix[len(prefix) :].rstrip("/")
                listed = _implicit_dir(child_path(path, name))
            else:
                name = entry.key[len(prefix) :]
                listed = entry
            if not name or "/" in name:
                continue  # "a//b" and the like: no name a directory entry can have
            pending.discard(child_path(path, name))
            if names is not None:
                names.append(name + "/" if isinstance(entry, CommonPrefix) else name)
                if len(names) > LISTING_CACHE_LIMIT:
                    names = None
            batch.append((name, listed))
            if len(batch) >= HEAD_BATCH:
                for item in await self._described(path, batch):
                    yield item
                batch = []
        for item in await self._described(path, batch):
            yield item
        for child in sorted(pending):
            node = await self.resolve(child)
            if node is not None:
                if names is not None:
                    names.append(child.rpartition("/")[2])
                yield child.rpartition("/")[2], node, True
        if names is not None:
            self._cache.put_listing(path, names)

    async def _described(
        self, path: str, batch: list[tuple[str, ObjectInfo]]
    ) -> list[tuple[str, Node, bool]]:
        """Nodes for listed entries: staged, cached, or HEADed now (a few at a time)."""
        limit = asyncio.Semaphore(HEAD_CONCURRENCY)

        async def describe(name: str, listed: ObjectInfo) -> tuple[str, Node, bool] | None:
            child = child_path(path, name)
            if not listed.etag:
                cached = self._cache.get(child)
                if isinstance(cached, ObjectInfo):
                    return name, self.node_of(child, cached), True
                return name, self.node_of(child, listed), False
            staged = self._writeback.get(child)
            cached = self._cache.get(child)
            if staged is None and not (
                isinstance(cached, ObjectInfo) and cached.etag == listed.etag
            ):
                async with limit:
                    node = await self.resolve(child, fresh=True)
                return None if node is None else (name, node, True)
            node = await self.resolve(child)
            return None if node is None else (name, node, True)

        described = await asyncio.gather(*(describe(n, i) for n, i in batch))
        return [item for item in described if item is not None]
