# SPDX-License-Identifier: Apache-2.0
"""A user's own recording: one ECG lead from a WFDB record, an EDF/BDF file or a CSV file.

The format follows the path: `NAME` or `NAME.hea` (or the record's `.dat`/`.mat` beside its
header) is a WFDB record, `.edf`/`.bdf` an EDF(+)/BDF(+) file (read with edfio: every signal at
its own rate), `.csv` a table with one column per lead and a header row naming them, in mV, at
the rate the caller gives. The lead is chosen by name (exact, else the one case-insensitive
match); without a name, a file with one lead gives that one. Signals are returned in mV: WFDB and
EDF units µV, mV and V are converted; other units are read as mV, with a note.
Every fault is a one-line DataError naming the file (ConfigError for a bad option).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from half.data._wfdb import _brief, read_header, read_record
from half.errors import ConfigError, DataError

FORMATS = ("wfdb", "edf", "csv")
# factor to mV of the units a file may declare (lower case)
_TO_MV = {"mv": 1.0, "uv": 1e-3, "µv": 1e-3, "μv": 1e-3, "v": 1e3, "nv": 1e-6}


@dataclass(frozen=True)
class Recording:
    path: Path  # the file the user named (a WFDB record's .hea)
    name: str  # record name (the file name without its extension)
    format: str  # one of FORMATS
    fs: float  # sampling rate of `signal` (Hz)
    lead: str  # the chosen lead's name
    leads: tuple[str, ...]  # every lead in the file
    signal: np.ndarray  # (n,) float64, mV
    ann_sample: np.ndarray | None = None  # WFDB annotation positions (samples), when asked for
    ann_symbol: tuple[str, ...] | None = None  # their labels
    notes: tuple[str, ...] = ()  # what the output must say (unknown units read as mV, ...)


def detect_format(path: str | Path) -> tuple[str, Path]:
    """(format, path of the file to read: the .hea for WFDB) of a path as the user gave it."""
    path = Path(path)
    hea = path.with_name(path.name + ".hea")
    if hea.is_file() and not path.is_dir():
        return "wfdb", hea
    suffix = path.suffix.lower()
    if suffix in (".hea", ".dat", ".mat") and path.with_suffix(".hea").is_file():
        return "wfdb", path.with_suffix(".hea")
    if suffix == ".hea":
        raise DataError(path, "no such file")
    if suffix in (".edf", ".bdf", ".csv"):
        if not path.is_file():
            raise DataError(path, "no such file")
        return ("csv" if suffix == ".csv" else "edf"), path
    if not path.exists():
        raise DataError(path, "no such file or WFDB record (NAME.hea)")
    raise DataError(path, "unknown format: expected a WFDB record (NAME or NAME.hea), an .edf "
                    "or .bdf file, or a .csv file")


# Other names of a lead in other databases' files (matched case-insensitively, in this order):
# MIT-BIH's "modified lead II" is lead II from chest electrodes.
LEAD_ALIASES = {"MLII": ("II", "ML2", "ML II", "lead II", "ECG II")}


def choose_lead(leads: list[str] | tuple[str, ...], want: str | None, where: Path,
                fallback: bool = False) -> int:
    """Index of the lead named `want` (exact, else the one case-insensitive match); with
    `fallback` (`want` is the model's lead, not the user's choice), else one of its
    LEAD_ALIASES, else a file's only lead whatever its name; without a name, the file's only
    lead. A DataError listing the leads otherwise."""
    leads = list(leads)
    have = ", ".join(repr(x) for x in leads) or "none"
    if want is None:
        if len(leads) == 1:
            return 0
        raise DataError(where, f"has {len(leads)} leads ({have}): choose one with --lead")
    if want in leads:
        return leads.index(want)
    for name in (want, *(LEAD_ALIASES.get(want, ()) if fallback else ())):
        folded = [i for i, x in enumerate(leads) if x.strip().lower() == name.strip().lower()]
        if len(folded) == 1:
            return folded[0]
    if fallback and len(leads) == 1:
        return 0
    raise DataError(where, f"no lead named {want!r} (has {have}): choose one with --lead")


def _in_mv(signal: np.ndarray, units: str, lead: str) -> tuple[np.ndarray, tuple[str, ...]]:
    factor = _TO_MV.get(units.strip().lower())
    if factor is None:
        return signal, (f"lead {lead}: units {units!r} unknown, read as mV",)
    return signal * factor, ()


def read_recording(path: str | Path, *, lead: str | None = None, fs: float | None = None,
                   annotations: str | None = None, lead_fallback: bool = False) -> Recording:
    """One lead of the recording at `path` (see the module docstring), with the WFDB annotation
    file of extension `annotations` when given. `fs` is required for CSV; for WFDB and EDF it
    must be absent or equal the file's own rate. With `lead_fallback` (`lead` is the model's,
    not the user's choice), a lead named as one of its LEAD_ALIASES, else a file's only lead,
    may be read instead; that is said in the recording's notes."""
    rec = _read(path, lead, fs, annotations, lead_fallback)
    if lead is not None and rec.lead.strip().lower() != lead.strip().lower():  # (fallback only)
        rec = dataclasses.replace(rec, notes=(*rec.notes, f"lead {rec.lead!r} read in place of "
                                              f"{lead!r} (the model's lead; --lead to choose)"))
    return rec


def _read(path: str | Path, lead: str | None, fs: float | None, annotations: str | None,
          fallback: bool) -> Recording:
    if fs is not None and not fs > 0:
        raise ConfigError("--fs", f"must be positive, got {fs:g}")
    fmt, file = detect_format(path)
    if annotations is not None and fmt != "wfdb":
        raise ConfigError("--annotations", f"{file}: only WFDB records have annotation files")
    if fmt == "wfdb":
        rec = _read_wfdb(file, lead, annotations, fallback)
    elif fmt == "edf":
        rec = _read_edf(file, lead, fallback)
    else:
        if fs is None:
            raise ConfigError("--fs", f"{file} is a CSV file: give its sampling rate with --fs HZ")
        return _read_csv(file, lead, fs, fallback)
    if fs is not None and abs(fs - rec.fs) > 1e-9 * rec.fs:
        raise ConfigError("--fs", f"{file} is sampled at {rec.fs:g} Hz, not {fs:g} Hz (--fs is "
                          "for CSV files)")
    return rec


def _read_wfdb(hea: Path, lead: str | None, annotations: str | None, fallback: bool
               ) -> Recording:
    folder, name = hea.parent, hea.name[: -len(".hea")]
    h = read_header(folder, name)
    idx = choose_lead(h.sig_name or [], lead, hea, fallback)
    r = read_record(folder, name, channel=h.sig_name[idx], annotations=annotations)
    units = (h.units or [""] * h.n_sig)[idx] or "mV"
    signal, notes = _in_mv(r.signal, units, h.sig_name[idx])
    return Recording(hea, name, "wfdb", r.fs, h.sig_name[idx], tuple(h.sig_name), signal,
                     r.ann_sample, r.ann_symbol, notes)


def _read_edf(file: Path, lead: str | None, fallback: bool) -> Recording:
    import edfio

    try:
        edf = (edfio.read_bdf if file.suffix.lower() == ".bdf" else edfio.read_edf)(file)
        signals = list(edf.signals)
    except Exception as exc:  # edfio raises many types on malformed files
        raise DataError(file, f"unreadable EDF file ({_brief(exc)})") from None
    if not signals:
        raise DataError(file, "holds no signals")
    labels = [s.label for s in signals]
    idx = choose_lead(labels, lead, file, fallback)
    s = signals[idx]
    try:
        data = np.nan_to_num(np.asarray(s.data, dtype=np.float64))
    except Exception as exc:
        raise DataError(file, f"unreadable signal {labels[idx]!r} ({_brief(exc)})") from None
    fs = float(s.sampling_frequency)
    if not fs > 0:
        raise DataError(file, f"signal {labels[idx]!r} has no positive sampling rate")
    signal, notes = _in_mv(data, s.physical_dimension or "mV", labels[idx])
    return Recording(file, file.stem, "edf", fs, labels[idx], tuple(labels), signal, notes=notes)


def _read_csv(file: Path, lead: str | None, fs: float, fallback: bool) -> Recording:
    import pandas as pd

    try:
        df = pd.read_csv(file, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise DataError(file, "empty file") from None
    except Exception as exc:  # pandas raises many types on malformed files
        raise DataError(file, f"unreadable CSV file ({_brief(exc)})") from None
    names = [str(c).strip() for c in df.columns]
    if all(_is_number(c) for c in names):
        raise DataError(file, "no header row: the first line must name the leads (e.g. MLII,V5)")
    idx = choose_lead(names, lead, file, fallback)
    col = df.iloc[:, idx]
    values = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        line = int(bad[0]) + 2  # 1-based, after the header row
        raise DataError(file, f"line {line}: lead {names[idx]!r} has a non-numeric or empty "
                        f"value {str(col.iloc[bad[0]])!r}")
    if values.size == 0:
        raise DataError(file, "holds no samples (a header row only)")
    return Recording(file, file.stem, "csv", float(fs), names[idx], tuple(names), values)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
