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
