# SPDX-License-Identifier: Apache-2.0
"""How high can the sampler bench's hypervolume go? (issue 14, "Search efficiency at equal wall
time"). The bench scores a front by the hypervolume of (mean CV error, log10 energy*) against
one reference point, so no front can beat (1 - best error) x (reference log cost - log10 of
the cheapest design). This script measures both ends:

    .venv/bin/python benchmarks/hv_ceiling.py /work/runs/bench-wall \
        [--results benchmarks/results/search_wall.jsonl] [--draws 20000] [--cheapest 40]

1. The cheapest designs of the search space: `--draws` random genomes (seed 0) that pass the
   search's static checks, the `--cheapest` smallest by MACs x weight bits folded untrained for
   the bench's goal on its device, exactly as the search's export pre-check does (the cost
   model's estimate, which is the bench's cost axis); plus every feasible trial of the bench's
   searches (their cost at the search, after training) and every scored point (its cost
   re-trained).
2. The most accurate feasible design the bench re-evaluated (its `hv` rows' points, every
   front design of every search, trained at the reference protocol).
3. The ceiling = (1 - that error) x (the reference point's log cost - log10 of the cheapest
   cost seen), against the bar (1.2 x random search's mean hypervolume).

It reads the bench folder's search.json files and studies; it never trains and never reads the
test split. Output: a JSON row on stdout (and --out FILE, appended).
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import statistics
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def trial_costs(bench: Path) -> list[tuple[float, str]]:
    """(cost, where) of every trial of the bench's searches that has a cost."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    out = []
    for db in sorted(glob.glob(str(bench / "seed*" / "*" / "study.db"))):
        storage = optuna.storages.RDBStorage(f"sqlite:///{db}")
        for summary in optuna.get_all_study_summaries(storage):
            study = optuna.load_study(study_name=summary.study_name, storage=storage)
            for t in study.trials:
                cost = t.user_attrs.get("cost")
                if cost and t.user_attrs.get("status") == "ok":  # feasible: fits, fast enough
                    out.append((float(cost), f"{Path(db).parent.relative_to(bench)}#{t.number}"))
    return out


def cheapest_in_space(spec_dict: dict, draws: int, keep: int) -> list[dict]:
    """The `keep` smallest valid draws (by MACs x weight bits), folded untrained."""
    import numpy as np

    from half.errors import HalfError
    from half.nn.space import Space
    from half.search.evaluate import (
        SearchSpec,
        decode,
        hardware_of,
        search_data,
        static_check,
        untrained_graph,
        weight_bits,
    )

    spec = SearchSpec.from_dict(spec_dict)
    space = Space()
    rng = np.random.default_rng(0)
    seen, cands = set(), []
    for _ in range(draws):
        genome = space.random_genome(rng)
        if static_check(spec, genome, space) is not None:
            continue
        arch = decode(spec, genome, space)
        h = arch.arch_hash()
        if h not in seen:
            seen.add(h)
            cands.append((max(1, arch.macs()) * weight_bits(arch), h, arch))
    cands.sort(key=lambda c: (c[0], c[1]))
    data = search_data(spec.task, spec.task_params)
    out = []
    for i, (_size, h, arch) in enumerate(cands[:keep]):
        try:
            hw = hardware_of(untrained_graph(arch, data, spec), spec)
        except HalfError:  # unbuildable, as the search's pre-check would say
            continue
        out.append({"arch_hash": h, "macs": arch.macs(), "weight_bits": weight_bits(arch),
                    "cost": hw["cost"], "fits": hw["fits"] <= 0 and hw["rate"] <= 0})
        print(f"  [{i + 1}/{keep}] {h} MACs {arch.macs()} cost {hw['cost']}", file=sys.stderr)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("bench", type=Path, help="the bench_search_wall.py --out folder")
    ap.add_argument("--results", type=Path, default=RESULTS / "search_wall.jsonl")
    ap.add_argument("--draws", type=int, default=20000)
    ap.add_argument("--cheapest", type=int, default=40)
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args(argv)

    rows = [json.loads(x) for x in a.results.read_text().splitlines() if x.strip()]
    hv = [r for r in rows if r["kind"] == "hv"]
    if not hv:
        sys.exit(f"error: {a.results}: no hypervolume rows")
    ref = hv[0]["reference_point"]
    random_mean = statistics.mean(r["hypervolume"] for r in hv if r["sampler"] == "random")
    points = [p for r in hv for p in r["points"] if p["feasible"]]
    best = min(points, key=lambda p: p["error"])
    spec = json.loads(next(iter(sorted(a.bench.glob("seed*/random/search.json")))).read_text())
    space = cheapest_in_space(spec["spec"], a.draws, a.cheapest)
    trials = trial_costs(a.bench)
    fitting = [s for s in space if s["fits"] and s["cost"]]
    cheapest = min([c for c, _ in trials] + [s["cost"] for s in fitting]
                   + [p["cost"] for p in points])  # the points: re-trained costs
    ceiling = (ref[0] - best["error"]) * (ref[1] - math.log10(cheapest))
    row = {"kind": "hv-ceiling", "bench": str(a.bench), "reference_point": ref,
           "best_reeval_error": best["error"], "best_reeval_arch": best["arch_hash"],
           "best_reeval_cost": best["cost"],
           "cheapest_trial_cost": min(c for c, _ in trials), "trials_costed": len(trials),
           "cheapest_point_cost": min(p["cost"] for p in points),
           "cheapest_space_cost": min((s["cost"] for s in fitting), default=None),
           "space_draws": a.draws, "space_folded": len(space), "space_fitting": len(fitting),
           "ceiling": ceiling, "random_mean": random_mean, "bar": 1.2 * random_mean,
           "ceiling_over_random": ceiling / random_mean,
           "best_per_sampler": {s: max(r["hypervolume"] for r in hv if r["sampler"] == s)
                                for s in sorted({r["sampler"] for r in hv})}}
    print(json.dumps(row, indent=1))
    if a.out:
        with a.out.open("a") as f:
            f.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
