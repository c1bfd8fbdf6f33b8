# SPDX-License-Identifier: Apache-2.0
"""Wide input beats (`Folding.samples_per_beat`, issue 18's first lever): the top takes N
samples per beat, the input stage window / N cycles. N = 1 reads as before; N must divide the
model's decimation and its window; the II can fall to window / N; the folder widens for
high-throughput only. In Verilator: tests/rtl/test_axis_decimate.py (the module, N = 2 and 3),
and tests/test_psums.py's pipelined design, two samples a beat (bit-exact, the model's
latency and II); lanes and every N on random designs, with the input-bound II = window / N:
`benchmarks/bench_replicas.py --beats`."""

from __future__ import annotations

import dataclasses

import pytest

from half.errors import ConfigError
from half.hw.cost import estimate
from half.hw.design import Folding, beat_options, bind, check_samples_per_beat
from half.hw.devices import get_device
from half.hw.folding import fold, fold_for_ii
from half.hw.goal import HIGH_THROUGHPUT
from half.hw.ir import Graph
from half.hw.plan import graph_for
from half.rtl.generate import render_top


@pytest.fixture(scope="module")
def tiny() -> Graph:  # decimation 2, window 360
    return graph_for("preset:tiny", "mitdb-aami")[0]


def serial(graph: Graph, n: int = 1) -> Folding:
    return Folding({x.name: (1, 1) for x in graph.mac_layers()}, 12.0, samples_per_beat=n)


def test_one_sample_per_beat_reads_as_before(tiny):
    """N = 1 is the default and leaves no trace in the folding, design.json or the top."""
    f = serial(tiny)
    assert f == Folding(f.pe_simd, f.clock_mhz) and f.samples_per_beat == 1
    assert "samples_per_beat" not in f.to_dict() and Folding.from_dict(f.to_dict()) == f
    design = bind(tiny, f, get_device("ecp5-85k"))
    d = design.to_dict()
    assert "samples_per_beat" not in d and "beat" not in d["contract"]
    assert "per_beat" not in d["input"] and "N" not in d["stages"][0]["params"]
    top = render_top(design)
    assert "input  wire [7:0] s_axis_tdata," in top and "axis_frame #(.W(8), .L(360))" in top


def test_bad_samples_per_beat_are_one_line_config_errors(tiny):
    for bad in (0, -2, 1.5, "2", True):
        with pytest.raises(ConfigError,
                           match=r"^folding\.samples_per_beat: must be an integer >= 1"):
            Folding({}, 12.0, samples_per_beat=bad)
    assert beat_options(tiny) == [1, 2]
    with pytest.raises(ConfigError, match=r"^folding\.samples_per_beat: 4 does not divide the "
                                          r"model's decimation factor \(2\)"):
        bind(tiny, serial(tiny, 4))
    with pytest.raises(ConfigError, match=r"does not divide the window \(362 samples\)"):
        check_samples_per_beat(4, 4, 362)
    with pytest.raises(ConfigError, match="decimation factor"):  # no decimation: N = 1 only
        check_samples_per_beat(2, 1, 360)
    with pytest.raises(ConfigError, match="fewer than 2 beats per window"):
        check_samples_per_beat(4, 4, 4)


def test_two_samples_per_beat_halve_the_input(tiny):
    """The input stage takes 180 cycles; its share of the latency is the last kept sample's
    beat (358 / 2), so the latency is 179 cycles shorter; the top's port and framing count
    beats of two samples; a design whose MAC stages keep up has II = 180 against 360."""
    dev = get_device("ecp5-85k")
    one, two = bind(tiny, serial(tiny), dev), bind(tiny, serial(tiny, 2), dev)
    assert (one.input.cycles, two.input.cycles) == (360, 180)
    assert one.latency_cycles - two.latency_cycles == 358 - 179
    d = two.to_dict()
    assert d["samples_per_beat"] == 2 and d["folding"]["samples_per_beat"] == 2
    assert "beat" in d["contract"] and d["input"]["per_beat"] == 2
    assert d["stages"][0]["module"] == "axis_decimate" and d["stages"][0]["params"]["N"] == 2
    top = render_top(two)
    assert "input  wire [15:0] s_axis_tdata," in top
    assert "axis_frame #(.W(16), .L(180))" in top
    fast = fold_for_ii(tiny, 180, 12.0, 2)
    assert fast is not None and fast.samples_per_beat == 2
    assert estimate(tiny, dev, fast).ii == 180
    assert estimate(tiny, dev, dataclasses.replace(fast, samples_per_beat=1)).ii == 360


def test_folder_widens_the_input_for_throughput_only():
    """preset:tiny for cinc2017-af on ecp5-85k (estimates): high-throughput takes two samples a
    beat and beats every design of one; the rate goals keep one. Deterministic."""
    graph = graph_for("preset:tiny", "cinc2017-af")[0]
    dev = get_device("ecp5-85k")
    f, est, _ = fold(graph, dev, "high-throughput")
    assert f.samples_per_beat == 2 and est.fits(dev)
    assert fold(graph, dev, "high-throughput")[0] == f
    narrow, one, _ = fold(graph, dev, dataclasses.replace(HIGH_THROUGHPUT, wide_input=False))
    assert narrow.samples_per_beat == 1 and est.throughput > one.throughput
    assert est.ii < graph.input.length <= one.ii
    for goal in ("low-energy", "low-power"):
        assert fold(graph, dev, goal, 1 / 30)[0].samples_per_beat == 1


def test_implement_counts_the_wide_input_port():
    """`half implement`'s port count (which sends a design with more port bits than the
    package's pins into the pin shell) and the shell's registers take N samples a beat on
    every lane."""
    from half.flow.implement import _port_bits, _render_shell, _shell_ffs

    d = {"in_width": 8, "side_width": 0, "idx_width": 2}
    assert _port_bits(d | {"samples_per_beat": 2}) - _port_bits(d) == 8
    assert _port_bits(d | {"samples_per_beat": 2, "replicas": 4}) == 2 + 4 * (16 + 3 + 2 + 3 + 1)
    assert _shell_ffs(d | {"samples_per_beat": 3}) - _shell_ffs(d) == 16
    shell = _render_shell(d | {"samples_per_beat": 2, "replicas": 4})
    assert ".s_axis_tdata(sh[63:0])" in shell and ".s_axis_tlast(sh[67:64])" in shell


def test_search_precheck_measures_a_rate_goals_shortfall_without_the_throughput_levers():
    """A rate goal that no design meets: the search's pre-check reports how far the fastest
    design the rate goals can build falls short (one pipeline, one sample a beat, no partial
    sums), not high-throughput's, which replicas and a wide input make 6x faster here."""
    from half.search.evaluate import SearchSpec, hardware_of

    graph = graph_for("preset:tiny", "cinc2017-af")[0]
    dev = get_device("ecp5-85k")
    out = hardware_of(graph, SearchSpec(task="cinc2017-af", goal="low-power", device="ecp5-85k",
                                        rate=2e5))
    narrow = dataclasses.replace(HIGH_THROUGHPUT, replicate=False, pipeline=False,
                                 wide_input=False)
    one = fold(graph, dev, narrow)[1].throughput
    assert out["plan"]["throughput_per_s"] == pytest.approx(one)
    assert out["rate"] == pytest.approx(2e5 / one - 1) and "below the required" in out["reason"]
    assert fold(graph, dev, "high-throughput")[1].throughput > 5 * one
