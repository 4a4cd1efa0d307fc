"""s3opt's configuration: one frozen pydantic model, from YAML, the environment and flags.

Precedence, highest first::

    explicit values (CLI flags, keyword overrides)  >  AWS_* / S3OPT_* environment
        >  the YAML file  >  the defaults below

:meth:`S3Config.from_env` applies the first two over an optional base (e.g.
the result of :meth:`S3Config.from_yaml`); :meth:`S3Config.load` does all
three in one call. Credentials left unset here are found by botocore's
standard chain (environment, shared profile, container or instance
metadata). Secrets are :class:`pydantic.SecretStr`: ``repr``, ``str`` and
``model_dump_json`` print ``'**********'``, never the value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic import model_validator as _model_validator

__all__ = [
    "MAX_PARTS",
    "MAX_PART_SIZE",
    "MIN_PART_SIZE",
    "ConfigError",
    "RetryConfig",
    "S3Config",
    "parse_controller",
]

MiB: Final = 2**20
GiB: Final = 2**30
MIN_PART_SIZE: Final = 5 * MiB
"""S3's smallest multipart part (except the last)."""
MAX_PART_SIZE: Final = 5 * GiB
"""S3's largest part."""
MAX_PARTS: Final = 10_000
"""S3's most parts in one multipart upload."""

_FIXED = re.compile(r"^fixed:([1-9][0-9]*)$")


class ConfigError(ValueError):
    """A configuration file or variable that cannot be used; the message says which and why."""


def parse_controller(spec: str) -> tuple[str, int | None]:
    """``"bbr"`` -> ``("bbr", None)``, ``"fixed:10"`` -> ``("fixed", 10)``; ValueError otherwise."""
    text = spec.strip().lower()
    if text in ("bbr", "cubic"):
        return text, None
    match = _FIXED.match(text)
    if match:
        return "fixed", int(match.group(1))
    raise ValueError(f"controller must be 'bbr', 'cubic' or 'fixed:N' (N >= 1), got {spec!r}")


class RetryConfig(BaseModel):
    """How s3opt retries throttled and transient failures (full-jitter exponential backoff)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_attempts: int = Field(default=10, ge=1)
    """Attempts per request, the first one included."""
    base_delay: float = Field(default=0.1, gt=0)
    """Seconds; the n-th retry waits up to ``min(max_delay, base_delay * 2**n)``."""
    max_delay: float = Field(default=20.0, gt=0)
    """Seconds; the longest single backoff."""
    deadline: float = Field(default=600.0, gt=0)
    """Seconds; the most one request may take, all attempts and backoffs included."""

    @_model_validator(mode="after")
    def _delays_ordered(self) -> RetryConfig:
        if self.max_delay < self.base_delay:
            raise ValueError(
                f"max_delay ({self.max_delay}) must be >= base_delay ({self.base_delay})"
            )
        return self


class S3Config(BaseModel):
    """Where and how s3opt talks to S3. Frozen: derive changes with ``model_copy(update=...)``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    endpoint_url: str | None = None
    """``None`` for AWS; ``http://127.0.0.1:PORT`` for moto, MinIO, Ceph and the like."""
    region: str | None = None
    profile: str | None = None
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = None
    session_token: SecretStr | None = None
    addressing_style: Literal["auto", "path", "virtual"] = "auto"
    controller: str = "bbr"
    """``bbr`` (default), ``cubic`` or ``fixed:N``: what steers concurrency."""
    part_size_min: int = 5 * MiB
    """The smallest multipart part s3opt chooses (S3 allows 5 MiB to 5 GiB).

    S3's own minimum: a transfer ends when its last part does, and that part moves
    at one connection's rate, so smaller parts end sooner (1 GiB uploaded through
    the benchmark's ``far`` path, 4 MB/s a connection: 52-54 MB/s with 8 MiB
    parts, 55-56 with 5 MiB, alternated in one run)."""
    part_size_max: int = 512 * MiB
    """The largest multipart part s3opt chooses."""
    multipart_threshold: int = Field(default=8 * MiB, ge=1)
    """Objects at least this big go multipart; smaller ones take a single PUT.

    A single PUT moves at one connection's rate; multipart sends its parts side by side
    but costs two more round trips (create, complete). With parts of ``P`` bytes, an
    object of ``S`` bytes gains when ``S - P`` takes longer than those two round trips at
    one connection's rate, about 6 MiB on the benchmark's ``wan`` and ``far`` paths.
    8 MiB is boto3's and the AWS CLI's default too. Measured through the emulator, one
    object, single PUT against multipart: 12 MiB on ``far`` (4 MB/s a connection, 150 ms)
    3.32 against 1.76 s, on ``wan`` 1.32 against 0.65 s, on ``lan`` 0.09 against 0.07 s;
    6 MiB on ``far`` 1.71 against 1.76 s."""
    max_connections: int = Field(default=64, ge=1, le=4096)
    """The HTTP pool size; also the limiter's ceiling on concurrent requests."""
    retry: RetryConfig = RetryConfig()
    connect_timeout: float = Field(default=10.0, gt=0)
    read_timeout: float = Field(default=60.0, gt=0)
    """Seconds one attempt may take, reading the body included."""
    accelerate: bool = False
    """Use S3 Transfer Acceleration; falls back to the normal endpoint when the bucket lacks it."""
    circuit_failures: int = Field(default=5, ge=1)
    """Consecutive connect or transient failures that open an endpoint's circuit breaker."""
    circuit_cooldown: float = Field(default=10.0, gt=0)
    """Seconds an open breaker waits before letting one probe through."""

    @field_validator("controller")
    @classmethod
    def _check_controller(cls, value: str) -> str:
        name, n = parse_controller(value)
        return name if n is None else f"fixed:{n}"

    @field_validator("part_size_min", "part_size_max")
    @classmethod
    def _check_part_size(cls, value: int) -> int:
        if not MIN_PART_SIZE <= value <= MAX_PART_SIZE:
            raise ValueError(
                f"{value} bytes is outside S3's part size limits: "
                f"5 MiB ({MIN_PART_SIZE}) to 5 GiB ({MAX_PART_SIZE})"
            )
        return value

    @field_validator("endpoint_url")
    @classmethod
    def _check_endpoint(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"endpoint_url must start with http:// or https://, got {value!r}")
        return value.rstrip("/")

    @_model_validator(mode="after")
    def _check_sizes(self) -> S3Config:
        if self.part_size_max < self.part_size_min:
            raise ValueError(
                f"part_size_max ({self.part_size_max}) must be >= part_size_min "
                f"({self.part_size_min})"
            )
        if self.secret_access_key is not None and self.access_key_id is None:
            raise ValueError("secret_access_key is set but access_key_id is not")
        if self.access_key_id is not None and self.secret_access_key is None:
            raise ValueError("access_key_id is set but secret_access_key is not")
        return self

    @property
    def controller_name(self) -> str:
        """``"bbr"``, ``"cubic"`` or ``"fixed"``."""
        return parse_controller(self.controller)[0]

    # -- loading ---------------------------------------------------------------------------

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]) -> S3Config:
        """Read a YAML mapping of the fields above (``retry:`` nested); ConfigError if invalid."""
        file = Path(path)
        try:
            data = yaml.safe_load(file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read s3opt config {file}: {exc.strerror or exc}") from exc
        except yaml.YAMLError as exc:
            first = " ".join(str(exc).split())
            raise ConfigError(f"s3opt config {file} is not valid YAML: {first}") from exc
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(
                f"s3opt config {file} must be a mapping of settings, got {type(data).__name__}"
            )
        return cls._validated(data, f"s3opt config {file}")

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        base: S3Config | None = None,
        **overrides: Any,
    ) -> S3Config:
        """``base`` (or the defaults), then the environment, then ``overrides`` (``None`` skipped).

        Variables: AWS_ENDPOINT_URL_S3 (over AWS_ENDPOINT_URL), AWS_REGION (over
        AWS_DEFAULT_REGION), AWS_PROFILE, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
        AWS_SESSION_TOKEN, AWS_MAX_ATTEMPTS, and S3OPT_CONTROLLER, S3OPT_MAX_CONNECTIONS,
        S3OPT_PART_SIZE_MIN, S3OPT_PART_SIZE_MAX, S3OPT_MULTIPART_THRESHOLD,
        S3OPT_CONNECT_TIMEOUT, S3OPT_READ_TIMEOUT, S3OPT_ACCELERATE.
        """
        env = os.environ if environ is None else environ
        data: dict[str, Any] = base.model_dump() if base is not None else {}
        # model_dump keeps SecretStr objects as they are, so secrets survive the round trip.
        retry: dict[str, Any] = dict(data.get("retry") or {})
        for name, field in _ENV_FIELDS:
            value = env.get(name)
            if value:
                data[field] = value
        endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
        if endpoint:
            data["endpoint_url"] = endpoint
        region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
        if region:
            data["region"] = region
        if env.get("AWS_MAX_ATTEMPTS"):
            retry["max_attempts"] = env["AWS_MAX_ATTEMPTS"]
        if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
            # A key pair from the environment replaces the base's pair as a whole.
            data["access_key_id"] = env["AWS_ACCESS_KEY_ID"]
            data["secret_access_key"] = env["AWS_SECRET_ACCESS_KEY"]
            data["session_token"] = env.get("AWS_SESSION_TOKEN") or None
        for field, value in overrides.items():
            if value is None:
                continue
            if field == "retry" and isinstance(value, Mapping):
                retry.update(value)
            elif field == "retry" and isinstance(value, RetryConfig):
                retry = value.model_dump()
            else:
                data[field] = value
        if retry:
            data["retry"] = retry
        return cls._validated(data, "s3opt configuration (environment and flags)")

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str] | None = None,
        environ: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> S3Config:
        """The whole precedence chain: ``overrides`` > environment > YAML ``path`` > defaults."""
        base = cls.from_yaml(path) if path is not None else None
        return cls.from_env(environ, base=base, **overrides)

    @classmethod
    def _validated(cls, data: Mapping[str, Any], origin: str) -> S3Config:
        try:
            return cls.model_validate(dict(data))
        except ValidationError as exc:
            raise ConfigError(f"invalid {origin}: {_describe(exc)}") from None


_ENV_FIELDS: Final = (
    ("AWS_PROFILE", "profile"),
    ("S3OPT_CONTROLLER", "controller"),
    ("S3OPT_MAX_CONNECTIONS", "max_connections"),
    ("S3OPT_PART_SIZE_MIN", "part_size_min"),
    ("S3OPT_PART_SIZE_MAX", "part_size_max"),
    ("S3OPT_MULTIPART_THRESHOLD", "multipart_threshold"),
    ("S3OPT_CONNECT_TIMEOUT", "connect_timeout"),
    ("S3OPT_READ_TIMEOUT", "read_timeout"),
    ("S3OPT_ACCELERATE", "accelerate"),
)


def _describe(exc: ValidationError) -> str:
    """Pydantic's errors on one line, without the offending input (it may be a secret)."""
    parts = []
    for error in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(p) for p in error["loc"]) or "config"
        message = error["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {message}")
    return "; ".join(parts)
