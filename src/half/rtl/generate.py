# SPDX-License-Identifier: Apache-2.0
"""The design generator: an IR Graph and its folding -> a self-contained RTL project.

    PROJECT/rtl/      the library modules used + half_top.v (rendered by `render_top`)
    PROJECT/mem/      ROM images of every stage ($readmemh, paths relative to PROJECT)
    PROJECT/files.f   the source list, in dependency order
    PROJECT/design.json  the stages with their Verilog parameters, the folding
    PROJECT/ir.json   the IR the design was generated from

The top level streams one signed input sample per beat (`s_axis_*`), the window's side
features in one beat (`side_axis_*`, when the model has them) and emits one class index per
window (`m_axis_*`). Simulate from the project folder (the ROM paths are relative to it).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from half.errors import ConfigError
from half.hw.cost import Estimate, Folding
from half.hw.ir import ArgMax, Conv, Decimate, Dense, Graph, MaxPool, PoolJoin
from half.rtl import LIB
from half.rtl.mem import gap_params, stage_params, write_gap_mem, write_stage_mems

TOP = "half_top"


@dataclass
class Stage:
    name: str
    module: str
    params: dict  # Verilog parameters (strings already quoted)
    out_width: int  # its output stream's tdata width (the next stage's input)
    side: bool = False
    # what its output stream carries: the output of IR layer `layer` (index into graph.layers)
    # as `beats` beats per window of `elems` elements of `elem_w` bits (signed or not)
    layer: int = -1
    beats: int = 1
    elems: int = 1
    elem_w: int = 1
    signed: bool = False

    def stream(self) -> dict:
        return {"layer": self.layer, "beats": self.beats, "elems": self.elems,
                "elem_w": self.elem_w, "signed": self.signed}


@dataclass
class Design:
    stages: list[Stage] = field(default_factory=list)
    in_width: int = 8
    side_width: int = 0
    idx_width: int = 1


def plan_stages(graph: Graph, folding: Folding, mem_dir: Path, est: Estimate | None = None
                ) -> Design:
    """The chain of library modules for `graph`, writing their ROM images into `mem_dir`.
    `est` (the cost model's estimate for the target device) says which stages put their MAC
    products in DSP blocks and their weights and input buffers in block RAM; without it,
    products and buffers are left to synthesis and weights to logic."""
    costs = {s.name: s for s in est.stages} if est is not None else {}
    mem_dir.mkdir(parents=True, exist_ok=True)
    layers = list(graph.layers)
    design = Design(in_width=graph.input.out.bits)
    width = graph.input.out.bits  # current stream width
    for i, layer in enumerate(layers):
        nxt = layers[i + 1] if i + 1 < len(layers) else None
        if isinstance(layer, Decimate):
            design.stages.append(Stage("decimate", "axis_decimate",
                                       {"W": width, "L": layer.length_in,
                                        "FACTOR": layer.factor}, width, layer=i,
                                       beats=layer.length_out, elem_w=width,
                                       signed=graph.input.out.signed))
        elif isinstance(layer, Conv | Dense):
            pe, simd = folding.pe_simd.get(layer.name, (1, 1))
            pool = nxt.pool if isinstance(nxt, MaxPool) else 1
            p = stage_params(layer, pe, simd, pool)
            if layer.name in costs:
                p.update(MAC_DSP=int(costs[layer.name].mac_dsp),
                         W_BRAM=int(costs[layer.name].w_bram),
                         BUF_BRAM=int(costs[layer.name].buf_bram))
            w_file, r_file = write_stage_mems(layer, pe, simd, mem_dir, p)
            p["W_FILE"] = f'"mem/{w_file.name}"'
            p["R_FILE"] = f'"mem/{r_file.name}"'
            if isinstance(layer, Dense) and isinstance(nxt, ArgMax):  # the classifier's argmax
                idx = max(1, (nxt.classes - 1).bit_length())
                p.update(ARGMAX=1, IDX_W=idx)
                design.stages.append(Stage(layer.name, "mvu_stage", p, idx, layer=i + 1,
                                           elem_w=idx))
                design.idx_width = width = idx
                continue
            out_w = p["COUT"] * p["OUT_W"]
            fused = isinstance(nxt, MaxPool)  # the stream carries the pooled output
            beats = 1 if isinstance(layer, Dense) else \
                nxt.length_out if fused else layer.length_out
            design.stages.append(Stage(layer.name, "mvu_stage", p, out_w,
                                       layer=i + 1 if fused else i, beats=beats,
                                       elems=p["COUT"], elem_w=p["OUT_W"],
                                       signed=bool(p["OUT_SIGNED"])))
            width = out_w
        elif isinstance(layer, PoolJoin):
            p = gap_params(layer)
            r_file = write_gap_mem(layer, mem_dir, p)
            p["R_FILE"] = f'"mem/{r_file.name}"'
            out_w = (p["C"] + p["F"]) * p["OUT_W"]
            design.stages.append(Stage(layer.name, "gap_join", p, out_w, side=p["F"] > 0,
                                       layer=i, elems=p["C"] + p["F"], elem_w=p["OUT_W"],
                                       signed=bool(p["OUT_SIGNED"])))
            if p["F"]:
                design.side_width = p["F"] * p["OUT_W"]
            width = out_w
        elif isinstance(layer, ArgMax) and not isinstance(layers[i - 1], Dense):
            idx = max(1, (layer.classes - 1).bit_length())
            score_w = width // layer.classes
            design.stages.append(Stage("argmax", "argmax", {"N": layer.classes, "W": score_w,
                                                            "IDX_W": idx}, idx, layer=i,
                                       elem_w=idx))
            design.idx_width = idx
        elif not isinstance(layer, MaxPool | ArgMax):
            raise ConfigError("model", f"{type(layer).__name__} has no RTL module")
    return design


def render_top(design: Design) -> str:
    """The Verilog of the top level: the stages wired in a chain of AXI4-Stream links."""
    side = design.side_width > 0
    ports = [
        "    input  wire clk,", "    input  wire rst,",
        f"    input  wire [{design.in_width - 1}:0] s_axis_tdata,",
        "    input  wire s_axis_tlast,", "    input  wire s_axis_tvalid,",
        "    output wire s_axis_tready,",
    ]
    if side:
        ports += [f"    input  wire [{design.side_width - 1}:0] side_axis_tdata,",
                  "    input  wire side_axis_tvalid,", "    output wire side_axis_tready,"]
    ports += [f"    output wire [{design.idx_width - 1}:0] m_axis_tdata,",
              "    output wire m_axis_tlast,", "    output wire m_axis_tvalid,",
              "    input  wire m_axis_tready"]
    body = []
    n = len(design.stages)
    for i in range(n + 1):
        w = design.in_width if i == 0 else design.stages[i - 1].out_width
        body.append(f"    wire [{w - 1}:0] s{i}_tdata;")
        body.append(f"    wire s{i}_tlast, s{i}_tvalid, s{i}_tready;")
    body += ["    assign s0_tdata = s_axis_tdata;", "    assign s0_tlast = s_axis_tlast;",
             "    assign s0_tvalid = s_axis_tvalid;", "    assign s_axis_tready = s0_tready;",
             f"    assign m_axis_tdata = s{n}_tdata;", f"    assign m_axis_tlast = s{n}_tlast;",
             f"    assign m_axis_tvalid = s{n}_tvalid;", f"    assign s{n}_tready = m_axis_tready;"]
    for i, st in enumerate(design.stages):
        params = ",\n".join(f"        .{k}({v})" for k, v in st.params.items())
        conns = [".clk(clk)", ".rst(rst)",
                 f".s_axis_tdata(s{i}_tdata)", f".s_axis_tlast(s{i}_tlast)",
                 f".s_axis_tvalid(s{i}_tvalid)", f".s_axis_tready(s{i}_tready)",
                 f".m_axis_tdata(s{i + 1}_tdata)", f".m_axis_tlast(s{i + 1}_tlast)",
                 f".m_axis_tvalid(s{i + 1}_tvalid)", f".m_axis_tready(s{i + 1}_tready)"]
        if st.module == "gap_join":
            if st.side:
                conns += [".side_axis_tdata(side_axis_tdata)",
                          ".side_axis_tvalid(side_axis_tvalid)",
                          ".side_axis_tready(side_axis_tready)"]
            else:
                body += ["    // verilator lint_off UNUSEDSIGNAL",
                         f"    wire {st.name}_side_tready;  // no side inputs",
                         "    // verilator lint_on UNUSEDSIGNAL"]
                conns += [f".side_axis_tdata({st.params['OUT_W']}'d0)", ".side_axis_tvalid(1'b0)",
                          f".side_axis_tready({st.name}_side_tready)"]
        body.append(f"    {st.module} #(\n{params}\n    ) u_{st.name} (\n        "
                    + ",\n        ".join(conns) + "\n    );")
    header = ("// SPDX-License-Identifier: Apache-2.0\n// Generated by half (half.rtl.generate):"
              " do not edit; regenerate with `half build`.\n"
              "`resetall\n`timescale 1ns / 1ps\n`default_nettype none\n\n")
    return (header + f"module {TOP} (\n" + "\n".join(ports) + "\n);\n\n" + "\n".join(body)
            + "\n\nendmodule\n\n`resetall\n")


def write_project(graph: Graph, folding: Folding, out: Path, est: Estimate | None = None
                  ) -> Design:
    """Write the RTL project for `graph` folded as `folding` into `out` (a new folder); `est`
    as for `plan_stages`."""
    design = plan_stages(graph, folding, out / "mem", est)
    rtl = out / "rtl"
    rtl.mkdir(parents=True, exist_ok=True)
    modules = sorted({st.module for st in design.stages})
    for m in modules:
        shutil.copyfile(LIB / f"{m}.v", rtl / f"{m}.v")
    (rtl / f"{TOP}.v").write_text(render_top(design))
    (out / "files.f").write_text("".join(f"rtl/{m}.v\n" for m in modules) + f"rtl/{TOP}.v\n")
    (out / "design.json").write_text(json.dumps({
        "top": TOP, "folding": folding.to_dict(), "in_width": design.in_width,
        "side_width": design.side_width, "idx_width": design.idx_width,
        "stages": [{"name": s.name, "module": s.module, "params": s.params,
                    "stream": s.stream()} for s in design.stages]}, indent=2))
    (out / "ir.json").write_text(graph.to_json())
    return design


def check_roms(project: Path, design: dict) -> None:
    """Every ROM image named by a stage of design.json exists under `project` (a ConfigError
    naming the first missing one otherwise: without it, $readmemh leaves the ROM undefined and
    the design computes garbage)."""
    for stage in design.get("stages", []):
        for key, value in stage.get("params", {}).items():
            if isinstance(value, str) and value.strip('"').endswith(".mem"):
                path = Path(project) / value.strip('"')
                if not path.is_file():
                    raise ConfigError("project", f"{path}: ROM image {key} of stage "
                                      f"{stage.get('name')} is missing (rebuild with `half "
                                      "build`)")
