# SPDX-License-Identifier: Apache-2.0
"""The preprocessing every task applies to a record's raw lead signal, in one place.

The steps are task parameters, saved with every model in its task.json, so training, evaluation,
the golden integer model (which reads the same windows) and later prediction on a user's
recording apply them identically:

    raw (mV, record rate) -> [perturb, stress tests only] -> high-pass (record rate, causal)
        -> polyphase resampling to the task rate -> amplitude normalisation (one scale per record)
        -> windows

* `highpass`: causal 2nd-order Butterworth baseline-wander removal, as an ECG analog front end
  does. Causal and fixed, so a device could run it live, on chip, before the network.
* `normalize="record"`: divide the whole record by its robust amplitude, the 99th percentile of
  |x - median(x)| after high-pass and resampling, times `NOMINAL_MV`. The scale is one number per
  record, so relative beat amplitudes within a record are kept, and scaling a record by any
  gain > 0 leaves its windows unchanged. It needs the whole record (or a running estimate), so it
  runs on the host, never on chip. `"none"` keeps the signal in mV (the default, so that task.json
  files written before this step existed mean what they meant).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from half.errors import ConfigError

NORMALIZE = ("none", "record")
# Percentile of |x - median(x)| taken as a record's amplitude: about 12 % of an ECG's samples lie
# in QRS complexes (100 ms of each beat), so the 99th percentile sits on the R waves' upper part,
# above the P and T waves and below rare artefact spikes.
AMPLITUDE_PERCENTILE = 99.0
# What a normalised record's amplitude is set to (mV): keeps windows in the range of mitdb's mV
# values, which the network's learned 8-bit input scale was tuned on.
NOMINAL_MV = 1.0


def resample(signal: np.ndarray, fs_in: float, fs_out: float) -> np.ndarray:
    """Polyphase resampling by the rational ratio fs_out/fs_in (identity when equal)."""
    if fs_in == fs_out:
        return signal
    ratio = Fraction(fs_out / fs_in).limit_denominator(1000)
    from scipy.signal import resample_poly  # imported here: scipy.signal takes ~1 s to load

    return resample_poly(signal, ratio.numerator, ratio.denominator)


def highpass(signal: np.ndarray, fs: float, cutoff_hz: float) -> np.ndarray:
    """Causal 2nd-order Butterworth high-pass along the last axis (baseline-wander removal, as an
    ECG analog front end does before the ADC); identity when `cutoff_hz` is 0. Causal, so a
    device can do it live. A 2-D input is filtered row by row (batches of windows)."""
    if cutoff_hz <= 0:
        return signal
    from scipy.signal import butter, sosfilt, sosfilt_zi

    sos = butter(2, cutoff_hz, btype="highpass", fs=fs, output="sos")
    # start from the first sample's steady state, so the record's DC offset causes no transient
    if signal.ndim == 1:
        return sosfilt(sos, signal, zi=sosfilt_zi(sos) * signal[0])[0]
    zi = sosfilt_zi(sos)[:, None, :] * signal[:, :1][None, :, :]  # (sections, rows, 2)
    return sosfilt(sos, signal, axis=-1, zi=zi)[0]


def record_amplitude(signal: np.ndarray) -> float:
    """Robust amplitude of a record: the `AMPLITUDE_PERCENTILE` of |x - median(x)|."""
    if signal.size == 0:
        return 0.0
    return float(np.percentile(np.abs(signal - np.median(signal)), AMPLITUDE_PERCENTILE))


def normalize(signal: np.ndarray, rule: str) -> np.ndarray:
    """The record scaled by `rule` ("none": unchanged; "record": see the module docstring).

    A flat record (amplitude 0) is returned unchanged rather than divided by zero."""
    check_normalize(rule)
    if rule == "none":
        return signal
    amp = record_amplitude(signal)
    return signal * (NOMINAL_MV / amp) if amp > 0 else signal


def check_normalize(rule: str, field: str = "normalize") -> None:
    if rule not in NORMALIZE:
        raise ConfigError(field, f"one of {', '.join(NORMALIZE)}, got {rule!r}")


def check_highpass(cutoff_hz: float, fs: float, field: str = "highpass") -> None:
    if not 0 <= cutoff_hz < fs / 2:
        raise ConfigError(field, f"must lie in [0, fs/2), got {cutoff_hz}")


def prepare(signal: np.ndarray, fs_in: float, fs_out: float, *, highpass_hz: float = 0.0,
            normalize_rule: str = "none") -> np.ndarray:
    """A record's raw signal (mV at `fs_in`) through every step: high-pass at the record's own
    rate, resampling to `fs_out`, normalisation. With the defaults it only resamples."""
    return normalize(resample(highpass(signal, fs_in, highpass_hz), fs_in, fs_out),
                     normalize_rule)
