"""s3opt: an adaptive async S3 client, steered by a congestion controller.

    import asyncio
    from s3opt import S3Config, open_store

    async def main() -> None:
        async with open_store("s3://my-bucket/backups", S3Config.load()) as store:
            await store.upload("db.dump", Path("db.dump"))

Every store satisfies :class:`ObjectStore`; :class:`S3Store` also satisfies
:class:`ColdStorage` (restores, part checksums, lifecycle rules, tags). Errors
are the typed ones of :mod:`s3opt.errors`.

``import s3opt`` does not load aiobotocore: :class:`S3Store` is imported on
first use (``s3opt.S3Store``, or :func:`open_store` with an ``s3://`` URL), so
tools that only parse URLs or use ``file://`` targets start quickly.
"""

from typing import TYPE_CHECKING

from s3opt._version import __version__ as __version__
from s3opt.config import S3Config as S3Config
from s3opt.errors import S3OptError as S3OptError
from s3opt.local import LocalStore as LocalStore
from s3opt.protocols import ColdStorage as ColdStorage
from s3opt.protocols import CommonPrefix as CommonPrefix
from s3opt.protocols import ObjectInfo as ObjectInfo
from s3opt.protocols import ObjectStore as ObjectStore
from s3opt.protocols import PartInfo as PartInfo
from s3opt.protocols import RestoreStatus as RestoreStatus
from s3opt.stores import open_store as open_store
from s3opt.url import parse_url as parse_url

if TYPE_CHECKING:
    from s3opt.s3store import S3Store as S3Store

__all__ = [
    "ColdStorage",
    "CommonPrefix",
    "LocalStore",
    "ObjectInfo",
    "ObjectStore",
    "PartInfo",
    "RestoreStatus",
    "S3Config",
    "S3OptError",
    "S3Store",
    "__version__",
    "open_store",
    "parse_url",
]


def __getattr__(name: str) -> object:
    """``s3opt.S3Store``, imported (with aiobotocore) the first time it is asked for."""
    if name == "S3Store":
        from s3opt.s3store import S3Store

        globals()["S3Store"] = S3Store
        return S3Store
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
