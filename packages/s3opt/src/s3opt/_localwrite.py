"""Atomic writes for :class:`s3opt.LocalStore`: a temporary file committed by rename.

A :class:`PendingWrite` creates ``.%tmp-*`` in the destination directory,
takes the bytes (hashing them as they pass), and then either commits (fsync,
write the sidecar, rename both into place, fsync the directories) or aborts
(remove the temporary file and any directories it left empty). A reader never
sees a half-written object. Paths follow :mod:`s3opt._localfs`.
"""

from __future__ import annotations

import contextlib
import os
import threading
import uuid
from collections.abc import Mapping
from pathlib import Path

from s3opt._localfs import (
    MIG_SUFFIX,
    SELF,
    TMP_PREFIX,
    Hasher,
    Sidecar,
    ensure_dir,
    escape_segment,
    fsync_dir,
    is_dir,
    prune,
    sidecar_of,
    write_sidecar,
)

__all__ = ["PendingWrite"]


class PendingWrite:
    """A temporary file beside the destination, committed by rename or removed.

    ``lock`` is the store's lock, taken around every change to the directory
    tree; ``fsync=False`` skips the fsync calls.
    """

    def __init__(self, root: Path, lock: threading.Lock, full_key: str, fsync: bool) -> None:
        self.root = root
        self.lock = lock
        self.full_key = full_key
        self.fsync = fsync
        self.segments = full_key.split("/")
        self.hasher = Hasher()
        self.size = 0
        """Bytes written so far."""
        with lock:
            self.directory = ensure_dir(root, self.segments[:-1], fsync=fsync)
            self.tmp_path = self.directory / f"{TMP_PREFIX}{uuid.uuid4().hex}"
            self.file = open(self.tmp_path, "xb")  # noqa: SIM115 - closed in commit/abort

    def write(self, chunk: bytes) -> None:
        self.file.write(chunk)
        self.hasher.update(chunk)
        self.size += len(chunk)

    def commit(
        self,
        metadata: Mapping[str, str],
        storage_class: str = "STANDARD",
        tags: Mapping[str, str] | None = None,
    ) -> tuple[os.stat_result, Sidecar]:
        """Put the object in place; its data file's status and what its sidecar records."""
        self.file.flush()
        if self.fsync:
            os.fsync(self.file.fileno())
        st = os.fstat(self.file.fileno())
        self.file.close()
        name = escape_segment(self.segments[-1])
        sidecar = Sidecar(
            etag=self.hasher.md5.hexdigest(),
            sha256=self.hasher.sha256.hexdigest(),
            metadata=dict(metadata),
            storage_class=storage_class,
            tags=dict(tags or {}),
        )
        with self.lock:
            meta_tmp = write_sidecar(self.directory, self.full_key, st, sidecar, fsync=self.fsync)
            natural = self.directory / name
            target = natural / SELF if is_dir(natural) else natural
            os.replace(meta_tmp, sidecar_of(self.directory, name))
            os.replace(self.tmp_path, target)
            if target is natural:
                # An older copy parked by an interrupted move must not resurface.
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.directory / (name + MIG_SUFFIX) / SELF)
            if self.fsync:
                fsync_dir(meta_tmp.parent)
                fsync_dir(self.directory)
        return st, sidecar

    def abort(self) -> None:
        """Remove the temporary file and any directories left without objects."""
        with contextlib.suppress(OSError):
            self.file.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.tmp_path)
        with self.lock:
            prune(self.root, self.directory)
