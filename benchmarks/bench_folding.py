# SPDX-License-Identifier: Apache-2.0
"""Folding per goal vs FINN's SetFolding rule, and the cost model's speed.

    .venv/bin/python benchmarks/bench_folding.py [--devices up5k ecp5-85k] [--models ...]

For each model (default: every shipped preset of both tasks), device and goal, the goal's metric
of half's optimizer beside that of the published FINN SetFolding rule (per layer raise SIMD, then
PE, until the layer meets a target cycle count) used as FINN users do: a fixed clock (the
device's typical clock) and the target from a frames-per-second requirement —
  low-power / low-energy: the task's required real-time rate;
  high-throughput: the smallest target whose design still fits (swept).
All figures but cycles are estimates of the analytical cost model. Prints JSON lines, then the
mean time of one `estimate` call and of one `fold` call.
"""

from __future__ import annotations

import argparse
import json
import math
import time

from half.errors import ConfigError
from half.hw.cost import estimate
from half.hw.devices import get_device
from half.hw.folding import GOALS, _targets, fold, required_rate, set_folding
from half.hw.plan import graph_for
from half.hw.power import power_model
from half.nn.runs import list_presets


def metric(goal: str, est, rate: float) -> float:
    if goal == "high-throughput":
        return est.throughput
    return est.power_mw(rate) if goal == "low-power" else est.energy_uj()


def finn(graph, dev, goal: str, rate: float, pw):
    clock = float(dev.clock_typical_mhz or dev.clock_max_mhz)
    if goal != "high-throughput":
        f = set_folding(graph, math.floor(clock * 1e6 / rate), clock)
        est = estimate(graph, dev, f, pw)
        return est if est.fits(dev) and est.throughput >= rate else None
    best = None
    for target in _targets(graph):
        est = estimate(graph, dev, set_folding(graph, target, clock), pw)
        if not est.fits(dev):
            break
        best = est
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--devices", nargs="*", default=["up5k", "ecp5-85k"])
    ap.add_argument("--models", nargs="*", default=None, help="TASK:SPEC, e.g. mitdb-aami:RUN")
    args = ap.parse_args()
    models = [m.split(":", 1) for m in args.models] if args.models else [
        (t, f"preset:{n}") for t in ("mitdb-aami", "cinc2017-af") for n in list_presets(t)]
    t_est, t_fold, n_est, n_fold = 0.0, 0.0, 0, 0
    for task, spec in models:
        graph, params = graph_for(spec, task)
        rate = required_rate(task, params)
        for name in args.devices:
            dev = get_device(name)
            pw = power_model(dev)
            for goal in GOALS:
                t0 = time.perf_counter()
                try:
                    f, ours, _ = fold(graph, dev, goal, rate, pw)
                except ConfigError as exc:  # e.g. the small presets on the UP5K
                    print(json.dumps({"task": task, "model": spec, "device": name, "goal": goal,
                                      "half": None, "why": exc.fault}), flush=True)
                    continue
                t_fold += time.perf_counter() - t0
                n_fold += 1
                t0 = time.perf_counter()
                for _ in range(20):
                    estimate(graph, dev, f, pw)
                t_est += time.perf_counter() - t0
                n_est += 20
                base = finn(graph, dev, goal, rate, pw)
                row = {"task": task, "model": spec, "device": name, "goal": goal,
                       "metric": {"high-throughput": "inferences/s",
                                  "low-power": "mW at the required rate",
                                  "low-energy": "µJ per inference"}[goal],
                       "half": round(metric(goal, ours, rate), 6),
                       "half_clock_mhz": f.clock_mhz, "half_ii": ours.ii,
                       "setfolding": None if base is None else round(metric(goal, base, rate), 6),
                       "setfolding_clock_mhz": float(dev.clock_typical_mhz or 0),
                       "setfolding_ii": None if base is None else base.ii}
                print(json.dumps(row), flush=True)
    print(json.dumps({"estimate_ms": round(1e3 * t_est / max(1, n_est), 3),
                      "fold_ms": round(1e3 * t_fold / max(1, n_fold), 2)}))


if __name__ == "__main__":
    main()
