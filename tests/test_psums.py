# SPDX-License-Identifier: Apache-2.0
"""Partial sums before the accumulators (`Folding.psums`, issue 18 item 2): a MAC stage sums its
SIMD lanes in P groups into registers that the next cycle adds into the accumulator. Without
them everything reads as before; with them the stage is one cycle deeper and the latency model
stays exact (design, cost model, Verilator); the cost model counts the registers and the
shorter MAC path; the folder tries them for high-throughput only."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from half.errors import ConfigError
from half.hw.cost import calibration, estimate
from half.hw.design import Design, Folding, MVUStage, bind, mac_levels, mvu_depth
from half.hw.devices import get_device
from half.hw.folding import PIPELINE_MIN_SIMD, best_psums, fold, pipelined
from half.hw.goal import HIGH_THROUGHPUT
from half.hw.ir import Graph
from half.hw.plan import graph_for
from half.hw.power import power_model

# preset:tiny (mitdb-aami) folded with partial sums on every MAC stage: P = SIMD (one lane a
# sum, 8 groups), P < SIMD, and the classifier with its fused argmax (5 groups)
PIPED = {"conv1": (2, 7, 7), "conv3": (2, 8, 2), "conv5": (2, 16, 4), "dense8": (2, 28, 2),
         "dense9": (1, 4, 2)}


@pytest.fixture(scope="module")
def tiny() -> Graph:
    return graph_for("preset:tiny", "mitdb-aami")[0]


def folding(psums: bool = True, clock: float = 12.0, replicas: int = 1) -> Folding:
    return Folding({k: (p, s) for k, (p, s, _) in PIPED.items()}, clock, replicas,
                   {k: ps for k, (_, _, ps) in PIPED.items()} if psums else {})


def test_without_partial_sums_everything_reads_as_before(tiny):
    """No psums (the default, or all zeros): no trace in the folding's JSON, design.json, the
    instance parameters or the estimate."""
    f = folding(psums=False)
    assert f == Folding(f.pe_simd, f.clock_mhz, psums={k: 0 for k in PIPED}) and not f.psums
    assert all(set(v) == {"pe", "simd"} for v in f.to_dict()["layers"].values())
    assert Folding.from_dict(f.to_dict()) == f
    dev = get_device("ecp5-85k")
    d = bind(tiny, f, dev)
    assert "psums" not in json.dumps(d.to_dict()) and "PSUMS" not in json.dumps(d.to_dict())
    assert "psums" not in json.dumps(estimate(tiny, dev, f, power_model(dev)).to_dict())


def test_partial_sums_add_one_cycle_per_stage_and_round_trip(tiny):
    dev = get_device("ecp5-85k")
    base, piped = bind(tiny, folding(psums=False), dev), bind(tiny, folding(), dev)
    d = piped.to_dict()
    assert d["folding"]["layers"]["conv5"] == {"pe": 2, "simd": 16, "psums": 4}
    assert Folding.from_dict(d["folding"]) == folding()
    for st0, st in zip(base.stages, piped.stages, strict=True):
        if isinstance(st, MVUStage):
            assert st.psums == PIPED[st.name][2] and st.params["PSUMS"] == st.psums
            assert st.depth == st0.depth + 1 == mvu_depth(st.layer.requant, st.psums)
        assert (st.cycles, st.tail) == (st0.cycles, st0.tail)
    assert piped.latency_cycles == base.latency_cycles + len(PIPED)
    assert piped.ii_cycles == base.ii_cycles
    est = estimate(tiny, dev, folding())
    assert (est.latency_cycles, est.ii) == (piped.latency_cycles, piped.ii_cycles)
    text = json.dumps(d)
    back = Design.from_dict(json.loads(text), Graph.from_json(tiny.to_json()))
    assert back.stages == piped.stages and json.dumps(back.to_dict()) == text


@pytest.mark.parametrize("bad, fault", [(3, "3 does not divide the layer's SIMD (16)"),
                                        (-1, "must be an integer >= 0"),
                                        (True, "must be an integer >= 0"),
                                        ("4", "must be an integer >= 0")])
def test_bad_partial_sums_are_one_line_config_errors(tiny, bad, fault):
    pe_simd = folding().pe_simd
    with pytest.raises(ConfigError, match=r"^folding\.conv5\.psums: " + re.escape(fault)):
        Folding(pe_simd, 12.0, psums={"conv5": bad})
    d = folding().to_dict()
    d["layers"]["conv5"]["psums"] = bad
    with pytest.raises(ConfigError, match=r"^folding\.conv5\.psums"):
        Folding.from_dict(d)
    # a layer the folding gives no (PE, SIMD) has SIMD 1: only P = 1 divides it
    with pytest.raises(ConfigError, match=r"^folding\.conv1\.psums: 7 does not divide"):
        Folding({}, 12.0, psums={"conv1": 7})


def test_a_given_folding_names_only_mac_layers(tiny):
    from half.rtl.build import check_folding

    check_folding(tiny, folding())
    with pytest.raises(ConfigError, match="no such layer: conv9"):
        check_folding(tiny, dataclasses.replace(folding(), psums={"conv9": 1}))


def test_the_cost_model_counts_the_registers_and_the_shorter_path(tiny):
    dev = get_device("ecp5-85k")
    base = estimate(tiny, dev, folding(psums=False), calibrated=False)
    piped = estimate(tiny, dev, folding(), calibrated=False)
    for s0, s in zip(base.stages, piped.stages, strict=True):
        if s.name not in PIPED:
            assert (s.raw_ffs, s.luts) == (s0.raw_ffs, s0.luts)
            continue
        pe, _, ps = PIPED[s.name]
        layer = next(x for x in tiny.mac_layers() if x.name == s.name)
        groups = (layer.cout if hasattr(layer, "cout") else layer.fout) // pe
        acc = layer.acc_type.bits
        # P partial sums of the accumulator's width per PE, six flags and the group index
        assert s.raw_ffs - s0.raw_ffs == pe * ps * acc + 6 + max(1, (groups - 1).bit_length())
        assert s.psums == ps and s0.psums == 0
    # the MAC path: the SIMD-lane tree, or the longer of a group's tree and the sums' adder
    assert [mac_levels(s) for s in (1, 2, 7, 8, 16, 40, 48)] == [0, 1, 3, 3, 4, 6, 6]
    assert [mac_levels(48, p) for p in (1, 2, 3, 4, 6, 8, 16, 48)] == [6, 5, 4, 4, 4, 4, 5, 7]
    fm = calibration()["ecp5"]["fmax"]
    est = estimate(tiny, dev, folding())
    levels = max(mac_levels(s, ps) for _, s, ps in PIPED.values())
    assert est.fmax_mhz == pytest.approx(1000.0 / (
        fm["period_ns"] + fm["ns_per_tree_level"] * levels
        + fm["ns_per_lut_share"] * est.total("luts") / dev.luts))


def test_best_partial_sums_are_the_fewest_levels_then_the_fewest_sums():
    assert {s: best_psums(s) for s in (1, 4, 5, 6, 7, 8, 12, 16, 40, 48)} == \
        {1: 1, 4: 1, 5: 1, 6: 2, 7: 1, 8: 2, 12: 2, 16: 2, 40: 4, 48: 3}
    f = pipelined(folding(psums=False))
    assert f.psums == {k: best_psums(s) for k, (_, s, _) in PIPED.items()
                       if s >= PIPELINE_MIN_SIMD}
    assert "dense9" in f.psums and f.pe_simd == folding().pe_simd


def test_folder_pipelines_for_throughput_only():
    """preset:tiny of cinc2017-af on ecp5-85k: the pipelined designs reach a faster clock by
    the model, and high-throughput (one sample a beat: with two it takes a design without them,
    tests/test_input_beats.py) takes one over every design without partial sums; the rate
    goals never pipeline. Deterministic."""
    g = graph_for("preset:tiny", "cinc2017-af")[0]
    dev = get_device("ecp5-85k")
    pw = power_model(dev)
    narrow = dataclasses.replace(HIGH_THROUGHPUT, wide_input=False)
    f, est, _ = fold(g, dev, narrow, None, pw)
    flat, flat_est, _ = fold(g, dev, dataclasses.replace(narrow, pipeline=False), None, pw)
    assert f.psums and not flat.psums and est.fits(dev)
    assert est.throughput > flat_est.throughput and fold(g, dev, narrow, None, pw)[0] == f
    for goal in ("low-energy", "low-power"):
        assert not fold(g, dev, goal, 1 / 30, pw)[0].psums


@pytest.mark.rtl
def test_partial_sums_verify_bit_exactly(tiny, tmp_path, shared_data):
    """preset:tiny with partial sums on every MAC stage, in Verilator on real test windows under
    random stalls: every class the golden model's, latency and II the model's, lint clean. The
    same build takes two samples a beat (`Folding.samples_per_beat`, tests/test_input_beats.py:
    one pipeline, one Verilator build for both)."""
    from half.flow.verify import verify
    from half.rtl.build import build

    wide = dataclasses.replace(folding(), samples_per_beat=2)
    project = tmp_path / "p"
    build("preset:tiny", "mitdb-aami", "ecp5-85k", "high-throughput", project, folding=wide)
    assert json.loads((project / "design.json").read_text())["samples_per_beat"] == 2
    res = verify(project, windows=4, data_dir=shared_data)
    assert res["windows"] == 4 and res["mismatches"] == 0 and res["lint_clean"], res
    assert res["cycles_measured"] == res["cycles_model"] == bind(tiny, wide).latency_cycles
    assert res["ii_measured"] == res["ii_model"] and res["err_framing"] is False
