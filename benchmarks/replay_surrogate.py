# SPDX-License-Identifier: Apache-2.0
"""Replay every proposal of finished surrogate searches with the current code: for each trial
the surrogate proposed, `surrogate_pick` is run again on the trials before it and must give the
same genome. A search measured with an earlier commit still stands for the current code when
this prints 0 mismatches (no training; seconds). Then, over every folder: how well the
proposals' predictions held (Spearman rho and mean absolute error of the error and of the log10
cost, over the proposals that trained and fit) and how many did not fit.

    .venv/bin/python benchmarks/replay_surrogate.py OUT/seed0/surrogate [...] [--workers 1]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _open(folder: Path):
    """(the search's resolved SearchSpec, its Optuna study)."""
    import optuna

    from half.search.evaluate import SearchSpec

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    summary = json.loads((folder / "search.json").read_text())
    return (SearchSpec.from_dict(summary["spec"]).resolved(),
            optuna.load_study(study_name=summary["study"],
                              storage=f"sqlite:///{folder / 'study.db'}"))


def outcomes(study) -> list[dict]:
    """Every proposed trial: its prediction beside what it measured."""
    return [{**t.user_attrs["proposed"], "status": t.user_attrs.get("status"),
             "val_metric": t.user_attrs.get("val_metric"), "cost": t.user_attrs.get("cost")}
            for t in _proposed(study)]


def _proposed(study) -> list:
    """The trials the surrogate proposed: not a queued or retried copy of one (those carry the
    failed trial's attributes)."""
    from optuna.trial import TrialState

    return [t for t in study.get_trials(deepcopy=False)
            if t.user_attrs.get("proposed") and t.state != TrialState.WAITING
            and "failed_trial" not in t.system_attrs]


def agreement(rows: list[dict]) -> dict:
    import math

    import numpy as np
    from scipy.stats import spearmanr

    ok = [r for r in rows if r["status"] == "ok"]
    out = {"proposals": len(rows), "fit and trained": len(ok),
           "not ok": {s: sum(r["status"] == s for r in rows)
                      for s in sorted({r["status"] for r in rows} - {"ok"}, key=str)}}
    if len(ok) >= 3:
        pe = np.array([r["predicted_error"] for r in ok])
        me = np.array([1 - r["val_metric"] for r in ok])
        pc = np.array([math.log10(r["predicted_cost"]) for r in ok])
        mc = np.array([math.log10(r["cost"]) for r in ok])
        out["error rho, MAE"] = [round(float(spearmanr(pe, me)[0]), 3),
                                 round(float(np.abs(pe - me).mean()), 3)]
        out["log10 cost rho, MAE"] = [round(float(spearmanr(pc, mc)[0]), 3),
                                      round(float(np.abs(pc - mc).mean()), 3)]
    return out


def replay(spec, study, workers: int) -> tuple[int, list[int]]:
    from half.nn.space import Space
    from half.search.study import surrogate_pick

    trials = study.get_trials(deepcopy=False)
    space = Space()
    names = [n for n, _ in space.genes()]
    same, differ = 0, []
    for t in _proposed(study):
        again = surrogate_pick(spec, space, trials[:t.number],
                               t.user_attrs["proposed"].get("workers", workers))
        if again is not None and again["genome"] == [t.params[n] for n in names]:
            same += 1
        else:
            differ.append(t.number)
    return same, differ


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="+", type=Path)
    ap.add_argument("--workers", type=int, default=1,
                    help="the searches' worker count where a proposal does not record it")
    args = ap.parse_args(argv)
    bad, rows = 0, []
    for folder in args.folders:
        spec, study = _open(folder)
        rows += outcomes(study)
        same, differ = replay(spec, study, args.workers)
        bad += len(differ)
        print(f"{folder}: {same} proposals replayed, {len(differ)} differ"
              + (f" (trials {differ})" if differ else ""))
    print("predictions against measurements:", json.dumps(agreement(rows)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
