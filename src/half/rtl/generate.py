# SPDX-License-Identifier: Apache-2.0
"""The design generator: an IR Graph and its folding -> a self-contained RTL project.

    PROJECT/rtl/      the library modules used + half_top.v (rendered by `render_top`)
    PROJECT/mem/      ROM images of every stage ($readmemh, paths relative to PROJECT)
    PROJECT/files.f   the source list, in dependency order
    PROJECT/design.json  the stages with their Verilog parameters, the folding
    PROJECT/ir.json   the IR the design was generated from (`read_ir`: what verification,
                      power and implementation read instead of the source model)

The top level streams one signed input sample per beat (`s_axis_*`, windows framed by
tlast: `axis_frame` pads a short window, cuts a long one and raises the sticky `err_framing`),
the window's side features in one beat (`side_axis_*`, when the model has them; a FIFO of
`SIDE_LAG` beats in front of the join, a queue of `SIDE_TRAIL` pooled vectors in it) and emits
one class index per window (`m_axis_*`).
`CONTRACT` (also in design.json) states it. Simulate from the project folder (the ROM paths
are relative to it).
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
# side beats the top buffers ahead of the join by default (0: none, as before the parameter;
# each entry costs side_width flip-flops or RAM bits); the top's SIDE_LAG overrides it
SIDE_LAG = 0
# pooled vectors the join queues while their side beats are missing, by default (0: none, as
# before the parameter; N >= 1 costs (N + 1) x C x OUT_W flip-flops or RAM bits: the entries
# and the queue's read register); the top's SIDE_TRAIL overrides it
SIDE_TRAIL = 0

# the stream contract of every generated top, written into design.json and the README
CONTRACT = {
    "input": "s_axis: one signed sample per beat; every window of `window` samples ends with "
             "tlast on its last sample. A short window (tlast early) is padded with zeros, a "
             "long one (no tlast on its last sample) is cut there and its further beats are "
             "dropped up to its tlast: either way one class comes out for it (meaningless), "
             "err_framing is set, and the next window is framed correctly again.",
    "side": "side_axis (models with side features): one beat per window, in window order, no "
            "tlast (every beat is one window's features). The join holds one side beat and a "
            "FIFO in front of it SIDE_LAG more (parameter of half_top, 0 or >= 2; default "
            "`side_lag`): a side beat may lead its window by up to SIDE_LAG + 1 windows (the "
            "side beats of windows w .. w + SIDE_LAG + 1 are all taken before any sample of "
            "window w). The join also queues SIDE_TRAIL pooled vectors whose side beats are "
            "missing (parameter of half_top, >= 0; default `side_trail`): a side beat may "
            "trail its window by up to SIDE_TRAIL + 2 windows (the samples of windows w + 1 .. "
            "w + SIDE_TRAIL + 2 are all taken while the side beat of window w is missing; "
            "more on deeper pipelines). A single-threaded driver that goes beyond either bound "
            "may deadlock.",
    "output": "m_axis: one class index per input window, in order; tlast on every beat (a "
              "window's class is a one-beat packet).",
    "status": "err_framing: high from the cycle after a short or long window is detected "
              "until reset.",
    "reset": "rst: synchronous, active high, at least one clock cycle. It clears every valid "
             "flag, counter and FIFO and err_framing, discards the windows in flight (their "
             "classes never come out) and does not touch the ROMs. Drive s_axis_tvalid and "
             "side_axis_tvalid low during reset: beats taken then are discarded. After reset "
             "the next input beat is the first sample of a window and the next side beat "
             "belongs to that window.",
}


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
    window: int = 1  # input samples per window (the framing check's L)


def plan_stages(graph: Graph, folding: Folding, mem_dir: Path, est: Estimate | None = None
                ) -> Design:
    """The chain of library modules for `graph`, writing their ROM images into `mem_dir`.
    `est` (the cost model's estimate for the target device) says which stages put their MAC
    products in DSP blocks and their weights and input buffers in block RAM; without it,
    products and buffers are left to synthesis and weights to logic."""
    costs = {s.name: s for s in est.stages} if est is not None else {}
    mem_dir.mkdir(parents=True, exist_ok=True)
    layers = list(graph.layers)
    design = Design(in_width=graph.input.out.bits, window=graph.input.length)
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
              "    input  wire m_axis_tready,",
              "    output wire err_framing  // sticky: a short or long input window since reset"]
    body = []
    n = len(design.stages)
    for i in range(n + 1):
        w = design.in_width if i == 0 else design.stages[i - 1].out_width
        body.append(f"    wire [{w - 1}:0] s{i}_tdata;")
        body.append(f"    wire s{i}_tlast, s{i}_tvalid, s{i}_tready;")
    body += [f"    axis_frame #(.W({design.in_width}), .L({design.window})) u_frame (",
             "        .clk(clk), .rst(rst), .s_axis_tdata(s_axis_tdata),",
             "        .s_axis_tlast(s_axis_tlast), .s_axis_tvalid(s_axis_tvalid),",
             "        .s_axis_tready(s_axis_tready), .m_axis_tdata(s0_tdata),",
             "        .m_axis_tlast(s0_tlast), .m_axis_tvalid(s0_tvalid),",
             "        .m_axis_tready(s0_tready), .err(err_framing)", "    );",
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
                params += ",\n        .SIDE_TRAIL(SIDE_TRAIL)"
                body += _side_fifo(design.side_width)
                conns += [".side_axis_tdata(side_j_tdata)", ".side_axis_tvalid(side_j_tvalid)",
                          ".side_axis_tready(side_j_tready)"]
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
    params = (f"#(\n    // side beats buffered ahead of the join (0: none, else >= 2)\n"
              f"    parameter integer SIDE_LAG = {SIDE_LAG},\n"
              f"    // pooled vectors the join queues while their side beats are missing (>= 0)\n"
              f"    parameter integer SIDE_TRAIL = {SIDE_TRAIL}\n) " if side else "")
    return (header + f"module {TOP} {params}(\n" + "\n".join(ports) + "\n);\n\n"
            + "\n".join(body) + "\n\nendmodule\n\n`resetall\n")


def _side_fifo(width: int) -> list[str]:
    """side_axis -> side_j (the join's side input): an axis_fifo of SIDE_LAG entries, or
    wires when SIDE_LAG = 0."""
    return [
        f"    wire [{width - 1}:0] side_j_tdata;", "    wire side_j_tvalid, side_j_tready;",
        "    generate",
        "        if (SIDE_LAG == 1) begin : g_bad_side_lag",
        '            initial $error("half_top: SIDE_LAG must be 0 or >= 2 (instance %m)");',
        "        end",
        "        if (SIDE_LAG >= 2) begin : g_side_fifo",
        "            // verilator lint_off UNUSEDSIGNAL",
        "            wire side_j_tlast;  // side beats carry no tlast",
        "            // verilator lint_on UNUSEDSIGNAL",
        f"            axis_fifo #(.DATA_W({width}), .DEPTH(SIDE_LAG)) u_side_fifo (",
        "                .clk(clk), .rst(rst), .s_axis_tdata(side_axis_tdata),",
        "                .s_axis_tlast(1'b1), .s_axis_tvalid(side_axis_tvalid),",
        "                .s_axis_tready(side_axis_tready), .m_axis_tdata(side_j_tdata),",
        "                .m_axis_tlast(side_j_tlast), .m_axis_tvalid(side_j_tvalid),",
        "                .m_axis_tready(side_j_tready)",
        "            );",
        "        end else begin : g_side_direct",
        "            assign side_j_tdata = side_axis_tdata;",
        "            assign side_j_tvalid = side_axis_tvalid;",
        "            assign side_axis_tready = side_j_tready;",
        "        end",
        "    endgenerate",
    ]


def write_project(graph: Graph, folding: Folding, out: Path, est: Estimate | None = None
                  ) -> Design:
    """Write the RTL project for `graph` folded as `folding` into `out` (a new folder); `est`
    as for `plan_stages`."""
    design = plan_stages(graph, folding, out / "mem", est)
    rtl = out / "rtl"
    rtl.mkdir(parents=True, exist_ok=True)
    modules = sorted({st.module for st in design.stages} | {"axis_frame"}
                     | ({"axis_fifo"} if design.side_width else set()))
    for m in modules:
        shutil.copyfile(LIB / f"{m}.v", rtl / f"{m}.v")
    (rtl / f"{TOP}.v").write_text(render_top(design))
    (out / "files.f").write_text("".join(f"rtl/{m}.v\n" for m in modules) + f"rtl/{TOP}.v\n")
    (out / "design.json").write_text(json.dumps({
        "top": TOP, "folding": folding.to_dict(), "in_width": design.in_width,
        "side_width": design.side_width, "idx_width": design.idx_width,
        "window": design.window, "side_lag": SIDE_LAG if design.side_width else None,
        "side_trail": SIDE_TRAIL if design.side_width else None,
        "contract": CONTRACT,
        "stages": [{"name": s.name, "module": s.module, "params": s.params,
                    "stream": s.stream()} for s in design.stages]}, indent=2))
    (out / "ir.json").write_text(graph.to_json())
    return design


def read_ir(project: Path) -> Graph:
    """The IR graph the project was generated from (its ir.json): the golden model and the
    cost model of the design, with no access to the model it came from."""
    path = Path(project) / "ir.json"
    if not path.is_file():
        raise ConfigError("project", f"{path}: missing (rebuild with `half build`)")
    try:
        return Graph.from_json(path.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError("project", f"{path}: not valid JSON ({exc})") from None
    except ConfigError as exc:
        raise ConfigError("project", f"{path}: {exc} (rebuild with `half build`)") from None


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
