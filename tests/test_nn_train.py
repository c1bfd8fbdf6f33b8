# SPDX-License-Identifier: Apache-2.0
"""Quantization-aware training, run folders, exports and evaluation on small real data."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import run_half, run_json
from half.data import get_task
from half.errors import ConfigError
from half.nn.arch import Arch, ConvBlock, DenseLayer
from half.nn.train import TrainConfig, train

# A tiny network for the mitdb-aami default windows (360 samples), with the RR side inputs.
ARCH = Arch(window=360, n_classes=5, decimation=4, side_inputs=8,
            blocks=(ConvBlock(4, kernel=5, pool=4, weight_bits=4, act_bits=4),
                    ConvBlock(8, kernel=3, kind="dwsep", weight_bits=4, act_bits=4)),
            dense=(DenseLayer(8, weight_bits=4, act_bits=4),), out_bits=4)
# Records: 101 (DS1, train), 118 (DS1, a default validation record), 100 (DS2, test).
RECORDS = (101, 118, 100)


@pytest.fixture
def mitdb_small(make_mitdb):
    root = make_mitdb(RECORDS)
    return root, get_task("mitdb-aami").load(root)


def _cfg(**kw) -> TrainConfig:
    return TrainConfig(**{"epochs": 2, "train_fraction": 0.3, "threads": 1, **kw})


def test_training_is_deterministic_and_selects_on_validation(mitdb_small):
    _, data = mitdb_small
    a = train(ARCH, data, _cfg(seed=1))
    b = train(ARCH, data, _cfg(seed=1))
    for (name, x), (_, y) in zip(a.model.state_dict().items(), b.model.state_dict().items(),
                                 strict=True):
        assert torch.equal(x, y), name
    assert a.history == [dict(h, seconds=a.history[i]["seconds"],
                              windows_per_s=a.history[i]["windows_per_s"])
                         for i, h in enumerate(b.history)]
    best = max(a.history, key=lambda h: h["val_macro_f1"])
    assert a.best_epoch == best["epoch"]
    assert a.val["macro_f1"] == pytest.approx(best["val_macro_f1"])
    assert a.val["n"] == int((data.split == 1).sum())  # validated on the val split only
    c = train(ARCH, data, _cfg(seed=2))
    assert not torch.equal(c.model.state_dict()["head.0.weight"],
                           a.model.state_dict()["head.0.weight"])


def test_float_pre_training_runs_first_and_is_deterministic(mitdb_small):
    """float_epochs: the float twin trains first (its own progress lines), QAT then runs its
    own epochs from the twin's weights; same seed, same weights; a different start than QAT
    from scratch."""
    _, data = mitdb_small
    seen = []
    a = train(ARCH, data, _cfg(seed=1, float_epochs=2), progress=lambda m, i, n: seen.append(m))
    b = train(ARCH, data, _cfg(seed=1, float_epochs=2))
    scratch = train(ARCH, data, _cfg(seed=1))
    assert [m.split(" loss")[0] for m in seen] == ["float epoch 1", "float epoch 2", "epoch 1",
                                                   "epoch 2"]
    assert len(a.history) == 2
    for (name, x), (_, y) in zip(a.model.state_dict().items(), b.model.state_dict().items(),
                                 strict=True):
        assert torch.equal(x, y), name
    assert not torch.equal(a.model.state_dict()["head.0.weight"],
                           scratch.model.state_dict()["head.0.weight"])
    with pytest.raises(ConfigError, match="float_epochs"):
        _cfg(float_epochs=-1)


def test_distillation_trains_the_wider_float_teacher_first(mitdb_small):
    """distill > 0: the float teacher (channels and units x teacher_width) trains for all the
    epochs first, then the student with the mixed loss; same seed, same weights; the student's
    architecture is unchanged and its weights differ from training without a teacher."""
    from half.nn.train import widen

    _, data = mitdb_small
    wide = widen(ARCH, 3)
    assert [b.channels for b in wide.blocks] == [12, 24] and wide.dense[0].units == 24
    assert wide.side_inputs == ARCH.side_inputs and wide.window == ARCH.window
    seen = []
    a = train(ARCH, data, _cfg(seed=1, distill=0.5, teacher_width=3),
              progress=lambda m, i, n: seen.append(m))
    b = train(ARCH, data, _cfg(seed=1, distill=0.5, teacher_width=3))
    plain = train(ARCH, data, _cfg(seed=1))
    assert [m.split(" loss")[0] for m in seen] == ["teacher epoch 1", "teacher epoch 2",
                                                   "epoch 1", "epoch 2"]
    assert a.model.arch == ARCH
    for (name, x), (_, y) in zip(a.model.state_dict().items(), b.model.state_dict().items(),
                                 strict=True):
        assert torch.equal(x, y), name
    assert not torch.equal(a.model.state_dict()["head.0.weight"],
                           plain.model.state_dict()["head.0.weight"])
    for bad in ({"distill": 1.5}, {"teacher_width": 0}, {"distill_temperature": 0}):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            _cfg(**bad)


def test_wrong_window_or_classes_are_rejected(mitdb_small):
    import dataclasses

    _, data = mitdb_small
    with pytest.raises(ConfigError, match="window 256"):
        train(dataclasses.replace(ARCH, window=256), data, _cfg())
    with pytest.raises(ConfigError, match="train_fraction"):
        _cfg(train_fraction=0)


def test_train_and_eval_from_the_command_line(mitdb_small, tmp_path):
    root, _ = mitdb_small
    arch_file = tmp_path / "arch.json"
    arch_file.write_text(ARCH.to_json())
    run = tmp_path / "run"
    res = run_json("--data-dir", str(root), "train", "--task", "mitdb-aami", "--arch",
                   str(arch_file), "-o", str(run), "--epochs", "2", "--fraction", "0.3",
                   "-c", "threads=1")
    for name in ("arch.json", "model.pt", "metrics_val.json", "confusion_val.json", "curve.png",
                 "model.qonnx.onnx", "model.qcdq.onnx", "history.json", "export_check.json"):
        assert (run / name).is_file(), name
    assert not list(tmp_path.glob(".run*"))  # no temporary folder left behind
    assert res["params"] == ARCH.params() and res["epochs_run"] == 2
    # the QONNX file executes with qonnx and gives the PyTorch model's scores
    assert res["qonnx_check"]["argmax_agreement"] == 1.0
    assert res["qonnx_check"]["max_abs_diff"] < 1e-4
    val = run_json("--data-dir", str(root), "eval", "--model", str(run), "--task", "mitdb-aami",
                   "--split", "val")
    assert val["macro_f1"] == pytest.approx(res["val"]["macro_f1"])
    test = run_json("--data-dir", str(root), "eval", "--model", str(run), "--task",
                    "mitdb-aami", "--split", "test")
    assert test["windows"] == sum(test["per_class"][c]["support"] for c in "NSVFQ")
    assert np.array(test["confusion"]).sum() == test["windows"]
    proc = run_half("--data-dir", str(root), "eval", "--model", str(run), "--task",
                    "cinc2017-af")
    assert proc.returncode != 0 and "trained for mitdb-aami" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_unknown_training_option_and_model_are_one_line_errors(tmp_path):
    proc = run_half("train", "--arch", "preset:nope", "-o", str(tmp_path / "r"))
    assert proc.returncode != 0 and "no preset 'nope'" in proc.stderr
    proc = run_half("train", "--arch", "preset:tiny", "-o", str(tmp_path / "r"), "-c", "lr2=1")
    assert proc.returncode != 0 and "lr2" in proc.stderr
    proc = run_half("eval", "--model", str(tmp_path / "missing"))
    assert proc.returncode != 0 and "no such run folder" in proc.stderr
    assert not (tmp_path / "r").exists()


def test_metrics_json_is_plain_json(mitdb_small, tmp_path):
    _, data = mitdb_small
    result = train(ARCH, data, _cfg(epochs=1))
    json.dumps(result.val)  # numbers and lists only
    assert set(result.val["per_class"]) == set("NSVFQ")


def test_a_preset_architecture_retrains_with_its_recipe_parameters(mitdb_small, tmp_path):
    root, _ = mitdb_small
    res = run_json("--data-dir", str(root), "train", "--task", "mitdb-aami", "--arch",
                   "preset:tiny", "-o", str(tmp_path / "run"), "--epochs", "1", "--fraction",
                   "0.2", "-c", "threads=1")
    task = json.loads((tmp_path / "run" / "task.json").read_text())
    assert task["params"]["highpass"] == 0.5  # from the preset's recipe
    assert task["params"]["val_records"] != []  # the usual validation split, not the final fit
    assert res["val"]["n"] > 0


def test_balance_cap_limits_a_rare_class_weight():
    """Inverse weights give mitdb-aami's handful of Q beats thousands of times an N beat's
    weight; the cap holds every class to at most `cap` times the commonest class's."""
    from half.nn.train import _class_weights

    y = np.repeat(np.arange(5), [4000, 100, 400, 40, 2])  # N, S, V, F, Q-like counts
    free = _class_weights(y, 6, "inverse").numpy()
    assert free[4] / free[0] == pytest.approx(2000)  # uncapped: 1/freq
    assert free[5] == 0  # a class absent from training weighs nothing
    capped = _class_weights(y, 6, "inverse", cap=20).numpy()
    ratio = capped[:5] / capped[0]
    assert ratio == pytest.approx([1, 20, 10, 20, 20])  # S, F, Q capped; V (10x) untouched
    assert capped[:5].mean() == pytest.approx(1)  # still a mean of 1 over the classes present
    sq = _class_weights(y, 6, "sqrt", cap=5).numpy()
    assert sq[1] / sq[0] == pytest.approx(5)  # sqrt(4000 / 100) = 6.3, capped at 5
    assert sq[2] / sq[0] == pytest.approx(np.sqrt(10))  # 3.2: under the cap
    for bad in (0.5, float("nan")):
        with pytest.raises(ConfigError, match="balance_cap"):
            TrainConfig(balance_cap=bad)


def test_training_applies_the_balance_cap(mitdb_small):
    """The cap reaches the loss: a binding cap trains other weights; one that binds no class
    (record 101 holds a handful of S and Q beats among ~1,900 N: hundreds of times an N beat
    each) trains the same."""
    _, data = mitdb_small
    cfg = dict(epochs=1, balance="inverse", seed=3)
    free = train(ARCH, data, _cfg(**cfg)).model.state_dict()["head.0.weight"]
    loose = train(ARCH, data, _cfg(**cfg, balance_cap=1e6)).model.state_dict()["head.0.weight"]
    tight = train(ARCH, data, _cfg(**cfg, balance_cap=2)).model.state_dict()["head.0.weight"]
    assert torch.equal(free, loose)
    assert not torch.equal(free, tight)
