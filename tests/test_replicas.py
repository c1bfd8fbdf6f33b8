# SPDX-License-Identifier: Apache-2.0
"""Replicated pipelines (`Folding.replicas`, issue 18): R identical pipelines that share
nothing and take independent windows. One replica reads as before; R of them multiply the
resources and the throughput and keep the latency (cost model); the folder replicates for
high-throughput only; a design of two replicas verifies bit-exactly on both lanes, and a
mismatch would be localised per lane."""

from __future__ import annotations

import dataclasses

import pytest

from half.errors import ConfigError
from half.hw.cost import estimate
from half.hw.design import Folding, bind
from half.hw.devices import get_device
from half.hw.folding import MAX_REPLICAS, fold
from half.hw.goal import HIGH_THROUGHPUT
from half.hw.ir import Graph
from half.hw.plan import graph_for
from half.hw.power import power_model
from half.rtl.generate import PIPE, render_top


@pytest.fixture(scope="module")
def tiny() -> Graph:
    return graph_for("preset:tiny", "mitdb-aami")[0]


def serial(graph: Graph, replicas: int = 1) -> Folding:
    return Folding({x.name: (1, 1) for x in graph.mac_layers()}, 12.0, replicas)


def test_one_replica_reads_as_before(tiny):
    """R = 1 is the default and leaves no trace in folding, design.json, the estimate or the
    top (one module, one-bit handshakes)."""
    f = serial(tiny)
    assert f == Folding(f.pe_simd, f.clock_mhz) and f.replicas == 1
    assert "replicas" not in f.to_dict() and Folding.from_dict(f.to_dict()) == f
    dev = get_device("ecp5-85k")
    design = bind(tiny, f, dev)
    d = design.to_dict()
    assert "replicas" not in d and "lanes" not in d["contract"]
    assert "replicas" not in estimate(tiny, dev, f, power_model(dev)).to_dict()
    top = render_top(design)
    assert top.count("module ") == 1 and PIPE not in top
    assert "    input  wire s_axis_tvalid," in top


def test_bad_replicas_are_one_line_config_errors(tiny):
    for bad in (0, -1, 1.5, "2", True):
        with pytest.raises(ConfigError, match=r"^folding\.replicas: must be an integer >= 1"):
            Folding({}, 12.0, bad)
    d = serial(tiny).to_dict() | {"replicas": 0}
    with pytest.raises(ConfigError, match="folding.replicas"):
        Folding.from_dict(d)


def test_two_replicas_double_resources_and_throughput(tiny):
    """Share nothing: every resource and the throughput twice one pipeline's; latency, II and
    a window's dynamic energy unchanged; power as the model's (clock tree, busy power x 2)."""
    dev = get_device("ecp5-85k")
    pw = power_model(dev)
    one = estimate(tiny, dev, serial(tiny), pw)
    two = estimate(tiny, dev, serial(tiny, 2), pw)
    for k in ("luts", "ffs", "bram", "dsp"):
        assert two.total(k) == pytest.approx(2 * one.total(k)), k
    assert two.throughput == pytest.approx(2 * one.throughput)
    assert (two.ii, two.latency_cycles) == (one.ii, one.latency_cycles)
    assert two.energy_dyn_uj == pytest.approx(one.energy_dyn_uj)
    assert two.dynamic_mw_busy == pytest.approx(2 * one.dynamic_mw_busy)
    assert two.clock_mw == pytest.approx(2 * one.clock_mw)
    # a wake classifies two windows: each bears half the wake's static and clock energy
    wake = (two.static_mw + two.clock_mw) * 1e-3 * two.latency_s * 1e6
    assert two.energy_uj() == pytest.approx(wake / 2 + two.energy_dyn_uj)
    d = two.to_dict()
    assert d["replicas"] == 2 and d["resources_estimate"]["bram"] == 2 * one.total("bram")
    # the binding: each replica gets half the part's block RAMs (preset:tiny takes 26 of the
    # UP5K's 30, so two do not fit)
    up5k = get_device("up5k")
    assert estimate(tiny, up5k, serial(tiny)).fits(up5k)
    assert not estimate(tiny, up5k, serial(tiny, 2)).fits(up5k)


def test_folder_replicates_for_throughput_only(tiny):
    """On a large part preset:tiny is bound by its input (II = the window): high-throughput
    takes replicas and beats every single pipeline; the rate goals keep one. Deterministic."""
    dev = get_device("ecp5-85k")
    pw = power_model(dev)
    f, est, _ = fold(tiny, dev, "high-throughput", None, pw)
    assert 1 < f.replicas <= MAX_REPLICAS and est.fits(dev)
    assert fold(tiny, dev, "high-throughput", None, pw)[0] == f
    one, single, _ = fold(tiny, dev, dataclasses.replace(HIGH_THROUGHPUT, replicate=False,
                                                         wide_input=False),
                          None, pw)
    assert one.replicas == 1 and single.ii == tiny.input.length
    assert est.throughput > single.throughput
    for goal in ("low-energy", "low-power"):
        assert fold(tiny, dev, goal, 250 / 60, pw)[0].replicas == 1


@pytest.mark.rtl
def test_two_replicas_verify_bit_exactly_on_both_lanes(tiny, tmp_path, shared_data):
    """Two lanes fed different test windows under random stalls: every class the golden
    model's, each lane's latency and II the model's, lint clean; window 3 (lane 1's second)
    rerun with every link probed matches the golden model stage by stage."""
    from half.flow.verify import localise, prepare, verify
    from half.rtl.build import build

    project = tmp_path / "p"
    build("preset:tiny", "mitdb-aami", "ecp5-85k", "high-throughput", project,
          folding=serial(tiny, 2))  # the smallest Verilog: the quickest to build
    res = verify(project, windows=4, data_dir=shared_data)
    assert res["windows"] == 4 and res["mismatches"] == 0 and res["lint_clean"], res
    assert res["replicas"] == 2 and res["err_framing"] is False
    assert res["cycles_measured_lanes"] == [res["cycles_model"]] * 2
    assert res["ii_measured_lanes"] == [res["ii_model"]] * 2
    run = prepare(project, 4, data_dir=shared_data)
    found = localise(project, run.design, run.graph, run.case, 3, run.xq, run.sq)
    assert found["first_mismatch_layer"].startswith("none"), found


def test_implement_counts_every_lane_in_windows_per_second():
    """`half implement`'s inferences/s at the fmax (and at the target clock) are one window per
    II on each of the R lanes (it gave one lane's)."""
    from half.flow.implement import _rate

    assert _rate(46.2, 360, 3) == pytest.approx(3 * 46.2e6 / 360, abs=0.1)
    assert _rate(46.2, 360) == pytest.approx(46.2e6 / 360, abs=0.1)
    assert _rate(None, 360, 3) is None
