# SPDX-License-Identifier: Apache-2.0
"""The cost model's installed calibration (src/half/hw/calibration.json) is the fit of the
committed measurements (benchmarks/results/calibration*.jsonl) by the committed fitting code
with the model's current features: a change to the model's components that is not refitted
(`benchmarks/calibrate.py fit --install`) fails here, and so does a stale
calibration_fit.json (the errors docs/RESULTS.md quotes)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from half.hw.cost import CALIBRATION

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


@pytest.fixture(scope="module")
def calibrate():
    spec = importlib.util.spec_from_file_location("calibrate", ROOT / "benchmarks" /
                                                  "calibrate.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def refit(calibrate) -> dict:
    result = calibrate.fit(RESULTS / "calibration.jsonl")
    timing = RESULTS / "calibration_timing.jsonl"
    for fam, fm in calibrate.fit_fmax(timing, result).items():
        result[fam]["fmax"] = fm
    for fam, pk in calibrate.fit_packing(timing, result).items():
        result[fam]["packing"] = pk
    return result


def test_installed_coefficients_are_the_fit_of_the_committed_data(refit):
    installed = json.loads(CALIBRATION.read_text())["families"]
    for fam, key in (("ice40", "ice40up"), ("ecp5", "ecp5")):
        assert installed[key]["lut"] == refit[fam]["lut"], fam
        assert installed[key]["ff"] == refit[fam]["ff"], fam
        for k, v in installed[key]["fmax"].items():
            assert v == refit[fam]["fmax"][k], (fam, k)
    assert installed["ice40up"]["packing"] == refit["ice40"]["packing"]["packing"]


def test_recorded_fit_and_errors_are_current(refit):
    recorded = json.loads((RESULTS / "calibration_fit.json").read_text())
    for fam in ("ice40", "ecp5"):
        assert recorded[fam]["errors"] == refit[fam]["errors"], fam
        assert recorded[fam]["bram_exact_stages"] == refit[fam]["bram_exact_stages"]
        assert recorded[fam]["dsp_exact_stages"] == refit[fam]["dsp_exact_stages"]


def test_check_applies_the_installed_coefficients(calibrate, refit, tmp_path):
    """`calibrate.py check` on the held-out designs of the committed data gives the fit's
    held-out errors (the installed coefficients are that fit)."""
    rows = (RESULTS / "calibration.jsonl").read_text().splitlines()
    odd = [x for x in rows if json.loads(x)["index"] % 2 == 1]
    (tmp_path / "odd.jsonl").write_text("\n".join(odd) + "\n")
    checked = calibrate.check(tmp_path / "odd.jsonl")
    for fam in ("ice40", "ecp5"):
        assert checked[fam]["errors"] == refit[fam]["errors"]["held_out"], fam
