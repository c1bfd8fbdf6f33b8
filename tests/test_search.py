# SPDX-License-Identifier: Apache-2.0
"""The architecture search on small real data: a tiny NSGA-II study end to end, determinism,
resume after a SIGKILL, infeasible candidates never trained, the test split never used, the
Ray backend, the random baseline, hypervolumes, and one-line errors."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from half.data.task import SPLITS, TaskData
from half.errors import ConfigError
from half.nn.arch import Arch, ConvBlock
from half.nn.space import Space
from half.search import (
    Evaluator,
    SearchSpec,
    compare,
    hypervolume,
    pareto_front,
    parse_budget,
    reevaluate,
    run_random_search,
    run_search,
    seeds,
)
from half.search import evaluate as ev_mod

# 101 (DS1: train), 118 (DS1: a default validation record), 100 (DS2: test) — the test record
# is there so that the search has a test split to stay away from.
RECORDS = (101, 118, 100)
# very low fidelity: ~90 training windows, one epoch; the bits pre-check only (fast)
SPEC = SearchSpec(task="mitdb-aami", goal="low-energy", device="up5k", fidelity=0.05, epochs=1,
                  seed=0, precheck="bits")
TINY = dict(trials=4, population=2, workers=1)
CLI_FAST = ["--fidelity", "0.05", "--epochs", "1", "--precheck", "bits", "--population", "2",
            "--workers", "1"]


@pytest.fixture(scope="module")
def small_data(mitdb_subset) -> Path:
    return mitdb_subset(RECORDS, "search-data")


@pytest.fixture(scope="module")
def tiny_search(tmp_path_factory, small_data, session_cache):
    """One tiny real search (4 trials, 2 generations of 2), with every TaskData.select call
    recorded (the evaluation runs in a thread of this process with workers=1)."""
    out = tmp_path_factory.mktemp("search") / "out"
    calls: list[str] = []
    real_select = TaskData.select

    def spy(self, split):
        calls.append(split)
        return real_select(self, split)

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HALF_CACHE_DIR", str(session_cache))
        mp.setattr(TaskData, "select", spy)
        ev_mod._DATA.clear()
        t0 = time.monotonic()
        summary = run_search(SPEC, out, data_dir=small_data, **TINY)
        seconds = time.monotonic() - t0
        loaded = list(ev_mod._DATA.values())
    return {"out": out, "summary": summary, "select_calls": calls, "seconds": seconds,
            "loaded": loaded}


def _trials(out: Path, name: str | None = None):
    import optuna

    storage = f"sqlite:///{out / 'study.db'}"
    name = name or "mitdb-aami-up5k-low-energy-nsga2"
    return optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)


def _genomes(trials) -> list[list[int]]:
    names = [n for n, _ in Space().genes()]
    return [[t.params[n] for n in names] for t in trials]


# -- the tiny search -----------------------------------------------------------------------
def test_tiny_search_end_to_end(tiny_search):
    s, out = tiny_search["summary"], tiny_search["out"]
    assert s["state"]["trials_done"] == 4 and s["stopped"] == "trials"
    assert s["state"]["generation"] == 1  # two generations of two
    assert s["front"], "at least one feasible candidate"
    for r in s["front"]:
        assert 0 <= r["error"] <= 1 and r["cost"] > 0
        run = Path(r["run_dir"])
        assert (run / "model.qonnx.onnx").is_file() and (run / "hardware.json").is_file()
        cached = json.loads((out / "cache" / s["spec_key"] / f"{r['arch_hash']}.json")
                            .read_text())
        assert cached["feasible"] and cached["trained"]
        assert cached["error"] == pytest.approx(1 - cached["val"]["macro_f1"])
        assert cached["cost"] == pytest.approx(cached["hardware"]["plan"]["energy_estimate_uj"])
        assert cached["constraints"]["fits"] <= 0 and cached["constraints"]["rate"] <= 0
    pareto = json.loads((out / "pareto.json").read_text())
    assert [c["arch_hash"] for c in pareto["front"]] == [r["arch_hash"] for r in s["front"]]
    assert s["hypervolume"]["hypervolume"]["nsga2"] > 0
    # the study holds objectives and constraints of every trial
    trials = _trials(out)
    assert len(trials) == 4
    for t in trials:
        assert set(t.constraints) == {"valid", "fits", "rate"} and len(t.values) == 2


def test_search_never_uses_the_test_split(tiny_search, small_data):
    assert "test" not in tiny_search["select_calls"]
    assert tiny_search["select_calls"], "the spy saw the evaluation"
    (data,) = tiny_search["loaded"]
    assert not (data.split == SPLITS.index("test")).any()  # dropped right after loading
    assert set(data.record.tolist()) == {"101", "118"}  # 100 (DS2) is the test record
    s = tiny_search["summary"]
    rec = json.loads((tiny_search["out"] / "cache" / s["spec_key"]
                      / f"{s['front'][0]['arch_hash']}.json").read_text())
    assert rec["val_windows"] == int((data.split == SPLITS.index("val")).sum())


def test_same_seed_same_genomes(tiny_search, small_data, tmp_path):
    ev_mod._DATA.clear()
    run_search(SPEC, tmp_path / "again", data_dir=small_data, **TINY)
    first, again = _trials(tiny_search["out"]), _trials(tmp_path / "again")
    assert _genomes(first) == _genomes(again)
    assert [t.values for t in first] == [t.values for t in again]  # training is seeded too
    # another seed gives other genomes (the sampler alone, no training needed)
    import optuna

    from half.search.study import gene_distributions, make_sampler

    def first_genomes(seed: int):
        study = optuna.create_study(directions=["minimize"] * 2,
                                    sampler=make_sampler("nsga2", seed, 2))
        return [list(study.ask(gene_distributions(Space())).params.values()) for _ in range(2)]

    assert first_genomes(1) != first_genomes(0)


# -- warm start ------------------------------------------------------------------------------
def test_presets_are_the_first_trials(tiny_search):
    """The task's presets (both in the default space) are generation 0 of the tiny search
    (population 2), in name order, and NSGA-II breeds generation 1 from them."""
    from half.nn.arch import load_arch
    from half.nn.runs import presets_dir
    from half.search.study import GEN_KEY

    trials = _trials(tiny_search["out"])
    spec = SPEC.resolved()
    # both presets take the search's 12 side inputs (rhythm context and beat template)
    archs = [load_arch(presets_dir("mitdb-aami") / n / "arch.json") for n in ("small", "tiny")]
    assert [a.side_inputs for a in archs] == [12, 12]
    want = [seeds.seed_genome(a, spec, Space()) for a in archs]
    assert _genomes(trials)[:2] == want
    assert [t.user_attrs.get(seeds.SEED_ATTR) for t in trials] == [
        "preset:small", "preset:tiny", None, None]
    assert [t.system_attrs[GEN_KEY] for t in trials] == [0, 0, 1, 1]
    assert tiny_search["summary"]["warm_start"]["seeded"] == ["preset:small", "preset:tiny"]


def test_seeding_skips_what_the_space_cannot_build_and_never_repeats(tmp_path):
    """No training: a preset outside the space is skipped with a note; a user's file is
    checked field by field; a study that has trials (a resume) gets no seeds again, and one
    killed while being seeded gets only the missing ones."""
    import optuna

    from half.nn.arch import load_arch
    from half.nn.runs import presets_dir

    spec = SPEC.resolved()
    small = Space(max_blocks=3, bits=(4,))  # preset:small has 4 blocks of 6 bits
    found, notes = seeds.resolve_seeds(spec, small)
    assert [s.source for s in found] == ["preset:tiny"]
    assert len(notes) == 1 and "preset:small is not in the search space" in notes[0]
    assert seeds.resolve_seeds(spec, small, presets=False) == ([], [])
    tiny = json.loads((Path(seeds.__file__).parents[1] / "nn" / "presets" / "mitdb-aami"
                       / "tiny" / "arch.json").read_text())
    copy = tmp_path / "tiny.yaml"
    copy.write_text(json.dumps(tiny))  # JSON is YAML
    again, notes = seeds.resolve_seeds(spec, Space(), files=[copy])
    assert [s.source for s in again] == ["preset:small", "preset:tiny"]  # the same network once
    assert notes == []
    # a search without the beat template: the presets, trained with it, take the search's
    # 10 side inputs, said so
    no_template = SearchSpec.from_dict({**spec.to_dict(), "task_params": {
        k: v for k, v in spec.task_params.items() if k != "beat_template"}}).resolved()
    fewer, notes = seeds.resolve_seeds(no_template, Space())
    assert notes == [f"warm start: preset:{n} takes the task's 10 side inputs (trained with 12)"
                     for n in ("small", "tiny")]
    presets = [load_arch(presets_dir("mitdb-aami") / n / "arch.json") for n in ("small", "tiny")]
    assert [s.genome for s in fewer] == [
        tuple(seeds.seed_genome(dataclasses.replace(a, side_inputs=10), no_template, Space()))
        for a in presets]
    for field, value, fault in (("padding", "valid", "blocks[0].padding: is 'valid'"),
                                ("weight_bits", 7, "blocks[0].weight_bits: 7 is not a choice")):
        bad = json.loads(json.dumps(tiny))
        bad["blocks"][0][field] = value
        (tmp_path / "bad.json").write_text(json.dumps(bad))
        with pytest.raises(ConfigError) as exc:
            seeds.resolve_seeds(spec, Space(), presets=False, files=[tmp_path / "bad.json"])
        assert str(exc.value).startswith(f"--seed-arch {tmp_path / 'bad.json'}: {fault}")
    study = optuna.create_study(directions=["minimize"] * 2)
    assert seeds.enqueue_seeds(study, Space(), again[1:]) == 1  # killed after one seed ...
    assert seeds.enqueue_seeds(study, Space(), again) == 1  # ... the resume adds the other
    assert [t.user_attrs[seeds.SEED_ATTR] for t in study.trials] == ["preset:tiny",
                                                                       "preset:small"]
    study.ask()
    assert seeds.enqueue_seeds(study, Space(), again) is None and len(study.trials) == 2


def test_bad_seed_arch_is_one_line(tmp_path, capsys):
    from half.search.cli import main

    bad = tmp_path / "wide.yaml"
    bad.write_text("window: 360\nn_classes: 5\nside_inputs: 12\nblocks:\n"
                   "  - {channels: 8, weight_bits: 7}\n")
    with pytest.raises(SystemExit) as exc:
        main(["-o", str(tmp_path / "o"), "--trials", "2", "--seed-arch", str(bad)])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"half: error: --seed-arch {bad}: blocks[0].weight_bits: 7 is not a choice "
                   "of this space (2, 3, 4, 5, 6, 8)"]
    assert not (tmp_path / "o" / "study.db").exists()


def test_repeated_architectures_cost_nothing(small_data, session_cache, tmp_path,
                                            monkeypatch):
    """Every genome of a one-network space decodes to the same architecture: it is trained
    once, every later trial reads the cached result (a JSON file per architecture hash)."""
    monkeypatch.setenv("HALF_CACHE_DIR", str(session_cache))
    one = Space(min_blocks=1, max_blocks=1, channels=(8,), kernels=(5,), strides=(1,),
                pools=(4,), kinds=("conv",), bits=(4,), decimations=(4,), max_dense=0)
    s = run_search(SPEC, tmp_path / "one", data_dir=small_data, space=one, trials=3,
                   population=2, workers=1)
    assert s["this_run"]["evaluated"] == 1 and s["this_run"]["cached"] == 2
    trials = _trials(tmp_path / "one")
    assert [t.user_attrs["cached"] for t in trials] == [False, True, True]
    assert len({tuple(t.values) for t in trials}) == 1
    (entry,) = (tmp_path / "one" / "cache" / s["spec_key"]).glob("*.json")
    assert entry.stem == trials[0].user_attrs["arch_hash"]
    assert json.loads(entry.read_text())["worker"]["pid"] == os.getpid()  # the thread worker


# -- resume after a kill -------------------------------------------------------------------
def _db_states(db: Path) -> dict[int, str]:
    """number -> state of every trial; a RUNNING trial reads RUNNING+ once its heartbeat is
    recorded (it is then being evaluated: its genome is complete)."""
    if not db.is_file():
        return {}
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as con:
            rows = con.execute("SELECT t.number, t.state, h.trial_id FROM trials t LEFT JOIN "
                               "trial_heartbeats h ON h.trial_id = t.trial_id").fetchall()
    except sqlite3.Error:
        return {}
    return {n: s + ("+" if s == "RUNNING" and h is not None else "") for n, s, h in rows}


def test_resume_after_sigkill(small_data, session_cache, tmp_path):
    out = tmp_path / "killed"
    args = [sys.executable, "-m", "half.search", "-o", str(out), "--data-dir", str(small_data),
            "--trials", "4", "--heartbeat-interval", "1", "--grace-period", "2", *CLI_FAST]
    env = {**os.environ, "HALF_CACHE_DIR": str(session_cache)}
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            states = _db_states(out / "study.db")
            done = [n for n, s in states.items() if s == "COMPLETE"]
            running = [n for n, s in states.items() if s == "RUNNING+"]
            if done and running:
                time.sleep(0.3)  # the running trial is being trained: kill it there
                states = _db_states(out / "study.db")
                running = [n for n, s in states.items() if s == "RUNNING+"]
                if running:
                    break
            assert proc.poll() is None, "the search ended before it could be killed"
            time.sleep(0.1)
        else:
            pytest.fail("no trial was running within 120 s")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    before = {t.number: t for t in _trials(out)}
    killed = [n for n, t in before.items() if t.state.name == "RUNNING"]
    kept = {n: t.values for n, t in before.items() if t.state.name == "COMPLETE"}
    assert killed and kept

    res = subprocess.run(args + ["--json"], env=env, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["state"]["trials_done"] == 4
    after = {t.number: t for t in _trials(out)}
    for n, values in kept.items():  # finished trials are kept as they were
        assert after[n].state.name == "COMPLETE" and after[n].values == values
    for n in killed:  # the killed trial failed and was retried with its genome
        assert after[n].state.name == "FAIL"
        retries = [t for t in after.values() if t.system_attrs.get("failed_trial") == n]
        assert len(retries) == 1
        assert retries[0].state.name == "COMPLETE"
        assert retries[0].params == before[n].params
    assert sum(t.state.name == "COMPLETE" for t in after.values()) == 4
    # the presets were seeded once, when the study started: the resume did not add them again
    seeded = [t.user_attrs.get(seeds.SEED_ATTR) for t in after.values()
              if t.state.name == "COMPLETE"]
    assert sorted(filter(None, seeded)) == ["preset:small", "preset:tiny"]


@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed")
def test_trial_killed_inside_ask_is_retried(small_data, session_cache, tmp_path,
                                            monkeypatch):
    """A process killed while Optuna writes a new trial leaves it RUNNING without a heartbeat
    (Optuna would never call it stale); the next run fails it and retries its genome."""
    from half.search.study import gene_distributions, open_study

    monkeypatch.setenv("HALF_CACHE_DIR", str(session_cache))
    one = Space(min_blocks=1, max_blocks=1, channels=(8,), kernels=(5,), strides=(1,),
                pools=(4,), kinds=("conv",), bits=(4,), decimations=(4,), max_dense=0)
    out = tmp_path / "orphan"
    study, _ = open_study(SPEC, out, population=2, space=one, heartbeat_interval=1,
                          grace_period=1)
    orphan = study.ask(gene_distributions(one))  # never told, no heartbeat: the "killed" one
    s = run_search(SPEC, out, data_dir=small_data, space=one, trials=2, population=2,
                   workers=1, heartbeat_interval=1, grace_period=1)
    assert s["state"]["trials_done"] == 2
    trials = _trials(out)
    assert trials[orphan.number].state.name == "FAIL"
    (retry,) = [t for t in trials if t.system_attrs.get("failed_trial") == orphan.number]
    assert retry.state.name == "COMPLETE" and retry.params == orphan.params


# -- infeasible candidates -----------------------------------------------------------------
def _genome(blocks, **kw) -> list[int]:
    arch = Arch(window=360, n_classes=5, side_inputs=8, blocks=blocks, **kw)
    return Space().encode(arch)


def test_infeasible_candidates_are_never_trained(small_data, session_cache, monkeypatch):
    monkeypatch.setenv("HALF_CACHE_DIR", str(session_cache))

    def no_training(*args, **kwargs):
        raise AssertionError("an infeasible candidate was trained")

    monkeypatch.setattr(ev_mod, "train", no_training)
    spec = SearchSpec(task="mitdb-aami", goal="low-energy", device="up5k", fidelity=0.05,
                      epochs=1, precheck="export")
    evaluator = Evaluator(spec, small_data)
    # 1. no valid network: pooling drops the sequence to nothing
    space = Space()
    invalid = _genome((ConvBlock(8, stride=2, pool=4),) * 3, decimation=4)  # 90 -> 11 -> 1 -> 0
    rec, files = evaluator.evaluate(invalid)
    assert (rec["status"], rec["stage"], rec["trained"], files) == ("invalid", "decode", False,
                                                                    {})
    assert rec["constraints"]["valid"] > 0 and "length drops to 0" in rec["reason"]
    # 2. more weight bits than the UP5K holds: rejected by arithmetic, before any export
    big = _genome((ConvBlock(32, kernel=9, weight_bits=8, act_bits=8),) * 4, out_bits=8)
    rec, _ = evaluator.evaluate(big)
    assert (rec["status"], rec["stage"], rec["trained"]) == ("no-fit", "precheck-bits", False)
    assert rec["constraints"]["fits"] > 0 and rec["cost"] is None
    # 3. small enough in bits, but its least parallel design needs more block RAM than the
    #    UP5K has (the untrained export, folded)
    wide = _genome((ConvBlock(24, kernel=9, weight_bits=2, act_bits=4),) * 4, out_bits=2)
    assert ev_mod.bits_check(ev_mod.decode(spec, wide), "up5k") < 0
    rec, _ = evaluator.evaluate(wide)
    assert (rec["status"], rec["stage"], rec["trained"]) == ("no-fit", "precheck-export", False)
    assert rec["constraints"]["fits"] > 0 and "BRAM" in rec["reason"]
    assert space.genes()  # the same space decoded all three


def test_infeasible_genomes_in_a_search_are_told_not_trained(small_data, session_cache,
                                                             tmp_path, monkeypatch):
    """A search over a space whose every network is too big for the UP5K trains nothing and
    still finishes its trials (all told infeasible, with their constraint violations)."""
    monkeypatch.setenv("HALF_CACHE_DIR", str(session_cache))
    monkeypatch.setattr(ev_mod, "train", lambda *a, **k: pytest.fail("trained"))
    huge = Space(channels=(32,), kernels=(9,), bits=(8,), min_blocks=4, max_blocks=4,
                 strides=(1,), pools=(1,), decimations=(1,), kinds=("conv",))
    s = run_search(SPEC, tmp_path / "huge", data_dir=small_data, space=huge, trials=3,
                   population=2, workers=1)
    assert s["state"]["trials_done"] == 3 and s["state"]["feasible"] == 0 and not s["front"]
    assert s["this_run"]["evaluated"] == 0  # decided before any worker was asked


# -- the random baseline, Ray --------------------------------------------------------------
def test_front_reevaluated_with_more_seeds(tiny_search, small_data, session_cache,
                                          monkeypatch):
    monkeypatch.setenv("HALF_CACHE_DIR", str(session_cache))
    out = tiny_search["out"]
    front = json.loads((out / "pareto.json").read_text())["front"][:1]
    res = reevaluate(SPEC, out, seeds=2, fidelity=0.05, epochs=1, front=front, workers=1,
                     data_dir=small_data)
    (cand,) = res["candidates"]
    assert res["seeds"] == [1, 2] and [r["seed"] for r in cand["runs"]] == [1, 2]
    errors = [r["error"] for r in cand["runs"]]
    assert cand["error_mean"] == pytest.approx(sum(errors) / 2)
    assert cand["error_std"] == pytest.approx(abs(errors[0] - errors[1]) / 2 ** 0.5)
    assert cand["error_min"] <= cand["error_mean"] <= cand["error_max"]
    assert cand["search"]["error"] == front[0]["error"]
    assert all(Path(r["run_dir"]).is_dir() for r in cand["runs"])
    pareto = json.loads((out / "pareto.json").read_text())
    assert pareto["reevaluation"]["candidates"][0]["arch_hash"] == front[0]["arch_hash"]


def test_a_stored_spec_keeps_its_task_parameters_when_the_preset_changes():
    """The search's task parameters start from preset:tiny's; a run's stored (resolved) spec
    must not pick up what a later preset adds. A run made before preset:tiny took the rhythm
    context (its settings name every parameter but that one, omitted at its default) keeps
    its key and its 8 side inputs on resume (and one made before the beat template, its 10)."""
    fresh = SearchSpec(task="mitdb-aami").resolved()
    assert fresh.task_params["rhythm_context"] is True  # the shipped preset's
    assert fresh.task_params["beat_template"] is True and fresh.arch_shape()["side_inputs"] == 12
    later = ("rhythm_context", "beat_template")
    stored = {k: v for k, v in fresh.task_params.items() if k not in later}
    before = SearchSpec.from_dict({**fresh.to_dict(), "task_params": stored})
    again = before.resolved()
    assert "rhythm_context" not in again.task_params and again.arch_shape()["side_inputs"] == 8
    assert again.key() == before.key() == again.resolved().key() != fresh.key()
    no_template = {k: v for k, v in fresh.task_params.items() if k != "beat_template"}
    assert SearchSpec.from_dict({**fresh.to_dict(), "task_params": no_template}
                                ).resolved().arch_shape()["side_inputs"] == 10
    # a partial override still starts from the preset
    part = SearchSpec(task="mitdb-aami", task_params={"highpass": 0.0}).resolved()
    assert part.task_params["rhythm_context"] is True and part.task_params["highpass"] == 0.0


def test_holdouts_split_the_records_patient_wise_and_keep_old_keys(tiny_search):
    from half.search.study import final_spec, reeval_specs

    data = tiny_search["loaded"][0]  # the search data: records 101 (train) and 118 (val)
    val, train = SPLITS.index("val"), SPLITS.index("train")
    folds = [ev_mod.holdout_data(data, f"cv2:{i}") for i in range(2)]
    held = [set(d.record[d.split == val].tolist()) for d in folds]
    assert held[0] and held[1] and not held[0] & held[1] and held[0] | held[1] == {"101", "118"}
    for d, h in zip(folds, held, strict=True):  # whole records: train is the rest
        assert set(d.record[d.split == train].tolist()) == {"101", "118"} - h
        assert len(d.y) == len(data.y)
    assert ev_mod.holdout_data(data, "cv2:0").split.tolist() == folds[0].split.tolist()
    everything = ev_mod.holdout_data(data, "none")
    assert (everything.split == train).all()
    assert ev_mod.holdout_data(data, "val") is data
    # the field's default is left out of the spec: keys and run folders made before it stay
    assert "holdout" not in SPEC.to_dict() and SearchSpec.from_dict(SPEC.to_dict()) == SPEC
    assert dataclasses.replace(SPEC, holdout="cv2:0").key() != SPEC.key()
    specs = reeval_specs(SPEC, 2, 0.5, 3, folds=2)
    assert [(s.seed, s.holdout) for s in specs] == [(1, "cv2:0"), (1, "cv2:1"), (2, "cv2:0"),
                                                    (2, "cv2:1")]
    final = final_spec(SPEC, 0.5, 3)
    assert (final.seed, final.holdout, final.fidelity) == (1, "none", 0.5)
    assert final.train_config().stop_at == 3 and specs[0].train_config().stop_at == 0
    # a cached record whose run folder is gone counts as absent (it is trained again)
    from half.search.study import ResultStore

    store = ResultStore(tiny_search["out"])
    spec = SPEC.resolved()
    rec = next(r for r in (json.loads(p.read_text()) for p in
                           (tiny_search["out"] / "cache" / spec.key()).glob("*.json"))
               if r.get("run_dir"))
    assert store.get(spec, rec["arch_hash"]) == rec
    assert ResultStore(tiny_search["out"], keep_runs=False).get(spec, rec["arch_hash"]) == rec
    moved = Path(rec["run_dir"]).with_name("moved")
    Path(rec["run_dir"]).rename(moved)
    try:
        assert store.get(spec, rec["arch_hash"]) is None
    finally:
        moved.rename(rec["run_dir"])
    for bad in ("cv1:0", "cv3:3", "fold", "cv2"):
        with pytest.raises(ConfigError) as exc:
            dataclasses.replace(SPEC, holdout=bad)
        assert exc.value.field == "holdout"


def test_random_baseline_and_hypervolume_comparison(tiny_search, small_data, tmp_path):
    ev_mod._DATA.clear()
    s = run_random_search(SPEC, tmp_path / "random", data_dir=small_data, trials=3, workers=1,
                          seed_presets=False)
    assert s["sampler"] == "random" and s["state"]["trials_done"] == 3
    assert s["state"]["generation"] is None
    records = {}
    for name, out in (("nsga2", tiny_search["out"]), ("random", tmp_path / "random")):
        front = json.loads((out / "pareto.json").read_text())["front"]
        records[name] = front
    cmp = compare(records)
    assert set(cmp["hypervolume"]) == {"nsga2", "random"}
    assert all(v >= 0 for v in cmp["hypervolume"].values())


def test_ray_backend(small_data, session_cache, tmp_path, monkeypatch):
    pytest.importorskip("ray")
    monkeypatch.setenv("HALF_CACHE_DIR", str(session_cache))
    s = run_search(SPEC, tmp_path / "ray", data_dir=small_data, trials=2, population=2,
                   workers=1, ray_address="local", seed_presets=False)
    assert s["backend"] == "ray" and s["state"]["trials_done"] == 2
    assert s["this_run"]["evaluated"] >= 1
    for entry in (tmp_path / "ray" / "cache" / s["spec_key"]).glob("*.json"):
        rec = json.loads(entry.read_text())
        if rec["trained"]:
            assert rec["worker"]["pid"] != os.getpid()  # evaluated in a Ray worker process
    import ray

    assert not ray.is_initialized()  # the private local instance was shut down


# -- helpers -------------------------------------------------------------------------------
def test_hypervolume_and_front():
    pts = [(0.2, 3.0), (0.5, 1.0), (0.4, 2.0), (0.6, 2.5), (0.2, 3.0)]
    assert pareto_front(pts) == [0, 1, 2]
    # rectangles to ref (1, 4): 0.8*1 + (0.6)*(3-2) + 0.5*(2-1)
    assert hypervolume(pts, (1.0, 4.0)) == pytest.approx(0.8 + 0.6 + 0.5)
    assert hypervolume([(2.0, 0.0)], (1.0, 4.0)) == 0.0  # beyond the reference point
    cube = [(0.5, 0.5, 0.5)]
    assert hypervolume(cube, (1, 1, 1)) == pytest.approx(0.125)
    two = [(0.0, 0.5, 0.5), (0.5, 0.0, 0.0)]  # union of two boxes: 0.25 + 0.125 - overlap
    assert hypervolume(two, (1, 1, 1)) == pytest.approx(1 * 0.25 + 0.5 * 1 - 0.5 * 0.25)
    rng = np.random.default_rng(0)  # Monte-Carlo cross-check in 3-D
    p = rng.random((6, 3))
    s = rng.random((200_000, 3))
    mc = np.mean([(p <= x).all(1).any() for x in s[:20_000]])
    assert hypervolume(p.tolist(), (1, 1, 1)) == pytest.approx(mc, abs=0.02)


def test_parse_budget():
    assert parse_budget("30m") == (None, 1800.0)
    assert parse_budget("1h30m") == (None, 5400.0)
    assert parse_budget("45s") == (None, 45.0)
    assert parse_budget("200") == (200, None)
    assert parse_budget(12) == (12, None)
    for bad in ("3x", "m", "0", "-5", "1.5"):
        with pytest.raises(ConfigError, match="budget"):
            parse_budget(bad)


def test_search_settings_follow_the_tiny_preset():
    mitdb = SearchSpec(task="mitdb-aami").resolved()
    assert mitdb.task_params["highpass"] == 0.5  # the tiny preset's
    assert mitdb.task_params["val_records"] == [118, 124, 201, 215, 223]  # the default, not []
    assert mitdb.rate == pytest.approx(250 / 60)
    cinc = SearchSpec(task="cinc2017-af", goal="low-power").resolved()
    assert (cinc.task_params["fs"], cinc.task_params["window"]) == (100.0, 3000)
    assert cinc.rate == pytest.approx(100 / 3000)
    assert cinc.task_params["rr_features"] is True  # the tiny preset's RR side inputs
    assert cinc.arch_shape() == {"window": 3000, "n_classes": 4, "side_inputs": 8}
    assert SearchSpec(seed=1).key() != SearchSpec(seed=0).key()
    assert SearchSpec(threads=2).key() == SearchSpec(threads=1).key()


# -- bad input -----------------------------------------------------------------------------
BAD_INPUT = [
    (["--goal", "fastest"], "goal"),
    (["--device", "nope"], "device"),
    (["--task", "nope"], "task"),
    (["--budget", "3x"], "budget"),
    (["--fidelity", "0"], "fidelity"),
    (["--trials", "0"], "trials"),
    (["-p", "window=abc"], "window"),
    (["-c", "nonsense=1"], "nonsense"),
    (["--precheck", "maybe"], "precheck"),
    (["--sampler", "cmaes"], "sampler"),
    (["--bogus"], "bogus"),
]


@pytest.mark.parametrize("args, field", BAD_INPUT)
def test_bad_input_is_one_line(args, field, tmp_path, capsys):
    from half.search.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["-o", str(tmp_path / "o"), "--trials", "2", *args])
    assert exc.value.code == 2
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("half: error:") and field in lines[0], err
    assert out == ""
    assert not (tmp_path / "o" / "study.db").exists()


def test_bad_input_from_the_command_line(tmp_path):
    """The same through a real process (what `half search` users see)."""
    res = subprocess.run([sys.executable, "-m", "half.search", "-o", str(tmp_path / "o"),
                          "--budget", "30m", "--goal", "fastest"], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr.strip() == ("half: error: goal: one of high-throughput, low-power, "
                                  "low-energy, not 'fastest'")


def test_budget_missing_and_changed_settings_are_errors(tiny_search, small_data):
    with pytest.raises(ConfigError, match="budget"):
        run_search(SPEC, tiny_search["out"], data_dir=small_data)
    other = dataclasses.replace(SPEC, goal="low-power")
    with pytest.raises(ConfigError, match="study: .*other settings.*goal"):
        run_search(other, tiny_search["out"], study_name="mitdb-aami-up5k-low-energy-nsga2",
                   trials=5, population=2, data_dir=small_data)
    with pytest.raises(ConfigError, match="data_dir"):
        run_search(SPEC, tiny_search["out"], trials=5, data_dir=small_data / "nope")


# how wide the random foldings go (PE, SIMD options): on the UP5K, PE 1 and SIMD among the
# three narrowest make some of preset:tiny's foldings fit and others not
@pytest.mark.parametrize("device, preset, widest", [("up5k", "preset:tiny", (1, 3)),
                                                    ("ecp5-85k", "preset:small", (None, None))])
def test_fits_constraint_is_violated_exactly_when_the_design_does_not_fit(device, preset,
                                                                         widest):
    """The `fits` constraint (utilization - 1) and Estimate.fits agree: on the UP5K both count
    logic cells (a design of 4,331 LUTs and 3,503 FFs is under 85 % of the LUTs but needs
    6,800 cells: it was once told feasible with an infinite cost)."""
    from half.hw.cost import Folding, estimate, utilization
    from half.hw.design import options
    from half.hw.devices import get_device
    from half.hw.plan import graph_for

    dev = get_device(device)
    rng = np.random.default_rng(0)
    seen = set()
    graph = graph_for(preset, "mitdb-aami")[0]
    for _ in range(60):
        pe_simd = {}
        for layer in graph.mac_layers():
            pes, simds = options(layer)
            pe_simd[layer.name] = (int(rng.choice(pes[: widest[0]])),
                                   int(rng.choice(simds[: widest[1]])))
        est = estimate(graph, dev, Folding(pe_simd, 20.0))
        fits = est.fits(dev, ev_mod.FIT_MARGIN)
        # what the search's constraint reads: the plan's rounded resources_estimate
        totals = est.to_dict()["resources_estimate"]
        assert (utilization(totals, dev, ev_mod.FIT_MARGIN) <= 1) == fits, pe_simd
        assert ("logic_cells" in totals) == (device == "up5k")
        seen.add(fits)
    assert seen == {True, False}  # both sides of the boundary were tried


def test_the_search_does_not_inherit_a_recipes_distillation(monkeypatch):
    """A tiny recipe that distils (a wider teacher trained before every candidate) gives the
    search its other options, not the distillation; a user's own train option still sets it."""
    from half.search import evaluate

    recipe = {"epochs": 20, "lr": 0.002, "distill": 0.5, "teacher_width": 4,
              "distill_temperature": 2.0, "augment": 0.5}
    monkeypatch.setattr(evaluate, "_recipe_train", lambda task: dict(recipe))
    assert evaluate.recipe_train_options("mitdb-aami") == {"lr": 0.002, "augment": 0.5}
    spec = evaluate.SearchSpec(task="mitdb-aami", train_options={"distill": 0.25})
    assert spec.resolved().train_options["distill"] == 0.25
