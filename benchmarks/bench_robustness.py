# SPDX-License-Identifier: Apache-2.0
"""Stress suite: a model's test-split metric when its raw records are perturbed the way other
devices and databases differ (sampling rate, gain, baseline wander, electrode motion, muscle noise).

    .venv/bin/python benchmarks/bench_robustness.py --model preset:tiny --task mitdb-aami \
        [--conditions clean resample-128 amp-2 em-6db ...] [--out FILE] [--data-dir DIR] \
        [--seed 0] [--threads 1] [--full-data] [--split test|val]
    .venv/bin/python benchmarks/bench_robustness.py --table FILE     (print a results file)

The model is a run folder or `preset:NAME`. Its task is built from its task.json parameters, so
its own preprocessing (high-pass, resampling, normalisation) runs after every perturbation, as it
would on a new recording. Each perturbation is a `half.data.task.Perturb`: it rewrites a record's
raw lead signal (mV, the record's native rate: 360 Hz mitdb, 300 Hz cinc2017) before any of that
preprocessing. Evaluation is the PyTorch QAT model (half.nn.train.evaluate: the same network the
exports and the golden model reproduce, and fast on a CPU), never the QONNX file.

Conditions (`--conditions`, default all of DEFAULT; `clean` always runs first, as the reference):
  clean            the records as they are;
  resample-F       resampled to F Hz and back to the native rate (scipy polyphase, as the tasks
                   resample), then cut or edge-padded to the original length: a recording made at
                   F Hz keeps nothing above F/2 and carries the filters' ripple;
  amp-G            the signal times G (another device's gain or electrode placement);
  bw-XdB, em-XdB, ma-XdB
                   noise of the MIT-BIH Noise Stress Test Database record bw (baseline wander),
                   em (electrode motion) or ma (muscle) added at X dB SNR.
  Baseline wander is `bw-0db`: nstdb's real wander (mostly below 1 Hz: respiration and electrode
  movement) at the power of the ECG itself: an RMS of 0.15 to 0.5 mV on DS2 records, swings of
  1 to 3 mV (1st to 99th percentile), as ambulatory recordings without a hardware high-pass
  show. em and ma at 12, 6 and 0 dB (nst's own noisy records span 24 to -6 dB).

Noise: channel 0 (`noise1`) of the record, ONLY THE SECOND HALF (half.data.noise, part="test":
the first half is for training-time augmentation, so no model has seen the noise it is tested
with), resampled to the record's rate. Each record gets its own segment starting at an offset
drawn from `--seed`, the noise kind and the record name (the same offset for every SNR of a kind,
so the SNR rows differ only by scale); a record longer than the half (a 30-min mitdb record is
twice as long) continues into the half played backwards, then forwards again, so the noise has no
jump. SNR is half.data.noise's definition, the one training augmentation uses: the ratio of the
powers of the whole record and of the added noise, each about its mean, 10 log10(Ps / Pn). That is
not NSTDB's definition (Ps = A^2/8 from the QRS peak-to-peak amplitude A), which gives higher
figures for the same noise: each noise row also reports `snr_nstdb_db`, the median over records
of the SNR by NSTDB's rule, with A the median over 2-s segments of (max - min) of the record after
a zero-phase 0.5 Hz high-pass (measurement only; the model sees the raw sum).

`--split val` evaluates on the validation records instead (the task's own validation split),
for choices between recipes: the test split never chooses anything.

Speed: only the evaluated records matter, so the records of that split are linked (symlinks)
into a temporary data folder and each condition builds the task there (mitdb-aami: the DS2 (or
validation) records; cinc2017-af: training2017/<rec>.hea/.mat of those records and a label file
of only those, passed as an absolute `labels` parameter; the split file is the task's own). The
clean condition on that folder must give exactly the windows, labels, side inputs and record ids
of the full task's split (read from the cache): otherwise the run stops, and `--full-data`
evaluates on the whole data folder instead (slower, always valid).

Results: one JSON line per condition, appended as it finishes to `--out` (default
benchmarks/results/robustness.jsonl): model, task, condition, metric (the task's primary metric:
mitdb-aami macro_f1, cinc2017-af f1_nao, binary f1), value, drop (clean minus this condition:
positive is worse), `also` (mitdb-aami: jk_index with its drop), per-class F1, windows, seconds,
seed, torch threads, git commit (and whether the tree had changes), the full task's warnings.
A markdown table follows at the end on stdout; progress goes to stderr. Bad input is one line on
stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT = ("clean", "resample-128", "resample-250", "resample-500", "amp-0.5", "amp-2", "bw-0db",
           "em-12db", "em-6db", "em-0db", "ma-12db", "ma-6db", "ma-0db")
NOISES = ("bw", "em", "ma")
SECONDARY = {"mitdb-aami": ("jk_index",)}  # reported beside the primary metric
_NUM = r"(-?\d+(?:\.\d+)?)"


# -- conditions ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Condition:
    name: str  # as given, lower case: "clean", "resample-128", "amp-0.5", "em-6db"
    kind: str  # "clean", "resample", "amp" or a noise record (NOISES)
    value: float = 0.0  # Hz for resample, gain for amp, SNR (dB) for noise


def parse_condition(name: str) -> Condition:
    from half.errors import ConfigError

    text = name.strip().lower()
    if text == "clean":
        return Condition(text, "clean")
    if m := re.fullmatch(rf"resample-{_NUM}", text):
        if float(m[1]) < 10:
            raise ConfigError("conditions", f"{name}: resampling rate must be at least 10 Hz")
        return Condition(text, "resample", float(m[1]))
    if m := re.fullmatch(rf"amp-x?{_NUM}", text):
        if float(m[1]) <= 0:
            raise ConfigError("conditions", f"{name}: gain must be positive")
        return Condition(text, "amp", float(m[1]))
    if m := re.fullmatch(rf"({'|'.join(NOISES)})-{_NUM}db", text):
        return Condition(text, m[1], float(m[2]))
    raise ConfigError("conditions", f"unknown condition {name!r}; known: clean, resample-HZ, "
                      "amp-GAIN, bw-XdB, em-XdB, ma-XdB (e.g. resample-128 amp-0.5 em-6db)")


def resample_and_back(signal: np.ndarray, fs: float, fs_mid: float) -> np.ndarray:
    """`signal` as if recorded at `fs_mid`, brought back to `fs`, same length (the last samples
    cut, or the last value repeated, where the two polyphase steps round the length)."""
    from half.data.preprocess import resample

    out = resample(resample(signal, fs, fs_mid), fs_mid, fs)
    n = signal.size
    return out[:n] if out.size >= n else np.pad(out, (0, n - out.size), mode="edge")


def noise_segment(source: np.ndarray, n: int, offset: int) -> np.ndarray:
    """`n` samples of `source` from `offset`, continuing into `source` reversed, then forwards
    again, and so on: a continuous signal however long `n` is."""
    m = source.size
    idx = (offset + np.arange(n)) % (2 * m)
    return source[np.where(idx < m, idx, 2 * m - 1 - idx)]


def noise_offset(seed: int, kind: str, record: str, size: int) -> int:
    """Where a record's noise segment starts: from the seed, the noise kind and the record only."""
    rng = np.random.default_rng([seed, zlib.crc32(f"{kind}/{record}".encode())])
    return int(rng.integers(size))


def qrs_ptp(signal: np.ndarray, fs: float) -> float:
    """Robust QRS peak-to-peak amplitude: median over 2-s segments of (max - min) after a
    zero-phase 0.5 Hz high-pass (every segment holds a beat above 30 beats/min)."""
    from scipy.signal import butter, sosfiltfilt

    x = sosfiltfilt(butter(2, 0.5, btype="highpass", fs=fs, output="sos"), signal)
    seg = int(2 * fs)
    k = max(1, x.size // seg)
    parts = x[: k * seg].reshape(k, seg) if x.size >= seg else x[None, :]
    return float(np.median(parts.max(1) - parts.min(1)))


def add_noise(signal: np.ndarray, noise: np.ndarray, snr_db: float) -> tuple[np.ndarray, float]:
    """(signal + scaled noise at `snr_db` by half.data.noise's power rule, the scaled noise's
    mean-free power); the noise's mean is removed first (an offset is not noise)."""
    from half.data.noise import power, snr_gain

    noise = noise - noise.mean()
    scaled = float(snr_gain(signal, noise, snr_db)) * noise
    return signal + scaled, float(power(scaled))


class Perturbation:
    """The `Perturb` of one condition; it notes each record's SNR by NSTDB's rule."""

    def __init__(self, cond: Condition, seed: int, data_dir: Path | None) -> None:
        self.cond, self.seed, self.data_dir = cond, seed, data_dir
        self.snr_nstdb: list[float] = []

    def __call__(self, signal: np.ndarray, fs: float, record: str) -> np.ndarray:
        c = self.cond
        if c.kind == "resample":
            return resample_and_back(signal, fs, c.value)
        if c.kind == "amp":
            return signal * c.value
        from half.data.noise import load_noise

        source = load_noise(c.kind, fs, "test", self.data_dir)[0].astype(np.float64)  # channel 0
        noise = noise_segment(source, signal.size, noise_offset(self.seed, c.kind, record,
                                                                source.size))
        out, pn = add_noise(signal, noise, c.value)
        self.snr_nstdb.append(10 * np.log10(qrs_ptp(signal, fs) ** 2 / 8 / pn))
        return out


# -- the test records alone ---------------------------------------------------------------------
def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(src, dst)


def records_subset(task, src, records: list[str], root: Path) -> dict | None:
    """Link `records` of the data source `src` into `root/<dataset>/`; the task parameters to
    override there, or None when the task has no subset rule (then use the full data)."""
    from half.data.cinc2017 import DEFAULT_LABELS, read_labels

    dst = root / task.dataset
    if task.name == "mitdb-aami":
        for r in records:
            for ext in ("hea", "dat", "atr"):
                _link(src.path / f"{r}.{ext}", dst / f"{r}.{ext}")
        return {}
    if task.name == "cinc2017-af":
        labels = read_labels(task.labels_path(src))
        for r in records:
            for ext in ("hea", "mat"):
                _link(src.path / "training2017" / f"{r}.{ext}", dst / "training2017" / f"{r}.{ext}")
        if (src.path / DEFAULT_LABELS).is_file():  # what a split not yet cached is stratified by
            _link(src.path / DEFAULT_LABELS, dst / DEFAULT_LABELS)
        path = dst / "test-labels.csv"
        path.write_text("".join(f"{r},{labels[r]}\n" for r in records))
        return {"labels": str(path.resolve())}
    return None


def same_windows(a, b) -> bool:
    side = (a.side is None and b.side is None) or (
        a.side is not None and b.side is not None and np.array_equal(a.side, b.side))
    return (side and np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)
            and np.array_equal(a.record, b.record))


# -- running ------------------------------------------------------------------------------------
def commit() -> dict:
    here = Path(__file__).parent
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True, cwd=here).stdout.strip() or None
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, cwd=here).stdout.strip() != ""
    return {"commit": head, "dirty": dirty}


def _row(base: dict, cond: Condition, metrics: dict, key: str, clean: dict | None,
         windows: int, seconds: float, pert: Perturbation | None) -> dict:
    ref = clean or metrics
    also = {k: {"value": metrics[k], "drop": ref[k] - metrics[k]}
            for k in SECONDARY.get(base["task"], ()) if k in metrics}
    row = {**base, "condition": cond.name, "metric": key, "value": metrics[key],
           "drop": ref[key] - metrics[key], "also": also,
           "per_class_f1": {c: v["f1"] for c, v in metrics.get("per_class", {}).items()},
           "windows": windows, "seconds": round(seconds, 2)}
    if pert is not None and pert.snr_nstdb:
        row["noise"] = {"record": cond.kind, "channel": 0, "part": "test (second half)",
                        "snr_db": cond.value, "snr_rule": "power (half.data.noise)",
                        "snr_nstdb_db": round(float(np.median(pert.snr_nstdb)), 2)}
    return row


def run(model_spec: str, task_name: str, conditions: list[Condition], out: Path,
        data_dir: Path | None, seed: int, threads: int, full_data: bool,
        split: str = "test") -> list[dict]:
    import torch

    from half import _ui
    from half.data import find_dataset, get_task
    from half.errors import ConfigError, DataError
    from half.nn.metrics import primary_metric
    from half.nn.runs import resolve_model
    from half.nn.train import evaluate, load_run

    torch.set_num_threads(threads)
    folder = resolve_model(model_spec, task_name)
    arch, info, norm, model = load_run(folder)
    if info["task"] != task_name:
        raise ConfigError("task", f"{folder} was trained for {info['task']}, not {task_name}")
    if any(c.kind in NOISES for c in conditions):
        from half.data.noise import noise_folder

        noise_folder(data_dir)  # fail before any work when the noise records are missing
    task = get_task(task_name, **info["params"])
    _ui.note(f"{model_spec} on {task_name}: {split} split of the full task (cache)")
    with _ui.progress_bar() as bar:
        full = task.load(data_dir, progress=bar).select(split)
    if not len(full):
        raise DataError(find_dataset(task.dataset, data_dir).path,
                        f"the task has no {split} windows")
    key = primary_metric(task_name, full.classes)
    reference = evaluate(model, norm, full)
    base = {"model": model_spec, "model_dir": str(folder), "task": task_name, "split": split,
            "seed": seed, "torch_threads": threads, **commit(), "warnings": list(full.warnings)}
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="half-robustness-") as tmp:
        sub_dir, sub_task, subset = data_dir, task, False
        if not full_data:
            over = records_subset(task, find_dataset(task.dataset, data_dir),
                                  full.records(split), Path(tmp))
            if over is not None:
                sub_dir, sub_task, subset = Path(tmp), get_task(task_name,
                                                                **{**info["params"], **over}), True
        clean = None
        for i, cond in enumerate(conditions, start=1):
            t0 = time.perf_counter()
            pert = None if cond.kind == "clean" else Perturbation(cond, seed, data_dir)
            _ui.note(f"[{i}/{len(conditions)}] {cond.name}")
            with _ui.progress_bar() as bar:
                data = sub_task.load(sub_dir, use_cache=False, perturb=pert,
                                     progress=bar).select(split)
            if cond.kind == "clean" and not same_windows(data, full):
                where = f"the {split}-record subset" if subset else "the rebuilt task"
                raise DataError(sub_dir, f"{where} does not reproduce the task's {split} "
                                "windows (rerun with --full-data)")
            metrics = evaluate(model, norm, data)
            if cond.kind == "clean" and metrics[key] != reference[key]:
                raise DataError(sub_dir, f"clean {key} {metrics[key]} differs from the full "
                                f"task's {reference[key]}")
            row = _row(base, cond, metrics, key, clean, len(data), time.perf_counter() - t0, pert)
            clean = clean or metrics
            rows.append(row)
            out.parent.mkdir(parents=True, exist_ok=True)
            with open(out, "a") as fh:
                fh.write(json.dumps(row) + "\n")
            _ui.note(f"    {key} {row['value']:.4f} (drop {row['drop']:+.4f}), "
                     f"{row['seconds']:.0f} s")
    return rows


def _signed(x: float) -> str:
    return f"{round(x, 3) + 0.0:+.3f}"  # + 0.0: no "-0.000" for a drop of a few 1e-5


def table(rows: list[dict]) -> str:
    """Markdown: one table per (model, task), conditions in the order they ran."""
    out = []
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["model"], r["task"], r.get("split", "test")), []).append(r)
    for (model, task, split), rs in groups.items():
        extra = list(rs[0].get("also", {}))
        head = ["condition", rs[0]["metric"], "drop"] + [h for k in extra for h in (k, "drop")]
        out += [f"\n**{model}** on {task} ({split} split, {rs[0]['windows']} windows, commit "
                f"{rs[0].get('commit')}{'+changes' if rs[0].get('dirty') else ''})\n",
                "| " + " | ".join(head + ["NSTDB-rule SNR", "s"]) + " |",
                "|" + "---|" * (len(head) + 2)]
        for r in rs:
            cells = [r["condition"], f"{r['value']:.3f}", _signed(r["drop"])]
            for k in extra:
                a = r.get("also", {}).get(k)
                cells += [f"{a['value']:.3f}", _signed(a["drop"])] if a else ["", ""]
            snr = r.get("noise", {}).get("snr_nstdb_db")
            cells += ["" if snr is None else f"{snr:.1f} dB", f"{r['seconds']:.0f}"]
            out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out).lstrip("\n")


def conditions_of(names: list[str]) -> list[Condition]:
    conds, seen = [parse_condition("clean")], {"clean"}
    for n in names:
        c = parse_condition(n)
        if c.name not in seen:
            conds.append(c)
            seen.add(c.name)
    return conds


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="run folder or preset:NAME")
    ap.add_argument("--task", default="mitdb-aami")
    ap.add_argument("--conditions", nargs="+", default=list(DEFAULT), metavar="COND")
    ap.add_argument("--out", type=Path, default=RESULTS / "robustness.jsonl")
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--seed", type=int, default=0, help="seed of the noise segments' offsets")
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--full-data", action="store_true",
                    help="build every condition from the whole data folder (no record subset)")
    ap.add_argument("--split", choices=("test", "val"), default="test",
                    help="evaluate on the validation records instead (for choices: the test "
                         "split never chooses anything)")
    ap.add_argument("--table", type=Path, metavar="FILE", help="print FILE's tables and exit")
    args = ap.parse_args(argv)
    from half.errors import ConfigError, HalfError

    try:
        if args.table is not None:
            if not args.table.is_file():
                raise ConfigError("table", f"{args.table}: no such results file")
            rows = [json.loads(line) for line in args.table.read_text().splitlines() if line]
            print(table(rows))
            return
        if not args.model:
            raise ConfigError("model", "give --model (a run folder or preset:NAME)")
        if args.threads < 1:
            raise ConfigError("threads", f"must be at least 1, got {args.threads}")
        rows = run(args.model, args.task, conditions_of(args.conditions), args.out,
                   args.data_dir, args.seed, args.threads, args.full_data, args.split)
    except HalfError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    print(table(rows))


if __name__ == "__main__":
    main()

