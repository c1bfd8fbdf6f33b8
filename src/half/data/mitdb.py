# SPDX-License-Identifier: Apache-2.0
"""`mitdb-aami`: MIT-BIH heartbeats in the AAMI EC57 classes, de Chazal's inter-patient split.

Windows are cut around the annotated R peaks of lead MLII. Each beat also carries RR-interval
features computed from the annotated R-peak positions, using only past beats and the next beat
(what a device classifying a live stream can know).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from half.data._locate import DataSource
from half.data._wfdb import read_record
from half.data.preprocess import check_highpass, check_normalize, prepare
from half.data.task import SPLITS, Perturb, Progress, Task, TaskData
from half.errors import ConfigError, DataError

# de Chazal, O'Dwyer, Reilly: "Automatic classification of heartbeats using ECG morphology and
# heartbeat interval features", IEEE TBME 51(7), 2004. Paced records 102, 104, 107, 217 excluded.
DS1 = (101, 106, 108, 109, 112, 114, 115, 116, 118, 119, 122, 124,
       201, 203, 205, 207, 208, 209, 215, 220, 223, 230)
DS2 = (100, 103, 105, 111, 113, 117, 121, 123, 200, 202, 210, 212,
       213, 214, 219, 221, 222, 228, 231, 232, 233, 234)
# Published beat counts (de Chazal et al. 2004, Table I), which the annotation files reproduce.
PUBLISHED = {
    "DS1": {"N": 45866, "S": 944, "V": 3788, "F": 415, "Q": 8},
    "DS2": {"N": 44259, "S": 1837, "V": 3221, "F": 388, "Q": 7},
}
CLASSES = ("N", "S", "V", "F", "Q")
# AAMI EC57 mapping of MIT-BIH beat labels.
AAMI = {s: c for c, syms in {"N": "NLRej", "S": "AaJS", "V": "VE", "F": "F", "Q": "/fQ"}.items()
        for s in syms}
# Every beat annotation (the R peaks used for RR intervals), AAMI-mapped or not.
BEAT_SYMBOLS = frozenset("NLRBAaJSVrFejnE/fQ?!")
# Default validation records, carved from DS1 by patient: together they hold about a quarter of
# DS1's N and V beats and a third of its S beats. (DS1's F beats sit almost all in record 208, so
# no patient-wise split gives a validation set many F beats; the model layer uses k-fold CV.)
DEFAULT_VAL = (118, 124, 201, 215, 223)
RR_FEATURES = ("rr_pre", "rr_post", "rr_local", "rr_avg", "pre_over_local", "post_over_local",
               "pre_over_avg", "post_over_pre")
# With `rhythm_context`: how irregular the local rhythm is, so that a short interval in an
# irregular rhythm (atrial fibrillation) need not read as a premature (S) beat
RHYTHM_CONTEXT = ("local_rr_cv", "local_rr_rmssd")
# With `beat_template`: how this beat's QRS differs from the patient's own recent beats (the
# element-wise median of the previous `template_beats` windows), so that the decision need not
# rest on morphology learnt from other patients alone
BEAT_TEMPLATE = ("template_corr", "template_dev")


@dataclass(frozen=True)
class MitdbParams:
    fs: float = 360.0  # sampling rate of the windows (Hz); 360 = native, else polyphase resampled
    window: int = 360  # samples per window at `fs`
    before: int = 144  # samples before the R peak at `fs` (window - before after it)
    lead: str = "MLII"  # signal name to read
    split: str = "inter-patient"  # or "intra-patient" (random beats: leaks patients!)
    val_records: tuple[int, ...] = DEFAULT_VAL  # DS1 records held out for validation
    local_beats: int = 10  # RR intervals in the causal local average
    seed: int = 0  # seed of the intra-patient random split
    highpass: float = 0.0  # causal baseline-wander high-pass cutoff (Hz) before windowing; 0 = off
    # amplitude normalisation after the high-pass (half.data.preprocess): "none" (mV) or
    # "record" (each record divided by its robust amplitude: independent of the device's gain)
    normalize: str = "none"
    # two more side inputs after the eight RR features (RHYTHM_CONTEXT): the coefficient of
    # variation and the RMSSD (over the mean) of the last `local_beats` RR intervals
    rhythm_context: bool = False
    # two more side inputs after those (BEAT_TEMPLATE): the correlation of this beat's QRS region
    # with the median of the previous `template_beats` beats' windows, and the RMS of their
    # difference over the template's RMS (half.data.mitdb.beat_template)
    beat_template: bool = False
    template_beats: int = 16

    # added after prepared caches and task.json files existed: left out of param_dict (so of
    # cache keys and task.json) while at their default, so that those stay as they were
    OMIT_AT_DEFAULT: ClassVar[tuple[str, ...]] = ("rhythm_context", "beat_template",
                                                  "template_beats")

    def __post_init__(self) -> None:
        if not self.fs > 0:
            raise ConfigError("fs", f"must be positive, got {self.fs}")
        if self.window < 1:
            raise ConfigError("window", f"must be at least 1 sample, got {self.window}")
        if not 0 <= self.before < self.window:
            raise ConfigError("before", f"must lie in [0, window={self.window}), got {self.before}")
        if self.split not in ("inter-patient", "intra-patient"):
            raise ConfigError("split", f"inter-patient or intra-patient, not {self.split!r}")
        for r in self.val_records:
            if r not in DS1:
                raise ConfigError("val_records", f"record {r} is not in DS1 (the training set)")
        check_highpass(self.highpass, self.fs)
        check_normalize(self.normalize)
        if self.local_beats < 1:
            raise ConfigError("local_beats", f"must be at least 1, got {self.local_beats}")
        if self.template_beats < 1:
            raise ConfigError("template_beats", f"must be at least 1, got {self.template_beats}")


def rr_features(r_peaks: np.ndarray, fs: float, local_beats: int) -> np.ndarray:
    """(m, 8) float32 RR features of every beat from its R-peak sample positions.

    pre/post: interval to the previous/next beat (s); local: mean of the last `local_beats`
    pre-intervals up to this beat; avg: mean of all pre-intervals of the record so far; ratios.
    Only past beats and the next one are used. Edge beats borrow their one known neighbour.
    """
    t = r_peaks.astype(np.float64) / fs
    if t.size < 2:
        raise ValueError("need at least two beats for RR intervals")
    d = np.diff(t)
    pre = np.concatenate([[d[0]], d])
    post = np.concatenate([d, [d[-1]]])
    csum = np.concatenate([[0.0], np.cumsum(d)])
    hi = np.maximum(np.arange(t.size), 1)  # intervals known at beat i: d[0:i] (beat 0: d[0])
    lo = np.maximum(0, hi - local_beats)
    local = (csum[hi] - csum[lo]) / (hi - lo)
    avg = csum[hi] / hi
    feats = [pre, post, local, avg, pre / local, post / local, pre / avg, post / pre]
    return np.stack(feats, axis=1).astype(np.float32)


def rhythm_context(r_peaks: np.ndarray, fs: float, local_beats: int) -> np.ndarray:
    """(m, 2) float32: for every beat, the coefficient of variation and the RMSSD over the mean
    of the RR intervals up to it (the last `local_beats`, as `rr_features`' local mean). Causal;
    0 where fewer than two (CV) or three (RMSSD) intervals are known."""
    t = r_peaks.astype(np.float64) / fs
    if t.size < 2:
        raise ValueError("need at least two beats for RR intervals")
    d = np.diff(t)
    out = np.zeros((t.size, 2))
    for i in range(t.size):
        hi = max(i, 1)
        w = d[max(0, hi - local_beats):hi]
        mean = w.mean()
        out[i, 0] = w.std() / mean if w.size > 1 else 0.0
        out[i, 1] = np.sqrt(np.mean(np.diff(w) ** 2)) / mean if w.size > 2 else 0.0
    return out.astype(np.float32)


def beat_template(x: np.ndarray, fs: float, before: int, beats: int) -> np.ndarray:
    """(m, 2) float32: for every window of `x` (m, window) (all of a record's beats in order,
    the R peak `before` samples in), the Pearson correlation of its QRS region (100 ms before
    the peak to 150 ms after) with the element-wise median of the previous `beats` windows'
    regions, and the RMS of their difference over the template's RMS (both about its mean).
    Causal: the beat itself is not in its template; the first beat gets (1, 0)."""
    a = max(0, before - round(0.10 * fs))
    b = min(x.shape[1], before + round(0.15 * fs) + 1)
    q = x[:, a:b].astype(np.float64)
    q = q - q.mean(axis=1, keepdims=True)
    out = np.zeros((len(q), 2))
    out[0] = (1.0, 0.0)
    for i in range(1, len(q)):
        t = np.median(q[max(0, i - beats):i], axis=0)
        t -= t.mean()
        norm_t = np.sqrt(np.mean(t * t))
        if norm_t <= 0:
            out[i] = (1.0, 0.0) if not q[i].any() else (0.0, 1.0)
            continue
        norm_x = np.sqrt(np.mean(q[i] * q[i]))
        out[i, 0] = float(np.mean(q[i] * t) / (norm_x * norm_t)) if norm_x > 0 else 0.0
        out[i, 1] = float(np.sqrt(np.mean((q[i] - t) ** 2)) / norm_t)
    return out.astype(np.float32)


def beat_inputs(raw: np.ndarray, fs_in: float, peaks: np.ndarray, p: MitdbParams, *,
                keep: np.ndarray | None = None, where: str | Path = "record"
                ) -> tuple[np.ndarray, np.ndarray, int]:
    """The task's inputs for the beats of one record: (windows (k, window) float32, RR features
    (k, 8) float32, with `rhythm_context` 2 and with `beat_template` 2 more; number of windows
    edge-padded).

    `raw` is the record's lead (mV at `fs_in` Hz) and `peaks` the sample positions of all its
    beats; RR features are computed from all of them, windows and features returned for those
    in `keep` (default all). The record goes through the task's preprocessing (high-pass at
    `fs_in`, resampling to `p.fs`, normalisation) and each window starts `p.before` samples
    before its beat. Training, evaluation and `half predict` all call this one function."""
    rr = rr_features(peaks, fs_in, p.local_beats)
    if p.rhythm_context:
        rr = np.concatenate([rr, rhythm_context(peaks, fs_in, p.local_beats)], axis=1)
    keep = np.ones(peaks.size, dtype=bool) if keep is None else keep
    sig = prepare(raw, fs_in, p.fs, highpass_hz=p.highpass, normalize_rule=p.normalize)
    if p.window > sig.size:
        raise DataError(where, f"window of {p.window} samples is longer than the record "
                        f"({sig.size} samples at {p.fs:g} Hz)")
    pos = np.round(peaks * (p.fs / fs_in)).astype(np.int64)
    padded = np.pad(sig, p.window, mode="edge")  # beats near an edge keep a full window
    start = pos - p.before + p.window
    outside = (pos - p.before < 0) | (pos - p.before + p.window > sig.size)
    x = padded[start[:, None] + np.arange(p.window)].astype(np.float32)
    if p.beat_template:  # the template reads every beat's window, kept or not
        rr = np.concatenate([rr, beat_template(x, p.fs, p.before, p.template_beats)], axis=1)
    return x[keep], rr[keep], int(outside[keep].sum())


class MitdbAami(Task):
    name = "mitdb-aami"
    dataset = "mitdb"
    Params = MitdbParams

    @property
    def classes(self) -> tuple[str, ...]:
        return CLASSES

    @property
    def side_names(self) -> tuple[str, ...]:  # type: ignore[override]
        return (RR_FEATURES + (RHYTHM_CONTEXT if self.params.rhythm_context else ())
                + (BEAT_TEMPLATE if self.params.beat_template else ()))

    def available(self, src: DataSource) -> list[int]:
        """DS1 and DS2 records whose header is present (a user's folder may hold a subset)."""
        recs = [r for r in DS1 + DS2 if (src.path / f"{r}.hea").is_file()]
        if not recs:
            raise DataError(src.path, "no MIT-BIH record of DS1 or DS2 found (no NNN.hea files)")
        return recs

    def input_files(self, src: DataSource) -> list[Path]:
        files = []
        for r in self.available(src):
            for ext in ("hea", "dat", "atr"):
                f = src.path / f"{r}.{ext}"
                if not f.is_file():
                    kind = {"dat": "signal", "atr": "annotation"}.get(ext, "header")
                    raise DataError(f, f"missing {kind} file of record {r}")
                files.append(f)
        return files

    def build(self, src: DataSource, progress: Progress, perturb: Perturb | None = None
              ) -> tuple[dict[str, np.ndarray], float]:
        p = self.params
        recs = self.available(src)
        xs, ys, sides, names, groups = [], [], [], [], []
        edge = 0  # beats whose window reaches past a record edge (padded with the edge value)
        for i, r in enumerate(recs):
            progress(f"mitdb record {r}", i, len(recs))
            rec = read_record(src.path, str(r), channel=p.lead, annotations="atr")
            raw = rec.signal if perturb is None else perturb(rec.signal, rec.fs, str(r))
            is_beat = np.array([s in BEAT_SYMBOLS for s in rec.ann_symbol])
            peaks = rec.ann_sample[is_beat]
            symbols = [s for s, b in zip(rec.ann_symbol, is_beat, strict=True) if b]
            keep = np.array([s in AAMI for s in symbols])
            x, side, n_edge = beat_inputs(raw, rec.fs, peaks, p, keep=keep,
                                          where=src.path / f"{r}.dat")
            edge += n_edge
            xs.append(x)
            ys.append(np.array([CLASSES.index(AAMI[s]) for s, k in zip(symbols, keep,
                                                                        strict=True) if k]))
            sides.append(side)
            names.append(np.full(int(keep.sum()), str(r)))
            groups.append(np.full(int(keep.sum()), r))
        progress("mitdb records", len(recs), len(recs))
        y = np.concatenate(ys).astype(np.int64)
        group = np.concatenate(groups)
        arrays = {
            "x": np.concatenate(xs),
            "y": y,
            "split": self._split(group, y),
            "record": np.concatenate(names),
            "side": np.concatenate(sides),
            "edge_padded": np.int64(edge),
        }
        return arrays, p.fs

    def _split(self, record: np.ndarray, y: np.ndarray) -> np.ndarray:
        p = self.params
        split = np.empty(y.shape, dtype=np.int8)
        if p.split == "inter-patient":
            split[:] = SPLITS.index("test")
            split[np.isin(record, DS1)] = SPLITS.index("train")
            split[np.isin(record, p.val_records)] = SPLITS.index("val")
            return split
        # intra-patient: a class-stratified random 70/15/15 split of beats
        rng = np.random.default_rng(p.seed)
        for c in np.unique(y):
            idx = rng.permutation(np.flatnonzero(y == c))
            n_tr, n_va = int(0.70 * idx.size), int(0.15 * idx.size)
            split[idx[:n_tr]] = 0
            split[idx[n_tr:n_tr + n_va]] = 1
            split[idx[n_tr + n_va:]] = 2
        return split

    def warnings(self, src: DataSource, arrays: dict[str, np.ndarray]) -> list[str]:
        out = []
        if self.params.split == "intra-patient":
            out.append("intra-patient split: beats of the same patients are in train and test, "
                       "so test figures leak patients and overstate inter-patient performance")
        n = len(self.available(src))
        if n < len(DS1) + len(DS2):
            out.append(f"only {n} of the {len(DS1) + len(DS2)} DS1/DS2 records are present: "
                       "counts and metrics are not comparable with the literature")
        if src.bundled:
            out.append("using the small MIT-BIH subset bundled with half (no data folder found)")
        return out

    def summary(self, data: TaskData) -> dict:
        out = super().summary(data)
        if self.params.split != "inter-patient":
            return out
        counts = data.counts()
        ours = {
            "DS1": {c: counts["train"][c] + counts["val"][c] for c in CLASSES},
            "DS2": dict(counts["test"]),
        }
        complete = not any("records are present" in w for w in data.warnings)
        out["published"] = {
            "source": "de Chazal et al. 2004, IEEE TBME 51(7), Table I",
            "comparable": complete,
            "sets": {
                ds: {c: {"ours": ours[ds][c], "published": PUBLISHED[ds][c],
                         "diff_pct": round(100.0 * (ours[ds][c] - PUBLISHED[ds][c])
                                           / PUBLISHED[ds][c], 3)}
                     for c in CLASSES}
                for ds in ("DS1", "DS2")
            },
        }
        out["val_records"] = data.records("val")
        return out
