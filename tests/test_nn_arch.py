# SPDX-License-Identifier: Apache-2.0
"""The model space: architecture descriptions, validity rules, the genome and its sampler."""

from __future__ import annotations

import json

import numpy as np
import pytest

from half.errors import ConfigError
from half.nn.arch import Arch, ConvBlock, DenseLayer, Limits, dump_yaml, load_arch
from half.nn.space import Space

ARCH = Arch(
    window=360, n_classes=5, decimation=2, side_inputs=8,
    blocks=(ConvBlock(8, kernel=5, pool=2), ConvBlock(16, kernel=3, kind="dwsep", stride=2)),
    dense=(DenseLayer(16),), name="example",
)


def test_shapes_params_and_macs_by_hand():
    # 360 / 2 = 180 samples; block 0 same-padded 180 -> pool 2 -> 90; block 1 stride 2 -> 45
    assert ARCH.shapes() == [(1, 180), (8, 90), (16, 45)]
    sizes = {r["name"]: r for r in ARCH.layer_sizes()}
    assert sizes["blocks[0]"] == dict(name="blocks[0]", weights=1 * 8 * 5, biases=8,
                                      macs=180 * 8 * 5)
    assert sizes["blocks[1].dw"]["macs"] == 45 * 8 * 3
    assert sizes["blocks[1].pw"]["weights"] == 8 * 16
    assert ARCH.head_features() == 16 + 8  # pooled channels + side inputs
    assert sizes["dense[0]"]["weights"] == 24 * 16
    assert sizes["classifier"]["weights"] == 16 * 5
    assert ARCH.params() == (40 + 8) + (24 + 8) + (128 + 16) + (384 + 16) + (80 + 5)


def test_params_match_the_built_network():
    import torch

    from half.nn.model import QuantCNN

    model = QuantCNN(ARCH)
    # conv and linear weights and biases; batch-norm is folded away by the hardware layer
    n = sum(p.numel() for m in model.modules() if isinstance(m, torch.nn.Conv1d | torch.nn.Linear)
            for p in (m.weight, m.bias))
    assert n == ARCH.params()


def test_json_and_yaml_round_trip(tmp_path):
    (tmp_path / "a.json").write_text(ARCH.to_json())
    (tmp_path / "a.yaml").write_text(dump_yaml(ARCH))
    for f in ("a.json", "a.yaml"):
        back = load_arch(tmp_path / f)
        assert back == ARCH
        assert back.arch_hash() == ARCH.arch_hash()


def test_hash_is_stable_and_ignores_the_name():
    import dataclasses

    assert ARCH.arch_hash() == Arch.from_dict(json.loads(ARCH.to_json())).arch_hash()
    assert dataclasses.replace(ARCH, name="other").arch_hash() == ARCH.arch_hash()
    assert dataclasses.replace(ARCH, decimation=3).arch_hash() != ARCH.arch_hash()
    changed = dataclasses.replace(ARCH.blocks[0], weight_bits=3)
    assert dataclasses.replace(ARCH, blocks=(changed, ARCH.blocks[1])).arch_hash() \
        != ARCH.arch_hash()


@pytest.mark.parametrize("change, field", [
    (dict(blocks=(ConvBlock(8, weight_bits=9),)), "blocks[0].weight_bits"),
    (dict(blocks=(ConvBlock(8, act_bits=1),)), "blocks[0].act_bits"),
    (dict(blocks=(ConvBlock(8, kind="lstm"),)), "blocks[0].kind"),
    (dict(blocks=(ConvBlock(0),)), "blocks[0].channels"),
    (dict(blocks=(ConvBlock(8, kernel=400, padding="valid"),)), "blocks[0].kernel"),
    (dict(blocks=(ConvBlock(8, kernel=4),)), "blocks[0].kernel"),  # same padding: odd kernels
    (dict(blocks=(ConvBlock(8, pool=100), ConvBlock(8, pool=4))), "blocks[1].pool"),
    (dict(blocks=()), "blocks"),
    (dict(decimation=0), "decimation"),
    (dict(head="attention"), "head"),
    (dict(dense=(DenseLayer(8, weight_bits=12),)), "dense[0].weight_bits"),
    (dict(n_classes=1), "n_classes"),
])
def test_invalid_descriptions_name_the_field(change, field):
    import dataclasses

    with pytest.raises(ConfigError) as err:
        dataclasses.replace(ARCH, **change).validate()
    assert err.value.field == field


def test_caps_on_parameters_and_macs():
    with pytest.raises(ConfigError, match="parameters exceed the cap 100"):
        ARCH.validate(Limits(max_params=100))
    with pytest.raises(ConfigError, match="MACs per inference exceed"):
        ARCH.validate(Limits(max_macs=1000))


def test_bad_files_name_the_file_and_the_field(tmp_path):
    bad = json.loads(ARCH.to_json())
    bad["blocks"][1]["strides"] = 2
    (tmp_path / "typo.json").write_text(json.dumps(bad))
    with pytest.raises(ConfigError) as err:
        load_arch(tmp_path / "typo.json")
    assert "typo.json" in str(err.value) and "blocks[1].strides" in str(err.value)
    (tmp_path / "broken.yaml").write_text("window: [360\n")
    with pytest.raises(ConfigError, match="broken.yaml: not valid yaml"):
        load_arch(tmp_path / "broken.yaml")
    with pytest.raises(ConfigError, match="no such file"):
        load_arch(tmp_path / "missing.json")


def test_sampler_is_seeded_and_valid():
    space = Space()
    a = [space.sample(np.random.default_rng(s), window=360, n_classes=5, side_inputs=8)
         for s in range(20)]
    b = [space.sample(np.random.default_rng(s), window=360, n_classes=5, side_inputs=8)
         for s in range(20)]
    assert a == b  # the same seed gives the same architecture
    assert len({x.arch_hash() for x in a}) > 15  # and different seeds mostly different ones
    for arch in a:
        assert arch.validate(space.limits) is arch
        assert arch.side_inputs == 8


def test_genome_round_trip_mutation_and_crossover():
    space = Space()
    rng = np.random.default_rng(3)
    arch = space.sample(rng, window=360, n_classes=5)
    genome = space.encode(arch)
    assert space.decode(genome, window=360, n_classes=5) == arch
    mutant = space.mutate(genome, rng, rate=0.0)  # still changes at least one gene
    assert sum(x != y for x, y in zip(mutant, genome, strict=True)) == 1
    other = space.encode(space.sample(rng, window=360, n_classes=5))
    child = space.crossover(genome, other, rng)
    assert all(c in (x, y) for c, x, y in zip(child, genome, other, strict=True))


def test_genome_errors_name_the_gene():
    space = Space()
    genome = space.random_genome(np.random.default_rng(0))
    genome[0] = 99
    with pytest.raises(ConfigError) as err:
        space.decode(genome, window=360, n_classes=5)
    assert err.value.field == "genome.decimation"
    with pytest.raises(ConfigError, match="genes"):
        space.decode(genome[:-1], window=360, n_classes=5)


def test_float_twin_shares_the_trainable_parameter_names():
    import torch

    from half.nn.model import QuantCNN

    quant, flt = QuantCNN(ARCH), QuantCNN(ARCH, quant=False)
    assert set(flt.state_dict()) <= set(quant.state_dict())
    missing = quant.load_state_dict(flt.state_dict(), strict=False).missing_keys
    assert all("quant" in k for k in missing)  # only the quantizers' own parameters
    x, side = torch.randn(4, 360), torch.randn(4, 8)
    assert flt(x, side).shape == quant(x, side).shape == (4, 5)


def test_qcdq_export_runs_in_onnxruntime_at_any_batch_size_with_constant_weights(tmp_path):
    import numpy as np
    import onnx
    import onnxruntime as ort
    import torch

    from half.nn.export import export_qcdq
    from half.nn.model import QuantCNN

    arch = Arch(window=360, n_classes=5, decimation=2, side_inputs=8,
                blocks=(ConvBlock(8, kernel=7, pool=2, weight_bits=4, act_bits=4),),
                dense=(DenseLayer(16, weight_bits=4, act_bits=4),), out_bits=6)
    torch.manual_seed(0)
    model = QuantCNN(arch).eval()
    path = export_qcdq(model, tmp_path / "m.qcdq.onnx")
    proto = onnx.load(str(path))
    assert [i.name for i in proto.graph.input] == ["x", "side"]  # weights are not inputs
    assert [o.name for o in proto.graph.output] == ["scores"]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 360)).astype(np.float32)
    side = rng.normal(size=(5, 8)).astype(np.float32)
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    scores = ort.InferenceSession(str(path), opts).run(None, {"x": x, "side": side})[0]
    with torch.no_grad():
        ref = model(torch.from_numpy(x), torch.from_numpy(side)).numpy()
    assert scores.shape == (5, 5)
    np.testing.assert_allclose(scores, ref, atol=1e-5)
    assert list(tmp_path.iterdir()) == [path]  # no temporary files left
