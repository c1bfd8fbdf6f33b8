# SPDX-License-Identifier: Apache-2.0
"""benchmarks/platforms.py and benchmarks/bench_gpu.py without a GPU: the RAPL counters read from
a powercap folder written here (the sysfs file format, wrap-around included), where the CPU's
energy comes from and the estimate's arithmetic and label, bench_gpu's arguments, its timed
loop on a real onnxruntime session, its row format and its exit where no GPU is present."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


sys.path.insert(0, str(BENCH))  # as the scripts themselves import each other
import bench_gpu as gpu  # noqa: E402
import platforms  # noqa: E402


def _domain(root: Path, name: str, uj: int, max_uj: int, label: str | None = None) -> Path:
    d = root / name
    d.mkdir(parents=True)
    (d / "energy_uj").write_text(f"{uj}\n")
    (d / "max_energy_range_uj").write_text(f"{max_uj}\n")
    if label:
        (d / "name").write_text(f"{label}\n")
    return d


def test_rapl_package_counters_and_wrap_around(tmp_path):
    root = tmp_path / "powercap"
    p0 = _domain(root, "intel-rapl:0", 1_000, 10_000, "package-0")
    _domain(root, "intel-rapl:0:0", 5, 10_000, "core")  # a part of package 0: left out
    p1 = _domain(root, "intel-rapl:1", 9_000, 10_000, "package-1")
    rapl = platforms.find_rapl(root)
    assert rapl.names == ("package-0", "package-1") and rapl.max_uj == (10_000, 10_000)
    before = rapl.read()
    assert before == (1_000, 9_000)
    (p0 / "energy_uj").write_text("4000\n")
    (p1 / "energy_uj").write_text("500\n")  # wrapped: 9000 -> 10000 -> 0 -> 500
    assert rapl.delta_uj(before, rapl.read()) == 3_000 + 1_500
    # a counter this process cannot read as a number: no RAPL; no powercap folder at all: none
    (p1 / "energy_uj").write_text("")
    assert platforms.find_rapl(root) is None
    assert platforms.find_rapl(tmp_path / "nope") is None


def test_energy_source_rapl_first_then_the_tdp_table_or_the_options(tmp_path):
    from half.errors import ConfigError

    empty = tmp_path / "empty"
    with pytest.raises(ConfigError, match="--cpu-tdp-w"):
        platforms.energy_source("AMD EPYC", root=empty)
    none = platforms.energy_source("AMD EPYC", root=empty, required=False)
    assert none["kind"] == "none" and "not in the TDP table" in none["reason"]
    src = platforms.energy_source("AMD EPYC", 240.0, 48, root=empty)
    assert (src["kind"], src["tdp_w"], src["package_cores"]) == ("tdp", 240.0, 48)
    assert "not in the TDP table" in src["tdp_from"] and src["label"].startswith("estimate")
    known = platforms.energy_source("AMD EPYC 9654 96-Core Processor", root=empty)
    assert (known["tdp_w"], known["package_cores"]) == (360.0, 96)
    assert "amd-9004" in known["tdp_from"]
    assert platforms.tdp_lookup("AMD EPYC 96540 Processor") is None  # whole tokens only
    assert platforms.tdp_lookup("Intel(R) Xeon(R) Platinum 8480+")[:2] == (350.0, 56)
    with pytest.raises(ConfigError, match="positive"):
        platforms.energy_source("AMD EPYC", 0.0, 8, root=empty)
    _domain(tmp_path / "pc", "intel-rapl:0", 1, 100, "package-0")
    rapl = platforms.energy_source("AMD EPYC", 240.0, 48, root=tmp_path / "pc")
    assert rapl["kind"] == "rapl" and platforms.is_measured(rapl["label"])
    assert platforms.meter(rapl).files == (tmp_path / "pc" / "intel-rapl:0" / "energy_uj",)
    assert platforms.meter(src) is None


def test_cpu_energy_estimate_and_measured_arithmetic(tmp_path):
    src = platforms.energy_source("AMD EPYC", 360.0, 96, root=tmp_path)
    run = {"threads": 2, "per_s": 10_000.0, "windows_timed": 500}
    e = platforms.cpu_energy(run, src)
    # 2 of 96 cores x 360 W = 7.5 W, x 100 µs per window = 750 µJ
    assert e["value"] == pytest.approx(750.0) and e["label"] == platforms.ESTIMATE_TDP
    assert not platforms.is_measured(e["label"]) and "7.5 W" in e["how"]
    many = platforms.cpu_energy({**run, "threads": 200}, src)  # never more than the package
    assert many["value"] == pytest.approx(360.0 * 100)
    _domain(tmp_path / "pc", "intel-rapl:0", 1, 100, "package-0")
    rapl = platforms.energy_source(None, root=tmp_path / "pc")
    m = platforms.cpu_energy({**run, "rapl_uj": 2_000_000}, rapl)
    assert m["value"] == pytest.approx(4_000.0) and platforms.is_measured(m["label"])
    assert platforms.cpu_energy(run, None)["value"] is None


def _linear(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """A real ONNX graph with a free batch dimension: scores = x W."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = np.random.default_rng(0).standard_normal((360, 5)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["scores"])], "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 360])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["n", 5])],
        [numpy_helper.from_array(w, "W")])
    path = tmp_path / "linear.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path, w


def test_the_cpu_loops_read_the_counters_around_the_timed_windows(tmp_path):
    path, w = _linear(tmp_path)
    _domain(tmp_path / "pc", "intel-rapl:0", 7, 100, "package-0")
    rapl = platforms.find_rapl(tmp_path / "pc")
    x = np.random.default_rng(1).standard_normal((40, 360)).astype(np.float32)
    sess = gpu.base.session(path, 1)
    seq, _ = gpu.base._sequential(sess, [{"x": x[i:i + 1]} for i in range(40)], 2, rapl)
    assert seq["windows_timed"] == 40 and seq["rapl_uj"] == 0  # a counter that did not move
    res, _ = gpu.base._batched(sess, x, None, 16, 1, rapl)
    assert res["windows_timed"] == 32 and res["rapl_uj"] == 0


def test_gpu_arguments():
    args = gpu.parse(["--model", "preset:tiny", "--batches", "1", "64", "--providers", "cuda"])
    assert args.designs == [{"kind": "model", "spec": "preset:tiny"}]
    assert (args.batches, args.providers, args.windows, args.seed) == ([1, 64], ["cuda"], 2000, 0)
    for bad in ([], ["--model", "preset:tiny", "--min-seconds", "0"],
                ["--model", "preset:tiny", "--batches", "0"],
                ["--model", "preset:tiny", "--providers", "rocm"]):
        with pytest.raises(SystemExit) as e:
            gpu.parse(bad)
        assert e.value.code == 2


def test_gpu_timed_loop_and_row_format_on_a_real_session(tmp_path):
    """`timed` runs whole passes until the time is up (here on the CPU provider: the loop and
    the row, not a GPU figure); the row's windows/s and µJ/window follow from what it timed."""
    path, w = _linear(tmp_path)
    x = np.random.default_rng(2).standard_normal((50, 360)).astype(np.float32)
    feeds, n = gpu.base.batch_feeds(["x"], x, None, 16)
    t = gpu.timed(gpu.base.session(path, 1), feeds, 2, 0.05)
    assert n == 48 and t["passes"] >= 1 and t["calls"] == 3 * t["passes"]
    assert t["wall_s"] >= 0.05 and t["joules"] is None
    np.testing.assert_allclose(t["scores"], x[:48] @ w, rtol=1e-4, atol=1e-3)
    row = gpu.gpu_record("CUDAExecutionProvider", ["CUDAExecutionProvider"], 16, n,
                         {**t, "joules": 3.0}, gpu.NVML_COUNTER)
    assert row["windows_timed"] == 48 * t["passes"]
    assert row["per_s"] == pytest.approx(row["windows_timed"] / t["wall_s"])
    assert row["energy_uj"]["value"] == pytest.approx(3.0e6 / row["windows_timed"])
    assert platforms.is_measured(row["energy_uj"]["label"])
    assert platforms.is_measured(row["per_s_label"])
    # sampled power: the trapezoid rule (1 s at 100 W, then 2 s ramping to 200 W)
    assert gpu.integrate_power([(0.0, 100.0), (1.0, 100.0), (3.0, 200.0)]) == 400.0


def test_gpu_table_lines_and_the_fpga_verdict():
    fpga = {"device": "up5k", "goal": "low-energy", "clock_mhz": {"value": 24.0},
            "per_s": {"value": 5_000.0, "label": "estimate (cost model)"},
            "energy_uj": {"value": 2.0, "label": "estimate (cost model)"}}
    timing = {"wall_s": 2.0, "passes": 10, "joules": 60.0,
              "call_latency_us": {"median": 1.0, "p99": 2.0}}
    runs = [gpu.gpu_record("CUDAExecutionProvider", [], b, b * k, timing, gpu.NVML_COUNTER)
            for b, k in ((1, 100), (256, 40))]
    cpu = {"runs": [{"optimization": "all", "threads": 1, "batch": 1, "per_s": 2_000.0,
                     "energy_uj": {"value": 40.0, "label": platforms.ESTIMATE_TDP}}]}
    rows = [{"design": "d", "task": "t", "arch_hash": "h", "fpga": fpga, "cpu": cpu}]
    g = {"design": "d", "task": "t", "arch_hash": "h",
         "gpu": {"device": "H100", "runs": runs}}
    text = platforms.platform_table(rows, [g])
    # batch 1: 100 windows x 10 passes / 2 s; 60 J / 1,000 windows
    assert "| GPU H100, CUDA batch 1 | 1 | 500 | measured" in text
    assert "| 60,000 | measured (NVML total energy counter" in text
    assert "| GPU H100, CUDA best: batch 256 | 256 | 51,200 | measured" in text
    assert "| 585.9 | measured (NVML" in text  # 60 J / 102,400 windows
    line = text.splitlines()[-1]
    assert line.startswith("- d: FPGA up5k (low-energy) at 24 MHz wins on:")
    wins, loses = line.split("Loses on:")
    assert "windows/s vs CPU batch 1" in wins and "µJ/window vs GPU H100, CUDA best" in wins
    assert "windows/s vs GPU H100, CUDA best" in loses
    assert "5,000 estimate vs 51,200 measured" in loses
    slow = {**platforms._fpga_entries(fpga)[0], "per_s": 1.0, "uj": 1e9}
    assert "wins on: nowhere." in platforms.verdict(slow, platforms._gpu_entries(g["gpu"]))
    alone = platforms.platform_table([], [g])  # a GPU row without its design: listed alone
    assert "GPU H100" in alone and "wins" not in alone


def test_bench_gpu_without_a_gpu_says_so_and_writes_nothing(tmp_path):
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("onnxruntime here has the CUDA provider")
    results = tmp_path / "out" / "gpu.jsonl"
    proc = subprocess.run([sys.executable, str(BENCH / "bench_gpu.py"), "--model",
                           "preset:tiny", "--results", str(results)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bench_gpu: nothing measured: ")
    assert "CUDAExecutionProvider" in lines[0] and "onnxruntime-gpu" in lines[0]
    assert not results.parent.exists()


def test_nothing_in_half_imports_the_gpu_script():
    src = Path(__file__).resolve().parents[1] / "src"
    assert not [p for p in src.rglob("*.py") if "bench_gpu" in p.read_text()]
