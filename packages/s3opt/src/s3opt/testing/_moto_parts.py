"""moto's S3 server, plus the part list S3 gives in GetObjectAttributes.

Run as ``python -m s3opt.testing._moto_parts -H HOST -p PORT`` (what :class:`MotoServer`
starts by default); it takes moto's server arguments. moto 5.2 answers GetObjectAttributes
without ``ObjectParts`` ("not yet returned: ... ObjectParts" in ``moto/s3/models.py``), so a
client that checks a multipart object's parts against what it uploaded (s3opt's
``part_checksums``, ``cargoship verify --quick``) could not be tested against it. This
launcher adds the element to moto's answer, in the server process only, as the S3 API
Reference describes it (``GetObjectAttributesParts``):

* for an object completed from a multipart upload: ``PartsCount`` (the parts named in its
  CompleteMultipartUpload), ``PartNumberMarker``, ``MaxParts``, ``IsTruncated`` and, when
  truncated, ``NextPartNumberMarker``; the request's ``x-amz-max-parts`` (default 1,000)
  and ``x-amz-part-number-marker`` page through them;
* a ``Part`` element (``PartNumber``, ``Size``, ``Checksum<ALGORITHM>``) for each part only
  when the upload was created with a checksum algorithm, as S3 does for general purpose
  buckets, and only for the algorithms :mod:`hashlib` computes (SHA256, SHA1). The checksum
  is computed from the bytes moto stored for the part when the upload completes (moto
  closes the parts' buffers then), which is what S3 keeps for a part it accepted.

Everything else is moto's own answer, unchanged. moto's CopyObject shares the source's
part list with the copy; the element is added only when the object's ETag names as many
parts as the list has and their sizes add up to the object, so a copy whose ETag is not a
multipart ETag gets no part list, as on S3.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import weakref
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, TypeAlias

if TYPE_CHECKING:
    from moto.s3.models import FakeKey, FakeMultipart, S3Backend
    from moto.s3.responses import S3Response

_Answer: TypeAlias = tuple[int, dict[str, Any], str | bytes]
_Complete: TypeAlias = "Callable[[FakeMultipart, Iterator[tuple[int, str]]], Any]"

_NAMESPACE: Final = "http://s3.amazonaws.com/doc/2006-03-01/"
_DEFAULT_MAX_PARTS: Final = 1000
_HASHLIB_NAMES: Final = {"SHA256": "sha256", "SHA1": "sha1"}


@dataclass(frozen=True, slots=True)
class _Part:
    number: int
    size: int
    checksum: tuple[str, str] | None
    """``(algorithm, base64 digest)``, when the upload named an algorithm hashlib has."""


_completed: weakref.WeakKeyDictionary[FakeMultipart, list[_Part]] = weakref.WeakKeyDictionary()
"""The parts each completed upload's CompleteMultipartUpload named, in order (moto closes the
parts' buffers once the object is made, so what S3 would list is recorded then)."""

_request = threading.local()
"""The key moto's backend looked up for the GetObjectAttributes this thread answers."""


def _tag(name: str) -> str:
    return f"{{{_NAMESPACE}}}{name}"


def _add(parent: ET.Element, name: str, text: object) -> None:
    ET.SubElement(parent, _tag(name)).text = str(text)


def _completed_parts(key: FakeKey) -> list[_Part] | None:
    """The parts of ``key``'s multipart upload, or None when ``key`` is not one S3 would
    list parts for."""
    multipart = getattr(key, "multipart", None)
    parts = None if multipart is None else _completed.get(multipart)
    if parts is None:
        return None
    if not str(key.etag).strip('"').endswith(f"-{len(parts)}"):
        return None
    if sum(part.size for part in parts) != key.size:
        return None
    return parts


def _object_parts(parts: list[_Part], headers: Any) -> ET.Element:
    """The ``ObjectParts`` element for the page of ``parts`` the request's headers ask for."""
    marker = int(headers.get("x-amz-part-number-marker") or 0)
    max_parts = int(headers.get("x-amz-max-parts") or _DEFAULT_MAX_PARTS)
    after = [part for part in parts if part.number > marker]
    page, truncated = after[:max_parts], len(after) > max_parts
    element = ET.Element(_tag("ObjectParts"))
    _add(element, "PartsCount", len(parts))
    _add(element, "PartNumberMarker", marker)
    if truncated:
        _add(element, "NextPartNumberMarker", page[-1].number)
    _add(element, "MaxParts", max_parts)
    _add(element, "IsTruncated", "true" if truncated else "false")
    for part in page:
        if part.checksum is None:
            continue  # S3 lists no Part without an additional checksum
        algorithm, digest = part.checksum
        item = ET.SubElement(element, _tag("Part"))
        _add(item, "PartNumber", part.number)
        _add(item, "Size", part.size)
        _add(item, f"Checksum{algorithm}", digest)
    return element


def _recorded(multipart: FakeMultipart, numbers: list[int]) -> list[_Part]:
    algorithm = str(multipart.metadata.get("x-amz-checksum-algorithm") or "").upper()
    hashlib_name = _HASHLIB_NAMES.get(algorithm)
    parts = []
    for number in numbers:
        value = multipart.parts[number].value
        checksum = None
        if hashlib_name is not None:
            digest = hashlib.new(hashlib_name, value).digest()
            checksum = (algorithm, base64.b64encode(digest).decode("ascii"))
        parts.append(_Part(number, len(value), checksum))
    return parts


def _with_object_parts(
    answer: Callable[[S3Response], _Answer],
) -> Callable[[S3Response], _Answer]:
    def get_object_attributes(self: S3Response) -> _Answer:
        _request.key = None
        status, headers, body = answer(self)
        key, _request.key = _request.key, None
        wanted = {
            name.strip() for name in self.headers.get("x-amz-object-attributes", "").split(",")
        }
        parts = None if status != 200 or key is None else _completed_parts(key)
        if parts is None or "ObjectParts" not in wanted:
            return status, headers, body
        root = ET.fromstring(body)
        root.append(_object_parts(parts, self.headers))
        body = ET.tostring(root, encoding="utf-8", xml_declaration=True)
        for name in [name for name in headers if name.lower() == "content-length"]:
            headers[name] = str(len(body))
        return status, headers, body

    return get_object_attributes


def _remembering_key(
    look_up: Callable[[S3Backend, FakeKey, list[str]], dict[str, Any]],
) -> Callable[[S3Backend, FakeKey, list[str]], dict[str, Any]]:
    def get_object_attributes(
        self: S3Backend, key: FakeKey, attributes: list[str]
    ) -> dict[str, Any]:
        _request.key = key
        return look_up(self, key, attributes)

    return get_object_attributes


def _recording_parts(complete: _Complete) -> _Complete:
    def complete_recording(self: FakeMultipart, body: Iterator[tuple[int, str]]) -> Any:
        listed = list(body)
        result = complete(self, iter(listed))
        _completed[self] = _recorded(self, [int(number) for number, _etag in listed])
        return result

    return complete_recording


def install() -> None:
    """Patch moto's S3 classes in this process (call before moto serves a request)."""
    from moto.s3 import models, responses

    ET.register_namespace("", _NAMESPACE)  # S3's answers name it as their default namespace
    models.FakeMultipart.complete = _recording_parts(  # type: ignore[method-assign,assignment]
        models.FakeMultipart.complete
    )
    models.S3Backend.get_object_attributes = _remembering_key(  # type: ignore[method-assign,assignment]
        models.S3Backend.get_object_attributes
    )
    responses.S3Response.get_object_attributes = _with_object_parts(  # type: ignore[method-assign,assignment]
        responses.S3Response.get_object_attributes
    )


def main() -> None:
    """moto's server (its own command line) with :func:`install` applied."""
    install()
    from moto import server

    server.main()


if __name__ == "__main__":
    main()
