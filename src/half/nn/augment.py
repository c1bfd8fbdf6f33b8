# SPDX-License-Identifier: Apache-2.0
"""Training-time augmentation that mimics recordings from other devices, seeded.

The windows a task yields are already preprocessed (high-pass, resampling, record
normalisation; half.data.preprocess). At inference, noise and wander sit in the raw record and
go through that preprocessing, so additive disturbances here are generated over the window plus
`lead_s` seconds before it, run through the task's own causal high-pass, and only then added to
the window: what the model sees is what it would see after the real front end. Noise levels are
set relative to the window itself (SNR by power, half.data.noise), which is what they are
relative to after per-record normalisation as well. The per-record scale is taken as unchanged
by the added noise.

Kinds (TrainConfig.augment_kinds), in the order they are applied to a window:

* `stretch`  time-stretch by a factor in [1 - stretch, 1 + stretch] about the window's anchor
             (the R peak for beat windows): heart-rate and time-base differences;
* `flip`     polarity inversion with probability `flip_p` (single-lead devices held or wired
             the other way round; list it only where that happens, e.g. handheld lead I);
* `gain`     amplitude times a log-uniform factor in `gain` (residual gain differences);
* `wander`   1 or 2 sinusoids of `wander_hz`, amplitude up to `wander_amp` x the window's
             robust amplitude (respiration, electrode drift), then the task's high-pass;
* `bw`, `em`, `ma`  a random segment of that nstdb noise record (training half only, see
             half.data.noise) at an SNR uniform in `snr_db`; when several are listed, one of
             them is drawn per window;
* `resample` down to a random rate in [`min_rate`, fs) and back (a device with a lower
             sampling rate: band limit and interpolation error).

Each listed kind except `flip` is applied to a window with probability `p`.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from scipy.signal import resample_poly

from half.data.noise import NOISE_KINDS, load_noise, snr_gain
from half.data.preprocess import AMPLITUDE_PERCENTILE, highpass
from half.data.task import TaskData
from half.errors import ConfigError, DataError

KINDS = ("stretch", "flip", "gain", "wander", *NOISE_KINDS, "resample")
_RATES = 8  # distinct rates `resample` draws from (windows are resampled in groups per rate)


def check_kinds(kinds: tuple[str, ...], field: str = "augment_kinds") -> None:
    for k in kinds:
        if k not in KINDS:
            raise ConfigError(field, f"unknown augmentation {k!r}; known: {', '.join(KINDS)}")
    if len(set(kinds)) != len(kinds):
        raise ConfigError(field, f"lists an augmentation twice: {', '.join(kinds)}")


@dataclass(frozen=True)
class AugmentConfig:
    kinds: tuple[str, ...]  # which augmentations, any of KINDS
    p: float = 0.5  # probability that each listed kind (except flip) is applied to a window
    stretch: float = 0.1  # time-stretch factor drawn from [1 - stretch, 1 + stretch]
    flip_p: float = 0.2  # probability of a polarity flip
    gain: tuple[float, float] = (0.4, 2.5)  # amplitude factor range, drawn log-uniform
    wander_hz: tuple[float, float] = (0.05, 0.7)  # baseline wander frequencies
    wander_amp: float = 1.0  # largest wander amplitude, relative to the window's amplitude
    snr_db: tuple[float, float] = (0.0, 24.0)  # SNR of added nstdb noise, drawn uniform (dB)
    min_rate: float = 100.0  # lowest sampling rate `resample` simulates (Hz)
    # seconds of added disturbance before the window: the 0.5 Hz high-pass settles to ~1 % in 2 s
    lead_s: float = 2.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "kinds", tuple(self.kinds))
        check_kinds(self.kinds)
        if not 0 < self.p <= 1:
            raise ConfigError("augment_p", f"must lie in (0, 1], got {self.p}")
        if not 0 < self.gain[0] <= self.gain[1]:
            raise ConfigError("gain", f"needs 0 < low <= high, got {self.gain}")
        if not 0 <= self.stretch < 1:
            raise ConfigError("stretch", f"must lie in [0, 1), got {self.stretch}")


class Augmenter:
    """Call with a batch of windows (n, L) and a numpy Generator; returns new float32 windows."""

    def __init__(self, cfg: AugmentConfig, fs: float, *, highpass_hz: float = 0.0,
                 anchor: int = 0, noise: dict[str, np.ndarray] | None = None) -> None:
        self.cfg, self.fs, self.highpass_hz, self.anchor = cfg, float(fs), highpass_hz, anchor
        self.noise_kinds = [k for k in cfg.kinds if k in NOISE_KINDS]
        self.noise = noise or {}
        missing = [k for k in self.noise_kinds if k not in self.noise]
        if missing:
            raise ConfigError("augment_kinds", f"no noise given for {', '.join(missing)}")
        if "resample" in cfg.kinds and not cfg.min_rate < fs:
            raise ConfigError("augment_kinds", f"resample needs windows above {cfg.min_rate:g} "
                              f"Hz, the task's are at {fs:g} Hz")
        self.lead = int(round(cfg.lead_s * fs))
        self.rates = np.unique(np.round(np.linspace(cfg.min_rate, fs, _RATES, endpoint=False)))

    @classmethod
    def for_task(cls, cfg: AugmentConfig, data: TaskData) -> Augmenter:
        """The augmenter for a task's windows: its rate, high-pass, anchor (the R-peak offset of
        beat windows, else the start) and, for bw/em/ma, the TRAINING half of the nstdb noise
        records at the windows' rate, from the data folder the task came from."""
        try:
            noise = {k: load_noise(k, data.fs, "train", data.data_dir)
                     for k in cfg.kinds if k in NOISE_KINDS}
        except DataError as exc:  # e.g. the bundled demo subset: no nstdb beside mitdb
            kept = tuple(k for k in cfg.kinds if k not in NOISE_KINDS)
            dropped = ", ".join(k for k in cfg.kinds if k in NOISE_KINDS)
            warnings.warn(f"{exc}; training without the {dropped} augmentations", stacklevel=2)
            cfg, noise = dataclasses.replace(cfg, kinds=kept), {}
        return cls(cfg, data.fs, highpass_hz=float(data.params.get("highpass", 0.0)),
                   anchor=int(data.params.get("before", 0)), noise=noise)

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        kinds, c = self.cfg.kinds, self.cfg
        x = np.array(x, dtype=np.float64)  # (n, L), a copy
        n = x.shape[0]
        if "stretch" in kinds:
            x = self._stretch(x, rng.random(n) < c.p, rng.uniform(1 - c.stretch, 1 + c.stretch, n))
        if "flip" in kinds:
            x[rng.random(n) < c.flip_p] *= -1
        if "gain" in kinds:
            on = rng.random(n) < c.p
            x[on] *= np.exp(rng.uniform(np.log(c.gain[0]), np.log(c.gain[1]), n))[on, None]
        if "wander" in kinds:
            x += self._wander(x, rng.random(n) < c.p, rng)
        if self.noise_kinds:
            x += self._noise(x, rng.random(n) < c.p, rng)
        if "resample" in kinds:
            x = self._resample(x, rng.random(n) < c.p, rng.integers(0, self.rates.size, n))
        return x.astype(np.float32)

    def _stretch(self, x: np.ndarray, on: np.ndarray, k: np.ndarray) -> np.ndarray:
        """x(anchor + (t - anchor) / k): k > 1 widens the waves. Linear interpolation; samples
        that would come from outside the window repeat its edge."""
        length = x.shape[1]
        t = np.arange(length, dtype=np.float64)
        pos = np.clip(self.anchor + (t[None, :] - self.anchor) / k[on, None], 0, length - 1)
        i0 = np.minimum(np.floor(pos).astype(np.int64), length - 2)
        w = pos - i0
        rows = x[on]
        picked = np.take_along_axis(rows, i0, 1) * (1 - w) + np.take_along_axis(rows, i0 + 1, 1) * w
        x[on] = picked
        return x

    def _through_frontend(self, added: np.ndarray) -> np.ndarray:
        """Disturbances (m, lead + L) through the task's high-pass; the last L samples."""
        return highpass(added, self.fs, self.highpass_hz)[:, self.lead:]

    def _wander(self, x: np.ndarray, on: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n, length = x.shape
        c = self.cfg
        freq = rng.uniform(*c.wander_hz, (n, 2))
        phase = rng.uniform(0, 2 * np.pi, (n, 2))
        amp = rng.uniform(0, c.wander_amp, (n, 2)) * (rng.random((n, 2)) < [1.0, 0.5])
        out = np.zeros_like(x)
        if not on.any():
            return out
        rows = x[on]
        dev = np.abs(rows - np.median(rows, axis=1, keepdims=True))
        scale = np.percentile(dev, AMPLITUDE_PERCENTILE, axis=1)  # as record_amplitude
        t = ((np.arange(self.lead + length) - self.lead) / self.fs).astype(np.float32)
        arg = (2 * np.pi * freq[on, :, None]).astype(np.float32) * t + phase[on, :, None]
        waves = np.sin(arg.astype(np.float32))  # (m, 2, T)
        added = np.einsum("mk,mkt->mt", amp[on], waves) * scale[:, None]
        out[on] = self._through_frontend(added)
        return out

    def _noise(self, x: np.ndarray, on: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n, length = x.shape
        span = self.lead + length
        which = rng.integers(0, len(self.noise_kinds), n)
        chan = rng.integers(0, 2, n)
        start = rng.random(n)
        snr = rng.uniform(*self.cfg.snr_db, n)
        out = np.zeros_like(x)
        idx = np.flatnonzero(on)
        if idx.size == 0:
            return out
        segs = np.empty((idx.size, span))
        for j, i in enumerate(idx):
            src = self.noise[self.noise_kinds[which[i]]][chan[i]]
            if src.size < span:
                raise ConfigError("augment_kinds", f"noise record shorter than {span} samples")
            s0 = int(start[i] * (src.size - span + 1))
            segs[j] = src[s0:s0 + span]
        segs = self._through_frontend(segs)  # (m, L)
        out[idx] = segs * snr_gain(x[idx], segs, snr[idx])[:, None]
        return out

    def _resample(self, x: np.ndarray, on: np.ndarray, pick: np.ndarray) -> np.ndarray:
        length = x.shape[1]
        for r in np.unique(pick[on]):
            rows = on & (pick == r)
            ratio = Fraction(float(self.rates[r]) / self.fs).limit_denominator(1000)
            low = resample_poly(x[rows], ratio.numerator, ratio.denominator, axis=1,
                                padtype="line")
            back = resample_poly(low, ratio.denominator, ratio.numerator, axis=1,
                                 padtype="line")
            if back.shape[1] < length:
                back = np.pad(back, ((0, 0), (0, length - back.shape[1])), mode="edge")
            x[rows] = back[:, :length]
        return x
