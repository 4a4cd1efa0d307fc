"""The ``cargoship`` command through click's runner: help, argument errors, exit codes, output.

Most cases need no S3 at all: a ``file://`` URL opens a real
:class:`s3opt.LocalStore`, so ship, inventory, restore and verify run end to end
on a temporary directory. The cold-storage case ships to the session's moto
server over HTTP. Each error case checks the contract every command keeps:
ONE line ``cargoship: error: ...`` on stderr, nothing on stdout, the exit code
of the table in ``cargoship --help``.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner, Result

import cargoship.cli._archive
import cargoship.cli._manage
from cargoship.cli import EXIT_CODES, main
from cargoship.cli._progress import progress_bar
from s3opt.testing import MotoServer

COMMANDS = ("ship", "restore", "verify", "inventory", "lifecycle", "estimate")


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def assert_one_error_line(result: Result, code: int, *fragments: str) -> None:
    """The error contract: exit ``code``, nothing on stdout, one ``cargoship: error:`` line."""
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("cargoship: error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0]


def tree(root: Path) -> dict[str, tuple[Any, ...]]:
    """Every entry under ``root`` as the filesystem reports it (lstat, never following links)."""
    found: dict[str, tuple[Any, ...]] = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        name = path.relative_to(root).as_posix()
        if stat.S_ISLNK(info.st_mode):
            found[name] = ("symlink", os.readlink(path))
        elif stat.S_ISDIR(info.st_mode):
            found[name] = ("dir", stat.S_IMODE(info.st_mode))
        else:
            found[name] = (
                "file",
                path.read_bytes(),
                stat.S_IMODE(info.st_mode),
                info.st_mtime_ns,
            )
    return found


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    """A ``file://`` store on an empty directory."""
    root = tmp_path / "store"
    root.mkdir()
    return root.as_uri()


def ship_json(source: Path, url: str, *extra: str) -> dict[str, Any]:
    result = invoke("ship", str(source), url, "--json", *extra)
    assert result.exit_code == 0, result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


# -- help and version -------------------------------------------------------------------------


def test_version_and_exit_code_table_in_main_help() -> None:
    version = invoke("--version")
    assert version.exit_code == 0
    assert version.stdout.startswith("cargoship, version ")
    result = invoke("--help")
    assert result.exit_code == 0
    for command in COMMANDS:
        assert f"  {command} " in result.stdout
    # borg-style table: every code on its own line with its meaning
    for code in (0, 1, 2, 3, 4, 130):
        assert any(line.split()[:1] == [str(code)] for line in result.stdout.splitlines()), code
    assert set(EXIT_CODES) == {0, 1, 2, 3, 4, 130}


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_examples(command: str) -> None:
    result = invoke(command, "--help")
    assert result.exit_code == 0
    assert "Examples:" in result.stdout
    # click's \b kept the example lines unwrapped: each starts with the command
    examples = [line.strip() for line in result.stdout.splitlines() if "cargoship " in line]
    assert any(line.startswith(f"cargoship {command} ") for line in examples), result.stdout
    if command != "estimate":  # estimate never talks to S3
        assert "--endpoint-url" in result.stdout
    assert "--verbose" in result.stdout


# -- argument errors ----------------------------------------------------------------------------


def test_a_url_that_is_not_s3_or_file_is_one_line_and_exit_2() -> None:
    result = invoke("inventory", "http://bucket/prefix")
    assert_one_error_line(result, 2, "http://bucket/prefix")


def test_an_invalid_bucket_name_is_refused_before_any_request() -> None:
    result = invoke("verify", "s3://No_Such_Bucket/x/20260101T000000Z")
    assert_one_error_line(result, 2, "invalid bucket name", "No_Such_Bucket")


def test_an_archive_url_needs_an_archive_name() -> None:
    assert_one_error_line(invoke("verify", "s3://bucket"), 2, "no archive name")


def test_an_archive_name_must_be_an_archive_name(store_url: str) -> None:
    result = invoke("verify", f"{store_url}/notes.txt")
    assert_one_error_line(result, 2, "notes.txt")


@pytest.mark.parametrize(
    ("compression", "level", "expected"),
    [
        ("gzip", "12", "1..9"),
        ("zstd", "40", "1..22"),
        ("none", "3", "no levels"),
        ("auto", "3", ""),
    ],
)
def test_a_level_the_codec_does_not_have_is_a_usage_error(
    sample_tree: Path, compression: str, level: str, expected: str
) -> None:
    args = ("ship", str(sample_tree), "s3://bucket/p", "--compression", compression)
    result = invoke(*args, "--level", level)
    assert result.exit_code == 2
    assert "--level" in result.stderr
    assert expected in result.stderr


def test_a_bad_duration_is_a_usage_error() -> None:
    result = invoke("lifecycle", "s3://bucket/p", "--archive-after", "90x")
    assert result.exit_code == 2
    assert "not a duration: '90x'" in result.stderr


def test_lifecycle_refuses_an_upload_abort_s3_would_refuse() -> None:
    result = invoke(
        "lifecycle", "s3://bucket/p", "--archive-after", "90d", "--abort-uploads-after", "0d"
    )
    assert_one_error_line(result, 2, "abort incomplete uploads after 0 days: S3 needs 1 or more")


def test_a_bad_controller_is_a_usage_error() -> None:
    result = invoke("inventory", "s3://bucket/p", "--controller", "warp")
    assert result.exit_code == 2
    assert "fixed:N" in result.stderr


def test_lifecycle_needs_an_s3_url(store_url: str) -> None:
    result = invoke("lifecycle", store_url, "--archive-after", "90d")
    assert_one_error_line(result, 2, "s3://")


def test_a_config_file_that_is_not_yaml_settings_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "s3.yaml"
    config.write_text("controller: warp\n")
    result = invoke("inventory", "s3://bucket/p", "--config", str(config))
    assert_one_error_line(result, 2, "controller")


def test_no_secret_in_the_error_when_s3_cannot_be_reached() -> None:
    secret = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"
    env = {
        "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_MAX_ATTEMPTS": "1",
    }
    result = invoke(
        "inventory", "s3://some-bucket/p", "--endpoint-url", "http://127.0.0.1:9", env=env
    )
    assert_one_error_line(result, 2)
    assert secret not in result.stderr


# -- end to end on a file:// store --------------------------------------------------------------


def test_ship_inventory_restore_round_trip_on_a_local_store(
    sample_tree: Path, store_url: str, tmp_path: Path
) -> None:
    shipped = ship_json(sample_tree, store_url)
    name = shipped["archive"]
    assert shipped["dry_run"] is False
    assert shipped["files"] >= 6
    assert shipped["bytes_in"] == sum(
        p.stat().st_size for p in sample_tree.rglob("*") if p.is_file() and not p.is_symlink()
    )
    # copy-b.bin is copy-a.bin's bytes: stored once
    assert shipped["dedup_bytes"] == 64 << 10
    store_dir = Path(store_url.removeprefix("file://"))
    assert (store_dir / shipped["keys"]["archive"]).stat().st_size == shipped["bytes_stored"]
    assert (store_dir / shipped["keys"]["inventory"]).is_file()
    assert (store_dir / shipped["keys"]["pages"]).is_file()

    listing = json.loads(invoke("inventory", store_url, "--json").stdout)
    assert [a["archive"]["name"] for a in listing["archives"]] == [name]
    files = json.loads(invoke("inventory", store_url, name, "--json").stdout)["files"]
    assert {f["path"] for f in files} >= {"README.txt", "data/big.txt", "other/copy-b.bin"}

    dest = tmp_path / "restored"
    result = invoke("restore", f"{store_url}/{name}", str(dest))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"restored {name} into ")
    assert tree(dest) == tree(sample_tree)

    # Again without --overwrite: refused, one line, nothing changed.
    again = invoke("restore", f"{store_url}/{name}", str(dest))
    assert_one_error_line(again, 2, "overwrite")


def test_quiet_prints_nothing_and_json_prints_one_document(
    sample_tree: Path, store_url: str
) -> None:
    quiet = invoke("ship", str(sample_tree), store_url, "-q")
    assert quiet.exit_code == 0
    assert quiet.stdout == ""
    assert quiet.stderr == ""
    search = invoke("inventory", store_url, "--search", "*.bin", "--json")
    doc = json.loads(search.stdout)  # the whole of stdout is one document
    paths = sorted(hit["entry"]["path"] for hit in doc["hits"])
    assert paths == ["data/copy-a.bin", "data/nested/deeper/leaf.bin", "other/copy-b.bin"]


@pytest.mark.parametrize("where", ["next to it", "at the end"])
def test_an_inventory_listing_a_path_twice_is_refused_before_anything_is_printed(
    sample_tree: Path, store_url: str, where: str
) -> None:
    """The listing and a whole-inventory search read the inventory as a stream: a path
    repeated right after itself is found there; one repeated out of ship's order is found
    once the stream ends, before the table or document is printed."""
    shipped = ship_json(sample_tree, store_url)
    name = shipped["archive"]
    inventory = Path(store_url.removeprefix("file://")) / shipped["keys"]["inventory"]
    text = inventory.read_bytes()
    items = text.split(b"\n- path: ")
    repeated = items[-1] if where == "next to it" else items[2]
    inventory.write_bytes(text.rstrip(b"\n") + b"\n- path: " + repeated.rstrip(b"\n") + b"\n")
    (path,) = (line for line in repeated.splitlines()[:1])
    for args in ((name,), (name, "--json"), ("--search", "*"), ("--search", "*", "--json")):
        result = invoke("inventory", store_url, *args)
        assert_one_error_line(result, 2, f"path {path.decode()!r} repeats", name)


def test_verify_names_a_flipped_byte_and_exits_3(sample_tree: Path, store_url: str) -> None:
    shipped = ship_json(sample_tree, store_url)
    url = f"{store_url}/{shipped['archive']}"
    assert invoke("verify", url).exit_code == 0
    archive = Path(store_url.removeprefix("file://")) / shipped["keys"]["archive"]
    data = bytearray(archive.read_bytes())
    data[len(data) // 3] ^= 0x01
    archive.write_bytes(bytes(data))
    result = invoke("verify", url)
    assert result.exit_code == 3
    assert result.stdout.startswith("damaged: ")
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("cargoship: error: ")
    doc = json.loads(invoke("verify", url, "--json").stdout)
    assert doc["ok"] is False
    assert doc["problems"]


def test_ship_help_names_every_object_of_an_archive() -> None:
    text = " ".join(invoke("ship", "--help").stdout.split())
    for suffix in (".tar.zst", ".index", ".inventory.pages", ".inventory.yaml"):
        assert suffix in text


def test_restore_reports_the_inventory_bytes_it_read(
    sample_tree: Path, store_url: str, tmp_path: Path
) -> None:
    shipped = ship_json(sample_tree, store_url)
    store_dir = Path(store_url.removeprefix("file://"))
    table = (store_dir / shipped["keys"]["pages"]).stat().st_size
    inventory = (store_dir / shipped["keys"]["inventory"]).stat().st_size
    url = f"{store_url}/{shipped['archive']}"

    result = invoke("restore", url, str(tmp_path / "a"), "--include", "README.txt", "--json")
    human = invoke("restore", url, str(tmp_path / "b"), "--include", "README.txt")

    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)["restore"]
    # One page of a few items, over half the inventory: the table, then the whole inventory.
    assert report["inventory_bytes"] == table + inventory
    assert report["inventory_requests"] >= 3  # the table, a HEAD of the inventory, its GET
    assert human.exit_code == 0, human.stderr
    line = f"inventory read  {(table + inventory) / 1024:.1f} KiB in "
    assert line + f"{report['inventory_requests']} requests" in human.stdout.splitlines()


def test_verify_notes_an_archive_without_a_page_table(sample_tree: Path, store_url: str) -> None:
    shipped = ship_json(sample_tree, store_url)
    (Path(store_url.removeprefix("file://")) / shipped["keys"]["pages"]).unlink()
    url = f"{store_url}/{shipped['archive']}"

    result = invoke("verify", url)
    doc = json.loads(invoke("verify", url, "--json").stdout)

    assert result.exit_code == 0
    assert result.stdout.startswith(f"verified {shipped['archive']}: ok")
    assert result.stderr.startswith(f"cargoship: {shipped['keys']['pages']}: none")
    assert doc["ok"] is True
    assert [note.split(":")[0] for note in doc["notes"]] == [shipped["keys"]["pages"]]


def test_a_missing_archive_and_an_interrupted_one_are_told_apart(store_url: str) -> None:
    missing = invoke("restore", f"{store_url}/20260101T000000Z", "dest")
    assert_one_error_line(missing, 2, "20260101T000000Z")
    # An archive object without its inventory: what an interrupted ship leaves.
    (Path(store_url.removeprefix("file://")) / "20260101T000000Z.tar.zst").write_bytes(b"x")
    incomplete = invoke("verify", f"{store_url}/20260101T000000Z")
    assert_one_error_line(incomplete, 2, "20260101T000000Z")
    assert incomplete.stderr != missing.stderr


def test_estimate_prices_every_storage_class(sample_tree: Path) -> None:
    result = invoke("estimate", str(sample_tree), "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["bytes_in"] == sum(
        p.stat().st_size for p in sample_tree.rglob("*") if p.is_file() and not p.is_symlink()
    )
    assert doc["monthly_cost"]["DEEP_ARCHIVE"] < doc["monthly_cost"]["STANDARD"]


def test_ctrl_c_exits_130(sample_tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cargoship.cli._manage, "estimate", interrupted)
    result = invoke("estimate", str(sample_tree))
    assert result.exit_code == 130
    assert result.stderr == "cargoship: interrupted\n"


# -- S3 (moto over HTTP) -----------------------------------------------------------------------


def test_lifecycle_keeps_the_bucket_s_other_rules(
    sample_tree: Path, moto_server: MotoServer, bucket: str
) -> None:
    env = {**moto_server.env, "AWS_MAX_ATTEMPTS": "2"}
    s3: Any = boto3.client(  # a plain client: the outside view of the bucket's rules
        "s3",
        endpoint_url=moto_server.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    theirs = {
        "ID": "logs-expire",
        "Filter": {"Prefix": "logs/"},
        "Status": "Enabled",
        "Expiration": {"Days": 30},
    }
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [theirs]})
    url = f"s3://{bucket}/archives"
    assert invoke("ship", str(sample_tree), url, "-q", env=env).exit_code == 0

    dry = invoke("lifecycle", url, "--archive-after", "90d", "--dry-run", "--json", env=env)
    planned = json.loads(dry.stdout)
    assert (planned["applied"], planned["untagged"], planned["expiration_rule"]) == (
        False,
        [],
        None,
    )
    assert planned["abort_rule"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}
    assert planned["pending_uploads"] == []
    s3.create_multipart_upload(Bucket=bucket, Key="archives/20260101T000000Z.tar.zst")
    rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert [r["ID"] for r in rules] == ["logs-expire"]

    result = invoke(
        "lifecycle",
        url,
        *("--archive-after", "12w", "--expire-after", "1y", "--abort-uploads-after", "2w"),
        env=env,
    )
    assert result.exit_code == 0, result.stderr
    assert "StorageClass: DEEP_ARCHIVE" in result.stdout
    assert "DaysAfterInitiation: 14" in result.stdout
    assert "pending uploads" in result.stdout
    assert "1 under the prefix, the oldest begun " in result.stdout  # moto's date is fixed
    assert "; the rule aborts them 14 days after they began" in result.stdout
    assert "monthly cost now" in result.stdout
    by_id = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]}
    assert set(by_id) == {
        "logs-expire",
        "cargoship:archives/",
        "cargoship-expire:archives/",
        "cargoship-uploads:archives/",
    }
    ours = by_id["cargoship:archives/"]
    assert ours["Transitions"] == [{"Days": 84, "StorageClass": "DEEP_ARCHIVE"}]
    assert ours["Filter"]["And"]["Tags"] == [{"Key": "cargoship-role", "Value": "archive"}]
    assert by_id["cargoship-expire:archives/"]["Expiration"] == {"Days": 365}
    assert by_id["logs-expire"]["Expiration"] == {"Days": 30}
    uploads = by_id["cargoship-uploads:archives/"]
    assert uploads["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 14}
    assert uploads["Filter"] == {"Prefix": "archives/"}


# -- cold storage (moto over HTTP) --------------------------------------------------------------


def test_a_pending_retrieval_prints_the_plan_requests_it_and_exits_4(
    sample_tree: Path,
    moto_server: MotoServer,
    bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = {**moto_server.env, "AWS_MAX_ATTEMPTS": "2"}
    url = f"s3://{bucket}/cold"
    result = invoke(
        "ship", str(sample_tree), url, "--storage-class", "DEEP_ARCHIVE", "--json", env=env
    )
    assert result.exit_code == 0, result.stderr
    shipped = json.loads(result.stdout)
    assert shipped["storage_class"] == "DEEP_ARCHIVE"

    # moto finishes a restore at once; S3 takes hours. Make the status say so.
    async def in_progress(*args: object) -> str:
        return "in-progress"

    monkeypatch.setattr(cargoship.cli._archive, "retrieval_status", in_progress)
    archive_url = f"{url}/{shipped['archive']}"
    pending = invoke(
        "restore", archive_url, str(tmp_path / "out"), "--tier", "Bulk", "--json", env=env
    )
    assert pending.exit_code == 4
    retrieval = json.loads(pending.stdout)["retrieval"]
    assert retrieval["status"] == "in-progress"
    assert retrieval["tier"] == "Bulk"
    assert [o["key"] for o in retrieval["objects"]] == [shipped["keys"]["archive"]]
    assert retrieval["requested"] == [shipped["keys"]["archive"]]  # RestoreObject was sent
    assert retrieval["cost"] > 0
    assert pending.stderr.startswith("cargoship: error: archive ")
    assert "--wait" in pending.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("terminal", [False, True])
def test_the_progress_bar_is_drawn_only_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch, terminal: bool
) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: terminal)
    with progress_bar("restoring", enabled=True) as bar:
        assert (bar is not None) == terminal
    with progress_bar("restoring", enabled=False) as bar:  # -q
        assert bar is None
