# SPDX-License-Identifier: Apache-2.0
"""half.data.qrs: the beat matcher (exact cases) and the detector on a real record."""

from __future__ import annotations

import numpy as np
import pytest

from half.data import qrs
from half.data._wfdb import read_record
from half.data.mitdb import BEAT_SYMBOLS


def test_match_pairs_within_the_tolerance_one_to_one():
    m = qrs.match_beats(np.array([100, 200, 300, 400]), np.array([105, 190, 260, 600, 401]), 100)
    assert m.ref.tolist() == [0, 1, 3] and m.det.tolist() == [0, 1, 4]
    assert m.missed.tolist() == [2] and m.extra.tolist() == [2, 3]
    assert (m.se, m.ppv) == (0.75, 0.6)


def test_match_tolerance_is_inclusive_and_closest_first():
    m = qrs.match_beats(np.array([0, 1000]), np.array([150, 1151]), 1000)  # 150 ms, 151 ms
    assert m.ref.tolist() == [0] and m.missed.tolist() == [1] and m.extra.tolist() == [1]
    m = qrs.match_beats(np.array([100, 110]), np.array([108]), 1000)  # 110 is the closer one
    assert m.ref.tolist() == [1] and m.missed.tolist() == [0]


def test_match_keeps_the_callers_order():
    m = qrs.match_beats(np.array([300, 100, 200]), np.array([201, 99]), 360)
    assert sorted(zip(m.ref.tolist(), m.det.tolist(), strict=True)) == [(1, 1), (2, 0)]
    assert m.missed.tolist() == [0] and m.extra.size == 0


def test_empty_inputs():
    m = qrs.match_beats(np.array([], dtype=int), np.array([5]), 360)
    assert (m.se, m.ppv, m.extra.tolist()) == (0.0, 0.0, [0])
    assert qrs.detect(np.zeros(0), 360).size == 0
    with pytest.raises(ValueError):
        qrs.detect(np.zeros(10), 360, method="pan-tompkins")


@pytest.mark.parametrize("method", qrs.METHODS)
def test_detector_on_a_real_record_and_across_chunk_seams(method, shared_data, monkeypatch):
    rec = read_record(shared_data / "mitdb", "100", channel="MLII", annotations="atr")
    n = 120 * 360
    sig = rec.signal[:n]
    beats = np.array([s for s, y in zip(rec.ann_sample, rec.ann_symbol, strict=True)
                      if y in BEAT_SYMBOLS and s < n])
    whole = qrs.detect(sig, rec.fs, method=method)
    m = qrs.match_beats(beats, whole, rec.fs)
    assert m.se >= 0.99 and m.ppv >= 0.99
    assert np.median(np.abs(whole[m.det] - beats[m.ref])) <= 2  # on the R peak, not the onset
    monkeypatch.setattr(qrs, "CHUNK_S", 25.0)  # 5 chunks, 4 seams
    seen = []
    chunked = qrs.detect(sig, rec.fs, method=method, progress=lambda d, i, t: seen.append(i))
    assert seen == [0, 1, 2, 3, 4, 5]
    c = qrs.match_beats(whole, chunked, rec.fs, tolerance_s=0.01)
    assert c.missed.size <= 2 and c.extra.size <= 2
