# SPDX-License-Identifier: Apache-2.0
"""A hardware plan for a model: lower it, fold it for a goal on a device, estimate it.

`plan(...)` is what `half estimate` prints and what the search calls per candidate; it writes
nothing. `graph_for` accepts a run folder, `preset:NAME` or a QONNX file made elsewhere: it is
the hardware layer's one door to a model (run folders and presets are `half.nn.runs`'), which
`half estimate`, `half build` (`half.rtl.build`) and the calibration's sweep go through; the flow
never does (it reads the project folder). `report` is the plain data of a folded design's
estimate (`half estimate --json`, a project's predicted.json).
"""

from __future__ import annotations

import json
from pathlib import Path

from half.errors import ConfigError
from half.hw.check import graph_of_run
from half.hw.cost import Estimate, Folding
from half.hw.devices import Device, get_device
from half.hw.folding import fold
from half.hw.goal import Goal
from half.hw.ir import Graph
from half.hw.lower import lower
from half.hw.power import power_model as power_model  # re-exported (half.search.evaluate)


def graph_for(model_spec: str, task: str) -> tuple[Graph, dict]:
    """(IR graph, task parameters it was trained with) of a run folder, preset or .onnx file."""
    if model_spec.endswith(".onnx") and not model_spec.startswith("preset:"):
        path = Path(model_spec)
        if not path.is_file():
            raise ConfigError("model", f"{path}: no such file")
        return lower(path, meta={"source": str(path)}), {}
    from half.nn.runs import resolve_model

    folder = resolve_model(model_spec, task)
    info = json.loads((folder / "task.json").read_text())
    if info["task"] != task:
        raise ConfigError("task", f"{folder} was trained for {info['task']}, not {task}")
    return graph_of_run(folder), info["params"]


def plan(graph: Graph, device: str, goal: str | Goal, rate: float | None) -> dict:
    """Fold `graph` for `goal` (a Goal or its name) on `device` and return the estimate as
    plain data."""
    dev = get_device(device)
    notes: list[str] = []
    folding, est, info = fold(graph, dev, goal, rate, power_model(dev, notes))
    return report(graph, dev, folding, est, info, rate, notes)


def _calibration_note(est: Estimate) -> str:
    how = ("LUT and FF counts calibrated against Yosys on this family, BRAM and DSP counts "
           "as the RTL maps them, fmax from placed designs (docs/RESULTS.md: median errors "
           "under 10 %, worst cases larger)" if est.calibrated else
           "not calibrated on this family (BRAM and DSP counts follow the RTL's choices)")
    return (f"resources, fmax, power and energy are estimates of the cost model: {how}; "
            "cycles and II are the RTL's (checked by `half verify`)")


def _psums_note(folding: Folding) -> str:
    sums = ", ".join(f"{k} {v}" for k, v in folding.psums.items())
    return (f"partial sums registered before the accumulators ({sums}; one cycle more of "
            "latency per stage): their fmax gain is the cost model's assumption "
            "(half.hw.design.mac_levels), not yet calibrated on placed designs")


def report(graph: Graph, dev: Device, folding: Folding, est: Estimate, info: dict,
           rate: float | None, notes: list[str] = ()) -> dict:
    """The plain data of a folded design and its estimate: device, goal, folding, the search's
    `info` (`half.hw.folding.fold`), the estimate's figures (`Estimate.to_dict`) and notes (how
    the figures were made, what is borrowed or missing)."""
    d = est.to_dict(rate)
    return {"device": dev.name, "part": dev.part, "goal": info["goal"],
            "required_rate_per_s": rate, "folding": folding.to_dict(), "macs": graph.macs(),
            "search": info, **d,
            "notes": [_calibration_note(est),
                      *([est.calibration_note] if est.calibration_note else []),
                      *([] if not rate or est.throughput >= rate else
                        [f"this design's throughput {est.throughput:.3g}/s is below the "
                         f"required rate {rate:.3g}/s"]),
                      *([] if folding.replicas == 1 else
                        [f"{folding.replicas} replicas (identical pipelines, each on its own "
                         "lane): `stages` are one pipeline's, the resources, power and "
                         "throughput all of them; the latency and II a lane's; energy per "
                         f"inference with {folding.replicas} windows per wake"]),
                      *([] if not folding.psums else [_psums_note(folding)]),
                      *([] if folding.samples_per_beat == 1 else
                        [f"{folding.samples_per_beat} input samples per beat "
                         f"(half.hw.design.BEAT): the input takes window / "
                         f"{folding.samples_per_beat} cycles, and the host must deliver "
                         f"{folding.samples_per_beat} samples a clock to reach the throughput"]),
                      *([] if dev.static_power_mw is not None else
                        [f"{dev.name}: no static power figure in the catalog; counted as 0"]),
                      *notes]}
