"""The state file that lets an interrupted ship continue where it stopped (``ship --resume``).

One small JSON document per (source directory, target URL), written before
the upload starts and removed once the inventory is stored::

    {"version": 1, "source": "/data/project", "target": "s3://bucket/prefix",
     "name": "20261121T101500Z", "compression": "zstd", "level": 3,
     "storage_class": "DEEP_ARCHIVE", "archived_at": "2026-11-21T10:15:00.123456Z",
     "base": null}

Everything that decides the archive's bytes and name is in it, so a resumed
ship regenerates the same stream (the tar packer is deterministic) under the
same key, and s3opt, with its own resume file beside this one
(:attr:`ShipState.upload_state`), skips the parts already stored after
checking their SHA-256. Written atomically (temporary file, rename).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, cast

from cargoship.errors import CargoshipError
from cargoship.layout import ArchiveKeys
from cargoship.ship._model import ShipOptions
from s3opt import ObjectStore
from s3opt.errors import S3OptError

if TYPE_CHECKING:
    from s3opt import S3Store

__all__ = [
    "STATE_VERSION",
    "ShipState",
    "default_state_dir",
    "previous_state",
    "s3_store",
    "state_path",
]

_logger = logging.getLogger(__name__)

STATE_VERSION: Final = 1


def default_state_dir() -> Path:
    """``$XDG_STATE_HOME/cargoship``, else ``~/.local/state/cargoship`` (XDG Base Directory)."""
    base = os.environ.get("XDG_STATE_HOME")
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "state"
    return root / "cargoship"


def state_path(state_dir: Path, source: Path, target: str) -> Path:
    """The state file of shipping ``source`` to ``target``."""
    digest = hashlib.sha256(f"{source}\0{target}".encode("utf-8", "surrogateescape")).hexdigest()
    return state_dir / f"ship-{digest[:32]}.json"


@dataclass(frozen=True, slots=True)
class ShipState:
    """What an interrupted ship needs to regenerate the same archive under the same name."""

    source: str
    target: str
    name: str
    compression: str
    level: int | None
    storage_class: str
    archived_at: datetime
    base: str | None
    path: Path

    @property
    def keys(self) -> ArchiveKeys:
        """The keys of the archive this ship writes."""
        return ArchiveKeys(self.name, self.compression)

    @property
    def upload_state(self) -> Path:
        """s3opt's resume file for the archive's multipart upload."""
        return self.path.with_name(self.path.stem + ".upload.json")

    def save(self) -> None:
        """Write the file atomically (its directory is created if needed)."""
        document = asdict(self)
        del document["path"]
        document["archived_at"] = self.archived_at.isoformat().replace("+00:00", "Z")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_text(json.dumps({"version": STATE_VERSION, **document}, indent=1) + "\n")
        os.replace(temporary, self.path)

    def remove(self) -> None:
        """Remove this file and s3opt's beside it (missing files are fine)."""
        for path in (self.upload_state, self.path):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    @classmethod
    def load(cls, path: Path, *, source: Path, target: str) -> ShipState | None:
        """The state at ``path``; None when there is none. CargoshipError if it is damaged
        or belongs to another ship."""
        try:
            text = path.read_text()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise CargoshipError(f"cannot read ship state {path}: {exc.strerror}") from exc
        try:
            document: dict[str, Any] = json.loads(text)
            if document.get("version") != STATE_VERSION:
                raise ValueError(f"unknown version {document.get('version')!r}")
            level = document["level"]
            state = cls(
                source=str(document["source"]),
                target=str(document["target"]),
                name=str(document["name"]),
                compression=str(document["compression"]),
                level=None if level is None else int(level),
                storage_class=str(document["storage_class"]),
                archived_at=datetime.fromisoformat(document["archived_at"]).astimezone(UTC),
                base=None if document["base"] is None else str(document["base"]),
                path=path,
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise CargoshipError(f"damaged ship state {path}: {exc}") from exc
        if (state.source, state.target) != (str(source), target):
            raise CargoshipError(
                f"ship state {path} belongs to {state.source} -> {state.target}, "
                f"not {source} -> {target}"
            )
        return state


def s3_store(store: ObjectStore) -> S3Store | None:
    """``store`` if it is an :class:`s3opt.S3Store`, else None, asked without importing
    aiobotocore: ``s3opt`` loads it with ``S3Store`` on first use, and no S3Store exists
    before that (a ship to ``file://`` then never pays for loading it)."""
    module = sys.modules.get("s3opt.s3store")
    if module is None or not isinstance(store, module.S3Store):
        return None
    return cast("S3Store", store)


async def previous_state(
    store: ObjectStore, root: Path, options: ShipOptions
) -> tuple[Path | None, ShipState | None]:
    """Where this ship keeps its state (None: not resumable), and the state to resume.

    Only uploads to S3 are resumable (s3opt keeps their parts); a state left by an
    earlier interrupted ship is resumed with ``options.resume``, else abandoned.
    """
    if options.resume and options.dry_run:
        raise CargoshipError("--resume and --dry-run exclude each other")
    s3 = s3_store(store)
    if s3 is None or options.dry_run:
        if options.resume:
            raise CargoshipError(
                "nothing to resume: --resume continues an interrupted upload to s3://"
            )
        return None, None
    target = str(s3.url)
    state_file = state_path(options.state_dir or default_state_dir(), root, target)
    existing = await asyncio.to_thread(ShipState.load, state_file, source=root, target=target)
    if options.resume:
        if existing is None:
            raise CargoshipError(
                f"nothing to resume: no interrupted ship of {root} to {target} "
                f"(no state file {state_file})"
            )
        await _abort_inventory_uploads(s3, existing)
        return state_file, existing
    if existing is not None:
        await _abandon(s3, existing)
    return state_file, None


async def _abort_inventory_uploads(store: S3Store, state: ShipState) -> None:
    """Abort the multipart uploads of the interrupted ship's inventory: its parts travel
    beside the archive's last ones, so a ship killed then leaves one pending (and billed)."""
    key = state.keys.inventory
    try:
        for upload in await store.pending_uploads(key):
            if upload.key == key:
                await store.abort_upload(key, upload.upload_id)
    except S3OptError as exc:
        _logger.warning("could not abort the upload of %s: %s", key, exc)


async def _abandon(store: S3Store, state: ShipState) -> None:
    """Give up an interrupted ship: abort its multipart uploads (archive and inventory),
    delete what it stored of an archive that never got its inventory (index, page table,
    the archive object itself if its upload had completed), and forget its state."""
    _logger.warning(
        "abandoning the interrupted ship of %s to %s (archive %s); starting a new one",
        state.source,
        state.target,
        state.name,
    )
    # s3opt.transfer loads botocore: imported here, by ships to S3 only.
    from s3opt.transfer.resume import ResumeState

    keys = state.keys
    key = keys.archive
    await _abort_inventory_uploads(store, state)
    if state.upload_state.exists():
        try:
            upload = ResumeState.load(
                state.upload_state, bucket=store.bucket, key=store.url.join(key).key
            )
            await store.abort_upload(key, upload.upload_id)
        except S3OptError as exc:
            _logger.warning("could not abort the upload of %s: %s", key, exc)
    try:
        if not await store.exists(keys.inventory):  # else it is complete: keep it whole
            await store.delete([keys.archive, keys.index, keys.pages])
    except S3OptError as exc:
        _logger.warning("could not delete what the abandoned ship %s stored: %s", state.name, exc)
    await asyncio.to_thread(state.remove)
