# SPDX-License-Identifier: Apache-2.0
"""Generate and verify designs: presets x goals on a device, N real test windows each.

    .venv/bin/python benchmarks/bench_verify.py [--cases TASK:PRESET:DEVICE:GOAL:WINDOWS ...]

Each case runs `half build` then `half verify` (Verilator + cocotb, random input idles and
output back-pressure after the first three windows) and prints one JSON line: mismatches
against the golden model, cycles (latency) and initiation interval, model vs measured, lint.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from half.flow.verify import build, verify

DEFAULT = [f"mitdb-aami:tiny:up5k:{g}:200" for g in ("low-energy", "low-power",
                                                     "high-throughput")] + \
    [f"cinc2017-af:tiny:up5k:{g}:50" for g in ("low-energy", "low-power", "high-throughput")] + \
    [f"mitdb-aami:small:ecp5-85k:{g}:100" for g in ("low-energy", "low-power",
                                                    "high-throughput")] + \
    ["cinc2017-af:small:ecp5-85k:high-throughput:20"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", nargs="*", default=DEFAULT)
    args = ap.parse_args()
    for case in args.cases:
        task, preset, device, goal, windows = case.split(":")
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            b = build(f"preset:{preset}", task, device, goal, Path(tmp) / "p")
            v = verify(Path(tmp) / "p", int(windows))
            print(json.dumps({"task": task, "preset": preset, "device": device, "goal": goal,
                              "folding": b["folding"], "windows": v["windows"],
                              "mismatches": v["mismatches"],
                              "cycles_model": v["cycles_model"],
                              "cycles_measured": v["cycles_measured"],
                              "ii_model": v["ii_model"], "ii_measured": v["ii_measured"],
                              "lint_clean": v["lint_clean"],
                              "seconds": round(time.perf_counter() - t0, 1)}), flush=True)


if __name__ == "__main__":
    main()
