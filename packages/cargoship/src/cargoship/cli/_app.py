"""What every cargoship command shares: the error-to-exit-code mapping, logging, S3 options.

The exit codes follow borg's model (a documented table, warnings distinct from
errors): 0 ok, 1 finished with warnings, 2 error, 3 integrity or hostile
archive, 4 retrieval needed or pending, 130 interrupted. Every expected failure
(:class:`cargoship.errors.CargoshipError`, :class:`s3opt.S3OptError`, a bad
configuration, an ``OSError``) becomes ONE line on stderr,
``cargoship: error: ...``; the traceback is shown only with ``-vv``.

The S3 options (``--endpoint-url`` ...) and ``-v``/``-q`` are accepted after
each command name (``cargoship ship DIR URL --endpoint-url ...``); they are kept
in the click context's ``meta`` rather than passed to every callback.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Final, TypeVar

import click

from blobcodec.registry import get_codec
from cargoship.errors import CargoshipError
from s3opt import S3Config, S3OptError
from s3opt.config import ConfigError

__all__ = [
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_WARNINGS",
    "CargoshipGroup",
    "check_level",
    "logging_options",
    "one_line",
    "run",
    "s3_config",
    "s3_options",
    "verbosity",
]

EXIT_OK: Final = 0
EXIT_WARNINGS: Final = 1
EXIT_ERROR: Final = 2
EXIT_INTERRUPTED: Final = 130

_VERBOSITY: Final = "cargoship.verbosity"
_S3: Final = "cargoship.s3"

_logger = logging.getLogger("cargoship.cli")

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def one_line(text: str) -> str:
    """``text`` with its line breaks turned into spaces: an error is one line on stderr."""
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def _describe(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        where = f": {error.filename}" if error.filename is not None else ""
        return f"{error.strerror}{where}"
    return one_line(str(error)) or type(error).__name__


class CargoshipGroup(click.Group):
    """A click group that turns the expected failures into one line and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            click.echo("cargoship: interrupted", err=True)
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
        except BrokenPipeError:
            raise  # click's main handles a closed stdout (`cargoship inventory ... | head`)
        except (CargoshipError, S3OptError, ConfigError, OSError) as error:
            if ctx.meta.get(_VERBOSITY, 0) >= 2:
                _logger.error("traceback", exc_info=error)
            code = error.exit_code if isinstance(error, CargoshipError) else EXIT_ERROR
            click.echo(f"cargoship: error: {_describe(error)}", err=True)
            raise click.exceptions.Exit(code) from None


def check_level(compression: str, level: int | None) -> None:
    """A usage error (exit 2) for a ``--level`` the codec does not have."""
    if level is None:
        return
    if compression == "auto":
        raise click.BadParameter("needs an explicit --compression codec", param_hint="--level")
    try:
        get_codec(compression, level)
    except ValueError as error:
        raise click.BadParameter(one_line(str(error)), param_hint="--level") from None


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run one command's async body on a fresh event loop."""
    return asyncio.run(coroutine)


# -- logging --------------------------------------------------------------------------------


def _count(ctx: click.Context, param: click.Parameter, value: int) -> int:
    if param.name == "verbose":
        ctx.meta[_VERBOSITY] = ctx.meta.get(_VERBOSITY, 0) + value
    elif value:
        ctx.meta[_VERBOSITY] = -1
    return value


def logging_options(command: F) -> F:
    """``-v/--verbose`` (repeatable) and ``-q/--quiet``, remembered in the context."""
    command = click.option(
        "-q",
        "--quiet",
        count=True,
        expose_value=False,
        callback=_count,
        help="Print only errors: no summary, no progress, no warnings.",
    )(command)
    command = click.option(
        "-v",
        "--verbose",
        count=True,
        expose_value=False,
        callback=_count,
        help="Log to stderr: -v for INFO, -vv for DEBUG and tracebacks.",
    )(command)
    return command


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record arrives (click's test runner swaps it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)
        self.set_name("cargoship-cli")
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def verbosity() -> int:
    """-1 with ``-q``, 0 by default, 1 with ``-v``, 2 with ``-vv``; sets the root log level."""
    level = int(click.get_current_context().meta.get(_VERBOSITY, 0))
    root = logging.getLogger()
    if not any(handler.get_name() == "cargoship-cli" for handler in root.handlers):
        root.addHandler(_StderrHandler())
    root.setLevel(
        {-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO}.get(level, logging.DEBUG)
    )
    return level


# -- S3 options -----------------------------------------------------------------------------


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value is not None:
        ctx.meta.setdefault(_S3, {})[param.name] = value
    return value


def _check_controller(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    if value is not None:
        from s3opt.config import parse_controller

        try:
            parse_controller(value)
        except ValueError as error:
            raise click.BadParameter(str(error), ctx, param) from None
    return _remember(ctx, param, value)


def s3_options(command: F) -> F:
    """``--endpoint-url --region --profile --controller --config``, then the logging options."""
    options = [
        click.option(
            "--config",
            "config_file",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            expose_value=False,
            callback=_remember,
            help="YAML file of s3opt settings (S3Config); AWS_* variables and flags override it.",
        ),
        click.option(
            "--controller",
            metavar="bbr|cubic|fixed:N",
            expose_value=False,
            callback=_check_controller,
            help="What steers S3 concurrency (default bbr).",
        ),
        click.option(
            "--profile",
            expose_value=False,
            callback=_remember,
            help="AWS shared-config profile for credentials.",
        ),
        click.option(
            "--region", expose_value=False, callback=_remember, help="AWS region of the bucket."
        ),
        click.option(
            "--endpoint-url",
            metavar="URL",
            expose_value=False,
            callback=_remember,
            help="S3-compatible endpoint (MinIO, Ceph, moto); AWS when unset.",
        ),
    ]
    for option in options:
        command = option(command)
    return logging_options(command)


def s3_config() -> S3Config:
    """The S3 settings: ``--config`` YAML < ``AWS_*``/``S3OPT_*`` environment < flags."""
    given = dict(click.get_current_context().meta.get(_S3, {}))
    config_file = given.pop("config_file", None)
    return S3Config.load(config_file, **given)
