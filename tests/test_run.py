# SPDX-License-Identifier: Apache-2.0
"""`half run` end to end on small real data (a tiny search over a small space, re-evaluation,
choice, test split, golden model, RTL, Verilator, Yosys/nextpnr, report), its resume, the test
split used only after the choice, the choice rule, and the report's rendering on a synthetic
run."""

from __future__ import annotations

import json
import re
import statistics
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conftest import run_half
from half.data.task import TaskData
from half.errors import ConfigError, HalfError, OutputError
from half.hw.design import InputStage
from half.nn.metrics import metrics_for
from half.nn.space import Space
from half.report import pareto_svg, render_report
from half.report.html import INPUT_INSTANCE
from half.report.svg import linear_ticks, log_ticks
from half.run import STAGES, RunSettings, choose, run_all
from half.run.summary import figures
from half.search import evaluate as ev_mod

# a real implementation.json of `half implement` (preset tiny, low-energy, iCE40 UP5K)
IMPL_JSON = Path(__file__).parents[1] / "benchmarks" / "results" / "impl_tiny_low-energy_up5k.json"
# 101 (train), 118 (validation), 100 (test): as tests/test_search.py
RECORDS = (101, 118, 100)
# one 4- or 8-channel convolution of kernel 3 or 5: small designs, quick to implement
SMALL = Space(
    min_blocks=1,
    max_blocks=1,
    channels=(4, 8),
    kernels=(3, 5),
    strides=(1,),
    pools=(4,),
    kinds=("conv",),
    bits=(4,),
    decimations=(4,),
    max_dense=0,
)
FAST = RunSettings(
    task="mitdb-aami",
    goal="low-energy",
    device="up5k",
    budget=3,
    population=2,
    fidelity=0.05,
    epochs=1,
    precheck="bits",
    reeval_seeds=1,
    reeval_folds=2,  # records 101 and 118: one fold each
    reeval_fidelity=0.05,
    reeval_epochs=1,
    verify_windows=20,
)


@pytest.fixture(scope="module")
def small_data(mitdb_subset) -> Path:
    return mitdb_subset(RECORDS, "run-data")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, small_data, session_cache):
    """One real `run_all` (workers=1: every evaluation in this process), with the stage events
    and every TaskData.select call in one sequence."""
    out = tmp_path_factory.mktemp("run") / "r"
    events: list[tuple] = []
    real_select = TaskData.select

    def spy(self, split):
        events.append(("select", split))
        return real_select(self, split)

    def progress(ev: dict) -> None:
        if ev.get("event") == "stage":
            events.append(("stage", ev["stage"], ev["status"]))
            if ev["stage"] == "choose" and ev["status"] == "done":  # before any test stage
                events.append(
                    ("choice record", json.loads((out / "stages" / "choose.json").read_text()))
                )
                events.append(("model files", sorted(p.name for p in (out / "model").iterdir())))

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HALF_CACHE_DIR", str(session_cache))
        mp.setattr(TaskData, "select", spy)
        ev_mod._DATA.clear()
        t0 = time.monotonic()
        run = run_all(FAST, out, workers=1, data_dir=small_data, space=SMALL, progress=progress)
        seconds = time.monotonic() - t0
    return {"out": out, "run": run, "events": events, "seconds": seconds}


# -- the run -------------------------------------------------------------------------------
def test_every_stage_runs_and_the_report_describes_the_chosen_design(tiny_run):
    out, run = tiny_run["out"], tiny_run["run"]
    assert [s.name for s in STAGES] == list(run["stages"])
    for name, st in run["stages"].items():
        assert st["status"] == "done" or (name == "implement" and st["status"] == "error"), st
        assert (out / st["record"]).is_file()
    assert json.loads((out / "run.json").read_text()) == json.loads(json.dumps(run))
    html = (out / "report" / "index.html").read_text()
    chosen = run["choice"]["chosen"]
    assert chosen["arch_hash"] in html and "<svg" in html
    for stage in run["build"]["predicted"]["stages"]:  # the per-layer hardware table
        assert f"<td>{stage['name']}</td>" in html
    assert (out / "model" / "model.pt").is_file() and (out / "project" / "design.json").is_file()
    # the chosen design is one the search put on its front and the re-evaluation trained
    assert chosen["arch_hash"] in {r["arch_hash"] for r in run["search"]["front"]}
    assert Path(chosen["source_run"]).is_dir()
    leftovers = [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    assert not leftovers


def test_run_json_figures_match_the_verification_and_implementation_files(tiny_run):
    out, run = tiny_run["out"], tiny_run["run"]
    verify = json.loads((out / "project" / "reports" / "verify.json").read_text())
    ver = run["verification"]
    for key in (
        "windows",
        "mismatches",
        "cycles_measured",
        "ii_measured",
        "cycles_model",
        "ii_model",
        "lint_clean",
    ):
        assert ver[key] == verify[key]
    assert verify["windows"] == FAST.verify_windows and verify["mismatches"] == 0
    figs = {f["name"]: f for f in run["figures"]}
    assert figs["II (measured)"]["value"] == verify["ii_measured"]
    assert (
        figs["II (measured)"]["kind"] == "measured" and "Verilator" in figs["II (measured)"]["how"]
    )
    assert figs["energy per inference"]["kind"] == "estimate"
    assert figs["energy per inference"]["value"] == pytest.approx(
        run["build"]["predicted"]["energy_estimate_uj"]
    )
    impl_stage = run["stages"]["implement"]
    if impl_stage["status"] == "done":  # "does not fit" and "timing not met" are results
        impl = json.loads((out / "project" / "reports" / "implementation.json").read_text())
        assert run["implementation"] == impl
        assert figs["luts (post-synthesis)"]["value"] == impl["resources"]["luts"]["used"]
        if not impl["fits"]:
            assert any("does not fit" in n for n in run["notes"])
        elif impl["fmax_mhz"] is not None:
            assert figs["fmax"]["value"] == impl["fmax_mhz"]
    else:  # a tool failure is recorded, not raised
        assert impl_stage["error"] and not run["ok"]
    assert run["ok"] == (not run["problems"] and not run["warnings"])
    assert run["test"]["windows"] > 0 and 0 <= run["test"]["macro_f1"] <= 1


def test_the_reference_is_trained_like_the_front_and_shown_beside_the_choice(tiny_run):
    """preset:tiny (outside the SMALL space: trained only as the reference) under the
    re-evaluation's protocol; its validation metric is the floor; run.json and the report show
    it beside the chosen design (validation, test, cost on the same device)."""
    out, run = tiny_run["out"], tiny_run["run"]
    ref, choice = run["reference"], run["choice"]
    record = json.loads((out / "stages" / "reference.json").read_text())["result"]
    assert record["seeds"] == run["reevaluation"]["seeds"] == [FAST.seed + 1]
    assert (record["fidelity"], record["epochs"]) == (FAST.reeval_fidelity, FAST.reeval_epochs)
    assert ref["spec"] == "preset:tiny" and ref["arch_hash"] == record["arch_hash"]
    assert choice["floor_kind"] == "reference" and choice["floor"] == ref["validation"]
    assert ref["validation"] == pytest.approx(
        statistics.fmean(r["val_metric"] for r in record["runs"])
    )
    assert 0 <= ref["test"]["macro_f1"] <= 1 and ref["chosen"]["test"] == {
        k: run["test"][k] for k in ref["chosen"]["test"]
    }
    assert ref["chosen"]["validation"] == choice["chosen"]["metric_mean"]
    assert ref["fits"] == (ref["cost"] is not None)
    assert run["test"]["reference"]["windows"] == run["test"]["windows"]
    html = (out / "report" / "index.html").read_text()
    assert 'id="reference"' in html and "preset:tiny" in html
    # preset:tiny's three blocks are outside the SMALL space: no refinement around it
    assert run["refinement"]["skipped"].startswith("the reference preset:tiny cannot be refined")
    assert "refinement around the reference skipped" in html
    below = ref["chosen"]["test"]["macro_f1"] < ref["test"]["macro_f1"]
    assert below == any("below the reference" in w for w in run["warnings"])


def test_the_choice_is_cross_validated_and_the_model_is_a_final_fit(tiny_run):
    """reeval_folds=2: every front design and the reference are measured on both patient-wise
    folds; the chosen design and the reference are then trained on both records (a final fit,
    no validation), and those two models are the ones tested; the chosen one is built."""
    run = tiny_run["run"]
    reev, choice, ref = run["reevaluation"], run["choice"], run["reference"]
    assert reev["folds"] == 2 and "2-fold cross-validation" in json.dumps(run["figures"])
    for cand in reev["candidates"]:
        assert [r["holdout"] for r in cand["runs"]] == ["cv2:0", "cv2:1"]
    chosen = choice["chosen"]
    runs = next(c for c in reev["candidates"] if c["arch_hash"] == chosen["arch_hash"])["runs"]
    assert chosen["metric_mean"] == pytest.approx(statistics.fmean(r["val_metric"] for r in runs))
    final = choice["final"]
    assert final["chosen"]["arch_hash"] == chosen["arch_hash"]
    assert chosen["source_run"] == final["chosen"]["run_dir"]
    assert final["reference"]["arch_hash"] == ref["arch_hash"]
    assert run["test"]["reference"]["seed"] == final["reference"]["seed"] == FAST.seed + 1

    def record(folder: str) -> dict:
        return json.loads((Path(folder) / "search_record.json").read_text())

    fit = record(final["chosen"]["run_dir"])
    assert fit["holdout"] == "none" and fit["val_metric"] is None and fit["val_windows"] == 0
    assert fit["epochs_run"] == FAST.reeval_epochs
    # trained on both records: more windows than either fold's training
    assert fit["train_windows"] > max(record(r["run_dir"])["train_windows"] for r in runs)
    assert record(final["reference"]["run_dir"])["holdout"] == "none"
    # the paired floor: a searched design meets it only at the reference's level (less the
    # fold tolerance) on both folds
    ref_row = next(r for r in choice["candidates"] if r.get("reference"))
    tol = choice["fold_tolerance"]
    assert tol == FAST.fold_tolerance
    for r in choice["candidates"]:
        assert sorted(r["per_fold"]) == ["cv2:0", "cv2:1"]
        if not r.get("reference"):
            at = sum(
                r["per_fold"][f] >= v - tol - 1e-12 for f, v in ref_row["per_fold"].items()
            )
            assert r["folds_at_reference"] == at
            assert r["meets_floor"] == (
                r["hardware_ok"] and at == 2 and r["metric_mean"] >= choice["floor"] - 1e-12
            )
    html = (tiny_run["out"] / "report" / "index.html").read_text()
    assert "folds at the reference level" in html


def test_the_test_split_is_used_only_after_the_choice(tiny_run):
    events = tiny_run["events"]
    chosen_at = events.index(("stage", "choose", "done"))
    tests = [i for i, e in enumerate(events) if e == ("select", "test")]
    assert tests, "the test stage reads the test split"
    assert min(tests) > chosen_at
    assert ("select", "val") in events[:chosen_at]  # the search selected on validation
    (record,) = [e[1] for e in events if e[0] == "choice record"]
    text = json.dumps(record)  # no test metrics in the choice
    assert "per_class" not in text and '"test"' not in text and "metrics_test" not in text
    (files,) = [e[1] for e in events if e[0] == "model files"]
    assert "metrics_val.json" in files and not any("test" in f for f in files)


def test_rerun_reuses_every_stage_and_redo_reruns_one(
    tiny_run, small_data, session_cache, monkeypatch
):
    monkeypatch.setenv("HALF_CACHE_DIR", str(session_cache))
    out = tiny_run["out"]
    before = {p: p.stat().st_mtime_ns for p in (out / "stages").glob("*.json")}
    t0 = time.monotonic()
    again = run_all(FAST, out, workers=1, data_dir=small_data, space=SMALL)
    assert time.monotonic() - t0 < 20
    assert {st["status"] for st in again["stages"].values()} <= {"reused"} | (
        {"error"} if tiny_run["run"]["stages"]["implement"]["status"] == "error" else set()
    )
    assert again["choice"] == tiny_run["run"]["choice"]
    # the choice again: the same result, so the stages after it are still valid
    redo = run_all(FAST, out, workers=1, data_dir=small_data, space=SMALL, redo=("choose",))
    assert redo["stages"]["choose"]["status"] == "done"
    assert redo["stages"]["build"]["status"] == "reused"
    assert redo["stages"]["verify"]["status"] == "reused"
    after = {p: p.stat().st_mtime_ns for p in (out / "stages").glob("*.json")}
    changed = {p.stem for p in before if after[p] != before[p]}
    assert "choose" in changed and changed <= {"choose", "implement"}


# -- one-line errors -----------------------------------------------------------------------
BAD = [
    (["--goal", "fastest"], "goal"),
    (["--budget", "3x"], "budget"),
    (["--device", "nope"], "device"),
    (["--accuracy-floor", "2"], "accuracy_floor"),
    (["--verify-windows", "1"], "verify_windows"),
]


@pytest.mark.parametrize("args, field", BAD)
def test_bad_input_is_one_line_and_writes_nothing(args, field, tmp_path):
    base = ["--budget", "2"] if "--budget" not in args else []
    proc = run_half("run", *base, *args, "-o", str(tmp_path / "o"))
    assert proc.returncode == 2 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("half: error:") and field in lines[0]
    assert not (tmp_path / "o").exists()


def test_budget_is_required_and_a_foreign_folder_is_refused(tmp_path, tiny_run):
    proc = run_half("run", "-o", str(tmp_path / "o"))
    assert proc.returncode == 2 and "--budget" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(OutputError, match="half did not write"):
        run_all(FAST, tmp_path / "mine")
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["notes.txt"]
    # the tiny run searched another space: its folder is not resumed with the default one
    before = sorted(p.name for p in tiny_run["out"].iterdir())
    with pytest.raises(ConfigError, match="other search settings .*space"):
        run_all(FAST, tiny_run["out"])
    assert sorted(p.name for p in tiny_run["out"].iterdir()) == before


# -- the choice rule -----------------------------------------------------------------------
def _cand(h: str, metric: float, cost: float, feasible: bool = True) -> dict:
    run = {
        "seed": 1,
        "val_metric": metric,
        "error": 1 - metric,
        "cost": cost,
        "feasible": feasible,
        "status": "ok",
        "run_dir": f"/runs/{h}",
    }
    return {
        "arch_hash": h,
        "search": {"error": 1 - metric, "cost": cost},
        "runs": [run],
        "error_mean": 1 - metric,
        "cost_mean": cost,
        "feasible_runs": int(feasible),
    }


def test_choice_is_the_cheapest_design_over_the_floor():
    cands = [
        _cand("a", 0.60, 5.0),
        _cand("b", 0.55, 2.0),
        _cand("c", 0.40, 1.0),
        _cand("d", 0.70, 0.5, feasible=False),
    ]
    res = choose(cands, 0.5, "macro_f1", "energy_uj")
    assert res["chosen"]["arch_hash"] == "b" and res["met_floor"]
    assert [r["meets_floor"] for r in res["candidates"]] == [True, True, False, False]
    assert res["chosen"]["best_run"]["run_dir"] == "/runs/b"
    # default floor: the best feasible metric (0.60) minus 0.05
    res = choose(cands, None, "macro_f1")
    assert res["floor"] == pytest.approx(0.55) and res["chosen"]["arch_hash"] == "b"
    # nobody reaches the floor: the most accurate feasible design, said so
    res = choose(cands, 0.9, "macro_f1")
    assert res["chosen"]["arch_hash"] == "a" and not res["met_floor"]
    assert "no design reaches the accuracy floor" in res["message"]
    with pytest.raises(HalfError, match="no re-evaluated design fits"):
        choose([_cand("d", 0.7, 0.5, feasible=False)], None, "macro_f1")


def test_the_reference_itself_is_an_answer_when_nothing_cheaper_reaches_it():
    """The question a run answers: the cheapest design at least as good as the hand-made one.
    When no searched design is cheaper at the reference's accuracy, that is the reference."""
    cands = [_cand("a", 0.60, 5.0), _cand("b", 0.45, 1.0)]
    ref = {
        "spec": "preset:tiny",
        "arch_hash": "r",
        "metric_mean": 0.52,
        "metric_std": 0.01,
        "cost": 3.0,
        "fits": True,
        "runs": [{"seed": 1, "val_metric": 0.52, "feasible": True, "run_dir": "/runs/r"}],
        "best_run": {"seed": 1, "val_metric": 0.52, "run_dir": "/runs/r"},
    }
    res = choose(cands, None, "macro_f1", "energy_uj", reference=ref)
    assert res["chosen"]["arch_hash"] == "r" and res["chosen"]["reference"]
    assert res["chosen"]["best_run"]["run_dir"] == "/runs/r" and res["met_floor"]
    assert "the reference preset:tiny itself" in res["message"]
    assert [c["arch_hash"] for c in res["candidates"]] == ["a", "b", "r"]
    assert [c["origin"] for c in res["candidates"]] == ["front", "front", "reference"]
    # a refinement neighbour of the reference, as accurate and cheaper, is the answer, said so
    near = {**_cand("n", 0.53, 2.0), "origin": "refine", "move": "decimation +1"}
    res = choose([*cands, near], None, "macro_f1", "energy_uj", reference=ref)
    assert res["chosen"]["arch_hash"] == "n" and res["chosen"]["move"] == "decimation +1"
    assert res["message"].endswith("a one-step neighbour of the reference (the refinement)")
    # a searched design as accurate and cheaper wins; a reference that does not fit is no
    # answer; one the search re-evaluated already is not listed twice
    cheaper = _cand("c", 0.53, 2.0)
    assert choose([*cands, cheaper], None, "macro_f1", reference=ref)["chosen"]["arch_hash"] == "c"
    res = choose(cands, None, "macro_f1", reference={**ref, "fits": False, "cost": None})
    assert res["chosen"]["arch_hash"] == "a" and "r" not in [
        c["arch_hash"] for c in res["candidates"]
    ]
    res = choose([*cands, _cand("r", 0.52, 3.0)], None, "macro_f1", reference=ref)
    assert [c["arch_hash"] for c in res["candidates"]].count("r") == 1


def _folds(h: str, metrics: list[float], cost: float) -> dict:
    """A re-evaluated design with one run per validation fold (cv2:0, cv2:1, ...)."""
    c = _cand(h, statistics.fmean(metrics), cost)
    c["runs"] = [
        {**c["runs"][0], "holdout": f"cv{len(metrics)}:{k}", "val_metric": m}
        for k, m in enumerate(metrics)
    ]
    return c


def test_the_reference_floor_is_paired_fold_by_fold():
    """Against the reference a design must reach its mean metric and, on every validation fold,
    its metric less the fold tolerance (leave-one-fold-out checks: designs chosen on the mean
    lost to the reference on the held-out fold in 4 of 6 cases; a tolerance of 0.01 or more let
    such a design through; docs/RESULTS.md)."""
    ref_runs = [
        {"seed": 1, "holdout": f"cv2:{k}", "val_metric": m, "feasible": True, "run_dir": "/r"}
        for k, m in enumerate([0.60, 0.40])
    ]
    ref = {
        "spec": "preset:tiny",
        "arch_hash": "r",
        "metric_mean": 0.50,
        "cost": 3.0,
        "fits": True,
        "runs": ref_runs,
        "best_run": ref_runs[0],
    }
    lucky = _folds("a", [0.75, 0.35], 1.0)  # mean 0.55 > 0.50, below the reference on fold 1
    steady = _folds("b", [0.61, 0.41], 2.0)  # above it on both folds
    res = choose([lucky, steady], None, "macro_f1", "energy_uj", reference=ref)
    rows = {r["arch_hash"]: r for r in res["candidates"]}
    assert res["chosen"]["arch_hash"] == "b" and res["floor_kind"] == "reference"
    assert (rows["a"]["meets_floor"], rows["a"]["folds_at_reference"]) == (False, 1)
    assert (rows["b"]["meets_floor"], rows["b"]["folds_at_reference"]) == (True, 2)
    assert rows["a"]["per_fold"] == {"cv2:0": 0.75, "cv2:1": 0.35}
    assert "every validation fold within 0.005 of the reference's" in res["message"]
    assert res["fold_tolerance"] == 0.005
    # a fold short by less than the tolerance passes when the mean reaches the reference's;
    # without tolerance it does not; within tolerance everywhere but below on the mean fails
    close = _folds("d", [0.65, 0.397], 1.5)
    assert choose([steady, close], None, "macro_f1", reference=ref)["chosen"]["arch_hash"] == "d"
    strict = choose([steady, close], None, "macro_f1", reference=ref, fold_tolerance=0.0)
    assert strict["chosen"]["arch_hash"] == "b"
    assert "reached on every validation fold" in strict["message"]
    below = _folds("e", [0.598, 0.398], 0.5)  # each fold within 0.005, the mean 0.498 < 0.50
    res = choose([steady, below], None, "macro_f1", reference=ref)
    assert res["chosen"]["arch_hash"] == "b"
    assert next(r for r in res["candidates"] if r["arch_hash"] == "e")["folds_at_reference"] == 2
    # seeds of one fold are averaged before the comparison
    two_seeds = _folds("c", [0.59, 0.45], 0.5)
    two_seeds["runs"].append({**two_seeds["runs"][0], "seed": 2, "val_metric": 0.63})
    res = choose([lucky, steady, two_seeds], None, "macro_f1", "energy_uj", reference=ref)
    assert res["chosen"]["arch_hash"] == "c"
    # nothing reaches it on every fold: the reference itself is the answer
    res = choose([lucky], None, "macro_f1", "energy_uj", reference=ref)
    assert res["chosen"]["arch_hash"] == "r" and res["chosen"]["reference"]
    # an absolute floor is on the mean, as before
    assert choose([lucky, steady], 0.5, "macro_f1", reference=ref)["chosen"]["arch_hash"] == "a"


def test_floor_is_the_reference_and_a_suspect_choice_warns():
    from half.run.reference import summary_block, warnings

    cands = [_cand("a", 0.60, 5.0), _cand("b", 0.55, 2.0), _cand("c", 0.40, 1.0)]
    ref = {"spec": "preset:tiny", "metric_mean": 0.52}
    res = choose(cands, None, "macro_f1", "energy_uj", reference=ref)
    assert (res["floor"], res["floor_kind"], res["chosen"]["arch_hash"]) == (0.52, "reference", "b")
    res = choose(cands, 0.58, "macro_f1", reference=ref)  # an absolute floor comes first
    assert (res["floor_kind"], res["chosen"]["arch_hash"]) == ("given", "a")
    res = choose(cands, None, "macro_f1", reference={**ref, "metric_mean": None})
    assert res["floor_kind"] == "relative" and res["floor"] == pytest.approx(0.55)
    # nobody reaches the reference: the most accurate is chosen, and the run warns
    res = choose(cands, None, "macro_f1", "energy_uj", reference={**ref, "metric_mean": 0.7})
    assert res["chosen"]["arch_hash"] == "a" and not res["met_floor"]
    assert "no design reaches the reference preset:tiny's floor 0.7000" in res["message"]
    stage = {
        **ref,
        "arch_hash": "r",
        "params": 10,
        "macs": 20,
        "metric": "macro_f1",
        "cost_name": "energy_uj",
        "metric_mean": 0.7,
        "metric_std": 0.0,
        "cost": 3.0,
        "fits": True,
        "reason": "",
        "seeds": [1],
        "fidelity": 1.0,
        "epochs": 6,
    }
    test = {
        "macro_f1": 0.50,
        "accuracy": 0.8,
        "chance": {"macro_f1": 0.24, "class": "N"},
        "reference": {"macro_f1": 0.58, "accuracy": 0.9, "windows": 9},
    }
    block = summary_block(stage, res, test)
    assert block["validation"] == 0.7 and block["test"] == {"macro_f1": 0.58, "accuracy": 0.9}
    assert block["chosen"] == {
        "arch_hash": "a",
        "params": None,
        "macs": None,
        "validation": 0.6,
        "test": {"macro_f1": 0.5, "accuracy": 0.8},
        "cost": 5.0,
    }
    run = {"choice": res, "test": test, "reference": block}
    assert warnings(run) == [
        res["message"],
        "the chosen design's test macro_f1 0.5000 is below the reference preset:tiny's "
        "0.5800 (trained alike)",
    ]
    # a metric that collapsed after the search, and one no better than a constant answer
    res = choose([_cand("a", 0.30, 1.0)], 0.1, "macro_f1")
    res["candidates"][0]["search_error"] = res["chosen"]["search_error"] = 0.2  # 0.8 searched
    run = {"choice": res, "test": {**test, "macro_f1": 0.2}, "reference": None}
    assert warnings(run) == [
        "the chosen design's validation macro_f1 collapsed between the search (0.8000) and "
        "the re-evaluation (0.3000)",
        "the chosen design's test macro_f1 0.2000 is no better than always answering N (0.2400)",
    ]
    assert summary_block({"spec": None}, res, test) is None
    # after cross-validation: the final fits' costs beside the folds', and a warning when the
    # chosen design's final fit does not fit the device
    res = choose(cands, None, "macro_f1", "energy_uj", reference=ref)
    res["final"] = {
        "chosen": {"arch_hash": "b", "cost": 2.5, "feasible": False, "run_dir": "/f/b"},
        "reference": {"arch_hash": "r", "cost": 3.5, "feasible": True, "run_dir": "/f/r"},
    }
    block = summary_block(stage, res, {**test, "macro_f1": 0.6})
    assert (block["cost"], block["cost_final_fit"]) == (3.0, 3.5)
    assert (block["chosen"]["cost"], block["chosen"]["cost_final_fit"]) == (2.0, 2.5)
    run = {"choice": res, "test": {**test, "macro_f1": 0.6}, "reference": block}
    assert warnings(run) == [
        "the chosen design's final fit (every train and val record) does not fit the device "
        "or meet the rate with its trained weights"
    ]


def test_chance_is_the_commonest_class_answered_always():
    from half.run.reference import chance

    test = {
        "confusion": [
            [8, 1, 0, 0, 0],
            [1, 1, 0, 0, 0],
            [0, 0, 0, 0, 0],
            [0, 0, 0, 0, 0],
            [0, 0, 0, 0, 0],
        ],
        "classes": ["N", "S", "V", "F", "Q"],
    }
    c = chance("mitdb-aami", test)
    # always N: F1_N = 2*9/(9+11), the other three of the macro are 0
    assert c["class"] == "N" and c["macro_f1"] == pytest.approx(0.9 / 4)
    assert c["accuracy"] == pytest.approx(9 / 11)


def test_warnings_exit_3_after_writing_everything(tmp_path, monkeypatch):
    """`half run` exits 3 when the run finished with warnings (1 on problems)."""
    from click.testing import CliRunner

    import half.run.pipeline as pipeline
    from half.run.cli import run_cmd

    run = _synthetic_run()
    monkeypatch.setattr(pipeline, "run_all", lambda *a, **k: run)
    res = CliRunner().invoke(run_cmd, ["--budget", "2", "-o", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    run.update(warnings=["the chosen design's test macro_f1 is below the reference"], ok=False)
    res = CliRunner().invoke(run_cmd, ["--budget", "2", "-o", str(tmp_path / "o")])
    assert res.exit_code == 3 and "below the reference" in res.output
    run["problems"] = ["verify: 1 of 20 windows differ"]
    res = CliRunner().invoke(run_cmd, ["--budget", "2", "-o", str(tmp_path / "o")])
    assert res.exit_code == 1
    assert (
        "3  the run finished but its answer is suspect"
        in CliRunner().invoke(run_cmd, ["--help"]).output
    )


# -- the report on a synthetic run ---------------------------------------------------------
def _modules() -> dict:
    """The build's `modules` (design.json's stages: instance name -> module) of the synthetic
    run: a decimating input stage, named as half.hw.design names it, and two MVU stages."""
    inp = InputStage(layers=(0,), cycles=360, depth=0, width=8, signed=True, window=360, factor=4)
    return {inp.instance: inp.module, "conv1": "mvu_stage", "dense3": "mvu_stage"}


def _synthetic_run() -> dict:
    points = [
        {
            "arch_hash": f"p{i}",
            "error": 0.3 + 0.05 * i,
            "cost": 10.0 / (i + 1),
            "feasible": i != 2,
            "status": "ok" if i != 2 else "no-fit",
        }
        for i in range(6)
    ]
    points.append(
        {"arch_hash": "nodesign", "error": 1.0, "cost": None, "feasible": False, "status": "no-fit"}
    )
    front = [
        {"arch_hash": p["arch_hash"], "error": p["error"], "cost": p["cost"]}
        for p in points
        if p["arch_hash"] in ("p0", "p3", "p5")
    ]
    cand = [_cand(f["arch_hash"], 1 - f["error"] - 0.02, f["cost"]) for f in front]
    choice = choose(cand, 0.6, "macro_f1", "energy_uj")
    choice["chosen"].update(
        seed=1,
        model="/r/model",
        params=1234,
        macs=56789,
        arch={
            "window": 360,
            "input_bits": 8,
            "decimation": 4,
            "blocks": [
                {
                    "kind": "conv",
                    "channels": 8,
                    "kernel": 5,
                    "stride": 1,
                    "pool": 4,
                    "weight_bits": 4,
                    "act_bits": 4,
                }
            ],
            "side_inputs": 8,
            "side_bits": 8,
            "head": "gap",
            "dense": [],
            "n_classes": 5,
            "out_bits": 4,
        },
    )
    stages = [
        {
            "name": n,
            "kind": k,
            "pe": 1,
            "simd": 2,
            "cycles": 90,
            "luts": 100,
            "ffs": 50,
            "bram": 1,
            "dsp": 0,
            "dynamic_energy_share": 0.5,
        }
        for n, k in (("input", "input"), ("conv1", "conv"), ("dense3", "dense"))
    ]
    predicted = {
        "goal": "low-energy",
        "clock_mhz": 12.0,
        "ii_cycles": 90,
        "latency_cycles": 300,
        "throughput_per_s": 12e6 / 90,
        "resources_estimate": {"luts": 300, "ffs": 150, "bram": 3, "dsp": 0},
        "power_estimate_mw": {
            "static": 0.1,
            "clock": 0.2,
            "dynamic_busy": 1.0,
            "average_at_rate": 0.3,
            "rate_per_s": 4.2,
        },
        "energy_estimate_uj": 0.5,
        "stages": stages,
        "notes": ["a <note>"],
    }
    run = {
        "half_version": "0",
        "created": "now",
        "run_dir": "/r",
        "seconds": 1.0,
        "settings": FAST.to_dict(),
        "search_spec": {"fidelity": 0.05, "epochs": 1, "goal": "low-energy"},
        "stages": {
            s.name: {"status": "done", "seconds": 1.0, "record": f"stages/{s.name}.json"}
            for s in STAGES
        },
        "search": {
            "study": "s",
            "cost_name": "energy_uj",
            "metric": "macro_f1",
            "front": front,
            "points": points,
            "trials_done": 7,
            "feasible": 5,
            "infeasible": 2,
            "seconds_used": 3.0,
            "workers": 1,
            "backend": "thread",
            "hypervolume": {"reference_point": [1.0, 1.1], "hypervolume": {"nsga2": 0.3}},
        },
        "reevaluation": {"seeds": [1], "fidelity": 1.0, "epochs": 6, "candidates": cand},
        "choice": choice,
        "test": {
            "windows": 100,
            "macro_f1": 0.5,
            "accuracy": 0.9,
            "per_class": {"N": {"se": 0.9, "ppv": 0.9, "f1": 0.9, "support": 90}},
        },
        "golden": {"windows": 100, "agreement": 1.0, "disagreements": 0},
        "build": {"predicted": predicted, "modules": _modules()},
        "verification": {
            "windows": 20,
            "mismatches": 0,
            "cycles_measured": 300,
            "ii_measured": 90,
            "cycles_model": 300,
            "ii_model": 90,
            "lint_clean": True,
            "lint": "",
            "verilator": "5.0",
        },
        "implementation": None,
        "cost_unit": "µJ",
        "report": "/r/report/index.html",
        "problems": [],
        "notes": ["implementation: <b>does not fit</b>"],
        "warnings": [],
        "ok": True,
    }
    ref = {
        "spec": "preset:tiny",
        "arch_hash": "r",
        "params": 900,
        "macs": 9000,
        "metric": "macro_f1",
        "cost_name": "energy_uj",
        "metric_mean": 0.6,
        "metric_std": 0.0,
        "cost": 7.5,
        "fits": True,
        "reason": "",
        "seeds": [1],
        "fidelity": 1.0,
        "epochs": 6,
    }
    from half.run.reference import summary_block

    run["test"]["reference"] = {"macro_f1": 0.55, "accuracy": 0.9}
    run["reference"] = summary_block(ref, choice, run["test"])
    run["figures"] = figures(run)
    return run


def _section_of(html: str, anchor: str) -> str:
    m = re.search(f'<section id="{anchor}">.*?</section>', html, re.S)
    assert m, anchor
    return m.group(0)


def _with_implementation(run: dict, impl: dict) -> dict:
    run["implementation"] = impl
    run["figures"] = figures(run)
    return run


class _Checker(HTMLParser):
    """Collects tags; fails on anything that would load from elsewhere."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            assert name not in ("src", "href"), (tag, name, value)
        assert tag not in ("script", "link", "img", "iframe")


def test_report_is_one_self_contained_page_with_every_section():
    run = _synthetic_run()
    html = render_report(run)
    checker = _Checker()
    checker.feed(html)
    assert checker.tags.count("svg") == 1 and checker.tags.count("style") == 1
    assert "<b>does not fit</b>" not in html and "&lt;b&gt;does not fit" in html  # escaped
    assert "a &lt;note&gt;" in html
    for anchor in (
        "summary",
        "pareto",
        "choice",
        "arch",
        "resources",
        "power",
        "timing",
        "verification",
        "test",
        "stages",
        "reference",
    ):
        assert f'id="{anchor}"' in html
    for f in run["figures"]:  # every figure with how it was obtained
        assert f["how"].replace("`", "") in html.replace("`", "") or "&" in f["how"]
    assert html.count("<td>conv1</td>") == 1 and "<td>mvu_stage</td>" in html
    chosen = run["choice"]["chosen"]["arch_hash"]
    assert re.search(r'<tr class="chosen"><td>' + chosen, html)
    assert "preset:tiny (r)" in html and "Warnings" not in html  # the reference beside it
    run.update(warnings=["below the <reference>"], ok=False)
    html = render_report(run)
    assert "finished with warnings" in html and "below the &lt;reference&gt;" in html


def test_summary_shows_the_goals_own_cost_figure():
    """low-energy: its energy (and the average power at the rate); high-throughput: seconds per
    inference and inferences/s, not the energy and power of another goal."""
    run = _synthetic_run()
    summary = _section_of(render_report(run), "summary")
    assert "<td>low-energy figure</td>" in summary
    assert "energy_uj 0.5 µJ: 0.5 µJ per inference, 0.3 mW at 4.2 inferences/s" in summary
    run["search_spec"]["goal"] = "high-throughput"
    summary = _section_of(render_report(run), "summary")
    assert "<td>high-throughput figure</td>" in summary
    assert "seconds_per_inference 7.5e-06 s: 1.333e+05 inferences/s at 12 MHz" in summary
    assert "µJ" not in summary and "mW" not in summary


def test_report_of_a_binary_run_shows_its_metric_and_no_per_class_rows():
    """cinc2017-af with binary=true: test metrics of half.nn.metrics.binary_metrics (no
    per_class); the run selected on f1, which the Summary shows."""
    run = _synthetic_run()
    test = metrics_for("cinc2017-af", ("rest", "AF"), [0, 0, 0, 1, 1, 0], [0, 0, 1, 1, 0, 0])
    assert "per_class" not in test
    run["test"] = {**test, "windows": 6, "reference": {"f1": 0.4, "accuracy": 0.5}}
    run["choice"]["metric"] = run["reference"]["metric"] = "f1"
    run["figures"] = figures(run)
    html = render_report(run)
    summary = _section_of(html, "summary")
    assert '<td>test f1</td><td class="n">0.5</td>' in summary and "test accuracy" not in summary
    section = _section_of(html, "test")
    assert "<th>positive class</th>" in section and "<td>AF</td>" in section
    run["choice"] = None  # no choice recorded: the reference's metric
    assert "<td>test f1</td>" in _section_of(render_report(run), "summary")


def test_input_stage_row_names_its_rtl_module():
    run = _synthetic_run()
    html = render_report(run)
    assert INPUT_INSTANCE in run["build"]["modules"]  # as design.json names it
    assert "<tr><td>input</td><td>input</td><td>axis_decimate</td>" in html


def test_post_synthesis_counts_are_labelled_measured_by_yosys_everywhere():
    impl = json.loads(IMPL_JSON.read_text())
    run = _with_implementation(_synthetic_run(), impl)
    post_synthesis = [f for f in run["figures"] if f["name"].endswith("(post-synthesis)")]
    assert post_synthesis and all(f["kind"] == "measured" for f in post_synthesis)
    assert all("synthesized netlist, before place and route" in f["how"] for f in post_synthesis)
    post_route = [f for f in run["figures"] if f["name"].endswith("(post-route)")]
    assert post_route and all(f["kind"] == "measured" for f in post_route)
    html = render_report(run)
    resources = _section_of(html, "resources")
    assert "<th>post-synthesis (Yosys, measured)</th>" in resources
    assert "Yosys / nextpnr: post-route (measured)" in _section_of(html, "summary")
    # AMD/Xilinx: synthesis only (implement's kind "post-synthesis"), with or without
    # a note on the bitstream
    for note in ("no open place-and-route for AMD/Xilinx parts", None):
        xilinx = {
            **impl,
            "kind": "post-synthesis",
            "fmax_mhz": None,
            "utilization": {},
            "bitstream_note": note,
        }
        html = render_report(_with_implementation(_synthetic_run(), xilinx))
        assert "<th>post-synthesis (Yosys, measured)</th>" in _section_of(html, "resources")
        row = _section_of(html, "summary").split("<td>implementation</td>")[1]
        assert "post-synthesis cell counts (measured, before place and route)" in row
        assert "estimate" not in row


def test_throughput_at_fmax_uses_the_measured_ii():
    impl = json.loads(IMPL_JSON.read_text())
    run = _synthetic_run()
    run["verification"]["ii_measured"] = impl["ii_cycles"] + 10  # measured differs from model
    figs = {f["name"]: f for f in _with_implementation(run, impl)["figures"]}
    at_fmax = figs["throughput at fmax"]
    assert at_fmax["value"] == pytest.approx(impl["fmax_mhz"] * 1e6 / (impl["ii_cycles"] + 10))
    assert "measured II" in at_fmax["how"] and at_fmax["kind"] == "derived"
    run = _synthetic_run()
    run["verification"] = None  # no verification: the model's II, labelled so
    figs = {f["name"]: f for f in _with_implementation(run, impl)["figures"]}
    assert "throughput at fmax" not in figs
    at_fmax = figs["throughput at fmax (model II)"]
    assert at_fmax["value"] == impl["inferences_per_s"] and at_fmax["kind"] == "estimate"
    assert "cycle model" in at_fmax["how"]


def test_hypervolume_is_marked_as_an_estimate():
    pareto = _section_of(render_report(_synthetic_run()), "pareto")
    assert "Hypervolume* (error × log10 cost" in pareto
    assert '(* an <span class="est">estimate</span>' in pareto


def test_pareto_svg_places_points_by_cost_and_marks_the_front_and_the_choice():
    run = _synthetic_run()
    s = run["search"]
    re_points = [
        {"arch_hash": c["arch_hash"], "error": c["error_mean"], "cost": c["cost_mean"]}
        for c in run["reevaluation"]["candidates"]
    ]
    svg = pareto_svg(
        s["points"],
        s["front"],
        re_points,
        "p3",
        cost_label="energy_uj [µJ]",
        error_label="validation error",
    )
    assert svg.count('class="feasible"') == 5 and svg.count('class="infeasible"') == 1
    assert svg.count('class="front"') == 3 and svg.count('class="reeval"') == 3
    assert svg.count('class="chosen"') == 1 and "1 without a design" in svg
    xs = {
        h: float(x)
        for x, h in re.findall(
            r'<circle class="(?:feasible|infeasible)" cx="([\d.]+)"[^>]*><title>\w+ (p\d):', svg
        )
    }
    costs = {p["arch_hash"]: p["cost"] for p in s["points"] if p["cost"]}
    by_cost = sorted(costs, key=costs.get)
    assert [xs[h] for h in by_cost] == sorted(xs.values())  # log axis keeps the order
    assert pareto_svg([], [], [], None, cost_label="c", error_label="e").startswith("<svg")


def test_axis_ticks():
    assert log_ticks(0.3, 40) == [0.5, 1, 2, 5, 10, 20]
    assert log_ticks(1e-3, 1e4) == [1e-3, 1e-2, 0.1, 1, 10, 100, 1e3, 1e4]
    assert log_ticks(1.1, 2.5) == [1.5, 2, 2.5]
    assert linear_ticks(0.62, 0.93, 5) == [0.7, 0.8, 0.9]
    assert linear_ticks(0.0, 1.0, 5) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
