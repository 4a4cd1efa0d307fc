"""MountOptions and size parsing, against hand-computed byte counts."""

from __future__ import annotations

from pathlib import Path

import pytest

from objectfs.config import (
    ConfigError,
    MountOptions,
    default_cache_dir,
    format_size,
    parse_mount_options,
    parse_size,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4096", 4096),
        ("256M", 268_435_456),
        ("10G", 10_737_418_240),
        ("1GiB", 1_073_741_824),
        ("1gb", 1_073_741_824),
        ("64k", 65_536),
        ("2T", 2_199_023_255_552),
        ("0", 0),
        (" 8 MiB ", 8_388_608),
    ],
)
def test_parse_size_binary_units(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize(
    ("count", "text"),
    [(0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"), (268_435_456, "256.0 MiB"),
     (2_147_483_648, "2.0 GiB"), (1024**5, "1.0 PiB"), (1024**6, "1024.0 PiB")],
)  # fmt: skip
def test_format_size_binary_units(count: int, text: str) -> None:
    assert format_size(count) == text


@pytest.mark.parametrize("text", ["", "-1", "1.5G", "10X", "G", "1iB", "ten"])
def test_parse_size_refuses_and_names_the_text(text: str) -> None:
    with pytest.raises(ValueError, match="not a size") as info:
        parse_size(text)
    assert repr(text) in str(info.value)


def test_defaults_match_the_documented_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", "/var/cache/u")
    options = MountOptions()
    assert options.cache_dir == Path("/var/cache/u/objectfs")
    assert options.cache_size == 10 * 2**30
    assert options.memory_cache_size == 256 * 2**20
    assert options.memory_limit == 2**30
    assert options.block_size == 2**20
    assert options.max_readahead == 64 * 2**20
    assert options.umask == 0o022
    assert options.metadata_ttl == 300.0
    assert options.negative_ttl == 5.0
    assert options.kernel_readahead == 2**20
    assert options.request_timeout == 30.0
    assert not options.read_only
    assert not options.allow_other
    assert not options.foreground


def test_cache_dir_falls_back_to_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", "/home/ann")
    assert default_cache_dir() == Path("/home/ann/.cache/objectfs")


def test_sizes_and_umask_accept_text() -> None:
    options = MountOptions.validated(
        {"cache_size": "2G", "memory_cache_size": "64M", "umask": "027"}, "test"
    )
    assert options.cache_size == 2 * 2**30
    assert options.memory_cache_size == 64 * 2**20
    assert options.umask == 0o027


def test_options_are_frozen_and_closed() -> None:
    with pytest.raises(ConfigError, match="cache_sise"):
        MountOptions.validated({"cache_sise": 1}, "test")
    with pytest.raises(ConfigError, match="umask"):
        MountOptions.validated({"umask": "99"}, "test")


def test_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "mount.yaml"
    path.write_text("read-only: true\ncache_size: 1G\nmetadata_ttl: 0.5\nuid: 1000\n")
    options = MountOptions.from_yaml(path)
    assert options.read_only
    assert options.cache_size == 2**30
    assert options.metadata_ttl == 0.5
    assert options.uid == 1000


@pytest.mark.parametrize(
    ("content", "message"),
    [("- a\n- b\n", "must be a mapping"), ("a: [\n", "not valid YAML"), ("ttl: 1\n", "ttl")],
)
def test_from_yaml_errors_name_the_file(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message) as info:
        MountOptions.from_yaml(path)
    assert str(path) in str(info.value)


def test_mount_style_options() -> None:
    chosen = parse_mount_options(["ro,allow_other,uid=1000", "gid=50,umask=077,cache-size=2G"])
    assert chosen == {
        "read_only": True,
        "allow_other": True,
        "uid": "1000",
        "gid": "50",
        "umask": "077",
        "cache_size": "2G",
    }
    options = MountOptions.validated(chosen, "-o")
    assert (options.uid, options.gid, options.umask) == (1000, 50, 0o077)
    assert parse_mount_options(["ro,rw"]) == {"read_only": False}


@pytest.mark.parametrize("text", ["nosuch", "cache_size", "ro=1x,bogus=2"])
def test_mount_style_options_refuse_unknown(text: str) -> None:
    with pytest.raises(ConfigError, match="unknown mount option"):
        parse_mount_options([text])


def test_negative_answers_never_outlive_positive_ones() -> None:
    assert MountOptions().absent_ttl == 5.0
    assert MountOptions(metadata_ttl=1).absent_ttl == 1.0
    assert MountOptions(negative_ttl=0).absent_ttl == 0.0
    assert MountOptions.validated({"negative_ttl": "2.5"}, "-o").absent_ttl == 2.5
    with pytest.raises(ConfigError, match="negative_ttl"):
        MountOptions.validated({"negative_ttl": "-1"}, "-o")
