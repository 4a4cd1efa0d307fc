"""blobcodec: codecs, seekable zstd archives, an archive member index, and checksums.

    from blobcodec import get_codec
    codec = get_codec("zstd", level=3)
    assert codec.decompress(codec.compress(b"data")) == b"data"

The seekable container and the member index live in :mod:`blobcodec.seekable`
and :mod:`blobcodec.index`; checksums in :mod:`blobcodec.checksum`; ustar and pax
header fields (read and written) in :mod:`blobcodec.tarformat`.
"""

from blobcodec._version import __version__ as __version__
from blobcodec.choose import Choice as Choice
from blobcodec.choose import choose as choose
from blobcodec.errors import BlobcodecError as BlobcodecError
from blobcodec.protocols import Codec as Codec
from blobcodec.registry import get_codec as get_codec
from blobcodec.registry import names as names

__all__ = ["BlobcodecError", "Choice", "Codec", "__version__", "choose", "get_codec", "names"]
