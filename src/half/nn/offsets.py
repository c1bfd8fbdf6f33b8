# SPDX-License-Identifier: Apache-2.0
"""Per-class score offsets chosen by cross-validation (a logit adjustment).

Training weights the rare classes up (`TrainConfig.balance`) so that they are learnt at all; the
argmax of the trained scores then calls too many windows rare (mitdb-aami: most false S and F
calls are N beats). An offset per class, added to its score before the argmax, moves the
decision between recall and precision. The offsets are chosen on the pooled out-of-fold scores of
patient-wise k-fold CV (`half.nn.cv.cross_validate(..., offsets=True)`), never on the test split,
and the final fit adds them to the bias of its last layer (`TrainConfig.score_offsets`): they are
part of the weights from then on, so the exported model, the integer IR, the golden model and
the RTL all apply them with no step of their own.

`nested_gain` is the honest estimate of what the offsets buy: for each fold, offsets chosen on
the other folds' scores are applied to its own.
"""

from __future__ import annotations

import numpy as np
import torch

from half.nn.metrics import metrics_for, primary_metric

# Candidate offsets (in score units) for each class, tried one class at a time. Zero first, so
# that among equal metrics the smallest move wins.
GRID = tuple(sorted(np.round(np.arange(-4.0, 4.01, 0.25), 2), key=lambda v: (abs(v), v)))
ROUNDS = 3


@torch.no_grad()
def class_scores(model, x: np.ndarray, side: torch.Tensor | None, batch: int = 2048
                 ) -> np.ndarray:
    """(n, n_classes) float class scores of every window (what `predict` takes the argmax of)."""
    model.eval()
    out = []
    for i in range(0, len(x), batch):
        s = None if side is None else side[i:i + batch]
        out.append(model(torch.from_numpy(x[i:i + batch]), s).numpy())
    return np.concatenate(out) if out else np.zeros((0, model.arch.n_classes), np.float32)


def _metric(task: str, classes: tuple[str, ...], key: str, y: np.ndarray, scores: np.ndarray,
            offsets: np.ndarray) -> float:
    return float(metrics_for(task, classes, y, (scores + offsets).argmax(1))[key])


def choose_offsets(task: str, classes: tuple[str, ...], y: np.ndarray, scores: np.ndarray
                   ) -> np.ndarray:
    """Offsets (n_classes,) that maximise the task's primary metric of argmax(scores + offsets).

    Coordinate ascent over `GRID`, `ROUNDS` passes, the first class held at 0 (only differences
    between offsets matter). Deterministic: a move is taken only when it raises the metric."""
    key = primary_metric(task, classes)
    off = np.zeros(scores.shape[1])
    best = _metric(task, classes, key, y, scores, off)
    for _ in range(ROUNDS):
        moved = False
        for c in range(1, scores.shape[1]):
            for v in GRID:
                trial = off.copy()
                trial[c] = v
                m = _metric(task, classes, key, y, scores, trial)
                if m > best + 1e-12:
                    best, off, moved = m, trial, True
        if not moved:
            break
    return off


def nested_gain(task: str, classes: tuple[str, ...], ys: list[np.ndarray],
                scores: list[np.ndarray]) -> dict:
    """Per fold: the metric without offsets and with offsets chosen on the other folds; and the
    pooled figures of both (each window scored by offsets its own fold never saw)."""
    key = primary_metric(task, classes)
    rows, pooled_pred = [], []
    for i in range(len(ys)):
        others = [j for j in range(len(ys)) if j != i]
        off = choose_offsets(task, classes, np.concatenate([ys[j] for j in others]),
                             np.concatenate([scores[j] for j in others]))
        zero = np.zeros_like(off)
        rows.append({"fold": i, "offsets": [round(float(v), 2) for v in off],
                     "without": round(_metric(task, classes, key, ys[i], scores[i], zero), 4),
                     "with": round(_metric(task, classes, key, ys[i], scores[i], off), 4)})
        pooled_pred.append((scores[i] + off).argmax(1))
    y = np.concatenate(ys)
    without = metrics_for(task, classes, y, np.concatenate(scores).argmax(1))[key]
    with_ = metrics_for(task, classes, y, np.concatenate(pooled_pred))[key]
    return {"folds": rows, "pooled_without": round(float(without), 4),
            "pooled_with": round(float(with_), 4),
            "fold_mean_without": round(float(np.mean([r["without"] for r in rows])), 4),
            "fold_mean_with": round(float(np.mean([r["with"] for r in rows])), 4)}


def add_to_last_bias(model, offsets) -> None:
    """Add `offsets` to the bias of the model's last layer (in place): its scores move by them.
    `train` checks their count against the classes first."""
    with torch.no_grad():
        model.head[-1].bias.add_(torch.as_tensor(np.asarray(offsets, dtype=np.float32)))
