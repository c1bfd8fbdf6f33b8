# SPDX-License-Identifier: Apache-2.0
"""Shared pieces of the cocotb testbenches: packing stream words, clock and reset."""

from __future__ import annotations

# the testbenches' packing is the ROMs' and the streams' layout
from half.hw.rom import pack, unpack  # noqa: F401


def write_roms(roms: dict[str, tuple[list[int], int]], folder) -> dict[str, str]:
    """ROM images (`half.hw.rom.mvu_roms`, `gap_roms`: words and width by Verilog parameter)
    written into `folder`: the parameters naming them (quoted paths)."""
    from half.rtl.mem import write_mem

    out = {}
    for key, (words, width) in roms.items():
        path = folder / f"{key.lower()}.mem"
        write_mem(path, words, width)
        out[key] = f'"{path}"'
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


async def stream(dut, beats: list[tuple[int, int]], rng, idle: float, stall: float,
                 done, drain: int, max_cycles: int) -> tuple[list, list[int], list[int]]:
    """Drive `beats` (tdata, tlast) into s_axis with random input idles and output
    back-pressure; collect every output beat (tdata, tlast). Stops `drain` idle cycles after
    `done(in_count, out_count)` first holds (so that an extra beat is caught) or at
    `max_cycles`. Returns (outputs, input acceptance cycles, output cycles)."""
    from cocotb.triggers import ReadOnly, RisingEdge

    got, in_at, out_at = [], [], []
    end = None
    for cycle in range(max_cycles):
        if len(in_at) < len(beats) and rng.random() >= idle:
            dut.s_axis_tdata.value, dut.s_axis_tlast.value = beats[len(in_at)]
            dut.s_axis_tvalid.value = 1
        else:
            dut.s_axis_tvalid.value = 0
        dut.m_axis_tready.value = int(rng.random() >= stall)
        await ReadOnly()
        accepted = bool(dut.s_axis_tvalid.value) and bool(dut.s_axis_tready.value)
        if dut.m_axis_tvalid.value and dut.m_axis_tready.value:
            got.append((int(dut.m_axis_tdata.value), int(dut.m_axis_tlast.value)))
            out_at.append(cycle)
        await RisingEdge(dut.clk)
        if accepted:
            in_at.append(cycle)
        if end is None and done(len(in_at), len(got)):
            end = cycle + drain
        if end is not None and cycle >= end:
            break
    return got, in_at, out_at
