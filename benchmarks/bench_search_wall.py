# SPDX-License-Identifier: Apache-2.0
"""Search efficiency at equal wall time (issue 14, "What to show"): the default sampler against
random search, every front design re-trained at the reference fidelity and scored alike.

    .venv/bin/python benchmarks/bench_search_wall.py run --budget 15m --seeds 0 1 2 \
        [--samplers nsga2 random [NAME="HALF SEARCH OPTIONS" ...]] \
        [--task mitdb-aami --goal low-energy --device up5k] \
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
   than its budget. An arm is a sampler's name or NAME=OPTIONS: a name of its own with `half
   search` options over the defaults, e.g. 'nsga2-rungs=--sampler nsga2 --rungs 1x12'.
2. Re-evaluation. The union of every search's front (by architecture hash) is trained once
   under `half run`'s re-evaluation protocol (`RunSettings.reeval_protocol()`: all training
   windows, the tiny recipe's epochs, patient-wise 3-fold CV over the train and val records,
   one seed), with the same training seeds for every design, into OUT/reeval (cached: a
   killed bench resumes there). A design found by several searches is trained once.
3. Hypervolume. Per search, its front's re-evaluated points (mean CV error, log10 of the
   goal's cost on the device, an estimate of the cost model), against one reference point
   for every search of the run: error 1 and the largest cost of the default sampler's
   (nsga2's) and random's fronts + 0.1 decade, so that an arm added later does not move it.
   The issue's bar, for the default sampler only: its mean >= 1.2x random's, and better on
   every seed.

The results file is rewritten after each step (search rows first, then hypervolume rows), so a
partial run still leaves its rows. The test split is never read.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from half._io import write_bytes_atomic, write_json_atomic

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_search's machine record
from bench_search import _machine  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
HALF = Path(sys.executable).with_name("half")
BAR = 1.2
DEFAULT = "nsga2"  # half run's default sampler (RunSettings.sampler): the one the bar is for


def _write_rows(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, "".join(json.dumps(r) + "\n" for r in rows).encode())


def _settings(args, seed: int):
    from half.run import RunSettings

    over = {k: getattr(args, k) for k in ("fidelity", "epochs", "reeval_fidelity",
                                          "reeval_epochs") if getattr(args, k) is not None}
    return RunSettings(task=args.task, goal=args.goal, device=args.device, budget=args.budget,
                       seed=seed, **over)


FIXED = ("--budget", "--trials", "--seed", "--workers", "-o", "--out", "--task", "--goal",
         "--device", "--study", "--storage")  # the same for every arm: not an arm's option


def parse_arm(text: str) -> tuple[str, list[str]]:
    """An arm of the comparison: a sampler's name (nsga2, tpe, random), or NAME=OPTIONS, a
    name of its own and `half search` options over the defaults (e.g.
    'nsga2-rungs=--sampler nsga2 --rungs 1x12'); ValueError for a bad one."""
    name, sep, opts = text.partition("=")
    extra = shlex.split(opts) if sep else ["--sampler", name]
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"{text!r}: an arm needs a plain name")
    fixed = [o for o in extra if o.split("=")[0] in FIXED]
    if fixed:
        raise ValueError(f"{text!r}: {fixed[0]} is the same for every arm (a bench option)")
    return name, extra


def _search_cmd(args, seed: int, arm: str, out: Path, workers: int) -> list[str]:
    s = _settings(args, seed)
    extra = args.arms[arm]
    base = [str(HALF), "search", "--task", s.task, "--goal", s.goal, "--device", s.device,
            "--budget", str(args.budget), "--seed", str(seed),
            "--fidelity", str(s.fidelity), "--epochs", str(s.epochs),
            "--population", str(s.population), "--workers", str(workers), "-o", str(out)]
    return base + extra  # later options win (click): an arm may set fidelity, epochs,
    #                      population, sampler, rungs ...; not those in FIXED


def search_row(args, seed: int, sampler: str, out: Path, wall_s: float | None) -> dict:
    """What one finished search found: trials, its front (genomes for the re-evaluation)."""
    summary = json.loads((out / "search.json").read_text())
    front = json.loads((out / "pareto.json").read_text())["front"]
    st = summary["state"]
    return {"kind": "search", "task": args.task, "goal": args.goal, "device": args.device,
            "budget": args.budget, "seed": seed, "sampler": sampler,
            "options": args.arms.get(sampler), "dir": str(out),
            "wall_s": wall_s, "workers": summary.get("workers"),
            "trials_done": st["trials_done"], "feasible": st["feasible"],
            "stopped": summary.get("stopped"),
            "search_hypervolume": next(iter(((summary.get("hypervolume") or {}).get(
                "hypervolume") or {}).values()), None),
            "front": [{"arch_hash": r["arch_hash"], "genome": r["genome"], "error": r["error"],
                       "cost": r["cost"]} for r in front if r.get("feasible")]}


def _identity(cmd: list[str]) -> list[str]:
    """A search command without what may differ between runs of the same search."""
    out, skip = [], False
    for a in cmd[1:]:
        if skip:
            skip = False
        elif a in ("-o", "--workers"):
            skip = True
        else:
            out.append(a)
    return out


def _done_row(args, seed: int, sampler: str) -> dict | None:
    """The row of a search this bench finished before, if its settings are the ones asked for
    (a SystemExit if they are not: a new --out, or a new arm name)."""
    base = args.out / f"seed{seed}"
    done = base / f"{sampler}.done"
    if not done.is_file():
        return None
    mark = json.loads(done.read_text())
    if mark.get("command") != _identity(_search_cmd(args, seed, sampler, base / sampler, 1)):
        raise SystemExit(f"{done}: that search ran with other settings than these; give a "
                         "new --out (or a new arm name)")
    return search_row(args, seed, sampler, base / sampler, mark.get("wall_s"))


def _stop_orphan(pid_file: Path) -> None:
    """A search left running by a bench killed with SIGKILL (its own process group) is
    stopped before its folder is removed."""
    if not pid_file.is_file():
        return
    pid = int(pid_file.read_text())
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if b"search" in cmdline and os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGTERM)
            while Path(f"/proc/{pid}").exists():
                time.sleep(0.2)
    except (OSError, ProcessLookupError):
        return  # gone


def run_searches(args, jobs: list[tuple[int, str]]) -> list[dict]:
    """Run the (seed, sampler) searches `args.parallel` at a time, one worker each; their rows
    (a search finished before is reused)."""
    procs, rows, failed = {}, [], []
    try:
        for seed, sampler in jobs:
            base = args.out / f"seed{seed}"
            out = base / sampler
            _stop_orphan(base / f"{sampler}.pid")
            if out.exists():  # killed before its budget ran out: start again from nothing
                shutil.rmtree(out)
            base.mkdir(parents=True, exist_ok=True)
            cmd = _search_cmd(args, seed, sampler, out, 1)
            print("$ " + " ".join(cmd), file=sys.stderr, flush=True)
            log = open(base / f"{sampler}.log", "w")
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
            (base / f"{sampler}.pid").write_text(str(proc.pid))
            procs[(seed, sampler)] = (proc, cmd, time.monotonic(), log)
        for (seed, sampler), (proc, cmd, t0, log) in procs.items():
            rc = proc.wait()
            log.close()
            wall = round(time.monotonic() - t0, 1)
            base = args.out / f"seed{seed}"
            if rc != 0:
                failed.append(f"seed {seed} {sampler}: half search exited {rc}; see "
                              f"{base / (sampler + '.log')}")
                continue
            write_json_atomic(base / f"{sampler}.done",
                              {"wall_s": wall, "command": _identity(cmd)})
            rows.append(search_row(args, seed, sampler, base / sampler, wall))
    finally:  # the bench stopped (an error, Ctrl-C): no search may run on without it
        for proc, *_ in procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait()
    if failed:
        raise SystemExit("; ".join(failed))
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
    from half.search.pareto import compare, reference_point

    sets = {f"{r['seed']}/{r['sampler']}": [_point(reev[d["arch_hash"]]) for d in r["front"]]
            for r in rows}
    # one point for every arm, from the default sampler's and random's fronts only: an arm
    # added later does not move the verdict (its designs past the point add nothing)
    pair = [sets[f"{r['seed']}/{r['sampler']}"] for r in rows
            if r["sampler"] in (DEFAULT, "random")]
    c = compare(sets, ref=reference_point(*(pair or sets.values())))
    machine = _machine()
    out = []
    for r in rows:
        key = f"{r['seed']}/{r['sampler']}"
        out.append({"kind": "hv", "task": args.task, "goal": args.goal, "device": args.device,
                    "budget": args.budget, "seed": r["seed"], "sampler": r["sampler"],
                    "protocol": protocol, "reference_point": c["reference_point"],
                    "hypervolume": c["hypervolume"][key], "front_size": len(r["front"]),
                    "nondominated_after_reeval": c["front_size"][key],
                    "trials_done": r["trials_done"], "feasible": r["feasible"],
                    "points": sets[key], **machine})
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
            bar = (f"; the bar (>= {BAR}x and every seed): "
                   f"{'met' if v['meets_bar'] else 'NOT met'}" if s == DEFAULT else "")
            out.append(f"- {s} / random: mean {v['mean']:.4f} / {v['control_mean']:.4f} = "
                       f"{v['ratio']:.3f}x; better on every seed: "
                       f"{'yes' if v['better_on_every_seed'] else 'no'}{bar}")
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

    bad = [s for s in args.samplers if "=" not in s and s not in SAMPLERS]
    if bad:
        ap.error(f"--samplers: {bad[0]!r} is not one of {', '.join(SAMPLERS)} (or NAME=OPTIONS)")
    if parse_budget(args.budget)[1] is None:
        ap.error(f"--budget: a wall time such as 15m, not {args.budget!r}")
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        args.arms = dict(parse_arm(a) for a in args.samplers)
    except ValueError as exc:
        ap.error(f"--samplers: {exc}")
    args.samplers = list(args.arms)
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
