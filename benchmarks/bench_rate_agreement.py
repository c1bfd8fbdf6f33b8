# SPDX-License-Identifier: Apache-2.0
"""Does a beat model answer the same when the recording comes at another sampling rate?

    .venv/bin/python benchmarks/bench_rate_agreement.py --model NAME=SPEC ... [--rate 250]
        [--seconds 300] [--beats atr|detected] [--out FILE]

For each DS1 (training) record of MIT-BIH: the first `--seconds` of lead MLII, and the same
resampled to `--rate` Hz (scipy polyphase) with its annotations moved to the new rate; both go
through `half predict`'s path (`half.predict.apply.predict_recording`, beats from the .atr
annotations; with `--beats detected` the resampled copy's beats come from the QRS detector
instead, paired with the annotated ones within 150 ms). Label-free: the share of beats whose
class is the same at both rates. DS2 is not read, so the figure may inform a choice. One JSON
line per record, then the pooled share per model. SPEC: preset:NAME or a run folder (mitdb-aami).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from fractions import Fraction
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

from half.data import find_dataset
from half.data.mitdb import DS1
from half.data.qrs import match_beats
from half.data.recording import read_recording
from half.predict.apply import predict_recording
from half.predict.model import Model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", required=True, help="NAME=SPEC (repeatable)")
    ap.add_argument("--rate", type=int, default=250)
    ap.add_argument("--seconds", type=float, default=300.0)
    ap.add_argument("--beats", choices=("atr", "detected"), default="atr",
                    help="where the resampled copy's beats come from")
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--out", type=Path, help="also append the JSON lines to this file")
    args = ap.parse_args()
    models = {m.split("=", 1)[0]: Model(m.split("=", 1)[1], "mitdb-aami") for m in args.model}
    folder = find_dataset("mitdb", args.data_dir).path
    same = {k: [0, 0] for k in models}
    lines = []
    for rec in DS1:
        full = read_recording(folder / str(rec), lead="MLII", annotations="atr")
        keep = full.ann_sample < args.seconds * full.fs
        orig = dataclasses.replace(
            full, signal=full.signal[: int(args.seconds * full.fs)],
            ann_sample=full.ann_sample[keep], ann_symbol=tuple(np.array(full.ann_symbol)[keep]))
        ratio = Fraction(args.rate) / Fraction(full.fs)  # MIT-BIH: 360 Hz
        moved = dataclasses.replace(
            orig, fs=float(args.rate),
            signal=resample_poly(orig.signal, ratio.numerator, ratio.denominator),
            ann_sample=np.round(orig.ann_sample * args.rate / full.fs).astype(np.int64))
        row = {"record": rec, "rate": args.rate, "seconds": args.seconds, "beats": args.beats}
        for name, model in models.items():
            ref = predict_recording(model, orig, annotations="atr").rows
            a = np.array([r["class"] for r in ref])
            if args.beats == "atr":
                b = np.array([r["class"] for r in
                              predict_recording(model, moved, annotations="atr").rows])
            else:
                rows = predict_recording(model, dataclasses.replace(
                    moved, ann_sample=None, ann_symbol=None)).rows
                at_rate = np.round(np.array([r["sample"] for r in ref]) * args.rate / full.fs)
                m = match_beats(at_rate, np.array([r["sample"] for r in rows]), float(args.rate))
                a, b = a[m.ref], np.array([r["class"] for r in rows])[m.det]
            agree = int(np.sum(a == b))
            same[name][0] += agree
            same[name][1] += len(a)
            row[name] = round(agree / len(a), 4)
        lines.append(json.dumps(row))
        print(lines[-1], flush=True)
    lines.append(json.dumps({"pooled": {k: round(v[0] / v[1], 4) for k, v in same.items()},
                             "beats": {k: v[1] for k, v in same.items()}, "rate": args.rate,
                             "located_by": args.beats,
                             "models": args.model}))
    print(lines[-1], flush=True)
    if args.out:
        with open(args.out, "a") as fh:
            fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
