"""``cargoship ship``, ``restore`` and ``verify``: moving an archive in and out, and checking it.

Each command parses its arguments, calls the library function that does the
work (:func:`cargoship.ship.ship`, :func:`cargoship.restore.restore`,
:func:`cargoship.verify.verify`, :mod:`cargoship.retrieval` for archives in
cold storage) and prints what it returned; none holds logic of its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from cargoship.cli._app import (
    EXIT_WARNINGS,
    check_level,
    run,
    s3_config,
    s3_options,
    verbosity,
)
from cargoship.cli._output import (
    Output,
    human_bytes,
    human_money,
    human_seconds,
    jsonable,
    ratio,
    shown,
)
from cargoship.cli._progress import progress_bar
from cargoship.cli._targets import object_url, split_archive_url
from cargoship.errors import CargoshipError, IntegrityError, RetrievalRequiredError
from cargoship.layout import ARCHIVE_SUFFIXES, archive_name
from cargoship.restore import RestoreOptions, restore
from cargoship.retrieval import (
    RetrievalPlan,
    plan_retrieval,
    request_retrieval,
    retrieval_status,
    wait_until_available,
)
from cargoship.ship import ShipOptions, ShipReport, ship
from cargoship.verify import verify
from s3opt import ObjectStore, open_store
from s3opt.protocols import RESTORE_TIERS, STORAGE_CLASSES

__all__ = ["restore_command", "ship_command", "verify_command"]

COMPRESSIONS = (*ARCHIVE_SUFFIXES, "auto")
_JSON_HELP = "Print one JSON document on stdout instead of the summary."


# -- ship -----------------------------------------------------------------------------------

_SHIP_EXAMPLES = """\b
Examples:
  cargoship ship ~/projects/2024 s3://archive-bucket/projects
  cargoship ship data/ s3://bucket/data --storage-class DEEP_ARCHIVE
  cargoship ship data/ s3://bucket/data --incremental --skip-unreadable
  cargoship ship data/ s3://bucket/data --dry-run --compression auto
  cargoship ship data/ s3://bucket/data --resume     # after an interrupted ship

\b
The archive is <prefix>/<UTC time>.tar.zst, next to its member index
(.index), the inventory's page table (.inventory.pages: where restore
--include finds its files in the inventory) and the inventory
(.inventory.yaml, written last: an archive without it is incomplete).
Exit 1 when unreadable files were skipped.
"""


@click.command("ship", epilog=_SHIP_EXAMPLES, short_help="Pack, compress and upload a tree.")
@click.argument(
    "source", type=click.Path(exists=True, file_okay=False, readable=True, path_type=Path)
)
@click.argument("url")
@click.option(
    "--compression",
    type=click.Choice(COMPRESSIONS),
    default="zstd",
    show_default=True,
    help="Codec; auto measures a sample of the tree. zstd is seekable (--include reads frames).",
)
@click.option("--level", type=int, help="Compression level of the codec (its default if unset).")
@click.option(
    "--storage-class",
    type=click.Choice(STORAGE_CLASSES, case_sensitive=False),
    default="STANDARD",
    show_default=True,
    help="S3 storage class of the archive (the objects beside it stay STANDARD).",
)
@click.option("--dry-run", is_flag=True, help="Scan and estimate; upload nothing.")
@click.option(
    "--incremental",
    is_flag=True,
    help="Skip files unchanged (size, mtime, checksum) since the newest archive under the prefix.",
)
@click.option(
    "--resume", is_flag=True, help="Continue an interrupted ship's upload of the same tree."
)
@click.option(
    "--skip-unreadable",
    is_flag=True,
    help="Skip files that cannot be read (recorded in the inventory) instead of failing.",
)
@click.option("--json", "json_mode", is_flag=True, help=_JSON_HELP)
@s3_options
def ship_command(
    source: Path,
    url: str,
    compression: str,
    level: int | None,
    storage_class: str,
    dry_run: bool,
    incremental: bool,
    resume: bool,
    skip_unreadable: bool,
    json_mode: bool,
) -> None:
    """Pack SOURCE into a tar archive, compress it and upload it under URL.

    URL is s3://bucket/prefix (or file:///dir); the archive is named by the UTC time.
    """
    out = Output(json_mode=json_mode, quiet=verbosity() < 0)
    check_level(compression, level)
    options = ShipOptions(
        compression=compression,
        level=level,
        storage_class=storage_class,
        dry_run=dry_run,
        incremental=incremental,
        skip_unreadable=skip_unreadable,
        resume=resume,
    )
    config = s3_config()

    async def body() -> ShipReport:
        async with open_store(url, config) as store:
            with progress_bar("shipping", enabled=not out.quiet) as progress:
                return await ship(store, source, options, progress=progress)

    report = run(body())
    _print_ship(out, report, url, dry_run=dry_run)
    if report.skipped:
        listed = ", ".join(shown(path) for path in report.skipped[:3])
        more = f" and {len(report.skipped) - 3} more" if len(report.skipped) > 3 else ""
        out.warning(f"skipped {len(report.skipped)} unreadable file(s): {listed}{more}")
        click.get_current_context().exit(EXIT_WARNINGS)


def _print_ship(out: Output, report: ShipReport, url: str, *, dry_run: bool) -> None:
    keys = report.keys
    throughput = report.bytes_in / report.seconds if report.seconds > 0 else 0.0
    if out.json_mode:
        out.document(
            {
                "archive": keys.name,
                "url": object_url(url, keys.archive),
                "keys": {
                    "archive": keys.archive,
                    "index": keys.index,
                    "pages": keys.pages,
                    "inventory": keys.inventory,
                },
                "dry_run": dry_run,
                "compression": keys.compression,
                "storage_class": report.storage_class,
                "files": report.files,
                "unchanged": report.unchanged,
                "bytes_in": report.bytes_in,
                "bytes_stored": report.bytes_stored,
                "dedup_bytes": report.dedup_bytes,
                "seconds": report.seconds,
                "bytes_per_second": throughput,
                "monthly_cost": report.monthly_cost,
                "skipped": report.skipped,
            }
        )
        return
    title = "dry run, nothing uploaded; would ship" if dry_run else "shipped"
    unchanged = f" ({report.unchanged} unchanged, not stored)" if report.unchanged else ""
    rows = [
        ("archive", object_url(url, keys.archive)),
        ("files", f"{report.files}{unchanged}"),
        ("bytes in", human_bytes(report.bytes_in)),
        ("bytes stored", human_bytes(report.bytes_stored) + (" (estimated)" if dry_run else "")),
        ("ratio", ratio(report.bytes_in, report.bytes_stored)),
        ("saved by dedup", human_bytes(report.dedup_bytes)),
        ("time", f"{human_seconds(report.seconds)} ({human_bytes(round(throughput))}/s)"),
        ("monthly cost", f"{human_money(report.monthly_cost)} in {report.storage_class}"),
    ]
    out.summary(f"{title} {keys.name}", rows)


# -- restore --------------------------------------------------------------------------------

_RESTORE_EXAMPLES = """\b
Examples:
  cargoship restore s3://bucket/projects/20261121T101500Z ./restored
  cargoship restore s3://bucket/projects/20261121T101500Z . --include 'docs/*.md'
  cargoship restore s3://bucket/cold/20261121T101500Z ./out --tier Bulk --wait
  cargoship restore s3://bucket/home/20261121T101500Z ./home --allow-outside-symlinks

\b
An archive in GLACIER or DEEP_ARCHIVE must be retrieved first: restore prints
the plan (objects, tier, hours, cost), requests it and exits 4 while it is
pending; run it again later, or add --wait to poll until it is available.
"""


@click.command(
    "restore", epilog=_RESTORE_EXAMPLES, short_help="Restore an archive, whole or --include."
)
@click.argument("url")
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--include",
    "includes",
    multiple=True,
    metavar="GLOB",
    help="Restore only archive paths matching GLOB (fnmatch; repeatable).",
)
@click.option("--overwrite", is_flag=True, help="Replace files that already exist in DEST.")
@click.option(
    "--sparse",
    is_flag=True,
    help="Leave runs of zeros (4 KiB blocks) as holes, as cp --sparse=always does, so sparse "
    "files come back sparse. Not for files that need their blocks allocated (swap files).",
)
@click.option(
    "--allow-outside-symlinks",
    "outside_symlinks",
    is_flag=True,
    help="Restore symlinks pointing outside DEST (absolute, or ../ above it) as archived, "
    "instead of refusing the archive; nothing is written through them.",
)
@click.option(
    "--tier",
    type=click.Choice(RESTORE_TIERS),
    default="Standard",
    show_default=True,
    help="Retrieval tier for an archive in cold storage.",
)
@click.option(
    "--days",
    type=click.IntRange(min=1),
    default=7,
    show_default=True,
    help="Days a retrieved copy stays readable.",
)
@click.option("--wait", is_flag=True, help="Poll until a cold archive is retrieved, then restore.")
@click.option("--json", "json_mode", is_flag=True, help=_JSON_HELP)
@s3_options
def restore_command(
    url: str,
    dest: Path,
    includes: tuple[str, ...],
    overwrite: bool,
    sparse: bool,
    outside_symlinks: bool,
    tier: str,
    days: int,
    wait: bool,
    json_mode: bool,
) -> None:
    """Restore an archive into DEST: all of it, or the --include matches.

    URL is s3://bucket/prefix/ARCHIVE, ARCHIVE being the name ship printed.
    """
    out = Output(json_mode=json_mode, quiet=verbosity() < 0)
    store_url, segment = split_archive_url(url)
    name = archive_name(segment)
    config = s3_config()
    options = RestoreOptions(
        include=includes, overwrite=overwrite, sparse=sparse, outside_symlinks=outside_symlinks
    )

    async def body() -> dict[str, Any]:
        async with open_store(store_url, config) as store:
            retrieval = await _make_available(store, name, out, tier=tier, days=days, wait=wait)
            with progress_bar("restoring", enabled=not out.quiet) as progress:
                report = await restore(store, name, dest, options, progress=progress)
            return {"archive": name, "retrieval": retrieval, "restore": report}

    result = run(body())
    report = result["restore"]
    if out.json_mode:
        out.document(result)
        return
    out.summary(
        f"restored {name} into {shown(str(dest))}",
        [
            ("files", f"{report.files} ({report.verified} verified by checksum)"),
            ("bytes written", human_bytes(report.bytes_written)),
            ("bytes fetched", f"{human_bytes(report.bytes_fetched)} in {report.requests} requests"),
            (
                "inventory read",
                f"{human_bytes(report.inventory_bytes)} in {report.inventory_requests} requests",
            ),
            ("time", human_seconds(report.seconds)),
        ],
    )


async def _make_available(
    store: ObjectStore, name: str, out: Output, *, tier: str, days: int, wait: bool
) -> dict[str, Any] | None:
    """Request the retrieval an archive in cold storage needs; ``None`` when it needs none.

    Exits 4 (RetrievalRequiredError) while the retrieval is pending, unless ``wait``.
    """
    try:
        plan = await plan_retrieval(store, name, tier=tier, days=days)
    except ValueError as error:  # e.g. Expedited asked for DEEP_ARCHIVE
        raise CargoshipError(str(error)) from error
    if not plan.objects:
        return None
    _print_plan(out, name, plan)
    requested = await request_retrieval(store, plan)
    status = await retrieval_status(store, name)
    about = f"tier {plan.tier}, about {plan.hours:g} h"
    if status != "available" and not wait:
        if out.json_mode:
            out.document({"archive": name, "retrieval": _plan_doc(plan, requested, status)})
        raise RetrievalRequiredError(
            f"archive {name} is being retrieved from cold storage ({about}); "
            "run the same command again once it is available, or add --wait"
        )
    if status != "available":
        out.note(f"waiting for the retrieval of {name} ({about}); Ctrl-C stops waiting only")
        await wait_until_available(store, name)
    return _plan_doc(plan, requested, "available")


def _plan_doc(plan: RetrievalPlan, requested: list[str], status: str) -> dict[str, Any]:
    return {
        "objects": [
            {"key": key, "size": size, "storage_class": storage_class}
            for key, size, storage_class in plan.objects
        ],
        "tier": plan.tier,
        "days": plan.days,
        "hours": plan.hours,
        "cost": plan.cost,
        "requested": requested,
        "status": status,
    }


def _print_plan(out: Output, name: str, plan: RetrievalPlan) -> None:
    if out.json_mode or out.quiet:
        return
    out.table(
        ("object", "size", "storage class"),
        [(key, human_bytes(size), cls) for key, size, cls in plan.objects],
        title=f"retrieval plan for {name}",
        right=("size",),
    )
    out.summary(
        "",
        [
            ("tier", f"{plan.tier}, copies readable for {plan.days} days"),
            ("expected time", f"about {plan.hours:g} h"),
            ("cost", human_money(plan.cost)),
        ],
    )


# -- verify ---------------------------------------------------------------------------------

_VERIFY_EXAMPLES = """\b
Examples:
  cargoship verify s3://bucket/projects/20261121T101500Z
  cargoship verify s3://bucket/projects/20261121T101500Z --quick --json

\b
A full verify reads the whole archive and checks every zstd frame against
the index, every file against its inventory checksum, and the inventory's
page table (.inventory.pages) against the inventory. --quick downloads
nothing of the archive: it compares the SHA-256 S3 keeps for each uploaded
part with the ones recorded at upload and checks the other objects are
there. Exit 3 names what is damaged.
"""


@click.command(
    "verify", epilog=_VERIFY_EXAMPLES, short_help="Check an archive's frames and checksums."
)
@click.argument("url")
@click.option("--quick", is_flag=True, help="Compare S3's part checksums only; download nothing.")
@click.option("--json", "json_mode", is_flag=True, help=_JSON_HELP)
@s3_options
def verify_command(url: str, quick: bool, json_mode: bool) -> None:
    """Check an archive against its index and inventory.

    URL is s3://bucket/prefix/ARCHIVE, ARCHIVE being the name ship printed.
    """
    out = Output(json_mode=json_mode, quiet=verbosity() < 0)
    store_url, segment = split_archive_url(url)
    name = archive_name(segment)
    config = s3_config()

    async def body() -> Any:
        async with open_store(store_url, config) as store:
            with progress_bar("verifying", enabled=not out.quiet and not quick) as progress:
                return await verify(store, name, quick=quick, progress=progress)

    try:
        report = run(body())
    except IntegrityError as error:
        if out.json_mode:
            out.document({"archive": name, "ok": False, "problems": error.problems})
        else:
            out.lines(_problem_lines(error))
        raise
    for note in report.notes:
        out.note(note)
    if out.json_mode:
        out.document({"archive": name, "ok": True, **jsonable(report)})
        return
    checked = (
        f"{report.parts} part checksums"
        if quick
        else f"{report.frames} frames, {report.files} files"
    )
    out.summary(
        f"verified {name}: ok",
        [
            ("checked", checked),
            ("bytes fetched", human_bytes(report.bytes_fetched)),
            ("time", human_seconds(report.seconds)),
        ],
    )


def _problem_lines(error: IntegrityError) -> Iterator[str]:
    for problem in error.problems:
        yield f"damaged: {problem}"
