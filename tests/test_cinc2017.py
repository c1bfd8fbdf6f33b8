# SPDX-License-Identifier: Apache-2.0
"""cinc2017-af on the real PhysioNet/CinC 2017 recordings."""

from __future__ import annotations

import numpy as np
import pytest
import wfdb

from conftest import run_json
from half.data import get_task
from half.data.cinc2017 import make_split, read_labels, read_split, shipped_split_name

V3 = {"N": 5076, "A": 758, "O": 2415, "~": 279}
FIRST_RELEASE = {"N": 5050, "A": 738, "O": 2456, "~": 284}


@pytest.mark.slow
@pytest.mark.parametrize("labels,expected", [(None, V3), ("REFERENCE.csv", FIRST_RELEASE)])
def test_prepare_counts_match_the_label_files(shared_data, labels, expected):
    args = ["--data-dir", str(shared_data), "data", "prepare", "--task", "cinc2017-af"]
    s = run_json(*args, *(["--labels", labels] if labels else []))
    assert s["totals"] == expected
    assert s["windows"] == 8528 and s["window"] == 9000
    assert sum(s["records"].values()) == 8528


def test_shipped_split_is_the_seeded_stratified_split(shared_data):
    from importlib import resources

    labels = read_labels(shared_data / "cinc2017" / "REFERENCE-v3.csv")
    shipped = resources.files("half.data").joinpath("splits", shipped_split_name(0, 0.15, 0.15))
    split = read_split(shipped)
    assert split == make_split(labels, 0, 0.15, 0.15)
    for lab in "NAO~":  # stratified: each class is split about 70/15/15
        recs = [r for r, v in labels.items() if v == lab]
        frac = sum(split[r] == "test" for r in recs) / len(recs)
        assert abs(frac - 0.15) < 0.01
    assert make_split(labels, 1, 0.15, 0.15) != split


def test_windows_crop_and_pad(make_cinc):
    root = make_cinc(12)
    start = get_task("cinc2017-af", window=3000).load(root)
    center = get_task("cinc2017-af", window=3000, crop="center").load(root)
    longw = get_task("cinc2017-af", window=20000).load(root)
    rec0 = start.record[0]
    sig = wfdb.rdrecord(str(root / "cinc2017" / "training2017" / rec0)).p_signal[:, 0]
    np.testing.assert_allclose(start.x[0], sig[:3000], atol=1e-6)
    off = (sig.size - 3000) // 2
    np.testing.assert_allclose(center.x[0], sig[off:off + 3000], atol=1e-6)
    np.testing.assert_allclose(longw.x[0, :sig.size], sig, atol=1e-6)
    assert not longw.x[0, sig.size:].any()  # zero padding after the recording
    assert longw.meta["padded"] == 12 and start.meta["cropped"] == 12


def test_binary_mode_and_other_seed(make_cinc):
    root = make_cinc(40)
    four = get_task("cinc2017-af", window=1000).load(root)
    two = get_task("cinc2017-af", window=1000, binary=True).load(root)
    assert two.classes == ("non-AF", "AF")
    np.testing.assert_array_equal(two.y, (four.y == four.classes.index("A")).astype(int))
    # A non-default seed writes its own split file into the cache, reproducibly.
    a = get_task("cinc2017-af", window=1000, split_seed=7).load(root, use_cache=False)
    b = get_task("cinc2017-af", window=1000, split_seed=7).load(root, use_cache=False)
    np.testing.assert_array_equal(a.split, b.split)
