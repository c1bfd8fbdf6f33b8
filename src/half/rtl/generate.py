# SPDX-License-Identifier: Apache-2.0
"""The design generator: a hardware design (`half.hw.design.Design`) -> a self-contained RTL
project. Everything it writes comes from the Design: the chain of stages, their modules,
parameters, streams and ROM words (`half.hw.design.bind` decides them, with the binding to the
device); this module only renders them.

    PROJECT/rtl/      the library modules used + half_top.v (rendered by `render_top`)
    PROJECT/mem/      ROM images of every stage ($readmemh, paths relative to PROJECT)
    PROJECT/files.f   the source list, in dependency order
    PROJECT/design.json  `Design.to_dict`: the stages with their Verilog parameters, streams,
                      IR layers, timing and binding; the folding, the stream contract
    PROJECT/ir.json   the IR the design was generated from (`read_ir`: what verification,
                      power and implementation read instead of the source model)

The top level streams one signed input sample per beat (`s_axis_*`, windows framed by
tlast: `axis_frame` pads a short window, cuts a long one and raises the sticky `err_framing`),
the window's side features in one beat (`side_axis_*`, when the model has them; a FIFO of
`SIDE_LAG` beats in front of the join, a queue of `SIDE_TRAIL` pooled vectors in it) and emits
one class index per window (`m_axis_*`). `half.hw.design.CONTRACT` (also in design.json)
states it. Simulate from the project folder (the ROM paths are relative to it).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from half.errors import ConfigError
from half.hw.design import SIDE_LAG, SIDE_TRAIL, TOP, Design, GapJoinStage
from half.hw.ir import Graph
from half.rtl import LIB
from half.rtl.mem import write_roms


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
    chain = design.chain
    n = len(chain)
    for i in range(n + 1):
        w = design.in_width if i == 0 else chain[i - 1].stream.width
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
    for i, st in enumerate(chain):
        p = st.params
        params = ",\n".join(f"        .{k}({v})" for k, v in p.items())
        conns = [".clk(clk)", ".rst(rst)",
                 f".s_axis_tdata(s{i}_tdata)", f".s_axis_tlast(s{i}_tlast)",
                 f".s_axis_tvalid(s{i}_tvalid)", f".s_axis_tready(s{i}_tready)",
                 f".m_axis_tdata(s{i + 1}_tdata)", f".m_axis_tlast(s{i + 1}_tlast)",
                 f".m_axis_tvalid(s{i + 1}_tvalid)", f".m_axis_tready(s{i + 1}_tready)"]
        if isinstance(st, GapJoinStage):
            if st.side_features:
                params += ",\n        .SIDE_TRAIL(SIDE_TRAIL)"
                body += _side_fifo(design.side_width)
                conns += [".side_axis_tdata(side_j_tdata)", ".side_axis_tvalid(side_j_tvalid)",
                          ".side_axis_tready(side_j_tready)"]
            else:
                body += ["    // verilator lint_off UNUSEDSIGNAL",
                         f"    wire {st.name}_side_tready;  // no side inputs",
                         "    // verilator lint_on UNUSEDSIGNAL"]
                conns += [f".side_axis_tdata({p['OUT_W']}'d0)", ".side_axis_tvalid(1'b0)",
                          f".side_axis_tready({st.name}_side_tready)"]
        body.append(f"    {st.module} #(\n{params}\n    ) u_{st.instance} (\n        "
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


def write_project(design: Design, out: Path) -> Design:
    """Write the RTL project of `design` (`half.hw.design.bind`: bound to the target device, or
    with its binding left to synthesis) into `out` (a new folder)."""
    write_roms(design, out / "mem")
    rtl = out / "rtl"
    rtl.mkdir(parents=True, exist_ok=True)
    modules = sorted({st.module for st in design.chain} | {"axis_frame"}
                     | ({"axis_fifo"} if design.side_width else set()))
    for m in modules:
        shutil.copyfile(LIB / f"{m}.v", rtl / f"{m}.v")
    (rtl / f"{TOP}.v").write_text(render_top(design))
    (out / "files.f").write_text("".join(f"rtl/{m}.v\n" for m in modules) + f"rtl/{TOP}.v\n")
    (out / "design.json").write_text(json.dumps(design.to_dict(), indent=2))
    (out / "ir.json").write_text(design.graph.to_json())
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
