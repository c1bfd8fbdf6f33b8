# SPDX-License-Identifier: Apache-2.0
"""QRS detection for recordings without beat annotations, and beat-by-beat matching (EC57 style).

`detect` wraps the detectors of `wfdb.processing` (wfdb is already a dependency; nothing is
copied from it):

* ``gqrs`` (default): `wfdb.processing.gqrs_detect` (the PhysioNet gqrs algorithm). It marks
  the QRS about 35 ms before the R peak, where the beat windows of `mitdb-aami` are centred, so
  its positions are moved to the largest deviation from the local mean within ±50 ms
  (`wfdb.processing.correct_peaks`).
* ``xqrs``: `wfdb.processing.XQRS` — band-pass, Ricker-wavelet matched filter, learned
  thresholds; its positions fall on the R peak without correction.

The default was chosen on the DS1 (training) records of MIT-BIH only (benchmarks/bench_qrs.py
--records <DS1>): gqrs Se 99.29 %, +P 99.76 %; xqrs Se 98.44 %, +P 99.35 % (it misses more
premature ventricular beats: 106, 201, 208).

Long signals are detected in chunks of `CHUNK_S` seconds (each with `MARGIN_S` seconds of the
neighbouring chunks, so no beat at a boundary is lost; the detector learns its thresholds anew in
each chunk, which also follows slow changes of amplitude) so that progress can be reported.

`match_beats` pairs detected with reference beats one to one within a tolerance (150 ms, as
ANSI/AAMI EC57's beat-by-beat comparison), closest pairs first: Se = matched / reference beats,
+P = matched / detected beats. Unlike EC57's `bxb`, nothing is skipped at the start of a record.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

METHODS = ("gqrs", "xqrs")
TOLERANCE_S = 0.150  # EC57: a detection within 150 ms of a reference beat matches it
CHUNK_S = 600.0  # detection chunk (s): progress is reported after each one
MARGIN_S = 5.0  # signal shared with each neighbouring chunk (s)
REFRACTORY_S = 0.200  # two detections closer than this are one beat (chunk seams)
CORRECT_RADIUS_S = 0.050  # gqrs: search radius of the move to the R peak
CORRECT_SMOOTH_S = 0.150  # gqrs: width of the local mean the R peak deviates most from

# progress(description, done, total), as half.data.task.Progress
Progress = Callable[[str, int, int], None]


def _detect_chunk(sig: np.ndarray, fs: float, method: str) -> np.ndarray:
    import wfdb.processing as wp

    if sig.size < int(fs) or not np.ptp(sig) > 0:  # under a second, or flat: no beat
        return np.zeros(0, dtype=np.int64)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)  # XQRS logs when its learning phase finds too few beats
        try:
            if method == "xqrs":
                det = wp.XQRS(sig, fs)
                det.detect(verbose=False)
                peaks = np.asarray(det.qrs_inds, dtype=np.int64)
            else:
                peaks = np.asarray(wp.gqrs_detect(sig, fs), dtype=np.int64)
                if peaks.size:
                    peaks = np.asarray(wp.correct_peaks(
                        sig, peaks, max(1, round(CORRECT_RADIUS_S * fs)),
                        max(1, round(CORRECT_SMOOTH_S * fs)), "compare"), dtype=np.int64)
        finally:
            logging.disable(logging.NOTSET)
    return np.unique(peaks[(peaks >= 0) & (peaks < sig.size)])


def detect(signal: np.ndarray, fs: float, *, method: str = "gqrs",
           progress: Progress | None = None) -> np.ndarray:
    """Sample positions (int64, sorted) of the QRS complexes in one ECG lead (mV at `fs` Hz)."""
    if method not in METHODS:
        raise ValueError(f"unknown QRS detector {method!r}; known: {', '.join(METHODS)}")
    sig = np.nan_to_num(np.asarray(signal, dtype=np.float64))
    chunk, margin = max(1, round(CHUNK_S * fs)), round(MARGIN_S * fs)
    starts = range(0, max(1, sig.size), chunk)
    found = []
    for i, a in enumerate(starts):
        if progress is not None:
            progress("QRS detection", i, len(starts))
        lo, b = max(0, a - margin), min(sig.size, a + chunk)
        p = _detect_chunk(sig[lo:min(sig.size, b + margin)], fs, method) + lo
        found.append(p[(p >= a) & (p < b)])
    if progress is not None:
        progress("QRS detection", len(starts), len(starts))
    peaks = np.concatenate(found) if found else np.zeros(0, dtype=np.int64)
    if peaks.size < 2:
        return peaks
    # a beat on a chunk seam may be found by both chunks, a sample or two apart
    keep = np.concatenate([[True], np.diff(peaks) >= REFRACTORY_S * fs])
    return peaks[keep]


@dataclass(frozen=True)
class BeatMatch:
    """One-to-one pairs of reference and detected beats (indices into the given arrays)."""

    ref: np.ndarray  # (k,) index into the reference beats of each pair
    det: np.ndarray  # (k,) index into the detected beats of each pair
    missed: np.ndarray  # reference beats without a detection (false negatives)
    extra: np.ndarray  # detections without a reference beat (false positives)

    @property
    def tp(self) -> int:
        return int(self.ref.size)

    @property
    def se(self) -> float:
        """Sensitivity: matched / reference beats (0.0 with no reference beat)."""
        n = self.tp + self.missed.size
        return self.tp / n if n else 0.0

    @property
    def ppv(self) -> float:
        """Positive predictivity +P: matched / detected beats (0.0 with no detection)."""
        n = self.tp + self.extra.size
        return self.tp / n if n else 0.0

    def counts(self) -> dict:
        return {"tp": self.tp, "fn": int(self.missed.size), "fp": int(self.extra.size),
                "se": self.se, "ppv": self.ppv}


def match_beats(reference: np.ndarray, detected: np.ndarray, fs: float,
                tolerance_s: float = TOLERANCE_S) -> BeatMatch:
    """Pair beats whose positions (samples at `fs`) differ by at most `tolerance_s`, each beat
    at most once, the closest pairs first (ties: the earlier reference beat)."""
    ref = np.asarray(reference, dtype=np.int64)
    det = np.asarray(detected, dtype=np.int64)
    tol = tolerance_s * fs
    r_order, d_order = np.argsort(ref, kind="stable"), np.argsort(det, kind="stable")
    r_sorted, d_sorted = ref[r_order], det[d_order]
    lo = np.searchsorted(d_sorted, r_sorted - tol, side="left")
    hi = np.searchsorted(d_sorted, r_sorted + tol, side="right")
    pairs = [(abs(int(d_sorted[j]) - int(r_sorted[i])), i, j)
             for i in range(r_sorted.size) for j in range(lo[i], hi[i])]
    pairs.sort()
    r_used = np.zeros(ref.size, dtype=bool)
    d_used = np.zeros(det.size, dtype=bool)
    got_r, got_d = [], []
    for _, i, j in pairs:
        if not r_used[i] and not d_used[j]:
            r_used[i] = d_used[j] = True
            got_r.append(i)
            got_d.append(j)
    order = np.argsort(np.asarray(got_r, dtype=np.int64), kind="stable")
    return BeatMatch(ref=r_order[np.asarray(got_r, dtype=np.int64)[order]],
                     det=d_order[np.asarray(got_d, dtype=np.int64)[order]],
                     missed=np.sort(r_order[~r_used]), extra=np.sort(d_order[~d_used]))
