# SPDX-License-Identifier: Apache-2.0
"""Fuzz replicated pipelines and wide input beats (issue 18): random architectures x random
legal foldings with R > 1 replicas (or, with --beats, N > 1 input samples per beat and R drawn
from 1 .. MAX_REPLICAS), each built and verified against the golden model with Verilator.

    .venv/bin/python benchmarks/bench_replicas.py [--n 20] [--windows 24] [--seed 0] [--jobs 2]
    .venv/bin/python benchmarks/bench_replicas.py --beats [--n 20] ...

Design i: architecture i of the model-space sampler (`bench_verify._random_model`: both tasks
in turn, trained 1 epoch on 5 % of the training windows: real weights and quantization scales),
a random legal (PE, SIMD) per MAC layer and R drawn from 2 .. MAX_REPLICAS (the folder's
ceiling), built for ecp5-85k (the folding as given: a design need not fit to verify) and
verified on `--windows` test windows (window w on lane w mod R; random input idles 20 % and
output back-pressure 30 % after each lane's first three windows). One JSON line per design,
appended to benchmarks/results/replicas_fuzz.jsonl (`--out`): mismatches over all lanes, each
lane's latency and II measured beside the model's, lint. Faults: a mismatch, a lane whose
cycles or II differ from the model's, lint warnings, an error. Run by hand, not in CI.

--beats: the architecture's decimation is drawn from 2 .. 4 (N > 1 needs one), N from its legal
values above 1 (`half.hw.design.beat_options`), R from 1 .. MAX_REPLICAS; the (PE, SIMD) are
random, or (every other design, where one exists) the balanced folding whose II is the input's,
window / N (`fold_for_ii`), so that the wide input is what bounds the II measured. Rows go to
benchmarks/results/input_beats_fuzz.jsonl.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_verify's helpers

from bench_verify import _random_model, arch_extra, random_folding  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "replicas_fuzz.jsonl"
OUT_BEATS = OUT.parent / "input_beats_fuzz.jsonl"


def _folding(graph, rng, beats: bool):
    """The design's folding: replicas R >= 2; with `beats`, N > 1 samples per beat and R >= 1
    (module docstring)."""
    from half.hw.design import beat_options
    from half.hw.folding import MAX_REPLICAS, fold_for_ii

    if not beats:
        return random_folding(graph, rng, replicas=int(rng.integers(2, MAX_REPLICAS + 1)))
    n = int(rng.choice(beat_options(graph)[1:]))
    r = int(rng.integers(1, MAX_REPLICAS + 1))
    folding = random_folding(graph, rng, replicas=r, samples_per_beat=n)
    if rng.random() < 0.5:  # the balanced design at the input's II, where there is one
        balanced = fold_for_ii(graph, graph.input.length // n, 12.0, n)
        if balanced is not None:
            folding = dataclasses.replace(balanced, replicas=r)
    return folding


def _case(args: tuple[int, int, int, bool]) -> dict:
    """Design i: a random architecture, folding and replica count, built and verified."""
    from half.flow.verify import verify
    from half.rtl.build import build

    i, seed, windows, beats = args
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        run, task, graph, arch, rng = _random_model(i, seed, Path(tmp),
                                                    (2, 3, 4) if beats else None)
        folding = _folding(graph, rng, beats)
        b = build(str(run), task, "ecp5-85k", "high-throughput", Path(tmp) / "p",
                  folding=folding)
        v = verify(Path(tmp) / "p", max(windows, 2 * folding.replicas))
    return {**arch_extra(i, arch), "seed": seed, "task": task, "device": "ecp5-85k",
            "replicas": folding.replicas, "samples_per_beat": folding.samples_per_beat,
            "folding": b["folding"], "windows": v["windows"],
            "mismatches": v["mismatches"], "first_mismatch_layer": v["first_mismatch_layer"],
            "cycles_model": v["cycles_model"],  # one lane (R = 1): its figures as a list
            "cycles_measured_lanes": v.get("cycles_measured_lanes", [v["cycles_measured"]]),
            "ii_model": v["ii_model"],
            "ii_measured_lanes": v.get("ii_measured_lanes", [v["ii_measured"]]),
            "err_framing": v["err_framing"],
            "lint_clean": v["lint_clean"], **({} if v["lint_clean"] else {"lint": v["lint"]}),
            "seconds": round(time.perf_counter() - t0, 1)}


def faults(row: dict) -> int:
    """What is wrong with a row: mismatches, lanes off the model's cycles or II, lint."""
    if "error" in row:
        return 1
    return (row["mismatches"] + sum(c != row["cycles_model"] for c in row["cycles_measured_lanes"])
            + sum(ii != row["ii_model"] for ii in row["ii_measured_lanes"])
            + (not row["lint_clean"]) + bool(row["err_framing"]))


def _guarded(item: tuple[int, int, int, bool]) -> dict:
    try:
        return _case(item)
    except Exception as exc:  # noqa: BLE001 - a benchmark reports every failure and goes on
        return {"random": item[0], "seed": item[1], "error": f"{type(exc).__name__}: {exc}"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20, help="designs (default 20)")
    ap.add_argument("--first", type=int, default=0, help="index of the first design")
    ap.add_argument("--windows", type=int, default=24, help="test windows per design (at "
                    "least 2 per lane)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--beats", action="store_true", help="N > 1 input samples per beat (R "
                    "from 1): rows to input_beats_fuzz.jsonl unless --out")
    ap.add_argument("--out", type=Path, default=None, help="JSON lines appended here")
    args = ap.parse_args()
    args.out = args.out or (OUT_BEATS if args.beats else OUT)
    items = [(i, args.seed, args.windows, args.beats)
             for i in range(args.first, args.first + args.n)]
    bad = 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(args.jobs) as pool:
        for row in pool.map(_guarded, items):
            bad += faults(row)
            line = json.dumps(row)
            print(line, flush=True)
            with args.out.open("a") as f:
                f.write(line + "\n")
    print(f"{len(items)} designs, {bad} faults (mismatches, lane cycle/II differences, lint, "
          "errors)")
    raise SystemExit(1 if bad else 0)


if __name__ == "__main__":
    main()
