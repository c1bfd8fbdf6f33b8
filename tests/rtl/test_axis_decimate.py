# SPDX-License-Identifier: Apache-2.0
"""axis_decimate: windows of L samples keep samples 0, FACTOR, 2*FACTOR, ... with tlast on the
last kept one, without stalls and under random input idles and output back-pressure; checked
sample by sample against Python (Verilator). With N samples per input beat (packed, the
earliest in the lowest bits) the same samples come out, one per kept beat."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from tbutil import start, stream

HERE = Path(__file__).resolve().parent
DRAIN = 20  # cycles run after the last expected beat, to catch extra beats

try:
    import cocotb
except ImportError:  # pragma: no cover - cocotb is a dependency
    cocotb = None


def decimate(windows: list[list[int]], factor: int) -> list[tuple[int, bool]]:
    out = []
    for win in windows:
        kept = win[::factor]
        out += [(v, k == len(kept) - 1) for k, v in enumerate(kept)]
    return out


if cocotb is not None:

    async def windows_through(dut, idle: float, stall: float, seed: int) -> None:
        w, length, factor, n = (int(os.environ[k])
                                for k in ("HALF_W", "HALF_L", "HALF_FACTOR", "HALF_N"))
        rng = random.Random(seed)
        windows = [[rng.getrandbits(w) for _ in range(length)] for _ in range(30)]
        per = length // n  # beats per window, each N samples packed
        beats = [(sum(v << (j * w) for j, v in enumerate(win[t * n:(t + 1) * n])), t == per - 1)
                 for win in windows for t in range(per)]
        want = decimate(windows, factor)
        await start(dut, ("s_axis_tvalid", "s_axis_tlast", "m_axis_tready"))
        got, in_at, out_at = await stream(dut, beats, rng, idle, stall,
                                          lambda n_in, _: n_in >= len(beats), DRAIN,
                                          30 * len(beats))
        assert got == want
        # combinational: a kept sample leaves in the cycle it is accepted
        kept_at = [c for t, c in enumerate(in_at) if (t % per) % (factor // n) == 0]
        assert out_at == kept_at
        if idle == 0 and stall == 0:
            assert in_at == list(range(in_at[0], in_at[0] + len(beats)))

    @cocotb.test()
    async def without_stalls(dut):
        await windows_through(dut, 0.0, 0.0, int(os.environ["HALF_SEED"]))

    @cocotb.test()
    async def with_stalls(dut):
        await windows_through(dut, float(os.environ["HALF_IDLE"]),
                              float(os.environ["HALF_STALL"]), int(os.environ["HALF_SEED"]) + 1)


@pytest.mark.rtl
@pytest.mark.parametrize("w, length, factor, n, idle, stall", [(8, 10, 3, 1, 0.3, 0.7),
                                                               (5, 3, 5, 1, 0.6, 0.5),
                                                               (4, 9, 1, 1, 0.2, 0.2),
                                                               (6, 14, 4, 2, 0.3, 0.4),
                                                               (5, 18, 3, 3, 0.2, 0.5)])
def test_axis_decimate(tmp_path, w, length, factor, n, idle, stall):
    from half.flow.sim import run_cocotb
    from half.rtl import LIB

    run_cocotb("axis_decimate", [LIB / "axis_decimate.v"], "test_axis_decimate", HERE,
               tmp_path / "build", parameters={"W": w, "L": length, "FACTOR": factor, "N": n},
               extra_env={"HALF_W": str(w), "HALF_L": str(length), "HALF_FACTOR": str(factor),
                          "HALF_N": str(n),
                          "HALF_IDLE": str(idle), "HALF_STALL": str(stall),
                          "HALF_SEED": str(w + length)})
