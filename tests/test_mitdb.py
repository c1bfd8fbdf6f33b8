# SPDX-License-Identifier: Apache-2.0
"""mitdb-aami on the real MIT-BIH records."""

from __future__ import annotations

import numpy as np
import pytest
import wfdb

from conftest import run_json
from half.data import get_task
from half.data.mitdb import DS1, DS2, PUBLISHED, beat_template, rhythm_context, rr_features


@pytest.mark.slow
def test_prepare_counts_match_published_table(shared_data):
    s = run_json("--data-dir", str(shared_data), "data", "prepare", "--task", "mitdb-aami")
    assert s["published"]["comparable"] is True
    for ds in ("DS1", "DS2"):
        for c, row in s["published"]["sets"][ds].items():
            assert row["published"] == PUBLISHED[ds][c]
            assert abs(row["diff_pct"]) <= 0.5, (ds, c, row)
    assert s["records"] == {"train": 17, "val": 5, "test": 22}
    assert s["windows"] == sum(sum(v.values()) for v in PUBLISHED.values())
    assert s["side_inputs"][:2] == ["rr_pre", "rr_post"]
    # The second call comes from the cache.
    again = run_json("--data-dir", str(shared_data), "data", "prepare")
    assert again["cache"]["hit"] is True and again["cache"]["key"] == s["cache"]["key"]


def test_windows_are_cut_around_the_annotated_r_peaks(make_mitdb):
    root = make_mitdb((101, 100))
    data = get_task("mitdb-aami", window=200, before=80).load(root)
    assert data.x.shape[1] == 200 and data.x.dtype == np.float32
    assert set(data.record) == {"100", "101"}
    # Window k of record 100 is the MLII signal from R-peak - 80 to R-peak + 120.
    rec = wfdb.rdrecord(str(root / "mitdb" / "100"), channels=[0])
    ann = wfdb.rdann(str(root / "mitdb" / "100"), "atr")
    peaks = [p for p, s in zip(ann.sample, ann.symbol, strict=True) if s in "NA"]
    rows = np.flatnonzero(data.record == "100")
    for k in (5, 100, 1000):
        p = peaks[k]
        np.testing.assert_allclose(data.x[rows[k]], rec.p_signal[p - 80:p + 120, 0], atol=1e-6)
    # Split by patient: 101 is in DS1 (training), 100 in DS2 (test).
    assert data.records("train") == ["101"] and data.records("test") == ["100"]
    assert 101 in DS1 and 100 in DS2


def test_resampling_changes_rate_and_keeps_beats(make_mitdb):
    root = make_mitdb((100,))
    native = get_task("mitdb-aami", window=360, before=144).load(root)
    half_rate = get_task("mitdb-aami", fs=180, window=180, before=72).load(root)
    assert half_rate.fs == 180 and half_rate.x.shape == (len(native), 180)
    # The R peak sits at `before` in both, so the peak amplitudes agree closely.
    r = np.abs(native.x[:, 144] - half_rate.x[:, 72])
    assert np.median(r) < 0.05


def test_rr_features_are_causal_except_for_the_next_beat():
    rng = np.random.default_rng(0)
    peaks = np.cumsum(rng.integers(250, 400, size=50))
    f = rr_features(peaks, 360.0, local_beats=10)
    assert f.shape == (50, 8)
    np.testing.assert_allclose(f[10, 0], (peaks[10] - peaks[9]) / 360, rtol=1e-6)
    np.testing.assert_allclose(f[10, 1], (peaks[11] - peaks[10]) / 360, rtol=1e-6)
    np.testing.assert_allclose(f[10, 2], np.mean(np.diff(peaks[:11])[-10:]) / 360, rtol=1e-6)
    np.testing.assert_allclose(f[10, 3], np.mean(np.diff(peaks[:11])) / 360, rtol=1e-5)
    # Moving beats after i+1 leaves the features of beat i unchanged.
    later = peaks.copy()
    later[30:] += 1000
    g = rr_features(later, 360.0, local_beats=10)
    np.testing.assert_array_equal(f[:29], g[:29])
    assert not np.array_equal(f[29:], g[29:])


def test_rhythm_context_is_causal_and_tells_regular_from_irregular(make_mitdb):
    regular = np.arange(40) * 300
    rng = np.random.default_rng(1)
    irregular = np.cumsum(rng.integers(150, 450, size=40))
    c_reg = rhythm_context(regular, 360.0, local_beats=10)
    c_irr = rhythm_context(irregular, 360.0, local_beats=10)
    assert c_reg.shape == (40, 2) and np.abs(c_reg).max() < 1e-6  # a steady rhythm: none
    assert (c_irr[12:] > 0.1).all()
    w = np.diff(irregular[:21])[-10:].astype(float)  # the ten intervals up to beat 20
    np.testing.assert_allclose(c_irr[20], [w.std() / w.mean(),
                                           np.sqrt(np.mean(np.diff(w) ** 2)) / w.mean()],
                               rtol=1e-5)
    later = irregular.copy()
    later[25:] += 77  # beats from 25 on leave every earlier beat's context unchanged
    np.testing.assert_array_equal(rhythm_context(later, 360.0, 10)[:25], c_irr[:25])
    # the task parameter appends the two features and names them; off, nothing changes
    root = make_mitdb((101,))
    plain = get_task("mitdb-aami").load(root)
    ctx = get_task("mitdb-aami", rhythm_context=True).load(root)
    assert ctx.side_names[-2:] == ("local_rr_cv", "local_rr_rmssd") and len(ctx.side_names) == 10
    np.testing.assert_array_equal(ctx.side[:, :8], plain.side)
    assert "rhythm_context" not in get_task("mitdb-aami").param_dict()  # old keys stay valid


def test_beat_template_compares_a_beat_with_the_patients_recent_beats(make_mitdb):
    """Same shape as the last beats: correlation 1, deviation 0; inverted: -1; causal. On a
    real record with many V beats (119), V beats differ from their template far more than N."""
    t = np.linspace(-1, 1, 360)
    beat = np.exp(-(t / 0.05) ** 2).astype(np.float32)  # a QRS-like spike at sample 180
    x = np.tile(beat, (30, 1))
    x[20] = -beat
    f = beat_template(x, 360.0, 180, beats=16)
    assert f.shape == (30, 2)
    np.testing.assert_allclose(f[1:20], [[1.0, 0.0]] * 19, atol=1e-6)
    np.testing.assert_allclose(f[20], [-1.0, 2.0], atol=1e-6)
    np.testing.assert_allclose(f[21], [1.0, 0.0], atol=1e-6)  # one odd beat: the median holds
    later = x.copy()
    later[25:] *= 3  # later beats leave every earlier beat's features unchanged
    np.testing.assert_array_equal(beat_template(later, 360.0, 180, 16)[:25], f[:25])
    root = make_mitdb((119,))
    plain = get_task("mitdb-aami").load(root)
    tpl = get_task("mitdb-aami", beat_template=True).load(root)
    assert tpl.side_names[-2:] == ("template_corr", "template_dev") and tpl.side.shape[1] == 10
    np.testing.assert_array_equal(tpl.side[:, :8], plain.side)
    np.testing.assert_array_equal(tpl.x, plain.x)
    n, v = tpl.classes.index("N"), tpl.classes.index("V")
    corr, dev = tpl.side[:, 8], tpl.side[:, 9]
    assert (tpl.y == v).sum() > 400
    assert np.median(corr[tpl.y == n]) > 0.95 > 0.8 > np.median(corr[tpl.y == v])  # 0.996, 0.67
    assert np.median(dev[tpl.y == v]) > 1.0 > 0.2 > np.median(dev[tpl.y == n])  # 1.63, 0.10
    assert "beat_template" not in get_task("mitdb-aami").param_dict()  # old keys stay valid


def test_intra_patient_split_says_it_leaks(make_mitdb):
    root = make_mitdb((101, 100))
    task = get_task("mitdb-aami", split="intra-patient", seed=3)
    data = task.load(root)
    assert any("leak" in w for w in data.warnings)
    assert set(data.records("train")) == set(data.records("test")) == {"100", "101"}
    again = get_task("mitdb-aami", split="intra-patient", seed=3).load(root, use_cache=False)
    np.testing.assert_array_equal(data.split, again.split)  # same seed, same split


def test_cache_key_follows_parameters_and_content(make_mitdb, monkeypatch, tmp_path):
    monkeypatch.setenv("HALF_CACHE_DIR", str(tmp_path / "own-cache"))
    root = make_mitdb((100,), copy=("100.atr",))
    a = get_task("mitdb-aami").load(root)
    b = get_task("mitdb-aami").load(root)
    assert not a.cache["hit"] and b.cache["hit"] and a.cache["key"] == b.cache["key"]
    np.testing.assert_array_equal(a.x, b.x)
    assert get_task("mitdb-aami", window=300).load(root).cache["key"] != a.cache["key"]
    # Same size, new content (one byte changed) -> new key.
    atr = root / "mitdb" / "100.atr"
    raw = bytearray(atr.read_bytes())
    raw[-3] ^= 0x01
    atr.write_bytes(bytes(raw))
    assert get_task("mitdb-aami").load(root).cache["key"] != a.cache["key"]


def test_bundled_subset_is_used_without_any_data_folder(monkeypatch, tmp_path):
    import half.data._locate as locate

    monkeypatch.setattr(locate, "checkout_root", lambda: None)
    monkeypatch.setenv("HALF_CACHE_DIR", str(tmp_path / "empty-cache"))
    task = get_task("mitdb-aami")
    data = task.load()
    assert data.source.startswith("bundled")
    assert any("bundled" in w for w in data.warnings)
    assert data.records("train") == ["208", "209"]
    assert data.records("val") == ["201"] and data.records("test") == ["213"]
    counts = data.counts()
    assert counts["test"] == {"N": 2641, "S": 28, "V": 220, "F": 362, "Q": 0}
    assert task.summary(data)["published"]["comparable"] is False


def test_highpass_removes_baseline_wander_and_keeps_the_qrs_band():
    from half.data.task import highpass

    fs = 360.0
    t = np.arange(int(60 * fs)) / fs
    qrs_band = np.sin(2 * np.pi * 10 * t)
    wander = 1.5 + 0.8 * np.sin(2 * np.pi * 0.1 * t)  # offset + slow breathing drift
    settled = slice(int(5 * fs), None)
    # 2nd-order Butterworth at 0.5 Hz: the 0.1 Hz drift is attenuated ~25x, the offset removed
    assert np.abs(highpass(wander, fs, 0.5)[settled]).max() < 0.06
    passed = highpass(qrs_band, fs, 0.5)[settled]
    assert passed.std() == pytest.approx(qrs_band[settled].std(), rel=0.01)
    assert np.array_equal(highpass(wander, fs, 0.0), wander)  # 0 = off
