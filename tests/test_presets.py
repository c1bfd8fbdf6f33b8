# SPDX-License-Identifier: Apache-2.0
"""The presets shipped inside the package: caps, reproducible metrics, loadable QONNX files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import run_json
from half.nn.arch import load_arch
from half.nn.runs import list_presets, presets_dir, resolve_model
from half.nn.train import load_run

TASKS = ("mitdb-aami", "cinc2017-af")
# tiny must fit an iCE40 UP5K-class FPGA; small is the accuracy preset
CAPS = {"tiny": dict(params=5_000, bits=4, macs=150_000),
        "small": dict(params=50_000, bits=8, macs=None)}


@pytest.mark.parametrize("task", TASKS)
def test_every_task_ships_tiny_and_small(task):
    assert {"tiny", "small"} <= set(list_presets(task))


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("name", sorted(CAPS))
def test_preset_respects_its_caps_and_loads(task, name):
    folder = resolve_model(f"preset:{name}", task)
    arch = load_arch(folder / "arch.json")
    cap = CAPS[name]
    assert arch.params() <= cap["params"]
    assert arch.max_weight_bits() <= cap["bits"]
    if cap["macs"]:
        assert arch.macs() <= cap["macs"]
    loaded_arch, info, _, model = load_run(folder)
    assert loaded_arch == arch and info["task"] == task
    check = json.loads((folder / "export_check.json").read_text())
    assert check["argmax_agreement"] == 1.0
    for f in ("model.qonnx.onnx", "model.qcdq.onnx", "recipe.yaml", "metrics_test.json"):
        assert (folder / f).is_file(), f
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".")]  # no leftovers


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("name", sorted(CAPS))
def test_shipped_checkpoint_reproduces_its_recorded_test_metric(task, name, shared_data):
    """The shipped weights give, on today's data, the test figure recorded when the preset was
    trained (benchmarks/train_presets.py); nothing was chosen on it."""
    if not (shared_data / ("mitdb" if task == "mitdb-aami" else "cinc2017")).is_dir():
        pytest.skip(f"no data for {task}")
    recorded = json.loads((presets_dir(task) / name / "metrics_test.json").read_text())
    res = run_json("--data-dir", str(shared_data), "eval", "--model", f"preset:{name}", "--task",
                   task, "--split", "test")
    key = "macro_f1" if task == "mitdb-aami" else "f1_nao"
    assert res[key] == pytest.approx(recorded[key], abs=1e-9)
    assert np.array(res["confusion"]).tolist() == recorded["confusion"]
