# SPDX-License-Identifier: Apache-2.0
"""The refinement around the reference (half.search.refine): its one-step moves, the cheaper
neighbours it keeps and their order (costed by the real cost model on real records), and the
`refine` stage of a real `half run` that re-evaluates them beside the front."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from half.errors import ConfigError
from half.nn.arch import Arch, ConvBlock
from half.nn.space import Space
from half.run import RunSettings, run_all
from half.search import evaluate as ev_mod
from half.search.evaluate import SearchSpec, search_data
from half.search.refine import SHARE, cheaper_neighbours, one_step_genomes

RECORDS = (101, 118, 100)  # train, validation, test: as tests/test_run.py
# one convolution: the reference below sits inside it with a neighbour on every side
SPACE = Space(min_blocks=1, max_blocks=1, channels=(4, 8, 12), kernels=(3, 5, 7), strides=(1,),
              pools=(4,), kinds=("conv",), bits=(3, 4, 5), decimations=(3, 4), max_dense=0)


def reference_arch(side_inputs: int) -> Arch:
    block = ConvBlock(channels=8, kernel=5, stride=1, kind="conv", pool=4, weight_bits=4,
                      act_bits=4)
    return Arch(window=360, n_classes=5, blocks=(block,), dense=(), decimation=4,
                side_inputs=side_inputs, out_bits=4)


@pytest.fixture(scope="module")
def small_data(mitdb_subset) -> Path:
    return mitdb_subset(RECORDS, "refine-data")


def test_one_step_moves_change_one_gene_by_one_choice():
    genome = [0, 0, 0] + [1] * (len(SPACE.genes()) - 3)
    moves = one_step_genomes(genome, SPACE)
    sizes = [n for _, n in SPACE.genes()]
    # every gene moves down unless at its first choice, up unless at its last
    assert len(moves) == sum((g > 0) + (g < n - 1) for g, n in zip(genome, sizes, strict=True))
    for name, g in moves:
        diff = [i for i, (a, b) in enumerate(zip(genome, g, strict=True)) if a != b]
        assert len(diff) == 1 and 0 <= g[diff[0]] < sizes[diff[0]]
        # the label names the gene and the direction it moved
        gene, step = name.split()
        assert gene == SPACE.genes()[diff[0]][0]
        assert g[diff[0]] - genome[diff[0]] == int(step)


def test_cheaper_neighbours_are_costed_filtered_and_ranked(small_data, session_cache,
                                                           monkeypatch):
    monkeypatch.setenv("HALF_CACHE_DIR", str(session_cache))
    ev_mod._DATA.clear()
    spec = SearchSpec(task="mitdb-aami", goal="low-energy", device="up5k").resolved()
    data = search_data(spec.task, spec.task_params, small_data)
    arch = reference_arch(spec.arch_shape()["side_inputs"])
    picks, summary = cheaper_neighbours(spec, arch, SPACE, data, k=3)
    ref_cost = summary["reference_cost_estimate"]
    assert ref_cost > 0
    kept = ("same_network", "invalid", "no_fit", "not_cheaper", "cheaper")
    assert sum(summary[k] for k in kept) == summary["moves"]
    ranked = summary["ranked"]
    assert len(ranked) == summary["cheaper"] >= 1 and len(picks) == min(3, len(ranked))
    # every kept neighbour is clearly cheaper, ranked closest first
    assert all(r["cost"] <= SHARE * ref_cost + 1e-12 for r in ranked)
    keys = [(-r["params"], -r["macs"], -r["cost"]) for r in ranked]
    assert keys == sorted(keys)
    assert [p["arch_hash"] for p in picks] == [r["arch_hash"] for r in ranked[:len(picks)]]
    # fewer channels is a neighbour, and cheaper; the reference itself never is
    genome = SPACE.encode(arch)
    assert any(r["move"] == "blocks[0].channels -1" for r in ranked)
    as_searched = dataclasses.replace(arch, per_channel=spec.per_channel)
    assert as_searched.arch_hash() not in {r["arch_hash"] for r in ranked}
    # designs already re-evaluated (the front's) are passed over for the next ones
    skip = {ranked[0]["arch_hash"]}
    again, summary2 = cheaper_neighbours(spec, arch, SPACE, data, k=3, exclude=skip)
    assert [p["arch_hash"] for p in again] == [
        r["arch_hash"] for r in ranked if r["arch_hash"] not in skip][:3]
    assert summary2["excluded"] == sorted(skip)
    for p in picks:  # each pick one move away, and what it decodes to
        assert sum(a != b for a, b in zip(genome, p["genome"], strict=True)) == 1
        assert Arch.from_dict(p["arch"]).arch_hash() == p["arch_hash"]
    # a reference outside the space is refused (before anything is costed)
    wide = dataclasses.replace(arch, blocks=(dataclasses.replace(arch.blocks[0], channels=32),))
    with pytest.raises(ConfigError, match="channels"):
        cheaper_neighbours(spec, wide, SPACE, data, k=3)


def test_half_run_refines_around_the_reference(small_data, session_cache, tmp_path,
                                               monkeypatch):
    """A real run whose reference is inside the space: the refine stage re-evaluates the
    neighbours under the reference's protocol (both folds), the choice weighs them beside the
    front, and the report names them."""
    monkeypatch.setenv("HALF_CACHE_DIR", str(session_cache))
    ev_mod._DATA.clear()
    spec = SearchSpec(task="mitdb-aami").resolved()
    ref_file = tmp_path / "ref.json"
    ref_file.write_text(json.dumps(reference_arch(spec.arch_shape()["side_inputs"]).to_dict()))
    settings = RunSettings(task="mitdb-aami", goal="low-energy", device="up5k", budget=2,
                           population=2, fidelity=0.05, epochs=1, precheck="bits",
                           reference=str(ref_file), refine=2, reeval_seeds=1, reeval_folds=2,
                           reeval_fidelity=0.05, reeval_epochs=1, verify_windows=3,
                           implement=False, seed_presets=False)
    out = tmp_path / "run"
    events: list[dict] = []
    run = run_all(settings, out, workers=1, data_dir=small_data, space=SPACE,
                  progress=events.append)
    assert run["stages"]["refine"]["status"] == "done"
    # its progress is told apart from the front's re-evaluation
    mine = [e for e in events if e.get("what") == "the reference's neighbours"]
    assert mine and mine[-1]["done"] == mine[-1]["total"] == 2 * len(
        run["refinement"]["candidates"])
    ref, reference = run["refinement"], json.loads(
        (out / "stages" / "reference.json").read_text())["result"]
    assert not ref["skipped"] and len(ref["candidates"]) == min(2, ref["neighbours"]["cheaper"])
    for c in ref["candidates"]:
        assert c["origin"] == "refine" and c["move"]
        # the reference's protocol: the same seeds and folds, every run measured
        assert sorted(r["holdout"] for r in c["runs"]) == sorted(
            r["holdout"] for r in reference["runs"])
        assert all(r["val_metric"] is not None for r in c["runs"])
        assert all(Path(r["run_dir"]).is_dir() for r in c["runs"])
    rows = {r["arch_hash"]: r for r in run["choice"]["candidates"]}
    for c in ref["candidates"]:
        assert rows[c["arch_hash"]]["origin"] == "refine"
    # the refinement's candidates do not enter the search's front record
    pareto = json.loads((out / "search" / "pareto.json").read_text())
    front = {c["arch_hash"] for c in pareto["reevaluation"]["candidates"]}
    assert front == {c["arch_hash"] for c in run["reevaluation"]["candidates"]}
    html = (out / "report" / "index.html").read_text()
    assert "(refinement: " in html and "one-step neighbours" in html
    # a neighbour chosen after cross-validation gets its final fit from its refinement record
    # (a hand-set floor of 0 with the front left out: the cheapest neighbour is the answer)
    from half.run.pipeline import Ctx
    from half.run.stages import choose_stage

    records = {name: json.loads((out / "stages" / f"{name}.json").read_text())
               for name in ("search", "reeval", "reference", "refine")}
    records["reeval"]["result"] = {**records["reeval"]["result"], "candidates": []}
    ctx = Ctx(dataclasses.replace(settings, accuracy_floor=0.0), out, settings.search_spec()
              .resolved(), SPACE, 1, small_data, lambda e: None, records)
    res, _ = choose_stage(ctx)
    cheapest = min(ref["candidates"], key=lambda c: c["cost_mean"])
    assert res["chosen"]["arch_hash"] == res["final"]["chosen"]["arch_hash"] == cheapest[
        "arch_hash"]
    assert res["chosen"]["origin"] == "refine" and res["chosen"]["genome"] == cheapest["genome"]
    saved = Arch.from_dict(json.loads((out / "model" / "arch.json").read_text()))
    assert saved == Arch.from_dict(cheapest["arch"])
    # refine 0: the stage says so and the choice has only the front and the reference
    off = run_all(dataclasses.replace(settings, refine=0), out, workers=1, data_dir=small_data,
                  space=SPACE)
    assert off["refinement"]["skipped"] == "not asked for (refine 0)"
    assert {r["origin"] for r in off["choice"]["candidates"]} <= {"front", "reference"}
