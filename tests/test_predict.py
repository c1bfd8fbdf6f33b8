# SPDX-License-Identifier: Apache-2.0
"""`half predict` and `half eval --records` on real recordings written the way a user's would
be: WFDB at another rate, EDF, CSV; and every fault a user can meet, as one line and exit 2."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import wfdb
from scipy.signal import resample_poly

from half.cli import run
from half.data.mitdb import AAMI
from half.data.recording import read_recording
from half.errors import ConfigError, DataError
from half.predict import Model, predict_recording
from half.predict.apply import record_class

REC = "214"  # a DS2 record whose first minutes hold N, S, V, F and Q answers of preset:tiny
SLICE_S = 180


@pytest.fixture(scope="module")
def mitdb_model():
    return Model("preset:tiny", "mitdb-aami")


@pytest.fixture(scope="module")
def original(shared_data):
    """The first SLICE_S seconds of REC (lead MLII, 360 Hz) with its annotations."""
    full = read_recording(shared_data / "mitdb" / REC, lead="MLII", annotations="atr")
    n = SLICE_S * 360
    keep = full.ann_sample < n
    return dataclasses.replace(full, signal=full.signal[:n], ann_sample=full.ann_sample[keep],
                               ann_symbol=tuple(np.array(full.ann_symbol)[keep]))


def _write_wfdb(folder: Path, name: str, signal: np.ndarray, fs: float, samples=None,
                symbols=None, lead: str = "MLII") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    wfdb.wrsamp(name, fs=fs, units=["mV"], sig_name=[lead], p_signal=signal[:, None],
                fmt=["16"], write_dir=str(folder))
    if samples is not None:
        wfdb.wrann(name, "atr", np.asarray(samples), list(symbols), write_dir=str(folder))
    return folder / name


@pytest.fixture(scope="module")
def at_250(tmp_path_factory, original) -> Path:
    """The slice resampled to 250 Hz (scipy polyphase) and written as WFDB with its annotations
    moved to the new rate."""
    sig = resample_poly(original.signal, 25, 36)
    ann = np.round(original.ann_sample * 250 / 360).astype(np.int64)
    return _write_wfdb(tmp_path_factory.mktemp("rec250"), f"{REC}_250", sig, 250.0, ann,
                       original.ann_symbol)


def _half(capsys, *args: str) -> tuple[int, str, str]:
    code = run(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _classes(result) -> np.ndarray:
    return np.array([r["class"] for r in result.rows])


# -- mitdb-aami ---------------------------------------------------------------------------------
def test_annotated_record_gives_the_task_answers(make_mitdb, mitdb_model, shared_data):
    """On a whole MIT-BIH record with its annotations, predict classifies exactly the task's
    windows (same beats, same preprocessing, same RR features)."""
    data = mitdb_model.task.load(make_mitdb((int(REC),))).select("test")
    want, _ = mitdb_model.classify(data.x, data.side)
    rec = read_recording(shared_data / "mitdb" / REC, lead="MLII", annotations="atr")
    res = predict_recording(mitdb_model, rec, annotations="atr")
    scored = [r for r in res.rows if r["aami"]]
    assert [r["aami"] for r in scored] == [data.classes[i] for i in data.y]
    assert [r["class"] for r in scored] == [data.classes[i] for i in want]
    assert res.beats_from == "annotations (.atr)"


def test_250_hz_wfdb_agrees_with_the_original(capsys, tmp_path, at_250, original,
                                              mitdb_model):
    orig = predict_recording(mitdb_model, original, annotations="atr")
    want = _classes(orig)
    out = tmp_path / "beats.csv"
    code, _, err = _half(capsys, "predict", "--model", "preset:tiny", str(at_250),
                         "--annotations", "atr", "-o", str(out))
    assert code == 0, err
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == len(want)
    got = np.array([r["class"] for r in rows])
    # resampling moves beats and RR intervals by up to half a sample: on the first 5 min of
    # each DS1 record preset:tiny keeps 98.6 % of its answers at 250 Hz, 95.0-100 % per record
    # (benchmarks/bench_rate_agreement.py, docs/RESULTS.md); a broken rate path keeps far fewer
    assert (got == want).mean() >= 0.93
    assert len(set(got)) >= 4  # not a record of one class
    t = np.array([float(r["time_s"]) for r in rows])
    assert np.abs(t - np.array([r["time_s"] for r in orig.rows])).max() <= 1 / 250
    assert {"record", "sample", "score_N", "score_V", "annotation", "aami"} <= set(rows[0])
    assert all(float(r["score_" + r["class"]]) == max(float(r["score_" + c]) for c in "NSVFQ")
               for r in rows[:50])  # the class is the argmax of the integer scores


def test_detected_beats_on_the_250_hz_record(at_250, original, mitdb_model):
    from half.data.qrs import match_beats

    rec = read_recording(at_250, lead="MLII")
    res = predict_recording(mitdb_model, rec)
    assert res.beats_from.startswith("QRS detector")
    det = np.array([r["sample"] for r in res.rows])
    orig = predict_recording(mitdb_model, original, annotations="atr")
    beats = np.round(np.array([r["sample"] for r in orig.rows]) * 250 / 360)
    m = match_beats(beats, det, 250.0)
    assert m.se >= 0.99 and m.ppv >= 0.99
    # detected beats sit a few samples from the annotated ones: on DS1's first 5 min per record
    # preset:tiny keeps 96.5 % of its answers (78-100 % per record; bench_rate_agreement.py)
    assert (_classes(res)[m.det] == _classes(orig)[m.ref]).mean() >= 0.90


def test_the_models_lead_under_another_name(capsys, tmp_path, original):
    """A single-lead file named 'ECG' and one whose lead is 'II' are read without --lead, each
    with a note; the answers equal those on the same signal named MLII; with several leads and
    none of the model's, the error lists them."""
    rows = {}
    for lead in ("MLII", "II", "ECG"):
        rec = _write_wfdb(tmp_path / lead, f"r_{lead}", original.signal, 360.0, lead=lead)
        code, out, err = _half(capsys, "predict", "--model", "preset:tiny", str(rec), "--json")
        assert code == 0, err
        res = json.loads(out)["records"][0]
        assert res["lead"] == lead
        assert any(f"lead {lead!r} read in place of 'MLII'" in n for n in res["notes"]) == (
            lead != "MLII")
        rows[lead] = [r["class"] for r in res["rows"]]
    assert rows["II"] == rows["ECG"] == rows["MLII"] and len(rows["MLII"]) > 10
    for lead in ("ECG", "II"):  # a lead the user names is read by that name only
        with pytest.raises(DataError, match=f"no lead named 'MLII' \\(has '{lead}'\\)"):
            read_recording(tmp_path / lead / f"r_{lead}", lead="MLII")
    code, _, err = _half(capsys, "predict", "--model", "preset:tiny",
                         str(tmp_path / "II" / "r_II"), "--lead", "MLII")
    assert code == 2 and "no lead named 'MLII'" in err
    code, _, err = _half(capsys, "predict", "--model", "preset:tiny",
                         str(tmp_path / "II" / "r_II"), "--record-rule", "vote")
    assert code == 2 and "--record-rule: only for cinc2017-af" in err
    two = _csv(tmp_path / "two.csv", "V5,V2", ["0.1,0.2"] * 10)
    code, _, err = _half(capsys, "predict", "--model", "preset:tiny", two, "--fs", "360")
    assert code == 2 and "no lead named 'MLII' (has 'V5', 'V2')" in err


def test_edf_round_trip_with_a_slow_channel_and_microvolts(tmp_path, at_250, mitdb_model):
    edfio = pytest.importorskip("edfio")
    src = read_recording(at_250, lead="MLII", annotations="atr")
    seconds = src.signal.size // 250
    sig = src.signal[: seconds * 250]
    path = tmp_path / "rec.edf"
    edfio.Edf([
        edfio.EdfSignal(np.zeros(seconds * 25), sampling_frequency=25, label="accel"),
        edfio.EdfSignal(sig * 1000, sampling_frequency=250, label="MLII",
                        physical_dimension="uV"),
    ]).write(path)
    rec = read_recording(path, lead="MLII")
    assert rec.format == "edf" and rec.fs == 250 and rec.leads == ("accel", "MLII")
    assert np.abs(rec.signal - sig).max() < 1e-3  # µV read back as mV, 16-bit resolution
    a = predict_recording(mitdb_model, rec)
    b = predict_recording(mitdb_model, dataclasses.replace(src, signal=sig, ann_sample=None,
                                                           ann_symbol=None))
    assert [r["sample"] for r in a.rows] == [r["sample"] for r in b.rows]
    assert (_classes(a) == _classes(b)).mean() >= 0.99


# -- cinc2017-af --------------------------------------------------------------------------------
def test_cinc_csv_gives_the_class_of_the_task(capsys, tmp_path, make_cinc, shared_data):
    model = Model("preset:tiny", "cinc2017-af")
    root = make_cinc(12)
    data = model.task.load(root)
    want, _ = model.classify(data.x, data.side)
    expected = {r: model.classes[k] for r, k in zip(data.record, want, strict=True)}
    # one recording longer than a window (two tiles), one as long as a window or shorter
    lengths = {r: wfdb.rdheader(str(shared_data / "cinc2017" / "training2017" / r)).sig_len
               for r in data.record}
    chosen = [max(lengths, key=lengths.get), min(lengths, key=lengths.get)]
    files = []
    for r in chosen:
        sig = read_recording(shared_data / "cinc2017" / "training2017" / r).signal
        f = tmp_path / f"{r}.csv"
        f.write_text("ecg\n" + "\n".join(repr(float(v)) for v in sig) + "\n")
        files.append(str(f))
    out = tmp_path / "af.json"
    code, _, err = _half(capsys, "predict", "--model", "preset:tiny", "--task", "cinc2017-af",
                         *files, "--fs", "300", "-o", str(out), "--record-rule", "task")
    assert code == 0, err
    res = json.loads(out.read_text())
    for r, rec in zip(chosen, res["records"], strict=True):
        assert rec["class"] == rec["record_row"]["class"] == expected[r], r
        n = -(-lengths[r] // 3)  # samples at the task's 100 Hz
        assert rec["windows"] == -(-n // 3000)
        assert rec["rows"][0]["start_s"] == 0.0
    # the default rule (af-any) on the same windows: the whole recording, from its windows
    out2 = tmp_path / "af2.json"
    code, _, err = _half(capsys, "predict", "--model", "preset:tiny", "--task", "cinc2017-af",
                         *files, "--fs", "300", "-o", str(out2))
    assert code == 0, err
    for rec_task, rec in zip(res["records"], json.loads(out2.read_text())["records"],
                             strict=True):
        assert rec["rows"] == rec_task["rows"]  # the windows do not depend on the rule
        scores = np.array([[w[f"score_{c}"] for c in model.classes] for w in rec["rows"]])
        own = model.classes.index(rec_task["class"])
        assert rec["class"] == record_class("af-any", model.classes, scores, own)
        assert rec["record_row"]["rule"] == "af-any"
        if len(rec["rows"]) > 1:
            assert rec["record_row"]["start_s"] == 0.0
            assert rec["record_row"]["end_s"] == rec["rows"][-1]["end_s"]


def test_record_rules():
    classes = ("N", "A", "O", "~")
    s = np.array([[5, 1, 0, 0], [0, 2, 1, 0], [4, 0, 3, 0]], dtype=float)  # N, A, N windows
    assert record_class("task", classes, s, 2) == "O"
    assert record_class("mean", classes, s, 0) == "N"
    assert record_class("vote", classes, s, 0) == "N"
    assert record_class("af-any", classes, s, 0) == "A"
    assert record_class("af-any", classes, s[[0, 2]], 0) == "N"  # no AF window: the mean's
    tie = np.array([[0, 0, 9, 0], [1, 0, 0, 0]], dtype=float)  # one O, one N: mean says O
    assert record_class("vote", classes, tie, 1) == "O"
    assert record_class("af-any", ("non-AF", "AF"), np.array([[3, 1], [0, 2.0]]), 0) == "AF"
    with pytest.raises(ConfigError, match="one of af-any"):
        record_class("max", classes, s, 0)


# -- faults: one line, exit 2, nothing written --------------------------------------------------
def _csv(path: Path, header: str, values) -> str:
    path.write_text(header + "\n" + "\n".join(str(v) for v in values) + "\n")
    return str(path)


FAULTS = {
    "unknown format": (lambda d: [str(_touch(d / "rec.xyz"))], "unknown format"),
    "missing file": (lambda d: [str(d / "nothing.edf")], "no such file"),
    "unreadable EDF": (lambda d: [str(_touch(d / "bad.edf", b"not an edf file" * 20))],
                       "unreadable EDF"),
    "non-numeric CSV": (lambda d: [_csv(d / "x.csv", "MLII", ["0.1", "0.2", "abc"]),
                                   "--fs", "360"], "line 4"),
    "CSV without a header": (lambda d: [_csv(d / "x.csv", "0.5", [0.1] * 10), "--fs", "360"],
                             "no header row"),
    "CSV without --fs": (lambda d: [_csv(d / "x.csv", "MLII", [0.1] * 10)], "--fs"),
    "missing lead": (lambda d: [_csv(d / "x.csv", "V5,V2", ["0.1,0.2"] * 10), "--fs", "360"],
                     "no lead named 'MLII' (has 'V5', 'V2')"),
    "rate too low": (lambda d: [_csv(d / "x.csv", "MLII", [0.0] * 1000), "--fs", "100"],
                     "below the 128 Hz"),
    "shorter than a window": (lambda d: [_csv(d / "x.csv", "MLII", [0.0] * 180), "--fs", "360"],
                              "shorter than one window"),
    "no beats": (lambda d: [_csv(d / "x.csv", "MLII", [0.0] * 3600), "--fs", "360"],
                 "no beats found by the QRS detector"),
    "annotations of a CSV": (lambda d: [_csv(d / "x.csv", "MLII", [0.1] * 10), "--fs", "360",
                                        "--annotations", "atr"], "--annotations"),
    "--fs against the header": (lambda d: [str(_slice_record(d)), "--fs", "250"], "--fs"),
    "missing annotation file": (lambda d: [str(_slice_record(d)), "--annotations", "qrs"],
                                "missing annotation file"),
}


def _touch(path: Path, data: bytes = b"") -> Path:
    path.write_bytes(data)
    return path


def _slice_record(d: Path) -> Path:
    return _write_wfdb(d, "rec", np.zeros(3600), 360.0)


@pytest.mark.parametrize("case", list(FAULTS))
def test_fault_is_one_line_and_writes_nothing(case, capsys, tmp_path):
    make, words = FAULTS[case]
    inputs = tmp_path / "in"
    inputs.mkdir()
    args = make(inputs)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code, out, err = _half(capsys, "predict", "--model", "preset:tiny", *args, "-o",
                           str(out_dir / "beats.csv"))
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("half: error:"), err
    assert words in lines[0], lines[0]
    assert out == "" and list(out_dir.iterdir()) == []


def test_a_bad_second_record_leaves_no_output(capsys, tmp_path, at_250):
    out = tmp_path / "out" / "beats.json"
    code, _, err = _half(capsys, "predict", "--model", "preset:tiny", str(at_250),
                         str(_write_wfdb(tmp_path, "flat", np.zeros(3600), 360.0)), "-o",
                         str(out))
    assert code == 2 and "flat.hea: no beats found" in err, err
    assert not out.parent.exists() or list(out.parent.iterdir()) == []


def test_bad_output_path_is_refused_before_any_work(capsys, tmp_path, at_250):
    code, _, err = _half(capsys, "predict", "--model", "preset:tiny", str(at_250), "-o",
                         str(tmp_path / "beats.txt"))
    assert code == 2 and "--out" in err and not (tmp_path / "beats.txt").exists()


# -- half eval --records ------------------------------------------------------------------------
def test_eval_records_equals_eval_split(capsys, make_mitdb, shared_data):
    """A folder holding one DS2 record and one without MLII (102, paced: V5 and V2): the same
    confusion matrix as `half eval --split test` on the task built from that record."""
    root = make_mitdb((int(REC), 102))
    code, out, err = _half(capsys, "--data-dir", str(root), "eval", "--model", "preset:tiny",
                           "--split", "test", "--json")
    assert code == 0, err
    split = json.loads(out)
    code, out, err = _half(capsys, "eval", "--model", "preset:tiny", "--records",
                           str(root / "mitdb"), "--json")
    assert code == 0, err
    res = json.loads(out)
    assert res["confusion"] == split["confusion"] and res["macro_f1"] == split["macro_f1"]
    assert res["records"] == 1 and res["skipped"][0]["record"] == "102"
    assert "no lead named 'MLII'" in res["warnings"][0]


def test_eval_records_with_detected_beats(capsys, at_250, original):
    code, out, err = _half(capsys, "eval", "--model", "preset:tiny", "--records",
                           str(at_250.parent), "--detect", "--per-record", "--json")
    assert code == 0, err
    res = json.loads(out)
    aami = sum(s in AAMI for s in original.ann_symbol)
    det = res["detection"]
    assert res["beats"] + sum(det["missed"].values()) == aami  # every annotated beat counted
    assert det["qrs"]["se"] >= 0.99 and det["qrs"]["ppv"] >= 0.99
    assert res["with_misses"]["macro_f1"] <= res["macro_f1"] + 1e-12
    assert res["per_record"][0]["qrs"]["tp"] == det["qrs"]["tp"]


def test_eval_records_with_rhythm_labels(capsys, tmp_path, make_cinc):
    model = Model("preset:tiny", "cinc2017-af")
    root = make_cinc(12)
    data = model.task.load(root)
    want, _ = model.classify(data.x, data.side)
    names = {"N": "Normal", "A": "AF", "O": "Other", "~": "noisy"}
    labels = tmp_path / "labels.csv"
    labels.write_text("record,label\n" + "".join(
        f"{r},{names[data.classes[y]]}\n" for r, y in zip(data.record, data.y, strict=True))
        + "X00001,flutter\n")
    code, out, err = _half(capsys, "eval", "--model", "preset:tiny", "--task", "cinc2017-af",
                           "--records", str(root / "cinc2017" / "training2017"),
                           "--rhythm-labels", str(labels), "--per-record", "--json",
                           "--record-rule", "task")
    assert code == 0, err
    res = json.loads(out)
    assert res["record_rule"] == "task"
    assert [r["class"] for r in res["per_record"]] == [model.classes[k] for k in want]
    assert res["left_out"] == {"flutter": 1} and res["records"] == len(data.record)
    code, out, err = _half(capsys, "eval", "--model", "preset:tiny", "--task", "cinc2017-af",
                           "--records", str(root / "cinc2017" / "training2017"),
                           "--rhythm-labels", str(labels), "--per-record")
    assert code == 0 and "f1_nao" in out and "'flutter' x1" in out, err


def test_human_output(capsys, at_250):
    code, out, err = _half(capsys, "eval", "--model", "preset:tiny", "--records",
                           str(at_250.parent), "--detect", "--per-record")
    assert code == 0, err
    assert "macro_f1" in out and "QRS detection: Se" in out and "per record" in out
    code, out, err = _half(capsys, "predict", "--model", "preset:tiny", str(at_250))
    assert code == 0, err
    assert "QRS detector (gqrs)" in out and "-o FILE.csv" in out


@pytest.mark.parametrize("args, words", [
    (["--records", "DIR", "--split", "test"], "--split"),
    (["--records", "DIR", "--rhythm-labels", "x.csv"], "--rhythm-labels"),
    (["--detect"], "--detect: only with --records"),
    (["--records", "DIR", "--task", "cinc2017-af", "--detect"], "--detect"),
    (["--records", "NOWHERE"], "no such folder"),
    (["--split", "val", "--record-rule", "vote"], "--record-rule: only with --records"),
    (["--records", "DIR", "--record-rule", "mean"], "--record-rule: only for cinc2017-af"),
])
def test_eval_records_faults(args, words, capsys, tmp_path):
    args = [a.replace("DIR", str(tmp_path)) for a in args]
    code, out, err = _half(capsys, "eval", "--model", "preset:tiny", *args)
    assert code == 2 and len(err.strip().splitlines()) == 1 and words in err, err
