# SPDX-License-Identifier: Apache-2.0
"""cocotb testbench of a generated design's top level (copied into PROJECT/sim/ by
`half verify`): streams integer windows and side features, collects the class indices.

Phase 1 feeds the first windows back to back with no stalls and records when each class leaves
(latency of window 0 from its first sample, interval between classes). Phase 2 feeds the rest
with random input idles and output back-pressure. The case file (env HALF_CASE) holds the
windows, side features and stall rates; results go to env HALF_RESULT. With `probe` (a list of
the top's internal links, e.g. "s2") every beat that passes each link is recorded too, so that
`half verify` can name the first layer whose stream differs from the golden model.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge

from half.rtl.mem import pack


@cocotb.test()
async def stream_windows(dut):
    case = json.loads(Path(os.environ["HALF_CASE"]).read_text())
    rng = random.Random(case["seed"])
    x, side = case["x"], case["side"]
    n_timing, idle, stall = case["timing_windows"], case["idle"], case["stall"]
    length, in_w, side_w = len(x[0]), case["in_width"], case["side_elem_width"]
    has_side = bool(side)
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    dut.s_axis_tvalid.value = 0
    dut.s_axis_tlast.value = 0
    dut.m_axis_tready.value = 0
    if has_side:
        dut.side_axis_tvalid.value = 0
    for _ in range(3):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
    beats = [(w, t) for w in range(len(x)) for t in range(length)]
    sent, side_sent, cycle, got, out_at, first_in = 0, 0, 0, [], [], None
    probes = {name: (getattr(dut, f"{name}_tdata"), getattr(dut, f"{name}_tvalid"),
                     getattr(dut, f"{name}_tready")) for name in case.get("probe", [])}
    seen: dict[str, list[int]] = {name: [] for name in probes}
    limit = 200 * len(beats) + 100000
    while len(got) < len(x) and cycle < limit:
        calm = sent < n_timing * length  # phase 1: no stalls
        if sent < len(beats) and (calm or rng.random() >= idle):
            w, t = beats[sent]
            dut.s_axis_tdata.value = pack([x[w][t]], in_w)
            dut.s_axis_tlast.value = int(t == length - 1)
            dut.s_axis_tvalid.value = 1
        else:
            dut.s_axis_tvalid.value = 0
        if has_side:
            if side_sent < len(side) and (calm or rng.random() >= idle):
                dut.side_axis_tdata.value = pack(side[side_sent], side_w)
                dut.side_axis_tvalid.value = 1
            else:
                dut.side_axis_tvalid.value = 0
        dut.m_axis_tready.value = int(len(got) < n_timing or rng.random() >= stall)
        await ReadOnly()
        took = bool(dut.s_axis_tvalid.value) and bool(dut.s_axis_tready.value)
        took_side = has_side and bool(dut.side_axis_tvalid.value) and \
            bool(dut.side_axis_tready.value)
        if took and sent == 0:
            first_in = cycle
        if dut.m_axis_tvalid.value and dut.m_axis_tready.value:
            got.append(_int(dut.m_axis_tdata.value))
            out_at.append(cycle)
        for name, (data, valid, ready) in probes.items():
            if valid.value and ready.value:
                seen[name].append(_int(data.value))
        await RisingEdge(dut.clk)
        sent += took
        side_sent += took_side
        cycle += 1
    Path(os.environ["HALF_RESULT"]).write_text(json.dumps(
        {"classes": got, "out_at": out_at, "first_in": first_in, "cycles": cycle,
         "probe": seen}))
    assert len(got) == len(x), f"{len(got)} of {len(x)} classes came out in {cycle} cycles"


def _int(value) -> int:
    """A stream word as an integer; -1 where it holds X or Z bits (never a valid word)."""
    try:
        return int(value)
    except ValueError:
        return -1
