# SPDX-License-Identifier: Apache-2.0
"""Shared fixtures: an isolated cache per test session, the real data folder, small data folders."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory) -> Path:
    """half's cache for this session. Under xdist the workers share its prepared datasets
    (content-keyed files, each written atomically): a dataset is prepared once per session."""
    cache = tmp_path_factory.mktemp("half-cache")
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = tmp_path_factory.getbasetemp().parent / "prepared"
        shared.mkdir(exist_ok=True)
        (cache / "prepared").symlink_to(shared, target_is_directory=True)
    return cache


@pytest.fixture(scope="session", autouse=True)
def _verilator_runtime_compiled_once(tmp_path_factory):
    """Simulation builds compile Verilator's runtime through tests/objcache.py: once per test
    session (shared by the xdist workers), not once per build. An OBJCACHE already set (e.g.
    ccache) is kept."""
    if "OBJCACHE" in os.environ:
        yield
        return
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the workers' common folder
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OBJCACHE", f"{shlex.quote(sys.executable)} "
                              f"{shlex.quote(str(Path(__file__).with_name('objcache.py')))}")
        mp.setenv("HALF_TEST_OBJCACHE", str(root / "objcache"))
        yield


@pytest.fixture(scope="session", autouse=True)
def _isolated_env(session_cache):
    """Never touch the user's cache; never inherit a data folder from the environment. For
    the whole session: module-scoped fixtures that prepare data or build run before any
    function-scoped one."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HALF_CACHE_DIR", str(session_cache))
        mp.delenv("HALF_DATA_DIR", raising=False)
        mp.delenv("HALF_NO_CACHE", raising=False)
        yield


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED / "mitdb").is_dir():
        pytest.skip(f"real PhysioNet data not found at {SHARED}")
    return SHARED


def _link_or_copy(src: Path, dst: Path, copy: bool) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if copy:
        shutil.copyfile(src, dst)
    else:
        os.symlink(src, dst)


@pytest.fixture
def make_mitdb(tmp_path, shared_data):
    """make_mitdb(records, copy=()) -> a data folder whose mitdb/ holds those real records.

    Files named in `copy` (e.g. "101.dat") are real copies that a test may damage; the rest are
    symlinks to the shared data.
    """

    def make(records=(101, 100), copy=()) -> Path:
        return _mitdb_folder(tmp_path / "data", shared_data, records, copy)

    return make


def _mitdb_folder(root: Path, shared: Path, records, copy=()) -> Path:
    """`root` with a mitdb/ of those real records (symlinks; `copy`: real copies)."""
    for r in records:
        for ext in ("hea", "dat", "atr"):
            name = f"{r}.{ext}"
            _link_or_copy(shared / "mitdb" / name, root / "mitdb" / name, name in copy)
    return root


@pytest.fixture(scope="session")
def mitdb_subset(tmp_path_factory, shared_data):
    """mitdb_subset(records, name) -> a new data folder whose mitdb/ links those real records
    (for module-scoped fixtures, which cannot use `make_mitdb`)."""

    def make(records, name: str = "data") -> Path:
        return _mitdb_folder(tmp_path_factory.mktemp(name), shared_data, records)

    return make


@pytest.fixture
def make_cinc(tmp_path, shared_data):
    """make_cinc(n) -> a data folder whose cinc2017/ holds the first n real recordings + labels;
    make_cinc(records=NAMES) -> the same with those recordings."""

    def make(n=40, records=None) -> Path:
        src = shared_data / "cinc2017"
        root = tmp_path / "data"
        dst = root / "cinc2017"
        (dst / "training2017").mkdir(parents=True)
        for fname in ("REFERENCE-v3.csv", "training2017/REFERENCE.csv"):
            lines = (src / fname).read_text().splitlines()
            lines = (lines[:n] if records is None else
                     [line for line in lines if line.split(",")[0] in set(records)])
            (dst / fname).write_text("\n".join(lines) + "\n")
        for line in lines:
            rec = line.split(",")[0]
            for ext in ("hea", "mat"):
                os.symlink(src / "training2017" / f"{rec}.{ext}",
                           dst / "training2017" / f"{rec}.{ext}")
        return root

    return make


def run_half(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the real `half` command line in a subprocess (same interpreter, current env)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "half", *args], capture_output=True, text=True,
                          env=full_env, timeout=600)


def run_json(*args: str, env: dict | None = None) -> dict:
    proc = run_half(*args, "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)  # stdout holds the JSON result and nothing else


def cinc_split_records(split: str) -> list[str]:
    """The recordings of one split of cinc2017-af's shipped split file, sorted."""
    from importlib import resources

    from half.data.cinc2017 import read_split, shipped_split_name

    f = resources.files("half.data").joinpath("splits", shipped_split_name(0, 0.15, 0.15))
    return sorted(r for r, s in read_split(Path(str(f))).items() if s == split)
