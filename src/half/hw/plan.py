# SPDX-License-Identifier: Apache-2.0
"""A hardware plan for a model: lower it, fold it for a goal on a device, estimate it.

`plan(...)` is what `half estimate` prints and what the search calls per candidate; it writes
nothing. `graph_for` accepts a run folder, `preset:NAME` or a QONNX file made elsewhere.
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


# Where a family's coefficient is unknown (null in power.yaml), borrow it from a related family,
# as a labelled cross-family estimate: ECP5 and CrossLink-NX from the iCE40 UltraPlus
# measurements (Lattice LUT4 fabrics, 40 nm and 28 nm), UltraScale+ from 7-series, and block RAM
# per bit from 7-series BRAM36 (iCE40 has no measurement). Block RAM is scaled by bits per block.
BORROW = {"ecp5": ("ice40up", "xc7"), "nexus": ("ice40up", "xc7"), "zynqmp": ("xc7",),
          "ice40up": ("xc7",), "xc7": ()}
BRAM_BITS = {"ice40up": 4096, "ecp5": 18432, "nexus": 18432, "xc7": 36864, "zynqmp": 36864}


def power_model(dev: Device, notes: list[str] | None = None):
    """The device family's dynamic-power coefficients (µW per MHz per resource), unknown ones
    borrowed per BORROW (each borrowing appended to `notes`)."""
    import dataclasses

    from half.hw.power import COEFFICIENTS, get_power_coefficients

    own = dev.power_model()  # the family's own record, nulls included
    filled = {}
    for name in COEFFICIENTS:
        if getattr(own, name) is not None:
            continue
        for donor_family in BORROW.get(own.family, ()):
            donor = get_power_coefficients(donor_family)
            value = getattr(donor, name)
            if value is None:
                continue
            if name == "bram":
                value *= BRAM_BITS.get(own.family, 0) / BRAM_BITS[donor_family]
            filled[name] = value
            if notes is not None:
                notes.append(f"{own.family} {name} power coefficient unknown: borrowed from "
                             f"{donor_family} (cross-family estimate)")
            break
        else:
            if notes is not None:
                notes.append(f"{own.family} {name} power coefficient unknown: counted as 0")
    return dataclasses.replace(own, **filled) if filled else own


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


def report(graph: Graph, dev: Device, folding: Folding, est: Estimate, info: dict,
           rate: float | None, notes: list[str] = ()) -> dict:
    d = est.to_dict(rate)
    return {"device": dev.name, "part": dev.part, "goal": info["goal"],
            "required_rate_per_s": rate, "folding": folding.to_dict(), "macs": graph.macs(),
            "search": info, **d,
            "notes": [_calibration_note(est),
                      *([est.calibration_note] if est.calibration_note else []),
                      *([] if not rate or est.throughput >= rate else
                        [f"this design's throughput {est.throughput:.3g}/s is below the "
                         f"required rate {rate:.3g}/s"]),
                      *([] if dev.static_power_mw is not None else
                        [f"{dev.name}: no static power figure in the catalog; counted as 0"]),
                      *notes]}
