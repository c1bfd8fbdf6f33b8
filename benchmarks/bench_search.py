# SPDX-License-Identifier: Apache-2.0
"""The search's claims (issue 7): one design per goal end to end, NSGA-II vs random search,
candidates per hour, and resume after kill -9.

    .venv/bin/python benchmarks/bench_search.py goals --budget 5m --reeval-fidelity 0.3 \
        [--seed 0] [--device up5k] [--ht-device ecp5-85k] [--out build/bench-goals]
    .venv/bin/python benchmarks/bench_search.py hv --trials 24 --population 8 --seeds 0 1 2 \
        [--fidelity 0.1 --epochs 6] [--out build/bench-hv]
    .venv/bin/python benchmarks/bench_search.py throughput --budget 5m \
        [--out build/bench-throughput]
    .venv/bin/python benchmarks/bench_search.py resume --kill-after 90 --min-finished 2 \
        --resume-budget 2m [--out build/bench-resume]
    .venv/bin/python benchmarks/bench_search.py table {goals,hv,throughput,resume} [FILE]

`goals`: `half run` (a subprocess of .venv/bin/half) for low-energy, low-power and
high-throughput on `--device`, and with `--ht-device` once more for high-throughput there,
each into OUT/<goal>-<device>/ (a run folder whose run.json has the same settings and no failed
stage is reused as it is, even if the code changed since: use a new --out then; any other
is resumed by `half run`). From each run.json: the chosen
design (architecture, folding, clock), validation and test metrics, the estimated energy per
inference, average power at the task's rate and throughput (build/predicted.json: the design
as built for its goal; recomputed with half.hw.plan only when a run has no build), resources
estimated and measured (Yosys/nextpnr), Verilator's result and the Pareto front's size.
Prints a table per goal and the cross table of the designs on `--device` (best per column).

`hv`: for every seed, NSGA-II (`run_search`) and random search (`run_random_search`) with the
same number of finished trials, task, goal, device and fidelity, in OUT/seed<S>/ (one study
each; they share the result cache, and with the same seed NSGA-II's first generation is the
random sampler's first `population` trials: the baseline's head start is identical). The
hypervolume of every final front (error x log10 cost) against one reference point common to
all runs (`half.search.pareto.reference_point`), and after every generation's worth of trials.

`throughput`: one NSGA-II search of `--budget` wall time with the default workers in a fresh
folder; trials and evaluations per hour, seconds per evaluation and its stages (from the result
records), the load average before and after.

`resume`: `half search --study NAME` as a subprocess in its own process group, SIGKILL to the
group after `--kill-after` s (and at least `--min-finished` finished trials), the study read
from its SQLite file, then the same command with `--resume-budget`: every trial finished before
the kill must be there with the same genome and values, the killed ones FAILed and retried with
their genome, and more trials finished.

Results (each run of a mode rewrites its file): benchmarks/results/search_goals.jsonl,
search_hv.jsonl, search_throughput.jsonl, search_resume.json; `--results FILE` elsewhere.
Every figure of the hardware is an estimate of the cost model unless it says measured.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

GOALS = ("low-energy", "low-power", "high-throughput")
OWN_METRIC = {"low-energy": "energy_uj", "low-power": "power_mw", "high-throughput": "per_s"}
COLUMNS = (("energy_uj", "energy µJ*", min), ("power_mw", "power mW at rate*", min),
           ("per_s", "inferences/s*", max))
RESULTS = Path(__file__).resolve().parent / "results"
HALF = Path(sys.executable).with_name("half")


def _write_lines(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    tmp.replace(path)


def _read_lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def _machine() -> dict:
    """Cores, load average (other jobs bias wall times) and the checkout's commit."""
    git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                         cwd=Path(__file__).parent)
    return {"cores": len(os.sched_getaffinity(0)), "load": [round(x, 2) for x in os.getloadavg()],
            "commit": git.stdout.strip() or None}


def _finite(values):
    return None if values is None else [v if math.isfinite(v) else None for v in values]


def _g(x, fmt: str = ".4g", none: str = "—") -> str:
    return none if x is None else format(x, fmt)


# -- goals: `half run` per goal ----------------------------------------------------------------
def _settings(args, goal: str, device: str):
    from half.run import RunSettings

    b = str(args.budget)
    return RunSettings(task=args.task, goal=goal, device=device,
                       budget=int(b) if b.isdigit() else b, accuracy_floor=args.accuracy_floor,
                       seed=args.seed, fidelity=args.fidelity, epochs=args.epochs,
                       population=args.population, precheck=args.precheck,
                       reeval_seeds=args.reeval_seeds, reeval_fidelity=args.reeval_fidelity,
                       reeval_epochs=args.reeval_epochs, verify_windows=args.verify_windows,
                       implement=not args.no_implement)


def _run_command(s, out: Path, workers: int | None, data_dir: Path | None) -> list[str]:
    cmd = [str(HALF), "run", "--task", s.task, "--goal", s.goal, "--device", s.device,
           "--budget", str(s.budget), "--seed", str(s.seed), "--fidelity", str(s.fidelity),
           "--epochs", str(s.epochs), "--population", str(s.population),
           "--precheck", s.precheck, "--reeval-seeds", str(s.reeval_seeds),
           "--reeval-fidelity", str(s.reeval_fidelity),
           "--verify-windows", str(s.verify_windows), "-o", str(out)]
    cmd += ["--reeval-epochs", str(s.reeval_epochs)] if s.reeval_epochs else []
    cmd += ["--accuracy-floor", str(s.accuracy_floor)] if s.accuracy_floor is not None else []
    cmd += ["--workers", str(workers)] if workers else []
    cmd += ["--data-dir", str(data_dir)] if data_dir else []
    return cmd + ([] if s.implement else ["--no-implement"])


def goal_run(args, goal: str, device: str) -> dict:
    """run.json of the goal's run folder: reused when finished with these settings."""
    s = _settings(args, goal, device)
    out = args.out / f"{goal}-{device}"
    path = out / "run.json"
    if path.is_file():
        run = json.loads(path.read_text())
        if run.get("settings") == s.to_dict() and not any(
                st["status"] == "error" for st in run["stages"].values()):
            print(f"{goal} on {device}: reusing {path}", file=sys.stderr)
            return {**run, "bench_reused": True}
    cmd = _run_command(s, out, args.workers, args.data_dir)
    print("$ " + shlex.join(cmd), file=sys.stderr, flush=True)
    t0 = time.monotonic()
    rc = subprocess.run(cmd, stdout=sys.stderr).returncode  # stdout: the tables only
    if not path.is_file():
        return {"bench_error": f"half run exited {rc} without {path}", "settings": s.to_dict()}
    run = json.loads(path.read_text())
    return {**run, "bench_reused": False, "bench_rc": rc,
            "bench_seconds": round(time.monotonic() - t0, 1)}


def arch_summary(arch: dict | None) -> str:
    """One line: decimation, blocks (kind channels x kernel/stride, pool, weight/act bits),
    dense layers, classifier bits."""
    if not arch:
        return "—"
    blocks = [f"{b['kind']} {b['channels']}×k{b['kernel']}"
              + (f"/{b['stride']}" if b.get("stride", 1) > 1 else "")
              + (f" p{b['pool']}" if b.get("pool", 1) > 1 else "")
              + f" w{b['weight_bits']}a{b['act_bits']}" for b in arch["blocks"]]
    dense = [f"dense {d['units']} w{d['weight_bits']}a{d['act_bits']}"
             for d in arch.get("dense", [])]
    return (f"÷{arch.get('decimation', 1)}: " + ", ".join(blocks + dense)
            + f"; {arch.get('head', '')}; out {arch.get('out_bits')}b")


def folding_summary(folding: dict | None) -> str:
    if not folding:
        return "—"
    layers = ", ".join(f"{k} {v['pe']}×{v['simd']}" for k, v in folding["layers"].items())
    return f"{folding['clock_mhz']:g} MHz; PE×SIMD {layers}"


def _estimate(run: dict, device: str, goal: str) -> tuple[dict | None, str]:
    """The built design's predicted figures; without a build, half.hw.plan on the chosen model."""
    pred = (run.get("build") or {}).get("predicted")
    if pred:
        return pred, "run.json build.predicted (half.hw.cost)"
    chosen = (run.get("choice") or {}).get("chosen") or {}
    model = chosen.get("model")
    if not model or not Path(model).is_dir():
        return None, "none (no build and no chosen model)"
    from half.hw.check import graph_of_run
    from half.hw.plan import plan

    rate = (run.get("search_spec") or {}).get("rate")
    return plan(graph_of_run(Path(model)), device, goal, rate), "half.hw.plan on model/ (no build)"


def goal_record(run: dict, goal: str, device: str) -> dict:
    """The figures of one goal's run (see the module doc)."""
    rec = {"goal": goal, "device": device, **_machine()}
    if "bench_error" in run:
        return {**rec, "error": run["bench_error"]}
    s, choice = run["settings"], run.get("choice") or {}
    chosen = choice.get("chosen") or {}
    search, test = run.get("search") or {}, run.get("test") or {}
    b, v, im = run.get("build") or {}, run.get("verification") or {}, run.get("implementation")
    pred, source = _estimate(run, device, goal)
    rec.update(
        task=s["task"], budget=s["budget"], seed=s["seed"], run_dir=run["run_dir"],
        reused=run.get("bench_reused"), wall_s=run.get("bench_seconds"), ok=run["ok"],
        problems=run["problems"], notes=run["notes"], run_seconds=run["seconds"],
        stages={k: {"status": st["status"], "seconds": st.get("seconds")}
                for k, st in run["stages"].items()},
        search={"trials_done": search.get("trials_done"), "feasible": search.get("feasible"),
                "front_size": len(search.get("front") or []),
                "seconds_used": search.get("seconds_used"),
                "evaluations_per_hour": (search.get("this_run") or {}).get(
                    "evaluations_per_hour"),
                "hypervolume": next(iter(((search.get("hypervolume") or {}).get(
                    "hypervolume") or {}).values()), None)},
        reevaluated=len((run.get("reevaluation") or {}).get("candidates") or []),
        front=[{"arch_hash": c.get("arch_hash"), "metric_mean": c.get("metric_mean"),
                "metric_std": c.get("metric_std"), "runs": c.get("runs"),
                "cost": c.get("cost"), "hardware_ok": c.get("hardware_ok"),
                "meets_floor": c.get("meets_floor"), "chosen": c.get("chosen")}
               for c in choice.get("candidates") or []],
        cost_name=choice.get("cost_name"),
        design={"arch_hash": chosen.get("arch_hash"), "arch": arch_summary(chosen.get("arch")),
                "params": chosen.get("params"), "macs": chosen.get("macs"),
                "folding": b.get("folding") or (pred or {}).get("folding"),
                "clock_mhz": ((b.get("folding") or (pred or {}).get("folding")) or {}).get(
                    "clock_mhz")},
        validation={"metric": choice.get("metric"), "mean": chosen.get("metric_mean"),
                    "std": chosen.get("metric_std"), "floor": choice.get("floor"),
                    "met_floor": choice.get("met_floor")},
        test={k: test[k] for k in ("windows", "macro_f1", "f1_nao", "f1", "accuracy",
                                   "jk_index", "kappa") if k in test},
        golden_agreement=(run.get("golden") or {}).get("agreement"),
    )
    if pred:
        pw = pred["power_estimate_mw"]
        rec["estimate"] = {"source": source, "energy_uj": pred["energy_estimate_uj"],
                           "power_mw": pw["average_at_rate"], "rate_per_s": pw["rate_per_s"],
                           "per_s": pred["throughput_per_s"], "latency_ms": pred["latency_ms"],
                           "ii_cycles": pred["ii_cycles"],
                           "latency_cycles": pred["latency_cycles"],
                           "resources": pred["resources_estimate"]}
    if v:
        clock = rec["design"]["clock_mhz"]
        rec["verify"] = {k: v.get(k) for k in ("windows", "mismatches", "first_mismatch_layer",
                                               "cycles_model", "cycles_measured", "ii_model",
                                               "ii_measured", "lint_clean")}
        rec["verify"]["per_s_measured_ii"] = (clock * 1e6 / v["ii_measured"]
                                              if clock and v.get("ii_measured") else None)
    if im:
        rec["implementation"] = {
            "kind": im.get("kind"), "fits": im.get("fits"), "note": im.get("bitstream_note"),
            "used": {k: r["used"] for k, r in (im.get("resources") or {}).items()},
            "post_route": im.get("utilization"), "fmax_mhz": im.get("fmax_mhz"),
            "target_mhz": im.get("target_mhz"), "timing_met": im.get("timing_met"),
            "per_s_at_fmax": im.get("inferences_per_s"), "synthesis": im.get("synthesis")}
    return rec


def _res(r: dict | None) -> str:
    if not r:
        return "—"
    return "/".join(_g(r.get(k), ",.0f") for k in ("luts", "ffs", "bram", "dsp"))


def goals_table(recs: list[dict]) -> str:
    """(a) per goal: design and accuracy; hardware, estimated and measured."""
    out = ["| goal | device | design (arch hash: layers) | folding | params / MACs | trials "
           "(feasible) / front | validation | test |", "|---|---|---|---|---|---|---|---|"]
    for r in recs:
        if "error" in r:
            out.append(f"| {r['goal']} | {r['device']} | error: {r['error']} ||||||")
            continue
        d, va, t, se = r["design"], r["validation"], r["test"], r["search"]
        tk = next((k for k in ("macro_f1", "f1_nao", "f1") if k in t), None)
        test = f"{tk} {t[tk]:.4f}, acc {t['accuracy']:.4f}" if tk else "—"
        val = (f"{va['metric']} {_g(va['mean'], '.4f')}"
               + ("" if va["met_floor"] in (None, True) else " (below floor)"))
        out.append(f"| {r['goal']} | {r['device']} | `{d['arch_hash']}`: {d['arch']} | "
                   f"{folding_summary(d['folding'])} | {_g(d['params'], ',')} / "
                   f"{_g(d['macs'], ',')} | {se['trials_done']} ({se['feasible']}) / "
                   f"{se['front_size']} | {val} | {test} |")
    out += ["", "| goal | device | energy µJ* | power mW at rate* | inferences/s* "
            "(measured II) | LUT/FF/BRAM/DSP estimate | LUT/FF/BRAM/DSP Yosys | fits | fmax / "
            "target MHz | timing | Verilator mismatches | latency model / measured | "
            "II model / measured |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in recs:
        if "error" in r:
            continue
        e, v, im = r.get("estimate") or {}, r.get("verify") or {}, r.get("implementation") or {}
        timing = {True: "met", False: "NOT met"}.get(im.get("timing_met"), "—")
        out.append(
            f"| {r['goal']} | {r['device']} | {_g(e.get('energy_uj'))} | "
            f"{_g(e.get('power_mw'))} | {_g(e.get('per_s'), ',.0f')} "
            f"({_g(v.get('per_s_measured_ii'), ',.0f')}) | {_res(e.get('resources'))} | "
            f"{_res(im.get('used'))} | {'—' if not im else 'yes' if im['fits'] else 'no'} | "
            f"{_g(im.get('fmax_mhz'), '.1f')} / {_g(im.get('target_mhz'), 'g')} | {timing} | "
            f"{_g(v.get('mismatches'))} of {_g(v.get('windows'))} | "
            f"{_g(v.get('cycles_model'), ',')} / {_g(v.get('cycles_measured'), ',')} | "
            f"{_g(v.get('ii_model'), ',')} / {_g(v.get('ii_measured'), ',')} |")
    return "\n".join(out)


def cross(recs: list[dict], device: str) -> dict:
    """The goals' designs on one device against each other: best per column, whether each
    goal's design is best on its own metric, whether the designs differ."""
    rows = [r for r in recs if r["device"] == device and r.get("estimate")]
    best = {}
    for key, _, pick in COLUMNS:
        vals = [r["estimate"][key] for r in rows]
        best[key] = pick(vals) if vals else None

    def is_best(r, key):
        return math.isclose(r["estimate"][key], best[key], rel_tol=1e-9)

    own = {r["goal"]: is_best(r, OWN_METRIC[r["goal"]]) for r in rows}
    archs = {r["design"]["arch_hash"] for r in rows}
    designs = {json.dumps([r["design"]["arch_hash"], r["design"]["folding"]], sort_keys=True)
               for r in rows}
    return {"device": device, "rows": rows, "best": best, "own_best": own,
            "distinct_architectures": len(archs), "distinct_designs": len(designs)}


def cross_table(recs: list[dict], device: str) -> str:
    c = cross(recs, device)
    if not c["rows"]:
        return f"(no design on {device} with figures)"
    rate = c["rows"][0]["estimate"]["rate_per_s"]
    out = ["| design chosen for | arch hash | folding | " + " | ".join(
        h.replace("at rate", f"at {rate:.3g}/s") for _, h, _ in COLUMNS) + " |",
        "|---|---|---|---|---|---|"]
    for r in c["rows"]:
        cells = []
        for key, _, _ in COLUMNS:
            x = r["estimate"][key]
            s = _g(x, ",.0f") if key == "per_s" else _g(x)
            cells.append(f"**{s}** (best)" if math.isclose(x, c["best"][key], rel_tol=1e-9)
                         else s)
        out.append(f"| {r['goal']} | `{r['design']['arch_hash']}` | "
                   f"{folding_summary(r['design']['folding'])} | " + " | ".join(cells) + " |")
    out.append("")
    for r in c["rows"]:
        key = OWN_METRIC[r["goal"]]
        head = next(h for k, h, _ in COLUMNS if k == key).rstrip("*")
        verdict = "yes" if c["own_best"][r["goal"]] else (
            f"no ({_g(r['estimate'][key])} vs best {_g(c['best'][key])})")
        out.append(f"- {r['goal']} design best on its own metric ({head}): {verdict}")
    n = len(c["rows"])
    out.append(f"- designs differ: {c['distinct_architectures']} distinct architecture(s) and "
               f"{c['distinct_designs']} distinct design(s) (architecture, folding, clock) "
               f"among {n}; * estimates of the cost model for {device}, each design folded for "
               "its own goal")
    return "\n".join(out)


def goals_mode(args) -> list[dict]:
    jobs = [(g, args.device) for g in args.goals]
    if args.ht_device:
        jobs.append(("high-throughput", args.ht_device))
    recs = [goal_record(goal_run(args, g, d), g, d) for g, d in jobs]
    return recs


def front_table(recs: list[dict]) -> str:
    """Each goal's Pareto front as re-evaluated: validation metric (mean ± std over the
    re-evaluation seeds) against the goal's hardware cost (estimate), the floor and the
    choice."""
    lines = ["| goal | device | arch hash | validation (mean ± std, runs) | cost* | "
             "fits, meets rate | meets floor | chosen |", "|---|---|---|---|---|---|---|---|"]
    for r in recs:
        for c in sorted(r.get("front") or [], key=lambda c: c["cost"] or 0):
            lines.append(
                f"| {r['goal']} | {r['device']} | `{c['arch_hash']}` | "
                f"{_g(c['metric_mean'], '.4f')} ± {_g(c['metric_std'], '.4f')} ({c['runs']}) | "
                f"{_g(c['cost'])} {r.get('cost_name') or ''} | "
                f"{'yes' if c['hardware_ok'] else 'no'} | {'yes' if c['meets_floor'] else 'no'}"
                f" | {'**yes**' if c['chosen'] else ''} |")
    return "\n".join(lines) + ("\n\n* estimates of the cost model; validation: the "
                                "re-evaluation's full-fidelity trainings")


def goals_report(recs: list[dict]) -> str:
    devices = list(dict.fromkeys(r["device"] for r in recs))
    parts = [goals_table(recs)]
    if any(r.get("front") for r in recs):
        parts.append(front_table(recs))
    for d in devices:
        if sum(r["device"] == d for r in recs) > 1:
            parts.append(cross_table(recs, d))
    return "\n\n".join(parts)


# -- hv: NSGA-II vs random search at the same number of trials --------------------------------
def study_points(storage: str, study: str) -> list[list]:
    """[error, cost (None: no design), feasible] of every COMPLETE trial, by trial number."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    st = optuna.load_study(study_name=study, storage=storage)
    out = []
    for t in sorted(st.get_trials(deepcopy=False), key=lambda t: t.number):
        if t.state.name != "COMPLETE":
            continue
        cons = t.constraints.values() if isinstance(t.constraints, dict) else t.constraints
        cost = t.values[1]
        out.append([t.values[0], None if math.isinf(cost) else cost,
                    all(c <= 0 for c in cons)])
    return out


def _records(points: list[list]) -> list[dict]:
    return [{"error": e, "cost": c, "feasible": f} for e, c, f in points]


def hv_annotate(rows: list[dict]) -> list[dict]:
    """Hypervolumes against one reference point common to every row, final and after every
    `population` trials."""
    from half.search.pareto import compare, reference_point

    ref = reference_point(*[_records(r["points"]) for r in rows])
    for r in rows:
        c = compare({"x": _records(r["points"])}, ref=ref)
        r.update(reference_point=list(ref), hypervolume=c["hypervolume"]["x"],
                 front_size=c["front_size"]["x"], feasible=c["feasible"]["x"])
        marks = sorted({*range(r["population"], len(r["points"]), r["population"]),
                        len(r["points"])})
        r["hv_by_trials"] = {str(k): compare({"x": _records(r["points"][:k])}, ref=ref)[
            "hypervolume"]["x"] for k in marks}
    return rows


def hv_mode(args) -> list[dict]:
    from half.search import SearchSpec, run_random_search, run_search
    from half.search.cli import LiveStatus

    rows = []
    for seed in args.seeds:
        spec = SearchSpec(task=args.task, goal=args.goal, device=args.device,
                          fidelity=args.fidelity, epochs=args.epochs, seed=seed,
                          precheck=args.precheck)
        out = args.out / f"seed{seed}"
        for sampler, fn in (("nsga2", run_search), ("random", run_random_search)):
            print(f"hv: seed {seed}, {sampler}, {args.trials} trials -> {out}", file=sys.stderr)
            load0, t0 = _machine(), time.monotonic()
            with LiveStatus() as live:
                s = fn(spec, out, trials=args.trials, population=args.population,
                       workers=args.workers, data_dir=args.data_dir, progress=live)
            rows.append({"seed": seed, "sampler": sampler, "task": args.task,
                         "goal": args.goal, "device": args.device, "fidelity": args.fidelity,
                         "epochs": args.epochs, "precheck": args.precheck,
                         "trials": args.trials, "population": args.population,
                         "study": s["study"], "out_dir": str(out),
                         "seconds": round(time.monotonic() - t0, 1), "this_run": s["this_run"],
                         "statuses": s["statuses"], "machine_before": load0,
                         "machine_after": _machine(),
                         "points": study_points(s["storage"], s["study"])})
    return hv_annotate(rows)


def hv_table(rows: list[dict]) -> str:
    rows = hv_annotate(rows)
    by = {(r["seed"], r["sampler"]): r for r in rows}
    seeds = sorted({r["seed"] for r in rows})
    r0 = rows[0]
    ref = r0["reference_point"]
    out = [f"{r0['task']}, {r0['goal']} on {r0['device']}: {r0['trials']} trials per run, "
           f"NSGA-II population {r0['population']}, fidelity {r0['fidelity']}, "
           f"{r0['epochs']} epochs; hypervolume of error x log10 cost, common reference point "
           f"({ref[0]:g}, {ref[1]:.4g})", "",
           "| seed | NSGA-II HV | random HV | NSGA-II front / feasible | random front / "
           "feasible | better |", "|---|---|---|---|---|---|"]
    wins, hv = 0, {"nsga2": [], "random": []}
    for s in seeds:
        a, b = by.get((s, "nsga2")), by.get((s, "random"))
        if not a or not b:
            continue
        hv["nsga2"].append(a["hypervolume"])
        hv["random"].append(b["hypervolume"])
        wins += a["hypervolume"] > b["hypervolume"]
        better = ("NSGA-II" if a["hypervolume"] > b["hypervolume"] else
                  "random" if b["hypervolume"] > a["hypervolume"] else "tie")
        out.append(f"| {s} | {a['hypervolume']:.4f} | {b['hypervolume']:.4f} | "
                   f"{a['front_size']} / {a['feasible']} | {b['front_size']} / {b['feasible']} "
                   f"| {better} |")

    def ms(x):
        return f"{statistics.fmean(x):.4f} ± {statistics.stdev(x) if len(x) > 1 else 0:.4f}"

    n = len(hv["nsga2"])
    if n:
        out.append(f"| mean ± sd | {ms(hv['nsga2'])} | {ms(hv['random'])} | | | NSGA-II "
                   f"better on {wins} of {n} seeds |")
    marks = sorted({int(k) for r in rows for k in r["hv_by_trials"]})
    out += ["", "| trials | " + " | ".join(str(k) for k in marks) + " |",
            "|---|" + "---|" * len(marks)]
    for name, label in (("nsga2", "NSGA-II"), ("random", "random")):
        cells = []
        for k in marks:
            xs = [r["hv_by_trials"][str(k)] for r in rows
                  if r["sampler"] == name and str(k) in r["hv_by_trials"]]
            cells.append(f"{statistics.fmean(xs):.4f}" if xs else "—")
        out.append(f"| {label} mean HV | " + " | ".join(cells) + " |")
    secs = sum(r["seconds"] for r in rows)
    out.append(f"\n{len(rows)} runs, {secs / 60:.1f} min wall in all")
    return "\n".join(out)


# -- throughput: candidates per hour ------------------------------------------------------------
def throughput_mode(args) -> list[dict]:
    from half.search import SearchSpec, parse_budget, run_search
    from half.search.cli import LiveStatus

    if (args.out / "study.db").exists():
        raise SystemExit(f"{args.out} holds a study already: give a new --out (cached "
                         "architectures would cost nothing)")
    trials, seconds = parse_budget(args.budget)
    spec = SearchSpec(task=args.task, goal=args.goal, device=args.device,
                      fidelity=args.fidelity, epochs=args.epochs, seed=args.seed,
                      precheck=args.precheck)
    before = _machine()
    with LiveStatus() as live:
        s = run_search(spec, args.out, trials=trials, time_budget_s=seconds,
                       population=args.population, workers=args.workers,
                       data_dir=args.data_dir, progress=live)
    recs = [json.loads(f.read_text())
            for f in sorted((args.out / "cache" / s["spec_key"]).glob("*.json"))]
    run, wall = s["this_run"], s["seconds"]
    trained = [r["seconds"] for r in recs if r.get("trained")]
    rejected = [r["seconds"]["total"] for r in recs
                if not r.get("trained") and r.get("stage") == "precheck-export"]
    stages = ("data", "precheck", "train", "export", "lower", "fold", "total")
    return [{
        "task": args.task, "goal": args.goal, "device": args.device, "fidelity": args.fidelity,
        "epochs": args.epochs, "precheck": args.precheck, "budget": args.budget,
        "seed": args.seed, "workers": s["workers"], "backend": s["backend"],
        "out_dir": str(args.out), "wall_s": round(wall, 1), "stopped": s["stopped"],
        "trials_finished": s["state"]["trials_done"], "told": run["told"],
        "evaluated": run["evaluated"], "cached": run["cached"], "failed": run["failed"],
        "trained": len(trained), "rejected_by_export_precheck": len(rejected),
        "trials_per_hour": 3600 * run["told"] / wall,
        "evaluations_per_hour": 3600 * run["evaluated"] / wall,
        "trained_per_hour": 3600 * len(trained) / wall,
        "seconds_per_evaluation": run["seconds_per_evaluation"],
        "seconds_per_trained_candidate": run["seconds_per_trained_candidate"],
        "trained_breakdown_s": {k: statistics.fmean(x.get(k, 0.0) for x in trained)
                                for k in stages} if trained else None,
        "rejected_mean_s": statistics.fmean(rejected) if rejected else None,
        "statuses": s["statuses"], "machine_before": before, "machine_after": _machine()}]


def throughput_table(rows: list[dict]) -> str:
    out = ["| budget | workers | load before / after | trials | evaluated (trained) | "
           "trials/h | evaluations/h | trained/h | s per evaluation | s per trained "
           "(data / pre-check / train / export / lower / fold) |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        b = r["trained_breakdown_s"] or {}
        parts = " / ".join(_g(b.get(k), ".1f") for k in ("data", "precheck", "train", "export",
                                                          "lower", "fold"))
        out.append(f"| {r['budget']} ({r['wall_s'] / 60:.1f} min wall) | {r['workers']} | "
                   f"{r['machine_before']['load'][0]:.1f} / {r['machine_after']['load'][0]:.1f} "
                   f"on {r['machine_before']['cores']} cores | {r['told']} | {r['evaluated']} "
                   f"({r['trained']}) | {r['trials_per_hour']:.0f} | "
                   f"{r['evaluations_per_hour']:.0f} | {r['trained_per_hour']:.0f} | "
                   f"{_g(r['seconds_per_evaluation'], '.1f')} | "
                   f"{_g(r['seconds_per_trained_candidate'], '.1f')} ({parts}) |")
    return "\n".join(out)


# -- resume: kill -9, then the same command --------------------------------------------------
def _complete(db: Path) -> int:
    if not db.is_file():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as con:
            return con.execute("SELECT count(*) FROM trials WHERE state = 'COMPLETE'"
                               ).fetchone()[0]
    except sqlite3.Error:  # not created yet, or locked for a moment
        return 0


def _snapshot(storage: str, study: str) -> dict[int, dict]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    trials = optuna.load_study(study_name=study, storage=storage).get_trials(deepcopy=False)
    return {t.number: {"state": t.state.name, "values": t.values, "params": t.params,
                       "arch_hash": t.user_attrs.get("arch_hash"),
                       "retry_of": t.system_attrs.get("failed_trial")} for t in trials}


def _group_left(pgid: int) -> list[int]:
    """Processes of the group still alive (zombies waiting to be reaped do not count)."""
    left = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            left.append(int(stat.parent.name))
    return left


def resume_mode(args) -> dict:
    if args.out.exists():
        raise SystemExit(f"{args.out} exists: give a new --out for the demonstration")
    db = args.out / "study.db"
    storage = f"sqlite:///{db.resolve()}"

    def command(budget: str) -> list[str]:
        cmd = [str(HALF), "search", "--task", args.task, "--goal", args.goal,
               "--device", args.device, "--budget", budget, "--study", args.study,
               "--seed", str(args.seed), "--fidelity", str(args.fidelity),
               "--epochs", str(args.epochs), "--population", str(args.population),
               "--precheck", args.precheck, "-o", str(args.out)]
        cmd += ["--workers", str(args.workers)] if args.workers else []
        return cmd + (["--data-dir", str(args.data_dir)] if args.data_dir else [])

    first = command(args.first_budget)
    print("$ " + shlex.join(first), file=sys.stderr, flush=True)
    t0 = time.monotonic()
    proc = subprocess.Popen(first, start_new_session=True, stdout=subprocess.DEVNULL)
    try:
        while True:
            elapsed = time.monotonic() - t0
            if proc.poll() is not None:
                raise SystemExit(f"the search ended (exit {proc.returncode}) before the kill: "
                                 "give a larger first budget")
            if elapsed >= args.kill_after and (_complete(db) >= args.min_finished
                                               or elapsed >= args.kill_after + args.max_wait):
                break
            time.sleep(0.5)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    killed_at = time.monotonic() - t0
    time.sleep(1.0)
    group_left = _group_left(proc.pid)
    before = _snapshot(storage, args.study)
    second = command(args.resume_budget)
    print(f"killed after {killed_at:.0f} s; $ " + shlex.join(second) + " --json",
          file=sys.stderr, flush=True)
    t1 = time.monotonic()
    res = subprocess.run(second + ["--json"], capture_output=True, text=True)
    resumed_s = time.monotonic() - t1
    sys.stderr.write(res.stderr[-3000:])
    after = _snapshot(storage, args.study)
    done_before = {n: t for n, t in before.items() if t["state"] == "COMPLETE"}
    killed = [n for n, t in before.items() if t["state"] == "RUNNING"]
    kept = {n: after.get(n) == t for n, t in done_before.items()}
    retried = {n: [m for m, t in after.items() if t["retry_of"] == n] for n in killed}
    retry_ok = {n: bool(ms) and after[n]["state"] == "FAIL"
                and all(after[m]["params"] == before[n]["params"] for m in ms)
                for n, ms in retried.items()}
    done_after = sum(t["state"] == "COMPLETE" for t in after.values())
    summary = json.loads(res.stdout) if res.returncode == 0 and res.stdout.strip() else None
    return {
        "task": args.task, "goal": args.goal, "device": args.device, "study": args.study,
        "storage": storage, "first_command": shlex.join(first),
        "resume_command": shlex.join(second),
        "kill_after_s": round(killed_at, 1), "process_group_left_after_kill": group_left,
        "before": {"complete": len(done_before), "running": killed,
                   "states": _count(t["state"] for t in before.values()),
                   "complete_trials": {str(n): _finite(t["values"])
                                       for n, t in done_before.items()}},
        "after": {"complete": done_after, "states": _count(t["state"] for t in after.values()),
                  "max_trial": max(after, default=None), "resume_exit": res.returncode,
                  "resume_seconds": round(resumed_s, 1),
                  "stopped": summary and summary["stopped"],
                  "notes": [x.strip() for x in res.stderr.splitlines() if "half search:" in x]},
        "all_finished_trials_kept_identical": all(kept.values()) and bool(kept),
        "not_kept": [n for n, ok in kept.items() if not ok],
        "killed_trials_failed_and_retried_with_same_genome": retry_ok,
        "retries": {str(n): {str(m): after[m]["state"] for m in ms} for n, ms in retried.items()},
        "study_continued": done_after > len(done_before),
        "machine": _machine()}


def _count(items) -> dict:
    out: dict[str, int] = {}
    for x in items:
        out[x] = out.get(x, 0) + 1
    return out


def resume_table(r: dict) -> str:
    retry = r["killed_trials_failed_and_retried_with_same_genome"]
    return "\n".join([
        "| killed after | finished before kill | running at kill | resumed for | finished "
        "after | finished trials kept identical | killed trials retried, same genome | "
        "group gone |", "|---|---|---|---|---|---|---|---|",
        f"| {r['kill_after_s']:.0f} s | {r['before']['complete']} | "
        f"{len(r['before']['running'])} | {r['after']['resume_seconds']:.0f} s | "
        f"{r['after']['complete']} | "
        f"{'yes' if r['all_finished_trials_kept_identical'] else 'NO'} | "
        f"{sum(retry.values())} of {len(retry)} | "
        f"{'NO' if r['process_group_left_after_kill'] else 'yes'} |",
        "", f"study continued: {'yes' if r['study_continued'] else 'NO'} (resume exit "
        f"{r['after']['resume_exit']}, stopped: {r['after']['stopped']})"])


# -- command line -----------------------------------------------------------------------------
def _common(p: argparse.ArgumentParser, default_out: str) -> None:
    p.add_argument("--task", default="mitdb-aami")
    p.add_argument("--device", default="up5k")
    p.add_argument("--fidelity", type=float, default=0.1)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--population", type=int, default=16)
    p.add_argument("--precheck", default="export")
    p.add_argument("--workers", type=int, default=None, help="default: one per core")
    p.add_argument("--data-dir", type=Path, default=None)
    p.add_argument("--out", type=Path, default=Path(default_out))
    p.add_argument("--results", type=Path, default=None, help="results file (see above)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="mode", required=True)
    g = sub.add_parser("goals")
    _common(g, "build/bench-goals")
    g.add_argument("--budget", default="5m")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--goals", nargs="+", default=list(GOALS), choices=GOALS)
    g.add_argument("--ht-device", default=None, help="also high-throughput on this device")
    g.add_argument("--accuracy-floor", type=float, default=None)
    g.add_argument("--reeval-seeds", type=int, default=1)
    g.add_argument("--reeval-fidelity", type=float, default=1.0)
    g.add_argument("--reeval-epochs", type=int, default=None)
    g.add_argument("--verify-windows", type=int, default=200)
    g.add_argument("--no-implement", action="store_true")
    h = sub.add_parser("hv")
    _common(h, "build/bench-hv")
    h.add_argument("--goal", default="low-energy")
    h.add_argument("--trials", type=int, default=24)
    h.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    t = sub.add_parser("throughput")
    _common(t, "build/bench-throughput")
    t.add_argument("--goal", default="low-energy")
    t.add_argument("--budget", default="5m")
    t.add_argument("--seed", type=int, default=0)
    r = sub.add_parser("resume")
    _common(r, "build/bench-resume")
    r.add_argument("--goal", default="low-energy")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--study", default="bench-resume")
    r.add_argument("--first-budget", default="30m", help="the killed run's budget")
    r.add_argument("--kill-after", type=float, default=90.0)
    r.add_argument("--min-finished", type=int, default=2,
                   help="wait past --kill-after until this many trials finished ...")
    r.add_argument("--max-wait", type=float, default=180.0, help="... at most this long")
    r.add_argument("--resume-budget", default="2m")
    tb = sub.add_parser("table", help="the Markdown tables of a results file")
    tb.add_argument("which", choices=("goals", "hv", "throughput", "resume"))
    tb.add_argument("file", type=Path, nargs="?")
    args = ap.parse_args()

    files = {"goals": "search_goals.jsonl", "hv": "search_hv.jsonl",
             "throughput": "search_throughput.jsonl", "resume": "search_resume.json"}
    render = {"goals": goals_report, "hv": hv_table, "throughput": throughput_table,
              "resume": resume_table}
    if args.mode == "table":
        path = args.file or RESULTS / files[args.which]
        data = (json.loads(path.read_text()) if args.which == "resume"
                else _read_lines(path))
        print(render[args.which](data))
        return
    if args.workers is not None and args.workers < 1:
        raise SystemExit("--workers must be at least 1")
    path = args.results or RESULTS / files[args.mode]
    if args.mode == "resume":
        rec = resume_mode(args)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(rec, indent=1) + "\n")
    else:
        rec = {"goals": goals_mode, "hv": hv_mode, "throughput": throughput_mode}[args.mode](
            args)
        _write_lines(path, rec)
    print(f"results: {path}\n", file=sys.stderr)
    print(render[args.mode](rec))


if __name__ == "__main__":
    main()
