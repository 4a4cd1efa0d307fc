"""Each package builds alone and installs into a fresh virtual environment with only its closure.

This is what a user's ``pip install packages/<name>`` does: nothing from the
workspace is visible but the sibling packages it declares (installed from
their folders, as they are not published yet), so a missing dependency
declaration or a file left out of the wheel fails here.
"""

from __future__ import annotations

import subprocess
import tomllib
import venv
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = sorted(p.parent for p in ROOT.glob("packages/*/pyproject.toml"))


def project(folder: Path) -> dict[str, object]:
    table: dict[str, object] = tomllib.loads((folder / "pyproject.toml").read_text())["project"]
    return table


FOLDERS = {str(project(p)["name"]): p for p in PACKAGES}


def local_closure(folder: Path) -> list[Path]:
    """The package's folder and those of every sibling it needs, dependencies first."""
    order: list[Path] = []

    def visit(current: Path) -> None:
        dependencies = project(current).get("dependencies", [])
        assert isinstance(dependencies, list)
        for line in dependencies:
            sibling = FOLDERS.get(Requirement(line).name)
            if sibling is not None and sibling not in order:
                visit(sibling)
        if current not in order:
            order.append(current)

    visit(folder)
    return order


# Distributions whose import name differs from their name on the package index.
IMPORT_NAMES = {"objectfs-s3": "objectfs"}

# What a user imports from each distribution, and a line of code that must work.
SMOKE = {
    "netalgo": (
        "import netalgo.bbr, netalgo.cubic, netalgo.reno, netalgo.sim, netalgo.limiter; "
        "c = netalgo.cubic.Cubic(); assert c.cwnd > 0; "
        "import importlib.resources as r; assert r.files('netalgo').joinpath('py.typed').is_file()"
    ),
    "blobcodec": "import blobcodec; from blobcodec.errors import BlobcodecError",
    "opsmetrics": "import opsmetrics",
    # PriceTable.load() reads the data file the wheel must carry.
    "s3opt": "from s3opt import ObjectStore, parse_url; "
    "from s3opt.pricing import PriceTable; PriceTable.load()",
    "cargoship": "import cargoship.cli, cargoship.ship, cargoship.restore",
    # The distribution is objectfs-s3; the import name is objectfs. Importing the
    # filesystem module proves pyfuse3 was built against the system's libfuse3.
    "objectfs-s3": "import objectfs.cli, objectfs.mount, pyfuse3",
}


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.name)
def test_package_installs_alone_into_a_fresh_venv(package: Path, tmp_path: Path) -> None:
    name = str(project(package)["name"])
    env = tmp_path / "venv"
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"
    folders = [str(p) for p in local_closure(package)]
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *folders],
        capture_output=True,
        text=True,
        check=False,
    )
    assert install.returncode == 0, install.stderr
    smoke = SMOKE[name]
    run = subprocess.run(
        [str(python), "-c", smoke], capture_output=True, text=True, check=False, cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr
    # The import came from the fresh environment, not from the checkout.
    where = subprocess.run(
        [str(python), "-c", f"import {IMPORT_NAMES.get(name, name)} as m; print(m.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout
    assert str(env) in where, where


def test_every_package_has_a_smoke_check() -> None:
    assert set(FOLDERS) <= set(SMOKE), (
        f"add an import smoke line for {sorted(set(FOLDERS) - set(SMOKE))}"
    )
