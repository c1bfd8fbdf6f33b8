# SPDX-License-Identifier: Apache-2.0
"""Search efficiency at equal wall time (issue 14, "What to show"): the default sampler against
random search, every front design re-trained at the reference fidelity and scored alike.

    .venv/bin/python benchmarks/bench_search_wall.py run --budget 15m --seeds 0 1 2 \
        [--samplers nsga2 random] [--task mitdb-aami --goal low-energy --device up5k] \
        [--out build/bench-wall] [--results benchmarks/results/search_wall.jsonl]
        [--fidelity F --epochs E --reeval-fidelity F --reeval-epochs E]  (default: half run's)
    .venv/bin/python benchmarks/bench_search_wall.py table [FILE]

1. Searches. Per seed and sampler, one `half search` with the same wall-time budget, task,
   goal, device, fidelity and warm start (the task's presets), into OUT/seed<S>/<sampler>,
   `--parallel` (default: one per core) side by side, one worker each, in the order seed by
   seed, sampler by sampler: every search has one core for its minutes (2 cores, 2 samplers:
   a seed's two searches run together). A search the bench finished
   (OUT/seed<S>/<sampler>.done) is reused, so another sampler can be added later; an
   unfinished one (killed) is removed and run again from the start, so that none gets more
   than its budget.
2. Re-evaluation. The union of every search's front (by architecture hash) is trained once
   under `half run`'s re-evaluation protocol (`RunSettings.reeval_protocol()`: all training
   windows, the tiny recipe's epochs, patient-wise 3-fold CV over the train and val records,
   one seed), with the same training seeds for every design, into OUT/reeval (cached: a
   killed bench resumes there). A design found by several searches is trained once.
3. Hypervolume. Per search, its front's re-evaluated points (mean CV error, log10 of the
   goal's cost on the device, an estimate of the cost model), against one reference point
   common to all searches of the run (error 1; the largest cost + 0.1 decade). The issue's bar:
   the default sampler's mean >= 1.2x random's, and better on every seed.

The results file is rewritten after each step (search rows first, then hypervolume rows), so a
partial run still leaves its rows. The test split is never read.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
HALF = Path(sys.executable).with_name("half")
BAR = 1.2


def _machine() -> dict:
    git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                         cwd=Path(__file__).parent)
    return {"cores": len(os.sched_getaffinity(0)),
            "load": [round(x, 2) for x in os.getloadavg()], "commit": git.stdout.strip() or None}


def _write_rows(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    tmp.replace(path)


def _settings(args, seed: int):
    from half.run import RunSettings

    over = {k: getattr(args, k) for k in ("fidelity", "epochs", "reeval_fidelity",
                                          "reeval_epochs") if getattr(args, k) is not None}
    return RunSettings(task=args.task, goal=args.goal, device=args.device, budget=args.budget,
                       seed=seed, **over)


def _search_cmd(args, seed: int, sampler: str, out: Path, workers: int) -> list[str]:
    s = _settings(args, seed)
    return [str(HALF), "search", "--task", s.task, "--goal", s.goal, "--device", s.device,
            "--budget", str(args.budget), "--seed", str(seed), "--sampler", sampler,
            "--fidelity", str(s.fidelity), "--epochs", str(s.epochs),
            "--population", str(s.population), "--workers", str(workers), "-o", str(out)]


def search_row(args, seed: int, sampler: str, out: Path, wall_s: float | None) -> dict:
    """What one finished search found: trials, its front (genomes for the re-evaluation)."""
    summary = json.loads((out / "search.json").read_text())
    front = json.loads((out / "pareto.json").read_text())["front"]
    st = summary["state"]
    return {"kind": "search", "task": args.task, "goal": args.goal, "device": args.device,
            "budget": args.budget, "seed": seed, "sampler": sampler, "dir": str(out),
            "wall_s": wall_s, "workers": summary.get("workers"),
            "trials_done": st["trials_done"], "feasible": st["feasible"],
            "stopped": summary.get("stopped"),
            "search_hypervolume": next(iter(((summary.get("hypervolume") or {}).get(
                "hypervolume") or {}).values()), None),
            "front": [{"arch_hash": r["arch_hash"], "genome": r["genome"], "error": r["error"],
                       "cost": r["cost"]} for r in front if r.get("feasible")]}


def _done_row(args, seed: int, sampler: str) -> dict | None:
    base = args.out / f"seed{seed}"
    done = base / f"{sampler}.done"
    if not done.is_file():
        return None
    return search_row(args, seed, sampler, base / sampler,
                      json.loads(done.read_text()).get("wall_s"))


def run_searches(args, jobs: list[tuple[int, str]]) -> list[dict]:
    """Run the (seed, sampler) searches `args.parallel` at a time, one worker each; their rows
    (a search finished before is reused)."""
    procs = {}
    for seed, sampler in jobs:
        base = args.out / f"seed{seed}"
        out = base / sampler
        if out.exists():  # killed before its budget ran out: start again from nothing
            shutil.rmtree(out)
        base.mkdir(parents=True, exist_ok=True)
        cmd = _search_cmd(args, seed, sampler, out, 1)
        print("$ " + " ".join(cmd), file=sys.stderr, flush=True)
        log = open(base / f"{sampler}.log", "w")
        procs[(seed, sampler)] = (subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT),
                                  time.monotonic(), log)
    rows = []
    for (seed, sampler), (proc, t0, log) in procs.items():
        rc = proc.wait()
        log.close()
        wall = round(time.monotonic() - t0, 1)
        base = args.out / f"seed{seed}"
        if rc != 0:
            raise SystemExit(f"seed {seed} {sampler}: half search exited {rc}; see "
                             f"{base / (sampler + '.log')}")
        (base / f"{sampler}.done").write_text(json.dumps({"wall_s": wall}))
        rows.append(search_row(args, seed, sampler, base / sampler, wall))
    return rows


def reevaluate_fronts(args, rows: list[dict]) -> tuple[dict[str, dict], dict]:
    """(arch hash -> the re-evaluated candidate of every front design, trained once each;
    the protocol)."""
    from half.search.study import reevaluate

    union: dict[str, dict] = {}
    for r in rows:
        for d in r["front"]:
            union.setdefault(d["arch_hash"], d)
    s = _settings(args, 0)  # the same training seeds for every design, whichever search found it
    t0 = time.monotonic()

    def progress(state: dict) -> None:
        if state.get("event") == "reeval":
            print(f"\rre-evaluation {state['done']}/{state['total']} runs, "
                  f"{state['elapsed_s'] / 60:.1f} min", end="", file=sys.stderr, flush=True)

    res = reevaluate(s.search_spec(), args.out / "reeval", **s.reeval_protocol(),
                     front=list(union.values()), record=False, progress=progress)
    print(f"\nre-evaluated {len(union)} designs in {(time.monotonic() - t0) / 60:.1f} min",
          file=sys.stderr)
    return {c["arch_hash"]: c for c in res["candidates"]}, s.reeval_protocol()


def _point(c: dict) -> dict:
    ok = c["feasible_runs"] == len(c["runs"]) and c["cost_mean"] is not None
    return {"arch_hash": c["arch_hash"], "error": c["error_mean"], "cost": c["cost_mean"],
            "feasible": ok}


def hv_rows(args, rows: list[dict], reev: dict[str, dict], protocol: dict) -> list[dict]:
    """Per search: the hypervolume of its re-evaluated front against the common point."""
    from half.search.pareto import hypervolume, objective_points, pareto_front, reference_point

    sets = {(r["seed"], r["sampler"]): [_point(reev[d["arch_hash"]]) for d in r["front"]]
            for r in rows}
    ref = reference_point(*sets.values())
    out = []
    for r in rows:
        pts = objective_points(sets[(r["seed"], r["sampler"])])
        out.append({"kind": "hv", "task": args.task, "goal": args.goal, "device": args.device,
                    "budget": args.budget, "seed": r["seed"], "sampler": r["sampler"],
                    "protocol": protocol, "reference_point": list(ref),
                    "hypervolume": hypervolume(pts, ref), "front_size": len(r["front"]),
                    "nondominated_after_reeval": len(pareto_front(pts)),
                    "trials_done": r["trials_done"], "feasible": r["feasible"],
                    "points": sets[(r["seed"], r["sampler"])], **_machine()})
    return out


def verdict(hv: list[dict], default: str, control: str = "random") -> dict:
    by = {(r["seed"], r["sampler"]): r["hypervolume"] for r in hv}
    seeds = sorted({r["seed"] for r in hv if (r["seed"], default) in by
                    and (r["seed"], control) in by})
    if not seeds:
        return {}
    a = [by[(s, default)] for s in seeds]
    b = [by[(s, control)] for s in seeds]
    ratio = statistics.fmean(a) / statistics.fmean(b) if statistics.fmean(b) else math.inf
    every = all(x > y for x, y in zip(a, b, strict=True))
    return {"seeds": seeds, "mean": statistics.fmean(a), "control_mean": statistics.fmean(b),
            "ratio": ratio, "better_on_every_seed": every,
            "meets_bar": ratio >= BAR and every}


def table(rows: list[dict]) -> str:
    hv = [r for r in rows if r["kind"] == "hv"]
    samplers = list(dict.fromkeys(r["sampler"] for r in rows))
    if not hv:
        srch = [r for r in rows if r["kind"] == "search"]
        return "\n".join(f"seed {r['seed']} {r['sampler']}: {r['trials_done']} trials, front "
                         f"{len(r['front'])} (not re-evaluated yet)" for r in srch)
    by = {(r["seed"], r["sampler"]): r for r in hv}
    seeds = sorted({r["seed"] for r in hv})
    head = "| seed | " + " | ".join(f"{s} HV (trials, front)" for s in samplers) + " |"
    out = [head, "|---|" + "---|" * len(samplers)]
    for seed in seeds:
        cells = []
        for s in samplers:
            r = by.get((seed, s))
            cells.append("—" if r is None else
                         f"{r['hypervolume']:.4f} ({r['trials_done']}, {r['front_size']})")
        out.append(f"| {seed} | " + " | ".join(cells) + " |")
    means = []
    for s in samplers:
        vals = [by[(seed, s)]["hypervolume"] for seed in seeds if (seed, s) in by]
        sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
        means.append(f"{statistics.fmean(vals):.4f} ± {sd:.4f}")
    out.append("| mean ± sd | " + " | ".join(means) + " |")
    ref = hv[0]["reference_point"]
    out.append(f"\nReference point (error, log10 cost): ({ref[0]:g}, {ref[1]:.4f}); every front "
               "design re-trained under " + json.dumps(hv[0]["protocol"]) + ".")
    for s in samplers:
        if s == "random":
            continue
        v = verdict(hv, s)
        if v:
            out.append(f"- {s} / random: mean {v['mean']:.4f} / {v['control_mean']:.4f} = "
                       f"{v['ratio']:.3f}x; better on every seed: "
                       f"{'yes' if v['better_on_every_seed'] else 'no'}; bar (>= {BAR}x and "
                       f"every seed): {'met' if v['meets_bar'] else 'NOT met'}")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="mode", required=True)
    r = sub.add_parser("run")
    r.add_argument("--budget", default="15m")
    r.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    r.add_argument("--samplers", nargs="+", default=["nsga2", "random"])
    r.add_argument("--task", default="mitdb-aami")
    r.add_argument("--goal", default="low-energy")
    r.add_argument("--device", default="up5k")
    r.add_argument("--parallel", type=int, default=len(os.sched_getaffinity(0)),
                   help="searches side by side, one worker each (default: one per core)")
    r.add_argument("--out", type=Path, default=Path("build/bench-wall"))
    r.add_argument("--results", type=Path, default=RESULTS / "search_wall.jsonl")
    for opt, typ in (("--fidelity", float), ("--epochs", int), ("--reeval-fidelity", float),
                     ("--reeval-epochs", int)):  # default: `half run`'s (a smoke test: small)
        r.add_argument(opt, type=typ, default=None)
    t = sub.add_parser("table")
    t.add_argument("file", type=Path, nargs="?", default=RESULTS / "search_wall.jsonl")
    args = ap.parse_args(argv)
    if args.mode == "table":
        print(table([json.loads(x) for x in args.file.read_text().splitlines() if x.strip()]))
        return 0
    if "random" not in args.samplers or len(args.samplers) < 2:
        ap.error("--samplers: random (the control) and at least one other")
    from half.search.study import SAMPLERS, parse_budget

    bad = [s for s in args.samplers if s not in SAMPLERS]
    if bad:
        ap.error(f"--samplers: {bad[0]!r} is not one of {', '.join(SAMPLERS)}")
    if parse_budget(args.budget)[1] is None:
        ap.error(f"--budget: a wall time such as 15m, not {args.budget!r}")
    args.out.mkdir(parents=True, exist_ok=True)
    rows, todo = [], []
    for seed in args.seeds:
        for sampler in args.samplers:
            row = _done_row(args, seed, sampler)
            if row is None:
                todo.append((seed, sampler))
            else:
                print(f"seed {seed} {sampler}: reusing {row['dir']}", file=sys.stderr)
                rows.append(row)
    for i in range(0, len(todo), args.parallel):
        rows += run_searches(args, todo[i:i + args.parallel])
        _write_rows(args.results, rows)
    reev, protocol = reevaluate_fronts(args, rows)
    hv = hv_rows(args, rows, reev, protocol)
    _write_rows(args.results, rows + hv)
    print(table(rows + hv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
