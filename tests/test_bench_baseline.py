# SPDX-License-Identifier: Apache-2.0
"""benchmarks/bench_baseline.py on real inputs: preset:tiny in onnxruntime on real test-split
windows (agreement with PyTorch, latency and throughput), the FPGA figures of a real `half
build` + `half verify` project with their labels, the batched path on a graph whose batch
dimension is free, the tables, and one-line errors for a bad run folder."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from argparse import Namespace
from pathlib import Path

import numpy as np
import pytest

PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_baseline.py"
spec = importlib.util.spec_from_file_location("bench_baseline", PATH)
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)

WINDOWS = 200


@pytest.fixture(scope="module")
def test_data(mitdb_subset) -> Path:
    return mitdb_subset((213,), "baseline-data")  # a DS2 record: 3,251 test-split windows


@pytest.fixture(scope="module")
def project(tmp_path_factory, test_data) -> Path:
    """preset:tiny built for the UP5K (low-energy) and verified on 5 windows by Verilator
    (what `half build` and `half verify` run, in this process)."""
    from half.flow.verify import verify
    from half.rtl.build import build

    p = tmp_path_factory.mktemp("baseline") / "P"
    build("preset:tiny", "mitdb-aami", "up5k", "low-energy", p)
    verify(p, windows=5, data_dir=test_data)
    return p


@pytest.fixture(scope="module")
def row(project, test_data, tmp_path_factory) -> dict:
    """Measured with the CPU energy estimated from a 200 W, 64-core package's TDP (an empty
    powercap folder: no RAPL counters)."""
    energy = bench.platforms.energy_source("AMD EPYC", 200.0, 64,
                                           root=tmp_path_factory.mktemp("no-powercap"))
    args = Namespace(windows=WINDOWS, warmup=20, batch=64, threads=[1, 2],
                     optimizations=["all", "disabled"], seed=0, data_dir=test_data,
                     energy=energy)
    design = bench.resolve_design({"kind": "model", "spec": "preset:tiny",
                                   "project": str(project)}, "mitdb-aami")
    return bench.measure_design(design, args)


def test_cpu_runs_agree_with_pytorch_and_time_every_call(row):
    cpu = row["cpu"]
    assert (cpu["windows"], cpu["distinct_windows"], cpu["test_windows"]) == (WINDOWS, WINDOWS,
                                                                              3251)
    seq = [r for r in cpu["runs"] if r["batch"] == 1]
    assert [(r["optimization"], r["threads"]) for r in seq] == [
        ("all", 1), ("all", 2), ("disabled", 1), ("disabled", 2)]
    for r in seq:
        lat = r["latency_us"]
        assert 0 < lat["min"] <= lat["median"] <= lat["p99"]
        # one call after another: windows/s is about 1 / latency (timer and loop overhead, and
        # the other jobs of the machine, in between)
        assert 0.1 < r["per_s"] * lat["mean"] / 1e6 <= 1.0
        assert r["agreement"]["argmax_agreement"] >= 0.98
    # the graph as exported computes exactly what PyTorch does
    for r in seq[2:]:
        a = r["agreement"]
        assert a["argmax_agreement"] == 1.0 and a["windows_with_other_scores"] == 0
        assert a["max_abs_score_diff"] < 1e-4 and a["accuracy"] == cpu["reference"]["accuracy"]
    # the export takes any batch size, with its weights as constants
    assert cpu["inputs"] == {"x": ["batch", 360], "side": ["batch", 12]}
    assert cpu["initializers_listed_as_inputs"] == 0
    batched = [r for r in cpu["runs"] if r["batch"] == 64]
    assert len(batched) == 4 and all(r["possible"] for r in batched)
    for r in batched:
        assert r["batches"] == WINDOWS // 64  # whole batches only
        assert r["per_s"] > 0 and r["agreement"]["argmax_agreement"] >= 0.98
    for r in batched[2:]:  # optimizations disabled: exactly PyTorch's scores
        assert r["agreement"]["windows_with_other_scores"] == 0
    for r in cpu["runs"]:  # an estimate: threads / 64 cores x 200 W x the time per window
        e = r["energy_uj"]
        assert e["label"] == bench.platforms.ESTIMATE_TDP
        assert e["value"] == pytest.approx(200.0 * r["threads"] / 64 * 1e6 / r["per_s"])
    assert cpu["energy_source"]["kind"] == "tdp"
    assert cpu["load_before"] and cpu["load_after"] and row["machine"]["cores"] >= 1
    assert row["machine"]["onnxruntime"] == cpu["onnxruntime"]


def test_fpga_figures_come_from_the_project_files_with_their_labels(row, project):
    f = row["fpga"]
    pred = json.loads((project / "predicted.json").read_text())
    ver = json.loads((project / "reports" / "verify.json").read_text())
    clock = pred["clock_mhz"]
    assert f["clock_mhz"]["value"] == clock and f["clock_mhz"]["label"] == bench.COST
    # Verilator's cycles at a clock no place and route has verified: an estimate
    assert f["latency_us"]["value"] == pytest.approx(ver["cycles_measured"] / clock)
    assert f["per_s"]["value"] == pytest.approx(clock * 1e6 / ver["ii_measured"])
    assert f["latency_us"]["label"] == f["per_s"]["label"] == bench.UNVERIFIED
    assert f["verification"]["value"]["mismatches"] == 0
    assert f["verification"]["label"] == bench.VERILATOR
    assert f["energy_uj"] == {**f["energy_uj"], "value": pred["energy_estimate_uj"],
                              "label": bench.COST}
    assert f["power_mw"]["value"] == pred["power_estimate_mw"]["average_at_rate"]
    assert f["resources"]["label"] == bench.COST  # no implementation
    assert "fmax_mhz" not in f and "per_s_at_fmax" not in f
    assert all(v["label"] for v in f.values() if isinstance(v, dict) and "value" in v)


def test_tables_show_the_figures_labels_and_notes(row, tmp_path):
    path = tmp_path / "baseline.jsonl"
    bench._write_lines(path, [row])
    rows = bench._read_lines(path)
    assert rows == json.loads(json.dumps([row]))
    text = bench.report(rows)
    base = bench.cpu_baseline(row["cpu"])
    assert base["threads"] == 1 and base["optimization"] == "all"
    assert f"{base['latency_us']['median']:,.1f} / {base['latency_us']['p99']:,.1f}" in text
    assert f"{base['per_s']:,.0f}" in text
    f = row["fpga"]
    assert f"{f['per_s']['value']:,.0f}" in text and f"{f['energy_uj']['value']:,.4g}*" in text
    for label in (bench.UNVERIFIED, bench.VERILATOR, bench.COST):
        assert label in text
    assert "power meter" in text and "batch dimension fixed" not in text
    # the platforms side by side: FPGA, CPU batch 1 and the fastest run, with their labels
    assert text.startswith("| design | platform | batch | windows/s | source | µJ/window |")
    e = base["energy_uj"]["value"]
    assert f"| {bench.platforms.ORT_TIME} | {bench.platforms._num(e)} | " \
           f"{bench.platforms.ESTIMATE_TDP} |" in text
    assert "CPU energy per window: an ESTIMATE, not measured" in text
    verdict = next(x for x in text.splitlines() if x.startswith(f"- {row['design']}: FPGA"))
    assert " wins on: " in verdict and " Loses on: " in verdict
    assert "µJ/window vs CPU batch 1" in verdict
    batched = next(r for r in row["cpu"]["runs"] if r["batch"] == 64)
    assert f"| {batched['per_s']:,.0f} |" in text
    assert "0 mismatches in 5 windows" in text
    # the table mode renders the same
    proc = subprocess.run([sys.executable, str(PATH), "table", str(path)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == text.strip()


def test_batches_are_measured_when_the_graph_takes_them(tmp_path):
    """A real ONNX graph with a free batch dimension (scores = x W + side V)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = rng.standard_normal((360, 5)).astype(np.float32)
    v = rng.standard_normal((8, 5)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["a"]),
         helper.make_node("MatMul", ["side", "V"], ["b"]),
         helper.make_node("Add", ["a", "b"], ["scores"])], "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 360]),
         helper.make_tensor_value_info("side", TensorProto.FLOAT, ["n", 8])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["n", 5])],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(v, "V")])
    path = tmp_path / "linear.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    x = rng.standard_normal((100, 360)).astype(np.float32)
    side = rng.standard_normal((100, 8)).astype(np.float32)
    res, scores = bench._batched(bench.session(path, 1), x, side, 32, 1)
    assert res["possible"] and res["batches"] == 3  # whole batches only
    assert res["per_s"] > 0 and res["batch_latency_us"]["p99"] >= res["batch_latency_us"][
        "median"] > 0
    np.testing.assert_allclose(scores, (x @ w + side @ v)[:96], rtol=1e-4, atol=1e-3)
    res, scores = bench._batched(bench.session(path, 1), x[:10], side[:10], 32, 1)
    assert res["batches"] == 1 and len(scores) == 10  # fewer windows than a batch: repeated
    np.testing.assert_allclose(scores, x[:10] @ w + side[:10] @ v, rtol=1e-4, atol=1e-3)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(PATH), *args], capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("make, fault", [
    (lambda d: d, "run.json: missing"),
    (lambda d: (d / "run.json").write_text("{not json"), "run.json: not valid JSON"),
    (lambda d: (d / "run.json").write_text('{"settings": {"task": "mitdb-aami"}}'),
     "model: no chosen model"),
])
def test_a_bad_run_folder_is_one_line_and_no_results(tmp_path, make, fault):
    run = tmp_path / "R"
    run.mkdir()
    make(run)
    results = tmp_path / "out" / "baseline.jsonl"
    proc = _cli("measure", "--run", str(run), "--results", str(results))
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bench_baseline: error: ")
    assert fault in lines[0] and str(run) in lines[0]
    assert not results.exists() and not results.parent.exists()


def test_missing_run_folder_and_project_of_another_model(tmp_path, project):
    proc = _cli("measure", "--run", str(tmp_path / "nope"), "--results", str(tmp_path / "r"))
    assert proc.returncode != 0 and "no such run folder" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    proc = _cli("measure", "--model", "preset:small", "--project", str(project), "--results",
                str(tmp_path / "r"))
    assert proc.returncode != 0 and "was built from preset:tiny" in proc.stderr
    assert not (tmp_path / "r").exists()
