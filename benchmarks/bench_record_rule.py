# SPDX-License-Identifier: Apache-2.0
"""How should a cinc2017-af model classify a recording longer than its window? Measured on the
validation split only (the test split is never read).

    .venv/bin/python benchmarks/bench_record_rule.py --model preset:tiny [--split val]
        [--out benchmarks/results/record_rule.jsonl]

Every validation recording goes through `half predict`'s own path (`half.predict.apply.
window_rows`: the task's preprocessing, windows tiling the recording, RR features where the
model has them, the golden integer model), and each rule of `half.predict.apply.RECORD_RULES`
turns the window scores into the record's class. Prints F1_NAO per rule, over all validation
recordings and over those longer than one window (the only ones where the rules can differ), and
appends one JSON row per (model, rule) to --out.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

import numpy as np

from half.data import find_dataset
from half.data.cinc2017 import read_labels, read_split
from half.data.recording import read_recording
from half.nn.metrics import metrics_for
from half.predict.apply import RECORD_RULES, check_recording, record_class, window_rows
from half.predict.model import Model

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="run folder or preset:NAME (cinc2017-af)")
    ap.add_argument("--split", default="val", choices=["train", "val"])
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--limit", type=int, default=None, help="first N recordings (a quick look)")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "record_rule.jsonl")
    args = ap.parse_args()

    model = Model(args.model, "cinc2017-af")
    src = find_dataset("cinc2017", args.data_dir)
    folder = src.path / "training2017"
    labels_task = model.task
    split = read_split(labels_task.split_path(src))
    labels = read_labels(labels_task.labels_path(src))
    recs = sorted(r for r, s in split.items() if s == args.split)[:args.limit]
    classes = model.classes
    t0 = time.monotonic()
    y_true, windows, own = [], [], []
    for k, name in enumerate(recs):
        rec = read_recording(folder / name)
        check_recording(model, rec)
        rows, record = window_rows(model, rec, rule="task")
        y_true.append(classes.index(labels[name]))
        windows.append(np.array([[r[f"score_{c}"] for c in classes] for r in rows], float))
        own.append(classes.index(record["class"]))
        if k % 100 == 0:
            print(f"  {k}/{len(recs)} recordings, {time.monotonic() - t0:.0f} s", flush=True)
    y_true = np.array(y_true)
    long_ = np.array([len(w) > 1 for w in windows])
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, cwd=HERE).stdout.strip()
    except OSError:
        commit = ""
    print(f"{args.model} on the {args.split} split: {len(recs)} recordings, {long_.sum()} longer "
          "than one window")
    print("| rule | F1_NAO (all) | F1_NAO (longer than a window) | A recall (longer) |")
    print("|---|---|---|---|")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for rule in RECORD_RULES:
        pred = np.array([classes.index(record_class(rule, classes, w, o))
                         for w, o in zip(windows, own, strict=True)])
        m_all = metrics_for("cinc2017-af", classes, y_true, pred)
        m_long = metrics_for("cinc2017-af", classes, y_true[long_], pred[long_])
        a = classes.index("A")
        recall_a = float(((pred == a) & (y_true == a) & long_).sum()
                         / max(1, ((y_true == a) & long_).sum()))
        print(f"| {rule} | {m_all['f1_nao']:.4f} | {m_long['f1_nao']:.4f} | {recall_a:.3f} |")
        with args.out.open("a") as f:
            f.write(json.dumps({"model": args.model, "split": args.split, "rule": rule,
                                "records": len(recs), "longer": int(long_.sum()),
                                "f1_nao": round(m_all["f1_nao"], 4),
                                "f1_nao_longer": round(m_long["f1_nao"], 4),
                                "a_recall_longer": round(recall_a, 4), "commit": commit}) + "\n")


if __name__ == "__main__":
    main()
