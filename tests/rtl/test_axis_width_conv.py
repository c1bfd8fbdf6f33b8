# SPDX-License-Identifier: Apache-2.0
"""axis_width_conv: windows of W-bit elements regrouped from IN_N to OUT_N elements per beat
(downsizing, upsizing with partial last beats, pass-through), first without stalls, then under
random input idles and output back-pressure; checked beat by beat against a Python model, with
the latency and throughput."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from tbutil import pack, start, stream, unpack

HERE = Path(__file__).resolve().parent
DRAIN = 20  # cycles run after the last expected beat, to catch extra beats

try:
    import cocotb
except ImportError:  # pragma: no cover - cocotb is a dependency
    cocotb = None


def model(windows: list[list[int]], in_n: int, out_n: int):
    """Input beats [(elements, tlast)] and the expected output beats [(elements, tlast, src,
    piece)]: `src` is the input beat that completes the output beat and `piece` its position
    among the output beats taken from that input beat. Each window (a whole number of input
    beats) is cut into beats of out_n elements; a short last beat is padded with zeros."""
    beats_in, beats_out = [], []
    for win in windows:
        first = len(beats_in)
        for k in range(0, len(win), in_n):
            beats_in.append((win[k:k + in_n], k + in_n >= len(win)))
        for k in range(0, len(win), out_n):
            chunk = win[k:k + out_n]
            end = min(k + out_n, len(win))  # elements up to here are needed
            src = first + (end - 1) // in_n
            piece = (k % in_n) // out_n if in_n > out_n else 0
            beats_out.append((chunk + [0] * (out_n - len(chunk)), end == len(win), src, piece))
    return beats_in, beats_out


if cocotb is not None:

    async def windows_through(dut, idle: float, stall: float, seed: int) -> None:
        w, in_n, out_n = (int(os.environ[k]) for k in ("HALF_W", "HALF_IN_N", "HALF_OUT_N"))
        rng = random.Random(seed)
        # window lengths: a whole number of input beats, so that upsizing meets both whole and
        # partial output beats
        windows = [[rng.getrandbits(w) for _ in range(in_n * rng.randint(1, 5))]
                   for _ in range(60)]
        beats_in, want = model(windows, in_n, out_n)
        lat = 0 if in_n == out_n else 1
        await start(dut, ("s_axis_tvalid", "s_axis_tlast", "m_axis_tready"))
        beats = [(pack(data, w), int(last)) for data, last in beats_in]
        out, in_at, out_at = await stream(dut, beats, rng, idle, stall,
                                          lambda _, n_out: n_out >= len(want), DRAIN,
                                          40 * (len(beats_in) + len(want)))
        got = [(unpack(d, out_n, w, False), bool(t)) for d, t in out]
        assert got == [(d, t) for d, t, _, _ in want]
        # an output beat never leaves before its input beat (+ latency, + earlier pieces)
        early = [o - in_at[s] - lat - p for o, (_, _, s, p) in zip(out_at, want, strict=True)]
        assert min(early) >= 0
        if idle == 0 and stall == 0:
            assert early == [0] * len(want)  # exactly the documented latency
            n = len(in_at) if in_n <= out_n else len(out_at)
            busy = in_at if in_n <= out_n else out_at  # the faster side moves every cycle
            assert busy == list(range(busy[0], busy[0] + n))

    @cocotb.test()
    async def without_stalls(dut):
        """Exact outputs, latency and throughput with the input always valid and the output
        always ready."""
        await windows_through(dut, 0.0, 0.0, int(os.environ["HALF_SEED"]))

    @cocotb.test()
    async def with_stalls(dut):
        """Exact outputs under random input idles and output back-pressure."""
        await windows_through(dut, float(os.environ["HALF_IDLE"]),
                              float(os.environ["HALF_STALL"]), int(os.environ["HALF_SEED"]) + 1)


@pytest.mark.rtl
@pytest.mark.parametrize("w, in_n, out_n, idle, stall", [(5, 6, 2, 0.5, 0.6),
                                                         (3, 2, 6, 0.3, 0.7),
                                                         (7, 3, 3, 0.6, 0.5)])
def test_axis_width_conv(tmp_path, w, in_n, out_n, idle, stall):
    from half.flow.sim import run_cocotb
    from half.rtl import LIB

    run_cocotb("axis_width_conv", [LIB / "axis_width_conv.v"], "test_axis_width_conv", HERE,
               tmp_path / "build", parameters={"W": w, "IN_N": in_n, "OUT_N": out_n},
               extra_env={"HALF_W": str(w), "HALF_IN_N": str(in_n), "HALF_OUT_N": str(out_n),
                          "HALF_IDLE": str(idle), "HALF_STALL": str(stall),
                          "HALF_SEED": str(w * in_n + out_n)})
