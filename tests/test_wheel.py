# SPDX-License-Identifier: Apache-2.0
"""The wheel ships what half reads at run time (the cost model's calibration, the device and
power catalogs, the RTL library, presets, bundled data, splits), and an installed wheel gives
calibrated estimates (a missing calibration.json would leave every estimate uncalibrated)."""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PKG = REPO / "src" / "half"

# In the wheel's interpreter: half from the wheel (not src/), an estimate on up5k (iCE40).
SCRIPT = textwrap.dedent("""
    import json, sys
    from pathlib import Path

    import half
    from half.hw import cost
    from half.hw.plan import graph_for, plan
    from half.rtl import LIB

    here = Path(half.__file__).resolve()
    assert here.is_relative_to(Path(sys.prefix).resolve()), here
    res = plan(graph_for("preset:tiny", "mitdb-aami")[0], "up5k", "low-energy", 4.0)
    print(json.dumps({"file": str(here), "families": sorted(cost.calibration()),
                      "calibration_file": cost.CALIBRATION.is_file(),
                      "rtl_lib": sorted(p.name for p in LIB.glob("*.v")),
                      "calibrated": res["calibrated"], "note": res["calibration_note"],
                      "fmax": res["fmax_estimate_mhz"],
                      "resources": res["resources_estimate"]}))
""")


def _run(cmd: list, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=300,
                          **kw)
    assert proc.returncode == 0, f"{cmd}\n{proc.stdout}\n{proc.stderr}"
    return proc


def _runtime_files() -> list[str]:
    """Every file of the package that is not Python source (what half reads at run time)."""
    return sorted(str(p.relative_to(PKG.parent)) for p in PKG.rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".py",
                                                                                       ".pyc"))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel built from a copy of the checkout's build inputs: building in place would
    leave build/ in the checkout, and setuptools reuses a stale build/lib, which could hide a
    file the package data leaves out."""
    for tool in ("pip", "setuptools"):  # (looked up, not imported: setuptools patches distutils)
        try:
            importlib.metadata.version(tool)
        except importlib.metadata.PackageNotFoundError:
            pytest.skip(f"building the wheel needs {tool} in this environment")
    tmp = tmp_path_factory.mktemp("wheel")
    tree = tmp / "tree"
    tree.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, tree / name)
    shutil.copytree(REPO / "src", tree / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
          "--no-index", "--disable-pip-version-check", "-q", "-w", tmp / "dist", tree])
    (whl,) = (tmp / "dist").glob("half-*.whl")
    return whl


def test_wheel_ships_the_runtime_files(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for f in ("calibration.json", "devices.yaml", "power.yaml"):
        assert f"half/hw/{f}" in names, f
    rtl = sorted((PKG / "rtl" / "lib").glob("*.v"))
    assert rtl
    assert {f"half/rtl/lib/{p.name}" for p in rtl} <= names
    # nothing else half reads at run time is left out (presets, bundled data, splits, ...)
    missing = [f for f in _runtime_files() if f not in names]
    assert not missing, f"left out of the wheel: {missing}"


def test_installed_wheel_gives_calibrated_estimates(wheel, tmp_path):
    """Installed in a fresh venv (its dependencies from this one's site-packages on PYTHONPATH,
    which loads no .pth file: the editable install's src/ stays out of sight)."""
    from half.hw.plan import graph_for, plan

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv])
    py = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", py, "install", "--no-deps", "--no-index",
          "--disable-pip-version-check", "-q", wheel])
    paths = dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env |= {"PYTHONPATH": os.pathsep.join(paths), "PYTHONNOUSERSITE": "1"}
    (tmp_path / "check.py").write_text(SCRIPT)
    proc = _run([py, tmp_path / "check.py"], env=env, cwd=tmp_path)
    got = json.loads(proc.stdout.splitlines()[-1])
    assert Path(got["file"]).is_relative_to(venv.resolve()), got["file"]
    assert not Path(got["file"]).is_relative_to(REPO / "src")
    assert got["calibration_file"] and "ice40up" in got["families"]
    assert got["calibrated"] is True and got["note"] is None and got["fmax"]
    assert got["rtl_lib"] == sorted(p.name for p in (PKG / "rtl" / "lib").glob("*.v"))
    # the same figures as the checkout's
    here = plan(graph_for("preset:tiny", "mitdb-aami")[0], "up5k", "low-energy", 4.0)
    assert got["resources"] == here["resources_estimate"]
    assert got["fmax"] == pytest.approx(here["fmax_estimate_mhz"])
