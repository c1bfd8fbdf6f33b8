# SPDX-License-Identifier: Apache-2.0
"""A project of `half build` is self-contained: ir.json holds the IR exactly (the golden model
of `Graph.from_dict` equals the lowered one, layer by layer, on real windows), and verify,
power and implement's inputs come from the project folder alone (a copy elsewhere, with the
model it was built from deleted; a project built from a QONNX file verifies and implements
after that file and half's cache are deleted)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import run_json
from half.data import get_task
from half.errors import ConfigError
from half.hw import golden
from half.hw.ir import Conv, Graph
from half.nn.runs import resolve_model


def _roundtrip(graph: Graph) -> Graph:
    return Graph.from_dict(json.loads(json.dumps(graph.to_dict())))


def _same_golden(graph: Graph, back: Graph, x: np.ndarray, side: np.ndarray | None) -> None:
    """Equal descriptions and equal outputs of every layer on the windows `x`."""
    assert back.to_dict() == graph.to_dict()
    xq = golden.quantize_input(back, x)
    assert np.array_equal(xq, golden.quantize_input(graph, x))
    sq = golden.quantize_side(back, side)
    want_sq = golden.quantize_side(graph, side)
    assert (sq is None and want_sq is None) or np.array_equal(sq, want_sq)
    got = golden.run(back, xq, sq, trace=True)
    want = golden.run(graph, xq, sq, trace=True)
    assert len(got) == len(want) == len(graph.layers)
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype and np.array_equal(g, w)


@pytest.mark.parametrize("task, preset", [("mitdb-aami", "tiny"), ("mitdb-aami", "small"),
                                          ("cinc2017-af", "small")])
def test_ir_json_round_trips_a_preset_exactly(task, preset, make_mitdb, make_cinc):
    from half.hw.plan import graph_for

    graph, params = graph_for(f"preset:{preset}", task)
    root = make_mitdb((100, 101)) if task == "mitdb-aami" else make_cinc(12)
    data = get_task(task, **params).load(root)
    pick = slice(0, 48)
    _same_golden(graph, _roundtrip(graph), data.x[pick],
                 None if data.side is None else data.side[pick])


def test_ir_json_round_trips_a_depthwise_separable_graph_with_side_inputs(tmp_path,
                                                                          make_mitdb):
    import torch

    from half.hw.lower import lower
    from half.nn.arch import Arch, ConvBlock, DenseLayer
    from half.nn.export import export_qonnx
    from half.nn.model import QuantCNN

    arch = Arch(window=360, n_classes=5, decimation=3, side_inputs=8, per_channel=True,
                blocks=(ConvBlock(6, kernel=5, pool=2, weight_bits=3, act_bits=2),
                        ConvBlock(8, kernel=3, kind="dwsep", stride=2, weight_bits=5,
                                  act_bits=8)),
                dense=(DenseLayer(8, weight_bits=4, act_bits=4),), out_bits=6)
    torch.manual_seed(0)
    export_qonnx(QuantCNN(arch), tmp_path / "m.onnx")
    norm = {"mean": [0.8 + 0.01 * i for i in range(8)], "std": [0.2 + 0.01 * i for i in range(8)]}
    graph = lower(tmp_path / "m.onnx", side_norm=norm, classes=("N", "S", "V", "F", "Q"),
                  meta={"source": "m.onnx"})
    assert any(isinstance(x, Conv) and x.groups > 1 for x in graph.layers)
    data = get_task("mitdb-aami").load(make_mitdb((100,)))
    back = _roundtrip(graph)
    assert back.side.mean == graph.side.mean and back.side.std == graph.side.std
    _same_golden(graph, back, data.x[:48], data.side[:48])


def test_a_malformed_ir_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown op 'Softmax'"):
        Graph.from_dict({"input": {"length": 8, "scale": 0.1, "out": "int8"},
                         "layers": [{"op": "Softmax"}]})
    with pytest.raises(ConfigError, match="not an IR graph"):
        Graph.from_dict({"input": {"length": 8, "scale": 0.1, "out": "int8"}})
    with pytest.raises(ConfigError, match="not an integer type"):
        Graph.from_dict({"input": {"length": 8, "scale": 0.1, "out": "float32"}, "layers": []})


@pytest.fixture(scope="module")
def portable(tmp_path_factory) -> Path:
    """preset:tiny for the UP5K at low energy, built from a copy of the preset's run folder;
    then the run folder is deleted and the project moved to another folder."""
    from half.rtl.build import build

    tmp = tmp_path_factory.mktemp("portable")
    model = shutil.copytree(resolve_model("preset:tiny", "mitdb-aami"), tmp / "model")
    build(str(model), "mitdb-aami", "up5k", "low-energy", tmp / "p")
    shutil.rmtree(model)
    project = shutil.copytree(tmp / "p", tmp / "elsewhere" / "p")
    shutil.rmtree(tmp / "p")
    return project


@pytest.mark.rtl
def test_a_copied_project_without_its_model_verifies_and_measures_power(portable, make_mitdb):
    from half.flow.activity import measure
    from half.flow.verify import verify

    predicted = json.loads((portable / "predicted.json").read_text())
    data = make_mitdb((100,))  # a test-split record (DS2)
    res = verify(portable, windows=6, data_dir=data)
    assert res["windows"] == 6 and res["mismatches"] == 0 and res["lint_clean"], res
    assert res["cycles_measured"] == res["cycles_model"] == predicted["latency_cycles"]
    assert res["ii_measured"] == res["ii_model"] == predicted["ii_cycles"]
    power = measure(portable, windows=4, data_dir=data)
    assert power["windows"] == 4 and power["stages"]
    assert all(0 < v["toggle_rate"] < 1 for v in power["stages"].values())


def test_implement_reads_its_inputs_from_the_project_alone(portable):
    """What implement reads before the tools (the project's files, and the cost model's
    figures for another device than the project's) needs no model."""
    from half.flow.implement import _predict_on, _read_project
    from half.hw.cost import Folding, estimate
    from half.hw.devices import get_device
    from half.hw.plan import graph_for

    src, design, predicted, files = _read_project(portable)
    assert src["device"] == "up5k" and not Path(src["model"]).exists()
    assert files and predicted["ii_cycles"] > 0
    dev = get_device("ecp5-85k")
    got = _predict_on(portable, src, design, dev)
    graph = graph_for("preset:tiny", "mitdb-aami")[0]  # the same network, lowered again
    assert got == estimate(graph, dev, Folding.from_dict(design["folding"])).to_dict(src["rate"])


def test_a_project_without_ir_json_or_task_parameters_says_rebuild(portable, tmp_path):
    from half.flow.implement import _predict_on
    from half.flow.verify import prepare
    from half.hw.devices import get_device

    project = shutil.copytree(portable, tmp_path / "p", ignore=shutil.ignore_patterns("sim"))
    (project / "ir.json").unlink()
    for call in (lambda: prepare(project, 2),
                 lambda: _predict_on(project, {}, {}, get_device("ecp5-85k"))):
        with pytest.raises(ConfigError, match=r"ir.json: missing \(rebuild with `half build`\)"):
            call()
    (project / "ir.json").write_text('{"input": {}, "layers": []}')
    with pytest.raises(ConfigError, match=r"ir.json: .*not an IR graph.*rebuild"):
        prepare(project, 2)
    src = json.loads((project / "source.json").read_text())
    del src["task_params"]
    (project / "source.json").write_text(json.dumps(src))
    with pytest.raises(ConfigError, match="no task, task_params or device"):
        prepare(project, 2)


# A small network (one 4-channel convolution, decimation 4, the RR side features, a hidden
# dense layer), untrained: exported to a QONNX file here, as a user's own model would come
MICRO = {"window": 360, "n_classes": 5, "decimation": 4, "side_inputs": 8,
         "blocks": [{"channels": 4, "kernel": 5, "pool": 4, "weight_bits": 4, "act_bits": 4}],
         "dense": [{"units": 8, "weight_bits": 4, "act_bits": 4}], "out_bits": 6}


@pytest.fixture(scope="module")
def from_qonnx(tmp_path_factory) -> Path:
    """`half build --model FILE.onnx` for the UP5K at low energy (the command line, with a
    half cache of its own); then the file, its folder and that cache are deleted."""
    import torch

    from half.nn.arch import Arch
    from half.nn.export import export_qonnx
    from half.nn.model import QuantCNN

    tmp = tmp_path_factory.mktemp("qonnx")
    (tmp / "model").mkdir()
    torch.manual_seed(0)
    onnx = export_qonnx(QuantCNN(Arch.from_dict(MICRO)), tmp / "model" / "micro.onnx")
    cache = tmp / "cache"
    res = run_json("build", "--model", str(onnx), "--task", "mitdb-aami", "--device", "up5k",
                   "--goal", "low-energy", "-o", str(tmp / "p"),
                   env={"HALF_CACHE_DIR": str(cache)})
    assert res["project"] == str(tmp / "p")
    shutil.rmtree(tmp / "model")
    shutil.rmtree(cache, ignore_errors=True)
    source = json.loads((tmp / "p" / "source.json").read_text())
    assert source["model"] == str(onnx) and not onnx.exists()
    return tmp / "p"


@pytest.mark.rtl
def test_a_project_built_from_a_deleted_qonnx_file_verifies(from_qonnx, make_mitdb, tmp_path):
    predicted = json.loads((from_qonnx / "predicted.json").read_text())
    data = make_mitdb((100,))  # a test-split record (DS2)
    res = run_json("--data-dir", str(data), "verify", str(from_qonnx), "--windows", "6",
                   env={"HALF_CACHE_DIR": str(tmp_path / "new-cache")})
    assert res["windows"] == 6 and res["mismatches"] == 0 and res["lint_clean"], res
    assert res["cycles_measured"] == res["cycles_model"] == predicted["latency_cycles"]
    assert res["ii_measured"] == res["ii_model"] == predicted["ii_cycles"]
