# SPDX-License-Identifier: Apache-2.0
"""The task interface every dataset implements, and the prepared-data container.

A task turns raw records into fixed-length windows with labels, split membership, record ids
and optional side inputs. `Task.load` caches the result under a content-hashed key.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from half.data import _cache
from half.data._locate import DataSource, find_dataset
from half.data.preprocess import highpass, resample  # noqa: F401 (their old home)
from half.errors import ConfigError

SPLITS = ("train", "val", "test")
_ARRAYS = ("x", "y", "split", "record", "side", "fs")

# progress(description, done, total): called while long work runs; the CLI draws a bar.
Progress = Callable[[str, int, int], None]


def _no_progress(desc: str, done: int, total: int) -> None:
    pass


# perturb(signal, fs, record) -> signal: applied to each record's raw lead signal (mV, at the
# record's own rate) before any of the task's preprocessing; the result keeps that rate and
# length. Used by stress tests (benchmarks/bench_robustness.py) to mimic other recordings.
Perturb = Callable[[np.ndarray, float, str], np.ndarray]


@dataclass(frozen=True, eq=False)
class TaskData:
    """A prepared task: one row per window."""

    task: str
    classes: tuple[str, ...]
    fs: float  # sampling rate of the windows (Hz)
    x: np.ndarray  # (n, window) float32 windows, mV
    y: np.ndarray  # (n,) int64 class index into `classes`
    split: np.ndarray  # (n,) int8 index into SPLITS
    record: np.ndarray  # (n,) str record id of each window
    side: np.ndarray | None = None  # (n, k) float32 side inputs (e.g. RR features), or None
    side_names: tuple[str, ...] = ()
    params: dict = field(default_factory=dict)
    source: str = ""  # where the raw data came from, in words
    warnings: tuple[str, ...] = ()  # things every output using this data must say
    cache: dict = field(default_factory=dict)  # key, path and whether it was a hit
    meta: dict = field(default_factory=dict)  # task-specific scalars (e.g. edge-padded windows)
    # the data folder the task was found in when given explicitly (argument or HALF_DATA_DIR),
    # else None; companion data (nstdb noise for augmentation) is looked up the same way
    data_dir: Path | None = None

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def select(self, split: str) -> TaskData:
        """The windows of one split ("train", "val" or "test")."""
        if split not in SPLITS:
            raise ConfigError("split", f"unknown split {split!r}; known: {', '.join(SPLITS)}")
        m = self.split == SPLITS.index(split)
        side = None if self.side is None else self.side[m]
        return dataclasses.replace(self, x=self.x[m], y=self.y[m], split=self.split[m],
                                   record=self.record[m], side=side)

    def counts(self) -> dict[str, dict[str, int]]:
        """Windows per split per class."""
        out = {}
        for s, name in enumerate(SPLITS):
            ys = self.y[self.split == s]
            out[name] = {c: int((ys == i).sum()) for i, c in enumerate(self.classes)}
        return out

    def records(self, split: str) -> list[str]:
        return sorted(set(self.record[self.split == SPLITS.index(split)].tolist()))

    def rows_in(self, other: TaskData) -> np.ndarray:
        """For each window here, the index of the same window in `other`: the same task built
        from the same records (e.g. perturbed), whole records kept in both, in the same order.
        A ConfigError when a record's windows or labels differ in number or order."""
        rows = np.empty(len(self), dtype=np.int64)
        for r in np.unique(self.record):
            here, there = np.flatnonzero(self.record == r), np.flatnonzero(other.record == r)
            if here.size != there.size or not np.array_equal(self.y[here], other.y[there]):
                raise ConfigError("data", f"record {r}: {here.size} windows here, "
                                  f"{there.size} in the other build, or labels differ (whole "
                                  "records of the same task are needed)")
            rows[here] = there
        return rows


def _coerce(name: str, value: Any, hint: Any) -> Any:
    """Turn a CLI string (or JSON value) into the parameter's declared type."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None or (isinstance(value, str) and value.lower() in ("none", "")):
            return None
        return _coerce(name, value, args[0])
    if origin is tuple:
        (item,) = typing.get_args(hint)[:1]
        if isinstance(value, str):
            value = [v for v in value.split(",") if v.strip()]
        return tuple(_coerce(name, v, item) for v in value)
    if hint is bool:
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("1", "true", "yes", "on"):
            return True
        if str(value).lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(name, f"expected true or false, got {value!r}")
    try:
        return hint(value)
    except (TypeError, ValueError):
        raise ConfigError(name, f"expected {hint.__name__}, got {value!r}") from None


class Task(ABC):
    """A dataset turned into a classification task. Subclasses set the class attributes."""

    name: ClassVar[str]
    dataset: ClassVar[str]  # sub-folder of the data folder ("mitdb", "cinc2017")
    Params: ClassVar[type]  # frozen dataclass of the task's parameters

    def __init__(self, params: Any = None) -> None:
        self.params = params if params is not None else self.Params()

    @classmethod
    def from_options(cls, **options: Any) -> Task:
        """Build from loosely typed options (CLI strings); unknown names are an error."""
        hints = typing.get_type_hints(cls.Params)
        known = {f.name for f in dataclasses.fields(cls.Params)}
        kwargs = {}
        for key, value in options.items():
            key = key.replace("-", "_")
            if key not in known:
                raise ConfigError(key, f"unknown parameter of task {cls.name}; known: "
                                  f"{', '.join(sorted(known))}")
            kwargs[key] = _coerce(key, value, hints[key])
        return cls(cls.Params(**kwargs))

    def param_dict(self) -> dict:
        """The parameters as JSON-ready values: what task.json and the cache key hold.

        Parameters a task's Params lists in `OMIT_AT_DEFAULT` (added after prepared caches and
        task.json files existed) are left out while at their default, so adding one changes no
        existing cache key and no task.json; reading such a file gives the default back."""
        out = dataclasses.asdict(self.params)
        for f in dataclasses.fields(self.params):
            if f.name in getattr(self.params, "OMIT_AT_DEFAULT", ()) and out[f.name] == f.default:
                del out[f.name]
        return out

    # -- what subclasses provide ------------------------------------------------------------
    @property
    @abstractmethod
    def classes(self) -> tuple[str, ...]: ...

    @abstractmethod
    def input_files(self, src: DataSource) -> list[Path]:
        """Every raw file the result depends on; raises DataError for missing ones."""

    @abstractmethod
    def build(self, src: DataSource, progress: Progress, perturb: Perturb | None = None
              ) -> tuple[dict[str, np.ndarray], float]:
        """Arrays x, y, split, record (and optionally side) and the windows' sampling rate.

        `perturb`, when given, is applied to every record's raw signal before preprocessing."""

    def warnings(self, src: DataSource, arrays: dict[str, np.ndarray]) -> list[str]:
        return []

    # names of the side inputs `build` returns; a task whose side inputs depend on its
    # parameters (cinc2017-af's rr_features) makes this a property
    side_names: ClassVar[tuple[str, ...]] = ()

    # -- shared machinery -------------------------------------------------------------------
    def load(
        self,
        data_dir: str | Path | None = None,
        *,
        progress: Progress | None = None,
        use_cache: bool = True,
        perturb: Perturb | None = None,
    ) -> TaskData:
        """Prepare (or fetch from the cache) the task's windows.

        With `perturb` (see `Perturb`) the windows are built from the perturbed records; they
        are cached only when the perturbation names what it depends on (a `cache_key()` method,
        as half.data.noise.RecordNoise has), under a key that includes it."""
        progress = progress or _no_progress
        src = find_dataset(self.dataset, data_dir)
        inputs = self.input_files(src)
        perturb_key = getattr(perturb, "cache_key", None)
        extra = {} if perturb_key is None else {"__perturb__": perturb_key()}
        key = _cache.cache_key(self.name, {**self.param_dict(), **extra}, inputs)
        path = _cache.entry_path(self.name, key)
        use_cache = (use_cache and not _cache.disabled()
                     and (perturb is None or perturb_key is not None))
        arrays = _cache.load(path) if use_cache else None
        hit = arrays is not None
        if arrays is None:
            arrays, fs = self.build(src, progress, perturb)
            arrays["fs"] = np.float64(fs)
            if use_cache:
                _cache.save(path, arrays)
        side = arrays.get("side")
        meta = {k: v.item() for k, v in arrays.items() if k not in _ARRAYS and v.ndim == 0}
        return TaskData(
            task=self.name,
            classes=self.classes,
            fs=float(arrays["fs"]),
            x=arrays["x"],
            y=arrays["y"],
            split=arrays["split"],
            record=arrays["record"],
            side=side,
            side_names=self.side_names if side is not None else (),
            params=self.param_dict(),
            source=src.describe(),
            warnings=tuple(self.warnings(src, arrays)),
            cache={"key": key, "path": str(path), "hit": hit, "used": use_cache},
            meta=meta,
            data_dir=src.path.parent if src.origin in ("argument", "HALF_DATA_DIR")
            else None,
        )

    def summary(self, data: TaskData) -> dict:
        """A JSON-ready summary: counts per split per class and what the output must say."""
        return {
            "task": data.task,
            "params": data.params,
            "source": data.source,
            "classes": list(data.classes),
            "fs": data.fs,
            "window": int(data.x.shape[1]),
            "windows": len(data),
            "side_inputs": list(data.side_names),
            "counts": data.counts(),
            "totals": {c: sum(n[c] for n in data.counts().values()) for c in data.classes},
            "records": {s: len(data.records(s)) for s in SPLITS},
            **data.meta,
            "warnings": list(data.warnings),
            "cache": data.cache,
        }
