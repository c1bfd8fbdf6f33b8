# SPDX-License-Identifier: Apache-2.0
"""Real ECG noise from the MIT-BIH Noise Stress Test Database (nstdb): bw, em, ma.

Each noise record is 650,000 samples x 2 channels at 360 Hz. It is cut in two halves by time,
the same for both channels: `part="train"` is the first half (samples [0, 325000)), which
training-time augmentation (half.nn.augment) draws from; `part="test"` is the second half,
reserved for stress tests (benchmarks/bench_robustness.py), so that no model has seen the noise
it is tested with. Each half is resampled to the caller's rate on its own, so no filter tap
reaches across the boundary.

nstdb is looked for like a task's dataset (half.data._locate): the data folder given explicitly
(--data-dir, HALF_DATA_DIR), else ../shared/data next to the checkout, else the cache. It is not
bundled and not downloaded by half: without it, `load_noise` raises a DataError that says where
to put it.

SNR, here and in the augmenter, is the ratio of powers over the span the noise is added to,
each taken about its own mean: 10 log10(mean((x - mean x)^2) / mean((n - mean n)^2)). This is
not NSTDB's own definition (nst measures the signal from QRS peak-to-peak amplitudes), so dB
values are comparable within half, not with figures quoted for nst's records.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from half.data._locate import find_dataset
from half.data._wfdb import read_record
from half.data.preprocess import resample
from half.errors import DataError

NOISE_KINDS = ("bw", "em", "ma")  # baseline wander, electrode motion, muscle artefact
NOISE_FS = 360.0
PARTS = ("train", "test")


def noise_folder(data_dir: str | Path | None = None) -> Path:
    """The nstdb folder, found like a dataset; DataError with a fix when it is absent."""
    try:
        return find_dataset("nstdb", data_dir).path
    except DataError as exc:
        raise DataError("nstdb", f"noise records bw, em, ma not found ({exc}); put "
                        "PhysioNet's nstdb/ (bw, em, ma .hea/.dat) in the data folder, or "
                        "train without the bw, em and ma augmentations") from None


def load_noise(kind: str, fs: float, part: str, data_dir: str | Path | None = None
               ) -> np.ndarray:
    """(2, n) float32 noise of one nstdb record (both channels, mV) at rate `fs`: the first
    half of the record for part="train", the second for part="test"."""
    if kind not in NOISE_KINDS:
        raise DataError(kind, f"unknown noise record; known: {', '.join(NOISE_KINDS)}")
    if part not in PARTS:
        raise DataError(part, f"unknown part of the noise records; known: {', '.join(PARTS)}")
    return _load(str(noise_folder(data_dir)), kind, float(fs), part).copy()


@lru_cache(maxsize=16)
def _load(folder: str, kind: str, fs: float, part: str) -> np.ndarray:
    chans = [read_record(Path(folder), kind, channel=c).signal for c in (0, 1)]
    half = chans[0].size // 2
    cut = slice(0, half) if part == "train" else slice(half, None)
    return np.stack([resample(c[cut], NOISE_FS, fs) for c in chans]).astype(np.float32)


def power(x: np.ndarray) -> np.ndarray:
    """Power about the mean along the last axis."""
    return np.mean((x - x.mean(axis=-1, keepdims=True)) ** 2, axis=-1)


def snr_gain(signal: np.ndarray, noise: np.ndarray, snr_db: np.ndarray | float) -> np.ndarray:
    """The factor to multiply `noise` by so that signal + factor * noise has the given SNR
    (power definition above), along the last axis; 0 where the noise is flat."""
    ps, pn = power(signal), power(noise)
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.sqrt(ps / (pn * 10.0 ** (np.asarray(snr_db) / 10.0)))
    return np.where(pn > 0, g, 0.0)


# -- a noisy twin of a whole task: the training half of the noise, added to every raw record ----
TWIN_SEGMENT_S = 10.0  # seconds over which a twin's noise kind and SNR are held (then ramped)


@dataclass(frozen=True)
class RecordNoise:
    """A `half.data.task.Perturb` that adds real nstdb noise (the training half) to a whole raw
    record, so that every input the task computes from it (windows, RR features, beat-template
    features) is computed from the noisy record, as on a noisy recording.

    The record is cut into segments of TWIN_SEGMENT_S seconds; each draws one kind from `kinds`
    and an SNR uniform in `snr_db` (power rule above, the record's power over the segment's
    noise power). The gain of each kind is interpolated linearly between segment centres, so
    levels and kinds change smoothly (no step). Each kind's noise is one channel of its record
    (drawn per record), from a random offset, continued backwards at the half's end. Seeded by
    (seed, record name): the same seed gives the same noisy records."""

    seed: int = 0
    kinds: tuple[str, ...] = NOISE_KINDS
    snr_db: tuple[float, float] = (0.0, 24.0)
    data_dir: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kinds", tuple(self.kinds))
        object.__setattr__(self, "snr_db", tuple(float(v) for v in self.snr_db))
        if not self.kinds or any(k not in NOISE_KINDS for k in self.kinds):
            raise DataError("kinds", f"noise kinds must be some of {', '.join(NOISE_KINDS)}, "
                            f"got {list(self.kinds)}")
        if len(self.snr_db) != 2 or self.snr_db[0] > self.snr_db[1]:
            raise DataError("snr_db", f"needs (low, high) with low <= high, got {self.snr_db}")

    def cache_key(self) -> dict:
        """What the perturbed windows depend on besides the task (joins the cache key)."""
        return {"perturb": "record-noise", "version": 1, "seed": self.seed,
                "kinds": list(self.kinds), "snr_db": list(self.snr_db),
                "segment_s": TWIN_SEGMENT_S}

    def __call__(self, signal: np.ndarray, fs: float, record: str) -> np.ndarray:
        rng = np.random.default_rng([self.seed, zlib.crc32(record.encode())])
        n = signal.size
        seg = max(1, round(TWIN_SEGMENT_S * fs))
        m = -(-n // seg)
        kind = rng.integers(len(self.kinds), size=m)
        snr = rng.uniform(*self.snr_db, size=m)
        centres = (np.arange(m) + 0.5) * seg
        ps = float(power(signal.astype(np.float64)))
        out = signal.astype(np.float64).copy()
        for k, name in enumerate(self.kinds):
            if not (kind == k).any():
                continue
            src = load_noise(name, fs, "train", self.data_dir)[rng.integers(2)].astype(np.float64)
            noise = _continued(src, n, int(rng.integers(src.size)))
            noise -= noise.mean()
            pn = float(power(noise))
            if pn <= 0:
                continue
            level = np.where(kind == k, np.sqrt(ps / (pn * 10.0 ** (snr / 10.0))), 0.0)
            out += np.interp(np.arange(n), centres, level) * noise
        return out.astype(signal.dtype)


def _continued(src: np.ndarray, n: int, offset: int) -> np.ndarray:
    """`n` samples of `src` from `offset`, continued back and forth (no jump at the ends)."""
    loop = np.concatenate([src, src[::-1]])
    reps = -(-(offset + n) // loop.size)
    return np.tile(loop, reps)[offset:offset + n]
