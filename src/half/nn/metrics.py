# SPDX-License-Identifier: Apache-2.0
"""Classification metrics of the ECG tasks, as reported in their literature (numpy only).

- ``mitdb-aami``: per-class sensitivity (Se) and positive predictive value (+P) of the AAMI
  EC57 heartbeat classes N, S, V, F, Q, as in the inter-patient protocol of de Chazal et al.
  (2004); macro-F1 over N, S, V, F (Q, a handful of paced/unclassifiable beats in DS2, is left
  out as in the literature); Cohen's kappa and the jκ index of Mar et al. (2011).
- ``cinc2017-af``: the PhysioNet/Computing in Cardiology Challenge 2017 score F1_NAO, the mean of
  the F1 of Normal, AF and Other rhythm (noisy ``~`` excluded) (Clifford et al. 2017); or, for
  the AF-vs-rest variant, binary sensitivity / specificity / +P / F1.

Every ratio whose denominator is zero (a class that neither occurs nor is predicted, an empty
input) is defined as 0.0, so every metric is a finite number. All returned values are plain
Python ``int``/``float``/``list``/``dict`` (JSON-serialisable).

References:
    ANSI/AAMI EC57:2012, Testing and reporting performance results of cardiac rhythm and
    ST segment measurement algorithms.
    P. de Chazal, M. O'Dwyer, R. B. Reilly, "Automatic classification of heartbeats using ECG
    morphology and heartbeat interval features", IEEE Trans. Biomed. Eng. 51(7):1196-1206, 2004.
    T. Mar, S. Zaunseder, J. P. Martínez, M. Llamedo, R. Poll, "Optimization of ECG
    classification by means of feature selection", IEEE Trans. Biomed. Eng. 58(8):2168-2177,
    2011.
    J. Cohen, "A coefficient of agreement for nominal scales", Educ. Psychol. Meas. 20(1):37-46,
    1960.
    G. D. Clifford et al., "AF classification from a short single lead ECG recording: the
    PhysioNet/Computing in Cardiology Challenge 2017", Computing in Cardiology 44, 2017.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from half.errors import ConfigError

MITDB_CLASSES = ("N", "S", "V", "F", "Q")
CINC_CLASSES = ("N", "A", "O", "~")
MITDB_MACRO_EXCLUDED = ("Q",)
CINC_SCORED = ("N", "A", "O")

_TASK_MITDB = "mitdb-aami"
_TASK_CINC = "cinc2017-af"


def _div(num: float, den: float) -> float:
    """``num / den`` as a Python float, with 0/0 (any zero denominator) defined as 0.0."""
    return float(num) / float(den) if den else 0.0


def _labels(name: str, y: Sequence[int] | np.ndarray, n_classes: int) -> np.ndarray:
    """`y` as a 1-D int64 array of class indices in ``[0, n_classes)``, else ConfigError."""
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ConfigError(name, f"expected a 1-D array of class indices, got shape {arr.shape}")
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.dtype.kind == "f":
        if not (np.all(np.isfinite(arr)) and np.all(arr == np.round(arr))):
            raise ConfigError(name, "class indices must be whole numbers")
    elif arr.dtype.kind not in "iu":
        raise ConfigError(name, f"class indices must be integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    lo, hi = int(arr.min()), int(arr.max())
    if lo < 0 or hi >= n_classes:
        bad = lo if lo < 0 else hi
        raise ConfigError(name, f"class index {bad} out of range 0..{n_classes - 1}")
    return arr


def _pair(y_true, y_pred, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    t = _labels("y_true", y_true, n_classes)
    p = _labels("y_pred", y_pred, n_classes)
    if len(t) != len(p):
        raise ConfigError("y_pred", f"length {len(p)} differs from y_true's length {len(t)}")
    return t, p


def _check_classes(classes: Sequence[str], required: Sequence[str]) -> tuple[str, ...]:
    classes = tuple(classes)
    if len(set(classes)) != len(classes):
        raise ConfigError("classes", f"duplicate class names in {list(classes)}")
    missing = [c for c in required if c not in classes]
    if missing:
        raise ConfigError("classes", f"missing {missing} (got {list(classes)})")
    return classes


def confusion(y_true, y_pred, n_classes: int) -> np.ndarray:
    """Confusion matrix ``C[i, j]`` = number of samples of true class i predicted as class j.

    Rows are true classes, columns predicted classes (the layout of
    ``sklearn.metrics.confusion_matrix``); dtype int64, shape
    ``(n_classes, n_classes)``. Raises ConfigError for labels out of ``[0, n_classes)`` or
    inputs of different lengths.
    """
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) \
            or n_classes < 1:
        raise ConfigError("n_classes", f"expected a positive integer, got {n_classes!r}")
    n_classes = int(n_classes)
    t, p = _pair(y_true, y_pred, n_classes)
    flat = np.bincount(t * n_classes + p, minlength=n_classes * n_classes)
    return flat.reshape(n_classes, n_classes).astype(np.int64)


def _per_class(cm: np.ndarray, classes: Sequence[str]) -> dict[str, dict]:
    """Se = TP/(TP+FN), +P = TP/(TP+FP), F1 = 2TP/(2TP+FP+FN), support = TP+FN per class.

    F1 is written as 2TP/(row + column sum), which equals the harmonic mean of Se and +P when
    both are defined and is the per-class F1 of the CinC 2017 scoring (Clifford et al. 2017).
    Zero denominators give 0.0.
    """
    tp = np.diag(cm)
    rows, cols = cm.sum(axis=1), cm.sum(axis=0)
    return {
        c: {"se": _div(tp[i], rows[i]), "ppv": _div(tp[i], cols[i]),
            "f1": _div(2 * tp[i], rows[i] + cols[i]), "support": int(rows[i])}
        for i, c in enumerate(classes)
    }


def cohen_kappa(cm: np.ndarray) -> float:
    """Cohen's (1960) unweighted kappa of a square confusion matrix.

    κ = (p_o − p_e) / (1 − p_e), with observed agreement p_o = trace / n and chance agreement
    p_e = Σ_k row_k · col_k / n². Where 1 − p_e is 0 (every sample in one class, true and
    predicted alike, or no samples) κ is defined as 0.0, like every 0/0 in this module.
    """
    cm = np.asarray(cm, dtype=np.float64)
    n = cm.sum()
    if n == 0:
        return 0.0
    po = np.trace(cm) / n
    pe = float(cm.sum(axis=1) @ cm.sum(axis=0)) / (n * n)
    return _div(po - pe, 1.0 - pe)


def mitdb_metrics(y_true, y_pred, classes: Sequence[str] = MITDB_CLASSES) -> dict:
    """AAMI EC57 heartbeat metrics of the inter-patient literature (de Chazal et al. 2004).

    `y_true` and `y_pred` are class indices into `classes` (which must name N, S, V, F and Q).
    Returns:

    - ``per_class``: for each class, ``se`` (sensitivity, TP/(TP+FN)), ``ppv`` (positive
      predictive value +P, TP/(TP+FP)), ``f1`` and ``support`` (number of true beats);
      a zero denominator (0/0) gives 0.0;
    - ``macro_f1``: unweighted mean F1 over N, S, V, F — Q is excluded, as in the literature,
      since DS2 holds only a few Q beats;
    - ``accuracy`` over all beats;
    - ``kappa``: Cohen's κ over the full confusion matrix;
    - ``j_index``: j = Se_S + Se_V + +P_S + +P_V (range 0..4), and
    - ``jk_index``: jκ = ½·κ + ⅛·j (range ≤ 1), the index Mar et al. 2011 ("Optimization of
      ECG classification by means of feature selection", IEEE TBME 58(8):2168-2177) defined
      to rank inter-patient heartbeat classifiers;
    - ``confusion`` (rows true, columns predicted, as nested lists), ``classes``, ``n``.
    """
    classes = _check_classes(classes, MITDB_CLASSES)
    cm = confusion(y_true, y_pred, len(classes))
    per = _per_class(cm, classes)
    n = int(cm.sum())
    kappa = cohen_kappa(cm)
    j = per["S"]["se"] + per["V"]["se"] + per["S"]["ppv"] + per["V"]["ppv"]
    macro = [per[c]["f1"] for c in classes if c not in MITDB_MACRO_EXCLUDED]
    return {
        "per_class": per,
        "macro_f1": float(np.mean(macro)),
        "accuracy": _div(np.trace(cm), n),
        "kappa": kappa,
        "j_index": float(j),
        "jk_index": 0.5 * kappa + 0.125 * float(j),
        "confusion": cm.tolist(),
        "classes": list(classes),
        "n": n,
    }


def cinc_metrics(y_true, y_pred, classes: Sequence[str] = CINC_CLASSES) -> dict:
    """PhysioNet/CinC Challenge 2017 rhythm metrics (Clifford et al. 2017).

    `y_true`, `y_pred` are class indices into `classes` (which must name N, A, O and ~).
    Returns ``per_class`` (``f1``, ``se``, ``ppv``, ``support`` per class, 0/0 = 0.0),
    ``f1_nao`` = (F1_N + F1_A + F1_O) / 3 — the challenge score, in which the noisy class ``~``
    is not scored —, ``accuracy``, ``confusion`` (rows true, columns predicted), ``classes``
    and ``n``.
    """
    classes = _check_classes(classes, CINC_CLASSES)
    cm = confusion(y_true, y_pred, len(classes))
    per = _per_class(cm, classes)
    n = int(cm.sum())
    return {
        "per_class": per,
        "f1_nao": float(np.mean([per[c]["f1"] for c in CINC_SCORED])),
        "accuracy": _div(np.trace(cm), n),
        "confusion": cm.tolist(),
        "classes": list(classes),
        "n": n,
    }


def binary_metrics(y_true, y_pred, positive: int = 1) -> dict:
    """Two-class metrics (e.g. AF vs rest) with class index `positive` (0 or 1) as positive.

    ``sensitivity`` = TP/(TP+FN), ``specificity`` = TN/(TN+FP), ``ppv`` = TP/(TP+FP),
    ``f1`` = 2TP/(2TP+FP+FN), ``accuracy``; 0/0 = 0.0. ``confusion`` is the 2×2 matrix in
    class-index order (rows true, columns predicted), not reordered by `positive`;
    ``support`` is the number of true positives plus false negatives, ``n`` the sample count.
    """
    if isinstance(positive, bool) or positive not in (0, 1):
        raise ConfigError("positive", f"expected class index 0 or 1, got {positive!r}")
    cm = confusion(y_true, y_pred, 2)
    pos, neg = int(positive), 1 - int(positive)
    tp, fn = int(cm[pos, pos]), int(cm[pos, neg])
    fp, tn = int(cm[neg, pos]), int(cm[neg, neg])
    n = tp + fn + fp + tn
    return {
        "sensitivity": _div(tp, tp + fn),
        "specificity": _div(tn, tn + fp),
        "ppv": _div(tp, tp + fp),
        "f1": _div(2 * tp, 2 * tp + fp + fn),
        "accuracy": _div(tp + tn, n),
        "confusion": cm.tolist(),
        "positive": pos,
        "support": tp + fn,
        "n": n,
    }


def _kind(task_name: str, classes: Sequence[str]) -> str:
    """Which metric family a task uses: ``mitdb``, ``cinc`` or ``binary``."""
    if task_name == _TASK_MITDB:
        return "mitdb"
    if task_name == _TASK_CINC:
        if len(classes) == 4:
            return "cinc"
        if len(classes) == 2:
            return "binary"
        raise ConfigError("classes", f"{task_name} has 4 or 2 classes, got {list(classes)}")
    raise ConfigError("task", f"no metrics for task {task_name!r} "
                              f"(known: {_TASK_MITDB}, {_TASK_CINC})")


def metrics_for(task_name: str, classes: tuple[str, ...], y_true, y_pred) -> dict:
    """The metrics of task `task_name`: mitdb_metrics, cinc_metrics or binary_metrics.

    ``mitdb-aami`` → :func:`mitdb_metrics`; ``cinc2017-af`` with 4 classes →
    :func:`cinc_metrics`; with 2 classes (AF vs rest) → :func:`binary_metrics` with class
    index 1 as positive (the result then also carries ``classes``). Unknown tasks raise
    ConfigError.
    """
    kind = _kind(task_name, classes)
    if kind == "mitdb":
        return mitdb_metrics(y_true, y_pred, classes)
    if kind == "cinc":
        return cinc_metrics(y_true, y_pred, classes)
    out = binary_metrics(y_true, y_pred, positive=1)
    out["classes"] = list(classes)
    return out


def primary_metric(task_name: str, classes: tuple[str, ...]) -> str:
    """The key of :func:`metrics_for`'s result that model selection maximises.

    ``macro_f1`` for ``mitdb-aami``, ``f1_nao`` for the 4-class ``cinc2017-af`` and ``f1`` (of
    the positive class, AF) for its 2-class variant.
    """
    return {"mitdb": "macro_f1", "cinc": "f1_nao", "binary": "f1"}[_kind(task_name, classes)]
