# SPDX-License-Identifier: Apache-2.0
"""Lowering QONNX to the integer IR and the golden model, against the PyTorch QAT model."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from conftest import run_half, run_json
from half.data import get_task
from half.errors import ConfigError
from half.hw import golden
from half.hw.check import graph_of_run
from half.hw.ir import Conv, Dense, IntType, PoolJoin
from half.hw.lower import make_requant
from half.nn.arch import Arch, ConvBlock, DenseLayer
from half.nn.runs import train_run
from half.nn.train import TrainConfig, load_run, predict

MITDB = Arch(window=360, n_classes=5, decimation=3, side_inputs=8, per_channel=True,
             blocks=(ConvBlock(6, kernel=5, pool=2, weight_bits=3, act_bits=2),
                     ConvBlock(8, kernel=3, kind="dwsep", stride=2, weight_bits=5, act_bits=8)),
             dense=(DenseLayer(8, weight_bits=4, act_bits=4),), out_bits=6)
CINC = Arch(window=3000, n_classes=4, decimation=2,
            blocks=(ConvBlock(4, kernel=7, stride=2, pool=4, weight_bits=8, act_bits=3),
                    ConvBlock(8, kernel=5, pool=2, batchnorm=False, weight_bits=2, act_bits=6,
                              padding="valid")),
            out_bits=8)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, request):
    """Two briefly trained run folders on small real data (one per task); cinc2017-af at the
    shipped presets' 100 Hz and 3,000 samples, so its prepared data is shared with other tests."""
    shared = request.getfixturevalue("shared_data")
    tmp = tmp_path_factory.mktemp("hw")
    cfg = TrainConfig(epochs=1, train_fraction=0.15, threads=1)
    out = {}
    for name, arch, task, params in (("mitdb", MITDB, "mitdb-aami", {}),
                                     ("cinc", CINC, "cinc2017-af", {"fs": 100, "window": 3000})):
        f = tmp / f"{name}.json"
        f.write_text(arch.to_json())
        train_run(task, str(f), tmp / name, cfg, params, shared)
        out[name] = tmp / name
    return out


@pytest.mark.parametrize("name, task", [("mitdb", "mitdb-aami"), ("cinc", "cinc2017-af")])
def test_golden_model_agrees_with_pytorch(runs, name, task, shared_data):
    folder = runs[name]
    arch, info, norm, model = load_run(folder)
    data = get_task(task, **info["params"]).load(shared_data).select("val")
    x, side = data.x[:3000], None if data.side is None else data.side[:3000]
    graph = graph_of_run(folder)
    y_gold = golden.run(graph, golden.quantize_input(graph, x), golden.quantize_side(graph, side))
    y_torch = predict(model, x, norm(side))
    assert (y_gold == y_torch).mean() >= 0.995
    assert graph.macs() == arch.macs()
    # both requantization kinds are exercised: <= 4-bit outputs by thresholds, wider by mulshift
    kinds = {layer.out_type.bits: layer.requant.kind for layer in graph.layers
             if isinstance(layer, Conv | Dense | PoolJoin) and layer.requant.kind != "affine"}
    assert all((k == "thresholds") == (bits <= 4) for bits, k in kinds.items())


def test_accumulators_are_exact_and_minimal(runs):
    graph = graph_of_run(runs["mitdb"])
    for layer in graph.layers:
        if not isinstance(layer, Conv):
            continue
        w = layer.weights.reshape(layer.cout, -1)
        t = layer.in_type
        # the input pattern that drives each channel to its extreme: max where w > 0, else min
        hi = (np.where(w > 0, t.max, t.min) * w).sum(1).max()
        lo = (np.where(w > 0, t.min, t.max) * w).sum(1).min()
        assert layer.acc_type.min <= lo and hi <= layer.acc_type.max
        narrower = IntType(layer.acc_type.bits - 1, layer.acc_type.signed)
        top = hi + (layer.requant.kind == "thresholds")  # "never" threshold hi + 1 must fit
        assert lo < narrower.min or top > narrower.max  # one bit fewer would overflow
    for layer in graph.layers:
        r = getattr(layer, "requant", None)
        if r is not None and r.kind == "thresholds":
            assert layer.acc_type.min <= r.thresholds.min()
            assert r.thresholds.max() <= layer.acc_type.max


@pytest.mark.parametrize("bits, signed", [(2, False), (4, False), (4, True), (8, False),
                                          (6, True)])
def test_requant_matches_the_real_formula(bits, signed):
    rng = np.random.default_rng(bits)
    out = IntType(bits, signed)
    a = np.concatenate([rng.uniform(1e-4, 0.05, size=5), [0.05 / 3000]])  # spread per channel
    d = rng.uniform(-3, 3, size=6)
    acc = rng.integers(-3000, 3000, size=(2000, 6))
    r = make_requant(a, d, out, (-3000, 3000))
    assert r.kind == ("thresholds" if bits <= 4 else "mulshift")
    got = golden.requantize(r, acc)
    real = a * acc + d
    want = np.clip(np.floor(real + 0.5), out.min, out.max)
    if r.kind == "thresholds":
        bound = np.full_like(real, 1e-9)  # exact
    else:  # the documented fixed-point error bound of multiply-shift
        assert (r.mul < 2**16).all()
        bound = (np.abs(acc) + 1) * 2.0 ** -(r.shift + 1.0)
    clear = np.abs(real - np.floor(real) - 0.5) > bound
    assert clear.mean() > 0.9
    assert np.array_equal(got[clear], want[clear])


def test_per_channel_depthwise_first_block_lowers(tmp_path):
    import torch

    from half.hw.lower import lower
    from half.nn.export import export_qonnx
    from half.nn.model import QuantCNN

    arch = Arch(window=200, n_classes=3, per_channel=True,
                blocks=(ConvBlock(4, kernel=5, kind="dwsep", act_bits=8),))
    torch.manual_seed(0)
    model = QuantCNN(arch)
    export_qonnx(model, tmp_path / "m.onnx")
    graph = lower(tmp_path / "m.onnx")
    assert graph.macs() == arch.macs()
    x = torch.randn(50, 200)
    traced = golden.run(graph, golden.quantize_input(graph, x.numpy()), trace=True)
    assert traced[-1].shape == (50,)
    with pytest.raises(ValueError, match="windows must be"):
        golden.run(graph, np.zeros((2, 199), dtype=np.int64))


def test_golden_command_line(runs, shared_data):
    res = run_json("--data-dir", str(shared_data), "golden", "--model", str(runs["cinc"]),
                   "--task", "cinc2017-af", "--split", "val")
    assert res["agreement"] >= 0.995 and res["windows"] == 1279
    assert res["disagreements"] == round((1 - res["agreement"]) * res["windows"])
    assert res["layers"][-1] == "ArgMax"


def test_unsupported_ops_are_rejected_with_node_and_op(tmp_path, shared_data):
    flat = dataclasses.replace(MITDB, head="flatten", side_inputs=0)
    f = tmp_path / "flat.json"
    f.write_text(flat.to_json())
    train_run("mitdb-aami", str(f), tmp_path / "flat", TrainConfig(epochs=1, train_fraction=0.05,
                                                                   threads=1), {}, shared_data)
    with pytest.raises(ConfigError, match=r"node \S+ \((Flatten|Reshape)\): unsupported op"):
        graph_of_run(tmp_path / "flat")
    proc = run_half("--data-dir", str(shared_data), "golden", "--model", str(tmp_path / "flat"),
                    "--task", "mitdb-aami")
    assert proc.returncode != 0 and "unsupported op" in proc.stderr
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "model.qonnx.onnx").write_text("not onnx")
    with pytest.raises(ConfigError, match="not a loadable ONNX model"):
        graph_of_run(tmp_path / "bad")


@pytest.mark.rtl
def test_depthwise_separable_run_builds_and_verifies_bit_exactly(runs, shared_data, tmp_path):
    """The mitdb run (decimation, a depthwise-separable block, per-channel weights, side
    inputs, a hidden dense layer) through the generator and Verilator, against golden."""
    from half.flow.verify import verify
    from half.rtl.build import build

    graph = graph_of_run(runs["mitdb"])
    assert any(isinstance(x, Conv) and x.groups > 1 for x in graph.layers)
    built = build(str(runs["mitdb"]), "mitdb-aami", "up5k", "high-throughput", tmp_path / "p")
    design = (tmp_path / "p" / "design.json").read_text()
    assert '"DW": 1' in design  # the depthwise layer runs on the vector unit
    res = verify(tmp_path / "p", windows=6, data_dir=shared_data)
    assert res["mismatches"] == 0 and res["lint_clean"], res
    assert res["cycles_measured"] == res["cycles_model"] == built["latency_cycles"]
    assert res["ii_measured"] == res["ii_model"]

