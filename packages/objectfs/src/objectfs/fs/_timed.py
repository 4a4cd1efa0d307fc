"""The mount's view of its store: every call bounded in time and counted by request type.

A FUSE request must never wait forever on S3 (a hung ``ls`` cannot even be
interrupted), so each call, and each step of a streamed listing or download,
gets at most ``timeout`` seconds before it fails with ``TimeoutError`` (EIO).
s3opt's own retries run inside that bound. Requests are counted in
:class:`objectfs.stats.FsCounters`; ranged reads are counted by the block
reader, which knows about its caches.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Mapping
from pathlib import Path
from typing import Final, TypeVar

from objectfs.errors import bounded
from objectfs.stats import FsCounters
from s3opt.protocols import CommonPrefix, ObjectInfo, ObjectStore, SealHook, Source

__all__ = ["TimedStore"]

T = TypeVar("T")

_LIST_PAGE: Final = 1000
"""Keys per LIST page (S3's default MaxKeys), to count pages from items."""
_UPLOAD_SLICE: Final = 8 * 1024 * 1024
"""An upload may take ``timeout`` for each this many bytes."""


class TimedStore:
    """An :class:`~s3opt.protocols.ObjectStore` whose every call ends within ``timeout``."""

    def __init__(self, store: ObjectStore, *, timeout: float, counters: FsCounters) -> None:
        self._store = store
        self._timeout = timeout
        self._counters = counters

    async def _stream(self, items: AsyncIterator[T], what: str) -> AsyncGenerator[T, None]:
        try:
            while True:
                try:
                    item = await bounded(anext(items), self._timeout, what)
                except StopAsyncIteration:
                    return
                yield item
        finally:
            close = getattr(items, "aclose", None)
            if close is not None:
                await close()

    async def head(self, key: str) -> ObjectInfo:
        self._counters.request("HEAD")
        return await bounded(self._store.head(key), self._timeout, f"HEAD {key}")

    async def get_range(
        self, key: str, offset: int, size: int, *, if_match: str | None = None
    ) -> bytes:
        call = self._store.get_range(key, offset, size, if_match=if_match)
        return await bounded(call, self._timeout, f"GET {key} @{offset}")

    async def get(self, key: str) -> AsyncGenerator[bytes, None]:
        self._counters.request("GET")
        async for chunk in self._stream(self._store.get(key), f"GET {key}"):
            self._counters.add_fetched(len(chunk))
            yield chunk

    async def put(
        self,
        key: str,
        data: bytes,
        *,
        metadata: Mapping[str, str] | None = None,
        storage_class: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> ObjectInfo:
        self._counters.request("PUT")
        self._counters.add_written(len(data))
        call = self._store.put(key, data, metadata=metadata, storage_class=storage_class, tags=tags)
        return await bounded(call, self._timeout, f"PUT {key}")

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
        """An upload of any size: ``timeout`` allowed for each 8 MiB it carries (at least once;
        an ``on_sealed`` hook's wait counts)."""
        self._counters.request("PUT")
        if isinstance(source, Path):
            size = source.stat().st_size
        else:
            size = len(source) if isinstance(source, bytes) else 0
        limit = self._timeout * max(1, -(-size // _UPLOAD_SLICE))
        call = self._store.upload(
            key,
            source,
            metadata=metadata,
            storage_class=storage_class,
            tags=tags,
            on_sealed=on_sealed,
        )
        info = await bounded(call, limit, f"PUT {key}")
        self._counters.add_written(info.size)
        return info

    async def list(self, prefix: str = "") -> AsyncGenerator[ObjectInfo, None]:
        count = 0
        async for info in self._stream(self._store.list(prefix), f"LIST {prefix}"):
            if count % _LIST_PAGE == 0:
                self._counters.request("LIST")
            count += 1
            yield info
        if count == 0:
            self._counters.request("LIST")

    async def list_dir(self, prefix: str = "") -> AsyncGenerator[ObjectInfo | CommonPrefix, None]:
        count = 0
        async for entry in self._stream(self._store.list_dir(prefix), f"LIST {prefix}"):
            if count % _LIST_PAGE == 0:
                self._counters.request("LIST")
            count += 1
            yield entry
        if count == 0:
            self._counters.request("LIST")

    async def copy(
        self,
        src_key: str,
        dst_key: str,
        *,
        metadata: Mapping[str, str] | None = None,
        source_if_match: str | None = None,
    ) -> ObjectInfo:
        """Server-side copy; ``metadata`` replaces the headers (``src_key == dst_key`` allowed);
        ``source_if_match``: only from that version (else ``ObjectChangedError``)."""
        self._counters.request("COPY")
        call = self._store.copy(
            src_key, dst_key, metadata=metadata, source_if_match=source_if_match
        )
        return await bounded(call, self._timeout, f"COPY {src_key} -> {dst_key}")

    async def delete(self, keys: Iterable[str]) -> None:
        batch = list(keys)
        self._counters.request("DELETE", max(1, -(-len(batch) // 1000)))
        await bounded(self._store.delete(batch), self._timeout, f"DELETE {len(batch)} keys")
