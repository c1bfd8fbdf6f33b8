# SPDX-License-Identifier: Apache-2.0
"""`cinc2017-af`: rhythm classes of the PhysioNet/CinC Challenge 2017 single-lead recordings.

Classes N (normal), A (atrial fibrillation), O (other rhythm), ~ (noisy), or AF-vs-rest with
`binary=true`. One fixed-length window per recording (cropped or zero-padded); with
`rr_features=true` each window also carries eight RR-irregularity side inputs computed from the
beats the QRS detector finds in it (`half.data.rhythm`). The record-level
train/val/test split is stratified by class with a fixed seed and kept in a CSV file: the default
one ships with half (`half/data/splits/`), others are written to the cache on first use.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import ClassVar

import numpy as np

from half._io import write_bytes_atomic
from half.data._locate import DataSource, cache_dir
from half.data._wfdb import read_record
from half.data.preprocess import check_highpass, check_normalize, prepare
from half.data.rhythm import RHYTHM_FEATURES, beat_times, window_features
from half.data.task import SPLITS, Perturb, Progress, Task, TaskData
from half.errors import ConfigError, DataError

LABELS = ("N", "A", "O", "~")
BINARY = ("non-AF", "AF")
DEFAULT_LABELS = "REFERENCE-v3.csv"
NATIVE_FS = 300.0


@dataclass(frozen=True)
class CincParams:
    fs: float = 300.0  # sampling rate of the windows (Hz); 300 = native, else resampled
    window: int = 9000  # samples per window at `fs` (9000 = 30 s at 300 Hz)
    crop: str = "start"  # where a longer recording is cut: "start" or "center"
    pad: bool = True  # zero-pad shorter recordings at the end; false: such a recording is an error
    labels: str = DEFAULT_LABELS  # REFERENCE-v3.csv (corrected), REFERENCE.csv, or a path
    binary: bool = False  # AF vs rest instead of N/A/O/~
    split_seed: int = 0  # seed of the stratified record-level split
    val_frac: float = 0.15  # fraction of each class held out for validation
    test_frac: float = 0.15  # fraction of each class held out for test
    highpass: float = 0.0  # causal baseline-wander high-pass cutoff (Hz) at 300 Hz; 0 = off
    # amplitude normalisation after the high-pass (half.data.preprocess): "none" (mV) or
    # "record" (each recording divided by its robust amplitude: independent of the device's gain)
    normalize: str = "none"
    # RR-irregularity side inputs per window (half.data.rhythm: beats from the QRS detector on
    # the preprocessed record at 300 Hz); false = no side inputs, as before this parameter
    rr_features: bool = False

    # added after prepared caches and task.json files existed: left out of param_dict (so of
    # cache keys and task.json) while at their default, so that those stay as they were
    OMIT_AT_DEFAULT: ClassVar[tuple[str, ...]] = ("rr_features",)

    def __post_init__(self) -> None:
        if not self.fs > 0:
            raise ConfigError("fs", f"must be positive, got {self.fs}")
        if self.window < 1:
            raise ConfigError("window", f"must be at least 1 sample, got {self.window}")
        if self.crop not in ("start", "center"):
            raise ConfigError("crop", f"must be start or center, got {self.crop!r}")
        for name in ("val_frac", "test_frac"):
            if not 0 < getattr(self, name) < 0.5:
                raise ConfigError(name, f"must lie in (0, 0.5), got {getattr(self, name)}")
        check_highpass(self.highpass, min(self.fs, NATIVE_FS))
        check_normalize(self.normalize)


def read_labels(path: Path) -> dict[str, str]:
    """record -> label from a REFERENCE CSV (an optional NAME,TYPE header row is skipped)."""
    if not path.is_file():
        raise DataError(path, "missing label file")
    out: dict[str, str] = {}
    for i, row in enumerate(csv.reader(io.StringIO(path.read_text())), start=1):
        if not row or (i == 1 and row[0].strip().upper() == "NAME"):
            continue
        if len(row) < 2:
            raise DataError(path, f"line {i}: expected 'record,label', got {','.join(row)!r}")
        rec, lab = row[0].strip(), row[1].strip()
        if lab not in LABELS:
            raise DataError(path, f"line {i}: unknown label {lab!r} (known: {' '.join(LABELS)})")
        out[rec] = lab
    if not out:
        raise DataError(path, "no labels in file")
    return out


def make_split(labels: dict[str, str], seed: int, val_frac: float, test_frac: float
               ) -> dict[str, str]:
    """Stratified record-level split: per class, shuffle with `seed` and cut val/test/train."""
    rng = np.random.default_rng(seed)
    out = {}
    for lab in LABELS:
        recs = sorted(r for r, v in labels.items() if v == lab)
        order = [recs[i] for i in rng.permutation(len(recs))]
        n_val, n_test = round(val_frac * len(recs)), round(test_frac * len(recs))
        for j, r in enumerate(order):
            out[r] = "val" if j < n_val else "test" if j < n_val + n_test else "train"
    return dict(sorted(out.items()))


def split_csv(split: dict[str, str]) -> str:
    return "record,split\n" + "".join(f"{r},{s}\n" for r, s in split.items())


def read_split(path: Path) -> dict[str, str]:
    out = {}
    for i, row in enumerate(csv.reader(io.StringIO(path.read_text())), start=1):
        if i == 1 or not row:
            continue
        if len(row) != 2 or row[1] not in SPLITS:
            raise DataError(path, f"line {i}: expected 'record,train|val|test'")
        out[row[0]] = row[1]
    return out


def shipped_split_name(seed: int, val_frac: float, test_frac: float) -> str:
    return f"cinc2017-af_seed{seed}_val{val_frac:g}_test{test_frac:g}.csv"


def window_start(n: int, p: CincParams) -> int:
    """Where the task's one window starts in a preprocessed recording of `n` samples."""
    return 0 if p.crop == "start" else max(0, (n - p.window) // 2)


def record_window(sig: np.ndarray, p: CincParams, where: str | Path = "record") -> np.ndarray:
    """The task's one window (float32, `p.window` samples) of a preprocessed recording: cropped
    as `p.crop` says, zero-padded at the end when shorter (an error with pad=false). Training,
    evaluation and `half predict` all call this one function."""
    if sig.size < p.window and not p.pad:
        raise DataError(where, f"window of {p.window} samples is longer than the record "
                        f"({sig.size} samples at {p.fs:g} Hz) and pad=false")
    start = window_start(sig.size, p)
    seg = sig[start:start + p.window]
    out = np.zeros(p.window, dtype=np.float32)
    out[:seg.size] = seg
    return out


def window_rr_features(raw: np.ndarray, fs_in: float, p: CincParams, starts: list[int],
                       progress: Progress | None = None) -> np.ndarray:
    """(k, 8) float32 RR-irregularity side inputs (`half.data.rhythm.RHYTHM_FEATURES`) of the
    windows of a recording that start at `starts` (samples at `p.fs`, as `window_start` gives).

    `raw` is the recording's lead (mV at `fs_in` Hz). Beats are detected once on the task's
    preprocessing at `fs_in` (high-pass, normalisation); each window keeps those in its
    `p.window` samples. Training, evaluation and `half predict` all call this one function."""
    times = beat_times(raw, fs_in, highpass_hz=p.highpass, normalize_rule=p.normalize,
                       progress=progress)
    s = np.asarray(starts, dtype=np.float64)
    return window_features(times, np.stack([s, s + p.window], axis=1) / p.fs)


class Cinc2017Af(Task):
    name = "cinc2017-af"
    dataset = "cinc2017"
    Params = CincParams

    @property
    def classes(self) -> tuple[str, ...]:
        return BINARY if self.params.binary else LABELS

    @property
    def side_names(self) -> tuple[str, ...]:  # type: ignore[override]
        return RHYTHM_FEATURES if self.params.rr_features else ()

    def labels_path(self, src: DataSource) -> Path:
        given = Path(self.params.labels).expanduser()
        if given.is_absolute():
            return given
        for folder in (src.path, src.path / "training2017"):
            if (folder / given).is_file():
                return folder / given
        raise DataError(src.path / given, "missing label file (looked in cinc2017/ and "
                        "cinc2017/training2017/)")

    def split_path(self, src: DataSource) -> Path:
        """The split file: the shipped one for the default seed, else generated into the cache.

        The split is stratified by the corrected v3 labels when present, so choosing another
        label file does not move records between splits.
        """
        p = self.params
        name = shipped_split_name(p.split_seed, p.val_frac, p.test_frac)
        shipped = resources.files("half.data").joinpath("splits", name)
        if shipped.is_file():
            return Path(str(shipped))
        path = cache_dir() / "splits" / name
        if not path.is_file():
            v3 = src.path / DEFAULT_LABELS
            labels = read_labels(v3 if v3.is_file() else self.labels_path(src))
            split = make_split(labels, p.split_seed, p.val_frac, p.test_frac)
            write_bytes_atomic(path, split_csv(split).encode())
        return path

    def input_files(self, src: DataSource) -> list[Path]:
        folder = src.path / "training2017"
        files = [self.labels_path(src), self.split_path(src)]
        for rec in read_labels(files[0]):
            hea, mat = folder / f"{rec}.hea", folder / f"{rec}.mat"
            if not hea.is_file():
                raise DataError(hea, f"missing header file of labelled record {rec}")
            if not mat.is_file():
                raise DataError(mat, f"missing signal file of labelled record {rec}")
            files += [hea, mat]
        return files

    def build(self, src: DataSource, progress: Progress, perturb: Perturb | None = None
              ) -> tuple[dict[str, np.ndarray], float]:
        p = self.params
        labels = read_labels(self.labels_path(src))
        split_file = self.split_path(src)
        split = read_split(split_file)
        missing = sorted(set(labels) - set(split))
        if missing:
            raise DataError(split_file, f"has no split for record {missing[0]} "
                            f"({len(missing)} records missing)")
        recs = sorted(labels)
        x = np.zeros((len(recs), p.window), dtype=np.float32)
        side = np.zeros((len(recs), len(RHYTHM_FEATURES)), dtype=np.float32)
        lengths = np.zeros(len(recs), dtype=np.int64)
        for i, rec in enumerate(recs):
            if i % 250 == 0:
                progress("cinc2017 recordings", i, len(recs))
            raw = read_record(src.path / "training2017", rec).signal
            if perturb is not None:
                raw = perturb(raw, NATIVE_FS, rec)
            sig = prepare(raw, NATIVE_FS, p.fs, highpass_hz=p.highpass, normalize_rule=p.normalize)
            lengths[i] = sig.size
            x[i] = record_window(sig, p, src.path / "training2017" / f"{rec}.mat")
            if p.rr_features:
                side[i] = window_rr_features(raw, NATIVE_FS, p, [window_start(sig.size, p)])[0]
        progress("cinc2017 recordings", len(recs), len(recs))
        lab = np.array([LABELS.index(labels[r]) for r in recs], dtype=np.int64)
        y = (lab == LABELS.index("A")).astype(np.int64) if p.binary else lab
        extra = {"side": side} if p.rr_features else {}
        return {
            "x": x,
            "y": y,
            "split": np.array([SPLITS.index(split[r]) for r in recs], dtype=np.int8),
            "record": np.array(recs),
            "padded": np.int64((lengths < p.window).sum()),
            "cropped": np.int64((lengths > p.window).sum()),
            **extra,
        }, p.fs

    def summary(self, data: TaskData) -> dict:
        out = super().summary(data)
        out["labels_file"] = self.params.labels
        return out
