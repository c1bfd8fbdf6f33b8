# SPDX-License-Identifier: Apache-2.0
"""RR-irregularity features of a rhythm window (atrial fibrillation), from detected beats.

Atrial fibrillation shows as irregularly irregular RR intervals, which a small CNN over a
decimated 30-s window sees poorly. These features summarise the RR intervals of the beats that
lie inside one window; `cinc2017-af` with `rr_features=true` gives them to the model as side
inputs (as `mitdb-aami` gives its per-beat RR features).

Beats come from the QRS detector (`half.data.qrs.detect`, gqrs) run once per record on the
task's preprocessed signal at the record's own rate (high-pass and normalisation, no
resampling: a 100 Hz task would otherwise quantise RR intervals to 10 ms). A window keeps the
beats whose time lies in [start, end) of its real samples (zero padding has none).

With the window's n beats, RR intervals r_i (s, n - 1 of them) and successive differences
d_i = r_{i+1} - r_i (s, n - 2 of them), the features (`RHYTHM_FEATURES`, in this order) are:

=============== ======================================================= ======= ===========
name            definition                                              unit    fallback
=============== ======================================================= ======= ===========
beats           n, the number of detected beats in the window           count   (always)
rr_mean         mean of r                                               s       0 if n < 2
rr_cv           std(r) / mean(r) (population std)                       1       0 if n < 3
rmssd_rel       sqrt(mean(d²)) / mean(r)                                1       0 if n < 3
pnn50           fraction of |d| > 50 ms                                 1       0 if n < 3
drr_med_rel     median(|d|) / mean(r): like rmssd_rel, but a few        1       0 if n < 3
                ectopic beats (one large pair of d each) barely move it
rr_mad_rel      median(|r - median(r)|) / median(r)                     1       0 if n < 3
tpr             turning-point ratio: fraction of the n - 3 interior r   1       0 if n < 4
                that are a strict local maximum or minimum
=============== ======================================================= ======= ===========

Every fallback is 0, "no irregularity measurable" (a perfectly regular rhythm also gives 0 in
every irregularity feature); `beats` tells the model how many beats there were. The features
are deterministic (the detector is, and nothing here draws random numbers).
"""

from __future__ import annotations

import numpy as np

from half.data import qrs
from half.data.preprocess import prepare

RHYTHM_FEATURES = ("beats", "rr_mean", "rr_cv", "rmssd_rel", "pnn50", "drr_med_rel",
                   "rr_mad_rel", "tpr")
PNN_THRESHOLD_S = 0.050  # pNN50: successive RR differences above 50 ms (Ewing et al. 1984)
DETECTOR = "gqrs"  # half.data.qrs's default, chosen on MIT-BIH DS1


def irregularity(beat_times: np.ndarray) -> np.ndarray:
    """(8,) float32 features (`RHYTHM_FEATURES`, see the module docstring) of the beats at
    `beat_times` (s, sorted) of one window; fallbacks for fewer than 3 (tpr: 4) beats."""
    t = np.asarray(beat_times, dtype=np.float64)
    out = np.zeros(len(RHYTHM_FEATURES), dtype=np.float64)
    out[0] = t.size
    if t.size >= 2:
        r = np.diff(t)
        mean = r.mean()
        out[1] = mean
        if t.size >= 3 and mean > 0:
            d = np.diff(r)
            med = np.median(r)
            out[2] = r.std() / mean
            out[3] = np.sqrt(np.mean(d ** 2)) / mean
            out[4] = np.mean(np.abs(d) > PNN_THRESHOLD_S)
            out[5] = np.median(np.abs(d)) / mean
            out[6] = np.median(np.abs(r - med)) / med
            if r.size >= 3:
                turn = (r[1:-1] - r[:-2]) * (r[1:-1] - r[2:]) > 0  # both neighbours lower/higher
                out[7] = turn.mean()
    return out.astype(np.float32)


def beat_times(raw: np.ndarray, fs_in: float, *, highpass_hz: float = 0.0,
               normalize_rule: str = "none", progress: qrs.Progress | None = None
               ) -> np.ndarray:
    """Times (s, sorted) of the QRS complexes of a record's raw lead (mV at `fs_in`), detected
    on the task's preprocessing at the record's own rate."""
    sig = prepare(raw, fs_in, fs_in, highpass_hz=highpass_hz, normalize_rule=normalize_rule)
    return qrs.detect(sig, fs_in, method=DETECTOR, progress=progress) / fs_in


def window_features(times: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """(k, 8) float32: `irregularity` of the beats at `times` (s) inside each window, whose
    [start, end) times (s) are the rows of `bounds` (k, 2)."""
    times = np.asarray(times, dtype=np.float64)
    rows = [irregularity(times[(times >= a) & (times < b)]) for a, b in np.asarray(bounds)]
    return np.stack(rows) if rows else np.zeros((0, len(RHYTHM_FEATURES)), dtype=np.float32)
