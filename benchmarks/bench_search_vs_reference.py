# SPDX-License-Identifier: Apache-2.0
"""Does the search's chosen design dominate the hand-made preset? (issue 14, "What to show")

    .venv/bin/python benchmarks/bench_search_vs_reference.py --goal low-energy --device up5k \
        --budget 30m --seed 0 --run-dir /tmp/svr/low-energy-0 \
        --out benchmarks/results/search_vs_reference.jsonl [-- extra `half run` options]

Runs `half run` (its Python API, every stage: search, re-evaluation, reference, choice on
validation only, test, golden, build, verify, implement) and appends one JSON row to --out:
task, goal, device, seed, budget, the run's search settings, the chosen design's test metric and
cost, the reference's test metric and cost (the reference, default preset:tiny, trained as the
front designs were re-evaluated), and the shipped preset's own test metric and cost (its recipe,
folded for the same goal on the same device), with the issue's verdict against both:
dominates = metric >= the reference's and cost <= the reference's, and clearly better in one
(cost <= 0.8 x, or metric >= +0.02). The test split is read only by the run's `test` stage
and by the shipped preset's evaluation, after every choice is made.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

CLEARLY_CHEAPER = 0.8
CLEARLY_BETTER = 0.02


def verdict(metric: float, cost: float, ref_metric: float, ref_cost: float) -> dict:
    """The issue's dominance test of (metric, cost) against the reference's."""
    cheaper = cost <= CLEARLY_CHEAPER * ref_cost
    better = metric >= ref_metric + CLEARLY_BETTER
    dominates = metric >= ref_metric and cost <= ref_cost and (cheaper or better)
    return {"dominates": dominates, "metric_delta": round(metric - ref_metric, 4),
            "cost_ratio": round(cost / ref_cost, 4) if ref_cost else None,
            "clearly_cheaper": cheaper, "clearly_better": better}


def shipped(preset: str, task: str, goal: str, device: str) -> dict:
    """The shipped preset's test metric (`half eval`) and its cost folded for the goal."""
    from half.hw.folding import required_rate
    from half.hw.goal import get_goal
    from half.hw.plan import graph_for, plan

    out = subprocess.run([str(Path(sys.executable).with_name("half")), "eval", "--model", preset,
                          "--task", task, "--split", "test", "--json"], check=True,
                         capture_output=True, text=True).stdout
    res = json.loads(out)
    graph, params = graph_for(preset, task)
    cost = get_goal(goal).cost(plan(graph, device, goal, required_rate(task, params)))
    return {"spec": preset, "test": {k: res[k] for k in ("macro_f1", "f1_nao", "accuracy")
                                     if k in res}, "cost": cost}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="mitdb-aami")
    ap.add_argument("--goal", default="low-energy")
    ap.add_argument("--device", default="up5k")
    ap.add_argument("--budget", default="30m")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reference", default="preset:tiny")
    ap.add_argument("--run-dir", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("extra", nargs="*", help="further `half run` options (after --)")
    args = ap.parse_args(argv)
    cmd = [str(Path(sys.executable).with_name("half")), "run", "--task", args.task, "--goal",
           args.goal, "--device", args.device, "--budget", args.budget, "--seed", str(args.seed),
           "--reference", args.reference, "-o", args.run_dir, *args.extra]
    print(" ".join(cmd), flush=True)
    t0 = time.perf_counter()
    rc = subprocess.run(cmd).returncode
    wall = time.perf_counter() - t0
    run = json.loads((Path(args.run_dir) / "run.json").read_text())
    ref = run.get("reference") or {}
    metric = ref.get("metric") or run["choice"]["metric"]
    chosen = ref.get("chosen") or {}
    row = {"task": args.task, "goal": args.goal, "device": args.device, "seed": args.seed,
           "budget": args.budget, "command": " ".join(cmd[1:]), "rc": rc, "ok": run.get("ok"),
           "wall_s": round(wall, 1), "cores": os.cpu_count(), "load": os.getloadavg(),
           "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                    text=True).stdout.strip(),
           "search": {**{k: run.get("search", {}).get(k) for k in
                         ("trials_done", "feasible", "seconds_used")},
                      "front_size": len(run.get("search", {}).get("front") or [])},
           "front": [{"arch_hash": c["arch_hash"], "validation": c.get("metric_mean"),
                      "validation_std": c.get("metric_std"), "cost": c.get("cost"),
                      "meets_floor": c.get("meets_floor"),
                      "per_fold": c.get("per_fold"), "origin": c.get("origin"),
                      "move": c.get("move")}
                     for c in run.get("choice", {}).get("candidates", [])],
           "settings": {k: run["settings"].get(k) for k in
                        ("fidelity", "epochs", "rungs", "sampler", "population",
                         "reeval_fidelity", "reeval_epochs", "reeval_seeds",
                         "reeval_folds", "refine", "fold_tolerance", "accuracy_floor")},
           # a run folder run again reuses its finished search: wall_s is then this call's
           "stage_seconds": {k: v.get("seconds") for k, v in run.get("stages", {}).items()},
           "stage_status": {k: v.get("status") for k, v in run.get("stages", {}).items()},
           "metric": metric, "cost_name": ref.get("cost_name"),
           "refinement": {k: (run.get("refinement") or {}).get(k)
                          for k in ("k", "share", "skipped", "neighbours")},
           "chosen": {"arch_hash": chosen.get("arch_hash"), "params": chosen.get("params"),
                      "origin": (run.get("choice") or {}).get("chosen", {}).get("origin"),
                      "validation": chosen.get("validation"),
                      "test": (chosen.get("test") or {}).get(metric), "cost": chosen.get("cost")},
           "reference": {"spec": ref.get("spec"), "validation": ref.get("validation"),
                         "test": (ref.get("test") or {}).get(metric), "cost": ref.get("cost"),
                         "how": ref.get("how")},
           "warnings": run.get("warnings")}
    arch = Path(args.run_dir) / "model" / "arch.json"
    if arch.is_file():  # the run folder may not outlive the session: keep the design
        row["chosen"]["arch"] = json.loads(arch.read_text())
    final = (run.get("choice") or {}).get("final") or {}
    for name in ("chosen", "reference"):  # after CV the tested models are final fits: their
        if final.get(name):                # cost is the one compared
            row[name]["cost_protocol_mean"] = row[name]["cost"]
            row[name]["cost"] = final[name]["cost"]
    c, r = row["chosen"], row["reference"]
    if None not in (c["test"], c["cost"], r["test"], r["cost"]):
        row["vs_reference"] = verdict(c["test"], c["cost"], r["test"], r["cost"])
    try:
        row["shipped"] = shipped(args.reference, args.task, args.goal, args.device)
        s = row["shipped"]
        if None not in (c["test"], c["cost"], s["test"].get(metric), s["cost"]):
            row["vs_shipped"] = verdict(c["test"], c["cost"], s["test"][metric], s["cost"])
    except Exception as exc:  # the row still counts without it
        row["shipped_error"] = f"{type(exc).__name__}: {exc}"
    with open(args.out, "a") as f:
        f.write(json.dumps(row) + "\n")
    print(json.dumps(row, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
