# SPDX-License-Identifier: Apache-2.0
"""Shared fixtures: an isolated cache per test session, the real data folder, small data folders."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("half-cache")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, session_cache):
    """Never touch the user's cache; never inherit a data folder from the environment."""
    monkeypatch.setenv("HALF_CACHE_DIR", str(session_cache))
    monkeypatch.delenv("HALF_DATA_DIR", raising=False)
    monkeypatch.delenv("HALF_NO_CACHE", raising=False)


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
    """make_cinc(n) -> a data folder whose cinc2017/ holds the first n real recordings + labels."""

    def make(n=40) -> Path:
        src = shared_data / "cinc2017"
        root = tmp_path / "data"
        dst = root / "cinc2017"
        (dst / "training2017").mkdir(parents=True)
        for fname in ("REFERENCE-v3.csv", "training2017/REFERENCE.csv"):
            lines = (src / fname).read_text().splitlines()[:n]
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
