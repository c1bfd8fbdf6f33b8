# SPDX-License-Identifier: Apache-2.0
"""QRS detection on MIT-BIH DS2: sensitivity (Se) and positive predictivity (+P) per record.

    .venv/bin/python benchmarks/bench_qrs.py [--methods gqrs xqrs] [--records 100 103 ...]
        [--lead MLII] [--out FILE] [--data-dir DIR]

(default: gqrs, the detector `half predict` uses; it was chosen over xqrs on the DS1 records:
`--methods gqrs xqrs --records 101 106 108 109 112 114 115 116 118 119 122 124 201 203 205 207
208 209 215 220 223 230`)

For each record the detector of `half.data.qrs` (what `half predict` and `half eval --detect`
use) runs on the whole lead (`--lead`, default MLII, the lead of mitdb-aami), single-process.
The reference beats are the record's beat annotations (`.atr`, every beat label of
`half.data.mitdb.BEAT_SYMBOLS`, AAMI-mapped or not); detections are matched to them one to one
within 150 ms (`half.data.qrs.match_beats`), over the whole record (EC57's `bxb` would skip the
first 5 minutes). Records: the 22 DS2 records of de Chazal et al. (the test records of
mitdb-aami) unless `--records` names others.

Results: a table per method on stdout (per record: reference beats, TP, FN, FP, Se, +P, median
and 95th percentile of |detected - annotated| in ms over matched beats), and one JSON line per
record and one total per method appended to `--out` (default benchmarks/results/qrs.jsonl),
with the git commit and the seconds the detector took. Bad input: one line on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from bench_robustness import commit  # the git commit and dirty flag of every result row

RESULTS = Path(__file__).parent / "results"




def one_record(folder: Path, rec: str, lead: str, method: str) -> dict:
    from half.data._wfdb import read_record
    from half.data.mitdb import BEAT_SYMBOLS
    from half.data.qrs import detect, match_beats

    r = read_record(folder, rec, channel=lead, annotations="atr")
    is_beat = np.array([s in BEAT_SYMBOLS for s in r.ann_symbol])
    ref = r.ann_sample[is_beat]
    t0 = time.perf_counter()
    det = detect(r.signal, r.fs, method=method)
    seconds = time.perf_counter() - t0
    m = match_beats(ref, det, r.fs)
    off_ms = np.abs(det[m.det] - ref[m.ref]) * 1000.0 / r.fs
    return {"record": rec, "method": method, "lead": lead, "fs": r.fs, "reference": int(ref.size),
            "detected": int(det.size), **m.counts(),
            "offset_ms_median": round(float(np.median(off_ms)), 2) if off_ms.size else None,
            "offset_ms_p95": round(float(np.percentile(off_ms, 95)), 2) if off_ms.size else None,
            "seconds": round(seconds, 2)}


def total(rows: list[dict]) -> dict:
    tp, fn, fp = (sum(r[k] for r in rows) for k in ("tp", "fn", "fp"))
    return {"record": "total", "method": rows[0]["method"], "lead": rows[0]["lead"],
            "records": len(rows), "reference": sum(r["reference"] for r in rows),
            "detected": sum(r["detected"] for r in rows), "tp": tp, "fn": fn, "fp": fp,
            "se": tp / (tp + fn) if tp + fn else 0.0, "ppv": tp / (tp + fp) if tp + fp else 0.0,
            "seconds": round(sum(r["seconds"] for r in rows), 2)}


def table(rows: list[dict]) -> str:
    lines = ["| record | beats | TP | FN | FP | Se | +P | offset median / p95 (ms) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        off = (f"{r['offset_ms_median']:.1f} / {r['offset_ms_p95']:.1f}"
               if r.get("offset_ms_median") is not None else "")
        name = f"**{r['record']}**" if r["record"] == "total" else r["record"]
        lines.append(f"| {name} | {r['reference']} | {r['tp']} | {r['fn']} | {r['fp']} | "
                     f"{100 * r['se']:.2f} % | {100 * r['ppv']:.2f} % | {off} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    from half.data.mitdb import DS2
    from half.data.qrs import METHODS

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--methods", nargs="+", default=["gqrs"], choices=METHODS)
    ap.add_argument("--records", nargs="+", default=[str(r) for r in DS2])
    ap.add_argument("--lead", default="MLII")
    ap.add_argument("--out", type=Path, default=RESULTS / "qrs.jsonl")
    ap.add_argument("--data-dir", type=Path, default=None)
    args = ap.parse_args(argv)
    from half.data import find_dataset
    from half.errors import HalfError

    try:
        folder = find_dataset("mitdb", args.data_dir).path
        base = commit()
        for method in args.methods:
            rows = []
            for rec in args.records:
                rows.append(one_record(folder, rec, args.lead, method))
                print(f"{method} {rec}: Se {rows[-1]['se']:.4f} +P {rows[-1]['ppv']:.4f}",
                      file=sys.stderr, flush=True)
            rows.append(total(rows))
            args.out.parent.mkdir(parents=True, exist_ok=True)
            with args.out.open("a") as fh:
                for r in rows:
                    fh.write(json.dumps({**r, **base}) + "\n")
            print(f"\n{method} on {folder} (lead {args.lead}, tolerance 150 ms)\n")
            print(table(rows))
    except HalfError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
