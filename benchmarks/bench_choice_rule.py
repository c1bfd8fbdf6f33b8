# SPDX-License-Identifier: Apache-2.0
"""How well does `half run`'s choice rule carry over to a validation fold it did not see?

    .venv/bin/python benchmarks/bench_choice_rule.py RUN_DIR ... [--tolerance T ...] [--out FILE]

For each cross-validated `half run` folder (its stages/reeval.json, stages/reference.json and,
where the run had one, stages/refine.json): leave one validation fold out, apply
`half.run.stages.choose` to the other folds' figures under each rule (`mean`: the reference's
mean metric as the floor; `paired@T`: that mean, and every fold at least the reference's
minus T, `--tolerance`, repeatable), and compare the chosen design with the reference on the
fold left out. Validation figures only: the test split is not read. One JSON line per
(run, rule, fold left out): the chosen design, whether it is the reference, its metric minus
the reference's on the held-out fold, its cost over the reference's; and one per (run, rule)
with the design the rule picks on every fold (`held_out`: null).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from half.run.stages import choose, per_fold_metric


def _keep(runs: list[dict], folds: set[str]) -> list[dict]:
    return [r for r in runs if r.get("holdout") in folds]


def _choose(cands: list[dict], ref: dict, folds: set[str], rule: str) -> dict:
    """`choose` on the figures of `folds` only, under `rule` (mean, or paired@T)."""
    ref_runs = _keep(ref["runs"], folds)
    metrics = [r["val_metric"] for r in ref_runs if r.get("val_metric") is not None]
    given = {**ref, "runs": ref_runs, "metric_mean": statistics.fmean(metrics)}
    tolerance = 0.0
    if rule == "mean":  # a reference without per-fold runs
        given["runs"] = []
    else:
        tolerance = float(rule.split("@")[1])
    seen = [{**c, "runs": _keep(c["runs"], folds)} for c in cands]
    return choose(seen, None, ref["metric"], ref["cost_name"], reference=given,
                  fold_tolerance=tolerance)["chosen"]


def rows(run_dir: Path, tolerances: list[float]) -> list[dict]:
    stages = run_dir / "stages"
    ref = json.loads((stages / "reference.json").read_text())["result"]
    cands = json.loads((stages / "reeval.json").read_text())["result"]["candidates"]
    if (stages / "refine.json").is_file():
        refine = json.loads((stages / "refine.json").read_text())["result"] or {}
        cands = cands + refine.get("candidates", [])  # none when the stage failed or skipped
    folds = sorted({r["holdout"] for r in ref["runs"]})
    everyone = {c["arch_hash"]: c for c in cands} | {ref["arch_hash"]: ref}
    ref_folds = per_fold_metric(ref["runs"])
    out = []
    for rule in ["mean"] + [f"paired@{t:g}" for t in tolerances]:
        for held in [*folds, None]:
            chosen = _choose(cands, ref, set(folds) - {held}, rule)
            mine = per_fold_metric(everyone[chosen["arch_hash"]]["runs"])
            out.append({
                "run": run_dir.name, "rule": rule, "held_out": held,
                "chosen": chosen["arch_hash"], "is_reference": bool(chosen.get("reference")),
                "origin": chosen.get("origin"), "move": chosen.get("move"),
                "held_out_minus_reference": None if held is None
                else round(mine[held] - ref_folds[held], 4),
                "cost_over_reference": round(chosen["cost"] / ref["cost"], 4),
            })
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--tolerance", type=float, action="append",
                    help="a paired rule's per-fold tolerance (repeatable; default 0 and 0.005)")
    ap.add_argument("--out", type=Path, help="also append the JSON lines to this file")
    args = ap.parse_args()
    tolerances = args.tolerance or [0.0, 0.005]
    lines = [json.dumps(r) for d in args.runs for r in rows(d, tolerances)]
    print("\n".join(lines))
    if args.out:
        with open(args.out, "a") as fh:
            fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
