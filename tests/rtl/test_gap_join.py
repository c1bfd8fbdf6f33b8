# SPDX-License-Identifier: Apache-2.0
"""gap_join against the golden model: global average pooling, requantization and side join,
with random stalls on all three streams; with side beats withheld, the input beats it takes
before waiting for them (the SIDE_TRAIL queue of pooled vectors), exactly."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import numpy as np
import pytest
from tbutil import pack, start, unpack, write_roms

HERE = Path(__file__).resolve().parent

try:
    import cocotb
    from cocotb.triggers import ReadOnly, RisingEdge
except ImportError:  # pragma: no cover - cocotb is a dependency
    cocotb = None


if cocotb is not None:

    @cocotb.test()
    async def windows_through(dut):
        case = json.loads(Path(os.environ["HALF_CASE"]).read_text())
        p = case["params"]
        rng = random.Random(case["seed"])
        x, side, want = case["x"], case["side"], case["y"]
        idle, stall = case["idle"], case["stall"]
        await start(dut, ("s_axis_tvalid", "s_axis_tlast", "side_axis_tvalid",
                          "side_axis_tdata", "m_axis_tready"))
        beats = [(w, t) for w in range(len(x)) for t in range(p["L_IN"])]
        sent, side_sent, got, cycle = 0, 0, [], 0
        in_last, out_at = {}, []
        while len(got) < len(want) and cycle < 100 * len(beats) + 1000:
            if sent < len(beats) and rng.random() >= idle:
                w, t = beats[sent]
                dut.s_axis_tdata.value = pack(x[w][t], p["IN_W"])
                dut.s_axis_tlast.value = int(t == p["L_IN"] - 1)
                dut.s_axis_tvalid.value = 1
            else:
                dut.s_axis_tvalid.value = 0
            if p["F"] and side_sent < len(side) and rng.random() >= case["side_idle"]:
                dut.side_axis_tdata.value = pack(side[side_sent], p["OUT_W"])
                dut.side_axis_tvalid.value = 1
            else:
                dut.side_axis_tvalid.value = 0
            dut.m_axis_tready.value = int(rng.random() >= stall)
            await ReadOnly()
            acc_in = bool(dut.s_axis_tvalid.value) and bool(dut.s_axis_tready.value)
            acc_side = bool(dut.side_axis_tvalid.value) and bool(dut.side_axis_tready.value)
            if acc_in and beats[sent][1] == p["L_IN"] - 1:
                in_last[beats[sent][0]] = cycle
            if dut.m_axis_tvalid.value and dut.m_axis_tready.value:
                got.append(unpack(int(dut.m_axis_tdata.value), p["C"] + p["F"], p["OUT_W"],
                                   bool(p["OUT_SIGNED"])))
                out_at.append(cycle)
            await RisingEdge(dut.clk)
            sent += acc_in
            side_sent += acc_side
            cycle += 1
        assert got == want
        Path(os.environ["HALF_TIMING"]).write_text(json.dumps({"in_last": in_last,
                                                               "out": out_at}))

    @cocotb.test()
    async def side_beats_withheld(dut):
        """Side beat k is sent only once the inputs have stopped: from window k's first beat
        the module takes (SIDE_TRAIL + 2) * L_IN - 1 beats and no more, with random input idles
        and output back-pressure; every output is still the golden model's."""
        case = json.loads(Path(os.environ["HALF_CASE"]).read_text())
        p = case["params"]
        if not p["F"]:
            return
        rng = random.Random(case["seed"] + 1)
        x, side, want = case["x"], case["side"], case["y"]
        n, length = len(x), p["L_IN"]
        await start(dut, ("s_axis_tvalid", "s_axis_tlast", "side_axis_tvalid",
                          "side_axis_tdata", "m_axis_tready"))
        beats = [(w, t) for w in range(n) for t in range(length)]
        state = {"sent": 0, "got": []}

        async def clock(side_k: int | None) -> bool:
            """One cycle: inputs with random idles, side beat side_k offered (None: none),
            output with random back-pressure. True if the side beat was taken."""
            sent = state["sent"]
            if sent < len(beats) and rng.random() >= case["idle"]:
                w, t = beats[sent]
                dut.s_axis_tdata.value = pack(x[w][t], p["IN_W"])
                dut.s_axis_tlast.value = int(t == length - 1)
                dut.s_axis_tvalid.value = 1
            else:
                dut.s_axis_tvalid.value = 0
            if side_k is not None:
                dut.side_axis_tdata.value = pack(side[side_k], p["OUT_W"])
            dut.side_axis_tvalid.value = int(side_k is not None)
            dut.m_axis_tready.value = int(rng.random() >= case["stall"])
            await ReadOnly()
            state["sent"] += bool(dut.s_axis_tvalid.value) and bool(dut.s_axis_tready.value)
            taken = bool(dut.side_axis_tvalid.value) and bool(dut.side_axis_tready.value)
            if dut.m_axis_tvalid.value and dut.m_axis_tready.value:
                state["got"].append(unpack(int(dut.m_axis_tdata.value), p["C"] + p["F"],
                                           p["OUT_W"], bool(p["OUT_SIGNED"])))
            await RisingEdge(dut.clk)
            return taken

        settle = 10 * (length + p["C"] + 8)  # cycles for the inputs to stop (random stalls)
        for k in range(n + 1):
            for _ in range(settle):
                await clock(None)
            limit = min(len(beats), (k + case["trail"] + 2) * length - 1)
            assert state["sent"] == limit, (k, state["sent"], limit)
            assert len(state["got"]) == k  # every window with its side beat has left
            if k < n:
                while not await clock(k):
                    pass
        assert state["got"] == want


@pytest.mark.rtl
@pytest.mark.parametrize("rq_bits, side, idle, stall, trail, side_idle", [
    (8, 5, 0.0, 0.0, 0, 0.0), (3, 0, 0.3, 0.5, 0, 0.3), (6, 3, 0.4, 0.3, 0, 0.4),
    # SIDE_TRAIL queues: stall-free timing; side beats far behind the windows, random stalls
    (6, 3, 0.0, 0.0, 2, 0.0), (4, 2, 0.3, 0.4, 3, 0.95)])
def test_gap_join(tmp_path, rq_bits, side, idle, stall, trail, side_idle):
    from half.flow.sim import run_cocotb
    from half.hw import golden
    from half.hw.ir import IntType, PoolJoin, SideInput
    from half.hw.lower import _acc_type, make_requant
    from half.hw.rom import gap_params, gap_roms
    from half.rtl import LIB

    rng = np.random.default_rng(rq_bits + side)
    c, length, in_t = 6, 9, IntType(4, False)
    out = IntType(rq_bits, side > 0)
    acc = (length * in_t.min, length * in_t.max)
    r = make_requant(np.full(c, 1.7 / length), np.zeros(c), out, acc)
    s_in = SideInput(side, (0.0,) * side, (1.0,) * side, 1.0, out) if side else None
    layer = PoolJoin("gap0", c, length, in_t, _acc_type(acc, r), r, s_in)
    n = max(4, trail + 4)  # windows: more than the module takes without side beats
    x = rng.integers(0, 16, size=(n, c, length))
    sq = rng.integers(out.min, out.max + 1, size=(n, side)) if side else None
    y = golden.step(layer, x, sq)
    params = gap_params(layer)
    files = write_roms(gap_roms(layer), tmp_path)
    case = {"params": params, "x": x.transpose(0, 2, 1).tolist(),
            "side": [] if sq is None else sq.tolist(), "y": y.tolist(), "seed": 3,
            "idle": idle, "stall": stall, "trail": trail, "side_idle": side_idle}
    (tmp_path / "case.json").write_text(json.dumps(case))
    run_cocotb("gap_join", [LIB / "gap_join.v"], "test_gap_join", HERE, tmp_path / "build",
               parameters={**params, **files,
                           **({"SIDE_TRAIL": trail} if trail else {})},
               extra_env={"HALF_CASE": str(tmp_path / "case.json"),
                          "HALF_TIMING": str(tmp_path / "timing.json")})
    timing = json.loads((tmp_path / "timing.json").read_text())
    if idle == 0 and stall == 0:
        from half.hw.design import gap_depth

        lat = [o - timing["in_last"][str(w)] for w, o in enumerate(timing["out"])]
        # a channel a cycle; one more through the queue
        want = gap_depth(layer.requant) + c + (trail > 0)
        assert all(v == want for v in lat), timing
