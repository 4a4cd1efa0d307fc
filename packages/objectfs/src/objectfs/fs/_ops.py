"""``ObjectFs``: the pyfuse3 request handlers of a mount.

Each handler resolves inodes to paths (:mod:`objectfs.inodes`), asks the
:class:`Namespace` what is there, and runs its body under
:func:`objectfs.errors.as_errno`, so the only exception pyfuse3 ever sees is
``FUSEError``. Consistency: attributes and listings are cached for the
metadata TTL (also in the kernel), but ``open`` always revalidates with a
HEAD, so a file changed or deleted elsewhere is seen at the next open
(close-to-open consistency, as NFS offers); when the object is not the
version the mount knew, the kernel is told to drop its attributes of it too.
The kernel keeps a file's pages from one open to the next
(``FOPEN_KEEP_CACHE``) exactly when the object is the version those pages
came from (:mod:`objectfs.fs._pages`): a re-read of an unchanged file is
served by the kernel, one that changed is read again. Entries and attributes
learned from a listing go to the kernel with the ``readdir`` reply (FUSE
READDIRPLUS), so ``ls -l`` after a listing makes no further requests to the
daemon.

What S3 cannot do gets a fixed errno: ``link`` EPERM (link(2): "the
filesystem does not support the creation of hard links"), ``rename`` with
RENAME_EXCHANGE EINVAL, extended attributes outside the ``user.`` namespace
ENOTSUP, and changing the attributes of the mount's root EPERM.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Final

import pyfuse3

from objectfs.blocks import BlockReader
from objectfs.cache import Block
from objectfs.config import MountOptions
from objectfs.errors import as_errno
from objectfs.fs._handles import DirStream, FileHandle, HandleTable
from objectfs.fs._namespace import Namespace, Node
from objectfs.fs._pages import KernelPages
from objectfs.fs._timed import TimedStore
from objectfs.fs._tree import Tree
from objectfs.inodes import InodeTable, child_path, parent_path
from objectfs.meta import Attributes, encode_xattrs
from objectfs.readahead import SequentialDetector
from objectfs.stats import FsCounters
from objectfs.writeback import WriteBack
from s3opt.errors import ObjectChangedError
from s3opt.protocols import ObjectInfo

__all__ = ["PID_XATTR", "STATS_XATTR", "ObjectFs"]

_logger = logging.getLogger(__name__)

STATS_XATTR: Final = b"user.objectfs.stats"
"""The root's extended attribute holding the counters as JSON (``objectfs stats`` reads it)."""
PID_XATTR: Final = b"user.objectfs.pid"
"""The root's extended attribute holding the daemon's process id (``objectfs unmount`` waits
for it to exit)."""
_USER: Final = b"user."
_XATTR_HEADER_LIMIT: Final = 1536
"""Bytes of encoded xattrs allowed: S3 keeps at most 2 KiB of user metadata per object."""
_WRITE_FLAGS: Final = os.O_WRONLY | os.O_RDWR
_STATFS_BLOCKS: Final = 2**40
"""statfs reports a fixed, very large capacity: a bucket has no size limit."""


class ObjectFs(pyfuse3.Operations):
    """The filesystem of one mount over ``store`` (keys relative to the mounted prefix)."""

    supports_dot_lookup = True
    enable_writeback_cache = False

    def __init__(
        self,
        store: TimedStore,
        options: MountOptions,
        *,
        namespace: Namespace,
        writeback: WriteBack,
        reader: BlockReader,
        counters: FsCounters,
        after_init: Callable[[], None] | None = None,
    ) -> None:
        super().__init__()
        self._after_init = after_init
        self._store = store
        self._options = options
        self._ns = namespace
        self._writeback = writeback
        self._reader = reader
        self._counters = counters
        self._inodes = InodeTable()
        self._handles = HandleTable()
        self._pages = KernelPages()
        self._tree = Tree(store, namespace, writeback, reader, self._inodes, self._handles)

    def init(self) -> None:
        """pyfuse3 calls this while it answers the kernel's FUSE INIT: ``after_init`` runs
        once that answer is sent (the kernel applies the INIT reply's limits then)."""
        if self._after_init is not None:
            asyncio.get_running_loop().call_soon(self._after_init)

    # -- helpers ---------------------------------------------------------------------------

    def _path(self, inode: int) -> str:
        path = self._inodes.path(inode)
        if path is None:
            raise pyfuse3.FUSEError(errno.ENOENT)
        return path

    async def _node(self, path: str) -> Node:
        node = await self._ns.resolve(path)
        if node is None:
            raise pyfuse3.FUSEError(errno.ENOENT)
        return node

    def _writable(self) -> None:
        if self._options.read_only:
            raise pyfuse3.FUSEError(errno.EROFS)

    def _entry(self, inode: int, node: Node, *, exact: bool = True) -> pyfuse3.EntryAttributes:
        ttl = self._options.metadata_ttl
        entry = pyfuse3.EntryAttributes()
        entry.st_ino = inode
        entry.generation = 0
        entry.entry_timeout = ttl
        entry.attr_timeout = ttl if exact else 0
        attributes = node.attributes
        entry.st_mode = attributes.mode
        entry.st_nlink = 2 if node.is_dir else 1
        entry.st_uid = attributes.uid
        entry.st_gid = attributes.gid
        entry.st_rdev = 0
        entry.st_size = node.size
        entry.st_blksize = self._options.block_size
        entry.st_blocks = (node.size + 511) // 512
        entry.st_atime_ns = entry.st_mtime_ns = entry.st_ctime_ns = attributes.mtime_ns
        return entry

    def _child(self, parent_inode: int, name: bytes) -> str:
        return child_path(self._path(parent_inode), os.fsdecode(name))

    def _learned(self, node: Node) -> pyfuse3.EntryAttributes:
        """Attributes of a node the kernel now knows (its lookup count raised)."""
        return self._entry(self._inodes.remember(node.path), node)

    # -- lookup and attributes -------------------------------------------------------------

    async def lookup(
        self, parent_inode: int, name: bytes, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.EntryAttributes:
        with as_errno("lookup", self._counters):
            parent = self._path(parent_inode)
            if name == b".":
                path = parent
            elif name == b"..":
                path = parent_path(parent)
            else:
                path = child_path(parent, os.fsdecode(name))
            node = await self._ns.resolve(path)
            if node is None:
                entry = pyfuse3.EntryAttributes()
                entry.st_ino = 0  # a negative entry the kernel keeps for the negative TTL
                entry.entry_timeout = self._options.absent_ttl
                return entry
            return self._learned(node)

    async def forget(self, inode_list: Sequence[tuple[int, int]]) -> None:
        for inode, count in inode_list:
            self._inodes.forget(inode, count)
            if inode not in self._inodes:
                self._pages.forgotten(inode)

    async def getattr(self, inode: int, ctx: pyfuse3.RequestContext) -> pyfuse3.EntryAttributes:
        with as_errno("getattr", self._counters):
            return self._entry(inode, await self._node(self._path(inode)))

    async def setattr(
        self,
        inode: int,
        attr: pyfuse3.EntryAttributes,
        fields: pyfuse3.SetattrFields,
        fh: int | None,
        ctx: pyfuse3.RequestContext,
    ) -> pyfuse3.EntryAttributes:
        with as_errno("setattr", self._counters):
            self._writable()
            node = await self._node(self._path(inode))
            if fields.update_size:
                node = await self._tree.truncate(node, attr.st_size)
            attributes = node.attributes
            if fields.update_mode:
                kind = stat.S_IFMT(attributes.mode)
                attributes = replace(attributes, mode=kind | stat.S_IMODE(attr.st_mode))
            if fields.update_uid:
                attributes = replace(attributes, uid=attr.st_uid)
            if fields.update_gid:
                attributes = replace(attributes, gid=attr.st_gid)
            if fields.update_mtime:
                attributes = replace(attributes, mtime_ns=attr.st_mtime_ns)
            if attributes != node.attributes:
                node = await self._set_attributes(inode, await self._node(node.path), attributes)
            return self._entry(inode, node)

    async def _set_attributes(self, inode: int, node: Node, attributes: Attributes) -> Node:
        """:meth:`Tree.set_attributes`; when the object changed behind the mount (ESTALE),
        the kernel drops what it cached about ``inode`` too."""
        try:
            return await self._tree.set_attributes(node, attributes)
        except ObjectChangedError:
            self._kernel_forgets(inode)  # pages: the next open drops them
            raise

    async def statfs(self, ctx: pyfuse3.RequestContext) -> pyfuse3.StatvfsData:
        data = pyfuse3.StatvfsData()
        data.f_bsize = data.f_frsize = self._options.block_size
        data.f_blocks = data.f_bfree = data.f_bavail = _STATFS_BLOCKS
        data.f_files = data.f_ffree = data.f_favail = _STATFS_BLOCKS
        data.f_namemax = 255
        return data

    # -- directories -----------------------------------------------------------------------

    async def opendir(self, inode: int, ctx: pyfuse3.RequestContext) -> int:
        with as_errno("opendir", self._counters):
            node = await self._node(self._path(inode))
            if not node.is_dir:
                raise pyfuse3.FUSEError(errno.ENOTDIR)
            return self._handles.add_dir(DirStream(node.path))

    async def readdir(self, fh: int, start_id: int, token: pyfuse3.ReaddirToken) -> None:
        with as_errno("readdir", self._counters):
            stream = self._handles.dirs[fh]
            if stream.entries is None or start_id != stream.position:
                await self._restart(stream, start_id)
            assert stream.entries is not None
            while True:
                entry = stream.held or await anext(stream.entries, None)
                stream.held = None
                if entry is None:
                    return
                name, node, exact = entry
                inode = self._inodes.remember(node.path)
                attrs = self._entry(inode, node, exact=exact)
                if not pyfuse3.readdir_reply(token, os.fsencode(name), attrs, stream.position + 1):
                    self._inodes.forget(inode, 1)
                    stream.held = entry
                    return
                stream.position += 1

    async def _restart(self, stream: DirStream, start_id: int) -> None:
        """List from the beginning (a first read, or a rewinddir/seekdir) up to ``start_id``."""
        if stream.entries is not None:
            await stream.entries.aclose()
        stream.entries = self._ns.entries(stream.path)
        stream.held = None
        stream.position = 0
        while stream.position < start_id and await anext(stream.entries, None) is not None:
            stream.position += 1

    async def releasedir(self, fh: int) -> None:
        stream = self._handles.dirs.pop(fh, None)
        if stream is not None and stream.entries is not None:
            await stream.entries.aclose()

    async def mkdir(
        self, parent_inode: int, name: bytes, mode: int, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.EntryAttributes:
        with as_errno("mkdir", self._counters):
            self._writable()
            path = self._child(parent_inode, name)
            if await self._ns.resolve(path) is not None:
                raise pyfuse3.FUSEError(errno.EEXIST)
            mode = stat.S_IFDIR | stat.S_IMODE(mode)
            attributes = self._ns.default_attributes(mode, ctx.uid, ctx.gid)
            return self._learned(await self._tree.mkdir(path, attributes))

    async def rmdir(self, parent_inode: int, name: bytes, ctx: pyfuse3.RequestContext) -> None:
        with as_errno("rmdir", self._counters):
            self._writable()
            node = await self._node(self._child(parent_inode, name))
            if not node.is_dir:
                raise pyfuse3.FUSEError(errno.ENOTDIR)
            await self._tree.rmdir(node)

    async def unlink(self, parent_inode: int, name: bytes, ctx: pyfuse3.RequestContext) -> None:
        with as_errno("unlink", self._counters):
            self._writable()
            node = await self._node(self._child(parent_inode, name))
            if node.is_dir:
                raise pyfuse3.FUSEError(errno.EISDIR)
            await self._tree.unlink(node)

    async def symlink(
        self, parent_inode: int, name: bytes, target: bytes, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.EntryAttributes:
        with as_errno("symlink", self._counters):
            self._writable()
            path = self._child(parent_inode, name)
            if await self._ns.resolve(path) is not None:
                raise pyfuse3.FUSEError(errno.EEXIST)
            attributes = self._ns.default_attributes(stat.S_IFLNK | 0o777, ctx.uid, ctx.gid)
            return self._learned(await self._tree.symlink(path, target, attributes))

    async def readlink(self, inode: int, ctx: pyfuse3.RequestContext) -> bytes:
        with as_errno("readlink", self._counters):
            node = await self._node(self._path(inode))
            if not node.is_symlink:
                raise pyfuse3.FUSEError(errno.EINVAL)
            if node.staged is not None and node.staged.loaded:
                return node.staged.read(0, node.size)
            return bytes(await self._reader.read(node.path, node.etag, node.size, 0, node.size))

    async def rename(
        self,
        parent_inode_old: int,
        name_old: bytes,
        parent_inode_new: int,
        name_new: bytes,
        flags: int,
        ctx: pyfuse3.RequestContext,
    ) -> None:
        with as_errno("rename", self._counters):
            self._writable()
            if flags & pyfuse3.RENAME_EXCHANGE:
                raise pyfuse3.FUSEError(errno.EINVAL)
            source = await self._node(self._child(parent_inode_old, name_old))
            target = self._child(parent_inode_new, name_new)
            if target == source.path:
                return
            if target.startswith(source.path + "/"):
                raise pyfuse3.FUSEError(errno.EINVAL)
            replaced = await self._ns.resolve(target)
            if replaced is not None:
                if flags & pyfuse3.RENAME_NOREPLACE:
                    raise pyfuse3.FUSEError(errno.EEXIST)
                if source.is_dir and not replaced.is_dir:
                    raise pyfuse3.FUSEError(errno.ENOTDIR)
                if replaced.is_dir and not source.is_dir:
                    raise pyfuse3.FUSEError(errno.EISDIR)
                if replaced.is_dir and await self._has_children(replaced):
                    raise pyfuse3.FUSEError(errno.ENOTEMPTY)
            await self._tree.rename(source, target, replaced)

    async def _has_children(self, node: Node) -> bool:
        entries = self._ns.entries(node.path)
        try:
            return await anext(entries, None) is not None
        finally:
            await entries.aclose()

    async def link(
        self, inode: int, new_parent_inode: int, new_name: bytes, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.EntryAttributes:
        raise pyfuse3.FUSEError(errno.EPERM)

    # -- files -----------------------------------------------------------------------------

    def _detector(self) -> SequentialDetector:
        return SequentialDetector(
            block_size=self._options.block_size, max_window=self._options.max_readahead
        )

    async def open(self, inode: int, flags: int, ctx: pyfuse3.RequestContext) -> pyfuse3.FileInfo:
        with as_errno("open", self._counters):
            path = self._path(inode)
            writing = bool(flags & _WRITE_FLAGS)
            if writing or flags & os.O_TRUNC:
                self._writable()
            known = self._ns.cached_etag(path)
            node = await self._ns.resolve(path, fresh=True)
            if node is None:
                self._ns.forget(path, gone=True)
                raise pyfuse3.FUSEError(errno.ENOENT)
            if node.is_dir:
                raise pyfuse3.FUSEError(errno.EISDIR)
            if node.staged is None and node.etag != known:
                self._kernel_forgets(inode)
            reusable = node.staged is None and not writing and not flags & os.O_TRUNC
            version = (node.etag, node.size) if reusable and node.etag else None
            keep = self._pages.opened(inode, version)
            staged = None
            if writing:
                source = None if node.info is None else (lambda: self._store.get(path))
                staged = self._writeback.open(
                    path, size=node.size, attributes=node.attributes, source=source
                )
                if flags & os.O_TRUNC and staged.size:
                    await staged.truncate(0)
            handle = FileHandle(inode, path, node.etag, node.size, self._detector(), staged)
            return pyfuse3.FileInfo(fh=self._handles.add_file(handle), keep_cache=keep)

    def _kernel_forgets(self, inode: int) -> None:
        """Drop the kernel's attributes of ``inode``: the object changed (or may have) since
        the kernel learned them, and its size must come from the HEAD just made
        (close-to-open). Its pages are ``open``'s to keep or drop (``keep_cache``). Safe on
        the loop: the mount has no kernel writeback cache."""
        try:
            pyfuse3.invalidate_inode(inode, attr_only=True)
        except OSError as exc:
            _logger.debug("invalidating inode %d: %s", inode, exc)

    async def create(
        self,
        parent_inode: int,
        name: bytes,
        mode: int,
        flags: int,
        ctx: pyfuse3.RequestContext,
    ) -> tuple[pyfuse3.FileInfo, pyfuse3.EntryAttributes]:
        """Create a file: staged locally, it reaches S3 at its first flush (close or fsync).

        No empty object is PUT now (s3fs writes one so that other clients see the
        name at once): that costs a request and a round trip per file, and the
        close uploads the file anyway. Other clients see the file once it is
        closed or fsynced, as close-to-open consistency promises. The kernel's
        lookup before ``create`` is answered by the parent's cached listing
        when there is one (see :class:`Namespace`).
        """
        with as_errno("create", self._counters):
            self._writable()
            path = self._child(parent_inode, name)
            attributes = self._ns.default_attributes(
                stat.S_IFREG | stat.S_IMODE(mode), ctx.uid, ctx.gid
            )
            staged = self._writeback.open(path, size=0, attributes=attributes, source=None)
            if staged.size:
                await staged.truncate(0)
            node = Node(path, staged.attributes, 0, None, staged)
            entry = self._learned(node)
            handle = FileHandle(entry.st_ino, path, "", 0, self._detector(), staged)
            return pyfuse3.FileInfo(fh=self._handles.add_file(handle)), entry

    async def read(self, fh: int, off: int, size: int) -> Block:  # type: ignore[override]
        """The bytes as a view into a cached block where they lie in one: pyfuse3 replies
        from any contiguous buffer (``PyObject_GetBuffer`` in its ``fuse_read_async``), though
        its annotation says ``bytes``; no copy before the kernel's."""
        with as_errno("read", self._counters):
            handle = self._handles.files[fh]
            staged = self._writeback.get(handle.key)
            if staged is not None and staged.loaded:
                data = staged.read(off, size)
                self._counters.add_read(len(data))
                return data
            detector = handle.detector
            readahead = detector.observe(off, size)
            found = await self._reader.read(
                handle.key,
                handle.etag,
                handle.size,
                off,
                size,
                readahead=readahead,
                sequential=detector.sequential,
            )
            self._pages.filled(handle.inode, (handle.etag, handle.size))
            return found

    async def write(self, fh: int, off: int, buf: bytes) -> int:
        with as_errno("write", self._counters):
            staged = self._handles.files[fh].staged
            if staged is None:
                raise pyfuse3.FUSEError(errno.EBADF)
            written = await staged.write(off, buf)
            self._counters.add_staged(written)
            return written

    async def _upload(self, handle: FileHandle) -> None:
        staged = handle.staged
        if staged is None:
            return
        info = await staged.upload(self._store)
        if info is not None:
            self._uploaded(handle.key, info)

    def _uploaded(self, key: str, info: ObjectInfo) -> None:
        self._reader.forget(key)
        self._ns.learned(key, info)
        for handle in self._handles.files.values():
            if handle.key == key:
                handle.etag, handle.size = info.etag, info.size

    async def flush(self, fh: int) -> None:
        with as_errno("flush", self._counters):
            await self._upload(self._handles.files[fh])

    async def fsync(self, fh: int, datasync: bool) -> None:
        with as_errno("fsync", self._counters):
            await self._upload(self._handles.files[fh])

    async def release(self, fh: int) -> None:
        handle = self._handles.files.pop(fh, None)
        if handle is None or handle.staged is None:
            return
        with as_errno("release", self._counters):
            info = await self._writeback.release(handle.staged)
            if info is not None:
                self._uploaded(handle.key, info)

    # -- extended attributes ---------------------------------------------------------------

    async def getxattr(self, inode: int, name: bytes, ctx: pyfuse3.RequestContext) -> bytes:
        with as_errno("getxattr", self._counters):
            if inode == pyfuse3.ROOT_INODE and name == STATS_XATTR:
                return json.dumps(self._counters.snapshot()).encode()
            if inode == pyfuse3.ROOT_INODE and name == PID_XATTR:
                return str(os.getpid()).encode()
            if not name.startswith(_USER):
                raise pyfuse3.FUSEError(errno.ENOTSUP)
            node = await self._node(self._path(inode))
            value = node.attributes.xattrs.get(os.fsdecode(name))
            if value is None:
                raise pyfuse3.FUSEError(pyfuse3.ENOATTR)
            return value

    async def listxattr(self, inode: int, ctx: pyfuse3.RequestContext) -> Sequence[bytes]:
        with as_errno("listxattr", self._counters):
            node = await self._node(self._path(inode))
            return [os.fsencode(name) for name in sorted(node.attributes.xattrs)]

    async def setxattr(
        self, inode: int, name: bytes, value: bytes, ctx: pyfuse3.RequestContext
    ) -> None:
        with as_errno("setxattr", self._counters):
            self._writable()
            if not name.startswith(_USER):
                raise pyfuse3.FUSEError(errno.ENOTSUP)
            node = await self._node(self._path(inode))
            xattrs = dict(node.attributes.xattrs)
            xattrs[os.fsdecode(name)] = value
            if len(encode_xattrs(xattrs)) > _XATTR_HEADER_LIMIT:
                raise pyfuse3.FUSEError(errno.ENOSPC)
            await self._set_attributes(inode, node, replace(node.attributes, xattrs=xattrs))

    async def removexattr(self, inode: int, name: bytes, ctx: pyfuse3.RequestContext) -> None:
        with as_errno("removexattr", self._counters):
            self._writable()
            if not name.startswith(_USER):
                raise pyfuse3.FUSEError(errno.ENOTSUP)
            node = await self._node(self._path(inode))
            xattrs = dict(node.attributes.xattrs)
            if xattrs.pop(os.fsdecode(name), None) is None:
                raise pyfuse3.FUSEError(pyfuse3.ENOATTR)
            await self._set_attributes(inode, node, replace(node.attributes, xattrs=xattrs))

    # -- shutdown --------------------------------------------------------------------------

    async def flush_all(self) -> int:
        """Upload every dirty file (at unmount); the number that could not be uploaded."""
        return await self._writeback.flush_all()

    async def close(self) -> None:
        """Stop background fetches and drop the staging files (after :meth:`flush_all`)."""
        await self._reader.close()
        self._writeback.close()
