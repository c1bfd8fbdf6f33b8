# SPDX-License-Identifier: Apache-2.0
"""argmax: random signed score vectors with many ties and extreme values, without stalls and
under random input idles and output back-pressure; the index (first one on ties) is checked
against Python, with the latency of N cycles."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from tbutil import pack, start, stream

HERE = Path(__file__).resolve().parent
DRAIN = 20  # cycles run after the last expected beat, to catch extra beats

try:
    import cocotb
except ImportError:  # pragma: no cover - cocotb is a dependency
    cocotb = None


def scores(rng: random.Random, n: int, w: int) -> list[int]:
    """One score vector: full-range values, or a few values repeated (ties), with the extremes
    of the W-bit signed range."""
    lo, hi = -(1 << (w - 1)), (1 << (w - 1)) - 1
    if rng.random() < 0.5:
        return [rng.randint(lo, hi) for _ in range(n)]
    pool = [rng.choice((lo, hi, rng.randint(lo, hi))) for _ in range(rng.randint(1, 3))]
    return [rng.choice(pool) for _ in range(n)]


def first_argmax(s: list[int]) -> int:
    return s.index(max(s))


if cocotb is not None:

    async def vectors_through(dut, idle: float, stall: float, seed: int) -> None:
        n, w = int(os.environ["HALF_N"]), int(os.environ["HALF_W"])
        rng = random.Random(seed)
        vecs = [scores(rng, n, w) for _ in range(400)]
        want = [first_argmax(s) for s in vecs]
        await start(dut, ("s_axis_tvalid", "s_axis_tlast", "m_axis_tready"))
        beats = [(pack(v, w), rng.getrandbits(1)) for v in vecs]  # tlast: ignored by argmax
        out, in_at, out_at = await stream(dut, beats, rng, idle, stall,
                                          lambda _, n_out: n_out >= len(vecs), DRAIN,
                                          30 * len(vecs))
        assert all(last == 1 for _, last in out)
        got = [d for d, _ in out]
        assert got == want
        lat = [o - i for i, o in zip(in_at, out_at, strict=True)]
        assert min(lat) >= n
        if idle == 0 and stall == 0:  # one comparison per cycle, a new beat every N cycles
            assert lat == [n] * len(vecs)
            assert in_at == list(range(in_at[0], in_at[0] + n * len(vecs), n))

    @cocotb.test()
    async def without_stalls(dut):
        await vectors_through(dut, 0.0, 0.0, int(os.environ["HALF_SEED"]))

    @cocotb.test()
    async def with_stalls(dut):
        await vectors_through(dut, float(os.environ["HALF_IDLE"]),
                              float(os.environ["HALF_STALL"]), int(os.environ["HALF_SEED"]) + 1)


@pytest.mark.rtl
@pytest.mark.parametrize("n, w, idx_w, idle, stall", [(5, 3, 3, 0.3, 0.7), (8, 16, 4, 0.6, 0.4)])
def test_argmax(tmp_path, n, w, idx_w, idle, stall):
    from half.flow.sim import run_cocotb
    from half.rtl import LIB

    run_cocotb("argmax", [LIB / "argmax.v"], "test_argmax", HERE, tmp_path / "build",
               parameters={"N": n, "W": w, "IDX_W": idx_w},
               extra_env={"HALF_N": str(n), "HALF_W": str(w), "HALF_IDLE": str(idle),
                          "HALF_STALL": str(stall), "HALF_SEED": str(n * w)})
