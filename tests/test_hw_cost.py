# SPDX-License-Identifier: Apache-2.0
"""Cost models and folding per design goal."""

from __future__ import annotations

import pytest

from conftest import run_half, run_json
from half.errors import ConfigError
from half.hw.cost import Folding, estimate
from half.hw.design import cycles_of, options
from half.hw.devices import get_device
from half.hw.folding import GOALS, fold, fold_for_ii, set_folding
from half.hw.lower import lower
from half.hw.power import power_model
from half.nn.arch import Arch, ConvBlock, DenseLayer
from half.nn.export import export_qonnx
from half.nn.model import QuantCNN

ARCH = Arch(window=360, n_classes=5, decimation=2, side_inputs=8, per_channel=True,
            blocks=(ConvBlock(8, kernel=7, pool=2, weight_bits=4, act_bits=4),
                    ConvBlock(16, kernel=5, pool=2, weight_bits=4, act_bits=4),
                    ConvBlock(16, kernel=3, kind="dwsep", weight_bits=6, act_bits=6)),
            dense=(DenseLayer(16, weight_bits=4, act_bits=4),), out_bits=6)
RATE = 250 / 60  # one beat at 250 bpm


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    import torch

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("cost") / "m.qonnx.onnx"
    export_qonnx(QuantCNN(ARCH), path)  # untrained weights lower and cost like trained ones
    return lower(path)


def test_cycle_formulas_by_hand(graph):
    conv0, conv1, dw, pw = [x for x in graph.mac_layers() if hasattr(x, "kernel")]
    # conv0: cin 1, K 7, 180 outputs, 8 channels; SIMD may span taps when cin = 1
    assert options(conv0)[1] == [1, 7]
    assert cycles_of(conv0, 1, 1) == 180 * 7 * 8
    assert cycles_of(conv0, 2, 7) == 180 * 1 * 4
    # conv1: cin 8, K 5, 90 outputs, 16 channels
    assert cycles_of(conv1, 4, 2) == 90 * (5 * 8 // 2) * (16 // 4)
    assert options(conv1)[1] == [1, 2, 4, 8, 40]  # channel divisors, or all taps of 8 channels
    # depthwise: PE channels, SIMD taps
    assert dw.groups == 16 and cycles_of(dw, 4, 3) == 45 * (16 // 4) * 1
    dense = graph.mac_layers()[-2]
    assert cycles_of(dense, 2, 8) == (24 // 8) * (16 // 2)


def test_estimate_totals_and_pipeline_timing(graph):
    dev = get_device("up5k")
    f = fold_for_ii(graph, 2000, 12.0)
    est = estimate(graph, dev, f, power_model(dev))
    assert est.ii == max(s.cycles for s in est.stages) <= 2000
    assert est.latency_cycles == sum(s.cycles - s.tail + s.depth for s in est.stages)
    conv0 = est.stages[1]  # 180 outputs, max-pool 2 drops none; a pool of 7 would drop 5
    assert conv0.tail == 0 and conv0.latency == conv0.cycles + conv0.depth
    assert est.throughput == pytest.approx(12e6 / est.ii)
    assert est.total("luts") == pytest.approx(sum(s.luts for s in est.stages))
    assert est.power_mw(RATE) > est.static_mw >= 0
    # more parallelism: fewer cycles, more LUTs
    fast = estimate(graph, dev, fold_for_ii(graph, 600, 12.0), power_model(dev))
    assert fast.ii < est.ii and fast.total("luts") > est.total("luts")


def test_dynamic_power_follows_the_documented_formula(graph):
    dev = get_device("xc7z020")
    pw = power_model(dev)
    est = estimate(graph, dev, fold_for_ii(graph, 2000, 100.0), pw)
    volt = (dev.vcc_core_v / pw.vref_v) ** 2
    per_mhz = sum(s.luts * pw.lut + s.ffs * pw.ff + s.dsp * pw.dsp + s.bram * pw.bram
                  for s in est.stages)  # µW per MHz at the reference toggle rate
    assert est.dynamic_mw_busy == pytest.approx(volt * per_mhz * 100.0 / 1000)
    assert est.clock_mw == pytest.approx(volt * est.total("ffs") * pw.clock_per_ff * 100 / 1000)
    busy_uj = sum(volt * (s.luts * pw.lut + s.ffs * pw.ff + s.dsp * pw.dsp + s.bram * pw.bram)
                  * 1e-6 * (s.cycles + s.depth) for s in est.stages)  # busy cycles
    assert est.energy_dyn_uj == pytest.approx(busy_uj)
    # energy of one inference: (static + clock) power over the latency, plus busy energy
    assert est.energy_uj() == pytest.approx((est.static_mw + est.clock_mw) * est.latency_s * 1e3
                                            + busy_uj)


def test_fold_for_ii_is_minimal(graph):
    f = fold_for_ii(graph, 3000, 10.0)
    for layer in graph.mac_layers():
        pe, simd = f.pe_simd[layer.name]
        assert cycles_of(layer, pe, simd) <= 3000
        pes, simds = options(layer)
        fewer = [(p, s) for p in pes for s in simds if p * s < pe * simd]
        assert all(cycles_of(layer, p, s) > 3000 for p, s in fewer)


@pytest.mark.parametrize("device", ["ecp5-85k", "xc7z020"])
def test_three_goals_three_designs_each_best_on_its_metric(graph, device):
    import dataclasses

    from half.hw.goal import HIGH_THROUGHPUT

    dev = get_device(device)
    pw = power_model(dev)
    # high-throughput also tries partial sums (`Folding.psums`) and wide input beats
    # (`Folding.samples_per_beat`), which the rate goals do not: a pipelined design's faster
    # clock or a wide design's shorter latency can also lower its energy by the model, so each
    # goal is compared in the space they share, and the full choice is at least as fast
    flat = dataclasses.replace(HIGH_THROUGHPUT, pipeline=False, wide_input=False)
    results = {g: fold(graph, dev, flat if g == flat.name else g, RATE, pw) for g in GOALS}
    piped = fold(graph, dev, HIGH_THROUGHPUT, RATE, pw)[1]
    assert piped.throughput >= results[flat.name][1].throughput
    foldings = {g: (r[0].clock_mhz, tuple(sorted(r[0].pe_simd.items()))) for g, r in
                results.items()}
    assert len(set(foldings.values())) == 3
    est = {g: r[1] for g, r in results.items()}
    assert all(e.fits(dev) for e in est.values())
    assert est["high-throughput"].throughput >= max(e.throughput for e in est.values())
    assert est["low-power"].power_mw(RATE) <= min(e.power_mw(RATE) for e in est.values())
    assert est["low-energy"].energy_uj() <= min(e.energy_uj() for e in est.values())
    for g in ("low-power", "low-energy"):
        assert est[g].throughput >= RATE


def test_set_folding_raises_simd_before_pe(graph):
    f = set_folding(graph, 1000, 12.0)
    for layer in graph.mac_layers():
        pe, simd = f.pe_simd[layer.name]
        if pe > 1:
            assert simd == options(layer)[1][-1]  # SIMD was exhausted first
        assert cycles_of(layer, pe, simd) <= 1000 or (pe, simd) == (options(layer)[0][-1],
                                                                   options(layer)[1][-1])


def test_too_big_or_bad_goal_is_rejected(graph):
    with pytest.raises(ConfigError, match="goal"):
        fold(graph, get_device("up5k"), "fastest", RATE)
    with pytest.raises(ConfigError, match="no folding of this network fits up5k"):
        fold(graph, get_device("up5k"), "low-power", 1e6, power_model(get_device("up5k")))
    with pytest.raises(ConfigError, match="unknown device"):
        get_device("ice99")
    assert Folding({"conv1": (2, 4)}, 12.0).to_dict()["layers"]["conv1"] == {"pe": 2, "simd": 4}


def test_high_throughput_beats_every_balanced_design_at_every_clock_its_fmax_allows():
    """A large design at a slow clock can beat a small one at a fast clock (routing congestion
    lowers a large design's fmax): the folder must look at every clock, not only the fastest."""
    from half.hw.folding import FMAX_MARGIN, _balanced, _clocks, _targets
    from half.hw.plan import graph_for

    g = graph_for("preset:small", "mitdb-aami")[0]
    dev = get_device("ecp5-85k")
    f, est, _ = fold(g, dev, "high-throughput")
    assert est.fits(dev) and est.fmax_mhz and f.clock_mhz <= FMAX_MARGIN * est.fmax_mhz
    targets = _targets(g)
    best = max(e.throughput for c in _clocks(dev) for _, e in _balanced(g, dev, c, targets, None)
               if c <= FMAX_MARGIN * e.fmax_mhz)
    assert est.throughput == pytest.approx(best)


def test_estimate_command_line(graph, tmp_path):
    export_qonnx(QuantCNN(ARCH), tmp_path / "m.onnx")
    res = run_json("estimate", "--model", str(tmp_path / "m.onnx"), "--task", "mitdb-aami",
                   "--device", "ecp5-85k", "--goal", "high-throughput")
    assert set(res["folding"]["layers"]) == {x.name for x in graph.mac_layers()}
    assert res["ii_cycles"] == max(s["cycles"] for s in res["stages"])
    assert any("estimate" in n for n in res["notes"])
    assert res["calibrated"] is True and res["calibration_note"] is None
    proc = run_half("estimate", "--model", str(tmp_path / "m.onnx"), "--device", "nope")
    assert proc.returncode != 0 and "unknown device" in proc.stderr
    # a family without calibration says so in the table, not only in the JSON
    proc = run_half("estimate", "--model", str(tmp_path / "m.onnx"), "--task", "mitdb-aami",
                    "--device", "lifcl-40")
    text = " ".join(proc.stdout.split())
    assert proc.returncode == 0, proc.stderr
    assert "NOT calibrated" in text
    assert "warning: CrossLink-NX (nexus): NOT calibrated" in text


def test_estimates_say_whether_their_family_is_calibrated(graph, tmp_path, monkeypatch):
    from half.hw import cost

    f = fold_for_ii(graph, 2000, 12.0)
    up5k, nexus = get_device("up5k"), get_device("lifcl-40")
    est = estimate(graph, up5k, f)
    assert est.calibrated and est.calibration_note is None and est.fmax_mhz
    assert est.to_dict()["calibrated"] is True
    raw = estimate(graph, nexus, f)
    d = raw.to_dict()
    assert d["calibrated"] is False and d["fmax_estimate_mhz"] is None
    assert d["calibration_note"].startswith("CrossLink-NX (nexus): NOT calibrated")
    asked = estimate(graph, up5k, f, calibrated=False)
    assert not asked.calibrated and "calibrated=False" in asked.calibration_note
    # calibration.json missing (a broken install): every estimate says so; nothing changes
    # for the calibrated figures once it is back
    monkeypatch.setattr(cost, "CALIBRATION", tmp_path / "calibration.json")
    cost.calibration.cache_clear()
    try:
        broken = estimate(graph, up5k, f)
        assert cost.calibration() == {} and not broken.calibrated
        assert "calibration.json is missing" in broken.calibration_note
        assert broken.fmax_mhz is None
    finally:
        monkeypatch.undo()
        cost.calibration.cache_clear()
    again = estimate(graph, up5k, f)
    assert again.calibrated and again.to_dict() == est.to_dict()


def test_unknown_power_coefficients_are_borrowed_and_said():
    notes: list[str] = []
    ecp5 = power_model(get_device("ecp5-85k"), notes)
    ice40 = power_model(get_device("up5k"))
    assert ecp5.lut == ice40.lut > 0  # ECP5 LUT power borrowed from the iCE40 measurements
    assert any("ecp5 lut power coefficient unknown: borrowed from ice40up" in n for n in notes)
    assert ice40.bram is not None and ice40.bram > 0


def test_weight_bits_synthesis_keeps_follow_the_rom_layout(graph):
    from dataclasses import replace as _replace

    import numpy as np

    from half.hw.cost import _weight_bits

    dense = graph.mac_layers()[-2]
    assert dense.w_type.bits == 4 and dense.w_type.signed
    w = np.zeros((4, 2), dtype=np.int64)  # fout 4, fin 2, weights 4-bit signed
    w[0, 0], w[1, 0], w[2, 1], w[3, 1] = 3, 3, -1, 1  # 0011, 0011, 1111, 0001
    layer = _replace(dense, fin=2, fout=4, weights=w)
    # fully parallel (PE 4, SIMD 2): one word, every weight a constant: its set bits, no register
    assert _weight_bits(layer, 4, 2) == (2 + 2 + 4 + 1, 0)
    # PE 2: words g = 0 (channels 0, 1) and 1 (channels 2, 3); lane (p, j) sees channel
    # g*2 + p, input j: lane (0,0) 0011|0000, (1,0) 0011|0000, (0,1) 0000|1111, (1,1) 0000|0001
    assert _weight_bits(layer, 2, 2) == (2 + 2 + 4 + 1, 2 + 2 + 4 + 1)
    # PE 1, SIMD 1: one lane sees 3, 0, 3, 0, 0, -1, 0, 1 in turn: bits 0-3 set, all vary
    assert _weight_bits(layer, 1, 1) == (4, 4)
    w2 = np.full((4, 2), 5, dtype=np.int64)  # the same weight everywhere: constant ones
    assert _weight_bits(_replace(dense, fin=2, fout=4, weights=w2), 1, 1) == (2, 0)


def test_a_fully_parallel_stage_has_constant_weights(graph):
    """One ROM word: no weight ROM, block RAM, weight register or DSP; the products are the
    set bits' shifted adds (what Yosys keeps of constant weights)."""
    from half.hw.cost import _weight_bits

    dev = get_device("ecp5-85k")
    dense = graph.mac_layers()[-2]  # 24 -> 16, 4-bit weights
    pe_simd = {x.name: (1, 1) for x in graph.mac_layers()}
    serial = estimate(graph, dev, Folding(pe_simd, 12.0), calibrated=False)
    full = estimate(graph, dev, Folding(pe_simd | {dense.name: (16, 24)}, 12.0),
                    calibrated=False)
    s = next(x for x in serial.stages if x.name == dense.name)
    f = next(x for x in full.stages if x.name == dense.name)
    live, varying = _weight_bits(dense, 16, 24)
    assert varying == 0 and 0 < live < 16 * 24 * 4
    xb = dense.in_type.bits + (0 if dense.in_type.signed else 1)
    assert f.parts["multipliers"] == live * xb and "adders" not in f.parts
    assert not f.w_bram and not f.mac_dsp and f.dsp == s.dsp  # only the requant multipliers
    assert s.w_bram and s.parts["adders"] == 0  # serial: weights in block RAM, one lane
