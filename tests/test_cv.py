# SPDX-License-Identifier: Apache-2.0
"""Patient-wise k-fold cross-validation inside the training records."""

from __future__ import annotations

import numpy as np
import pytest

from half.data import get_task
from half.errors import ConfigError
from half.nn.cv import make_folds, with_fold


def test_folds_partition_the_training_records_by_patient(shared_data):
    data = get_task("mitdb-aami").load(shared_data)
    folds = make_folds(data, 4, seed=0)
    records = [r for f in folds for r in f]
    train_records = set(data.records("train")) | set(data.records("val"))
    assert sorted(records) == sorted(train_records)  # every DS1 record exactly once
    assert not set(records) & set(data.records("test"))  # DS2 never enters a fold
    assert make_folds(data, 4, seed=0) == folds  # deterministic
    # the rare classes are spread: each fold holds S beats
    for fold in folds:
        d = with_fold(data, fold)
        assert set(d.records("val")) == set(fold)
        assert (d.select("val").y == 1).sum() > 0
        assert np.array_equal(d.split == 2, data.split == 2)  # test split untouched
    with pytest.raises(ConfigError, match="folds"):
        make_folds(data, 1)
    with pytest.raises(ConfigError, match="at least 40 records"):
        make_folds(data, 40)


def test_cinc_folds_are_stratified(make_cinc):
    data = get_task("cinc2017-af").load(make_cinc(60))
    folds = make_folds(data, 3, seed=1)
    assert sum(len(f) for f in folds) == int((data.split != 2).sum())
    assert max(len(f) for f in folds) - min(len(f) for f in folds) <= 3
