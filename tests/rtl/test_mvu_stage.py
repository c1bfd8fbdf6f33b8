# SPDX-License-Identifier: Apache-2.0
"""mvu_stage against the golden model: random conv / dense layers, foldings and requantization,
random input idles and output back-pressure; bit-exact outputs and the cycle formula, with and
without the partial sums' pipeline level (PSUMS)."""

from __future__ import annotations

import json
import os
import random
import zlib
from pathlib import Path

import numpy as np
import pytest
from tbutil import pack, start, unpack, write_roms

HERE = Path(__file__).resolve().parent

try:
    import cocotb
    from cocotb.triggers import ReadOnly, RisingEdge
except ImportError:  # pragma: no cover - cocotb is a dependency
    cocotb = None


if cocotb is not None:

    @cocotb.test()
    async def windows_through(dut):
        """Windows in, pooled output vectors out, compared with the golden model."""
        case = json.loads(Path(os.environ["HALF_CASE"]).read_text())
        p = case["params"]
        rng = random.Random(case["seed"])
        windows, expected = case["x"], case["y"]  # (n, L_IN, CIN), (n, L_POOL, COUT)
        idle, stall = case["idle"], case["stall"]
        # clean_first: no input idles until window 0's last beat is taken, no back-pressure
        # until its last output beat, so its latency is measured under random stalls too
        clean_first = case.get("clean_first", False)
        await start(dut, ("s_axis_tvalid", "s_axis_tlast", "m_axis_tready"))
        beats = [(w, t) for w in range(len(windows)) for t in range(p["L_IN"])]
        got: list[list[int]] = []
        in_last, out_last = {}, []
        sent, cycle = 0, 0
        limit = 50 * (len(windows) + 2) * max(case["n_cycles"], p["L_IN"]) + 1000
        while len(got) < sum(len(e) for e in expected) and cycle < limit:
            calm = clean_first and not out_last  # window 0's output not out yet
            if sent < len(beats) and (rng.random() >= idle or calm and 0 not in in_last):
                w, t = beats[sent]
                dut.s_axis_tdata.value = pack(windows[w][t], p["IN_W"])
                dut.s_axis_tlast.value = int(t == p["L_IN"] - 1)
                dut.s_axis_tvalid.value = 1
            else:
                dut.s_axis_tvalid.value = 0
            dut.m_axis_tready.value = int(rng.random() >= stall or calm)
            await ReadOnly()
            accepted = bool(dut.s_axis_tvalid.value) and bool(dut.s_axis_tready.value)
            if accepted and beats[sent][1] == p["L_IN"] - 1:
                in_last[beats[sent][0]] = cycle
            if dut.m_axis_tvalid.value and dut.m_axis_tready.value:
                if p.get("ARGMAX"):  # the fused argmax: the class index
                    got.append([int(dut.m_axis_tdata.value)])
                else:
                    got.append(unpack(int(dut.m_axis_tdata.value), p["COUT"], p["OUT_W"],
                                       bool(p["OUT_SIGNED"])))
                if dut.m_axis_tlast.value:
                    out_last.append(cycle)
            await RisingEdge(dut.clk)
            sent += accepted
            cycle += 1
        flat = [v for window in expected for v in window]
        assert len(got) == len(flat), f"{len(got)} of {len(flat)} output beats"
        for i, (g, e) in enumerate(zip(got, flat, strict=True)):
            assert g == e, f"beat {i} (window {i // len(expected[0])}): got {g}, want {e}"
        Path(os.environ["HALF_TIMING"]).write_text(json.dumps({"in_last": in_last,
                                                               "out_last": out_last}))


def _case(rng: np.random.Generator, kind: str, pe: int, simd: int, pool: int, out_bits: int):
    """A random IR layer (Conv or Dense) with the golden outputs of 3 random windows."""
    from half.hw import golden
    from half.hw.ir import Conv, Dense, IntType, MaxPool
    from half.hw.lower import _acc_range, _acc_type, make_requant

    argmax = kind == "dense-argmax"
    kind = "dense" if argmax else kind
    in_t = IntType(8, True) if kind == "conv-signed" else IntType(4, False)
    cin, cout, k, stride, pad, length = {"conv-signed": (1, 6, 5, 2, 2, 23),
                                         "conv": (4, 8, 3, 1, 1, 10),
                                         "depthwise": (6, 6, 5, 1, 2, 12),
                                         "dense": (12, 6 if argmax else 5, 1, 1, 0, 1)}[kind]
    groups = cin if kind == "depthwise" else 1
    w = rng.integers(-7, 8, size=(cout, cin // groups, k) if kind != "dense" else (cout, cin))
    acc = _acc_range(w, in_t)
    a = rng.uniform(0.5, 2.0, cout) / max(abs(acc[0]), acc[1], 1) * 2 ** out_bits
    d = rng.uniform(-1, 2, cout)
    if kind == "dense":
        from half.hw.ir import Requant

        r = Requant("affine", IntType.for_range(acc[0] * 40000 - 99, acc[1] * 40000 + 99),
                    mul=rng.integers(1000, 40000, cout), add=rng.integers(-99, 99, cout))
        layer = Dense("dense0", cin, cout, w, in_t, IntType(4, True), IntType.for_range(*acc), r)
    else:
        r = make_requant(a, d, IntType(out_bits, False), acc)
        layer = Conv("conv0", cin, cout, k, stride, pad, groups, length, w, in_t, IntType(4, True),
                     _acc_type(acc, r), r)
    n = 3
    x = rng.integers(in_t.min, in_t.max + 1, size=(n, cin, length))
    y = golden.step(layer, x, None) if kind != "dense" else golden.step(layer, x[:, :, 0], None)
    if kind != "dense" and pool > 1:
        y = golden.step(MaxPool("p", cout, y.shape[2], pool, r.out), y, None)
    if argmax:  # first largest score: ties are likely with few distinct weights
        y = np.argmax(y, axis=1)[:, None, None]
    elif kind == "dense":
        y = y[:, :, None]
    return layer, x.transpose(0, 2, 1).tolist(), y.transpose(0, 2, 1).tolist(), length


@pytest.mark.rtl
@pytest.mark.parametrize("kind, pe, simd, pool, out_bits, idle, stall", [
    ("conv-signed", 2, 5, 1, 4, 0.0, 0.0),  # first layer: cin 1, SIMD spanning taps, stride 2
    ("conv", 4, 2, 2, 3, 0.3, 0.4),  # thresholds, fused max-pool, stalls both sides
    ("conv", 1, 12, 3, 6, 0.0, 0.0),  # multiply-shift, all taps at once
    ("dense", 5, 3, 1, 0, 0.2, 0.5),  # classifier: affine scores
    ("dense-argmax", 2, 4, 1, 0, 0.2, 0.5),  # classifier with its argmax fused, 3 groups
    ("depthwise", 3, 5, 2, 4, 0.0, 0.0),  # vector unit: PE channels x all taps, max-pool
    ("depthwise", 2, 1, 1, 2, 0.3, 0.4),  # one tap a step, stalls both sides
])
def test_mvu_stage(tmp_path, kind, pe, simd, pool, out_bits, idle, stall):
    _run(tmp_path, kind, pe, simd, pool, out_bits, idle, stall)


@pytest.mark.rtl
@pytest.mark.parametrize("kind, pe, simd, psums, pool, out_bits, idle, stall", [
    ("depthwise", 3, 5, 5, 2, 4, 0.3, 0.4),  # thresholds, 2 groups, one lane per sum, stalls
    ("dense-argmax", 2, 4, 2, 1, 0, 0.2, 0.5),  # affine scores, argmax over 3 groups, stalls
])
def test_mvu_stage_partial_sums(tmp_path, kind, pe, simd, psums, pool, out_bits, idle, stall):
    """PSUMS = P: the sums of P lane groups registered before the accumulator. Bit-exact, and
    the latency one cycle longer (`mvu_depth`), measured on the first window even where the
    later ones see idles and back-pressure. (Standard convolutions with partial sums are
    verified in a whole design: tests/test_psums.py.)"""
    _run(tmp_path, kind, pe, simd, pool, out_bits, idle, stall, psums=psums)


def _run(tmp_path, kind, pe, simd, pool, out_bits, idle, stall, psums=0):
    from half.flow.sim import run_cocotb
    from half.hw.design import geometry
    from half.hw.rom import mvu_params, mvu_roms
    from half.rtl import LIB

    rng = np.random.default_rng(zlib.crc32(repr((kind, pe, simd, pool, psums)).encode()))
    layer, x, y, length = _case(rng, kind, pe, simd, pool, out_bits)
    geo = geometry(layer)  # the layer's shape, as its design stage gives it
    params = mvu_params(layer, geo, pe, simd, pool)
    if kind == "dense-argmax":
        params.update(ARGMAX=1, IDX_W=3)
    if psums:
        params.update(PSUMS=psums)
    # products in logic (shift-and-add) and weights in a block-RAM ROM on some cases
    params.update(MAC_DSP=int(kind not in ("conv", "dense")),
                  W_BRAM=int(kind in ("dense", "depthwise") and simd < 5),
                  BUF_BRAM=int(kind in ("dense", "conv-signed", "dense-argmax")))
    files = write_roms(mvu_roms(layer, geo, pe, simd), tmp_path)
    from half.hw.design import cycles_of

    n_cycles = cycles_of(layer, pe, simd)  # the cost model's formula, checked here
    case = {"params": params, "x": x, "y": y, "seed": 11, "idle": idle, "stall": stall,
            "n_cycles": n_cycles, "clean_first": bool(psums)}
    (tmp_path / "case.json").write_text(json.dumps(case))
    run_cocotb("mvu_stage", [LIB / "mvu_stage.v"], "test_mvu_stage", HERE, tmp_path / "build",
               parameters={**params, **files},
               extra_env={"HALF_CASE": str(tmp_path / "case.json"),
                          "HALF_TIMING": str(tmp_path / "timing.json")})
    timing = json.loads((tmp_path / "timing.json").read_text())
    if idle == 0 and stall == 0 or case["clean_first"]:
        # last input beat -> last output beat: N MAC steps + the stage's depth; then windows
        # follow each other at the stage's initiation interval max(N, L_IN)
        from half.hw.design import mvu_depth

        steps = n_cycles // params.get("L_IN", 1) if "dense" in kind else n_cycles // \
            layer.length_out
        dropped = 0 if "dense" in kind else layer.length_out % pool  # positions the pool drops
        latency = timing["out_last"][0] - timing["in_last"]["0"]
        assert latency == n_cycles - dropped * steps + mvu_depth(layer.requant, psums), timing
    if idle == 0 and stall == 0:
        gaps = np.diff(timing["out_last"])
        assert (gaps == max(n_cycles, params["L_IN"])).all(), timing


def test_threshold_tree_search_counts():
    """The heap-ordered tree the RTL searches one level per cycle gives, for every sum, the
    count of thresholds <= sum (the golden model's rule), whatever order they come in."""
    from half.hw.rom import threshold_tree

    rng = np.random.default_rng(5)
    for bits in (1, 2, 4):
        thr = rng.integers(-40, 40, size=(6, (1 << bits) - 1))  # unsorted, with repeats
        heap = threshold_tree(thr)
        for c in range(thr.shape[0]):
            for x in range(-45, 46):
                h = 1
                for _ in range(bits):  # one comparison per level, as mvu_stage's g_thresholds
                    h = 2 * h + int(x >= heap[c, h])
                assert h - (1 << bits) == int((thr[c] <= x).sum()), (bits, c, x)
