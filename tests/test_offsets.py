# SPDX-License-Identifier: Apache-2.0
"""Per-class score offsets: chosen by CV, folded into the last layer's bias, kept bit-exactly by
the exported model and the golden integer model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from half.data import get_task
from half.errors import ConfigError
from half.hw import golden
from half.hw.check import graph_of_run
from half.nn.cv import cross_validate
from half.nn.metrics import metrics_for
from half.nn.offsets import choose_offsets, class_scores, nested_gain
from half.nn.runs import train_run
from half.nn.train import TrainConfig, load_run, predict

CLASSES = ("N", "S", "V", "F", "Q")


def _macro(y, pred):
    return metrics_for("mitdb-aami", CLASSES, y, pred)["macro_f1"]


def test_an_over_called_class_gets_a_negative_offset():
    """Scores that call S far too often (a +2 shift on S, as class weighting does): the chosen
    offset takes most of the shift back and raises macro-F1; the nested estimate, which scores
    each part with offsets chosen on the others, sees the gain too."""
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), [2000, 200, 300, 100])
    scores = rng.normal(0, 1, (y.size, 5))
    scores[np.arange(y.size), y] += 2.5
    scores[:, 1] += 2.0
    off = choose_offsets("mitdb-aami", CLASSES, y, scores)
    assert off[0] == 0 and off[1] <= -1.0
    assert _macro(y, (scores + off).argmax(1)) > _macro(y, scores.argmax(1)) + 0.1
    assert np.array_equal(choose_offsets("mitdb-aami", CLASSES, y, scores), off)  # deterministic
    parts = np.arange(y.size) % 4
    nested = nested_gain("mitdb-aami", CLASSES, [y[parts == i] for i in range(4)],
                         [scores[parts == i] for i in range(4)])
    assert nested["pooled_with"] > nested["pooled_without"] + 0.1
    assert all(r["with"] > r["without"] for r in nested["folds"])
    # offsets that already help no one stay at zero
    fair = rng.normal(0, 1, (y.size, 5))
    fair[np.arange(y.size), y] += 10
    assert not choose_offsets("mitdb-aami", CLASSES, y, fair).any()


def test_cv_chooses_offsets_and_the_final_fit_carries_them_to_the_golden_model(make_mitdb,
                                                                              tmp_path):
    data_dir = make_mitdb((101, 106, 108, 109, 112, 114))
    data = get_task("mitdb-aami").load(data_dir)
    cfg = TrainConfig(epochs=1, train_fraction=0.3, threads=1)
    cv = cross_validate(get_arch(), data, k=2, cfg=cfg, offsets=True)
    off = cv["offsets"]
    assert len(off["values"]) == 5 and off["values"][0] == 0
    assert off["pooled_in_sample"] >= cv["pooled"]["macro_f1"] - 1e-4  # zero is a candidate
    assert [r["fold"] for r in off["nested"]["folds"]] == [0, 1]

    arch_file = tmp_path / "arch.json"
    arch_file.write_text(get_arch().to_json())
    shift = (0.0, -1.5, 0.75, 2.0, -3.0)
    final = {"val_records": []}
    for name, offsets in (("plain", ()), ("shifted", shift)):
        train_run("mitdb-aami", str(arch_file), tmp_path / name,
                  TrainConfig(epochs=1, train_fraction=0.3, threads=1, stop_at=1,
                              score_offsets=offsets), final, data_dir)
    _, info, norm, plain = load_run(tmp_path / "plain")
    _, _, _, shifted = load_run(tmp_path / "shifted")
    assert torch.allclose(shifted.head[-1].bias - plain.head[-1].bias, torch.tensor(shift))
    probe = get_task("mitdb-aami", **info["params"]).load(data_dir).select("train")
    x, side = probe.x[:2000], probe.side[:2000]
    assert np.allclose(class_scores(shifted, x, norm(side)) - class_scores(plain, x, norm(side)),
                       shift, atol=1e-4)
    graph = graph_of_run(tmp_path / "shifted")
    y_gold = golden.run(graph, golden.quantize_input(graph, x), golden.quantize_side(graph, side))
    assert (y_gold == predict(shifted, x, norm(side))).mean() >= 0.995
    with pytest.raises(ConfigError, match="score_offsets: 2 values for 5 classes"):
        train_run("mitdb-aami", str(arch_file), tmp_path / "bad",
                  TrainConfig(epochs=1, stop_at=1, score_offsets=(0, 1)), final, data_dir)


def get_arch():
    """preset:tiny's network on the task's default side inputs (the preset adds the rhythm
    context's two)."""
    import dataclasses

    from half.nn.runs import resolve_arch

    return dataclasses.replace(resolve_arch("preset:tiny", "mitdb-aami")[0], side_inputs=8)
