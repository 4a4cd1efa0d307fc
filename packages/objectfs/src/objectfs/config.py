"""Mount options: one frozen pydantic model, from flags, ``-o`` strings and YAML.

Sizes accept the units ``mount`` users type (:func:`parse_size`): ``"256M"``,
``"10G"``, ``"1GiB"``, ``"4096"``. Binary multiples throughout (``K`` = 1024),
as ``dd``, ``fallocate`` and FUSE tools read them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Final

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.fields import FieldInfo

__all__ = [
    "ConfigError",
    "MountOptions",
    "default_cache_dir",
    "format_size",
    "parse_mount_options",
    "parse_size",
]

KiB: Final = 1024
MiB: Final = 1024 * KiB
GiB: Final = 1024 * MiB

_SIZE = re.compile(r"^\s*([0-9]+)\s*([kmgtp]?)(i?b?)\s*$", re.IGNORECASE)
_UNITS: Final = {"": 1, "k": KiB, "m": MiB, "g": GiB, "t": 1024 * GiB, "p": 1024 * 1024 * GiB}


class ConfigError(ValueError):
    """Options that cannot be used; the message names the option or file and why."""


def parse_size(text: str) -> int:
    """``"256M"``, ``"10G"``, ``"1GiB"``, ``"4096"`` -> bytes (binary units; ``B`` optional).

    ValueError naming ``text`` for anything else (negative, fractional, unknown unit).
    """
    match = _SIZE.match(text) if isinstance(text, str) else None
    if match is None or (match.group(3).lower().startswith("i") and not match.group(2)):
        raise ValueError(f"not a size: {text!r} (expected e.g. 4096, 256M, 10G or 1GiB)")
    number, unit, _ = match.groups()
    return int(number) * _UNITS[unit.lower()]


_UNIT_NAMES: Final = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def format_size(count: float) -> str:
    """``1536`` -> ``"1.5 KiB"``: binary units (IEC 80000-13), one decimal above bytes."""
    value = float(count)
    for unit in _UNIT_NAMES[:-1]:
        if abs(value) < 1024:
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} {_UNIT_NAMES[-1]}"


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/objectfs``, else ``~/.cache/objectfs`` (XDG Base Directory spec)."""
    base = os.environ.get("XDG_CACHE_HOME")
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".cache"
    return root / "objectfs"


class MountOptions(BaseModel):
    """How one mount behaves. Sizes are bytes; times are seconds."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    read_only: bool = False
    foreground: bool = False
    cache_dir: Path = Field(default_factory=default_cache_dir)
    """The root of the caches; each mount uses a subfolder named after its URL
    (:func:`objectfs.mount.mount_cache_dir`)."""
    cache_size: int = Field(default=10 * GiB, ge=0)
    """The L2 disk block cache's bound; 0 disables it."""
    memory_cache_size: int = Field(default=256 * MiB, ge=0)
    """The L1 memory block cache's bound."""
    memory_limit: int = Field(default=1 * GiB, gt=0)
    """The daemon's memory budget, split by :func:`objectfs.budget.plan_memory`."""
    metadata_ttl: float = Field(default=300.0, ge=0)
    negative_ttl: float = Field(default=5.0, ge=0)
    """Seconds a "no such file" answer is kept, by the daemon and as the kernel's negative
    dentry, never longer than ``metadata_ttl`` (:attr:`absent_ttl`): a file another client
    creates shows within this long. NFS keeps attributes at least ``acregmin`` = 3 s; s3fs
    keeps no negative answers by default. Names missing from a cached directory listing
    are a listing's answer and follow ``metadata_ttl``."""
    block_size: int = Field(default=1 * MiB, ge=4 * KiB, le=64 * MiB)
    max_readahead: int = Field(default=64 * MiB, ge=0)
    kernel_readahead: int = Field(default=1 * MiB, ge=0)
    """The kernel's read-ahead for this mount (its ``read_ahead_kb``), set at mount when the
    daemon may (root); 0 keeps the kernel's default, 128 KiB, which splits a sequential read
    into eight FUSE requests per 1 MiB block (see :mod:`objectfs.mount`)."""
    uid: int | None = Field(default=None, ge=0)
    gid: int | None = Field(default=None, ge=0)
    umask: int = Field(default=0o022, ge=0, le=0o777)
    allow_other: bool = False
    request_timeout: float = Field(default=30.0, gt=0)
    """An S3 call slower than this fails the file operation with EIO."""
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    log_file: Path | None = None

    @property
    def absent_ttl(self) -> float:
        """Seconds negative answers are kept: ``negative_ttl``, at most ``metadata_ttl``."""
        return min(self.negative_ttl, self.metadata_ttl)

    @field_validator(
        "cache_size",
        "memory_cache_size",
        "memory_limit",
        "block_size",
        "max_readahead",
        "kernel_readahead",
        mode="before",
    )
    @classmethod
    def _size(cls, value: Any) -> Any:
        return parse_size(value) if isinstance(value, str) else value

    @field_validator("umask", mode="before")
    @classmethod
    def _octal(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return int(value, 8)
            except ValueError:
                raise ValueError(f"umask must be octal digits, got {value!r}") from None
        return value

    @classmethod
    def from_yaml(cls, path: Path) -> MountOptions:
        """Read a YAML mapping of the fields above; :class:`ConfigError` naming the file if bad."""
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path} is not valid YAML: {' '.join(str(exc).split())}") from None
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(f"{path} must be a mapping of options, got {type(data).__name__}")
        return cls.validated({str(k).replace("-", "_"): v for k, v in data.items()}, str(path))

    @classmethod
    def validated(cls, data: dict[str, Any], origin: str) -> MountOptions:
        """``MountOptions(**data)`` with pydantic's errors as one :class:`ConfigError` line."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'options'}: "
                f"{e['msg'].removeprefix('Value error, ')}"
                for e in exc.errors(include_input=False, include_url=False)
            )
            raise ConfigError(f"invalid options in {origin}: {problems}") from None


_NO_FIELD: Final = FieldInfo()
_FLAG_OPTIONS: Final = {
    "ro": ("read_only", True),
    "rw": ("read_only", False),
    "read_only": ("read_only", True),
    "allow_other": ("allow_other", True),
    "foreground": ("foreground", True),
}
"""``-o`` words without a value, as ``mount(8)`` users write them."""


def parse_mount_options(texts: list[str]) -> dict[str, Any]:
    """``["ro,uid=1000", "cache-size=2G"]`` -> ``{"read_only": True, "uid": "1000", ...}``.

    The words ``mount -o`` users know (``ro``, ``rw``, ``allow_other``) and every
    option's own name (``-`` or ``_``) with ``=value``. Values stay text for
    :class:`MountOptions` to check; ConfigError names an unknown option.
    """
    chosen: dict[str, Any] = {}
    for text in texts:
        for item in filter(None, (part.strip() for part in text.split(","))):
            name, has_value, value = item.partition("=")
            field = name.strip().replace("-", "_")
            if not has_value and field in _FLAG_OPTIONS:
                key, flag = _FLAG_OPTIONS[field]
                chosen[key] = flag
            elif has_value and field in MountOptions.model_fields:
                chosen[field] = value.strip()
            elif (
                not has_value and MountOptions.model_fields.get(field, _NO_FIELD).annotation is bool
            ):
                chosen[field] = True
            else:
                raise ConfigError(f"unknown mount option {item!r} in -o {text!r}")
    return chosen
