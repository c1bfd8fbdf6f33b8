# SPDX-License-Identifier: Apache-2.0
"""Task metrics against hand-computed confusion matrices (and scikit-learn when installed)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from half.errors import ConfigError
from half.nn.metrics import (
    binary_metrics,
    cinc_metrics,
    confusion,
    metrics_for,
    mitdb_metrics,
    primary_metric,
)

MITDB = ("N", "S", "V", "F", "Q")
CINC = ("N", "A", "O", "~")

# rows true N S V F Q, columns predicted; n = 22, trace = 17
MITDB_CM = [
    [8, 1, 1, 0, 0],
    [1, 3, 0, 0, 0],
    [0, 0, 4, 1, 0],
    [0, 0, 1, 1, 0],
    [0, 0, 0, 0, 1],
]
# rows true N A O ~; n = 16, trace = 11
CINC_CM = [
    [5, 0, 1, 0],
    [0, 2, 1, 0],
    [1, 0, 3, 1],
    [0, 0, 1, 1],
]


def expand(cm) -> tuple[np.ndarray, np.ndarray]:
    """Label vectors whose confusion matrix is `cm` (rows true, columns predicted)."""
    t, p = [], []
    for i, row in enumerate(cm):
        for j, k in enumerate(row):
            t += [i] * k
            p += [j] * k
    return np.array(t, dtype=np.int64), np.array(p, dtype=np.int64)


def test_confusion_rows_true_columns_predicted():
    cm = confusion([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], 3)
    assert cm.dtype == np.int64
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    y_true, y_pred = expand(MITDB_CM)
    assert confusion(y_true, y_pred, 5).tolist() == MITDB_CM


def test_mitdb_per_class_by_hand():
    m = mitdb_metrics(*expand(MITDB_CM))
    pc = m["per_class"]
    # Se = TP / row sum; +P = TP / column sum (column sums 9, 4, 6, 2, 1)
    assert pc["N"]["se"] == pytest.approx(8 / 10) and pc["N"]["ppv"] == pytest.approx(8 / 9)
    assert pc["S"]["se"] == pytest.approx(3 / 4) and pc["S"]["ppv"] == pytest.approx(3 / 4)
    assert pc["V"]["se"] == pytest.approx(4 / 5) and pc["V"]["ppv"] == pytest.approx(4 / 6)
    assert pc["F"]["se"] == pytest.approx(1 / 2) and pc["F"]["ppv"] == pytest.approx(1 / 2)
    assert pc["Q"]["se"] == 1.0 and pc["Q"]["ppv"] == 1.0
    # F1 = 2 Se +P / (Se + +P)
    f1 = {"N": 16 / 19, "S": 3 / 4, "V": 8 / 11, "F": 1 / 2, "Q": 1.0}
    for c, v in f1.items():
        assert pc[c]["f1"] == pytest.approx(v)
    assert [pc[c]["support"] for c in MITDB] == [10, 4, 5, 2, 1]
    assert m["accuracy"] == pytest.approx(17 / 22)
    assert m["macro_f1"] == pytest.approx((16 / 19 + 3 / 4 + 8 / 11 + 1 / 2) / 4)
    assert m["confusion"] == MITDB_CM and m["classes"] == list(MITDB) and m["n"] == 22


def test_mitdb_kappa_and_jk_by_hand():
    m = mitdb_metrics(*expand(MITDB_CM))
    # p_o = 17/22; p_e = (10*9 + 4*4 + 5*6 + 2*2 + 1*1) / 22^2 = 141/484
    # kappa = (374/484 - 141/484) / (343/484) = 233/343
    kappa = 233 / 343
    assert m["kappa"] == pytest.approx(kappa)
    j = 3 / 4 + 4 / 5 + 3 / 4 + 4 / 6  # Se_S + Se_V + +P_S + +P_V
    assert m["j_index"] == pytest.approx(j)
    assert m["jk_index"] == pytest.approx(kappa / 2 + j / 8)


def test_mitdb_macro_f1_excludes_q():
    m = mitdb_metrics(*expand(MITDB_CM))
    all_five = np.mean([m["per_class"][c]["f1"] for c in MITDB])
    assert m["macro_f1"] != pytest.approx(all_five)
    # Q half right (one true Q predicted N): F1_Q = 2/3. Adding correctly predicted Q beats
    # raises F1_Q to 4/5 but leaves every N/S/V/F count, hence macro-F1, unchanged.
    cm = [row[:] for row in MITDB_CM]
    cm[4] = [1, 0, 0, 0, 1]
    a = mitdb_metrics(*expand(cm))
    cm[4] = [1, 0, 0, 0, 2]
    b = mitdb_metrics(*expand(cm))
    assert a["per_class"]["Q"]["f1"] == pytest.approx(2 / 3)
    assert b["per_class"]["Q"]["f1"] == pytest.approx(4 / 5)
    assert a["macro_f1"] == b["macro_f1"]


def test_mitdb_perfect_predictions():
    y = np.array([0, 0, 0, 1, 1, 2, 2, 3, 4])
    m = mitdb_metrics(y, y)
    assert m["macro_f1"] == 1.0 and m["accuracy"] == 1.0
    assert m["kappa"] == pytest.approx(1.0)
    assert m["j_index"] == 4.0
    assert m["jk_index"] == pytest.approx(0.5 + 0.5)


def test_zero_over_zero_is_zero():
    # no F or Q beat, none predicted: their Se, +P and F1 are 0/0 -> 0.0
    y = np.array([0, 0, 1, 2])
    m = mitdb_metrics(y, y)
    for c in ("F", "Q"):
        assert m["per_class"][c] == {"se": 0.0, "ppv": 0.0, "f1": 0.0, "support": 0}
    assert m["macro_f1"] == pytest.approx(3 / 4)
    empty = mitdb_metrics([], [])
    assert empty["accuracy"] == 0.0 and empty["kappa"] == 0.0 and empty["n"] == 0


def test_outputs_are_plain_python_and_json():
    m = mitdb_metrics(*expand(MITDB_CM))
    assert type(m["macro_f1"]) is float and type(m["kappa"]) is float
    assert type(m["per_class"]["N"]["support"]) is int
    assert type(m["confusion"][0][0]) is int
    for out in (m, cinc_metrics(*expand(CINC_CM)), binary_metrics([0, 1], [1, 1])):
        assert json.loads(json.dumps(out)) == out


def test_cinc_f1_nao_by_hand_ignores_noise():
    m = cinc_metrics(*expand(CINC_CM))
    pc = m["per_class"]
    # column sums 6, 2, 6, 2; F1 = 2 TP / (row + column)
    assert pc["N"]["f1"] == pytest.approx(10 / 12)
    assert pc["A"]["f1"] == pytest.approx(4 / 5)
    assert pc["O"]["f1"] == pytest.approx(6 / 11)
    assert pc["~"]["f1"] == pytest.approx(2 / 4)
    assert pc["A"]["se"] == pytest.approx(2 / 3) and pc["A"]["ppv"] == 1.0
    assert [pc[c]["support"] for c in CINC] == [6, 3, 5, 2]
    assert m["f1_nao"] == pytest.approx((10 / 12 + 4 / 5 + 6 / 11) / 3)
    assert m["accuracy"] == pytest.approx(11 / 16)
    assert m["confusion"] == CINC_CM
    # more correctly labelled noisy windows change F1_~ only
    cm = [row[:] for row in CINC_CM]
    cm[3][3] += 3
    more = cinc_metrics(*expand(cm))
    assert more["per_class"]["~"]["f1"] == pytest.approx(8 / 10)
    assert more["f1_nao"] == m["f1_nao"]
    # N, A, O perfect, no noisy window: F1_~ is 0/0 = 0, yet F1_NAO is 1
    y = np.array([0, 1, 2, 0])
    perfect = cinc_metrics(y, y)
    assert perfect["per_class"]["~"]["f1"] == 0.0
    assert perfect["f1_nao"] == 1.0


def test_binary_by_hand():
    y_true = [1, 1, 1, 0, 0, 0, 0, 0]
    y_pred = [1, 1, 0, 1, 0, 0, 0, 0]
    m = binary_metrics(y_true, y_pred)  # TP 2, FN 1, FP 1, TN 4
    assert m["sensitivity"] == pytest.approx(2 / 3)
    assert m["specificity"] == pytest.approx(4 / 5)
    assert m["ppv"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 / 3)
    assert m["accuracy"] == pytest.approx(6 / 8)
    assert m["confusion"] == [[4, 1], [1, 2]]
    assert m["support"] == 3 and m["n"] == 8
    flipped = binary_metrics(y_true, y_pred, positive=0)
    assert flipped["sensitivity"] == pytest.approx(4 / 5)
    assert flipped["specificity"] == pytest.approx(2 / 3)
    assert flipped["ppv"] == pytest.approx(4 / 5)
    with pytest.raises(ConfigError) as e:
        binary_metrics(y_true, y_pred, positive=2)
    assert e.value.field == "positive"


def test_metrics_for_dispatch_and_primary_metric():
    y_true, y_pred = expand(MITDB_CM)
    assert metrics_for("mitdb-aami", MITDB, y_true, y_pred) == mitdb_metrics(y_true, y_pred)
    assert primary_metric("mitdb-aami", MITDB) == "macro_f1"
    y_true, y_pred = expand(CINC_CM)
    m = metrics_for("cinc2017-af", CINC, y_true, y_pred)
    assert m["f1_nao"] == cinc_metrics(y_true, y_pred)["f1_nao"]
    assert primary_metric("cinc2017-af", CINC) == "f1_nao"
    binary = ("non-AF", "AF")
    b = metrics_for("cinc2017-af", binary, [1, 1, 0, 0], [1, 0, 0, 0])
    assert b["sensitivity"] == 0.5 and b["specificity"] == 1.0 and b["f1"] == pytest.approx(2 / 3)
    assert b["classes"] == list(binary)
    assert primary_metric("cinc2017-af", binary) == "f1"
    for key, task, classes in [("macro_f1", "mitdb-aami", MITDB), ("f1_nao", "cinc2017-af", CINC),
                               ("f1", "cinc2017-af", binary)]:
        assert key in metrics_for(task, classes, [0, 1], [0, 1])
    with pytest.raises(ConfigError) as e:
        metrics_for("ptbxl", MITDB, [0], [0])
    assert e.value.field == "task"
    with pytest.raises(ConfigError) as e:
        primary_metric("nope", MITDB)
    assert e.value.field == "task"
    with pytest.raises(ConfigError) as e:
        metrics_for("cinc2017-af", ("N", "A", "O"), [0], [0])
    assert e.value.field == "classes"


def test_bad_inputs_raise_config_error():
    with pytest.raises(ConfigError) as e:
        mitdb_metrics([0, 1, 2], [0, 1])
    assert e.value.field == "y_pred" and "length" in str(e.value)
    with pytest.raises(ConfigError) as e:
        mitdb_metrics([0, 5], [0, 1])
    assert e.value.field == "y_true"
    with pytest.raises(ConfigError) as e:
        cinc_metrics([0, 1], [0, -1])
    assert e.value.field == "y_pred"
    with pytest.raises(ConfigError) as e:
        binary_metrics([0, 1], [0, 2])
    assert e.value.field == "y_pred"
    with pytest.raises(ConfigError) as e:
        confusion([0.5, 1], [0, 1], 2)
    assert e.value.field == "y_true"
    with pytest.raises(ConfigError) as e:
        confusion(np.zeros((2, 2), dtype=int), [0, 1], 2)
    assert e.value.field == "y_true"
    with pytest.raises(ConfigError) as e:
        confusion([0], [0], 0)
    assert e.value.field == "n_classes"
    with pytest.raises(ConfigError) as e:
        mitdb_metrics([0], [0], classes=("N", "S", "V", "F"))
    assert e.value.field == "classes"


def test_against_sklearn():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    y_true = rng.choice(5, size=500, p=[0.6, 0.15, 0.15, 0.05, 0.05])
    y_pred = np.where(rng.random(500) < 0.7, y_true, rng.integers(0, 5, size=500))
    m = mitdb_metrics(y_true, y_pred)
    labels = list(range(5))
    f1 = sk.f1_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
    se = sk.recall_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
    ppv = sk.precision_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
    for i, c in enumerate(MITDB):
        assert m["per_class"][c]["f1"] == pytest.approx(f1[i])
        assert m["per_class"][c]["se"] == pytest.approx(se[i])
        assert m["per_class"][c]["ppv"] == pytest.approx(ppv[i])
    assert m["macro_f1"] == pytest.approx(float(np.mean(f1[:4])))
    assert m["kappa"] == pytest.approx(sk.cohen_kappa_score(y_true, y_pred))
    assert m["confusion"] == sk.confusion_matrix(y_true, y_pred, labels=labels).tolist()
    assert m["accuracy"] == pytest.approx(sk.accuracy_score(y_true, y_pred))
