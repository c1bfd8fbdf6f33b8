# SPDX-License-Identifier: Apache-2.0
"""axis_fifo: capacity, then random beats without stalls and through random input idles and
output back-pressure, checked beat by beat and for the 2-cycle latency (Verilator)."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from tbutil import start, stream

HERE = Path(__file__).resolve().parent
LATENCY = 2  # a beat accepted in cycle c is at the output in cycle c + 2 (empty FIFO)

try:
    import cocotb
    from cocotb.triggers import ReadOnly, RisingEdge
except ImportError:  # pragma: no cover - cocotb is a dependency
    cocotb = None


if cocotb is not None:

    @cocotb.test()
    async def fills_to_capacity(dut):
        """With the output stalled the FIFO takes DEPTH + 1 beats and no more; they come back
        in order with their tlast."""
        depth = int(os.environ["HALF_DEPTH"])
        rng = random.Random(int(os.environ["HALF_SEED"]))
        width = len(dut.s_axis_tdata)
        beats = [(rng.getrandbits(width), rng.random() < 0.3) for _ in range(3 * depth + 10)]
        await start(dut, ("s_axis_tvalid", "s_axis_tlast", "m_axis_tready"))
        sent = 0
        for _ in range(3 * depth + 10):
            dut.s_axis_tdata.value, dut.s_axis_tlast.value = beats[sent]
            dut.s_axis_tvalid.value = 1
            await ReadOnly()
            accepted = bool(dut.s_axis_tready.value)
            await RisingEdge(dut.clk)
            sent += accepted
        assert sent == depth + 1
        dut.s_axis_tvalid.value = 0
        dut.m_axis_tready.value = 1
        got = []
        for _ in range(3 * depth + 10):
            await ReadOnly()
            if dut.m_axis_tvalid.value:
                got.append((int(dut.m_axis_tdata.value), bool(dut.m_axis_tlast.value)))
            await RisingEdge(dut.clk)
        assert got == beats[:sent]

    async def stream_through(dut, idle: float, stall: float, seed: int) -> None:
        """Every beat comes out once, in order, with its tlast, never earlier than LATENCY
        cycles after it went in; without stalls exactly LATENCY and one beat per cycle."""
        rng = random.Random(seed)
        width = len(dut.s_axis_tdata)
        beats = [(rng.getrandbits(width), rng.random() < 0.2) for _ in range(400)]
        await start(dut, ("s_axis_tvalid", "s_axis_tlast", "m_axis_tready"))
        drain = 2 * int(os.environ["HALF_DEPTH"]) + 10  # idle cycles after the last beat
        got, in_at, out_at = await stream(dut, beats, rng, idle, stall,
                                          lambda _, n_out: n_out >= len(beats), drain,
                                          30 * len(beats))
        assert got == beats
        assert all(o - i >= LATENCY for i, o in zip(in_at, out_at, strict=True))
        if idle == 0 and stall == 0:
            assert [o - i for i, o in zip(in_at, out_at, strict=True)] == [LATENCY] * len(beats)
            assert in_at == list(range(in_at[0], in_at[0] + len(beats)))

    @cocotb.test()
    async def without_stalls(dut):
        await stream_through(dut, 0.0, 0.0, int(os.environ["HALF_SEED"]) + 1)

    @cocotb.test()
    async def with_stalls(dut):
        await stream_through(dut, float(os.environ["HALF_IDLE"]), float(os.environ["HALF_STALL"]),
                             int(os.environ["HALF_SEED"]) + 2)


@pytest.mark.rtl
@pytest.mark.parametrize("width, depth, idle, stall", [(13, 5, 0.3, 0.7), (1, 2, 0.6, 0.4)])
def test_axis_fifo(tmp_path, width, depth, idle, stall):
    from half.flow.sim import run_cocotb
    from half.rtl import LIB

    run_cocotb("axis_fifo", [LIB / "axis_fifo.v"], "test_axis_fifo", HERE, tmp_path / "build",
               parameters={"DATA_W": width, "DEPTH": depth},
               extra_env={"HALF_IDLE": str(idle), "HALF_STALL": str(stall),
                          "HALF_SEED": str(depth), "HALF_DEPTH": str(depth)})
