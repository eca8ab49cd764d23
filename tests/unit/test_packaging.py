"""What `pip install meshshift` puts into site-packages: one namespace, meshshift.*, holding every
subpackage of the repository's top-level folders."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SETUPTOOLS = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_subpackage_of_a_mapped_folder_is_listed() -> None:
    """An unlisted subpackage works in the editable install and is missing from the wheel."""
    found = set()
    for package, folder in SETUPTOOLS["package-dir"].items():
        for init in (REPO / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(REPO / folder).parts
            found.add(".".join((package, *relative)))
    assert sorted(found) == sorted(SETUPTOOLS["packages"])


def test_the_wheel_installs_one_top_level_name(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(REPO),
            "--no-deps",
            "-q",
            "-w",
            str(tmp_path),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("meshshift-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"meshshift"}
    for module in ("workflows/migration.py", "activities/edge/base.py", "workers/cli.py", "sim/aws/__init__.py"):
        assert f"meshshift/{module}" in names, module
