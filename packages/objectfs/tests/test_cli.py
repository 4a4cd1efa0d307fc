"""The command line's refusals: one line on stderr, the documented exit code, nothing mounted."""

from __future__ import annotations

from pathlib import Path

import pytest

from objectfs.cli import main


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(argv)
    captured = capsys.readouterr()
    code = info.value.code
    assert isinstance(code, int)
    return code, captured.out, captured.err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--cache-size", "10X"], "'10X'"),
        (["-o", "ro,frobnicate"], "unknown mount option 'frobnicate'"),
        (["--umask", "9"], "umask"),
        (["--metadata-ttl", "-1"], "metadata_ttl"),
        (["--controller", "warp"], "controller"),
        (["-o", "block_size=64M"], "48 x 64.0 MiB = 3.0 GiB for read-ahead"),
        (["--memory-limit", "128M"], "memory_limit 128.0 MiB is too small"),
        (["--memory-limit", "512M", "--memory-cache-size", "400M"], "does not fit"),
    ],
)
def test_bad_options_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    code, out, err = run([*extra, "s3://bucket/prefix", str(tmp_path)], capsys)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("objectfs: ")
    assert message in err


def test_bad_url(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["ftp://bucket/x", str(tmp_path)], capsys)
    assert code == 2
    assert "ftp://bucket/x" in err
    assert err.count("\n") == 1


def test_mountpoint_must_be_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nowhere"
    code, _, err = run(["s3://bucket", str(missing)], capsys)
    assert code == 2
    assert f"mountpoint {missing} is not a directory" in err


def test_config_file_errors_name_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "objectfs.yaml"
    config.write_text("cache_size: lots\n")
    code, _, err = run(["--config", str(config), "s3://bucket", str(tmp_path)], capsys)
    assert code == 2
    assert str(config) in err
    assert "'lots'" in err


@pytest.mark.parametrize("command", ["stats", "unmount"])
def test_plain_directory_is_not_a_mount(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    code, out, err = run([command, str(tmp_path)], capsys)
    assert code == 1
    assert out == ""
    assert err == f"objectfs: {tmp_path} is not an objectfs mount\n"


def test_help_lists_the_options(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["--help"], capsys)
    assert code == 0
    for option in ("--foreground", "--read-only", "--cache-dir", "--memory-limit", "-o"):
        assert option in out
    # The examples name the other two commands, which the options list cannot.
    assert "Examples:" in out
    assert "objectfs unmount " in out
    assert "objectfs stats " in out


@pytest.mark.parametrize("command", ["stats", "unmount"])
def test_each_command_s_help_has_examples(capsys: pytest.CaptureFixture[str], command: str) -> None:
    code, out, _ = run([command, "--help"], capsys)
    assert code == 0
    assert out.startswith(f"Usage: objectfs {command} [OPTIONS] MOUNTPOINT")
    assert f"Examples:\n    objectfs {command} ~/projects" in out
