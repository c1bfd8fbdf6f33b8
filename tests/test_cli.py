# SPDX-License-Identifier: Apache-2.0
"""The command line: --json results, --data-dir, data location and the cache."""

from __future__ import annotations

import numpy as np

from conftest import run_half, run_json
from half import _io


def test_tasks_json_lists_both_tasks_with_parameters():
    tasks = {t["task"]: t for t in run_json("tasks")}
    assert tasks["mitdb-aami"]["default"] is True
    assert tasks["mitdb-aami"]["classes"] == ["N", "S", "V", "F", "Q"]
    assert tasks["cinc2017-af"]["params"]["labels"] == "REFERENCE-v3.csv"


def test_where_reports_the_argument_folder(make_mitdb):
    root = make_mitdb((100,))
    w = run_json("--data-dir", str(root), "data", "where")
    assert w["datasets"]["mitdb"]["origin"] == "argument"
    assert w["datasets"]["cinc2017"]["path"] is None  # asked folder has no cinc2017/


def test_data_dir_from_environment(make_mitdb):
    root = make_mitdb((100,))
    s = run_json("data", "prepare", "-p", "window=128", "-p", "before=50",
                 env={"HALF_DATA_DIR": str(root)})
    assert "HALF_DATA_DIR" in s["source"] and s["window"] == 128
    assert s["records"] == {"train": 0, "val": 0, "test": 1}
    assert any("1 of the 44" in w for w in s["warnings"])


def test_human_output_has_the_counts_table(make_mitdb):
    proc = run_half("--data-dir", str(make_mitdb((100,))), "data", "prepare")
    assert proc.returncode == 0, proc.stderr
    assert "2239" in proc.stdout  # record 100's N beats
    assert "warning" in proc.stdout


def test_version():
    proc = run_half("--version")
    assert proc.returncode == 0 and "half" in proc.stdout


def test_atomic_file_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.npz"
    try:
        with _io.atomic_file(target) as fh:
            np.save(fh, np.arange(10))
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert list(tmp_path.iterdir()) == []
    with _io.atomic_file(target) as fh:
        fh.write(b"ok")
    assert target.read_bytes() == b"ok" and list(tmp_path.iterdir()) == [target]
