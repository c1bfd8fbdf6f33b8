# SPDX-License-Identifier: Apache-2.0
"""How well does `half run`'s choice rule carry over to a validation fold it did not see?

    .venv/bin/python benchmarks/bench_choice_rule.py RUN_DIR ... [--out FILE]

For each cross-validated `half run` folder (its stages/reeval.json and stages/reference.json):
leave one validation fold out, apply `half.run.stages.choose` to the other folds' figures
under each rule (`mean`: the reference's mean metric as the floor; `paired`: reached on every
fold too, the default since this benchmark), and compare the chosen design with the reference on
the fold left out. Validation figures only: the test split is not read. One JSON line per
(run, rule, fold left out): the chosen design, whether it is the reference, its metric minus
the reference's on the held-out fold, its cost over the reference's.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from half.run.stages import choose, per_fold_metric


def _keep(runs: list[dict], folds: set[str]) -> list[dict]:
    return [r for r in runs if r.get("holdout") in folds]


def rows(run_dir: Path) -> list[dict]:
    reeval = json.loads((run_dir / "stages" / "reeval.json").read_text())["result"]
    ref = json.loads((run_dir / "stages" / "reference.json").read_text())["result"]
    folds = sorted({r["holdout"] for r in ref["runs"]})
    everyone = {c["arch_hash"]: c for c in reeval["candidates"]} | {ref["arch_hash"]: ref}
    out = []
    for held in folds:
        seen = set(folds) - {held}
        cands = [{**c, "runs": _keep(c["runs"], seen)} for c in reeval["candidates"]]
        ref_runs = _keep(ref["runs"], seen)
        metrics = [r["val_metric"] for r in ref_runs if r.get("val_metric") is not None]
        ref_seen = {**ref, "runs": ref_runs, "metric_mean": statistics.fmean(metrics)}
        for rule in ("mean", "paired"):
            # the mean rule: a reference without per-fold runs
            given = ref_seen if rule == "paired" else {**ref_seen, "runs": []}
            res = choose(cands, None, ref["metric"], ref["cost_name"], reference=given)
            chosen = res["chosen"]
            out.append({
                "run": run_dir.name, "rule": rule, "held_out": held,
                "chosen": chosen["arch_hash"], "is_reference": bool(chosen.get("reference")),
                "held_out_minus_reference": round(
                    per_fold_metric(everyone[chosen["arch_hash"]]["runs"])[held]
                    - per_fold_metric(ref["runs"])[held], 4),
                "cost_over_reference": round(chosen["cost"] / ref["cost"], 4),
            })
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, help="also append the JSON lines to this file")
    args = ap.parse_args()
    lines = [json.dumps(r) for d in args.runs for r in rows(d)]
    print("\n".join(lines))
    if args.out:
        with open(args.out, "a") as fh:
            fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
