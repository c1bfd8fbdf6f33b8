# SPDX-License-Identifier: Apache-2.0
"""The generator and `half verify`: preset:tiny of both tasks at several foldings, simulated
with Verilator on real test windows under random stalls, against the golden model."""

from __future__ import annotations

import json

import pytest

from conftest import cinc_split_records, run_half, run_json


@pytest.mark.rtl
@pytest.mark.parametrize("task, device, goal", [
    ("mitdb-aami", "up5k", "low-energy"),
    ("cinc2017-af", "up5k", "high-throughput"),
    ("cinc2017-af", "up5k", "low-power"),
])
def test_build_and_verify_tiny(tmp_path, shared_data, make_cinc, task, device, goal):
    if not (shared_data / ("mitdb" if task == "mitdb-aami" else "cinc2017")).is_dir():
        pytest.skip(f"no data for {task}")
    from half.rtl.build import build

    data = shared_data
    if task == "cinc2017-af":  # 12 test recordings: preparing all 8,528 (RR features) is slow
        data = make_cinc(records=cinc_split_records("test")[:12])

    project = tmp_path / "p"
    # what `half build` runs, in this process (its command line: the test after this one)
    built = build("preset:tiny", task, device, goal, project)
    for f in ("rtl/half_top.v", "rtl/mvu_stage.v", "files.f", "design.json", "predicted.json",
              "README.md", "constraints/clock.py", "ir.json", "sim/tb_half.sv"):
        assert (project / f).is_file(), f
    windows = 8 if goal != "low-power" else 4
    res = run_json("--data-dir", str(data), "verify", str(project), "--windows", str(windows))
    assert res["windows"] == windows and res["mismatches"] == 0
    assert res["cycles_measured"] == res["cycles_model"] == built["latency_cycles"]
    assert res["ii_measured"] == res["ii_model"] == built["ii_cycles"]
    assert res["lint_clean"], res["lint"]
    assert json.loads((project / "reports" / "verify.json").read_text()) == res


def test_build_and_verify_with_a_relative_project_path(tmp_path, shared_data):
    import os
    import subprocess
    import sys

    env = {**os.environ}
    cmd = [sys.executable, "-m", "half", "--data-dir", str(shared_data)]
    subprocess.run([*cmd, "build", "--model", "preset:tiny", "--task", "mitdb-aami", "-o",
                    "rel"], cwd=tmp_path, check=True, capture_output=True, env=env)
    out = subprocess.run([*cmd, "verify", "rel", "--windows", "3", "--json"], cwd=tmp_path,
                         capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["mismatches"] == 0


def test_verify_rejects_a_folder_that_is_no_project(tmp_path):
    proc = run_half("verify", str(tmp_path))
    assert proc.returncode != 0 and "not a half project" in proc.stderr


@pytest.mark.rtl
def test_verify_names_the_first_mismatching_layer(tmp_path, shared_data):
    """A fault injected into one stage's weight ROM (every weight w -> -w - 1) is found at
    that stage: verify reruns up to the first wrong window and compares every link."""
    from half.flow.verify import verify
    from half.rtl.build import build

    if not (shared_data / "mitdb").is_dir():
        pytest.skip("no MIT-BIH data")
    build("preset:tiny", "mitdb-aami", "up5k", "high-throughput", tmp_path / "p")
    stages = json.loads((tmp_path / "p" / "design.json").read_text())["stages"]
    victim = [s for s in stages if s["module"] == "mvu_stage"][1]["name"]  # the second conv
    rom = tmp_path / "p" / "mem" / f"{victim}_w.mem"
    words = rom.read_text().split()
    rom.write_text("".join(f"{(1 << 4 * len(w)) - 1 - int(w, 16):0{len(w)}x}\n"
                           for w in words))
    res = verify(tmp_path / "p", windows=16, data_dir=shared_data)
    assert res["mismatches"] > 0
    assert res["first_mismatch_layer"] == victim, res
    assert res["first_mismatch_got"] != res["first_mismatch_want"]


@pytest.mark.rtl
def test_power_from_measured_toggles(tmp_path, shared_data):
    """Toggle coverage of a real run gives per-stage rates in (0, 1); the power model at those
    rates differs from the reference-rate estimate only in its dynamic part."""
    from half.flow.activity import measure
    from half.rtl.build import build

    if not (shared_data / "mitdb").is_dir():
        pytest.skip("no MIT-BIH data")
    build("preset:tiny", "mitdb-aami", "up5k", "low-energy", tmp_path / "p")
    res = measure(tmp_path / "p", windows=6, data_dir=shared_data)
    rates = {k: v["toggle_rate"] for k, v in res["stages"].items()}
    assert {"input", "conv1", "dense9"} <= set(rates)
    assert all(0 < r < 1 for r in rates.values()), rates
    ref, act = res["estimate_reference_toggle"], res["estimate_measured_toggle"]
    assert ref["power_estimate_mw"]["static"] == act["power_estimate_mw"]["static"]
    assert ref["power_estimate_mw"]["clock"] == act["power_estimate_mw"]["clock"]
    assert ref["dynamic_energy_estimate_uj"] != act["dynamic_energy_estimate_uj"]
    assert json.loads((tmp_path / "p" / "reports" / "power.json").read_text()) == res


def test_a_given_folding_is_checked_layer_by_layer(tmp_path):
    """`half build --folding`: a missing file, a malformed one and an illegal (PE, SIMD) are
    one-line errors naming the file or the layer; nothing is written."""
    folding = {"clock_mhz": 12.0, "layers": {"conv1": {"pe": 3, "simd": 1}}}
    (tmp_path / "f.json").write_text(json.dumps(folding))
    (tmp_path / "bad.json").write_text("{not json")
    for f, words in (("nope.json", "no such file"), ("bad.json", "not a folding"),
                     ("f.json", "folding.conv1")):
        proc = run_half("build", "--model", "preset:tiny", "--task", "mitdb-aami", "--folding",
                        str(tmp_path / f), "-o", str(tmp_path / "p"))
        assert proc.returncode != 0 and words in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
        assert not (tmp_path / "p").exists()
