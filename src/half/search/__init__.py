# SPDX-License-Identifier: Apache-2.0
"""Search: Optuna NSGA-II over the model space with the hardware folded for a goal inside each
evaluation; candidates run in local worker processes or as Ray tasks.

    from half.search import SearchSpec, run_search
    summary = run_search(SearchSpec(task="mitdb-aami", goal="low-energy", device="up5k"),
                         "out/search", time_budget_s=1800)

Modules: `evaluate` (one candidate: objectives and constraints), `study` (the Optuna study,
resume, budget, the random baseline, re-evaluation of the front), `seeds` (warm start: presets
and the user's architectures as the first trials), `refine` (the reference's cheaper one-step
neighbours, which `half run` re-evaluates beside the front), `executors` (thread,
processes, Ray), `pareto` (fronts and hypervolumes), `cli` (the `half search` command).
"""

from half.search.evaluate import Evaluator, SearchSpec, evaluate_genome
from half.search.pareto import compare, hypervolume, pareto_front
from half.search.study import (
    ResultStore,
    Search,
    parse_budget,
    reevaluate,
    run_random_search,
    run_search,
)

__all__ = ["Evaluator", "ResultStore", "Search", "SearchSpec", "compare", "evaluate_genome",
           "hypervolume", "parse_budget", "pareto_front", "reevaluate", "run_random_search",
           "run_search"]
