# SPDX-License-Identifier: Apache-2.0
"""The surrogate-screened sampler: its regression, what it proposes, and a small real search
with it (proposals recorded on the trials and replayed exactly from the earlier results)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from half.nn.arch import Arch, ConvBlock
from half.search import evaluate as ev_mod
from half.search import run_search, surrogate
from half.search.evaluate import SearchSpec
from half.search.surrogate import Ridge, features, propose

RECORDS = (101, 118, 100)  # as tests/test_search.py: train, validation, and a test record
SPEC = SearchSpec(task="mitdb-aami", goal="low-energy", device="up5k", fidelity=0.05, epochs=1,
                  seed=0, precheck="bits")


def _arch(blocks: int, channels: int = 8, bits: int = 4, decimation: int = 2) -> Arch:
    return Arch(window=360, n_classes=5, decimation=decimation, side_inputs=12,
                blocks=tuple(ConvBlock(channels=channels, kernel=5, pool=2, weight_bits=bits,
                                       act_bits=bits) for _ in range(blocks)))


def test_ridge_recovers_a_linear_relation_and_its_noise():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    y = 0.5 + x @ np.array([1.0, -2.0, 0.0]) + rng.normal(scale=0.1, size=200)
    model = Ridge.fit(x, y, lam=1e-6)
    assert model.predict([[1.0, 1.0, 5.0]])[0] == pytest.approx(-0.5, abs=0.05)
    assert model.resid_sd == pytest.approx(0.1, rel=0.2)
    with pytest.raises(Exception, match="at least 2 results"):
        Ridge.fit([[1.0]], [1.0])


def test_features_follow_size_depth_and_bits():
    small, deep, wide = _arch(1), _arch(3), _arch(1, channels=32)
    assert features(deep)[0] == 3 and features(small)[0] == 1
    assert features(wide)[2] > features(small)[2]  # log2 parameters
    assert features(_arch(1, bits=8))[5] == 8 and features(small)[5] == 4
    assert features(_arch(1, decimation=4))[7] == 2.0


def _history(n: int) -> list[dict]:
    """Deeper is more accurate and costlier, as measured on mitdb-aami."""
    out = []
    for i in range(n):
        depth = 1 + i % 4
        a = _arch(depth, channels=(4, 8, 16)[i % 3])
        out.append({"arch": a, "error": 0.8 - 0.08 * depth, "feasible": True,
                    "cost": 0.01 * a.macs() / 1000})
    return out


def test_propose_waits_for_enough_results_and_skips_what_was_tried():
    cands = [_arch(d, channels=c) for d in (1, 2, 3, 4) for c in (4, 8, 12)]
    it = iter(range(10**6))

    def sample():
        a = cands[next(it) % len(cands)]
        return [0], a

    assert propose(_history(5), sample, min_results=8) is None
    pick = propose(_history(12), sample, min_results=8)
    assert pick is not None and pick["screened"] == len(cands)
    tried = {pick["arch_hash"]}
    again = propose(_history(12), sample, min_results=8, exclude=tried)
    assert again["arch_hash"] != pick["arch_hash"]
    everything = {a.arch_hash() for a in cands}
    assert propose(_history(12), sample, min_results=8, exclude=everything) is None


def test_propose_picks_the_candidate_that_adds_most_hypervolume():
    """With a history where error falls with depth and cost rises with MACs, a deep candidate
    that costs no more than the shallow ones dominates the front: it is the pick, over a
    shallow cheap one and a deep costly one."""
    hist = _history(16)
    deep_cheap = _arch(4, channels=4, decimation=4, bits=2)
    shallow = _arch(1, channels=4, decimation=4, bits=2)
    deep_costly = _arch(4, channels=32, decimation=1, bits=8)
    for order in ([shallow, deep_cheap, deep_costly], [deep_costly, shallow, deep_cheap]):
        it = iter(order * 100)
        pick = propose(hist, lambda it=it: ([0], next(it)), k=3, min_results=8)
        assert pick["arch_hash"] == deep_cheap.arch_hash()
        assert pick["hvi"] > 0 and math.isfinite(pick["predicted_cost"])


def test_the_fallback_distance_and_an_empty_front():
    """No candidate adds hypervolume: the one nearest the front wins (the least shift, per
    objective's span, that frees it from domination); a point outside the reference box is
    never 'free'. With no feasible design yet, the gain is measured against nothing."""
    front, span, ref = [(0.4, -1.0), (0.6, -2.0)], (0.2, 1.0), (1.0, 0.5)
    assert surrogate._gap((0.45, -0.9), front, span, ref) == pytest.approx(0.1)
    assert surrogate._gap((0.7, -1.5), front, span, ref) == pytest.approx(0.5)
    assert surrogate._gap((0.3, 0.6), front, span, ref) == pytest.approx(0.1)  # above ref cost
    assert surrogate._gap((0.3, -3.0), front, span, ref) == 0.0
    hist = [{**h, "feasible": False} for h in _history(12)]
    cands = iter([_arch(4, channels=4, decimation=4, bits=2)] * 10)
    pick = propose(hist, lambda: ([0], next(cands)), k=1, min_results=8)
    top = max(math.log10(h["cost"]) for h in hist) + surrogate.COST_MARGIN  # the reference cost
    assert 0 < pick["hvi"] <= top - math.log10(pick["predicted_cost"])  # at most error 0's box


@pytest.fixture(scope="module")
def small_data(mitdb_subset) -> Path:
    return mitdb_subset(RECORDS, "surrogate-data")


def _study(out: Path):
    import optuna

    return optuna.load_study(study_name="mitdb-aami-up5k-low-energy-surrogate",
                             storage=f"sqlite:///{out / 'study.db'}").get_trials(deepcopy=False)


def test_a_surrogate_search_proposes_from_earlier_results_only(small_data, session_cache,
                                                              tmp_path, monkeypatch):
    """A real search, two workers, the surrogate proposing once 2 designs are trained: the
    later trials carry their proposal, none repeats a network, and every proposal is replayed
    exactly from the trials before it (only those numbered below n - 1 read, whichever worker
    finished first), so the same seed gives the same search."""
    from half.nn.space import Space
    from half.search.study import surrogate_pick

    monkeypatch.setenv("HALF_CACHE_DIR", str(session_cache))
    monkeypatch.setattr(surrogate, "MIN_RESULTS", 2)
    ev_mod._DATA.clear()
    # small networks that all decode and fit: every trial is trained, and quickly
    space = Space(max_blocks=2, channels=(4, 8), bits=(2, 4), max_dense=0)
    s = run_search(SPEC, tmp_path / "s", data_dir=small_data, trials=6, workers=2,
                   sampler="surrogate", seed_presets=False, space=space)
    assert s["sampler"] == "surrogate" and s["state"]["trials_done"] == 6
    trials = _study(tmp_path / "s")
    proposed = [t.user_attrs.get("proposed") for t in trials]
    assert proposed[0] is None  # random until 2 designs are trained
    assert sum(p is not None for p in proposed) >= 2, "the surrogate proposed the later trials"
    names = [name for name, _ in space.genes()]
    for t, p in zip(trials, proposed, strict=True):
        if p is None:
            continue
        assert p["arch_hash"] == t.user_attrs["arch_hash"] and p["screened"] > 0
        again = surrogate_pick(SPEC.resolved(), space, trials[:t.number], workers=2)
        assert again["genome"] == [t.params[n] for n in names]
    # a proposal is never a network tried before it
    for t, p in zip(trials, proposed, strict=True):
        if p is not None:
            earlier = {u.user_attrs.get("arch_hash") for u in trials[:t.number]}
            assert p["arch_hash"] not in earlier and p["workers"] == 2
