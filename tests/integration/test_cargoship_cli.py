"""The installed ``cargoship`` console script, in a subprocess, against moto's S3 server over HTTP.

One tree goes through the whole life of an archive as a user would run it:
ship -> inventory --json -> restore --include -> restore all -> verify ->
verify --quick, with the restored trees compared to the source by walking
both (content, modes, mtimes, symlinks, hard-linked duplicates), and
``tar --zstd -xf`` of the downloaded archive giving the same files.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from s3opt.testing import MotoServer

CARGOSHIP = Path(sys.executable).parent / "cargoship"
BIG = 4 << 20


@pytest.fixture
def env(moto_server: MotoServer) -> dict[str, str]:
    return {**os.environ, **moto_server.env, "AWS_MAX_ATTEMPTS": "3"}


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """Text, an empty file, 4 MiB of random bytes and a copy of them, a symlink, modes."""
    root = tmp_path / "source"
    (root / "docs" / "deep").mkdir(parents=True)
    (root / "bin").mkdir()
    # Incompressible, so the archive spans several zstd frames and --include has frames to skip.
    noise = random.Random(5).randbytes(BIG)
    (root / "docs" / "big.log").write_bytes(noise)
    (root / "docs" / "deep" / "note.txt").write_text("a note\n")
    (root / "docs" / "empty").write_bytes(b"")
    (root / "bin" / "tool.sh").write_text("#!/bin/sh\necho hi\n")
    (root / "bin" / "tool.sh").chmod(0o755)
    (root / "copy-of-big.log").write_bytes(noise)
    (root / "latest").symlink_to("docs/big.log")
    for path in [*root.rglob("*"), root]:
        os.utime(
            path, ns=(1_700_000_000_500_000_000, 1_700_000_000_500_000_000), follow_symlinks=False
        )
    return root


def cargoship(
    *args: str, env: dict[str, str], check: bool = True
) -> subprocess.CompletedProcess[str]:
    run = subprocess.run(
        [str(CARGOSHIP), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    if check:
        assert run.returncode == 0, f"cargoship {' '.join(args)}: {run.stderr}"
    return run


def as_json(run: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(run.stdout)  # all of stdout: exactly one document


def walk(root: Path) -> dict[str, tuple[Any, ...]]:
    """The tree as lstat and the bytes tell it (never following symlinks)."""
    found: dict[str, tuple[Any, ...]] = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        name = path.relative_to(root).as_posix()
        if stat.S_ISLNK(info.st_mode):
            found[name] = ("symlink", os.readlink(path), info.st_mtime_ns)
        elif stat.S_ISDIR(info.st_mode):
            found[name] = ("dir", stat.S_IMODE(info.st_mode))
        else:
            found[name] = ("file", path.read_bytes(), stat.S_IMODE(info.st_mode), info.st_mtime_ns)
    return found


@pytest.mark.integration
@pytest.mark.slow
def test_ship_inventory_restore_verify_through_the_console_script(
    source: Path, bucket: str, env: dict[str, str], moto_server: MotoServer, tmp_path: Path
) -> None:
    url = f"s3://{bucket}/archives"
    shipped = as_json(cargoship("ship", str(source), url, "--json", env=env))
    name = shipped["archive"]
    assert shipped["files"] == 5  # regular files; the symlink and directories are entries too
    assert shipped["dedup_bytes"] == BIG  # copy-of-big.log is stored once
    s3 = moto_server.boto3_client()
    keys = {o["Key"]: o for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert set(keys) == {
        f"archives/{shipped['keys'][k]}" for k in ("archive", "index", "pages", "inventory")
    }
    assert keys[f"archives/{shipped['keys']['archive']}"]["Size"] == shipped["bytes_stored"]

    listing = as_json(cargoship("inventory", url, "--json", env=env))
    assert [a["archive"]["name"] for a in listing["archives"]] == [name]
    files = as_json(cargoship("inventory", url, name, "--json", env=env))["files"]
    by_path = {f["path"]: f for f in files}
    # Packed in byte order, so copy-of-big.log holds the bytes and docs/big.log links to it.
    assert by_path["copy-of-big.log"]["type"] == "file"
    assert by_path["docs/big.log"]["type"] == "hardlink"
    assert by_path["docs/big.log"]["link"] == "copy-of-big.log"
    assert by_path["latest"]["link"] == "docs/big.log"

    one = tmp_path / "one"
    partial = as_json(
        cargoship(
            "restore", f"{url}/{name}", str(one), "--include", "docs/deep/*", "--json", env=env
        )
    )["restore"]
    assert sorted(p.relative_to(one).as_posix() for p in one.rglob("*") if p.is_file()) == [
        "docs/deep/note.txt"
    ]
    assert (one / "docs" / "deep" / "note.txt").read_text() == "a note\n"

    whole = tmp_path / "whole"
    full = as_json(cargoship("restore", f"{url}/{name}", str(whole), "--json", env=env))["restore"]
    assert walk(whole) == walk(source)
    assert (whole / "copy-of-big.log").stat().st_ino == (whole / "docs" / "big.log").stat().st_ino
    # The single small file came from a ranged read, not the whole archive.
    assert partial["bytes_fetched"] < full["bytes_fetched"] / 2

    verified = as_json(cargoship("verify", f"{url}/{name}", "--json", env=env))
    assert verified["ok"] is True
    assert verified["files"] >= 4
    quick = as_json(cargoship("verify", f"{url}/{name}.tar.zst", "--quick", "--json", env=env))
    assert quick["ok"] is True
    assert quick["bytes_fetched"] == 0

    # Stock tools read the same archive.
    if shutil.which("tar") and shutil.which("zstd"):
        archive = tmp_path / "archive.tar.zst"
        s3.download_file(bucket, f"archives/{shipped['keys']['archive']}", str(archive))
        unpacked = tmp_path / "tar"
        unpacked.mkdir()
        subprocess.run(["tar", "--zstd", "-xf", str(archive), "-C", str(unpacked)], check=True)
        assert walk(unpacked) == walk(source)


@pytest.mark.integration
def test_a_missing_bucket_is_one_line_and_exit_2(env: dict[str, str], tmp_path: Path) -> None:
    run = cargoship("inventory", "s3://no-such-bucket-for-cargoship/x", env=env, check=False)
    assert run.returncode == 2
    assert run.stdout == ""
    assert run.stderr.count("\n") == 1
    assert run.stderr.startswith("cargoship: error: ")
    assert "no-such-bucket-for-cargoship" in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.integration
@pytest.mark.slow
def test_a_deep_archive_restore_requests_the_retrieval_first(
    source: Path, bucket: str, env: dict[str, str], moto_server: MotoServer, tmp_path: Path
) -> None:
    url = f"s3://{bucket}/cold"
    shipped = as_json(
        cargoship("ship", str(source), url, "--storage-class", "DEEP_ARCHIVE", "--json", env=env)
    )
    s3 = moto_server.boto3_client()
    key = f"cold/{shipped['keys']['archive']}"
    assert s3.head_object(Bucket=bucket, Key=key)["StorageClass"] == "DEEP_ARCHIVE"
    assert "Restore" not in s3.head_object(Bucket=bucket, Key=key)

    # moto completes a restore at once, so the command goes on to restore the tree.
    run = cargoship("restore", f"{url}/{shipped['archive']}", str(tmp_path / "back"), env=env)
    assert "retrieval plan" in run.stdout
    assert "DEEP_ARCHIVE" in run.stdout
    assert 'ongoing-request="false"' in s3.head_object(Bucket=bucket, Key=key)["Restore"]
    assert walk(tmp_path / "back") == walk(source)
