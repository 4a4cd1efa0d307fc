"""The on-disk layout of :class:`s3opt.LocalStore`: where a key's bytes and metadata live.

The layout is described in :mod:`s3opt.local`; this module is its one
implementation. It escapes key segments into file names and back, maps keys to
paths (including an object ``a`` kept as ``a/.%self`` beside ``a/...`` keys,
and the ``a.%mig`` directory of an interrupted move), reads and writes the
``.%meta`` sidecar records, lists a directory's objects in S3 key order, and
removes objects and the directories they leave empty.

It knows nothing of key prefixes, threads or the ObjectStore contract. Every
function that creates, renames or removes files expects the caller to hold the
store's lock; ``fsync`` says whether to make such changes durable.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

__all__ = [
    "EMPTY_SEGMENT",
    "META_DIR",
    "MIG_SUFFIX",
    "SELF",
    "SIDECAR_VERSION",
    "TMP_PREFIX",
    "Entry",
    "Hasher",
    "Sidecar",
    "children",
    "data_path",
    "ensure_dir",
    "escape_segment",
    "find_dir",
    "fsync_dir",
    "is_dir",
    "is_file",
    "prune",
    "read_sidecar",
    "remove_object",
    "sidecar_of",
    "sidecar_path",
    "unescape_name",
    "walk",
    "write_sidecar",
]

META_DIR: Final = ".%meta"
"""The directory, beside the objects, holding their sidecar records."""
SELF: Final = ".%self"
"""The name of object ``a`` inside directory ``a`` when ``a/...`` keys exist too."""
TMP_PREFIX: Final = ".%tmp-"
"""Temporary files being written; listings ignore them."""
MIG_SUFFIX: Final = ".%mig"
"""Directory ``a`` while object ``a`` is moved into it."""
EMPTY_SEGMENT: Final = "%00"
"""The file name of an empty key segment."""
SIDECAR_VERSION: Final = 1
"""The format version written into every sidecar record."""


# -- names and file types ---------------------------------------------------------------------


def escape_segment(segment: str) -> str:
    """The file name for one key segment (``%`` -> ``%25``, empty -> ``%00``)."""
    return segment.replace("%", "%25") if segment else EMPTY_SEGMENT


def unescape_name(name: str) -> str | None:
    """The key segment a file name stands for, or ``None`` for names the store did not write."""
    segment = "" if name == EMPTY_SEGMENT else name.replace("%25", "%")
    return segment if escape_segment(segment) == name else None


def is_dir(path: Path) -> bool:
    """Whether ``path`` is a directory itself (a symbolic link to one is not)."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def is_file(path: Path) -> bool:
    """Whether ``path`` is a regular file itself (a symbolic link to one is not)."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def fsync_dir(path: Path) -> None:
    """Make the entries of directory ``path`` (creations, renames, removals) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- keys to paths ----------------------------------------------------------------------------


def find_dir(root: Path, segments: list[str]) -> Path | None:
    """The directory for a key prefix's segments, or ``None`` if nothing is stored under it."""
    current = root
    for segment in segments:
        if segment in (".", "..") or "\x00" in segment:
            return None
        name = escape_segment(segment)
        if is_dir(current / name):
            current = current / name
        elif is_dir(current / (name + MIG_SUFFIX)):
            current = current / (name + MIG_SUFFIX)
        else:
            return None
    return current


def ensure_dir(root: Path, segments: list[str], *, fsync: bool) -> Path:
    """Create the directories for ``segments`` (caller holds the lock); move objects aside."""
    root.mkdir(parents=True, exist_ok=True)
    current = root
    for segment in segments:
        natural = current / escape_segment(segment)
        parked = current / (escape_segment(segment) + MIG_SUFFIX)
        if not is_dir(natural):
            if is_file(natural):
                # Object "a" must become "a/.%self" so that "a/..." can exist.
                parked.mkdir(exist_ok=True)
                os.replace(natural, parked / SELF)
            if is_dir(parked):
                os.replace(parked, natural)
            else:
                natural.mkdir()
            if fsync:
                fsync_dir(current)
        current = natural
    return current


def data_path(root: Path, full_key: str) -> Path | None:
    """The file holding ``full_key``'s bytes, or ``None`` if there is no such object."""
    segments = full_key.split("/")
    directory = find_dir(root, segments[:-1])
    if directory is None:
        return None
    name = escape_segment(segments[-1])
    for candidate in (
        directory / name,
        directory / name / SELF,
        directory / (name + MIG_SUFFIX) / SELF,
    ):
        if is_file(candidate):
            return candidate
    return None


def remove_object(root: Path, full_key: str) -> None:
    """Remove ``full_key``'s bytes and sidecar, if any, and prune (caller holds the lock)."""
    segments = full_key.split("/")
    directory = find_dir(root, segments[:-1])
    if directory is None:
        return
    name = escape_segment(segments[-1])
    for candidate in (
        directory / name,
        directory / name / SELF,
        directory / (name + MIG_SUFFIX) / SELF,
        sidecar_of(directory, name),
    ):
        if is_file(candidate) or os.path.islink(candidate):
            os.unlink(candidate)
    prune(root, directory / (name + MIG_SUFFIX))
    prune(root, directory / name)
    prune(root, directory)


def prune(root: Path, directory: Path) -> None:
    """Remove ``directory`` and parents while they hold no objects (caller holds the lock)."""
    current = directory
    while True:
        with contextlib.suppress(OSError):
            (current / META_DIR).rmdir()
        if current == root or root not in current.parents:
            return
        try:
            current.rmdir()
        except OSError:
            return
        current = current.parent


# -- sidecar records --------------------------------------------------------------------------


@dataclass(slots=True)
class Sidecar:
    """What a sidecar records beyond the file itself: ETag, SHA-256, user metadata, storage
    class, tags.

    Records written before storage classes and tags were kept have neither: they read
    as STANDARD, untagged.
    """

    etag: str
    sha256: str
    metadata: dict[str, str]
    storage_class: str = "STANDARD"
    tags: dict[str, str] = field(default_factory=dict)


class Hasher:
    """The MD5 (the single-part ETag) and SHA-256 of bytes as they pass."""

    def __init__(self) -> None:
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.sha256 = hashlib.sha256()
        self.size = 0

    def update(self, chunk: bytes) -> None:
        self.md5.update(chunk)
        self.sha256.update(chunk)
        self.size += len(chunk)


def sidecar_of(directory: Path, name: str) -> Path:
    """The sidecar of the object whose escaped last segment is ``name``, in ``directory``."""
    return directory / META_DIR / f"{name}.json"


def sidecar_path(data_path: Path, full_key: str) -> Path:
    """The sidecar of the object whose bytes are in ``data_path``."""
    directory = data_path.parent
    if data_path.name == SELF:
        directory = directory.parent
    return sidecar_of(directory, escape_segment(full_key.rsplit("/", 1)[-1]))


def read_sidecar(data_path: Path, full_key: str, st: os.stat_result) -> Sidecar | None:
    """The sidecar of ``full_key`` if it matches the file whose status is ``st``, else ``None``."""
    try:
        with open(sidecar_path(data_path, full_key), encoding="utf-8") as src:
            record = json.load(src)
    except (OSError, ValueError):
        return None
    if (
        not isinstance(record, dict)
        or record.get("version") != SIDECAR_VERSION
        or record.get("key") != full_key
        or record.get("ino") != st.st_ino
        or record.get("size") != st.st_size
        or record.get("mtime_ns") != st.st_mtime_ns
    ):
        return None
    metadata = record.get("metadata")
    storage_class = record.get("storage_class", "STANDARD")
    tags = record.get("tags")
    return Sidecar(
        etag=str(record.get("etag")),
        sha256=str(record.get("sha256")),
        metadata=dict(metadata) if isinstance(metadata, dict) else {},
        storage_class=str(storage_class),
        tags=dict(tags) if isinstance(tags, dict) else {},
    )


def write_sidecar(
    directory: Path, full_key: str, st: os.stat_result, sidecar: Sidecar, *, fsync: bool
) -> Path:
    """Write the record of ``full_key`` (data file status ``st``) to a new temporary file.

    The file is in ``directory``'s sidecar folder, which is created if need be;
    the caller holds the lock and renames it over :func:`sidecar_of`.
    """
    record = {
        "version": SIDECAR_VERSION,
        "key": full_key,
        "size": st.st_size,
        "etag": sidecar.etag,
        "sha256": sidecar.sha256,
        "metadata": sidecar.metadata,
        "storage_class": sidecar.storage_class,
        "tags": sidecar.tags,
        "ino": st.st_ino,
        "mtime_ns": st.st_mtime_ns,
    }
    meta_dir = directory / META_DIR
    meta_dir.mkdir(exist_ok=True)
    meta_tmp = meta_dir / f"{TMP_PREFIX}{uuid.uuid4().hex}"
    with open(meta_tmp, "x", encoding="utf-8") as out:
        json.dump(record, out)
        out.flush()
        if fsync:
            os.fsync(out.fileno())
    return meta_tmp


# -- listing ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Entry:
    """One child of a directory in key order: an object or a sub-prefix."""

    segment: str
    path: Path
    is_object: bool

    @property
    def sort_key(self) -> str:
        # Every key under a directory starts with "<segment>/", so the directory sorts as that.
        return self.segment if self.is_object else self.segment + "/"


def children(directory: Path) -> list[Entry]:
    """The objects and sub-prefixes directly in ``directory``, in S3 key order."""
    entries: list[Entry] = []
    try:
        names = os.listdir(directory)
    except (FileNotFoundError, NotADirectoryError):
        return entries
    present = set(names)
    for name in names:
        path = directory / name
        if name.endswith(MIG_SUFFIX):
            natural = name[: -len(MIG_SUFFIX)]
            segment = unescape_name(natural)
            if segment is None or natural in present or not is_dir(path):
                continue
        else:
            segment = unescape_name(name)
            if segment is None:
                continue  # the store's own files, or names it did not write
        if is_dir(path):
            entries.append(Entry(segment, path, is_object=False))
            if is_file(path / SELF):
                entries.append(Entry(segment, path / SELF, is_object=True))
        elif is_file(path):
            entries.append(Entry(segment, path, is_object=True))
    entries.sort(key=lambda entry: entry.sort_key)
    return entries


def walk(directory: Path, key_prefix: str, partial: str) -> Iterator[tuple[str, Path]]:
    """(full key, data path) of every object below ``directory`` in key order.

    Only children whose segment starts with ``partial`` are visited at the top level.
    """
    for entry in children(directory):
        if not entry.segment.startswith(partial):
            continue
        if entry.is_object:
            yield key_prefix + entry.segment, entry.path
        else:
            yield from walk(entry.path, key_prefix + entry.segment + "/", "")
