# SPDX-License-Identifier: Apache-2.0
"""`half search`: the hardware-aware architecture search from the command line (a thin layer
over `half.search.run_search`). Register it on the main group with

    cli.add_command(search_cmd)   # from half.search.cli import search_cmd

It also runs alone: `python -m half.search --task mitdb-aami --budget 30m -o out/search`.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from half import _ui
from half.errors import ConfigError
from half.hw.goal import DEFAULT_GOAL, GOALS, get_goal
from half.search.evaluate import DEFAULT_EPOCHS, DEFAULT_FIDELITY

GOAL_HELP = "; ".join(f"{g.name}: {g.description}" for g in GOALS.values()) + "."


class GoalChoice(click.Choice):
    """--goal of `half search` and `half run`: the names of half.hw.goal.GOALS; an unknown one
    is half's one-line ConfigError naming `goal` (as SearchSpec says it), not click's message."""

    def __init__(self) -> None:
        super().__init__(list(GOALS))

    def convert(self, value, param, ctx) -> str:
        return get_goal(value).name


def _pairs(items: tuple[str, ...], option: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(option, f"expected KEY=VALUE, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def _train_options(options: dict[str, str]) -> dict:
    """KEY=VALUE strings converted to the TrainConfig field types (half.nn.config: no torch)."""
    if not options:
        return {}
    from half.nn.config import options_from_strings

    return options_from_strings(options)


def _fmt_s(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


def status_line(state: dict) -> str:
    """One line of progress: generation, trials, best-so-far per objective, elapsed, ETA."""
    if state.get("event") == "reeval":
        return (f"re-evaluating {state.get('what', 'the front')}: {state['done']}/"
                f"{state['total']} runs "
                f"({state['running']} running), {_fmt_s(state['elapsed_s'])} elapsed")
    best = state["best"]
    err = "—" if best["error"] is None else f"{best['error']:.4f}"
    cost = best[state["cost_name"]]
    cost = "—" if cost is None else f"{cost:.4g}"
    gen = "" if state["generation"] is None else f"gen {state['generation']} · "
    target = f"/{state['trials_target']}" if state["trials_target"] else ""
    rungs = ""
    if state.get("rungs"):  # per rung: designs trained there (this run) -> promoted from it
        rungs = " · rungs " + " | ".join(
            f"{r['fidelity']:g}x{r['epochs']}: {r['evaluated'] + r['cached']}"
            + (f"→{r['promoted']}" if r is not state["rungs"][-1] else "")
            + f" {_fmt_s(r['seconds'])}" for r in state["rungs"])
    return (f"{gen}trials {state['trials_done']}{target} done, {state['running']} running, "
            f"{state['infeasible']} infeasible · best error {err}, {state['cost_name']} {cost}"
            f"{rungs} · {_fmt_s(state['elapsed_s'])} elapsed, ETA {_fmt_s(state['eta_s'])}")


class LiveStatus:
    """Renders the search's progress on stderr: a live line on a terminal, else one line each
    time a trial finishes."""

    def __init__(self) -> None:
        self.live = None
        self.last_done = None
        self.is_terminal = _ui.err.is_terminal

    def __enter__(self) -> LiveStatus:
        if self.is_terminal:
            from rich.live import Live

            self.live = Live("", console=_ui.err, transient=True, refresh_per_second=2)
            self.live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self.live is not None:
            self.live.__exit__(*exc)

    def __call__(self, state: dict) -> None:
        event = state.get("event")
        if event == "note":
            _ui.err.print(f"half search: {state['message']}", soft_wrap=True)
            return
        line = status_line(state)
        if self.live is not None:
            self.live.update(line)
            return
        done = (state.get("trials_done"), state.get("done"))
        if event in ("start", "done") or done != self.last_done:
            self.last_done = done
            _ui.err.print(f"[{time.strftime('%H:%M:%S')}] {line}", soft_wrap=True,
                          highlight=False)


@click.command("search")
@click.option("--task", "task_name", default="mitdb-aami", show_default=True)
@click.option("--goal", type=GoalChoice(), default=DEFAULT_GOAL, show_default=True,
              help=GOAL_HELP)
@click.option("--device", default="up5k", show_default=True, help="Device of the catalog.")
@click.option("--budget", default=None, help="Wall time (30m, 2h, 1h30m) or a number of trials.")
@click.option("--trials", type=click.IntRange(min=1), default=None,
              help="Finished trials the study should hold (a resumed study continues to it).")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Parallel evaluations (default: one per core; Ray: the cluster's CPUs).")
@click.option("--study", "study_name", default=None,
              help="Study name; the same name (and storage) resumes it. Default "
                   "TASK-DEVICE-GOAL-SAMPLER.")
@click.option("--storage", default=None,
              help="SQLAlchemy URL of the study storage (default: sqlite in the output folder).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--fidelity", type=float, default=DEFAULT_FIDELITY, show_default=True,
              help="Share of the training windows each candidate trains on.")
@click.option("--epochs", type=click.IntRange(min=1), default=DEFAULT_EPOCHS,
              show_default=True,
              help="Training epochs per candidate.")
@click.option("--population", type=click.IntRange(min=2), default=16, show_default=True,
              help="NSGA-II population (trials per generation).")
@click.option("--sampler", default="nsga2", show_default=True,
              help="nsga2, tpe (multi-objective TPE with the constant liar), surrogate "
                   "(random candidates screened by predicted error and cost), or random (the "
                   "baseline).")
@click.option("--rungs", default="", show_default=True, metavar="SHARExEPOCHS,...",
              help="Costlier fidelities above --fidelity/--epochs, e.g. 0.5x12,1x12: per batch "
                   "of --population trials the best --promote share (non-dominated sorting on "
                   "error x cost) is trained again at the next rung; the front uses the "
                   "highest rung each design reached. Empty: one rung.")
@click.option("--promote", type=float, default=1 / 3, show_default="1/3",
              help="Share of a batch's designs promoted to the next rung.")
@click.option("--seed-arch", "seed_archs", multiple=True, type=click.Path(path_type=Path),
              metavar="FILE",
              help="Warm start: an architecture (.json/.yaml, as `half train --arch` reads) "
                   "among the first trials of a new study; repeatable.")
@click.option("--no-seed-presets", is_flag=True,
              help="Do not seed a new study with the task's shipped presets (seeded by "
                   "default).")
@click.option("--rate", type=float, default=None,
              help="Required inferences/s (default: the task's real-time rate).")
@click.option("--accuracy-floor", type=float, default=None,
              help="Least validation primary metric a candidate must reach.")
@click.option("--precheck", default="export", show_default=True,
              help="Hardware check before training: export, bits or off.")
@click.option("--reeval-seeds", type=int, default=0, show_default=True,
              help="Retrain each front candidate with this many new seeds (0 = skip).")
@click.option("--reeval-folds", type=int, default=0, show_default=True,
              help="Measure the re-evaluation by patient-wise K-fold cross-validation over "
                   "the train and val records (0 = on the validation split).")
@click.option("--reeval-fidelity", type=float, default=1.0, show_default=True)
@click.option("--reeval-epochs", type=click.IntRange(min=1), default=None,
              help="Epochs of the re-evaluation (default: --epochs).")
@click.option("--ray-address", default=None,
              help="Evaluate on Ray: an address for ray.init (auto, ray://HOST:10001) or "
                   "'local' for a private local instance.")
@click.option("-p", "--param", "params", multiple=True, metavar="KEY=VALUE",
              help="Set a task parameter (over the tiny preset's); repeatable.")
@click.option("-c", "--config", "config", multiple=True, metavar="KEY=VALUE",
              help="Set a training option (lr, batch_size, balance, augment ...).")
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(path_type=Path),
              help="Output folder (study, cache, run folders, search.json, pareto.json); an "
                   "existing path must be a half search folder (it resumes), or give --force.")
@click.option("--force", is_flag=True,
              help="Write into OUT even if it is not a half search folder (nothing is removed).")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="Data folder (default: half's global --data-dir, then the usual search).")
@click.option("--heartbeat-interval", type=int, default=10, hidden=True)
@click.option("--grace-period", type=int, default=None, hidden=True)
@click.option("--json", "as_json", is_flag=True,
              help="Print the result as JSON on stdout (and nothing else there).")
@click.pass_context
def search_cmd(ctx: click.Context, task_name: str, goal: str, device: str, budget: str | None,
               trials: int | None, workers: int | None, study_name: str | None,
               storage: str | None, seed: int, fidelity: float, epochs: int, population: int,
               sampler: str, rungs: str, promote: float, seed_archs: tuple[Path, ...],
               no_seed_presets: bool, rate: float | None, accuracy_floor: float | None,
               precheck: str,
               reeval_seeds: int, reeval_folds: int, reeval_fidelity: float,
               reeval_epochs: int | None, ray_address: str | None,
               params: tuple[str, ...], config: tuple[str, ...],
               out_dir: Path, force: bool, data_dir: Path | None, heartbeat_interval: int,
               grace_period: int | None, as_json: bool) -> None:
    """Hardware-aware architecture search (NSGA-II): validation error vs the goal's hardware
    cost on the device, under fit and real-time constraints. Never looks at the test split."""
    from half.search.evaluate import SearchSpec
    from half.search.study import parse_budget, parse_rungs, run_search

    if data_dir is None and isinstance(ctx.obj, dict):
        data_dir = ctx.obj.get("data_dir")
    budget_trials, budget_s = parse_budget(budget)
    if trials is not None and budget_trials is not None and trials != budget_trials:
        raise ConfigError("--trials", f"{trials} contradicts --budget {budget}")
    trials = trials if trials is not None else budget_trials
    if reeval_seeds < 0:
        raise ConfigError("--reeval-seeds", f"must be >= 0, got {reeval_seeds}")
    if not 0 < reeval_fidelity <= 1:
        raise ConfigError("--reeval-fidelity", f"must lie in (0, 1], got {reeval_fidelity}")
    if reeval_folds == 1 or reeval_folds < 0:
        raise ConfigError("--reeval-folds", f"0 or at least 2, got {reeval_folds}")
    if reeval_folds and not reeval_seeds:
        raise ConfigError("--reeval-folds", "needs --reeval-seeds (1 or more): without it the "
                          "front is not re-evaluated")
    spec = SearchSpec(task=task_name, goal=goal, device=device, fidelity=fidelity,
                      epochs=epochs, seed=seed, rate=rate, accuracy_floor=accuracy_floor,
                      task_params=_pairs(params, "--param"),
                      train_options=_train_options(_pairs(config, "--config")),
                      precheck=precheck)
    with LiveStatus() as live:
        summary = run_search(spec, out_dir, trials=trials, time_budget_s=budget_s,
                             workers=workers, study_name=study_name, storage=storage,
                             sampler=sampler, population=population, ray_address=ray_address,
                             data_dir=data_dir, progress=live,
                             heartbeat_interval=heartbeat_interval, grace_period=grace_period,
                             reeval_seeds=reeval_seeds, reeval_fidelity=reeval_fidelity,
                             reeval_epochs=reeval_epochs, reeval_folds=reeval_folds,
                             force=force,
                             seed_presets=not no_seed_presets, seed_archs=seed_archs,
                             rungs=parse_rungs(rungs), promote=promote)
    if as_json:
        _ui.emit_json(summary)
        return
    _print_summary(summary)


def _print_summary(s: dict) -> None:
    from rich.table import Table

    st = s["state"]
    run = s["this_run"]
    cost = s["spec"]["goal"], st["cost_name"]
    _ui.out.print(f"study {s['study']} ({s['sampler']}, {s['backend']} x{s['workers']}): "
                  f"{st['trials_done']} trials, {st['feasible']} feasible; this run "
                  f"{run['told']} told, {run['evaluated']} evaluated, {run['cached']} cached, "
                  f"{run['failed']} failed in {_fmt_s(s['seconds'])} (stopped: {s['stopped']})")
    table = Table("trial", "arch", "val metric", "error", f"{cost[1]}*", "params", "MACs",
                  title=f"Pareto front: validation error vs {cost[0]} on {s['spec']['device']} "
                  "(* estimate)")
    for r in s["front"]:
        table.add_row(str(r["trial"]), str(r["arch_hash"]), f"{r['val_metric']:.4f}",
                      f"{r['error']:.4f}", f"{r['cost']:.4g}", str(r["params"]), str(r["macs"]))
    _ui.out.print(table)
    rungs = (s.get("rungs") or {}).get("this_run") or []
    if len(rungs) > 1:
        t = Table("rung", "share x epochs", "trained", "cached", "promoted", "told at it",
                  "seconds", title=f"rungs (this run; promote {s['rungs']['promote']:.2g} of "
                  "each batch)")
        for r in rungs:
            t.add_row(str(r["rung"]), f"{r['fidelity']:g} x {r['epochs']}", str(r["evaluated"]),
                      str(r["cached"]), str(r["promoted"]), str(r["told"]),
                      f"{r['seconds']:.0f}")
        _ui.out.print(t)
    hv = s["hypervolume"]
    _ui.out.print(f"hypervolume (error x log10 {cost[1]}, ref {hv['reference_point']}): "
                  f"{hv['hypervolume'][s['sampler']]:.4g}")
    if s.get("reevaluation"):
        re = s["reevaluation"]
        t = Table("arch", "search error", "error mean ± std", f"{cost[1]} mean ± std",
                  "feasible", title=f"front re-evaluated: seeds {re['seeds']}, fidelity "
                  f"{re['fidelity']}, {re['epochs']} epochs")
        for c in re["candidates"]:
            cm = "—" if c["cost_mean"] is None else f"{c['cost_mean']:.4g} ± {c['cost_std']:.2g}"
            t.add_row(c["arch_hash"], f"{c['search']['error']:.4f}",
                      f"{c['error_mean']:.4f} ± {c['error_std']:.4f}", cm,
                      f"{c['feasible_runs']}/{len(c['runs'])}")
        _ui.out.print(t)
    _ui.out.print(f"results: {s['out_dir']}/search.json, {s['out_dir']}/pareto.json")


def main(argv: list[str] | None = None) -> None:
    """`python -m half.search ...`: the command without the `half` group (see half._entry)."""
    from half._entry import main as entry

    entry(argv, command="search")
