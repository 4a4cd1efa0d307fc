"""Check that every in-repo version satisfies the ranges its siblings declare on it.

Each package pins its siblings as ranges (``netalgo>=0.1,<0.2``). Raising a
package's version past a sibling's bound must raise the bound in the same
commit; this check makes forgetting that fail the lint step.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
VERSION_LINE = re.compile(r'^__version__\s*=\s*"([^"]+)"\s*$', re.MULTILINE)


def load_packages() -> dict[str, tuple[Version, list[Requirement]]]:
    packages: dict[str, tuple[Version, list[Requirement]]] = {}
    for pyproject in sorted(ROOT.glob("packages/*/pyproject.toml")):
        meta = tomllib.loads(pyproject.read_text())
        project = meta["project"]
        version_file = pyproject.parent / meta["tool"]["hatch"]["version"]["path"]
        match = VERSION_LINE.search(version_file.read_text())
        if match is None:
            raise SystemExit(f"check_versions: no __version__ line in {version_file}")
        requirements = [Requirement(r) for r in project.get("dependencies", [])]
        packages[project["name"]] = (Version(match.group(1)), requirements)
    return packages


def main() -> int:
    packages = load_packages()
    problems = []
    for name, (_, requirements) in packages.items():
        for req in requirements:
            if req.name in packages:
                version = packages[req.name][0]
                if not req.specifier.contains(version, prereleases=True):
                    problems.append(f"{name} requires {req}, but the repo has {req.name} {version}")
    for problem in problems:
        print(f"check_versions: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
