"""Changes to the tree in S3: directories, removal, symlinks, renames, attribute rewrites.

S3 has no rename: a file is copied (server-side, headers kept) and the old
key deleted; a directory is every key under its prefix, copied and deleted
in batches. A directory rename is therefore **not atomic**: a crash or an
S3 failure midway leaves some keys at the new name and the rest at the old
one, and other clients may see both. Retrying does not finish it: the old
directory still exists (with the keys not yet moved), and the new name now
exists too, so ``rename`` over it fails with ENOTEMPTY; the keys left
behind must be moved one by one (``mv old/* new/``).

Changing a file's attributes (chmod, chown, utimens, xattrs) rewrites its
headers with a server-side copy of the object onto itself with the new
headers (CopyObject, ``x-amz-metadata-directive: REPLACE``): no data passes
through the mount. The copy is pinned to the ETag the mount knows
(``x-amz-copy-source-if-match``): if another client replaced the object in
between, S3 answers 412, the change fails with ESTALE and the cached
attributes are dropped, so a retry sees the new object (moto does not enforce
the header; S3 and s3opt's LocalStore do). A directory's marker is simply put
again.
"""

from __future__ import annotations

import asyncio
import errno
import stat
from dataclasses import replace
from typing import Final

import pyfuse3

from objectfs.blocks import BlockReader
from objectfs.fs._handles import HandleTable
from objectfs.fs._namespace import Namespace, Node, dir_prefix
from objectfs.fs._timed import TimedStore
from objectfs.inodes import InodeTable, parent_path
from objectfs.meta import Attributes, encode_attributes
from objectfs.writeback import WriteBack
from s3opt.errors import ObjectChangedError

__all__ = ["Tree"]

RENAME_BATCH: Final = 1000
"""Keys copied, then deleted, per step of a directory rename (one DeleteObjects call)."""
COPY_CONCURRENCY: Final = 16


class Tree:
    """The mount's changes to the namespace, kept consistent with its caches and inodes."""

    def __init__(
        self,
        store: TimedStore,
        namespace: Namespace,
        writeback: WriteBack,
        reader: BlockReader,
        inodes: InodeTable,
        handles: HandleTable,
    ) -> None:
        self._store = store
        self._ns = namespace
        self._writeback = writeback
        self._reader = reader
        self._inodes = inodes
        self._handles = handles

    async def mkdir(self, path: str, attributes: Attributes) -> Node:
        """Create the empty directory ``path`` as a marker object ``path/``."""
        node = await self._put_marker(path, attributes)
        self._ns.made_empty(path)
        return node

    async def _put_marker(self, path: str, attributes: Attributes) -> Node:
        """Put directory ``path``'s marker object ``path/`` carrying ``attributes``."""
        info = await self._store.put(dir_prefix(path), b"", metadata=encode_attributes(attributes))
        self._ns.learned(path, info)
        return self._ns.node_of(path, info)

    async def symlink(self, path: str, target: bytes, attributes: Attributes) -> Node:
        """Create a symlink as s3fs does: the target is the body, the mode says S_IFLNK."""
        info = await self._store.put(path, target, metadata=encode_attributes(attributes))
        self._ns.learned(path, info)
        return self._ns.node_of(path, info)

    async def unlink(self, node: Node) -> None:
        """Remove the file ``node`` (a file being written is never uploaded after this)."""
        if node.info is not None or node.staged is None or not node.staged.new:
            await self._store.delete([node.path])
        self._writeback.unlinked(node.path)
        self._reader.forget(node.path)
        self._gone(node.path)
        await self._keep_parent(node.path)

    async def rmdir(self, node: Node) -> None:
        """Remove the empty directory ``node``; ENOTEMPTY if anything is under it."""
        prefix = dir_prefix(node.path)
        if self._writeback.new_under(prefix):
            raise pyfuse3.FUSEError(errno.ENOTEMPTY)
        listing = self._store.list(prefix)
        try:
            async for info in listing:
                if info.key != prefix:
                    raise pyfuse3.FUSEError(errno.ENOTEMPTY)
        finally:
            await listing.aclose()
        markers = {prefix}
        if node.marker is not None:
            markers.add(node.marker)
        await self._store.delete(sorted(markers))
        self._gone(node.path)
        await self._keep_parent(node.path)

    def _gone(self, path: str) -> None:
        self._ns.removed(path)
        self._inodes.remove(path)

    async def _keep_parent(self, path: str) -> None:
        """A directory that existed only as a prefix must not vanish with its last entry."""
        parent = parent_path(path)
        if not parent:
            return
        node = await self._ns.resolve(parent)
        if node is not None and node.marker is None:
            await self._put_marker(parent, node.attributes)

    async def rename(self, source: Node, target: str, replaced: Node | None) -> None:
        """Move ``source`` to ``target`` (whatever ``replaced`` was there is overwritten)."""
        if source.is_dir:
            await self._rename_dir(source, target, replaced)
        else:
            await self._rename_file(source, target)
        self._ns.forget(source.path, gone=True)
        self._ns.forget(target)
        self._inodes.rename(source.path, target)
        self._writeback.renamed(source.path, target)
        self._handles.renamed(source.path, target)
        await self._keep_parent(source.path)

    async def _rename_file(self, source: Node, target: str) -> None:
        staged = source.staged
        if staged is not None and staged.dirty:
            await staged.upload(self._store)
        await self._store.copy(source.path, target)
        await self._store.delete([source.path])
        self._reader.forget(source.path)
        self._reader.forget(target)

    async def _rename_dir(self, source: Node, target: str, replaced: Node | None) -> None:
        old, new = dir_prefix(source.path), dir_prefix(target)
        if replaced is not None and replaced.marker is not None:
            await self._store.delete([replaced.marker])
        for staged in list(self._writeback):
            if staged.key.startswith(old) and staged.dirty:
                await staged.upload(self._store)
        limit = asyncio.Semaphore(COPY_CONCURRENCY)

        async def move(key: str) -> None:
            async with limit:
                await self._store.copy(key, new + key[len(old) :])
            self._reader.forget(key)

        batch: list[str] = []
        async for info in self._store.list(old):
            batch.append(info.key)
            if len(batch) >= RENAME_BATCH:
                await asyncio.gather(*(move(k) for k in batch))
                await self._store.delete(batch)
                batch = []
        if batch:
            await asyncio.gather(*(move(k) for k in batch))
            await self._store.delete(batch)
        if source.marker is not None and source.marker != old:
            # An s3fs-style directory object without the trailing slash.
            await self._store.copy(source.marker, target)
            await self._store.delete([source.marker])
        elif source.marker is None:
            await self._store.put(new, b"", metadata=encode_attributes(source.attributes))

    async def set_attributes(self, node: Node, attributes: Attributes) -> Node:
        """Store new ``attributes`` for ``node``: in its staged file, a marker, or a rewrite."""
        staged = node.staged
        if staged is not None and staged.dirty:
            staged.attributes = attributes
            return replace(node, attributes=attributes)
        if node.is_dir:
            if not node.path:
                raise pyfuse3.FUSEError(errno.EPERM)  # the mount's root has no object to hold them
            return await self._put_marker(node.path, attributes)
        if node.info is None:
            return replace(node, attributes=attributes)
        key = node.path
        try:
            info = await self._store.copy(
                key, key, metadata=encode_attributes(attributes), source_if_match=node.etag
            )
        except ObjectChangedError:
            # Another client replaced the object since the mount looked: copying now would
            # put the old attributes on its bytes. Forget it; the caller answers ESTALE.
            self._reader.forget(key)
            self._ns.forget(key)
            raise
        if staged is not None:
            staged.attributes = attributes  # a clean staged file uploads them too, if written
        self._reader.forget(key)
        self._ns.learned(key, info)
        self._handles.changed(key, info.etag)
        return replace(node, attributes=attributes, info=info)

    async def truncate(self, node: Node, size: int) -> Node:
        """Cut or extend the file ``node`` to ``size`` bytes (uploaded now if no handle has it)."""
        if node.is_dir:
            raise pyfuse3.FUSEError(errno.EISDIR)
        if stat.S_ISLNK(node.attributes.mode):
            raise pyfuse3.FUSEError(errno.EINVAL)
        key = node.path
        source = None if node.info is None else (lambda: self._store.get(key))
        staged = self._writeback.open(
            key, size=node.size, attributes=node.attributes, source=source
        )
        try:
            await staged.truncate(size)
        finally:
            info = await self._writeback.release(staged)
        self._reader.forget(key)
        if info is None:
            self._ns.forget(key)
        else:
            self._ns.learned(key, info)
        return replace(node, size=size, attributes=staged.attributes, staged=None)
