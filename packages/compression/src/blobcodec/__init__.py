"""blobcodec: codecs, seekable zstd archives, an archive member index, and checksums."""

from blobcodec._version import __version__ as __version__
from blobcodec.errors import BlobcodecError as BlobcodecError
from blobcodec.protocols import Codec as Codec

__all__ = ["BlobcodecError", "Codec", "__version__"]
