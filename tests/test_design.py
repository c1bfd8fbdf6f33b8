# SPDX-License-Identifier: Apache-2.0
"""The hardware design (half.hw.design): bind's stages and fusions on real lowered graphs, the
binding against a device's budget, design.json round trips, and the cost model and the
generator reading the same design."""

from __future__ import annotations

import dataclasses
import json

import pytest

from half.errors import ConfigError
from half.hw.cost import estimate
from half.hw.design import (
    ArgMaxStage,
    Design,
    Folding,
    GapJoinStage,
    InputStage,
    MVUStage,
    bind,
    cycles_of,
    options,
    ram_blocks,
)
from half.hw.devices import get_device
from half.hw.ir import ArgMax, Conv, Decimate, Graph, MaxPool, PoolJoin
from half.hw.plan import graph_for


@pytest.fixture(scope="module")
def tiny() -> Graph:
    """preset:tiny of mitdb-aami: Decimate, (Conv, MaxPool) x 3, PoolJoin, Dense, Dense, ArgMax."""
    return graph_for("preset:tiny", "mitdb-aami")[0]


@pytest.fixture(scope="module")
def wide(tmp_path_factory) -> Graph:
    """8-bit weights and activations (MAC products wide enough for DSP blocks), depthwise."""
    import torch

    from half.hw.lower import lower
    from half.nn.arch import Arch, ConvBlock, DenseLayer
    from half.nn.export import export_qonnx
    from half.nn.model import QuantCNN

    arch = Arch(window=120, n_classes=3, decimation=2, side_inputs=2, per_channel=True,
                blocks=(ConvBlock(8, kernel=5, pool=2, weight_bits=8, act_bits=8),
                        ConvBlock(16, kernel=3, kind="dwsep", pool=3, weight_bits=8,
                                  act_bits=8)),
                dense=(DenseLayer(16, weight_bits=8, act_bits=8),), out_bits=8)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("design") / "m.qonnx.onnx"
    export_qonnx(QuantCNN(arch), path)  # untrained weights bind like trained ones
    return lower(path)


def serial(graph: Graph) -> Folding:
    return Folding({x.name: (1, 1) for x in graph.mac_layers()}, 12.0)


def test_bind_stages_and_fusions(tiny):
    layers = tiny.layers
    d = bind(tiny, serial(tiny), get_device("up5k"))
    kinds = [type(st) for st in d.stages]
    assert kinds == [InputStage, MVUStage, MVUStage, MVUStage, GapJoinStage, MVUStage, MVUStage]
    # every IR layer is implemented by exactly one stage, in order
    assert [i for st in d.stages for i in st.layers] == list(range(len(layers)))
    inp, *convs, gap, hidden, classifier = d.stages
    assert isinstance(layers[0], Decimate) and inp.layers == (0,)
    assert inp.factor == layers[0].factor == 2 and inp.module == "axis_decimate"
    # the input's part of the latency ends at the last kept sample (360 samples, every 2nd)
    assert (inp.cycles, inp.tail, inp.depth) == (360, 360 - 358, 0)
    for st in convs:  # each conv with the following max-pool fused into its writer
        conv, pool = (layers[i] for i in st.layers)
        assert isinstance(conv, Conv) and isinstance(pool, MaxPool) and st.pool == pool.pool
        assert st.cycles == cycles_of(conv, 1, 1)
        assert st.tail == conv.length_out % pool.pool * (st.cycles // conv.length_out)
        assert st.stream.layer == st.layers[-1] and st.stream.beats == pool.length_out
    assert isinstance(layers[gap.layers[0]], PoolJoin) and gap.side_features == 12
    assert hidden.layers == (8,) and hidden.classes == 0 and hidden.op == "dense"
    # the classifier's argmax is fused: the stream out is the class index
    assert isinstance(layers[classifier.layers[1]], ArgMax) and classifier.classes == 5
    assert classifier.params["ARGMAX"] == 1 and classifier.stream.elem_w == d.idx_width == 3
    # the top's chain: the decimator is the input stage's instance
    assert [st.instance for st in d.chain] == ["decimate", "conv1", "conv3", "conv5", "gap16",
                                               "dense8", "dense9"]
    assert d.side_width == 12 * layers[gap.layers[0]].out_type.bits


def test_a_network_without_decimation_has_no_decimator():
    g = graph_for("preset:small", "cinc2017-af")[0]
    d = bind(g, serial(g))
    assert d.input.layers == () and d.input.factor == 1 and d.input.module is None
    assert d.input.tail == 1  # the window's last sample
    assert d.chain[0].name == d.stages[1].name != "decimate"


def test_a_standalone_argmax_and_a_misplaced_layer(tiny):
    # the classifier dropped: the argmax reads the join's features directly
    gap = next(x for x in tiny.layers if isinstance(x, PoolJoin))
    layers = tiny.layers[: tiny.layers.index(gap) + 1] + (ArgMax(gap.features, gap.out_type),)
    g = Graph(tiny.input, layers, tiny.classes)
    d = bind(g, serial(g), get_device("up5k"))
    am = d.stages[-1]
    assert isinstance(am, ArgMaxStage) and am.layers == (len(layers) - 1,)
    assert am.params == {"N": 28, "W": gap.out_type.bits, "IDX_W": 5}  # 16 + 12 features
    assert am.depth == gap.features  # one comparison per class
    # the cost model has no LUT model of it: its cycles count in the input's latency
    est = estimate(g, get_device("up5k"), serial(g))
    assert "argmax" not in [s.name for s in est.stages]
    assert est.stages[0].depth == am.depth
    assert est.latency_cycles == sum(st.cycles - st.tail + st.depth for st in d.stages)
    # a max-pool needs a conv before it
    bad = Graph(tiny.input, (tiny.layers[0], tiny.layers[2]) + tiny.layers[3:], tiny.classes)
    with pytest.raises(ConfigError, match="MaxPool"):
        bind(bad, serial(tiny))


def test_without_a_device_the_binding_is_left_to_synthesis(tiny):
    d = bind(tiny, serial(tiny))
    assert d.device is None
    for st in d.stages:
        if isinstance(st, MVUStage | GapJoinStage):
            assert st.binding is None
        if isinstance(st, MVUStage):
            assert not {"MAC_DSP", "W_BRAM", "BUF_BRAM"} & set(st.params)
            assert st.params["W_FILE"] == f'"mem/{st.name}_w.mem"'
    bound = bind(tiny, serial(tiny), get_device("up5k"))
    # the rest of the design does not depend on the device
    assert [(st.name, st.layers, st.cycles, st.depth, st.tail) for st in d.stages] == \
        [(st.name, st.layers, st.cycles, st.depth, st.tail) for st in bound.stages]


def _with_budget(name: str, dsp: int, bram: int):
    dev = get_device(name)
    return dataclasses.replace(dev, dsp=dataclasses.replace(dev.dsp, count=dsp),
                               bram=dataclasses.replace(dev.bram, count=bram))


def _rom_blocks(dev, st: MVUStage) -> int:
    lanes = st.pe * st.simd
    return ram_blocks(dev, st.layer.weights.size // lanes, lanes * st.layer.w_type.bits)


def test_binding_under_a_large_and_a_small_budget(wide):
    f = serial(wide)
    rich_dev = get_device("ecp5-85k")
    rich = bind(wide, f, rich_dev)
    mvus = [st for st in rich.stages if isinstance(st, MVUStage)]
    # 8-bit operands: products in DSPs, large weight ROMs in block RAM, dense inputs too
    assert any(st.binding.mac_dsp for st in mvus) and any(st.binding.w_bram for st in mvus)
    assert all(st.binding.buf_bram for st in mvus)
    bound = [st.binding for st in rich.stages if isinstance(st, MVUStage | GapJoinStage)]
    assert sum(b.dsp for b in bound) <= rich_dev.dsp.count
    assert sum(b.bram for b in bound) <= rich_dev.bram.count
    # one DSP and one block RAM: what synthesis places whatever the budget (requant
    # multipliers, conv window buffers) stays; MAC products, weight ROMs and dense input
    # buffers go to logic and registers
    poor_dev = _with_budget("ecp5-85k", 1, 1)
    poor = bind(wide, f, poor_dev)
    for st, was in zip(poor.stages, rich.stages, strict=True):
        if isinstance(st, GapJoinStage):
            assert st.binding == was.binding
        if not isinstance(st, MVUStage):
            continue
        b, r = st.binding, was.binding
        assert not b.mac_dsp and not b.w_bram
        assert st.params["MAC_DSP"] == 0 and st.params["W_BRAM"] == 0
        assert b.buf_bram == (st.op == "conv")  # conv window buffers always in block RAM
        assert b.dsp < r.dsp if r.mac_dsp else b.dsp == r.dsp  # the MAC DSPs gone
        assert (b.dsp > 0) == (st.layer.requant.kind != "thresholds")
        rom = _rom_blocks(rich_dev, st) if r.w_bram else 0
        assert b.bram == (r.bram - rom if st.op == "conv" else 0)
    # reserved first even where that overruns the budget: the design does not fit, and says so
    assert not estimate(wide, poor_dev, f).fits(poor_dev)


def test_binding_goes_stage_by_stage_in_chain_order(wide):
    """Block RAM left for exactly one weight ROM: the first stage that qualifies takes it."""
    f = serial(wide)
    dev = get_device("ecp5-85k")
    mvus = [st for st in bind(wide, f, dev).stages if isinstance(st, MVUStage)]
    first = next(st for st in mvus if st.binding.w_bram)
    later = [st for st in mvus[mvus.index(first) + 1:] if st.binding.w_bram]
    assert later  # another stage takes one too, given the blocks
    conv_buffers = sum(st.binding.bram - (_rom_blocks(dev, st) if st.binding.w_bram else 0)
                       for st in mvus if st.op == "conv")
    tight = bind(wide, f, _with_budget("ecp5-85k", dev.dsp.count,
                                        conv_buffers + _rom_blocks(dev, first)))
    got = {st.name: st.binding.w_bram for st in tight.stages if isinstance(st, MVUStage)}
    assert got[first.name] and not any(got[st.name] for st in later)


def test_design_round_trips_through_design_json(tiny, wide, tmp_path):
    for g, dev in ((tiny, get_device("up5k")), (wide, get_device("ecp5-85k")), (tiny, None)):
        pes = {x.name: (options(x)[0][-1], options(x)[1][0]) for x in g.mac_layers()}
        d = bind(g, Folding(pes, 16.0), dev)
        text = json.dumps(d.to_dict())
        back = Design.from_dict(json.loads(text), Graph.from_json(g.to_json()))
        assert back.stages == d.stages and back.folding == d.folding
        assert back.device == d.device
        assert json.dumps(back.to_dict()) == text
        assert [st.params for st in back.stages if st.module] == \
            [st.params for st in d.chain]
        assert [st.roms() for st in back.stages] == [st.roms() for st in d.stages]
    with pytest.raises(ConfigError, match="rebuild"):
        old = d.to_dict()
        del old["input"]
        Design.from_dict(old, g)


def test_the_estimate_reads_the_designs_binding_and_timing(tiny, wide):
    for g, name in ((tiny, "up5k"), (wide, "ecp5-85k"), (wide, "up5k")):
        dev = get_device(name)
        f = Folding({x.name: (options(x)[0][1], options(x)[1][1]) for x in g.mac_layers()}, 12.0)
        d, est = bind(g, f, dev), estimate(g, dev, f)
        assert [s.name for s in est.stages] == [st.name for st in d.stages]
        assert (est.latency_cycles, est.ii) == (d.latency_cycles, d.ii_cycles)
        for st, cost in zip(d.stages, est.stages, strict=True):
            assert (cost.cycles, cost.depth, cost.tail) == (st.cycles, st.depth, st.tail)
            if isinstance(st, MVUStage):
                b = st.binding
                assert (cost.mac_dsp, cost.w_bram, cost.buf_bram, cost.dsp, cost.bram) == \
                    (b.mac_dsp, b.w_bram, b.buf_bram, b.dsp, b.bram)
            elif isinstance(st, GapJoinStage):
                assert (cost.dsp, cost.bram) == (st.binding.dsp, 0)
            else:
                assert (cost.dsp, cost.bram) == (0, 0)


def test_the_generator_renders_the_design(tiny, tmp_path):
    from half.rtl.generate import write_project

    dev = get_device("up5k")
    d = bind(tiny, serial(tiny), dev)
    write_project(d, tmp_path / "p")
    assert json.loads((tmp_path / "p" / "design.json").read_text()) == d.to_dict()
    top = (tmp_path / "p" / "rtl" / "half_top.v").read_text()
    for st in d.chain:
        assert f"    {st.module} #(" in top and f") u_{st.instance} (" in top
        if isinstance(st, MVUStage):
            assert f".W_BRAM({int(st.binding.w_bram)})" in top.split(f"u_{st.instance} (")[0]
    for st in d.stages:
        for name, words, width in st.roms():
            lines = (tmp_path / "p" / "mem" / name).read_text().split()
            assert [int(x, 16) for x in lines] == words
            assert all(len(x) == -(-width // 4) for x in lines)
    assert Graph.from_json((tmp_path / "p" / "ir.json").read_text()).to_dict() == \
        tiny.to_dict()
