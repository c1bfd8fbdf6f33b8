# SPDX-License-Identifier: Apache-2.0
"""axis_skid: random beats through random input stalls and output back-pressure (Verilator)."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from tbutil import start

HERE = Path(__file__).resolve().parent

try:
    import cocotb
    from cocotb.triggers import ReadOnly, RisingEdge
except ImportError:  # pragma: no cover - cocotb is a dependency
    cocotb = None


if cocotb is not None:

    @cocotb.test()
    async def stream_through(dut):
        """Every beat comes out once, in order, with its tlast, under random stalls."""
        rng = random.Random(int(os.environ.get("HALF_SEED", "1")))
        width = len(dut.s_axis_tdata)
        beats = [(rng.getrandbits(width), rng.random() < 0.2) for _ in range(400)]
        await start(dut, ("s_axis_tvalid", "m_axis_tready"))
        got, sent = [], 0
        idle_in, stall_out = float(os.environ["HALF_IDLE"]), float(os.environ["HALF_STALL"])
        for _ in range(20 * len(beats)):
            # drive this cycle's inputs
            if sent < len(beats) and rng.random() >= idle_in:
                dut.s_axis_tdata.value, dut.s_axis_tlast.value = beats[sent]
                dut.s_axis_tvalid.value = 1
            else:
                dut.s_axis_tvalid.value = 0
            dut.m_axis_tready.value = int(rng.random() >= stall_out)
            await ReadOnly()
            accepted = bool(dut.s_axis_tvalid.value) and bool(dut.s_axis_tready.value)
            if dut.m_axis_tvalid.value and dut.m_axis_tready.value:
                got.append((int(dut.m_axis_tdata.value), bool(dut.m_axis_tlast.value)))
            await RisingEdge(dut.clk)
            sent += accepted
            if len(got) == len(beats):
                break
        assert got == beats


@pytest.mark.rtl
@pytest.mark.parametrize("width, idle, stall", [(1, 0.0, 0.0), (8, 0.3, 0.5), (19, 0.6, 0.2)])
def test_axis_skid(tmp_path, width, idle, stall):
    from half.flow.sim import run_cocotb
    from half.rtl import LIB

    run_cocotb("axis_skid", [LIB / "axis_skid.v"], "test_axis_skid", HERE, tmp_path / "build",
               parameters={"DATA_W": width},
               extra_env={"HALF_IDLE": str(idle), "HALF_STALL": str(stall), "HALF_SEED": "7"})
