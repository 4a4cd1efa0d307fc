"""objectfs: mount an S3 bucket or prefix as a POSIX filesystem (FUSE, pyfuse3 on asyncio).

objectfs s3://bucket/prefix /mnt/data        # the command line (objectfs --help)

from objectfs import MountOptions, serve      # or from Python, on any s3opt ObjectStore
await serve(store, Path("/mnt/data"), MountOptions(), fsname="s3://bucket/prefix")
"""

from objectfs._version import __version__ as __version__
from objectfs.config import MountOptions as MountOptions
from objectfs.config import parse_size as parse_size
from objectfs.mount import MountError as MountError
from objectfs.mount import serve as serve

__all__ = ["MountError", "MountOptions", "__version__", "parse_size", "serve"]
