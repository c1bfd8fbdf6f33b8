# SPDX-License-Identifier: Apache-2.0
"""Multi-fidelity rungs inside the search (issue 14, item 2), on small real data: each batch's
best third at the cheap rung is trained again at the costlier one, the others are told at the
cheap rung, the front reads the highest rung a design reached, results are cached per rung,
and the study refuses to resume with another ladder."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import pytest

from half.errors import ConfigError
from half.search import SearchSpec, run_search
from half.search import evaluate as ev_mod
from half.search.study import parse_rungs, promoted

RECORDS = (101, 118, 100)  # DS1 train, a DS1 validation record, a DS2 (test) record
SPEC = SearchSpec(task="mitdb-aami", goal="low-energy", device="up5k", fidelity=0.05, epochs=1,
                  seed=0, precheck="bits")
RUNGS = [(0.1, 2)]


@pytest.fixture(scope="module")
def small_data(mitdb_subset) -> Path:
    return mitdb_subset(RECORDS, "rungs-data")


@pytest.fixture(scope="module")
def rung_search(tmp_path_factory, small_data, session_cache):
    out = tmp_path_factory.mktemp("rungs") / "out"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HALF_CACHE_DIR", str(session_cache))
        ev_mod._DATA.clear()
        summary = run_search(SPEC, out, data_dir=small_data, trials=6, population=3,
                             workers=1, rungs=RUNGS, promote=1 / 3, seed_presets=False)
    return {"out": out, "summary": summary}


def _cache(out: Path, key: str, arch_hash: str) -> dict:
    return json.loads((out / "cache" / key / f"{arch_hash}.json").read_text())


def test_the_best_third_of_each_batch_is_promoted_and_told_at_the_higher_rung(rung_search):
    import optuna

    out, s = rung_search["out"], rung_search["summary"]
    assert s["state"]["trials_done"] == 6 and s["stopped"] == "trials"
    key0 = s["spec_key"]
    key1 = SearchSpec(**{**SPEC.to_dict(), "fidelity": 0.1, "epochs": 2,
                         "precheck": "bits"}).key()
    assert key1 != key0
    study = optuna.load_study(study_name="mitdb-aami-up5k-low-energy-nsga2",
                              storage=f"sqlite:///{out / 'study.db'}")
    trials = study.get_trials(deepcopy=False)
    by_gen: dict[int, list] = {}
    for t in trials:
        by_gen.setdefault(t.system_attrs["NSGAIISampler:generation"], []).append(t)
    assert sorted(len(v) for v in by_gen.values()) == [3, 3]
    n_promoted = 0
    for ts in by_gen.values():
        # the batch's buildable trained designs at rung 0, ranked as the driver ranks them
        entries = []
        for t in ts:
            if t.user_attrs["arch_hash"] is None:  # an invalid genome: told at once
                assert t.user_attrs["rung"] is None and not t.user_attrs["trained"]
                continue
            rec0 = _cache(out, key0, t.user_attrs["arch_hash"])
            cons = rec0["constraints"]
            if rec0["trained"] and cons["fits"] <= 0 and cons["rate"] <= 0 and \
                    cons["valid"] <= 0:
                entries.append(SimpleNamespace(arch_hash=rec0["arch_hash"], rec=rec0,
                                               trials=[t]))
        want = promoted(entries, 1 / 3) if entries else set()
        assert len(want) == (math.ceil(len({e.arch_hash for e in entries}) / 3)
                             if entries else 0)
        for t in ts:
            h = t.user_attrs["arch_hash"]
            if h is not None and h in want:  # told at rung 1, both rungs' metrics kept
                rec1 = _cache(out, key1, h)
                assert t.user_attrs["rung"] == 1
                assert t.values[0] == pytest.approx(rec1["error"])
                assert set(t.user_attrs["rung_metrics"]) == {"0", "1"}
                assert rec1["train_windows"] > _cache(out, key0, h)["train_windows"]
                assert rec1["epochs_run"] == 2
                n_promoted += 1
            elif t.user_attrs.get("trained"):
                assert t.user_attrs["rung"] == 0
                assert not (out / "cache" / key1 / f"{h}.json").exists()
    assert n_promoted >= 2  # one per batch at least
    rungs = s["rungs"]["this_run"]
    assert rungs[0]["promoted"] == n_promoted == rungs[1]["evaluated"] + rungs[1]["cached"]
    assert rungs[1]["told"] == n_promoted and rungs[1]["seconds"] > 0
    # the front and pareto.json read the highest rung each design reached
    for r in s["front"]:
        rec = next(t for t in trials if t.number == r["trial"])
        key = key1 if rec.user_attrs["rung"] == 1 else key0
        assert r["error"] == pytest.approx(_cache(out, key, r["arch_hash"])["error"])
    assert s["state"]["rungs"][1]["fidelity"] == 0.1


def test_resuming_with_another_ladder_is_refused(rung_search, small_data):
    with pytest.raises(ConfigError, match="rungs"):
        run_search(SPEC, rung_search["out"], data_dir=small_data, trials=7, population=3,
                   workers=1, rungs=[(0.2, 2)])


def test_promoted_ranks_by_non_dominated_sorting_then_error():
    def e(h, err, cost, n):
        return SimpleNamespace(arch_hash=h, rec={"error": err, "cost": cost},
                               trials=[SimpleNamespace(number=n)])

    # a, b, c are non-dominated; d is dominated by a; the best third of 4 designs is 2
    entries = [e("a", 0.3, 1.0, 0), e("b", 0.2, 5.0, 1), e("c", 0.5, 0.1, 2),
               e("d", 0.35, 2.0, 3)]
    assert promoted(entries, 1 / 3) == {"b", "a"}
    assert promoted(entries, 0.75) == {"b", "a", "c"}
    assert promoted(entries[3:], 0.1) == {"d"}  # at least one
    dup = [*entries, e("a", 0.3, 1.0, 4)]  # a duplicate architecture counts once
    assert promoted(dup, 1 / 3) == {"b", "a"}


def test_rung_ladders_are_checked():
    assert parse_rungs("0.25x6, 1x6") == [(0.25, 6), (1.0, 6)]
    assert parse_rungs("") == [] and parse_rungs("none") == []
    for bad in ("0.25", "ax6", "0.25x"):
        with pytest.raises(ConfigError, match="rungs"):
            parse_rungs(bad)
    from half.search.study import Search

    with pytest.raises(ConfigError, match="more windows or for more epochs"):
        Search(SPEC, "/nonexistent", trials=2, rungs=[(0.05, 1)])  # the same as rung 0
    with pytest.raises(ConfigError, match="more windows or for more epochs"):
        Search(SPEC, "/nonexistent", trials=2, rungs=[(0.5, 4), (0.25, 6)])
    with pytest.raises(ConfigError, match="promote"):
        Search(SPEC, "/nonexistent", trials=2, rungs=RUNGS, promote=1.0)


def test_half_run_takes_the_sampler_and_the_ladder():
    from half.run.pipeline import RunSettings

    s = RunSettings(sampler="tpe", rungs="0.25x4", promote=0.5)
    assert (s.sampler, s.rungs, s.promote) == ("tpe", "0.25x4", 0.5)
    with pytest.raises(ConfigError, match="sampler"):
        RunSettings(sampler="cmaes")
    with pytest.raises(ConfigError, match="rungs"):
        RunSettings(rungs="0.25")
    with pytest.raises(ConfigError, match="promote"):
        RunSettings(rungs="0.25x4", promote=0)
