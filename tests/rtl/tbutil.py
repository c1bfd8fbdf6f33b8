# SPDX-License-Identifier: Apache-2.0
"""Shared pieces of the cocotb testbenches: packing stream words, clock and reset."""

from __future__ import annotations

# the testbenches' packing is the ROMs' and the streams' layout
from half.rtl.mem import pack, unpack  # noqa: F401


async def start(dut, idle_inputs: tuple[str, ...]) -> None:
    """Start a 100 MHz clock on dut.clk, hold reset 3 cycles with `idle_inputs` at 0."""
    import cocotb
    from cocotb.clock import Clock
    from cocotb.triggers import RisingEdge

    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    for name in idle_inputs:
        getattr(dut, name).value = 0
    for _ in range(3):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
