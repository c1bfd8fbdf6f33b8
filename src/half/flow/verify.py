# SPDX-License-Identifier: Apache-2.0
"""`half build` and `half verify`: a generated project, simulated with Verilator on real
windows against the golden model, with the measured cycles beside the cost model's."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from half._io import atomic_dir, write_json_atomic
from half.data import get_task
from half.errors import ConfigError
from half.hw import golden
from half.hw.cost import estimate
from half.hw.devices import get_device
from half.hw.folding import fold, required_rate
from half.hw.plan import graph_for, power_model, report
from half.rtl.generate import TOP, write_project

TB = Path(__file__).resolve().parent / "tb_top.py"


def build(model_spec: str, task: str, device: str, goal: str, out: Path,
          rate: float | None = None) -> dict:
    """Fold the model for `goal` on `device` and write the RTL project into `out`."""
    graph, params = graph_for(model_spec, task)
    dev = get_device(device)
    rate = rate or required_rate(task, params)
    notes: list[str] = []
    folding, est, info = fold(graph, dev, goal, rate, power_model(dev, notes))
    with atomic_dir(out) as tmp:
        write_project(graph, folding, tmp)
        figures = report(graph, dev, folding, est, info, rate, notes)
        write_json_atomic(tmp / "predicted.json", figures)
        write_json_atomic(tmp / "source.json", {"model": model_spec, "task": task,
                                                "task_params": params, "device": device,
                                                "goal": goal, "rate": rate})
    return {"project": str(out), "device": device, "goal": goal,
            "folding": folding.to_dict(), "ii_cycles": est.ii,
            "latency_cycles": est.latency_cycles}


def verify(project: Path, windows: int = 200, seed: int = 0, data_dir: Path | None = None,
           idle: float = 0.2, stall: float = 0.3) -> dict:
    """Simulate `windows` test-split windows through the project's top level; compare every
    class with the golden model; measure latency and initiation interval."""
    from half.flow.sim import run_cocotb

    src_file = project / "source.json"
    if not src_file.is_file():
        raise ConfigError("project", f"{project}: not a half project (no source.json)")
    src = json.loads(src_file.read_text())
    graph, params = graph_for(src["model"], src["task"])
    design = json.loads((project / "design.json").read_text())
    folding_d = design["folding"]
    from half.hw.cost import Folding

    folding = Folding({k: (v["pe"], v["simd"]) for k, v in folding_d["layers"].items()},
                      folding_d["clock_mhz"])
    est = estimate(graph, get_device(src["device"]), folding)
    data = get_task(src["task"], **params).load(data_dir).select("test")
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(data), size=min(windows, len(data)), replace=False))
    xq = golden.quantize_input(graph, data.x[pick])
    sq = golden.quantize_side(graph, None if data.side is None else data.side[pick])
    want = golden.run(graph, xq, sq)
    sim = project / "sim"
    sim.mkdir(exist_ok=True)
    shutil.copyfile(TB, sim / "test_half_top.py")
    side = graph.side
    case = {"x": xq.tolist(), "side": [] if sq is None else sq.tolist(), "seed": seed,
            "timing_windows": min(3, len(xq)), "idle": idle, "stall": stall,
            "in_width": graph.input.out.bits,
            "side_elem_width": side.out.bits if side else 0}
    (sim / "case.json").write_text(json.dumps(case))
    files = [project / line for line in (project / "files.f").read_text().split()]
    # the simulation runs in the project folder: the ROM paths are relative to it
    run_cocotb(TOP, files, "sim.test_half_top", project, sim / "build",
               extra_env={"HALF_CASE": str(sim / "case.json"),
                          "HALF_RESULT": str(sim / "result.json")})
    res = json.loads((sim / "result.json").read_text())
    got = np.array(res["classes"])
    bad = np.flatnonzero(got != want)
    out_at = res["out_at"]
    n_t = case["timing_windows"]
    result = {
        "project": str(project), "windows": int(len(want)), "mismatches": int(len(bad)),
        "first_mismatch_window": int(pick[bad[0]]) if len(bad) else None,
        "cycles_model": est.latency_cycles,
        "cycles_measured": int(out_at[0] - res["first_in"]),
        "ii_model": est.ii,
        "ii_measured": int(out_at[n_t - 1] - out_at[n_t - 2]) if n_t >= 2 else None,
        "stalls": {"input_idle": idle, "output_backpressure": stall},
    }
    write_json_atomic(project / "reports" / "verify.json", result)
    return result
