# SPDX-License-Identifier: Apache-2.0
"""cinc2017-af with RR-irregularity side inputs (`rr_features=true`, half.data.rhythm) on 24 real
recordings: the features, the cache, and a model taking them through training, the golden
integer model and `half eval --records`."""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pytest

from half.data import _cache, find_dataset, get_task
from half.data.cinc2017 import CincParams, window_rr_features
from half.data.rhythm import RHYTHM_FEATURES, irregularity
from half.errors import ConfigError
from half.hw import golden
from half.hw.check import graph_of_run
from half.nn.arch import Arch, ConvBlock, DenseLayer
from half.nn.runs import train_run
from half.nn.train import TrainConfig, load_run, predict, train
from half.predict import Model
from half.predict.evaluate import evaluate_folder

PER_CLASS = {"A": 10, "N": 10, "O": 2, "~": 2}  # the first recordings of each class
PARAMS = {"fs": 50, "window": 1500}  # 30 s windows at 50 Hz: a small model, beats at 300 Hz
ARCH = Arch(window=1500, n_classes=4, decimation=2, side_inputs=len(RHYTHM_FEATURES),
            per_channel=True,
            blocks=(ConvBlock(4, kernel=7, stride=2, pool=4, weight_bits=4, act_bits=4),
                    ConvBlock(8, kernel=5, pool=2, weight_bits=4, act_bits=4)),
            dense=(DenseLayer(8, weight_bits=4, act_bits=4),), out_bits=8)
F = {name: i for i, name in enumerate(RHYTHM_FEATURES)}


@pytest.fixture(scope="module")
def root(tmp_path_factory, shared_data):
    """A data folder whose cinc2017/ links the first recordings of each class (PER_CLASS)."""
    src = shared_data / "cinc2017"
    lines, seen = [], dict.fromkeys(PER_CLASS, 0)
    for line in (src / "REFERENCE-v3.csv").read_text().splitlines():
        lab = line.split(",")[1]
        if seen[lab] < PER_CLASS[lab]:
            seen[lab] += 1
            lines.append(line)
    out = tmp_path_factory.mktemp("cinc_rr")
    dst = out / "cinc2017"
    (dst / "training2017").mkdir(parents=True)
    (dst / "REFERENCE-v3.csv").write_text("\n".join(lines) + "\n")
    for line in lines:
        rec = line.split(",")[0]
        for ext in ("hea", "mat"):
            os.symlink(src / "training2017" / f"{rec}.{ext}", dst / "training2017" / f"{rec}.{ext}")
    return out


@pytest.fixture(scope="module")
def data(root):
    return get_task("cinc2017-af", **PARAMS, rr_features=True).load(root)


def test_definitions_and_fallbacks():
    for t in ([], [3.0], [3.0, 3.8]):  # fewer than 3 beats: only beats (and rr_mean) are known
        want = np.zeros(len(RHYTHM_FEATURES), dtype=np.float32)
        want[F["beats"]] = len(t)
        want[F["rr_mean"]] = 0.8 if len(t) == 2 else 0.0
        np.testing.assert_allclose(irregularity(np.array(t)), want, rtol=1e-6)
    three = irregularity(np.array([0.0, 1.0, 1.5]))  # r = 1, 0.5: no interior interval
    assert three[F["tpr"]] == 0 and three[F["pnn50"]] == 1
    regular = irregularity(np.arange(40) * 0.75)
    assert regular[F["beats"]] == 40 and regular[F["rr_mean"]] == pytest.approx(0.75)
    assert not regular[2:].any()  # a regular rhythm has no irregularity
    r = np.array([1.0, 0.5, 1.0, 0.96, 1.0, 0.6])
    f = irregularity(np.concatenate([[0.0], np.cumsum(r)]))
    d, mean = np.diff(r), r.mean()
    np.testing.assert_allclose(f, [7, mean, r.std() / mean, np.sqrt(np.mean(d ** 2)) / mean,
                                   3 / 5, np.median(np.abs(d)) / mean,
                                   np.median(np.abs(r - np.median(r))) / np.median(r), 1.0],
                               rtol=1e-6)
    p = CincParams(window=9000, rr_features=True)
    for raw in (np.zeros(9000), np.zeros(100), np.full(9000, 1.3)):  # flat, short: no beats
        got = window_rr_features(raw, 300.0, p, [0])
        assert got.shape == (1, len(RHYTHM_FEATURES)) and not got.any()


def test_features_are_finite_deterministic_and_named(root, data):
    assert data.side.shape == (len(data), len(RHYTHM_FEATURES)) and data.side.dtype == np.float32
    assert data.side_names == RHYTHM_FEATURES
    assert np.isfinite(data.side).all() and (data.side[:, F["beats"]] >= 3).all()
    again = get_task("cinc2017-af", **PARAMS, rr_features=True).load(root, use_cache=False)
    assert not again.cache["hit"]
    np.testing.assert_array_equal(again.side, data.side)
    assert get_task("cinc2017-af", **PARAMS, rr_features=True).load(root).cache["hit"]


def test_af_is_more_irregular_than_normal(data):
    a, n = data.side[data.y == 1], data.side[data.y == 0]  # classes N A O ~
    assert len(a) == len(n) == 10
    med_a, med_n = np.median(a, axis=0), np.median(n, axis=0)
    assert med_a[F["rr_cv"]] > 2 * med_n[F["rr_cv"]]
    assert med_a[F["pnn50"]] > 0.5 > med_n[F["pnn50"]]
    # successive differences, robust to ectopic beats: 9 of 10 AF windows above every but
    # one normal window
    assert (a[:, F["drr_med_rel"]] > np.sort(n[:, F["drr_med_rel"]])[-2]).sum() >= 9


def test_default_off_keeps_arrays_cache_key_and_task_json(root, data):
    off_task = get_task("cinc2017-af", **PARAMS)
    off = off_task.load(root)
    assert off.side is None and off.side_names == () and off_task.side_names == ()
    assert "rr_features" not in off_task.param_dict()  # task.json as before the parameter
    assert get_task("cinc2017-af", **off_task.param_dict()).params == off_task.params
    # the cache key is the one the parameters had before rr_features existed
    before = {f.name: getattr(off_task.params, f.name) for f in dataclasses.fields(CincParams)
              if f.name != "rr_features"}
    files = off_task.input_files(find_dataset("cinc2017", root))
    assert off.cache["key"] == _cache.cache_key("cinc2017-af", before, files)
    assert off.cache["key"] != data.cache["key"]
    with np.load(off.cache["path"]) as z:
        assert "side" not in z.files
    for name in ("x", "y", "split", "record"):  # the features leave the windows alone
        np.testing.assert_array_equal(getattr(off, name), getattr(data, name))


def test_side_inputs_the_task_does_not_give_are_refused(root):
    off = get_task("cinc2017-af", **PARAMS).load(root)
    with pytest.raises(ConfigError, match="side_inputs.*gives 0"):
        train(ARCH, off, TrainConfig(epochs=1, threads=1))


def test_model_with_rr_features_trains_lowers_and_predicts(root, data, tmp_path):
    arch_file = tmp_path / "arch.json"
    arch_file.write_text(ARCH.to_json())
    folder = tmp_path / "run"
    res = train_run("cinc2017-af", str(arch_file), folder, TrainConfig(epochs=1, threads=1),
                    {**PARAMS, "rr_features": True}, root)
    assert res["qonnx_check"]["argmax_agreement"] == 1.0  # the export takes the side input
    assert json.loads((folder / "task.json").read_text())["params"]["rr_features"] is True
    _, _, norm, model = load_run(folder)
    assert len(norm.mean) == len(RHYTHM_FEATURES)
    graph = graph_of_run(folder)
    assert graph.side is not None and graph.side.features == len(RHYTHM_FEATURES)
    y_gold = golden.run(graph, golden.quantize_input(graph, data.x),
                        golden.quantize_side(graph, data.side))
    y_torch = predict(model, data.x, norm(data.side))
    assert (y_gold == y_torch).mean() >= 23 / 24
    # `half eval --records` computes the same features from the recordings (and so the same
    # answers as the golden model on the task's own windows)
    labels = tmp_path / "labels.csv"
    labels.write_text("".join(f"{r},{data.classes[y]}\n" for r, y in
                              zip(data.record, data.y, strict=True)))
    res = evaluate_folder(Model(str(folder)), root / "cinc2017" / "training2017",
                          rhythm_labels=labels, per_record=True)
    assert [r["class"] for r in res["per_record"]] == [data.classes[k] for k in y_gold]
