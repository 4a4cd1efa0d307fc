"""Which object version the kernel's page cache holds for each inode, to keep it across opens.

A FUSE ``open`` reply without ``FOPEN_KEEP_CACHE`` makes the kernel drop the
inode's cached pages (libfuse ``fuse_file_info.keep_cache``; Linux
``fs/fuse/file.c``), so without it every re-read of a file reaches the daemon.
With it (pyfuse3's ``FileInfo`` sets it unless told otherwise), the pages
stay, and they must then be bytes of the object the open sees.
:class:`KernelPages` records, per inode, the version ``(ETag, size)`` whose
bytes are the only ones the kernel can be holding for it; ``open`` keeps the
cache exactly when the object it just HEADed is that version.

How each change keeps the record true:

* the same ETag and size mean the same bytes (S3's ETag is a digest of the
  contents, or of its parts' digests);
* pages of a version come only from reads through handles that opened it
  (``If-Match`` pins their GETs to its ETag); a read through a handle of
  another version (opened before the object was replaced, and served from the
  daemon's memory cache) makes the record unknown, and unknown is never kept;
* writing opens (``O_TRUNC`` too) and opens of a file being written (staged by
  :mod:`objectfs.writeback`) record no version and keep nothing, so a version
  is recorded only while no handle can write the file; writes and truncates
  through the mount change the kernel's pages as they change the file, and
  end in an upload with a new ETag;
* an upload, a replacement behind the mount's back, a rename over the file or a
  delete and re-create elsewhere all give the object another ETag, and the next
  open sees that; a name the mount removes and creates again gets a new inode
  (:mod:`objectfs.inodes` never reuses numbers), as does every inode after a
  remount. A header-only rewrite (chmod and the like) keeps the ETag of a
  single-part object; where it changes one (a multipart object copied whole),
  the pages are read again once.

The record of an inode the kernel forgets is dropped with it.
"""

from __future__ import annotations

__all__ = ["KernelPages", "Version"]

Version = tuple[str, int]
"""An object version as the kernel's pages know it: ``(ETag, size)``."""


class KernelPages:
    """Per inode, the one object version the kernel's cached pages may belong to."""

    def __init__(self) -> None:
        self._versions: dict[int, Version] = {}

    def __len__(self) -> int:
        return len(self._versions)

    def opened(self, inode: int, version: Version | None) -> bool:
        """An open of ``version`` (``None``: pages of no one version); whether the kernel may
        keep its pages. Afterwards only ``version``'s bytes can be cached (kept or dropped)."""
        keep = version is not None and self._versions.get(inode) == version
        if version is None:
            self._versions.pop(inode, None)
        else:
            self._versions[inode] = version
        return keep

    def filled(self, inode: int, version: Version) -> None:
        """The kernel is caching bytes of ``version`` (a read); another one makes it unknown."""
        if self._versions.get(inode) != version:
            self._versions.pop(inode, None)

    def forgotten(self, inode: int) -> None:
        """The kernel forgot ``inode`` (and its pages with it)."""
        self._versions.pop(inode, None)
