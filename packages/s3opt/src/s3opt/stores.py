"""Open the right :class:`~s3opt.ObjectStore` for a URL: ``s3://`` or ``file://``.

Tools take a target URL from their users and need one object to talk to;
:func:`open_store` hides which implementation serves it::

    async with open_store("s3://bucket/prefix") as store:      # S3Store
        await store.put("hello.txt", b"hi")
    async with open_store("file:///srv/backup") as store:      # LocalStore
        await store.put("hello.txt", b"hi")

:class:`s3opt.S3Store` is imported only when an ``s3://`` URL is opened, so
``file://`` use never loads aiobotocore.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager

from s3opt.config import S3Config
from s3opt.errors import InvalidS3UrlError
from s3opt.local import LocalStore
from s3opt.protocols import ObjectStore
from s3opt.url import LocalUrl, S3Url, parse_url

__all__ = ["open_store"]


def open_store(
    url: str | S3Url | LocalUrl, config: S3Config | None = None
) -> AbstractAsyncContextManager[ObjectStore]:
    """An async context manager giving the store for ``url``, closed on exit.

    ``s3://bucket[/prefix]`` opens an :class:`s3opt.S3Store` with ``config``
    (``None``: :meth:`S3Config.from_env`, i.e. the defaults plus ``AWS_*`` and
    ``S3OPT_*`` variables). ``file:///dir`` opens a :class:`s3opt.LocalStore`
    on that directory (``config`` is not used). Anything else raises
    :class:`s3opt.errors.InvalidS3UrlError` at once.
    """
    target = parse_url(url) if isinstance(url, str) else url
    if not isinstance(target, S3Url | LocalUrl):
        raise InvalidS3UrlError(f"expected an s3:// or file:// URL, got {url!r}")
    return _opened(target, config)


@contextlib.asynccontextmanager
async def _opened(target: S3Url | LocalUrl, config: S3Config | None) -> AsyncIterator[ObjectStore]:
    if isinstance(target, LocalUrl):
        yield LocalStore(target.path)
        return
    # Imported here so that file:// use never loads aiobotocore.
    from s3opt.s3store import S3Store

    async with S3Store.open(target, config if config is not None else S3Config.from_env()) as store:
        yield store
