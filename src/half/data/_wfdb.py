# SPDX-License-Identifier: Apache-2.0
"""Reading WFDB records with checks that turn every fault into a one-line DataError
naming the file: missing header/signal/annotation, corrupt header, truncated signal file."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from half.errors import DataError

# wfdb 4.3 calls a pandas API that pandas 3 deprecates; the warning is wfdb's, not the user's.
warnings.filterwarnings("ignore", message=".*inplace keyword.*", module="wfdb")

# Bytes per sample of the WFDB storage formats (for the truncation check).
_BYTES_PER_SAMPLE = {
    "8": 1.0, "16": 2.0, "24": 3.0, "32": 4.0, "61": 2.0, "80": 1.0, "160": 2.0,
    "212": 1.5, "310": 4 / 3, "311": 4 / 3,
}


@dataclass(frozen=True)
class Record:
    name: str
    fs: float
    signal: np.ndarray  # (n,) float64, physical units (mV)
    ann_sample: np.ndarray | None  # (m,) int64 annotation positions, samples
    ann_symbol: tuple[str, ...] | None  # (m,) annotation labels


def _brief(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def read_header(folder: Path, name: str):
    hea = folder / f"{name}.hea"
    if not hea.is_file():
        raise DataError(hea, "missing header file")
    import wfdb  # imported here: wfdb brings pandas and scipy (about 1 s of CPU)

    try:
        h = wfdb.rdheader(str(folder / name))
    except Exception as exc:  # wfdb raises many types on malformed headers
        raise DataError(hea, f"corrupt header ({_brief(exc)})") from None
    if not h.fs or h.fs <= 0 or not h.sig_len or h.sig_len <= 0 or not h.n_sig:
        raise DataError(hea, "corrupt header (needs a positive sampling rate, length and signals)")
    return h


def check_signal_files(folder: Path, h) -> None:
    """Each signal file exists and holds at least the samples its header promises."""
    hea = folder / f"{h.record_name}.hea"
    per_file: dict[str, list[int]] = {}
    for i, fname in enumerate(h.file_name):
        per_file.setdefault(fname, []).append(i)
    for fname, chans in per_file.items():
        path = folder / fname
        if not path.is_file():
            raise DataError(path, f"missing signal file (named in {hea.name})")
        bps = _BYTES_PER_SAMPLE.get(str(h.fmt[chans[0]]))
        if bps is None:
            continue
        offset = (h.byte_offset[chans[0]] or 0) if h.byte_offset else 0
        expected = offset + math.ceil(h.sig_len * len(chans) * bps)
        size = path.stat().st_size
        if size < expected:
            raise DataError(path, f"truncated: {size} bytes, {hea.name} promises {expected}")


def read_record(
    folder: Path, name: str, *, channel: str | int = 0, annotations: str | None = None
) -> Record:
    """Read one channel (by name or index) and, optionally, the annotation file `annotations`."""
    folder = Path(folder)
    h = read_header(folder, name)
    hea = folder / f"{name}.hea"
    if isinstance(channel, str):
        if channel not in (h.sig_name or []):
            raise DataError(hea, f"no signal named {channel!r} (has {', '.join(h.sig_name)})")
        idx = h.sig_name.index(channel)
    else:
        idx = channel
    check_signal_files(folder, h)
    import wfdb

    try:
        rec = wfdb.rdrecord(str(folder / name), channels=[idx], physical=True)
    except Exception as exc:
        raise DataError(folder / h.file_name[idx], f"unreadable signal ({_brief(exc)})") from None
    signal = np.nan_to_num(np.asarray(rec.p_signal[:, 0], dtype=np.float64))
    if signal.shape[0] != h.sig_len:
        raise DataError(folder / h.file_name[idx], f"holds {signal.shape[0]} samples, "
                        f"{hea.name} promises {h.sig_len}")
    ann_sample = ann_symbol = None
    if annotations is not None:
        atr = folder / f"{name}.{annotations}"
        if not atr.is_file():
            raise DataError(atr, "missing annotation file")
        try:
            ann = wfdb.rdann(str(folder / name), annotations)
        except Exception as exc:
            raise DataError(atr, f"corrupt annotation file ({_brief(exc)})") from None
        ann_sample = np.asarray(ann.sample, dtype=np.int64)
        ann_symbol = tuple(ann.symbol)
        bad = (ann_sample < 0) | (ann_sample >= h.sig_len)
        if bad.any():
            raise DataError(atr, f"annotation at sample {int(ann_sample[bad][0])} lies outside "
                            f"the record's {h.sig_len} samples")
    return Record(name, float(h.fs), signal, ann_sample, ann_symbol)
