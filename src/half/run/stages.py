# SPDX-License-Identifier: Apache-2.0
"""The stages of `half run` (see half.run.pipeline): each a function `Ctx -> (result, info)`.

`result` is what later stages read (its digest goes into their inputs key), `info` what only
the report shows (timings, counts). A stage raises HalfError to fail with a one-line message.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from half._io import atomic_dir, write_json_atomic
from half.errors import ConfigError, HalfError
from half.run.pipeline import FLOOR_SLACK, FOLD_TOLERANCE, Ctx
from half.run.reference import describe as describe_reference
from half.run.reference import reference_runs, train_reference
from half.search.refine import SHARE as REFINE_SHARE

SETTINGS_FILE = "run_settings.json"  # the search identity of a run folder


@dataclass(frozen=True)
class Stage:
    name: str
    title: str  # what the console says when the stage starts
    run: Callable[[Ctx], tuple[dict, dict]]
    deps: tuple[str, ...] = ()  # stages whose results this one reads
    settings: Callable[[Ctx], dict] = lambda ctx: {}  # the settings its result depends on
    artefacts: Callable[[Ctx, dict], list[Path]] = lambda ctx, rec: []  # must exist to reuse
    describe: Callable[[dict], str] = lambda rec: ""  # one line about a finished record
    enabled: Callable[[Ctx], bool] | None = None
    disabled_reason: str = ""

    def reusable(self, ctx: Ctx, old: dict) -> bool:
        return all(Path(p).exists() for p in self.artefacts(ctx, old))


# -- the run folder ------------------------------------------------------------------------
def _identity(ctx: Ctx) -> dict:
    return {
        "search_spec_key": ctx.spec.key(),
        "search_spec": ctx.spec.to_dict(),
        "space": json.loads(json.dumps(dataclasses.asdict(ctx.space))),
    }


def check_resumable(ctx: Ctx) -> None:
    """A run folder holds one search (task, goal, device, fidelity ..., space): refuse another
    one's settings; record the identity."""
    path = ctx.run_dir / SETTINGS_FILE
    mine = _identity(ctx)
    if path.is_file():
        old = json.loads(path.read_text())
        if old != mine:
            from half.search.study import _first_difference

            raise ConfigError(
                "out",
                f"{ctx.run_dir} holds a run with other search settings "
                f"({_first_difference(old, mine)}); give another output folder",
            )
    else:  # a foreign folder was refused (or forced) by half._io.prepare_output already
        write_json_atomic(path, mine)


# -- search --------------------------------------------------------------------------------
def _brief(r: dict) -> dict:
    keep = (
        "trial",
        "arch_hash",
        "genome",
        "error",
        "val_metric",
        "metric",
        "cost",
        "cost_name",
        "params",
        "macs",
        "run_dir",
        "arch",
    )
    return {k: r.get(k) for k in keep}


def _points(cache: Path) -> list[dict]:
    """Every evaluated architecture of the study (the result cache holds one per network)."""
    out = []
    for f in sorted(cache.glob("*.json")):
        try:
            r = json.loads(f.read_text())
        except ValueError:
            continue
        out.append(
            {
                "arch_hash": r.get("arch_hash"),
                "error": r.get("error"),
                "cost": r.get("cost"),
                "feasible": bool(r.get("feasible")),
                "status": r.get("status"),
                "trained": bool(r.get("trained")),
                "params": r.get("params"),
            }
        )
    return out


def search(ctx: Ctx) -> tuple[dict, dict]:
    from half.search.study import parse_budget, parse_rungs, run_search

    s = ctx.settings
    trials, seconds = parse_budget(s.budget)
    budget_file = ctx.search_dir / "budget.json"
    used = 0.0
    if budget_file.is_file():
        used = float(json.loads(budget_file.read_text()).get("seconds_used", 0.0))
    remaining = None if seconds is None else max(1.0, seconds - used)
    if used:
        ctx.log(
            f"resuming the study in {ctx.search_dir}: {used:.0f} s of search time used "
            "before" + ("" if remaining is None else f", {remaining:.0f} s left")
        )
    t0 = time.monotonic()
    last = [t0]

    def progress(state: dict) -> None:  # and count the time used, for a resume after a kill
        ctx.progress(state)
        now = time.monotonic()
        if now - last[0] >= 5.0:
            last[0] = now
            write_json_atomic(budget_file, {"budget": s.budget, "seconds_used": used + now - t0})

    summary = run_search(
        ctx.spec,
        ctx.search_dir,
        trials=trials,
        time_budget_s=remaining,
        workers=ctx.workers,
        population=s.population,
        sampler=s.sampler,
        rungs=parse_rungs(s.rungs),
        promote=s.promote,
        data_dir=ctx.data_dir,
        space=ctx.space,
        progress=progress,
        seed_presets=s.seed_presets,
        seed_archs=s.seed_archs,
    )
    used += time.monotonic() - t0
    write_json_atomic(budget_file, {"budget": s.budget, "seconds_used": used})
    pareto = json.loads((ctx.search_dir / "pareto.json").read_text())
    front = [_brief(r) for r in pareto["front"]]
    st = summary["state"]
    result = {
        "study": summary["study"],
        "spec_key": summary["spec_key"],
        "cost_name": ctx.spec.cost_name,
        "metric": next((r["metric"] for r in front if r.get("metric")), None),
        "front": front,
    }
    info = {
        "trials_done": st["trials_done"],
        "feasible": st["feasible"],
        "infeasible": st["infeasible"],
        "stopped": summary["stopped"],
        "seconds_used": round(used, 1),
        "this_run": summary["this_run"],
        "statuses": summary["statuses"],
        "rungs": summary.get("rungs"),
        "hypervolume": summary["hypervolume"],
        "backend": summary["backend"],
        "workers": summary["workers"],
        "points": _points(ctx.search_dir / "cache" / summary["spec_key"]),
    }
    return result, info


def _describe_search(rec: dict) -> str:
    info = rec.get("info") or {}
    return (
        f"{info.get('trials_done')} trials, {info.get('feasible')} feasible; front of "
        f"{len(rec['result']['front'])} design(s)"
    )


# -- re-evaluation -------------------------------------------------------------------------
def _reevaluate(ctx: Ctx, designs: list[dict], **options) -> dict:
    """half.search.study.reevaluate of `designs` (front-like records) under the run's
    re-evaluation protocol: what the front and the refinement's neighbours are trained by."""
    from half.search.study import reevaluate

    return reevaluate(ctx.spec, ctx.search_dir, **ctx.settings.reeval_protocol(), front=designs,
                      workers=ctx.workers, data_dir=ctx.data_dir, space=ctx.space, **options)


def reeval(ctx: Ctx) -> tuple[dict, dict]:
    front = ctx.result("search")["front"]
    if not front:
        info = ctx.records["search"].get("info") or {}
        raise HalfError(
            f"search: no feasible design among {info.get('trials_done')} trials "
            "(see the report's Pareto plot); give a larger --budget"
        )
    res = _reevaluate(ctx, front, progress=ctx.progress)
    seconds = res.pop("seconds")
    return res, {"seconds_training": round(seconds, 1)}


def _candidate_runs(ctx: Ctx, rec: dict) -> list[Path]:
    """The run folders a reused record of re-evaluated candidates (the front's, the
    refinement's) needs."""
    return [
        Path(r["run_dir"])
        for c in rec["result"]["candidates"]
        for r in c["runs"]
        if r.get("run_dir")
    ]


# -- refinement around the reference ----------------------------------------------------------
def refine(ctx: Ctx) -> tuple[dict, dict]:
    """The reference's cheaper one-step neighbours (`half.search.refine`), the first
    `settings.refine` of them re-evaluated under the reference's protocol: candidates of the
    choice beside the front (`origin` "refine"). Skipped, saying why, without a reference, when
    the space cannot express it, or with refine 0."""
    from half.run.reference import load_reference
    from half.search.evaluate import search_data
    from half.search.refine import cheaper_neighbours

    s = ctx.settings
    out = {"k": s.refine, "share": REFINE_SHARE, "candidates": [], "neighbours": None,
           "skipped": ""}
    ref = ctx.result("reference")
    if not s.refine:
        return {**out, "skipped": "not asked for (refine 0)"}, {}
    if ref.get("spec") is None:
        return {**out, "skipped": "no reference"}, {}
    arch, _ = load_reference(s.reference, ctx.spec)
    data = search_data(ctx.spec.task, ctx.spec.task_params, ctx.data_dir)
    ctx.log(f"refine: costing the one-step neighbours of the reference {s.reference}")
    t0 = time.monotonic()
    try:  # neighbours the front holds were re-evaluated already: the next ones are taken
        picks, summary = cheaper_neighbours(
            ctx.spec, arch, ctx.space, data, k=s.refine,
            exclude={c["arch_hash"] for c in ctx.result("reeval")["candidates"]},
        )
    except ConfigError as exc:
        why = f"{exc.field} {exc.fault}" if exc.field else str(exc)
        return {**out, "skipped": f"the reference {s.reference} cannot be refined: {why}"}, {}
    costing = time.monotonic() - t0
    ctx.log(
        f"refine: {summary['cheaper']} of {summary['moves']} one-step moves cost at most "
        f"{REFINE_SHARE:g}x the reference's estimate; re-evaluating the {len(picks)} closest"
    )
    res = (
        _reevaluate(
            ctx,
            picks,
            progress=lambda state: ctx.progress({**state, "what": "the reference's neighbours"}),
            record=False,
        )
        if picks
        else {"candidates": [], "seconds": 0.0}
    )
    moves = {p["arch_hash"]: p for p in picks}
    for c in res["candidates"]:
        p = moves[c["arch_hash"]]
        c.update(origin="refine", move=p["move"], arch=p["arch"], genome=p["genome"],
                 params=p["params"], macs=p["macs"])
    out.update(candidates=res["candidates"], neighbours=summary)
    return out, {"seconds_costing": round(costing, 1),
                 "seconds_training": round(res["seconds"], 1)}


def _describe_refine(rec: dict) -> str:
    r = rec["result"]
    if r.get("skipped"):
        return f"skipped: {r['skipped']}"
    n = r["neighbours"]
    return (f"{n['cheaper']} of {n['moves']} one-step neighbours at most {r['share']:g}x the "
            f"reference's cost; {len(r['candidates'])} re-evaluated")


# -- the choice (validation metrics only) ---------------------------------------------------
def paired_rule(tolerance: float) -> str:
    """The reference floor's per-fold condition, in words."""
    if tolerance <= 0:
        return "reached on every validation fold"
    return f"its mean reached, and every validation fold within {tolerance:g} of the reference's"


def per_fold_metric(runs: list[dict]) -> dict[str, float]:
    """{validation fold (the runs' `holdout`): mean validation metric over its seeds}."""
    folds: dict[str, list[float]] = {}
    for r in runs:
        if r.get("val_metric") is not None:
            folds.setdefault(str(r.get("holdout", "val")), []).append(float(r["val_metric"]))
    return {f: statistics.fmean(v) for f, v in sorted(folds.items())}


def choose(
    candidates: list[dict],
    floor: float | None,
    metric: str,
    cost_name: str = "cost",
    slack: float = FLOOR_SLACK,
    reference: dict | None = None,
    fold_tolerance: float = FOLD_TOLERANCE,
) -> dict:
    """The design to build: among the re-evaluated candidates whose every run is feasible on
    the device (fits, meets the rate), and the `reference` when it fits (its row `reference`:
    true), the lowest mean hardware cost whose validation metric reaches the floor; when none
    reaches it, the most accurate, said so. Its run: the seed with the best validation metric.

    The floor (`floor_kind` says which): a given `floor` (the mean validation metric reaches
    it); else the `reference` design trained as the candidates were, paired (`paired_rule`): at
    least the reference's mean metric, and on every validation fold (each fold's mean over
    seeds) at least the reference's minus `fold_tolerance`; else the best mean metric minus
    `slack`."""
    rows = []
    for c in candidates:
        runs = c["runs"]
        metrics = [float(r["val_metric"]) for r in runs if r.get("val_metric") is not None]
        ok_runs = [r for r in runs if r.get("feasible")]
        rows.append(
            {
                "arch_hash": c["arch_hash"],
                "origin": c.get("origin", "front"),
                "move": c.get("move"),
                "search_error": c["search"]["error"],
                "search_cost": c["search"]["cost"],
                "metric_mean": statistics.fmean(metrics) if metrics else None,
                "metric_std": statistics.stdev(metrics) if len(metrics) > 1 else 0.0,
                "cost": c.get("cost_mean"),
                "runs": len(runs),
                "feasible_runs": len(ok_runs),
                "hardware_ok": bool(runs)
                and len(ok_runs) == len(runs)
                and bool(metrics)
                and c.get("cost_mean") is not None,
                "best_run": max(ok_runs, key=lambda r: r["val_metric"] or 0.0) if ok_runs else None,
                "per_fold": per_fold_metric(runs),
            }
        )
    if (
        reference
        and reference.get("metric_mean") is not None
        and reference.get("cost") is not None
        and reference.get("arch_hash") not in {r["arch_hash"] for r in rows}
    ):  # the hand-made design is an answer too: when nothing the search found is cheaper at
        # its accuracy, the run says to build the reference
        runs = reference.get("runs") or []
        rows.append(
            {
                "arch_hash": reference["arch_hash"],
                "origin": "reference",
                "search_error": None,
                "search_cost": None,
                "metric_mean": reference["metric_mean"],
                "metric_std": reference.get("metric_std", 0.0),
                "cost": reference["cost"],
                "runs": len(runs),
                "feasible_runs": sum(bool(r.get("feasible")) for r in runs),
                "hardware_ok": bool(reference.get("fits")),
                "best_run": reference.get("best_run"),
                "per_fold": per_fold_metric(runs),
                "reference": True,
            }
        )
    usable = [r for r in rows if r["hardware_ok"]]
    if not usable:
        raise HalfError(
            "choose: no re-evaluated design fits the device and meets the rate in "
            "every run; give a larger --budget or another device"
        )
    best = max(r["metric_mean"] for r in usable)
    source = kind = "given"
    if floor is None and reference and reference.get("metric_mean") is not None:
        floor, kind = reference["metric_mean"], "reference"
        source = (
            f"the reference {reference['spec']}'s validation {metric}, trained as the designs "
            f"were, {paired_rule(fold_tolerance)}"
        )
    elif floor is None:
        floor, kind = max(0.0, best - slack), "relative"
        source = f"best validation {metric} {best:.4f} - {slack}"
    ref_folds = per_fold_metric(reference.get("runs") or []) if kind == "reference" else {}
    for r in rows:
        r["meets_floor"] = r["hardware_ok"] and r["metric_mean"] >= floor - 1e-12
        if ref_folds and not r.get("reference"):
            mine = r["per_fold"]
            r["folds_at_reference"] = sum(
                f in mine and mine[f] >= v - fold_tolerance - 1e-12 for f, v in ref_folds.items()
            )
            r["meets_floor"] = r["meets_floor"] and r["folds_at_reference"] == len(ref_folds)
    eligible = [r for r in usable if r["meets_floor"]]
    if eligible:
        chosen = min(eligible, key=lambda r: (r["cost"], -r["metric_mean"]))
        message = (
            f"the lowest {cost_name} of the {len(eligible)} of {len(rows)} "
            f"re-evaluated designs whose validation {metric} reaches {floor:.4f}"
            + (f" ({paired_rule(fold_tolerance)})" if ref_folds else "")
        )
        if chosen.get("reference"):
            message += (
                f": the reference {reference['spec']} itself (no design the search found "
                "is cheaper at its accuracy)"
            )
        elif chosen["origin"] == "refine":
            message += ": a one-step neighbour of the reference (the refinement)"
    else:
        chosen = max(usable, key=lambda r: r["metric_mean"])
        what = f"the reference {reference['spec']}'s" if kind == "reference" else "the accuracy"
        message = (
            f"no design reaches {what} floor {floor:.4f} (validation {metric}): "
            f"the most accurate one was chosen ({chosen['metric_mean']:.4f})"
        )
    for r in rows:
        r["chosen"] = r is chosen
    return {
        "metric": metric,
        "floor": floor,
        "floor_source": source,
        "floor_kind": kind,
        "fold_tolerance": fold_tolerance if ref_folds else None,
        "cost_name": cost_name,
        "met_floor": bool(eligible),
        "message": message,
        "candidates": rows,
        "chosen": {k: v for k, v in chosen.items() if k != "chosen"},
    }


def candidates(ctx: Ctx) -> list[dict]:
    """The choice's candidates: the re-evaluated front, then the refinement's neighbours of
    the reference (none of them on the front)."""
    return ctx.result("reeval")["candidates"] + ctx.result("refine")["candidates"]


def designs(ctx: Ctx) -> dict[str, dict]:
    """{arch_hash: record} of every design the choice can take but the reference: the search's
    front records and the refinement's (genome, arch, params, macs)."""
    out = {r["arch_hash"]: r for r in ctx.result("search")["front"]}
    for c in ctx.result("refine")["candidates"]:
        out.setdefault(c["arch_hash"], c)
    return out


def choose_stage(ctx: Ctx) -> tuple[dict, dict]:
    search = ctx.result("search")
    res = choose(
        candidates(ctx),
        ctx.settings.accuracy_floor,
        search["metric"] or "metric",
        search["cost_name"],
        reference=ctx.result("reference"),
        fold_tolerance=ctx.settings.fold_tolerance,
    )
    if ctx.settings.reeval_folds:  # cross-validated: the model is a fit on every record
        res["final"] = _final_fits(ctx, res["chosen"], ctx.result("reference"))
        run = res["final"]["chosen"]
    else:
        run = res["chosen"]["best_run"]
    src = Path(run["run_dir"])
    with atomic_dir(ctx.model_dir) as tmp:
        shutil.copytree(src, tmp, dirs_exist_ok=True)
    hash_ = res["chosen"]["arch_hash"]
    front = designs(ctx)
    if res["chosen"].get("reference"):  # the hand-made design itself
        front[hash_] = {**ctx.result("reference"), "genome": None}
    res["chosen"].update(
        seed=run["seed"],
        source_run=str(src),
        model=str(ctx.model_dir),
        arch=front[hash_].get("arch"),
        params=front[hash_].get("params"),
        macs=front[hash_].get("macs"),
        genome=front[hash_].get("genome"),
    )
    return res, {}


def _final_fits(ctx: Ctx, chosen: dict, reference: dict | None) -> dict:
    """After a cross-validated choice: the chosen design and the reference trained once more
    on every train and val record for the protocol's epochs (`final_spec`; no epoch is chosen,
    none is held out). Their runs (seed, cost, run folder) are what `test` evaluates."""
    from half.run.reference import load_reference
    from half.search.study import ResultStore, final_spec, train_all

    p = ctx.settings.reeval_protocol()
    spec = final_spec(ctx.spec, p["fidelity"], p["epochs"])
    search = designs(ctx)
    ref_job = None
    if reference and reference.get("spec"):
        arch, _ = load_reference(reference["spec"], ctx.spec)
        ref_job = (dataclasses.replace(spec, precheck="off"), arch, reference["arch_hash"])
    if chosen.get("reference"):  # the choice is the reference itself
        jobs = [ref_job]
    else:
        jobs = [(spec, search[chosen["arch_hash"]]["genome"], chosen["arch_hash"])]
        if ref_job and reference["arch_hash"] != chosen["arch_hash"]:
            jobs.append(ref_job)
    ctx.log(
        f"final fit{'s' * (len(jobs) > 1)}: the chosen design"
        + (" and the reference" if len(jobs) > 1 else "")
        + f" on every train and val record ({p['epochs']} epochs, fidelity {p['fidelity']:g})"
    )
    recs = train_all(
        ResultStore(ctx.search_dir),
        jobs,
        workers=ctx.workers,
        threads=ctx.spec.threads,
        data_dir=ctx.data_dir,
        space=ctx.space,
    )
    if not recs[0].get("run_dir"):
        raise HalfError(
            f"choose: the final fit of the chosen design {recs[0].get('arch_hash')} was not "
            f"trained ({recs[0].get('status')}: {recs[0].get('reason')})"
        )
    if reference and reference.get("spec") and reference["arch_hash"] == chosen["arch_hash"]:
        recs.append(recs[0])  # the reference is the chosen design: one fit serves both
    if len(recs) > 1 and not recs[1].get("run_dir"):  # the test stage goes without it
        ctx.log(
            f"the reference's final fit was not trained ({recs[1].get('status')}: "
            f"{recs[1].get('reason')}); the test split shows the chosen design alone"
        )
        recs.pop()
    out = {
        name: {
            "arch_hash": rec["arch_hash"],
            "seed": spec.seed,
            "cost": rec.get("cost"),
            "feasible": bool(rec.get("feasible")),
            "run_dir": rec["run_dir"],
        }
        for name, rec in zip(("chosen", "reference"), recs, strict=False)
    }
    return {"epochs": p["epochs"], "fidelity": p["fidelity"], "spec_key": spec.key(), **out}


def _describe_choice(rec: dict) -> str:
    c = rec["result"]["chosen"]
    return (
        f"{c['arch_hash']} (seed {c['seed']}): validation {rec['result']['metric']} "
        f"{c['metric_mean']:.4f}, cost* {c['cost']:.4g}"
        + ("" if rec["result"]["met_floor"] else " — below the accuracy floor")
    )


# -- after the choice: the test split, the golden model, RTL, verification, implementation --
def evaluate_test(ctx: Ctx) -> tuple[dict, dict]:
    from half.nn.runs import eval_run
    from half.run.reference import chance

    task = ctx.settings.task
    res = eval_run(str(ctx.model_dir), task, "test", ctx.data_dir)
    res["chance"] = chance(task, res)
    final = ctx.result("choose").get("final") or {}
    best = final.get("reference") or (ctx.result("reference") or {}).get("best_run")
    if best:  # the reference beside it, on the same windows
        ref = eval_run(best["run_dir"], task, "test", ctx.data_dir)
        res["reference"] = {k: v for k, v in ref.items() if k not in ("warnings", "per_class")}
        res["reference"]["seed"] = best["seed"]
    return res, {}


def _describe_test(rec: dict) -> str:
    r = rec["result"]
    # the metric the run selects on (binary cinc2017-af: f1, which its results also hold)
    key = next(k for k in ("macro_f1", "f1_nao", "f1", "accuracy") if k in r)
    return f"{r['windows']} test windows: {key} {r[key]:.4f}, accuracy {r['accuracy']:.4f}"


def golden(ctx: Ctx) -> tuple[dict, dict]:
    from half.hw.check import golden_agreement

    return golden_agreement(str(ctx.model_dir), ctx.settings.task, "test", ctx.data_dir), {}


def build(ctx: Ctx) -> tuple[dict, dict]:
    from half.rtl.build import build as build_project

    s = ctx.settings
    res = build_project(str(ctx.model_dir), s.task, s.device, s.goal, ctx.project, ctx.spec.rate)
    res["predicted"] = json.loads((ctx.project / "predicted.json").read_text())
    design = json.loads((ctx.project / "design.json").read_text())
    res["modules"] = {st["name"]: st["module"] for st in design["stages"]}
    return res, {}


def verify(ctx: Ctx) -> tuple[dict, dict]:
    from half.flow.toolchain import find_verilator
    from half.flow.verify import verify as verify_project

    s = ctx.settings
    res = verify_project(ctx.project, s.verify_windows, s.seed, ctx.data_dir)
    tool = find_verilator()
    return res, {"verilator": ".".join(map(str, tool.version))}


def _describe_verify(rec: dict) -> str:
    r = rec["result"]
    return (
        f"{r['windows']} windows, {r['mismatches']} mismatches; latency "
        f"{r['cycles_measured']} cycles (model {r['cycles_model']}), II {r['ii_measured']} "
        f"(model {r['ii_model']}); lint {'clean' if r['lint_clean'] else 'WARNINGS'}"
    )


def implement(ctx: Ctx) -> tuple[dict, dict]:
    from half.flow.implement import implement as implement_project

    return implement_project(ctx.project, progress=ctx.log), {}


def _describe_implement(rec: dict) -> str:
    r = rec["result"]
    if not r["fits"]:
        return r["bitstream_note"]
    if r["fmax_mhz"] is None:
        return f"{r['kind']}: {r['bitstream_note'] or 'no timing'}"
    return (
        f"fits; fmax {r['fmax_mhz']:.2f} MHz vs target {r['target_mhz']:g} MHz: timing "
        f"{'met' if r['timing_met'] else 'NOT met'}"
    )


def commands(ctx: Ctx) -> dict[str, str]:
    """The `half` command that does each stage's work by hand (the run's own settings)."""
    s, run = ctx.settings, ctx.run_dir
    p = s.reeval_protocol()
    half = "half" + (f" --data-dir {ctx.data_dir}" if ctx.data_dir else "")
    model, target = (
        f"--model {ctx.model_dir} --task {s.task}",
        f"--device {s.device} --goal {s.goal}" + (f" --rate {s.rate:g}" if s.rate else ""),
    )
    return {
        "search": f"{half} search --task {s.task} {target} --budget {s.budget} --seed {s.seed} "
        f"--fidelity {s.fidelity:g} --epochs {s.epochs} --population {s.population} "
        f"--precheck {s.precheck}"
        + (f" --sampler {s.sampler}" if s.sampler != "nsga2" else "")
        + (f" --rungs {s.rungs} --promote {s.promote:.4g}" if s.rungs else "")
        + "".join(f" -p {k}={v}" for k, v in s.task_params.items())
        + "".join(f" -c {k}={v}" for k, v in s.train_options.items())
        + "".join(f" --seed-arch {a}" for a in s.seed_archs)
        + ("" if s.seed_presets else " --no-seed-presets")
        + f" -o {run / 'search'}",
        "reeval": f"{half} search ... --reeval-seeds {p['seeds']} --reeval-folds {p['folds']} "
        f"--reeval-fidelity {p['fidelity']:g} --reeval-epochs {p['epochs']}",
        "reference": (
            f"{half} cv --arch {s.reference} --task {s.task} --folds {p['folds']} --epochs "
            f"{p['epochs']} (the same folds; the run trains with seed {s.seed + 1} ...)"
            if p["folds"]
            else f"{half} train --arch {s.reference} --task {s.task} --fraction "
            f"{p['fidelity']:g} --epochs {p['epochs']} -c patience={p['epochs']} --seed "
            f"{s.seed + 1} -o REFERENCE (then seed +1 ...)"
        )
        if s.reference
        else "",
        "test": f"{half} eval {model} --split test",
        "golden": f"{half} golden {model} --split test",
        "build": f"{half} build {model} {target} -o {ctx.project}",
        "verify": f"{half} verify {ctx.project} --windows {s.verify_windows} --seed {s.seed}",
        "implement": f"{half} implement {ctx.project}",
    }


STAGES = (
    Stage(
        "search",
        "search (validation error vs the goal's hardware cost)",
        search,
        settings=lambda ctx: {
            **_identity(ctx),
            "budget": ctx.settings.budget,
            "population": ctx.settings.population,
            "sampler": ctx.settings.sampler,
            "rungs": ctx.settings.rungs,
            "promote": ctx.settings.promote,
            "seed_presets": ctx.settings.seed_presets,
            "seed_archs": list(ctx.settings.seed_archs),
        },
        describe=_describe_search,
    ),
    Stage(
        "reeval",
        "re-evaluating the Pareto front",
        reeval,
        deps=("search",),
        settings=lambda ctx: ctx.settings.reeval_protocol(),
        artefacts=_candidate_runs,
        describe=lambda rec: (
            f"{len(rec['result']['candidates'])} design(s) x {len(rec['result']['seeds'])} seed(s)"
            + (f" x {rec['result']['folds']} folds" if rec["result"].get("folds") else "")
        ),
    ),
    Stage(
        "reference",
        "training the reference design as the front designs were",
        train_reference,
        settings=lambda ctx: {
            "reference": ctx.settings.reference,
            "spec": ctx.spec.key(),
            **ctx.settings.reeval_protocol(),
        },
        artefacts=reference_runs,
        describe=describe_reference,
    ),
    Stage(
        "refine",
        "refining around the reference: its cheaper one-step neighbours, trained alike",
        refine,
        deps=("reeval", "reference"),
        settings=lambda ctx: {
            "refine": ctx.settings.refine,
            "share": REFINE_SHARE,
            "spec": ctx.spec.key(),
            **ctx.settings.reeval_protocol(),
        },
        artefacts=_candidate_runs,
        describe=_describe_refine,
    ),
    Stage(
        "choose",
        "choosing the design (validation metrics only)",
        choose_stage,
        deps=("reeval", "reference", "refine"),
        settings=lambda ctx: {
            "floor": ctx.settings.accuracy_floor,
            "slack": FLOOR_SLACK,
            # the tolerance matters only against the reference
            "fold_tolerance": ctx.settings.fold_tolerance
            if ctx.settings.accuracy_floor is None and ctx.settings.reference
            else None,
        },
        artefacts=lambda ctx, rec: (
            [ctx.model_dir / "model.pt", ctx.model_dir / "arch.json"]
            + [
                Path(r["run_dir"])
                for r in (rec["result"].get("final") or {}).values()
                if isinstance(r, dict)
            ]
        ),
        describe=_describe_choice,
    ),
    Stage(
        "test",
        "evaluating the chosen model on the test split (its first use)",
        evaluate_test,
        deps=("choose", "reference"),
        artefacts=lambda ctx, rec: [ctx.model_dir / "model.pt"],
        describe=_describe_test,
    ),
    Stage(
        "golden",
        "golden integer model vs PyTorch on the test split",
        golden,
        deps=("choose",),
        artefacts=lambda ctx, rec: [ctx.model_dir / "model.pt"],
        describe=lambda rec: (
            f"agreement {rec['result']['agreement']:.4f} on {rec['result']['windows']} windows"
        ),
    ),
    Stage(
        "build",
        "generating the RTL project",
        build,
        deps=("choose",),
        settings=lambda ctx: {
            "device": ctx.settings.device,
            "goal": ctx.settings.goal,
            "rate": ctx.spec.rate,
        },
        artefacts=lambda ctx, rec: [ctx.project / "design.json", ctx.project / "source.json"],
        describe=lambda rec: (
            f"{rec['result']['folding']['clock_mhz']:g} MHz, II {rec['result']['ii_cycles']} cycles"
        ),
    ),
    Stage(
        "verify",
        "Verilator simulation against the golden model",
        verify,
        deps=("build",),
        settings=lambda ctx: {"windows": ctx.settings.verify_windows, "seed": ctx.settings.seed},
        artefacts=lambda ctx, rec: [ctx.project / "reports" / "verify.json"],
        describe=_describe_verify,
    ),
    Stage(
        "implement",
        "synthesis and place-and-route (Yosys, nextpnr)",
        implement,
        deps=("build",),
        artefacts=lambda ctx, rec: [ctx.project / "reports" / "implementation.json"],
        describe=_describe_implement,
        enabled=lambda ctx: ctx.settings.implement,
        disabled_reason="not asked for (implement=False, --no-implement)",
    ),
)

__all__ = ["STAGES", "Stage", "check_resumable", "choose", "commands"]
