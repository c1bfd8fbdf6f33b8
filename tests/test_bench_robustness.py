# SPDX-License-Identifier: Apache-2.0
"""The stress suite (benchmarks/bench_robustness.py) on real records: perturbations do what they
say, the test-record subset builds the same windows as the full task, one run end to end."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO

_spec = importlib.util.spec_from_file_location("bench_robustness",
                                               REPO / "benchmarks" / "bench_robustness.py")
bench = importlib.util.module_from_spec(_spec)
sys.modules["bench_robustness"] = bench  # dataclasses look their module up
_spec.loader.exec_module(bench)


@pytest.fixture(scope="module")
def rec100(shared_data):
    from half.data._wfdb import read_record

    return read_record(shared_data / "mitdb", "100", channel="MLII", annotations="atr")


def _power(x):
    return float(np.mean((x - x.mean()) ** 2))


@pytest.mark.parametrize("name", ["em-6db", "ma-12db", "bw-0db", "em-0db"])
def test_noise_hits_the_requested_snr(rec100, shared_data, name):
    cond = bench.parse_condition(name)
    pert = bench.Perturbation(cond, seed=0, data_dir=shared_data)
    out = pert(rec100.signal, rec100.fs, "100")
    added = out - rec100.signal
    assert out.shape == rec100.signal.shape
    snr = 10 * np.log10(_power(rec100.signal) / _power(added))
    assert snr == pytest.approx(cond.value, abs=1e-6)
    # NSTDB's rule (QRS peak-to-peak) rates an ECG's power higher than its mean-free power
    assert cond.value + 2 < pert.snr_nstdb[0] < cond.value + 15


def test_perturbation_adds_the_seeded_test_half_segment(rec100, shared_data):
    from half.data.noise import load_noise

    x = rec100.signal[:20_000]  # a short record: one plain slice of the noise
    added = bench.Perturbation(bench.parse_condition("ma-6db"), 3, shared_data)(x, 360.0, "7") - x
    for part, same in (("test", True), ("train", False)):
        src = load_noise("ma", 360.0, part, shared_data)[0].astype(np.float64)
        seg = bench.noise_segment(src, x.size, bench.noise_offset(3, "ma", "7", src.size))
        assert bool(np.corrcoef(added, seg)[0, 1] > 0.999999) == same, part


def test_noise_is_from_the_second_half_seeded_and_continuous(shared_data):
    from half.data.noise import load_noise

    full = load_noise("em", 360.0, "train", shared_data)[0]
    test = load_noise("em", 360.0, "test", shared_data)[0]
    n = 650_000  # a whole mitdb record: longer than the half, so it turns back on itself
    off = bench.noise_offset(0, "em", "100", test.size)
    seg = bench.noise_segment(test.astype(np.float64), n, off)
    k = test.size - off
    np.testing.assert_array_equal(seg[:k], test[off:])
    np.testing.assert_array_equal(seg[k:k + 10], test[::-1][:10])
    assert np.abs(np.diff(seg)).max() <= np.abs(np.diff(test.astype(np.float64))).max()
    # not the training half: no 1-s piece of the segment occurs in it
    probe = seg[:360]
    hits = np.lib.stride_tricks.sliding_window_view(full, 360)[:, :1] == probe[0]
    assert not any(np.array_equal(full[i:i + 360], probe) for i in np.flatnonzero(hits[:, 0]))
    assert off == bench.noise_offset(0, "em", "100", test.size)
    assert off != bench.noise_offset(1, "em", "100", test.size)
    assert off != bench.noise_offset(0, "em", "103", test.size)


def test_resample_and_back_keeps_length_and_cuts_above_nyquist(rec100):
    x = rec100.signal[:36_001]
    t = np.arange(x.size) / 360.0
    tone = x + 0.5 * np.sin(2 * np.pi * 100 * t)  # above 128 Hz's Nyquist, below 250's
    for fs_mid in (128.0, 250.0, 500.0):
        assert bench.resample_and_back(tone, 360.0, fs_mid).shape == x.shape
    mid = slice(1000, -1000)  # away from the filters' edge transients
    low = bench.resample_and_back(tone, 360.0, 128.0)
    assert np.std((low - x)[mid]) < 0.05  # the tone is gone, the ECG stays
    high = bench.resample_and_back(tone, 360.0, 250.0)
    assert np.std((high - tone)[mid]) < 0.02  # 250 Hz keeps a 100 Hz tone
    assert np.std((bench.resample_and_back(x, 360.0, 500.0) - x)[mid]) < 0.01


def test_qrs_ptp_matches_annotated_beats(rec100):
    from scipy.signal import butter, sosfiltfilt

    x = sosfiltfilt(butter(2, 0.5, btype="highpass", fs=360.0, output="sos"), rec100.signal)
    beats = rec100.ann_sample[[s == "N" for s in rec100.ann_symbol]][5:-5]
    around = x[beats[:, None] + np.arange(-36, 37)]  # +-100 ms around each R peak
    reference = np.median(around.max(1) - around.min(1))
    assert bench.qrs_ptp(rec100.signal, 360.0) == pytest.approx(reference, rel=0.15)


def test_parse_condition_rejects_bad_names():
    from half.errors import ConfigError

    assert bench.parse_condition("EM-6dB") == bench.Condition("em-6db", "em", 6.0)
    assert bench.parse_condition("amp-x0.5").value == 0.5
    for bad in ("noise-6db", "amp-0", "resample-1", "em-6"):
        with pytest.raises(ConfigError):
            bench.parse_condition(bad)


def test_subset_builds_the_full_tasks_test_windows(mitdb_subset, tmp_path):
    from half.data import find_dataset, get_task

    root = mitdb_subset((101, 100, 103), "full")  # 101 is DS1 (train), 100 and 103 DS2 (test)
    task = get_task("mitdb-aami", highpass=0.5)
    full = task.load(root).select("test")
    over = bench.records_subset(task, find_dataset("mitdb", root), full.records("test"), tmp_path)
    assert sorted(p.name for p in (tmp_path / "mitdb").iterdir()) == [
        f"{r}.{e}" for r in (100, 103) for e in ("atr", "dat", "hea")]
    sub = get_task("mitdb-aami", highpass=0.5, **over).load(tmp_path, use_cache=False)
    assert bench.same_windows(sub.select("test"), full)
    assert not bench.same_windows(sub.select("test"), get_task("mitdb-aami").load(root)
                                  .select("test"))


def test_cinc_subset_keeps_labels_and_split(make_cinc, tmp_path):
    from half.data import find_dataset, get_task

    root = make_cinc(60)
    task = get_task("cinc2017-af", fs=100.0, window=3000)
    full = task.load(root).select("test")
    assert 0 < len(full) < 60
    over = bench.records_subset(task, find_dataset("cinc2017", root), full.records("test"),
                             tmp_path / "sub")
    sub = get_task("cinc2017-af", fs=100.0, window=3000, **over)
    data = sub.load(tmp_path / "sub", use_cache=False)
    assert len(data) == len(full)  # only test records, all still in the test split
    assert bench.same_windows(data.select("test"), full)


def test_run_end_to_end_on_two_ds2_records(mitdb_subset, shared_data, tmp_path):
    from half.nn.runs import eval_run

    root = mitdb_subset((100, 103), "e2e")
    os.symlink(shared_data / "nstdb", root / "nstdb")
    out = tmp_path / "rob.jsonl"
    conds = bench.conditions_of(["amp-2", "em-0db"])
    rows = bench.run("preset:tiny", "mitdb-aami", conds, out, root, seed=0, threads=1,
                     full_data=False)
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["condition"] for r in written] == ["clean", "amp-2", "em-0db"] == \
        [r["condition"] for r in rows]
    clean = eval_run("preset:tiny", "mitdb-aami", "test", root)
    assert written[0]["value"] == clean["macro_f1"] and written[0]["drop"] == 0.0
    assert written[0]["also"]["jk_index"]["value"] == clean["jk_index"]
    noisy = written[2]
    assert noisy["value"] != clean["macro_f1"]
    assert noisy["drop"] == pytest.approx(clean["macro_f1"] - noisy["value"])
    assert noisy["noise"]["part"].startswith("test") and noisy["windows"] == clean["windows"]
    assert "| em-0db |" in bench.table(written)


def test_bad_input_is_one_line():
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_robustness.py"),
                           "--model", "preset:tiny", "--conditions", "noise-3db"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "unknown condition" in proc.stderr
