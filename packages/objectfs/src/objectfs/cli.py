"""``objectfs``: mount an S3 bucket or prefix, unmount it, show its statistics.

::

    objectfs [OPTIONS] s3://bucket[/prefix] MOUNTPOINT     # mount (in the background)
    objectfs unmount MOUNTPOINT                           # flush, unmount, wait for the daemon
    objectfs stats [--json] MOUNTPOINT                    # cache hit ratios, requests, cost

Options are read, lowest precedence first, from the defaults, ``--config
FILE`` (YAML), ``-o opt[,opt=val]`` and the flags. Errors print one line on
stderr. Exit codes: 0 success, 1 failure (mount, unmount, S3), 2 bad usage
or options (a memory limit the options cannot fit in included), 128 + the
signal's number when SIGINT (130) or SIGTERM (143) stops a mount before it
is ready.

In the background (the default) the command returns once the mount answers,
with 0, or 1 and the reason if it could not be made; the daemon then logs to
``--log-file`` or, if none, to syslog (the journal).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import logging.handlers
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, Final, NoReturn

import click

from objectfs._version import __version__
from objectfs.budget import plan_memory
from objectfs.config import ConfigError, MountOptions, parse_mount_options
from objectfs.errors import bounded
from objectfs.fs import PID_XATTR, STATS_XATTR
from objectfs.mount import MountError, serve
from objectfs.stats import format_stats
from opsmetrics import Metrics, setup
from s3opt import S3Store
from s3opt.config import ConfigError as S3ConfigError
from s3opt.config import S3Config
from s3opt.errors import S3OptError
from s3opt.protocols import ObjectStore
from s3opt.stores import open_store
from s3opt.url import S3Url, parse_url

__all__ = ["main"]

_logger = logging.getLogger("objectfs")

EXIT_FAILURE: Final = 1
EXIT_USAGE: Final = 2
UNMOUNT_WAIT: Final = 600.0
"""Seconds ``objectfs unmount`` waits for the daemon to finish uploading."""
_READY: Final = b"ready\n"
_STOP_SIGNALS: Final = (signal.SIGINT, signal.SIGTERM)
_DEBUG_LOGGERS: Final = ("objectfs", "s3opt", "pyfuse3")


class _CommandError(Exception):
    """Ends a command with one line on stderr and ``code``."""

    def __init__(self, message: str, code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.code = code


def _interrupted(signum: int) -> _CommandError:
    """The error a stop signal before the mount is ready ends the command with."""
    name = signal.Signals(signum).name
    return _CommandError(f"interrupted by {name} before the mount was ready", 128 + signum)


@contextlib.contextmanager
def _stoppable_start() -> Iterator[None]:
    """While mounting, make SIGINT and SIGTERM cancel the start and end it with one line.

    Once the mount is made, :func:`objectfs.mount.serve` installs its own
    handlers (flush, then unmount) in place of these.
    """
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    received: list[int] = []

    def stop(signum: int) -> None:
        received.append(signum)
        task.cancel()

    for signum in _STOP_SIGNALS:
        loop.add_signal_handler(signum, stop, signum)
    try:
        yield
    except asyncio.CancelledError:
        if not received:
            raise
        raise _interrupted(received[0]) from None
    finally:
        for signum in _STOP_SIGNALS:
            loop.remove_signal_handler(signum)


def _setup_logging(verbose: int, log_file: Path | None, *, daemon: bool) -> None:
    """-v: INFO; -vv: DEBUG for objectfs, s3opt and pyfuse3 (botocore stays quiet: its debug
    output carries request signatures)."""
    handler: logging.Handler
    if log_file is not None:
        handler = logging.FileHandler(log_file)
    elif daemon and os.path.exists("/dev/log"):
        handler = logging.handlers.SysLogHandler(address="/dev/log")
    elif daemon:
        handler = logging.NullHandler()
    else:
        handler = logging.StreamHandler(sys.stderr)
    fmt = "objectfs[%(process)d]: %(levelname)s %(name)s: %(message)s"
    if not isinstance(handler, logging.handlers.SysLogHandler):
        fmt = "%(asctime)s " + fmt
    handler.setFormatter(logging.Formatter(fmt))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING if verbose == 0 else logging.INFO)
    if verbose >= 2:
        for name in _DEBUG_LOGGERS:
            logging.getLogger(name).setLevel(logging.DEBUG)


def _options(
    config: Path | None, o_options: tuple[str, ...], flags: dict[str, Any]
) -> MountOptions:
    data: dict[str, Any] = {}
    if config is not None:
        data.update(MountOptions.from_yaml(config).model_dump(exclude_unset=True))
    data.update(parse_mount_options(list(o_options)))
    data.update({k: v for k, v in flags.items() if v is not None and v is not False})
    for name in ("cache_dir", "log_file"):
        if data.get(name) is not None:
            data[name] = Path(data[name]).expanduser().absolute()
    return MountOptions.validated(data, "the command line")


def _check_mountpoint(mountpoint: Path) -> Path:
    path = mountpoint.expanduser().absolute()
    if not path.is_dir():
        raise _CommandError(f"mountpoint {path} is not a directory", EXIT_USAGE)
    if os.path.ismount(path):
        raise _CommandError(f"{path} is already a mount point")
    if not os.path.exists("/dev/fuse"):
        raise _CommandError("/dev/fuse is missing: FUSE is not available on this machine")
    return path


async def _mount(
    target: str, s3: S3Config, mountpoint: Path, options: MountOptions, ready: Callable[[], None]
) -> None:
    url = parse_url(target)
    metrics = Metrics()
    opened: AbstractAsyncContextManager[ObjectStore]
    if isinstance(url, S3Url):
        fsname = str(url)
        opened = S3Store.open(url, s3, metrics=metrics)
    else:
        fsname = url.path.as_uri()
        opened = open_store(url)
    with _stoppable_start():
        _logger.info("connecting to %s", fsname)
        async with opened as store:
            await _probe(store, options.request_timeout, fsname)
            await serve(store, mountpoint, options, fsname=fsname, ready=ready, metrics=metrics)


def _start_metrics(options: MountOptions) -> None:
    """The Prometheus endpoint, in the process that serves the mount (threads do not survive
    a fork)."""
    if options.metrics_port is not None:
        setup("prometheus", port=options.metrics_port)


async def _probe(store: ObjectStore, timeout: float, fsname: str) -> None:
    """One LIST before mounting, so a missing bucket or bad credentials fail the command."""
    listing = store.list_dir("")
    try:
        await bounded(anext(listing, None), timeout, f"LIST {fsname}")
    finally:
        await listing.aclose()  # type: ignore[attr-defined]


def _run_mount(
    target: str, s3: S3Config, mountpoint: Path, options: MountOptions, verbose: int
) -> None:
    if options.foreground:
        _setup_logging(verbose, options.log_file, daemon=False)
        _start_metrics(options)
        asyncio.run(
            _mount(target, s3, mountpoint, options, lambda: _logger.info("mounted %s", target))
        )
        return
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid > 0:
        os.close(write_end)
        _await_daemon(pid, read_end)
        return
    os.close(read_end)
    os.setsid()
    os.chdir("/")
    _setup_logging(verbose, options.log_file, daemon=True)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)

    def ready() -> None:
        os.write(write_end, _READY)
        os.close(write_end)
        _logger.info("mounted %s at %s", target, mountpoint)

    try:
        _start_metrics(options)
        asyncio.run(_mount(target, s3, mountpoint, options, ready))
    except Exception as exc:
        _logger.error("%s", exc)
        with contextlib.suppress(OSError):
            os.write(write_end, f"{exc}\n".encode())
        os._exit(exc.code if isinstance(exc, _CommandError) else EXIT_FAILURE)
    os._exit(0)


def _await_daemon(pid: int, read_end: int) -> None:
    """In the parent: wait for the daemon's report on the pipe; fail with its reason.

    SIGINT or SIGTERM while waiting is passed on to the daemon as SIGTERM (it
    stops its start, or unmounts if it just got ready) and ends the command.
    """
    received: list[int] = []

    def forward(signum: int, _frame: object) -> None:
        received.append(signum)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)

    previous = {signum: signal.signal(signum, forward) for signum in _STOP_SIGNALS}
    try:
        with os.fdopen(read_end, "rb") as pipe:
            report = pipe.read()
        if report == _READY and not received:
            return
        os.waitpid(pid, 0)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if received:
        raise _interrupted(received[0])
    message = report.decode("utf-8", "replace").strip() or "the daemon exited before mounting"
    raise _CommandError(message)


_CONTEXT: Final = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

_MOUNT_EXAMPLES: Final = """\b
Examples:
  objectfs s3://my-bucket/projects ~/projects             # mount in the background
  objectfs s3://my-bucket ~/bucket --read-only --cache-size 20G
  objectfs s3://my-bucket ~/bucket -f -v --log-file mount.log   # in the foreground
  objectfs s3://bench /mnt/bench --endpoint-url http://127.0.0.1:9000   # MinIO, moto
  objectfs stats ~/projects           # cache hit ratios, throughput, S3 requests (--json)
  objectfs unmount ~/projects         # finish uploading, unmount, wait for the daemon

\b
Credentials and region come from the AWS_* variables and the shared config,
as the AWS CLI finds them. Exit codes: 0 success, 1 the mount failed (S3,
FUSE), 2 bad options, 130 or 143 when SIGINT or SIGTERM stops it before the
mount is ready.
"""

_UNMOUNT_EXAMPLES: Final = """\b
Examples:
  objectfs unmount ~/projects
  objectfs unmount ~/projects --timeout 3600    # a slow link with much to upload
"""

_STATS_EXAMPLES: Final = """\b
Examples:
  objectfs stats ~/projects
  objectfs stats ~/projects --json | jq .cache
"""


@click.command(context_settings=_CONTEXT, epilog=_MOUNT_EXAMPLES)
@click.argument("target")
@click.argument("mountpoint", type=click.Path(path_type=Path))
@click.option("-f", "--foreground", is_flag=True, help="Stay in the foreground.")
@click.option("--read-only", is_flag=True, help="Mount read-only.")
@click.option("--cache-dir", type=click.Path(path_type=Path), help="Root of the caches.")
@click.option("--cache-size", help="L2 disk cache bound, e.g. 10G (0 disables it).")
@click.option("--memory-cache-size", help="L1 memory cache bound, e.g. 256M.")
@click.option("--memory-limit", help="Memory budget of the daemon, e.g. 1G.")
@click.option("--metadata-ttl", type=float, help="Seconds attributes and listings are cached.")
@click.option(
    "--negative-ttl", type=float, help='Seconds a "no such file" answer is cached (default 5).'
)
@click.option("--uid", type=int, help="Owner of every file (default: from metadata, else you).")
@click.option("--gid", type=int, help="Group of every file.")
@click.option("--umask", help="Octal umask for objects without a mode header (default 022).")
@click.option("--allow-other", is_flag=True, help="Let other users use the mount.")
@click.option("--metrics-port", type=int, help="Serve Prometheus metrics on this port.")
@click.option("--config", type=click.Path(path_type=Path), help="YAML file of mount options.")
@click.option("--log-file", type=click.Path(path_type=Path), help="Log here (else syslog).")
@click.option("-o", "o_options", multiple=True, help="Mount options: ro,allow_other,uid=N,...")
@click.option("--endpoint-url", help="S3 endpoint (MinIO, moto, ...).")
@click.option("--region", help="S3 region.")
@click.option("--controller", help="Transfer concurrency control: bbr, cubic or fixed:N.")
@click.option("-v", "--verbose", count=True, help="More logging (-vv for debug).")
@click.version_option(__version__, prog_name="objectfs")
def mount_command(
    target: str,
    mountpoint: Path,
    config: Path | None,
    o_options: tuple[str, ...],
    endpoint_url: str | None,
    region: str | None,
    controller: str | None,
    verbose: int,
    **flags: Any,
) -> None:
    """Mount TARGET (s3://bucket[/prefix]) at MOUNTPOINT."""
    try:
        options = _options(config, o_options, flags)
        plan_memory(options)
        s3 = S3Config.load(endpoint_url=endpoint_url, region=region, controller=controller)
        parse_url(target)
    except (ConfigError, S3ConfigError, S3OptError, ValueError) as exc:
        raise _CommandError(str(exc), EXIT_USAGE) from None
    path = _check_mountpoint(mountpoint)
    _run_mount(target, s3, path, options, verbose)


def _xattr_problem(mountpoint: Path, exc: OSError) -> str:
    if exc.errno in (errno.ENODATA, errno.ENOTSUP):
        return f"{mountpoint} is not an objectfs mount"
    return f"{mountpoint}: {exc.strerror}"


def _root_xattr(mountpoint: Path, name: bytes) -> bytes:
    try:
        return os.getxattr(mountpoint, name)
    except OSError as exc:
        raise _CommandError(_xattr_problem(mountpoint, exc)) from None


def _daemon_pid(mountpoint: Path) -> int | None:
    """The serving daemon's pid; ``None`` when it is gone (the mount answers ENOTCONN)."""
    try:
        return int(os.getxattr(mountpoint, PID_XATTR))
    except OSError as exc:
        if exc.errno == errno.ENOTCONN:
            return None
        raise _CommandError(_xattr_problem(mountpoint, exc)) from None


@click.command(context_settings=_CONTEXT, epilog=_UNMOUNT_EXAMPLES)
@click.argument("mountpoint", type=click.Path(path_type=Path))
@click.option(
    "--timeout",
    type=float,
    default=UNMOUNT_WAIT,
    show_default=True,
    help="Seconds to wait for the daemon to finish uploading.",
)
def unmount_command(mountpoint: Path, timeout: float) -> None:
    """Unmount MOUNTPOINT and wait until its daemon has uploaded everything and exited."""
    pid = _daemon_pid(mountpoint)
    tool = shutil.which("fusermount3") or shutil.which("fusermount")
    if tool is None:
        raise _CommandError("fusermount3 not found: install fuse3")
    done = subprocess.run(
        [tool, "-u", str(mountpoint)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise _CommandError(done.stderr.strip() or f"{tool} -u {mountpoint} failed")
    deadline = time.monotonic() + timeout
    while pid is not None and Path(f"/proc/{pid}").exists():
        if time.monotonic() > deadline:
            raise _CommandError(
                f"unmounted, but daemon {pid} is still uploading after {timeout:g}s"
            )
        time.sleep(0.1)


@click.command(context_settings=_CONTEXT, epilog=_STATS_EXAMPLES)
@click.argument("mountpoint", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of a table.")
def stats_command(mountpoint: Path, as_json: bool) -> None:
    """Print MOUNTPOINT's cache hit ratios, throughput and S3 requests."""
    snapshot = json.loads(_root_xattr(mountpoint, STATS_XATTR))
    click.echo(json.dumps(snapshot, indent=2) if as_json else format_stats(snapshot))


_SUBCOMMANDS: Final = {"unmount": unmount_command, "stats": stats_command}


def main(argv: list[str] | None = None) -> NoReturn:
    """The console script: ``objectfs unmount|stats ...`` or ``objectfs [OPTIONS] URL DIR``."""
    args = sys.argv[1:] if argv is None else argv
    command: click.Command = mount_command
    name = "objectfs"
    if args and args[0] in _SUBCOMMANDS:
        command, name, args = _SUBCOMMANDS[args[0]], f"objectfs {args[0]}", args[1:]
    try:
        command.main(args, prog_name=name, standalone_mode=False)
    except _CommandError as exc:
        click.echo(f"objectfs: {exc}", err=True)
        sys.exit(exc.code)
    except click.exceptions.Abort:
        sys.exit(EXIT_FAILURE)
    except click.ClickException as exc:
        click.echo(f"objectfs: {exc.format_message()}", err=True)
        sys.exit(EXIT_USAGE)
    except (MountError, S3OptError, OSError) as exc:  # TimeoutError is an OSError
        click.echo(f"objectfs: {exc}", err=True)
        sys.exit(EXIT_FAILURE)
    sys.exit(0)
