# SPDX-License-Identifier: Apache-2.0
"""`half implement`: the real open flow (Yosys, nextpnr, icepack) on a small real design for
the UP5K, its result file, and the one-line errors of bad input and of a failing tool."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import run_half, run_json
from half.flow.implement import _first_errors, vivado_part, vivado_tcl
from half.hw.devices import get_device


def _build(path: Path, device: str = "up5k", goal: str = "low-energy",
           model: str = "preset:tiny") -> Path:
    """The project `half build` writes (its own function, in this process: the command line
    itself is tested in tests/rtl/test_generate.py)."""
    from half.rtl.build import build

    build(model, "mitdb-aami", device, goal, path)
    return path


@pytest.fixture(scope="module")
def tiny_up5k(tmp_path_factory) -> Path:
    return _build(tmp_path_factory.mktemp("impl") / "tiny-up5k")


# A small real network (one 4-channel convolution, decimation 4, the RR side features, a
# hidden dense layer), trained briefly on real records, folded by hand (`--folding`): the full
# flow must fit the UP5K and meet timing (a small design keeps the test quick).
MICRO = {"window": 360, "n_classes": 5, "decimation": 4, "side_inputs": 8,
         "blocks": [{"channels": 4, "kernel": 5, "pool": 4, "weight_bits": 4, "act_bits": 4}],
         "dense": [{"units": 8, "weight_bits": 4, "act_bits": 4}], "out_bits": 6}


@pytest.fixture(scope="module")
def micro_up5k(tmp_path_factory, request) -> Path:
    from half.nn.runs import resolve_model, train_run
    from half.nn.train import TrainConfig

    shared = request.getfixturevalue("shared_data")
    if not (shared / "mitdb").is_dir():
        pytest.skip("no MIT-BIH data")
    tmp = tmp_path_factory.mktemp("micro")
    (tmp / "arch.json").write_text(json.dumps(MICRO))
    params = json.loads((resolve_model("preset:tiny", "mitdb-aami") / "task.json").read_text())
    train_run("mitdb-aami", str(tmp / "arch.json"), tmp / "run",
              TrainConfig(epochs=1, stop_at=1, train_fraction=0.05, threads=1),
              params["params"], shared)
    # the least parallel folding at 12 MHz: a fixed, small design whatever the folder chooses
    built = _build(tmp / "b", model=str(tmp / "run"))
    folding = json.loads((built / "design.json").read_text())["folding"]
    folding = {"clock_mhz": 12.0, "layers": {k: {"pe": 1, "simd": 1} for k in folding["layers"]}}
    (tmp / "folding.json").write_text(json.dumps(folding))
    project = tmp / "p"
    # built from the run's QONNX file with a cache of its own (issue 17: a project built from a
    # QONNX file implements after the file and the cache are deleted)
    onnx = tmp / "run" / "model.qonnx.onnx"
    run_json("build", "--model", str(onnx), "--task", "mitdb-aami", "--device", "up5k",
             "--goal", "low-energy", "--folding", str(tmp / "folding.json"), "-o", str(project),
             env={"HALF_CACHE_DIR": str(tmp / "cache")})
    assert json.loads((project / "source.json").read_text())["model"] == str(onnx)
    # the project alone is implemented: the QONNX file, the run folder it came from and the
    # cache are gone (the LIFCL-40 test's predicted figures come from its ir.json)
    shutil.rmtree(tmp / "run")
    shutil.rmtree(tmp / "cache", ignore_errors=True)
    assert not onnx.exists()
    return project


@pytest.mark.impl
def test_micro_up5k_implements_with_a_bitstream_and_meets_timing(micro_up5k):
    project = micro_up5k
    proc = run_half("implement", str(project), "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(proc.stdout)  # stdout holds the JSON result and nothing else
    assert json.loads((project / "reports" / "implementation.json").read_text()) == res
    assert res["device"] == "up5k" and res["kind"] == "post-route" and res["fits"]
    design = json.loads((project / "design.json").read_text())
    assert res["target_mhz"] == design["folding"]["clock_mhz"]
    assert res["timing_met"] is True and res["fmax_mhz"] >= res["target_mhz"]
    assert res["slack_ns"] == pytest.approx(1000 / res["target_mhz"] - 1000 / res["fmax_mhz"],
                                            abs=1e-2)
    bit = Path(res["bitstream"])
    assert bit.is_file() and bit.stat().st_size > 100_000  # an UP5K image is ~104 kB
    lc = res["utilization"]["ICESTORM_LC"]
    assert 0 < lc["used"] <= lc["available"] == 5280
    assert res["critical_path"]["delay_ns"] == pytest.approx(1000 / res["fmax_mhz"], rel=0.1)
    assert res["inferences_per_s"] == pytest.approx(res["fmax_mhz"] * 1e6 / res["ii_cycles"],
                                                    rel=1e-3)
    assert {"yosys", "nextpnr-ice40", "icepack"} <= set(res["tools"])
    assert {"synth", "pnr", "pack", "total"} <= set(res["seconds"])
    for log in ("synth", "pnr", "pack"):
        assert (project / "reports" / f"{log}.log").is_file()


@pytest.mark.impl
def test_micro_on_lifcl40_places_and_routes_on_the_evaluation_boards_pins(micro_up5k):
    """nextpnr-nexus needs every pin constrained: without a pin file the design goes into the
    four-pin shell on the CrossLink-NX Evaluation Board's pins, is placed and routed, and says
    why no bitstream is written."""
    proc = run_half("implement", str(micro_up5k), "--device", "lifcl-40", "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(proc.stdout)
    assert res["device"] == "lifcl-40" and res["top"] == "half_shell"
    assert res["kind"] == "post-route" and res["fits"] and res["fmax_mhz"] > 0
    assert res["timing_met"] is (res["fmax_mhz"] >= res["target_mhz"])
    assert res["utilization"]["SEIO33_CORE"]["used"] == 4  # clk, rst, din, dout
    pdc = (micro_up5k / "impl" / "pins.pdc").read_text()
    assert "-site {L13} [get_ports clk]" in pdc and "[get_ports dout]" in pdc
    assert res["bitstream"] is None and "FASM" in res["bitstream_note"]
    assert "-noccu2" in res["synthesis"]


def test_implement_rejects_a_folder_that_is_no_project(tmp_path):
    proc = run_half("implement", str(tmp_path))
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "not a half project" in lines[0], proc.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_implement_rejects_an_unknown_device_before_any_work(tmp_path, tiny_up5k):
    project = shutil.copytree(tiny_up5k, tmp_path / "p")
    proc = run_half("implement", str(project), "--device", "no-such-fpga")
    assert proc.returncode != 0 and "unknown device" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (project / "impl").exists() and not (project / "reports").exists()


def test_a_failing_tool_is_one_line_with_its_own_error_and_no_result(tmp_path, tiny_up5k):
    project = shutil.copytree(tiny_up5k, tmp_path / "p")
    with open(project / "rtl" / "half_top.v", "a") as fh:
        fh.write("\nmodule broken(input wire a; endmodule\n")  # a syntax error
    proc = run_half("implement", str(project))
    assert proc.returncode != 0
    errors = [x for x in proc.stderr.splitlines() if x.startswith("half: error:")]
    assert len(errors) == 1, proc.stderr  # the other lines are progress
    assert "yosys" in errors[0] and "ERROR" in errors[0] and "synth.log" in errors[0]
    assert not (project / "reports" / "implementation.json").exists()
    assert (project / "reports" / "synth.log").is_file()


def test_first_errors_takes_the_tools_error_lines_and_a_wasm_trap_cause():
    log = "info\nERROR: Latch inferred for signal x\nmore\n"
    assert _first_errors(log) == "ERROR: Latch inferred for signal x"
    trap = "Traceback (most recent call last):\n  File x\nCaused by:\n    wasm trap: call " \
           "stack exhausted\n"
    assert "wasm trap: call stack exhausted" in _first_errors(trap)
    assert _first_errors("a\nb\nc\n") == "b | c"
    # a tool's lower-case error lines before its ERROR: line do not lead the message
    mixed = "error: no clock found, using default\nINFO: x\nERROR: Can't open input file `top.v'\n"
    assert _first_errors(mixed).startswith("ERROR: Can't open input file")


def test_vivado_script_names_the_part_every_source_rom_and_the_clock(tiny_up5k):
    files = (tiny_up5k / "files.f").read_text().split()
    tcl = vivado_tcl(tiny_up5k, get_device("xc7z020"), files)
    assert "set part xc7z020clg400-1" in tcl
    for f in files:
        assert f in tcl
    for mem in (tiny_up5k / "mem").glob("*.mem"):
        assert f"mem/{mem.name}" in tcl
    for cmd in ("read_xdc constraints/clock.xdc", "synth_design -top half_top", "route_design",
                "report_utilization", "report_timing_summary", "report_power",
                "write_bitstream"):
        assert cmd in tcl
    assert vivado_part("XCZU3EG-1SBVA484E") == "xczu3eg-sbva484-1-e"


@pytest.mark.impl
def test_flattened_ecp5_synthesis_maps_exactly_the_models_dsps(tmp_path):
    """preset:small folded for throughput on ECP5 has stages with SIMD = CIN (one channel slice)
    and multiply-shift requantization: Yosys, synthesizing the whole design flattened as `half
    implement` does, once mapped 193 MULT18X18D where the model counted 124 (operand indices
    computed as products). Its coarse synthesis (where DSPs are mapped) must match the model."""
    from half.flow.implement import find_tool

    project = _build(tmp_path / "p", device="ecp5-85k", goal="high-throughput",
                     model="preset:small")
    predicted = json.loads((project / "predicted.json").read_text())["resources_estimate"]
    files = (project / "files.f").read_text().split()
    (project / "dsp.ys").write_text(f"read_verilog -defer -sv {' '.join(files)}\n"
                                    "synth_ecp5 -top half_top -run begin:map_ram\n"
                                    "tee -q -o dsp.json stat -json\n")
    yosys = find_tool("yosys")
    proc = subprocess.run([*yosys.argv, "-q", "-s", "dsp.ys"], cwd=project, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    stat = json.loads((project / "dsp.json").read_text())
    cells = (stat.get("design") or next(iter(stat["modules"].values())))["num_cells_by_type"]
    assert predicted["dsp"] > 100
    assert cells.get("MULT18X18D", 0) == predicted["dsp"]
