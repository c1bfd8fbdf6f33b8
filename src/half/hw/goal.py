# SPDX-License-Identifier: Apache-2.0
"""Design goals: what the folder minimizes and what the search counts as the hardware cost.

One `Goal` per design goal, in `GOALS` (the one place a goal is described): its name (the CLI
and JSON spelling), the search's cost objective and its unit, whether it needs a required
inference rate, the folder's score of a design (`half.hw.folding.fold` keeps the least) and the
cost read back from a plan (`half.hw.plan.plan`, `Estimate.to_dict`). Every figure is an
estimate of the cost model.

    goal = get_goal("low-energy")
    folding, est, _ = fold(graph, dev, goal, rate)
    goal.score(est, rate), goal.cost(plan(graph, "up5k", goal, rate))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from half.errors import ConfigError

if TYPE_CHECKING:
    from half.hw.cost import Estimate


@dataclass(frozen=True)
class Goal:
    """A design goal; `score` and `cost` are minimized."""

    name: str  # "low-energy" ...: CLI choice, `goal` in JSON, part of a search study's name
    cost_name: str  # the search's cost objective (Optuna metric name, `cost_name` in JSON)
    cost_unit: str  # unit of the cost in reports (`cost_unit` in run.json)
    description: str  # one line for help texts
    needs_rate: bool  # designs must meet a required inference rate (the folder needs one)
    fastest_clock: bool  # the folder runs each design at the fastest clock its fmax allows,
    #                      instead of trying every clock of the grid (a faster clock always wins)
    energy_descent: bool  # the folder also tries the greedy energy descent at every clock
    score: Callable[[Estimate, float | None], float] = field(repr=False, compare=False)
    #      (estimate, required rate) -> what the folder minimizes
    cost: Callable[[dict], float] = field(repr=False, compare=False)
    #     a plan dict (half.hw.plan.report) -> the search's cost (in cost_unit)
    replicate: bool = False  # the folder also tries replicas of each design (R pipelines side
    #                          by side, `Folding.replicas`); else one pipeline
    pipeline: bool = False  # the folder also tries each design with partial sums before the
    #                         accumulators (`Folding.psums`: a shorter MAC path, a faster fmax)
    wide_input: bool = False  # the folder also tries N > 1 input samples per beat
    #                           (`Folding.samples_per_beat`: II down to window / N)


HIGH_THROUGHPUT = Goal(
    name="high-throughput", cost_name="seconds_per_inference", cost_unit="s",
    description="most inferences/s, back to back, at the fastest clock the design closes at",
    needs_rate=False, fastest_clock=True, energy_descent=False,
    score=lambda est, rate: -est.throughput,
    cost=lambda plan: 1.0 / plan["throughput_per_s"], replicate=True, pipeline=True,
    wide_input=True)
LOW_POWER = Goal(
    name="low-power", cost_name="power_mw", cost_unit="mW",
    description="least average power at the required rate, device always on",
    needs_rate=True, fastest_clock=False, energy_descent=False,
    score=lambda est, rate: est.power_mw(rate),
    cost=lambda plan: plan["power_estimate_mw"]["average_at_rate"])
LOW_ENERGY = Goal(
    name="low-energy", cost_name="energy_uj", cost_unit="µJ",
    description="least energy per inference on a duty-cycled device (wake, classify, sleep)",
    needs_rate=True, fastest_clock=False, energy_descent=True,
    score=lambda est, rate: est.energy_uj(),
    cost=lambda plan: plan["energy_estimate_uj"])

GOALS: dict[str, Goal] = {g.name: g for g in (HIGH_THROUGHPUT, LOW_POWER, LOW_ENERGY)}
DEFAULT_GOAL = LOW_ENERGY.name  # of the CLI commands and of SearchSpec / RunSettings


def get_goal(goal: str | Goal) -> Goal:
    """The Goal of a name (a Goal is returned as is); ConfigError for an unknown name."""
    if isinstance(goal, Goal):
        return goal
    if not isinstance(goal, str) or goal not in GOALS:
        raise ConfigError("goal", f"one of {', '.join(GOALS)}, not {goal!r}")
    return GOALS[goal]


__all__ = ["DEFAULT_GOAL", "GOALS", "HIGH_THROUGHPUT", "LOW_ENERGY", "LOW_POWER", "Goal",
           "get_goal"]
