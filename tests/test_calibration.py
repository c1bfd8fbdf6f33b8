# SPDX-License-Identifier: Apache-2.0
"""The cost model's installed calibration (src/half/hw/calibration.json) is the fit of the
committed measurements (benchmarks/results/calibration*.jsonl) by `half.hw.calibration` with the
model's current features: a change to the model's components that is not refitted (`half
calibrate fit --install`) fails here, and so does a stale calibration_fit.json or
calibration_check.json (the errors docs/RESULTS.md quotes). `half calibrate fit|check|collect`
on those rows, and their one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_half
from half.hw import calibration

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
ROWS = RESULTS / "calibration.jsonl"
TIMING = RESULTS / "calibration_timing.jsonl"
CHECK_ROWS = RESULTS / "calibration_check.jsonl"


@pytest.fixture(scope="module")
def refit() -> dict:
    return calibration.fit(calibration.read_rows(ROWS), calibration.read_rows(TIMING, "timing"))


@pytest.fixture
def at_root(monkeypatch):
    """The rows name their models by paths relative to the repository root."""
    monkeypatch.chdir(ROOT)


def test_installed_coefficients_are_the_fit_of_the_committed_data(refit):
    installed = json.loads(calibration.PATH.read_text())
    assert installed["schema"] == calibration.SCHEMA
    assert calibration.as_calibration(refit, "")["families"] == installed["families"]
    assert calibration.load() == installed["families"]


def test_recorded_fit_and_errors_are_current(refit):
    assert refit == json.loads((RESULTS / "calibration_fit.json").read_text())


def test_check_applies_the_installed_coefficients(refit):
    """The check on the held-out designs of the committed data gives the fit's held-out errors
    (the installed coefficients are that fit)."""
    odd = [r for r in calibration.read_rows(ROWS) if r["index"] % 2 == 1]
    checked = calibration.check(odd, calibration.load())
    for fam in calibration.FIT_FAMILIES:
        assert checked[fam]["errors"] == refit[fam]["errors"]["held_out"], fam


def test_fit_command_reproduces_the_installed_calibration(at_root, tmp_path):
    out = tmp_path / "calibration.json"
    proc = run_half("calibrate", "fit", str(ROWS.relative_to(ROOT)), "--timing",
                    str(TIMING.relative_to(ROOT)), "-o", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)  # stdout holds the JSON result and nothing else
    assert res["written"] == str(out)
    assert calibration.load(out) == calibration.load()  # the same coefficients, every digit
    assert res["calibration"] == json.loads(out.read_text())
    assert res["report"] == json.loads((RESULTS / "calibration_fit.json").read_text())
    # the text output: the held-out errors per family, and where it went
    proc = run_half("calibrate", "fit", str(ROWS), "--timing", str(TIMING), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "ice40, 17 designs: LUT 3.5 / 14.9 % (raw 4.7 / 11.4 %)" in proc.stdout
    assert "packing factor 0.935" in proc.stdout
    assert f"calibration written to {out}" in proc.stdout


def test_check_command_gives_the_recorded_errors(at_root):
    recorded = json.loads((RESULTS / "calibration_check.json").read_text())
    proc = run_half("calibrate", "check", str(CHECK_ROWS), "--json")
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)
    assert res["coefficients"] == str(calibration.PATH)
    fams = [k for k in recorded if k not in ("coefficients", "data")]
    assert fams == ["ice40", "ecp5", "xc7"]
    assert {k: res[k] for k in fams} == {k: recorded[k] for k in fams}
    proc = run_half("calibrate", "check", str(CHECK_ROWS))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "ice40, 34 designs: LUT 1.8 / 14.3 % (raw 2.7 / 23.5 %), FF 2.7 / 17.4 %" in lines[1]
    assert lines[3].startswith("xc7, 34 designs (not fitted: the raw model): LUT 21.5 / 121.7 %")


def _one_line_error(proc, *parts: str) -> str:
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr.strip()
    assert len(err.splitlines()) == 1 and err.startswith("half: error: "), err
    for p in parts:
        assert p in " ".join(err.split()), err
    return err


def test_malformed_rows_are_one_line_errors_naming_file_and_line(tmp_path):
    good = ROWS.read_text().splitlines()[0]
    row = json.loads(good)
    bad = tmp_path / "rows.jsonl"
    cases = [("{not json", "line 2: not a JSON object"),
             (json.dumps({k: v for k, v in row.items() if k != "spec"}),
              "line 2: field `spec` missing (the model it was measured on)"),
             (json.dumps({**row, "measured": {**row["measured"], "ffs": "many"}}),
              "line 2: field `measured.ffs`: 'many' is not a number"),
             (json.dumps({**row, "family": "stratix"}), "line 2: field `family`: 'stratix'"),
             (json.dumps({**row, "index": 1.5}), "line 2: field `index`: 1.5 is not an integer"),
             (json.dumps({**row, "folding": {"layers": {}}}), "line 2: field `folding`")]
    for text, fault in cases:
        bad.write_text(good + "\n" + text + "\n")
        for cmd in (("fit", str(bad)), ("check", str(bad))):
            _one_line_error(run_half("calibrate", *cmd), f"{bad}: {fault}")
    # timing rows name their model in `model`
    bad.write_text(json.dumps({k: v for k, v in json.loads(TIMING.read_text().splitlines()[0])
                               .items() if k != "model"}) + "\n")
    _one_line_error(run_half("calibrate", "fit", str(ROWS), "--timing", str(bad)),
                    f"{bad}: line 1: field `model` missing")
    _one_line_error(run_half("calibrate", "fit", str(tmp_path / "none.jsonl")),
                    "none.jsonl: no such file")


def test_malformed_calibration_is_a_one_line_error_naming_file_and_field(tmp_path):
    doc = json.loads(calibration.PATH.read_text())
    bad = tmp_path / "calibration.json"
    cases = [({**doc, "schema": 99}, "`schema`: 99, this half reads version 1"),
             ({k: v for k, v in doc.items() if k != "schema"}, "`schema`: None"),
             ({**doc, "families": {"ecp5": {**doc["families"]["ecp5"], "ff": {"per_stage": 1}}}},
              "`families.ecp5.ff.model_ffs`: missing"),
             ({**doc, "families": {"ice40up": {**doc["families"]["ice40up"],
                                               "lut": {"adders": "x"}}}},
              "`families.ice40up.lut.adders`: 'x' is not a number"),
             ({**doc, "families": {"ice40up": {**doc["families"]["ice40up"], "pack": 1}}},
              "`families.ice40up.pack`: unknown field")]
    for content, fault in cases:
        bad.write_text(json.dumps(content))
        _one_line_error(run_half("calibrate", "check", str(ROWS), "--calibration", str(bad)),
                        f"{bad}: {fault}")
    bad.write_text("{")
    _one_line_error(run_half("calibrate", "check", str(ROWS), "--calibration", str(bad)),
                    f"{bad}: not valid JSON")


def test_fit_output_never_replaces_a_file_half_did_not_write(at_root, tmp_path):
    mine = tmp_path / "notes.json"
    mine.write_text('{"my": "notes"}\n')
    _one_line_error(run_half("calibrate", "fit", str(ROWS), "-o", str(mine)),
                    f"{mine}: exists and is not a calibration half wrote", "--force")
    assert mine.read_text() == '{"my": "notes"}\n'
    _one_line_error(run_half("calibrate", "fit", str(ROWS), "-o", str(tmp_path)), "is a folder")
    _one_line_error(run_half("calibrate", "fit", str(ROWS), "-o", str(mine), "--install"),
                    "--install: give --install or -o FILE, not both")
    # a calibration half wrote is replaced; anything else with --force
    shipped = tmp_path / "shipped.json"
    shipped.write_text(calibration.PATH.read_text())
    for out, extra in ((shipped, ()), (mine, ("--force",))):
        proc = run_half("calibrate", "fit", str(ROWS), "-o", str(out), *extra)
        assert proc.returncode == 0, proc.stderr
        assert calibration.load(out)["ice40up"]["lut"] == calibration.load()["ice40up"]["lut"]
        assert calibration.load(out)["ice40up"]["fmax"] is None  # no --timing rows
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.impl
def test_collect_synthesizes_a_design_per_stage_and_resumes(tmp_path):
    """One design (the tiny preset folded for low energy on the UP5K), iCE40 only: one row per
    instance of the top, each counted in its cost stage; the model's BRAM and DSP counts are
    synthesis's; a second run finds it done."""
    from half.hw.design import Folding, bind
    from half.hw.devices import get_device
    from half.hw.plan import graph_for

    rows_file = tmp_path / "rows.jsonl"
    proc = run_half("calibrate", "collect", "--designs", "1", "--family", "ice40", "-o",
                    str(rows_file), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["synthesized"] == 1
    rows = calibration.read_rows(rows_file)
    assert {r["family"] for r in rows} == {"ice40"} and {r["index"] for r in rows} == {0}
    assert {r["spec"] for r in rows} == {"preset:tiny"}
    graph = graph_for("preset:tiny", "mitdb-aami")[0]
    design = bind(graph, Folding.from_dict(rows[0]["folding"]), get_device("up5k"))
    owner = calibration.counted_in(design)
    modelled = [r for r in rows if r["model"] is not None]
    assert {r["stage"] for r in modelled} == set(owner)  # "decimate" is the input stage's
    assert {r["model"]["name"] for r in modelled} == {st.name for st in owner.values()}
    for r in modelled:
        assert r["measured"]["bram"] == r["model"]["bram"], r["stage"]
        assert r["measured"]["dsp"] == r["model"]["dsp"], r["stage"]
    assert [r["stage"] for r in rows if r["model"] is None] == ["frame"]  # not modelled
    checked = calibration.check(rows, calibration.load())
    assert checked["ice40"]["errors"]["designs"] == 1
    before = rows_file.read_text()
    proc = run_half("calibrate", "collect", "--designs", "1", "--family", "ice40", "-o",
                    str(rows_file))
    assert proc.returncode == 0, proc.stderr
    assert "0 designs synthesized, 1 already there" in proc.stdout
    assert rows_file.read_text() == before
    # a file of another sweep is not appended to (after the progress note, one error line)
    rows_file.write_text(before.replace('"goal": "low-energy"', '"goal": "low-power"'))
    proc = run_half("calibrate", "collect", "--designs", "1", "-o", str(rows_file))
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[-1] == (
        f"half: error: {rows_file}: design 0 (preset:tiny, mitdb-aami, low-power) is not the "
        "one this sweep makes: give a new file, or the seed and options it was collected with")
