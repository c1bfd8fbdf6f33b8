# SPDX-License-Identifier: Apache-2.0
"""The stream contract of a generated top (half.hw.design.CONTRACT), driven by a third-party
AXI4-Stream driver (cocotbext-axi) on real test-split windows of preset:tiny (mitdb-aami, with
side features), against the golden model:

* random input pauses on both inputs and output back-pressure; one window loses a sample: the
  framing error rises right after that window's tlast, its class is not checked, and every
  other window's class, before and after it, is the golden model's; a reset then clears the
  flag and the windows sent after it are classified correctly;
* a single-threaded driver whose side beats lead their windows by SIDE_LAG + 1 windows, and one
  whose side beats trail their windows' samples by SIDE_TRAIL + 2 windows (window w's side beat
  sent only after every sample of windows w + 1 .. w + SIDE_TRAIL + 2): no deadlock, every
  class right.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
SIDE_LAG = 4  # the top's parameter in this test (the default, 0, is what `half verify` runs)
# likewise (default 0): the join queues this many pooled vectors. Large enough that the
# trailing driver needs the queue: without it, this top's own buffers (three conv stages) take
# the samples of 6 windows after a missing side beat's window, not 8
SIDE_TRAIL = 6
FAULTY = 3  # the window that loses a sample

try:
    import cocotb
except ImportError:  # pragma: no cover - cocotb is a dependency
    cocotb = None


if cocotb is not None:
    from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge, with_timeout

    def _pauses(rng: random.Random, p: float):
        while True:
            yield rng.random() < p

    class TB:
        """Clock, reset, AXI4-Stream sources on s_axis and side_axis, a sink on m_axis."""

        def __init__(self, dut, case: dict):
            from cocotb.clock import Clock
            from cocotbext.axi import AxiStreamBus, AxiStreamSink, AxiStreamSource

            self.dut, self.case = dut, case
            cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
            self.src = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis"), dut.clk,
                                       byte_lanes=1)
            self.side = AxiStreamSource(AxiStreamBus.from_prefix(dut, "side_axis"), dut.clk,
                                        byte_lanes=1)
            self.sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis"), dut.clk,
                                      byte_lanes=1)
            self.cycle = 0
            self.tlast_at: list[int] = []  # cycles of input tlast handshakes
            self.err_at: int | None = None  # first cycle err_framing is seen high
            cocotb.start_soon(self._monitor())

        async def _monitor(self) -> None:
            dut = self.dut
            while True:
                await RisingEdge(dut.clk)
                await ReadOnly()
                self.cycle += 1
                if int(dut.rst.value):
                    continue
                if (int(dut.s_axis_tvalid.value) and int(dut.s_axis_tready.value)
                        and int(dut.s_axis_tlast.value)):
                    self.tlast_at.append(self.cycle)
                if int(dut.err_framing.value) and self.err_at is None:
                    self.err_at = self.cycle

        async def reset(self) -> None:
            self.dut.rst.value = 1
            await ClockCycles(self.dut.clk, 3)
            self.dut.rst.value = 0
            await RisingEdge(self.dut.clk)

        def samples(self, w: int) -> list[int]:
            mask = (1 << self.case["in_width"]) - 1
            return [v & mask for v in self.case["x"][w]]

        async def classes(self, n: int, timeout_us: float) -> list[int]:
            got = []
            for _ in range(n):
                frame = await with_timeout(self.sink.recv(), timeout_us, "us")
                assert len(frame.tdata) == 1  # tlast on every beat: one-beat packets
                got.append(int(frame.tdata[0]))
            return got

    def _case() -> dict:
        return json.loads(Path(os.environ["HALF_CASE"]).read_text())

    @cocotb.test()
    async def dropped_sample_with_pauses_and_backpressure(dut):
        case = _case()
        n = len(case["x"])
        tb = TB(dut, case)
        rng = random.Random(case["seed"])
        tb.src.set_pause_generator(_pauses(rng, 0.3))
        tb.side.set_pause_generator(_pauses(rng, 0.5))
        tb.sink.set_pause_generator(_pauses(rng, 0.4))
        await tb.reset()
        assert int(dut.err_framing.value) == 0
        for w in range(n):
            data = tb.samples(w)
            if w == FAULTY:
                del data[rng.randrange(len(data))]
            await tb.side.send([case["side"][w]])
            await tb.src.send(data)
        got = await tb.classes(n, case["timeout_us"])
        assert len(tb.tlast_at) == n
        # flagged right after the faulty window's tlast, not before
        assert tb.err_at == tb.tlast_at[FAULTY] + 1, (tb.err_at, tb.tlast_at)
        want = case["want"]
        assert [g for w, g in enumerate(got) if w != FAULTY] == \
               [c for w, c in enumerate(want) if w != FAULTY]
        await ClockCycles(dut.clk, 50)
        assert tb.sink.empty()  # nothing extra came out
        # reset clears the flag; the next windows are framed from their first sample
        await tb.reset()
        assert int(dut.err_framing.value) == 0
        for w in range(2):
            await tb.side.send([case["side"][w]])
            await tb.src.send(tb.samples(w))
        assert await tb.classes(2, case["timeout_us"]) == want[:2]
        assert int(dut.err_framing.value) == 0

    async def _blocking(source, frame) -> None:
        """A single-threaded driver's send: returns once the frame has been taken."""
        await source.send(frame)
        await source.wait()

    @cocotb.test()
    async def single_threaded_drivers_with_leading_and_trailing_side_beats(dut):
        case = _case()
        n = len(case["x"])
        tb = TB(dut, case)
        await tb.reset()
        collected = cocotb.start_soon(tb.classes(2 * n, case["timeout_us"] * 2))
        lead, trail = SIDE_LAG + 1, SIDE_TRAIL + 2  # the contract's bounds
        # side beats lead: the side beats of windows up to w + lead go before window w's samples
        for w in range(n):
            if w == 0:
                for k in range(min(lead + 1, n)):
                    await _blocking(tb.side, [case["side"][k]])
            elif w + lead < n:
                await _blocking(tb.side, [case["side"][w + lead]])
            await _blocking(tb.src, tb.samples(w))
        # side beats trail: window w's side beat goes after the samples of window w + trail
        for w in range(n + trail):
            if w < n:
                await _blocking(tb.src, tb.samples(w))
            if w >= trail:
                await _blocking(tb.side, [case["side"][w - trail]])
        got = await collected
        assert got == case["want"] * 2
        assert int(dut.err_framing.value) == 0


@pytest.mark.rtl
def test_top_stream_contract(tmp_path, shared_data):
    from half.flow.sim import run_cocotb
    from half.flow.verify import prepare
    from half.hw.rom import pack
    from half.rtl.build import build

    if not (shared_data / "mitdb").is_dir():
        pytest.skip("no MIT-BIH data")
    project = tmp_path / "p"
    built = build("preset:tiny", "mitdb-aami", "up5k", "high-throughput", project)
    run = prepare(project, windows=10, seed=5, data_dir=shared_data)
    assert run.design["side_width"] > 0
    case = {"x": run.case["x"], "in_width": run.design["in_width"], "seed": 5,
            "side": [pack(row, run.case["side_elem_width"]) for row in run.case["side"]],
            "want": run.want.tolist(),
            # generous: ten times the stall-free time of all windows
            "timeout_us": 10 * (len(run.want) * built["ii_cycles"]
                                + built["latency_cycles"]) * 0.01 + 100}
    (tmp_path / "case.json").write_text(json.dumps(case))
    files = [project / f for f in (project / "files.f").read_text().split()]
    # the simulation runs in the project folder: the ROM paths are relative to it
    run_cocotb("half_top", files, "test_top_stream", project, tmp_path / "build",
               parameters={"SIDE_LAG": SIDE_LAG, "SIDE_TRAIL": SIDE_TRAIL},
               extra_env={"HALF_CASE": str(tmp_path / "case.json")})
