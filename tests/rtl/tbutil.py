# SPDX-License-Identifier: Apache-2.0
"""Shared pieces of the cocotb testbenches: packing stream words, clock and reset."""

from __future__ import annotations

from half.rtl.mem import pack  # noqa: F401  (the testbenches' packing is the ROMs' layout)


def unpack(word: int, n: int, width: int, signed: bool) -> list[int]:
    out = []
    for i in range(n):
        v = (word >> (i * width)) & ((1 << width) - 1)
        if signed and v >> (width - 1):
            v -= 1 << width
        out.append(v)
    return out


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
