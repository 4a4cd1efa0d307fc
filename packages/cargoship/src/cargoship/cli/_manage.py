"""``cargoship inventory``, ``lifecycle`` and ``estimate``: browsing, planning and pricing.

Thin like the archive commands: :mod:`cargoship.catalog` and
:mod:`cargoship.layout` read the inventories, :mod:`cargoship.lifecycle`
plans and writes the bucket rule, :mod:`cargoship.estimate` samples a tree;
prices come from :class:`s3opt.pricing.PriceTable`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import click
import yaml

from cargoship.catalog import ArchiveSummary, CatalogHit, search, summaries
from cargoship.cli._app import check_level, logging_options, run, s3_config, s3_options, verbosity
from cargoship.cli._output import (
    Output,
    human_bytes,
    human_money,
    jsonable,
    ratio,
    shown,
)
from cargoship.cli._targets import archive_in_url
from cargoship.entry_table import without_repeats
from cargoship.errors import CargoshipError
from cargoship.estimate import estimate
from cargoship.inventory import entry_doc, format_time
from cargoship.layout import (
    ARCHIVE_SUFFIXES,
    ARCHIVE_TAG_KEY,
    ARCHIVE_TAG_VALUE,
    InventoryStream,
    archive_name,
    stream_inventory,
)
from cargoship.lifecycle import (
    ABORT_UPLOADS_AFTER_DAYS,
    TRANSITION_TARGETS,
    LifecyclePlan,
    apply_lifecycle,
    parse_days,
    plan_lifecycle,
)
from s3opt import open_store, parse_url
from s3opt.url import S3Url

__all__ = ["estimate_command", "inventory_command", "lifecycle_command"]

_JSON_HELP = "Print one JSON document on stdout instead of the table."


# -- inventory ------------------------------------------------------------------------------

_INVENTORY_EXAMPLES = """\b
Examples:
  cargoship inventory s3://bucket/projects                    # the archives
  cargoship inventory s3://bucket/projects 20261121T101500Z   # one archive's files
  cargoship inventory s3://bucket/projects/20261121T101500Z   # the same
  cargoship inventory s3://bucket/projects --search '*.csv'   # across archives
  cargoship inventory s3://bucket/projects 20261121T101500Z --json > inventory.json

\b
Only complete archives are listed (those whose inventory was written).
Inventories stay in STANDARD, so this never needs a retrieval.
"""


@click.command(
    "inventory",
    epilog=_INVENTORY_EXAMPLES,
    short_help="List archives, their files, or search paths.",
)
@click.argument("url")
@click.argument("archive", required=False)
@click.option(
    "--search",
    "pattern",
    metavar="PATTERN",
    help="Paths matching PATTERN (fnmatch, case-sensitive; * crosses /) across archives.",
)
@click.option("--json", "json_mode", is_flag=True, help=_JSON_HELP)
@s3_options
def inventory_command(url: str, archive: str | None, pattern: str | None, json_mode: bool) -> None:
    """List archives, one archive's files, or search paths across archives.

    URL is s3://bucket/prefix; with ARCHIVE, that archive's files are listed. An
    archive's URL, s3://bucket/prefix/ARCHIVE as restore and verify take it, names
    the archive too.
    """
    out = Output(json_mode=json_mode, quiet=verbosity() < 0)
    if archive is None and (archive_url := archive_in_url(url)) is not None:
        url, archive = archive_url
    name = archive_name(archive) if archive is not None else None
    config = s3_config()
    if pattern is not None:

        async def find() -> list[CatalogHit]:
            async with open_store(url, config) as store:
                return await search(store, pattern, archive=name)

        _print_hits(out, pattern, run(find()))
    elif name is not None:
        with tempfile.TemporaryFile(prefix="cargoship-inventory-") as file:

            async def download() -> InventoryStream:
                async with open_store(url, config) as store:
                    return await stream_inventory(store, name, file)

            _print_files(out, run(download()))
    else:

        async def every() -> list[ArchiveSummary]:
            async with open_store(url, config) as store:
                return await summaries(store)

        found = run(every())
        if not found and not out.json_mode:
            out.note(f"no complete archives under {url}")
            return
        _print_archives(out, found)


def _print_archives(out: Output, inventories: list[ArchiveSummary]) -> None:
    if out.json_mode:
        # Each archive as its inventory document says it, without the file list.
        out.document({"archives": [summary.to_json() for summary in inventories]})
        return
    headers = ("archive", "created", "files", "bytes in", "stored", "ratio", "compression")
    rows = [
        (
            i.archive.name,
            format_time(i.archive.created_at),
            str(i.totals.files),
            human_bytes(i.totals.bytes_in),
            human_bytes(i.archive.size),
            ratio(i.totals.bytes_in, i.archive.size),
            i.archive.compression,
            i.archive.storage_class,
            i.archive.base or "",
        )
        for i in inventories
    ]
    right = ("files", "bytes in", "stored", "ratio")
    out.table((*headers, "storage class", "base"), rows, right=right)


def _print_files(out: Output, inventory: InventoryStream) -> None:
    """One archive's files as its inventory lists them, read a batch at a time from the
    downloaded document: the JSON document or the table is printed once every item has
    been read and checked and no path was found twice (nothing is printed otherwise)."""
    entries = without_repeats(inventory)
    if out.json_mode:
        head = ArchiveSummary(inventory.archive, inventory.totals).to_json()
        out.document_with_items(head, "files", map(entry_doc, entries))
        return
    # The path last, as `tar -tv` and `ls -l` print it: a pipe gets no padding after it.
    rows = (
        (
            entry.type.value,
            human_bytes(entry.size),
            (entry.checksum or "")[:19],
            entry.archive or "",
            entry.path + (f" -> {entry.link}" if entry.link else ""),
        )
        for entry in entries
    )
    name = inventory.archive.name
    headers = ("type", "size", "checksum", "stored in", "path")
    out.table(headers, rows, title=lambda count: f"{name}: {count} entries", right=("size",))


def _print_hits(out: Output, pattern: str, hits: list[CatalogHit]) -> None:
    if out.json_mode:
        out.document(
            {"pattern": pattern, "hits": [{"archive": h.archive, "entry": h.entry} for h in hits]}
        )
        return
    rows = [
        (h.archive, human_bytes(h.entry.size), format_time(h.entry.archived_at), h.entry.path)
        for h in hits
    ]
    title = f"{len(hits)} match(es) for {pattern!r}"
    out.table(("archive", "size", "archived at", "path"), rows, title=title, right=("size",))


# -- lifecycle ------------------------------------------------------------------------------


def _days(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    """``90d``, ``12w``, ``6m`` (30 d), ``1y`` (365 d) or ``90`` -> days; a usage error else."""
    if value is None:
        return None
    try:
        return parse_days(value)
    except ValueError as error:
        raise click.BadParameter(str(error), ctx, param) from None


_LIFECYCLE_EXAMPLES = """\b
Examples:
  cargoship lifecycle s3://bucket/projects --archive-after 90d
  cargoship lifecycle s3://bucket/projects --archive-after 30d --to GLACIER --expire-after 10y
  cargoship lifecycle s3://bucket/projects --archive-after 6m --dry-run --json

\b
Durations: 90d, 12w, 6m (30 days), 1y (365 days). The rule (ID
cargoship:<prefix>) moves only archive objects (tagged
cargoship-role=archive by ship), never the index, inventory page table
or inventory beside them. With --expire-after a second rule
(cargoship-expire:<prefix>) deletes all of an archive's objects
together. A third (cargoship-uploads:<prefix>) aborts multipart uploads
left pending under the prefix, as an interrupted ship leaves them, after
--abort-uploads-after: resume such a ship before then. All are merged
with the bucket's other rules, never replacing them; running again
updates them. Costs are monthly, for the objects under the prefix now,
from s3opt's price table.
"""


@click.command(
    "lifecycle",
    epilog=_LIFECYCLE_EXAMPLES,
    short_help="Move archives to cold storage after a while.",
)
@click.argument("url")
@click.option(
    "--archive-after",
    metavar="DURATION",
    callback=_days,
    required=True,
    help="Move archive objects to the --to class this long after they were written.",
)
@click.option(
    "--to",
    "to",
    type=click.Choice(TRANSITION_TARGETS, case_sensitive=False),
    default="DEEP_ARCHIVE",
    show_default=True,
    help="The colder storage class.",
)
@click.option(
    "--expire-after",
    metavar="DURATION",
    callback=_days,
    help="Delete the prefix's objects this long after they were written.",
)
@click.option(
    "--abort-uploads-after",
    metavar="DURATION",
    callback=_days,
    default=f"{ABORT_UPLOADS_AFTER_DAYS}d",
    show_default=True,
    help="Abort multipart uploads left pending under the prefix (an interrupted ship's) "
    "this long after they began.",
)
@click.option("--dry-run", is_flag=True, help="Print the rule and the costs; change nothing.")
@click.option("--json", "json_mode", is_flag=True, help=_JSON_HELP)
@s3_options
def lifecycle_command(
    url: str,
    archive_after: int,
    to: str,
    expire_after: int | None,
    abort_uploads_after: int,
    dry_run: bool,
    json_mode: bool,
) -> None:
    """Move a prefix's archives to a colder storage class after a while.

    Writes the bucket lifecycle rule for URL (s3://bucket/prefix), merged with the
    bucket's other rules, and prints it with the monthly cost before and after.
    """
    out = Output(json_mode=json_mode, quiet=verbosity() < 0)
    target = parse_url(url)
    if not isinstance(target, S3Url):
        raise CargoshipError(f"lifecycle rules belong to S3 buckets; {url!r} is not an s3:// URL")
    config = s3_config()

    async def body() -> LifecyclePlan:
        async with open_store(target, config) as store:
            try:
                plan = await plan_lifecycle(
                    store,
                    prefix=target.key,
                    archive_after_days=archive_after,
                    to=to,
                    expire_after_days=expire_after,
                    abort_uploads_after_days=abort_uploads_after,
                )
            except ValueError as error:  # a rule S3 would refuse
                raise CargoshipError(str(error)) from error
            if not dry_run:
                await apply_lifecycle(store, plan)
            return plan

    plan = run(body())
    if out.json_mode:
        out.document(
            {
                "rule": plan.ours[0],
                "expiration_rule": next((r for r in plan.ours if "Expiration" in r), None),
                "abort_rule": plan.ours[-1],
                "rules": plan.rules,
                "cost_before": plan.cost_before,
                "cost_after": plan.cost_after,
                "untagged": list(plan.untagged),
                "pending_uploads": [
                    {
                        "key": upload.key,
                        "initiated": upload.initiated and format_time(upload.initiated),
                    }
                    for upload in plan.pending
                ],
                "applied": not dry_run,
            }
        )
        return
    if not out.quiet:
        click.echo(yaml.safe_dump_all(plan.ours, sort_keys=False).rstrip())
    rows = [
        ("monthly cost now", human_money(plan.cost_before)),
        ("once moved", human_money(plan.cost_after)),
    ]
    if plan.untagged:
        rows.append(
            (
                "not moved",
                f"{len(plan.untagged)} untagged archive(s), first {plan.untagged[0]}: "
                f"tag them {ARCHIVE_TAG_KEY}={ARCHIVE_TAG_VALUE} (docs/cargoship.md)",
            )
        )
    if plan.pending:
        oldest = plan.pending[0].initiated
        rows.append(
            (
                "pending uploads",
                f"{len(plan.pending)} under the prefix"
                + (f", the oldest begun {format_time(oldest)}" if oldest is not None else "")
                + f"; the rule aborts them {abort_uploads_after} days after they began",
            )
        )
    out.summary(
        "dry run, nothing written"
        if dry_run
        else f"written ({len(plan.rules)} rule(s) in the bucket)",
        rows,
    )


# -- estimate -------------------------------------------------------------------------------

_ESTIMATE_EXAMPLES = """\b
Examples:
  cargoship estimate ~/projects/2024
  cargoship estimate data/ --compression lz4 --json

\b
The tar stream ship would write is laid out from the scan (its size is
exact) and its compressibility measured on a sample of it; duplicates are
found by content. Nothing is uploaded and no S3 access is needed.
"""


@click.command(
    "estimate", epilog=_ESTIMATE_EXAMPLES, short_help="Project a tree's stored size and cost."
)
@click.argument("source", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--compression",
    type=click.Choice(tuple(ARCHIVE_SUFFIXES)),
    default="zstd",
    show_default=True,
    help="Codec to measure.",
)
@click.option("--level", type=int, help="Compression level of the codec (its default if unset).")
@click.option("--json", "json_mode", is_flag=True, help=_JSON_HELP)
@logging_options
def estimate_command(source: Path, compression: str, level: int | None, json_mode: bool) -> None:
    """Project the stored size of SOURCE and its monthly cost per storage class."""
    out = Output(json_mode=json_mode, quiet=verbosity() < 0)
    check_level(compression, level)
    result = estimate(source, compression=compression, level=level)
    if out.json_mode:
        out.document(jsonable(result))
        return
    out.summary(
        f"estimate for {shown(str(source))} ({compression})",
        [
            ("files", str(result.files)),
            ("bytes in", human_bytes(result.bytes_in)),
            ("sampled", human_bytes(result.sampled_bytes)),
            ("ratio", f"{result.ratio:.2f}x"),
            ("duplicates", human_bytes(result.dedup_bytes)),
            ("tar stream", human_bytes(result.tar_bytes)),
            ("projected stored", human_bytes(result.projected_bytes)),
        ],
    )
    if not out.quiet:
        rows = [(cls, human_money(cost)) for cls, cost in result.monthly_cost.items()]
        out.table(("storage class", "monthly cost"), rows, right=("monthly cost",))
