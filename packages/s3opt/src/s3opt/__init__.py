"""s3opt: an adaptive async S3 client, steered by a congestion controller."""

from s3opt._version import __version__ as __version__
from s3opt.errors import S3OptError as S3OptError
from s3opt.protocols import CommonPrefix as CommonPrefix
from s3opt.protocols import ObjectInfo as ObjectInfo
from s3opt.protocols import ObjectStore as ObjectStore
from s3opt.url import parse_url as parse_url

__all__ = ["CommonPrefix", "ObjectInfo", "ObjectStore", "S3OptError", "__version__", "parse_url"]
