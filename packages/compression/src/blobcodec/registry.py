"""Codecs by name: the names that inventories and CLI options carry.

An inventory records ``compression: "zstd"``; :func:`get_codec` turns such a
name (and an optional level) back into a codec. The set of codecs is fixed:
zstd, lz4, gzip and none.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from blobcodec.errors import UnknownCodecError
from blobcodec.gz import GzipCodec
from blobcodec.lz4_codec import Lz4Codec
from blobcodec.none_codec import NoneCodec
from blobcodec.protocols import Codec
from blobcodec.zstd_codec import ZstdCodec

__all__ = ["get_codec", "names"]


_CODECS: dict[str, Callable[..., Codec]] = {
    "gzip": GzipCodec,
    "lz4": Lz4Codec,
    "none": NoneCodec,
    "zstd": ZstdCodec,
}


def names() -> tuple[str, ...]:
    """The registered codec names, sorted."""
    return tuple(sorted(_CODECS))


def get_codec(name: str, level: int | None = None, **options: Any) -> Codec:
    """The codec called ``name`` at ``level`` (its default when None).

    ``options`` go to the codec's constructor (``threads`` for zstd). Raises
    :class:`UnknownCodecError` for an unknown name, ValueError for a level the
    codec does not have, TypeError for an option it does not take.
    """
    factory = _CODECS.get(name)
    if factory is None:
        raise UnknownCodecError(f"unknown codec {name!r}; known codecs: {', '.join(names())}")
    if level is not None:
        if factory is NoneCodec:
            raise ValueError(f"level={level}: the 'none' codec has no levels (pass level=None)")
        options["level"] = level
    return factory(**options)
