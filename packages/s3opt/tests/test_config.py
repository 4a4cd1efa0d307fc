"""S3Config: defaults, YAML, environment precedence, validation messages, secrets kept secret."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from s3opt.config import ConfigError, RetryConfig, S3Config, parse_controller

SECRET = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"
TOKEN = "FwoGZXIvYXdzEXAMPLESESSIONTOKEN"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s3opt.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults() -> None:
    config = S3Config()
    assert config.controller == "bbr"
    assert config.controller_name == "bbr"
    assert config.part_size_min == 5 * 2**20
    assert config.part_size_max == 512 * 2**20
    assert config.multipart_threshold == 8 * 2**20
    assert config.max_connections == 64
    assert config.retry == RetryConfig(
        max_attempts=10, base_delay=0.1, max_delay=20.0, deadline=600.0
    )
    assert (config.connect_timeout, config.read_timeout, config.accelerate) == (10.0, 60.0, False)
    assert config.addressing_style == "auto"


def test_frozen() -> None:
    config = S3Config()
    with pytest.raises(ValueError, match="frozen"):
        config.controller = "cubic"
    assert config.model_copy(update={"controller": "cubic"}).controller == "cubic"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [("bbr", ("bbr", None)), ("CUBIC", ("cubic", None)), ("fixed:10", ("fixed", 10))],
)
def test_controller_specs(spec: str, expected: tuple[str, int | None]) -> None:
    assert parse_controller(spec) == expected


@pytest.mark.parametrize("spec", ["", "reno", "fixed", "fixed:0", "fixed:-3", "fixed:x", "bbr2"])
def test_bad_controller_spec(spec: str) -> None:
    with pytest.raises(ConfigError, match=r"controller: controller must be 'bbr', 'cubic' or"):
        S3Config.from_env({}, controller=spec)


def test_controller_is_normalised() -> None:
    assert S3Config(controller=" Fixed:8 ").controller == "fixed:8"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("part_size_min", 5 * 2**20 - 1),
        ("part_size_min", 1024),
        ("part_size_max", 5 * 2**30 + 1),
    ],
)
def test_part_sizes_outside_s3_limits(field: str, value: int) -> None:
    overrides: dict[str, Any] = {field: value}
    with pytest.raises(ConfigError) as info:
        S3Config.from_env({}, **overrides)
    message = str(info.value)
    assert f"{field}: {value} bytes is outside S3's part size limits" in message
    assert "5 MiB" in message
    assert "5 GiB" in message
    assert "\n" not in message


def test_part_size_bounds_accepted_and_ordered() -> None:
    config = S3Config(part_size_min=5 * 2**20, part_size_max=5 * 2**30)
    assert config.part_size_max == 5 * 2**30
    with pytest.raises(ConfigError, match=r"part_size_max .* must be >= part_size_min"):
        S3Config.from_env({}, part_size_min=64 * 2**20, part_size_max=32 * 2**20)


def test_other_validation() -> None:
    with pytest.raises(ConfigError, match=r"max_delay .* must be >= base_delay"):
        S3Config.from_env({}, retry={"base_delay": 5.0, "max_delay": 1.0})
    with pytest.raises(ConfigError, match="endpoint_url must start with http"):
        S3Config.from_env({}, endpoint_url="ftp://x")
    with pytest.raises(ConfigError, match="access_key_id is set but secret_access_key is not"):
        S3Config.from_env({}, access_key_id="AKIA")
    with pytest.raises(ConfigError, match="addressing_style"):
        S3Config.from_env({}, addressing_style="sideways")


def test_yaml(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        f"""
endpoint_url: http://127.0.0.1:9000/
region: eu-west-1
controller: fixed:12
part_size_min: 16777216
access_key_id: AKIAEXAMPLE
secret_access_key: {SECRET}
retry:
  max_attempts: 4
  deadline: 30
""",
    )
    config = S3Config.from_yaml(path)
    assert config.endpoint_url == "http://127.0.0.1:9000"
    assert config.region == "eu-west-1"
    assert config.controller == "fixed:12"
    assert config.part_size_min == 16 * 2**20
    assert config.retry.max_attempts == 4
    assert config.retry.deadline == 30.0
    assert config.retry.base_delay == 0.1  # default kept
    assert isinstance(config.secret_access_key, SecretStr)
    assert config.secret_access_key.get_secret_value() == SECRET


def test_empty_yaml_is_defaults(tmp_path: Path) -> None:
    assert S3Config.from_yaml(_write(tmp_path, "")) == S3Config()


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("controller: [1, 2\n", "is not valid YAML"),
        ("- a\n- b\n", "must be a mapping of settings, got list"),
        ("contoller: bbr\n", "contoller: Extra inputs are not permitted"),
        ("retry:\n  max_attempts: 0\n", "retry.max_attempts: Input should be greater than"),
        ("part_size_max: 99999999999\n", "part_size_max: 99999999999 bytes is outside"),
    ],
)
def test_bad_yaml(tmp_path: Path, text: str, match: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=match) as info:
        S3Config.from_yaml(path)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read s3opt config"):
        S3Config.from_yaml(tmp_path / "absent.yaml")


def test_from_env_reads_aws_variables() -> None:
    environ = {
        "AWS_ENDPOINT_URL": "http://generic:1",
        "AWS_ENDPOINT_URL_S3": "http://s3-specific:2",
        "AWS_DEFAULT_REGION": "us-west-2",
        "AWS_REGION": "ap-south-1",
        "AWS_PROFILE": "work",
        "AWS_ACCESS_KEY_ID": "AKIAENV",
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_SESSION_TOKEN": TOKEN,
        "AWS_MAX_ATTEMPTS": "7",
        "S3OPT_CONTROLLER": "cubic",
        "S3OPT_MAX_CONNECTIONS": "128",
        "S3OPT_ACCELERATE": "true",
    }
    config = S3Config.from_env(environ)
    assert config.endpoint_url == "http://s3-specific:2"  # the S3-specific variable wins
    assert config.region == "ap-south-1"  # AWS_REGION over AWS_DEFAULT_REGION
    assert config.profile == "work"
    assert config.access_key_id == "AKIAENV"
    assert config.secret_access_key is not None
    assert config.secret_access_key.get_secret_value() == SECRET
    assert config.session_token is not None
    assert config.session_token.get_secret_value() == TOKEN
    assert config.retry.max_attempts == 7
    assert (config.controller, config.max_connections, config.accelerate) == ("cubic", 128, True)


def test_precedence_flags_over_env_over_yaml_over_defaults(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "region: from-yaml\ncontroller: cubic\nmax_connections: 10\nread_timeout: 5\n"
        "retry:\n  max_attempts: 3\n  deadline: 50\n",
    )
    environ = {"AWS_REGION": "from-env", "S3OPT_CONTROLLER": "fixed:4", "AWS_MAX_ATTEMPTS": "6"}
    config = S3Config.load(path, environ, controller="bbr", max_connections=None)
    assert config.controller == "bbr"  # flag > env > yaml
    assert config.region == "from-env"  # env > yaml
    assert config.max_connections == 10  # yaml (the None flag is "not given")
    assert config.read_timeout == 5.0  # yaml > default
    assert config.connect_timeout == 10.0  # default
    assert config.retry.max_attempts == 6
    assert config.retry.deadline == 50.0


def test_env_key_pair_replaces_yaml_pair_and_keeps_secret(tmp_path: Path) -> None:
    path = _write(tmp_path, f"access_key_id: AKIAYAML\nsecret_access_key: {SECRET}\n")
    from_yaml = S3Config.load(path, {})
    assert from_yaml.secret_access_key is not None
    assert from_yaml.secret_access_key.get_secret_value() == SECRET
    replaced = S3Config.load(path, {"AWS_ACCESS_KEY_ID": "AKIAENV", "AWS_SECRET_ACCESS_KEY": "s2"})
    assert replaced.access_key_id == "AKIAENV"
    assert replaced.secret_access_key is not None
    assert replaced.secret_access_key.get_secret_value() == "s2"


def test_from_env_defaults_to_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S3OPT_CONTROLLER", "fixed:3")
    assert S3Config.from_env().controller == "fixed:3"


def test_secrets_are_never_printed(caplog: pytest.LogCaptureFixture) -> None:
    config = S3Config(
        access_key_id="AKIAEXAMPLE",
        secret_access_key=SecretStr(SECRET),
        session_token=SecretStr(TOKEN),
    )
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("test").info("config: %s %r", config, config)
    rendered = [repr(config), str(config), config.model_dump_json(), f"{config}", caplog.text]
    for text in rendered:
        assert SECRET not in text
        assert TOKEN not in text
    assert "**********" in config.model_dump_json()


def test_validation_errors_never_echo_secrets() -> None:
    with pytest.raises(ConfigError) as info:
        S3Config.from_env({}, secret_access_key=SECRET, controller="nope")
    assert SECRET not in str(info.value)
    assert info.value.__cause__ is None  # pydantic's error (with the input) is not chained
