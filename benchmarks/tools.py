"""Find, or install, the tools the transfer benchmark compares s3opt with.

* ``aws`` (AWS CLI v1): a venv of its own at ``benchmarks/.tools/awscli`` (awscli pins a
  botocore newer than aiobotocore allows, so it cannot share the project's venv); an
  ``aws`` already on PATH that runs is used when that venv is absent.
* ``rclone``, ``restic``, ``s3fs``: the Debian packages (``apt-get install -y NAME``;
  ``apt-get update`` first if the package is unknown). Needs root.

Both are configured by arguments and environment only (:func:`aws_env`,
:func:`rclone_args`), never by files in the user's home.

    python benchmarks/tools.py            # show what is found; install what is missing
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Tools",
    "aws_env",
    "ensure_tools",
    "find_aws",
    "find_debian_tool",
    "find_rclone",
    "rclone_args",
]

TOOLS_DIR = Path(__file__).resolve().parent / ".tools"
AWSCLI_VENV = TOOLS_DIR / "awscli"
INSTALL_TIMEOUT = 900


@dataclass(frozen=True)
class Tools:
    """Commands (absolute paths) for the comparison tools; None when unavailable."""

    aws: str | None
    rclone: str | None


def _runs(command: list[str]) -> bool:
    try:
        return subprocess.run(command, capture_output=True, timeout=60, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def find_aws(*, install: bool = True) -> str | None:
    own = AWSCLI_VENV / "bin" / "aws"
    if own.exists() and _runs([str(own), "--version"]):
        return str(own)
    on_path = shutil.which("aws")
    if on_path and _runs([on_path, "--version"]):
        return on_path
    if not install:
        return None
    print(f"tools: installing awscli into {AWSCLI_VENV}", file=sys.stderr)
    venv.create(AWSCLI_VENV, with_pip=True, clear=True)
    pip = [str(AWSCLI_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", "awscli"]
    subprocess.run(pip, check=True, timeout=INSTALL_TIMEOUT)
    return str(own) if own.exists() else None


def find_debian_tool(name: str, *, install: bool = True) -> str | None:
    """The command ``name`` from the Debian package of the same name, installed if missing."""
    found = shutil.which(name)
    if found or not install:
        return found
    print(f"tools: installing {name} (apt-get install -y {name})", file=sys.stderr)
    command = ["apt-get", "install", "-y", name]
    if subprocess.run(command, check=False, timeout=INSTALL_TIMEOUT).returncode != 0:
        subprocess.run(["apt-get", "update"], check=True, timeout=INSTALL_TIMEOUT)
        subprocess.run(command, check=True, timeout=INSTALL_TIMEOUT)
    return shutil.which(name)


def find_rclone(*, install: bool = True) -> str | None:
    return find_debian_tool("rclone", install=install)


def ensure_tools(*, install: bool = True) -> Tools:
    return Tools(aws=find_aws(install=install), rclone=find_rclone(install=install))


def aws_env(endpoint_url: str, config_dir: Path) -> dict[str, str]:
    """Environment for ``aws``: credentials and region from variables, no home files."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL=endpoint_url,
        AWS_CONFIG_FILE=str(config_dir / "aws-config-none"),
        AWS_SHARED_CREDENTIALS_FILE=str(config_dir / "aws-credentials-none"),
    )
    return env


def rclone_args(endpoint_url: str) -> list[str]:
    """Flags that make ``:s3:bucket/key`` paths talk to ``endpoint_url`` (no config file)."""
    return [
        "--config",
        "/dev/null",
        "--s3-provider",
        "Other",
        "--s3-endpoint",
        endpoint_url,
        "--s3-access-key-id",
        "testing",
        "--s3-secret-access-key",
        "testing",
        "--s3-region",
        "us-east-1",
        "--s3-force-path-style",
    ]


if __name__ == "__main__":
    print(ensure_tools())
