# SPDX-License-Identifier: Apache-2.0
"""The three goals' designs for one model on one device, each scored on all three metrics.

    .venv/bin/python benchmarks/bench_goals.py --model preset:small --task mitdb-aami \
        --device ecp5-85k

Prints one JSON line per goal: its folding (clock, PE/SIMD per layer) and the three metrics of
that design — throughput (inferences/s, back to back), average power at the task's required rate
(mW, always on) and energy of one inference (µJ, duty-cycled). All but cycles are estimates.
"""

from __future__ import annotations

import argparse
import json

from half.hw.devices import get_device
from half.hw.folding import GOALS, fold, required_rate
from half.hw.plan import graph_for
from half.hw.power import power_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="preset:small")
    ap.add_argument("--task", default="mitdb-aami")
    ap.add_argument("--device", default="ecp5-85k")
    args = ap.parse_args()
    graph, params = graph_for(args.model, args.task)
    rate = required_rate(args.task, params)
    dev = get_device(args.device)
    pw = power_model(dev)
    for goal in GOALS:
        f, est, _ = fold(graph, dev, goal, rate, pw)
        print(json.dumps({"goal": goal, "clock_mhz": f.clock_mhz, "ii": est.ii,
                          "pe_simd": f.pe_simd, "throughput_per_s": round(est.throughput, 1),
                          "power_mw_at_rate": round(est.power_mw(rate), 4),
                          "energy_uj": round(est.energy_uj(), 4),
                          "luts": round(est.total("luts")), "bram": est.total("bram"),
                          "dsp": est.total("dsp")}))


if __name__ == "__main__":
    main()
