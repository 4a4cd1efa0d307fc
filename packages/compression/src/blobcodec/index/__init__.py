"""The archive member index: each member of a seekable tar archive, where its bytes lie, sha256.

Built while the tar stream is written (:class:`TarIndexer`), stored in a small
versioned file (:meth:`ArchiveIndex.dumps`, layouts in :mod:`blobcodec.index._model`
and :mod:`blobcodec.index._pages`), and used to fetch one member with one ranged
read (:func:`read_member`). The index is paged: a reader after a few members fetches
its directory and their pages only (:func:`read_members_async`). A packer with more
members than it should hold in memory compresses their pages to a file as it goes
(:class:`IndexSpool`) and streams the index from it.
"""

from blobcodec.index._dump import IndexSpool as IndexSpool
from blobcodec.index._indexer import TarIndexer as TarIndexer
from blobcodec.index._model import INDEX_FORMAT_VERSION as INDEX_FORMAT_VERSION
from blobcodec.index._model import ArchiveIndex as ArchiveIndex
from blobcodec.index._model import Member as Member
from blobcodec.index._model import MemberType as MemberType
from blobcodec.index._pages import FIRST_READ_BYTES as FIRST_READ_BYTES
from blobcodec.index._pages import read_members_async as read_members_async
from blobcodec.index._read import read_member as read_member
from blobcodec.index._read import read_member_async as read_member_async

__all__ = [
    "FIRST_READ_BYTES",
    "INDEX_FORMAT_VERSION",
    "ArchiveIndex",
    "IndexSpool",
    "Member",
    "MemberType",
    "TarIndexer",
    "read_member",
    "read_member_async",
    "read_members_async",
]
