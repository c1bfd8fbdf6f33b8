# SPDX-License-Identifier: Apache-2.0
"""How much of a `half run` verdict is training-seed noise? (issue 14, "What to show"). A run
decides "dominates" on one final fit of the chosen design and one of the reference. This trains
both again at other seeds, with the same final-fit protocol (every train and val record, the
re-evaluation's epochs and fidelity, `half.search.study.final_spec`), and evaluates every fit
on the test split: the spread of each design's test metric over seeds, and of the difference.

    .venv/bin/python benchmarks/final_fit_seeds.py RUN [RUN ...] --seeds 3 4 5 \
        [--out benchmarks/results/final_fit_seeds.jsonl] [--workers 2]

RUN is a finished `half run` folder with a cross-validated choice (run.json's choice.final).
The fits go into the run's own result store (RUN/search), so a seed the run trained is read
back, not trained again (the run's own seed is spec.seed + 1; list it to get its figures in
the table). Nothing is chosen here: the test split is only reported, after the run made its
choice. One JSON row per (run, design, seed) is appended to --out as it is evaluated.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def fits(run: Path, seeds: list[int], workers: int, data_dir: Path | None = None
         ) -> list[dict]:
    from half.nn.arch import load_arch
    from half.nn.runs import eval_run
    from half.nn.space import Space
    from half.search.evaluate import SearchSpec
    from half.search.study import ResultStore, final_spec, train_all

    info = json.loads((run / "run.json").read_text())
    final = (info.get("choice") or {}).get("final")
    if not final or "reference" not in final:
        sys.exit(f"error: {run}/run.json: no final fits of a chosen design and a reference "
                 "(a cross-validated run with --reference is needed)")
    p = info["settings"]
    spec = final_spec(SearchSpec.from_dict(info["search_spec"]).resolved(),
                      p.get("reeval_fidelity") or 1.0, final["epochs"])
    # as the run trained them (half.run.stages._final_fits): the chosen design under the
    # run's spec, the reference without the hardware pre-check; one fit when they are one
    same = final["chosen"]["arch_hash"] == final["reference"]["arch_hash"]
    pre = {"chosen": "off" if (info["choice"].get("chosen") or {}).get("reference") or same
           else spec.precheck, "reference": "off"}
    if dataclasses.replace(spec, seed=final["chosen"]["seed"],
                           precheck=pre["chosen"]).key() != final["spec_key"]:
        sys.exit(f"error: {run}/run.json: the final-fit spec rebuilt here does not match the "
                 f"run's (spec_key {final['spec_key']}): the code or a recipe changed since")
    task = spec.task
    designs = {name: load_arch(Path(final[name]["run_dir"]) / "arch.json")
               for name in ("chosen", "reference")}
    jobs, keys = [], []
    for s in seeds:
        for name, arch in designs.items():
            if not (same and name == "reference"):
                jobs.append((dataclasses.replace(spec, seed=s, precheck=pre[name]), arch,
                             arch.arch_hash()))
            keys.append((name, s, len(jobs) - 1))
    t0 = time.perf_counter()
    recs = train_all(ResultStore(run / "search"), jobs, workers=workers,
                     threads=spec.threads, data_dir=data_dir, space=Space())
    train_s = time.perf_counter() - t0
    test = info.get("test") or {}
    key = info["choice"]["metric"]  # the metric the run chose and tested on
    rows = []
    for name, s, i in keys:
        rec = recs[i]
        if not rec.get("run_dir"):
            sys.exit(f"error: {run}: the {name} design's fit at seed {s} was not trained "
                     f"({rec.get('status')}: {rec.get('reason')})")
        res = eval_run(rec["run_dir"], task, "test", data_dir)
        rows.append({"run": str(run), "task": task, "goal": spec.goal, "design": name,
                     "arch_hash": rec["arch_hash"], "seed": s, "metric": key,
                     "test": res[key], "cost": rec.get("cost"),
                     "run_test": (test if name == "chosen" else
                                  test.get("reference") or {}).get(key),
                     "run_seed": final[name]["seed"], "train_s_all": round(train_s, 1)})
    return rows


def summary(rows: list[dict]) -> dict:
    by = {n: {r["seed"]: r["test"] for r in rows if r["design"] == n}
          for n in ("chosen", "reference")}
    seeds = sorted(set(by["chosen"]) & set(by["reference"]))
    diff = [by["chosen"][s] - by["reference"][s] for s in seeds]

    def ms(v):
        return [round(statistics.mean(v), 4), round(statistics.stdev(v), 4) if len(v) > 1 else 0]

    return {"seeds": seeds, "chosen mean, sd": ms([by["chosen"][s] for s in seeds]),
            "reference mean, sd": ms([by["reference"][s] for s in seeds]),
            "chosen - reference per seed": [round(d, 4) for d in diff],
            "difference mean, sd": ms(diff)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--seeds", nargs="+", type=int, required=True)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=RESULTS / "final_fit_seeds.jsonl")
    ap.add_argument("--data-dir", type=Path, default=None,
                    help="the data folder the runs used (default: half's own)")
    a = ap.parse_args(argv)
    for run in a.runs:
        rows = fits(run, a.seeds, a.workers, a.data_dir)
        with a.out.open("a") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")
        print(run, json.dumps(summary(rows)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
