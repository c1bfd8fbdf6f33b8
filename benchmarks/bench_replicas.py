# SPDX-License-Identifier: Apache-2.0
"""Fuzz replicated pipelines (issue 18): random architectures x random legal foldings with
R > 1 replicas, each built and verified against the golden model with Verilator.

    .venv/bin/python benchmarks/bench_replicas.py [--n 20] [--windows 24] [--seed 0] [--jobs 2]

Design i: architecture i of the model-space sampler (`bench_verify._random_model`: both tasks
in turn, trained 1 epoch on 5 % of the training windows: real weights and quantization scales),
a random legal (PE, SIMD) per MAC layer and R drawn from 2 .. MAX_REPLICAS (the folder's
ceiling), built for ecp5-85k (the folding as given: a design need not fit to verify) and
verified on `--windows` test windows (window w on lane w mod R; random input idles 20 % and
output back-pressure 30 % after each lane's first three windows). One JSON line per design,
appended to benchmarks/results/replicas_fuzz.jsonl (`--out`): mismatches over all lanes, each
lane's latency and II measured beside the model's, lint. Faults: a mismatch, a lane whose
cycles or II differ from the model's, lint warnings, an error. Run by hand, not in CI.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_verify's helpers

from bench_verify import _random_model, arch_extra, random_folding  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "replicas_fuzz.jsonl"


def _case(args: tuple[int, int, int]) -> dict:
    """Design i: a random architecture, folding and replica count, built and verified."""
    from half.flow.verify import verify
    from half.hw.folding import MAX_REPLICAS
    from half.rtl.build import build

    i, seed, windows = args
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        run, task, graph, arch, rng = _random_model(i, seed, Path(tmp))
        folding = random_folding(graph, rng, replicas=int(rng.integers(2, MAX_REPLICAS + 1)))
        b = build(str(run), task, "ecp5-85k", "high-throughput", Path(tmp) / "p",
                  folding=folding)
        v = verify(Path(tmp) / "p", max(windows, 2 * folding.replicas))
    return {**arch_extra(i, arch), "seed": seed, "task": task, "device": "ecp5-85k",
            "replicas": folding.replicas, "folding": b["folding"], "windows": v["windows"],
            "mismatches": v["mismatches"], "first_mismatch_layer": v["first_mismatch_layer"],
            "cycles_model": v["cycles_model"], "cycles_measured_lanes":
            v["cycles_measured_lanes"], "ii_model": v["ii_model"],
            "ii_measured_lanes": v["ii_measured_lanes"], "err_framing": v["err_framing"],
            "lint_clean": v["lint_clean"], **({} if v["lint_clean"] else {"lint": v["lint"]}),
            "seconds": round(time.perf_counter() - t0, 1)}


def faults(row: dict) -> int:
    """What is wrong with a row: mismatches, lanes off the model's cycles or II, lint."""
    if "error" in row:
        return 1
    return (row["mismatches"] + sum(c != row["cycles_model"] for c in row["cycles_measured_lanes"])
            + sum(ii != row["ii_model"] for ii in row["ii_measured_lanes"])
            + (not row["lint_clean"]) + bool(row["err_framing"]))


def _guarded(item: tuple[int, int, int]) -> dict:
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
    ap.add_argument("--out", type=Path, default=OUT, help="JSON lines appended here")
    args = ap.parse_args()
    items = [(i, args.seed, args.windows) for i in range(args.first, args.first + args.n)]
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
