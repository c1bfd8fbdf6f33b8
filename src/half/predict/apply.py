# SPDX-License-Identifier: Apache-2.0
"""A model applied to one recording, as its task would prepare it for training.

`mitdb-aami`: beats from the record's annotations (every beat label, `BEAT_SYMBOLS`) or the QRS
detector (`half.data.qrs`); windows and RR features from `half.data.mitdb.beat_inputs`, the
function the task itself builds its data with; one row per beat.

`cinc2017-af`: the recording through the task's preprocessing (`half.data.preprocess.prepare`);
one row per window and one for the record. Windows tile the recording from its start, each
`window` samples at the task rate; a remainder gets one more window ending at the recording's
end (overlapping the one before); a recording shorter than a window gets the task's one window,
zero-padded (`half.data.cinc2017.record_window`; with pad=false it is an error). **The record's
class comes from its windows by a rule** (`RECORD_RULES`, `record_class`), by default `af-any`:
AF when any window says AF, else the class of the windows' mean score (chosen on the validation
split: docs/RESULTS.md, benchmarks/bench_record_rule.py). A recording of one window gets that
window's class under every rule. The rule `task` instead takes the window the task itself cuts
from the recording (`record_window`: the first `window` samples for crop=start, the middle ones
for crop=center), the answer `half eval --split` gives on the task's own records. A model trained
with `rr_features=true` gets each window's RR-irregularity features from
`half.data.cinc2017.window_rr_features` (beats from the QRS detector), as the task computes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from half.data import qrs
from half.data.cinc2017 import Cinc2017Af, record_window, window_rr_features, window_start
from half.data.mitdb import AAMI, BEAT_SYMBOLS, MitdbAami, beat_inputs
from half.data.preprocess import prepare
from half.data.recording import Recording
from half.data.rhythm import DETECTOR
from half.data.task import Progress
from half.errors import ConfigError, DataError
from half.predict.model import Model


@dataclass
class Beats:
    """Beat positions of one recording (samples at its own rate) and where they came from."""

    sample: np.ndarray  # (m,) int64
    source: str  # "annotations (.atr)" or "QRS detector (xqrs)"
    symbol: tuple[str, ...] | None = None  # annotation label of each beat, when annotated


@dataclass
class Result:
    """A model's answers on one recording (rows are plain dicts, ready for CSV or JSON)."""

    recording: Recording
    kind: str  # "beats" or "windows"
    rows: list[dict]
    record_row: dict | None = None  # cinc2017-af: the record's class (see the module docstring)
    beats_from: str | None = None
    notes: list[str] = field(default_factory=list)

    def summary(self, classes: tuple[str, ...]) -> dict:
        counts = {c: sum(1 for r in self.rows if r["class"] == c) for c in classes}
        out = {"record": self.recording.name, "path": str(self.recording.path),
               "format": self.recording.format, "fs": self.recording.fs,
               "lead": self.recording.lead, "seconds": self.recording.signal.size
               / self.recording.fs, self.kind: len(self.rows), "counts": counts}
        if self.beats_from:
            out["beats_from"] = self.beats_from
        if self.record_row is not None:
            out["class"] = self.record_row["class"]
        out["notes"] = list(self.recording.notes) + self.notes
        return out


def check_recording(model: Model, rec: Recording) -> None:
    """The faults that no preprocessing can fix: a rate below what the model can use, a record
    shorter than one of its windows (unless its task pads short records)."""
    p = model.params
    if rec.fs < model.min_fs - 1e-9:
        raise DataError(rec.path, f"sampled at {rec.fs:g} Hz, below the {model.min_fs:g} Hz this "
                        f"model can use (it runs at {p.fs:g} Hz)")
    n = int(np.floor(rec.signal.size * p.fs / rec.fs))  # samples at the task rate
    pads = isinstance(model.task, Cinc2017Af) and p.pad
    if n < p.window and not pads:
        raise DataError(rec.path, f"{rec.signal.size / rec.fs:.3g} s long, shorter than one "
                        f"window of this model ({p.window} samples at {p.fs:g} Hz = "
                        f"{p.window / p.fs:.3g} s)")


def find_beats(rec: Recording, *, method: str = "gqrs", progress: Progress | None = None,
               annotations: str | None = None) -> Beats:
    """The recording's beats: its annotated ones (when it was read with annotations), else the
    QRS detector's. A DataError when fewer than two are found (RR features need two)."""
    if rec.ann_sample is not None:
        is_beat = np.array([s in BEAT_SYMBOLS for s in rec.ann_symbol], dtype=bool)
        beats = Beats(rec.ann_sample[is_beat],
                      f"annotations (.{annotations})" if annotations else "annotations",
                      tuple(s for s, b in zip(rec.ann_symbol, is_beat, strict=True) if b))
        where = f"in its annotation file (.{annotations})" if annotations else "annotated"
    else:
        beats = Beats(qrs.detect(rec.signal, rec.fs, method=method, progress=progress),
                      f"QRS detector ({method})")
        where = "by the QRS detector"
    if beats.sample.size == 0:
        raise DataError(rec.path, f"no beats found {where}")
    if beats.sample.size < 2:
        raise DataError(rec.path, f"only one beat found {where}: RR features need two")
    return beats


def beat_rows(model: Model, rec: Recording, beats: Beats, progress: Progress | None = None
              ) -> tuple[list[dict], np.ndarray]:
    """One row per beat (time_s, sample, class, scores[, annotation, aami]); and the predicted
    class indices."""
    x, side, _ = beat_inputs(rec.signal, rec.fs, beats.sample, model.params, where=rec.path)
    pred, scores = model.classify(x, side, progress)
    rows = []
    for i, s in enumerate(beats.sample):
        row = {"record": rec.name, "time_s": round(float(s) / rec.fs, 4), "sample": int(s),
               "class": model.classes[pred[i]], **_scores(model.classes, scores[i])}
        if beats.symbol is not None:
            row["annotation"] = beats.symbol[i]
            row["aami"] = AAMI.get(beats.symbol[i], "")
        rows.append(row)
    return rows, pred


# How the windows of a recording longer than one window make the record's class
# (`record_class`); benchmarks/bench_record_rule.py measures them on the validation split.
RECORD_RULES = ("af-any", "mean", "vote", "task")
DEFAULT_RECORD_RULE = "af-any"


def _check_rule(rule: str) -> None:
    if rule not in RECORD_RULES:
        raise ConfigError("--record-rule", f"one of {', '.join(RECORD_RULES)}, got {rule!r}")


def resolve_record_rule(model: Model, rule: str | None) -> str:
    """The record rule a command uses: `rule` (only a cinc2017-af model has one; a ConfigError
    for another), else DEFAULT_RECORD_RULE."""
    if rule is None:
        return DEFAULT_RECORD_RULE
    if not isinstance(model.task, Cinc2017Af):
        raise ConfigError("--record-rule", "only for cinc2017-af models (they classify "
                          "windows of a recording)")
    _check_rule(rule)
    return rule


def record_class(rule: str, classes: tuple[str, ...], scores: np.ndarray, own: int) -> str:
    """The record's class from its windows' scores (rows: windows in time order) by `rule`:
    `task` the class of the window the task itself cuts (`own`, its class index); `mean` the
    class of the mean score over the windows; `vote` the commonest window class (ties go to
    `mean`'s answer); `af-any` AF when any window says AF, else `mean`."""
    _check_rule(rule)
    if rule == "task":
        return classes[own]
    mean = int(np.argmax(scores.mean(axis=0)))
    if rule == "mean":
        return classes[mean]
    votes = np.bincount(scores.argmax(axis=1), minlength=len(classes))
    if rule == "vote":
        best = np.flatnonzero(votes == votes.max())
        return classes[mean if mean in best else int(best[0])]
    a = classes.index("A" if "A" in classes else "AF")  # four classes, or the binary task
    return classes[a] if votes[a] > 0 else classes[mean]


def window_rows(model: Model, rec: Recording, progress: Progress | None = None,
                rule: str = DEFAULT_RECORD_RULE) -> tuple[list[dict], dict]:
    """cinc2017-af: one row per window and the record's row (see the module docstring)."""
    _check_rule(rule)
    p = model.params
    sig = prepare(rec.signal, rec.fs, p.fs, highpass_hz=p.highpass, normalize_rule=p.normalize)
    w = p.window
    if sig.size <= w:
        starts = [0]
        x = record_window(sig, p, rec.path)[None, :]
    else:
        starts = list(range(0, sig.size - w + 1, w))
        if starts[-1] + w < sig.size:
            starts.append(sig.size - w)
        x = np.stack([sig[s:s + w] for s in starts]).astype(np.float32)
    ws = window_start(sig.size, p)
    own = starts.index(ws) if ws in starts else None
    if own is None:  # crop=center: the task's window lies between two tiles
        x = np.concatenate([x, record_window(sig, p, rec.path)[None, :]])
    side = (window_rr_features(rec.signal, rec.fs, p, starts + ([] if own is not None else [ws]),
                               progress) if p.rr_features else None)
    pred, scores = model.classify(x, side, progress)
    rows = []
    for i, s in enumerate(starts):
        rows.append({"record": rec.name, "row": "window", "start_s": round(s / p.fs, 3),
                     "end_s": round(min(s + w, sig.size) / p.fs, 3),
                     "class": model.classes[pred[i]], **_scores(model.classes, scores[i])})
    k = own if own is not None else len(starts)
    if rule == "task" or len(starts) == 1:
        record = {"record": rec.name, "row": "record", "start_s": round(ws / p.fs, 3),
                  "end_s": round(min(ws + w, sig.size) / p.fs, 3),
                  "class": model.classes[pred[k]], **_scores(model.classes, scores[k])}
    else:  # the whole recording; the scores shown are the windows' mean
        tiles = np.asarray(scores[:len(starts)], dtype=np.float64)
        record = {"record": rec.name, "row": "record", "start_s": 0.0,
                  "end_s": round(sig.size / p.fs, 3),
                  "class": record_class(rule, model.classes, tiles, int(pred[k])),
                  **_scores(model.classes, tiles.mean(axis=0))}
    record["rule"] = rule
    return rows, record


def predict_recording(model: Model, rec: Recording, *, method: str = "gqrs",
                      annotations: str | None = None, progress: Progress | None = None,
                      rule: str | None = None) -> Result:
    """The model's answers on one recording (read with `half.data.recording.read_recording`);
    `rule`: the record rule of a cinc2017-af model (None: DEFAULT_RECORD_RULE)."""
    check_recording(model, rec)
    rule = resolve_record_rule(model, rule)
    if isinstance(model.task, MitdbAami):
        beats = find_beats(rec, method=method, progress=progress, annotations=annotations)
        rows, _ = beat_rows(model, rec, beats, progress)
        return Result(rec, "beats", rows, beats_from=beats.source)
    if isinstance(model.task, Cinc2017Af):
        if annotations is not None:
            raise ConfigError("--annotations", "cinc2017-af classifies windows of the "
                              "recording, not beats")
        rows, record = window_rows(model, rec, progress, rule)
        notes = []
        n = rec.signal.size * model.params.fs / rec.fs
        if n < model.params.window:
            notes.append(f"shorter than one window ({n / model.params.fs:.3g} s < "
                         f"{model.params.window / model.params.fs:.3g} s): zero-padded, as the "
                         "task pads its short recordings")
        beats_from = f"QRS detector ({DETECTOR})" if model.params.rr_features else None
        if beats_from and method != DETECTOR:
            notes.append(f"RR features from {DETECTOR}, the detector the model was trained "
                         f"with, not {method}")
        return Result(rec, "windows", rows, record_row=record, beats_from=beats_from,
                      notes=notes)
    raise ConfigError("model", f"half predict does not know task {model.task.name}")


def _scores(classes: tuple[str, ...], s: np.ndarray) -> dict:
    if np.issubdtype(s.dtype, np.integer):
        return {f"score_{c}": int(v) for c, v in zip(classes, s, strict=True)}
    return {f"score_{c}": round(float(v), 5) for c, v in zip(classes, s, strict=True)}
