# SPDX-License-Identifier: Apache-2.0
"""Patient-wise (record-wise) k-fold cross-validation inside the training records.

A single small validation split ranks models poorly (few S and F beats, few AF records), so final
model selection uses k folds built from the train and val records together, never the test
split. Folds are made by a deterministic greedy balance of every class across folds, whole
records at a time: for MIT-BIH this spreads the rare S and F beats as evenly as patients allow;
for CinC 2017 (one window per record) it is a stratified split.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from half.data.task import SPLITS, TaskData
from half.errors import ConfigError
from half.nn.arch import Arch
from half.nn.metrics import metrics_for, primary_metric
from half.nn.offsets import choose_offsets, class_scores, nested_gain
from half.nn.train import TrainConfig, train


def make_folds(data: TaskData, k: int, seed: int = 0) -> list[list[str]]:
    """k lists of record ids covering the train and val records, classes balanced."""
    if k < 2:
        raise ConfigError("folds", f"needs at least 2 folds, got {k}")
    pool = data.split != SPLITS.index("test")
    records = sorted(set(data.record[pool].tolist()))
    if len(records) < k:
        raise ConfigError("folds", f"{k} folds need at least {k} records, have {len(records)}")
    n_cls = len(data.classes)
    counts = {r: np.zeros(n_cls) for r in records}
    for r, y in zip(data.record[pool], data.y[pool], strict=True):
        counts[r][y] += 1
    total = np.maximum(sum(counts.values()), 1)
    share = {r: c / total for r, c in counts.items()}
    rng = np.random.default_rng(seed)
    order = sorted(records, key=lambda r: (-share[r].max(), rng.random()))
    load = np.zeros((k, n_cls))
    folds: list[list[str]] = [[] for _ in range(k)]
    for r in order:
        # the fold that holds least of the classes this record brings (weighted by its share)
        best = min(range(k), key=lambda f: (float(load[f] @ share[r]), load[f].sum(), f))
        load[best] += share[r]
        folds[best].append(r)
    return [sorted(f) for f in folds]


def with_fold(data: TaskData, fold: list[str]) -> TaskData:
    """`data` with the fold's records as val and the other non-test records as train."""
    split = data.split.copy()
    pool = split != SPLITS.index("test")
    split[pool] = SPLITS.index("train")
    split[pool & np.isin(data.record, fold)] = SPLITS.index("val")
    return dataclasses.replace(data, split=split)


def cross_validate(arch: Arch, data: TaskData, k: int = 4, cfg: TrainConfig | None = None,
                   seed: int = 0, progress=None, offsets: bool = False) -> dict:
    """Train one model per fold (all `cfg.epochs`, no early stop, so that every fold yields a full
    validation curve); metrics of the pooled out-of-fold predictions at each fold's best epoch,
    per-fold figures, the mean curve over folds and its best epoch (`cv_epoch`): the epoch a
    final fit on all training records without a validation split keeps (`stop_at`).

    With `offsets`, also the per-class score offsets chosen on the pooled out-of-fold scores
    (`offsets.values`, for the final fit's `score_offsets`) and their nested estimate (each
    fold scored with offsets chosen on the others; half.nn.offsets)."""
    cfg = dataclasses.replace(cfg or TrainConfig(seed=seed), patience=(cfg or TrainConfig()).epochs,
                              score_offsets=())
    key = primary_metric(data.task, data.classes)
    y_true, y_pred, y_scores, per_fold, curves = [], [], [], [], []
    for i, fold in enumerate(make_folds(data, k, seed)):
        d = with_fold(data, fold)
        result = train(arch, d, cfg, progress=progress)
        va = d.select("val")
        sc = class_scores(result.model, va.x, result.norm(va.side))
        pred = sc.argmax(1)
        y_true.append(va.y)
        y_pred.append(pred)
        y_scores.append(sc)
        curves.append([h[f"val_{key}"] for h in result.history])
        per_fold.append({"fold": i, "records": fold, "best_epoch": result.best_epoch,
                         key: metrics_for(data.task, data.classes, va.y, pred)[key]})
    pooled = metrics_for(data.task, data.classes, np.concatenate(y_true), np.concatenate(y_pred))
    scores = [f[key] for f in per_fold]
    curve = np.mean(curves, axis=0)
    out = {"metric": key, "pooled": pooled, "fold_mean": float(np.mean(scores)),
           "fold_std": float(np.std(scores)), "folds": per_fold,
           "curve": [round(float(c), 4) for c in curve], "cv_epoch": int(np.argmax(curve)) + 1,
           "cv_epoch_score": float(curve.max())}
    if offsets:
        y, s = np.concatenate(y_true), np.concatenate(y_scores)
        values = choose_offsets(data.task, data.classes, y, s)
        out["offsets"] = {
            "values": [round(float(v), 2) for v in values],
            "pooled_in_sample": round(float(metrics_for(data.task, data.classes, y,
                                                        (s + values).argmax(1))[key]), 4),
            "nested": nested_gain(data.task, data.classes, y_true, y_scores)}
    return out
