# SPDX-License-Identifier: Apache-2.0
"""axis_frame: tlast-framed windows, some short (a lost sample) or long (an extra sample or a
lost tlast), come out as whole windows of L samples (short ones zero-padded, long ones cut and
the rest dropped up to their tlast) and set the sticky error flag; checked beat by beat against
Python under random input idles and output back-pressure (Verilator)."""

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


def frame(frames: list[list[int]], length: int) -> list[tuple[int, int]]:
    """What leaves axis_frame for input frames (each ended by tlast): L beats per frame."""
    out = []
    for f in frames:
        whole = (f + [0] * length)[:length]
        out += [(v, int(t == length - 1)) for t, v in enumerate(whole)]
    return out


def faulty_frames(rng: random.Random, w: int, length: int, n: int, faults: bool
                  ) -> list[list[int]]:
    frames = [[rng.getrandbits(w) for _ in range(length)] for _ in range(n)]
    if faults:
        del frames[3][rng.randrange(length)]  # a lost sample
        frames[6].insert(rng.randrange(length), rng.getrandbits(w))  # an extra one
        frames[9:11] = [frames[9] + frames[10]]  # a lost tlast: two windows in one frame
        frames[13] = frames[13][:1]  # a window cut to its first sample
    return frames


if cocotb is not None:

    async def frames_through(dut, idle: float, stall: float, seed: int, faults: bool) -> None:
        w, length = int(os.environ["HALF_W"]), int(os.environ["HALF_L"])
        rng = random.Random(seed)
        frames = faulty_frames(rng, w, length, 18, faults)
        beats = [(v, int(t == len(f) - 1)) for f in frames for t, v in enumerate(f)]
        want = frame(frames, length)
        await start(dut, ("s_axis_tvalid", "s_axis_tlast", "m_axis_tready"))
        assert int(dut.err.value) == 0
        got, in_at, out_at = await stream(dut, beats, rng, idle, stall,
                                          lambda n_in, n_out: n_in >= len(beats)
                                          and n_out >= len(want), DRAIN, 40 * len(beats))
        assert got == want
        assert int(dut.err.value) == int(faults)
        if idle == 0 and stall == 0 and not faults:  # a combinational pass-through
            assert out_at == in_at == list(range(in_at[0], in_at[0] + len(beats)))

    @cocotb.test()
    async def clean_windows(dut):
        await frames_through(dut, 0.0, 0.0, int(os.environ["HALF_SEED"]), False)

    @cocotb.test()
    async def faulty_windows_with_stalls(dut):
        await frames_through(dut, float(os.environ["HALF_IDLE"]),
                             float(os.environ["HALF_STALL"]), int(os.environ["HALF_SEED"]) + 1,
                             True)


@pytest.mark.rtl
@pytest.mark.parametrize("w, length, idle, stall", [(8, 10, 0.3, 0.5), (5, 2, 0.5, 0.2),
                                                    (4, 17, 0.0, 0.0)])
def test_axis_frame(tmp_path, w, length, idle, stall):
    from half.flow.sim import run_cocotb
    from half.rtl import LIB

    run_cocotb("axis_frame", [LIB / "axis_frame.v"], "test_axis_frame", HERE,
               tmp_path / "build", parameters={"W": w, "L": length},
               extra_env={"HALF_W": str(w), "HALF_L": str(length), "HALF_IDLE": str(idle),
                          "HALF_STALL": str(stall), "HALF_SEED": str(w + length)})
