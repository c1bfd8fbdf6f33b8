# SPDX-License-Identifier: Apache-2.0
"""The presets shipped inside the package: caps, reproducible metrics, loadable QONNX files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import cinc_split_records, run_json
from half.data.cinc2017 import LABELS, read_labels
from half.nn.arch import load_arch
from half.nn.runs import list_presets, load_run_data, presets_dir, resolve_model
from half.nn.train import load_run, predict

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


@pytest.mark.parametrize("name", sorted(CAPS))
def test_shipped_mitdb_checkpoint_reproduces_its_recorded_test_metric(name, shared_data):
    """The shipped weights give, on today's data, the test figure recorded when the preset was
    trained (benchmarks/train_presets.py); nothing was chosen on it."""
    task = "mitdb-aami"
    if not (shared_data / "mitdb").is_dir():
        pytest.skip(f"no data for {task}")
    recorded = json.loads((presets_dir(task) / name / "metrics_test.json").read_text())
    res = run_json("--data-dir", str(shared_data), "eval", "--model", f"preset:{name}", "--task",
                   task, "--split", "test")
    assert res["macro_f1"] == pytest.approx(recorded["macro_f1"], abs=1e-9)
    assert np.array(res["confusion"]).tolist() == recorded["confusion"]


@pytest.mark.parametrize("name", sorted(CAPS))
def test_shipped_cinc_checkpoint_reproduces_its_recorded_predictions(name, make_cinc,
                                                                    shared_data):
    """cinc2017-af: the shipped weights give, on today's data, the class recorded for each test
    recording when the preset was trained (predictions_test.json), checked on every 16th test
    recording (preparing all 8,528 with RR features takes minutes); the recorded predictions
    give the recorded confusion matrix."""
    task, folder = "cinc2017-af", presets_dir("cinc2017-af") / name
    if not (shared_data / "cinc2017").is_dir():
        pytest.skip(f"no data for {task}")
    recorded = json.loads((folder / "predictions_test.json").read_text())
    metrics = json.loads((folder / "metrics_test.json").read_text())
    assert sorted(recorded) == cinc_split_records("test")
    labels = read_labels(shared_data / "cinc2017" / "REFERENCE-v3.csv")
    classes = LABELS
    cm = np.zeros((4, 4), dtype=int)
    for r, c in recorded.items():
        cm[classes.index(labels[r]), classes.index(c)] += 1
    assert cm.tolist() == metrics["confusion"]
    subset = sorted(recorded)[::16]
    _, _, norm, model, data = load_run_data(f"preset:{name}", task, "test",
                                            make_cinc(records=subset))
    assert sorted(data.record.tolist()) == subset
    pred = predict(model, data.x, norm(data.side))
    assert {str(r): classes[int(k)] for r, k in zip(data.record, pred, strict=True)} == {
        r: recorded[r] for r in subset}


