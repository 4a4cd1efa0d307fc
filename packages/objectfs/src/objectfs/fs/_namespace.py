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
written by this mount is answered from its staging file. A directory whose
listing is cached is read from the cache: ``ls -l`` right after ``ls -l``
sends no request.

The mount's own changes keep the caches exact rather than emptying them:
what it writes is cached with the headers it wrote (:meth:`Namespace.learned`),
what it removes is cached as absent, and a name it adds to a directory whose
listing is cached is kept next to that listing until the listing expires (the
listing's own expiry is not extended, so other clients' changes still show
within the TTL). Creating many files in a listed or new directory therefore
needs no request before each create.
"""

from __future__ import annotations

import asyncio
import bisect
import stat
import time
from collections import deque
from collections.abc import AsyncGenerator
from dataclasses import dataclass, replace
from typing import Final, Literal

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
LOOKAHEAD: Final = 256
"""Listed entries described ahead of the one returned (bounds memory in huge directories)."""
HEAD_CONCURRENCY: Final = 32
"""HEAD requests at once while describing a listing. A HEAD is one round trip, so on a 40 ms
link 32 at once describe ~800 entries a second; s3fs sends up to 20 (``multireq_max``); 32 is
half of s3opt's default 64 connections, leaving the rest for reads."""
ADDED_LIMIT: Final = 10_000
"""Names added next to one cached listing; past that the listing is dropped instead."""


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


_Entry = tuple[str, Node, bool]
"""A directory entry: its name, its node, and whether the node's attributes are exact."""


def _implicit_dir(path: str) -> ObjectInfo:
    """The cache's stand-in for a directory that only exists as a key prefix."""
    return ObjectInfo(key=dir_prefix(path), size=0, etag="")


def _has(names: frozenset[str] | tuple[str, ...], name: str) -> bool:
    """``name in names``: a set lookup, or a binary search of a sorted cached listing."""
    if isinstance(names, frozenset):
        return name in names
    at = bisect.bisect_left(names, name)
    return at < len(names) and names[at] == name


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
        self._head_limit = asyncio.Semaphore(HEAD_CONCURRENCY)
        self._nodes: dict[str, Node] = {}
        self._added: dict[str, set[str]] = {}
        """Per directory: names this mount added since its cached listing was made (a
        directory's name ends in ``/``, as in listings)."""

    def node_of(self, path: str, info: ObjectInfo) -> Node:
        """The node for ``path`` given what S3 said about it (HEAD, LIST or a write).

        Parsing headers is most of the cost of listing a cached directory, so the
        node made from a given ``info`` object is remembered and reused (a memo
        emptied whenever it outgrows the metadata cache it mirrors).
        """
        made = self._nodes.get(path)
        if made is not None and made.info is info:
            return made
        node = self._make_node(path, info)
        if len(self._nodes) >= self._cache.max_entries:
            self._nodes.clear()
        self._nodes[path] = node
        return node

    def _make_node(self, path: str, info: ObjectInfo) -> Node:
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
            siblings = self._listing(parent_path(path))
            name = path.rpartition("/")[2]
            if siblings is not None and not (_has(siblings, name) or _has(siblings, name + "/")):
                return None
        return await self._resolve_now(path)

    def cached_etag(self, path: str) -> str | None:
        """The ETag the metadata cache holds for ``path``; ``None`` when it holds none."""
        cached = self._cache.get(path)
        return cached.etag if isinstance(cached, ObjectInfo) else None

    async def _resolve_now(self, path: str) -> Node | None:
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

    def _listing(self, directory: str) -> frozenset[str] | tuple[str, ...] | None:
        """The cached names of ``directory`` with those this mount added; ``None``: unknown."""
        names = self._cache.listing(directory)
        if names is None:
            self._added.pop(directory, None)
            return None
        added = self._added.get(directory)
        return names if not added else frozenset(names) | added

    # -- the mount's own changes -----------------------------------------------------------

    def forget(self, path: str, *, gone: bool = False) -> None:
        """The mount changed ``path`` in a way it cannot describe: drop what is cached about
        it and its parent's listing; ``gone``: it is known to be absent now."""
        self._cache.invalidate(path)
        self._added.pop(path, None)
        self._added.pop(parent_path(path), None)
        if gone:
            self._cache.put(path, ABSENT)

    def learned(self, path: str, info: ObjectInfo) -> None:
        """The mount wrote ``path`` and S3 now holds ``info`` (with the headers written)."""
        self._cache.put(path, info)
        directory = parent_path(path)
        if self._cache.listing(directory) is None:
            self._added.pop(directory, None)
            return
        added = self._added.setdefault(directory, set())
        added.add(path.rpartition("/")[2] + ("/" if _is_dir_info(info) else ""))
        if len(added) > ADDED_LIMIT:
            self.forget(path)
            self._cache.put(path, info)

    def removed(self, path: str) -> None:
        """The mount removed ``path``: it is cached as absent, and the parent's cached listing
        stays (names cached as absent are left out when it is read)."""
        self._cache.put(path, ABSENT)
        self._added.pop(path, None)
        added = self._added.get(parent_path(path))
        if added:
            name = path.rpartition("/")[2]
            added.discard(name)
            added.discard(name + "/")

    def made_empty(self, path: str) -> None:
        """The mount just made directory ``path``: its listing is known to be empty."""
        self._cache.put_listing(path, ())
        self._added.pop(path, None)

    # -- listings --------------------------------------------------------------------------

    async def entries(self, path: str) -> AsyncGenerator[_Entry, None]:
        """The directory's children, page by page: ``(name, node, exact)``.

        A cached listing (with the names this mount added) answers without a
        LIST; otherwise S3 is listed in key order and a complete listing of at
        most :data:`LISTING_CACHE_LIMIT` names is cached. LIST returns no
        headers, so entries whose attributes the cache lacks are HEADed, up to
        :data:`HEAD_CONCURRENCY` at once while later ones are described (as
        s3fs does): the kernel must learn a symlink as a symlink.
        Sub-directories are certain to be directories, but their mode is known
        only once looked up: ``exact`` is ``False`` for them, and callers
        should not let the kernel keep those attributes. Files this mount
        created and has not uploaded yet come last.
        """
        prefix = dir_prefix(path)
        pending = set(self._writeback.new_under(prefix))
        cached = self._listing(path)
        names: list[str] | None = None if cached is not None else []
        source = self._cached_entries(cached) if cached is not None else self._listed(prefix)
        described = self._in_order(path, source, pending, names)
        try:
            async for item in described:
                yield item
        finally:
            await described.aclose()
        for child in sorted(pending):
            node = await self.resolve(child)
            if node is not None:
                if names is not None:
                    names.append(child.rpartition("/")[2])
                yield child.rpartition("/")[2], node, True
        if names is not None and len(names) <= LISTING_CACHE_LIMIT:
            self._cache.put_listing(path, names)
            self._added.pop(path, None)

    async def _listed(self, prefix: str) -> AsyncGenerator[tuple[str, ObjectInfo | None], None]:
        """``(name, what LIST said)`` for each child in S3 (directories' names end in ``/``)."""
        async for entry in self._store.list_dir(prefix):
            if isinstance(entry, CommonPrefix):
                name = entry.prefix[len(prefix) :]
                if name.rstrip("/") and "/" not in name.rstrip("/"):
                    yield name, None
            else:
                name = entry.key[len(prefix) :]
                if name and "/" not in name:  # not "a//b" and the like
                    yield name, entry

    @staticmethod
    async def _cached_entries(
        names: frozenset[str] | tuple[str, ...],
    ) -> AsyncGenerator[tuple[str, ObjectInfo | None], None]:
        for name in sorted(names) if isinstance(names, frozenset) else names:
            yield name, None

    async def _in_order(
        self,
        path: str,
        source: AsyncGenerator[tuple[str, ObjectInfo | None], None],
        pending: set[str],
        names: list[str] | None,
    ) -> AsyncGenerator[_Entry, None]:
        """Describe ``source``'s entries in order, HEADing up to :data:`LOOKAHEAD` ahead."""
        queue: deque[asyncio.Task[_Entry | None] | _Entry | None] = deque()
        try:
            async for name, listed in source:
                child = child_path(path, name.rstrip("/"))
                pending.discard(child)
                if names is not None and len(names) <= LISTING_CACHE_LIMIT:
                    names.append(name)  # one past the limit says "too long to cache"
                now = self._describe_cached(child, name, listed)
                if now is False:
                    queue.append(asyncio.create_task(self._describe_fresh(child, name)))
                else:
                    queue.append(now)
                while queue and (len(queue) >= LOOKAHEAD or not isinstance(queue[0], asyncio.Task)):
                    head = queue.popleft()
                    item = await head if isinstance(head, asyncio.Task) else head
                    if item is not None:
                        yield item
            while queue:
                head = queue.popleft()
                item = await head if isinstance(head, asyncio.Task) else head
                if item is not None:
                    yield item
        finally:
            for head in queue:
                if isinstance(head, asyncio.Task):
                    if head.done() and not head.cancelled():
                        head.exception()  # retrieved: one failure is reported, not each
                    head.cancel()
            await source.aclose()

    def _describe_cached(
        self, child: str, name: str, listed: ObjectInfo | None
    ) -> _Entry | Literal[False] | None:
        """The entry from what is known without a request; ``None``: skip it (absent);
        ``False``: it needs a HEAD."""
        bare = name.rstrip("/")
        staged = self._writeback.get(child)
        if staged is not None:
            return bare, Node(child, staged.attributes, staged.size, staged.uploaded, staged), True
        cached = self._cache.get(child)
        if cached is ABSENT:
            return None
        if name.endswith("/"):  # a sub-directory: certain, but its mode is known once looked up
            if isinstance(cached, ObjectInfo):
                return bare, self.node_of(child, cached), True
            return bare, self.node_of(child, _implicit_dir(child)), False
        if isinstance(cached, ObjectInfo) and (listed is None or cached.etag == listed.etag):
            return bare, self.node_of(child, cached), True
        return False

    async def _describe_fresh(self, child: str, name: str) -> _Entry | None:
        async with self._head_limit:
            node = await self._resolve_now(child)
        return None if node is None else (name, node, True)
