"""Each package builds alone and installs alone into a fresh virtual environment.

This is what a user's ``pip install packages/<name>`` does: nothing from the
workspace is visible, so a missing dependency declaration or a file left out
of the wheel fails here.
"""

from __future__ import annotations

import subprocess
import tomllib
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = sorted(p.parent for p in ROOT.glob("packages/*/pyproject.toml"))

# What a user imports from each distribution, and a line of code that must work.
SMOKE = {
    "netalgo": (
        "import netalgo.bbr, netalgo.cubic, netalgo.reno, netalgo.sim, netalgo.limiter; "
        "c = netalgo.cubic.Cubic(); assert c.cwnd > 0; "
        "import importlib.resources as r; assert r.files('netalgo').joinpath('py.typed').is_file()"
    ),
    "blobcodec": "import blobcodec; from blobcodec.errors import BlobcodecError",
    "opsmetrics": "import opsmetrics",
}


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.name)
def test_package_installs_alone_into_a_fresh_venv(package: Path, tmp_path: Path) -> None:
    name = tomllib.loads((package / "pyproject.toml").read_text())["project"]["name"]
    env = tmp_path / "venv"
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"
    install = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            str(package),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert install.returncode == 0, install.stderr
    smoke = SMOKE.get(name, f"import {name}")
    run = subprocess.run(
        [str(python), "-c", smoke], capture_output=True, text=True, check=False, cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr
    # The import came from the fresh environment, not from the checkout.
    where = subprocess.run(
        [str(python), "-c", f"import {name.replace('-', '_')} as m; print(m.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout
    assert str(env) in where, where


def test_every_package_has_a_smoke_check() -> None:
    names = {tomllib.loads((p / "pyproject.toml").read_text())["project"]["name"] for p in PACKAGES}
    assert names <= set(SMOKE), f"add an import smoke line for {sorted(names - set(SMOKE))}"
