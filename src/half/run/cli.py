# SPDX-License-Identifier: Apache-2.0
"""`half run`: the end-to-end command (a thin layer over `half.run.run_all`). Registered on the
main group by half.cli; progress (stage names, timings, the search's live status) on stderr,
the result on stdout."""

from __future__ import annotations

import time
from pathlib import Path

import click
from rich.markup import escape

from half import _ui
from half.errors import ConfigError
from half.hw.goal import DEFAULT_GOAL
from half.run.pipeline import FOLD_TOLERANCE
from half.run.stages import REFINE_SHARE, STAGES
from half.search.cli import GOAL_HELP, GoalChoice, LiveStatus, _fmt_s, _pairs, _train_options
from half.search.evaluate import DEFAULT_EPOCHS, DEFAULT_FIDELITY

STAGE_NAMES = (*(stage.name for stage in STAGES), "all")


class RunConsole:
    """Stage lines on stderr; the search's and the re-evaluation's live status in between."""

    def __init__(self) -> None:
        self.live: LiveStatus | None = None

    def _line(self, text: str) -> None:
        _ui.err.print(
            f"[{time.strftime('%H:%M:%S')}] {escape(text)}", soft_wrap=True, highlight=False
        )

    def close(self) -> None:
        if self.live is not None:
            self.live.__exit__(None, None, None)
            self.live = None

    def __call__(self, ev: dict) -> None:
        kind = ev.get("event")
        if kind == "stage":
            head = f"[{ev['index']}/{ev['total']}] {ev['stage']}"
            status = ev["status"]
            if status == "start":
                self._line(f"{head}: {ev['message']} ...")
                if ev["stage"] in ("search", "reeval", "refine"):
                    self.live = LiveStatus().__enter__()
                return
            self.close()
            secs = f" ({_fmt_s(ev['seconds'])})" if ev.get("seconds") is not None else ""
            style = {
                "error": "[red]error[/]: ",
                "skipped": "[yellow]skipped[/]: ",
                "reused": "reused: ",
            }.get(status, "")
            _ui.err.print(
                f"[{time.strftime('%H:%M:%S')}] {head}: {style}{escape(ev['message'])}{secs}",
                soft_wrap=True,
                highlight=False,
                markup=True,
            )
        elif kind == "log":
            _ui.err.print(f"    {ev['message']}", soft_wrap=True, highlight=False, markup=False)
        elif kind == "finished":
            self.close()
        elif self.live is not None:
            self.live(ev)


@click.command("run")
@click.option("--task", "task_name", default="mitdb-aami", show_default=True)
@click.option(
    "--goal",
    type=GoalChoice(),
    default=DEFAULT_GOAL,
    show_default=True,
    help=GOAL_HELP,
)
@click.option("--device", default="up5k", show_default=True, help="Device of the catalog.")
@click.option(
    "--budget",
    default=None,
    help="The search's budget: wall time (30m, 2h, 1h30m) or a number of trials. "
    "Re-evaluation, verification and implementation come on top.",
)
@click.option(
    "--accuracy-floor",
    type=float,
    default=None,
    help="Least validation primary metric of the chosen design, absolute (default: the "
    "reference's, see --reference).",
)
@click.option(
    "--fold-tolerance",
    type=click.FloatRange(0, 1),
    default=FOLD_TOLERANCE,
    show_default=True,
    help="Against the reference: the most the chosen design's validation metric may fall "
    "short of the reference's on one fold (its mean must still reach the reference's).",
)
@click.option(
    "--reference",
    default="preset:tiny",
    show_default=True,
    help="The design the chosen one must be at least as good as: preset:NAME, a model run "
    "folder or an architecture file, trained, evaluated and folded as the front designs "
    "are in the re-evaluation; its validation metric (the mean, and every fold within "
    "--fold-tolerance) is the default floor, and the report "
    "shows it beside the chosen design. 'none': no reference (floor: the best re-evaluated "
    "design's minus 0.05).",
)
@click.option(
    "--seed-arch",
    "seed_archs",
    multiple=True,
    type=click.Path(path_type=Path),
    metavar="FILE",
    help="Warm start: an architecture file (.json/.yaml) among the search's first trials; "
    "repeatable.",
)
@click.option(
    "--no-seed-presets",
    is_flag=True,
    help="Do not seed the search with the task's shipped presets (seeded by default).",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--fidelity",
    type=float,
    default=DEFAULT_FIDELITY,
    show_default=True,
    help="Share of the training windows each search candidate trains on.",
)
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    default=DEFAULT_EPOCHS,
    show_default=True,
    help="Training epochs per search candidate.",
)
@click.option(
    "--population",
    type=click.IntRange(min=2),
    default=16,
    show_default=True,
    help="NSGA-II population (trials per generation).",
)
@click.option(
    "--sampler",
    default="nsga2",
    show_default=True,
    help="The search's sampler: nsga2, tpe, surrogate, or random (the control).",
)
@click.option(
    "--rungs",
    default="",
    metavar="SHARExEPOCHS,...",
    help="Costlier search fidelities above --fidelity/--epochs (e.g. 1x12): each batch's "
    "best --promote share is trained again there (see `half search --help`).",
)
@click.option(
    "--promote",
    type=float,
    default=1 / 3,
    show_default="1/3",
    help="Share of a batch of --population trials promoted to the next rung.",
)
@click.option(
    "--precheck",
    default="export",
    show_default=True,
    help="Hardware check before training a candidate: export, bits or off.",
)
@click.option(
    "--rate",
    type=float,
    default=None,
    help="Required inferences/s (default: the task's real-time rate).",
)
@click.option(
    "--refine",
    type=click.IntRange(min=0),
    default=4,
    show_default=True,
    help="Refinement: the reference's one-step neighbours in the search space that cost at "
    f"most {REFINE_SHARE:g}x its estimate, the K closest re-evaluated beside the front "
    "(0: none; the rule: half.search.refine).",
)
@click.option(
    "--reeval-seeds",
    type=int,
    default=1,
    show_default=True,
    help="Seeds each front design is trained again with.",
)
@click.option(
    "--reeval-folds",
    type=int,
    default=3,
    show_default=True,
    help="Patient-wise cross-validation folds (over the train and val records) that rank the "
    "front and the reference; the chosen design and the reference are then trained on all "
    "those records. 0: rank on the validation split.",
)
@click.option(
    "--reeval-fidelity",
    type=float,
    default=1.0,
    show_default=True,
    help="Share of the training windows in the re-evaluation.",
)
@click.option(
    "--reeval-epochs",
    type=click.IntRange(min=1),
    default=None,
    help="Epochs of the re-evaluation (default: the tiny preset recipe's).",
)
@click.option(
    "--verify-windows",
    type=click.IntRange(min=1),
    default=200,
    show_default=True,
    help="Test windows simulated with Verilator.",
)
@click.option("--no-implement", is_flag=True, help="Skip synthesis and place-and-route.")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Parallel trainings (default: one per core).",
)
@click.option(
    "--redo",
    multiple=True,
    type=click.Choice(STAGE_NAMES),
    help="Run this stage again even if its record is valid (repeatable; all).",
)
@click.option(
    "-p",
    "--param",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="Set a task parameter (over the tiny preset's); repeatable.",
)
@click.option(
    "-c",
    "--config",
    "config",
    multiple=True,
    metavar="KEY=VALUE",
    help="Set a training option (lr, batch_size, balance, augment ...).",
)
@click.option(
    "-o",
    "--out",
    "out_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Run folder (a rerun into it resumes); an existing path must be a half run folder, "
    "or give --force.",
)
@click.option("--force", is_flag=True, help="Write into OUT even if it is not a half run folder.")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Data folder (default: half's global --data-dir, then the usual search).",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print run.json on stdout (and nothing else there)."
)
@click.pass_context
def run_cmd(
    ctx: click.Context,
    task_name: str,
    goal: str,
    device: str,
    budget: str | None,
    accuracy_floor: float | None,
    fold_tolerance: float,
    reference: str,
    seed_archs: tuple[Path, ...],
    no_seed_presets: bool,
    seed: int,
    fidelity: float,
    epochs: int,
    population: int,
    sampler: str,
    rungs: str,
    promote: float,
    precheck: str,
    rate: float | None,
    refine: int,
    reeval_seeds: int,
    reeval_folds: int,
    reeval_fidelity: float,
    reeval_epochs: int | None,
    verify_windows: int,
    no_implement: bool,
    workers: int | None,
    redo: tuple[str, ...],
    params: tuple[str, ...],
    config: tuple[str, ...],
    out_dir: Path,
    force: bool,
    data_dir: Path | None,
    as_json: bool,
) -> None:
    """Search, re-evaluate, choose (validation only), test, check the golden model, build,
    verify and implement the design, and write RUN_DIR/report/index.html and run.json.

    \b
    Exit status:
      0  the run finished and its answer holds
      1  a stage failed (run.json `problems`)
      2  bad input
      3  the run finished but its answer is suspect (run.json `warnings`): the chosen design
         is below the reference on the test split, no design reaches the reference's
         validation metric, its metric collapsed between the search and the re-evaluation,
         or it is no better than always answering the commonest class"""
    from half.run.pipeline import RunSettings, run_all

    if data_dir is None and isinstance(ctx.obj, dict):
        data_dir = ctx.obj.get("data_dir")
    if budget is None:
        raise ConfigError(
            "--budget", "give the search's budget: a wall time (30m, 2h) or a number of trials (20)"
        )
    settings = RunSettings(
        task=task_name,
        goal=goal,
        device=device,
        budget=int(budget) if budget.strip().isdigit() else budget,
        accuracy_floor=accuracy_floor,
        fold_tolerance=fold_tolerance,
        reference=None if reference.strip().lower() == "none" else reference,
        seed_presets=not no_seed_presets,
        seed_archs=tuple(str(a) for a in seed_archs),
        seed=seed,
        fidelity=fidelity,
        epochs=epochs,
        population=population,
        sampler=sampler,
        rungs=rungs,
        promote=promote,
        precheck=precheck,
        rate=rate,
        refine=refine,
        reeval_seeds=reeval_seeds,
        reeval_folds=reeval_folds,
        reeval_fidelity=reeval_fidelity,
        reeval_epochs=reeval_epochs,
        verify_windows=verify_windows,
        implement=not no_implement,
        task_params=_pairs(params, "--param"),
        train_options=_train_options(_pairs(config, "--config")),
    )
    console = RunConsole()
    try:
        run = run_all(
            settings,
            out_dir,
            workers=workers,
            data_dir=data_dir,
            redo=redo,
            progress=console,
            force=force,
        )
    finally:
        console.close()
    if as_json:
        _ui.emit_json(run)
    else:
        _print_result(run)
    if run["problems"]:
        _ui.err.print(
            f"[red]half: error:[/] run: {escape('; '.join(run['problems']))} "
            f"(report: {escape(run['report'])})",
            soft_wrap=True,
        )
        ctx.exit(1)
    if run.get("warnings"):
        _ui.err.print(
            f"[red]half: warning:[/] run: {escape('; '.join(run['warnings']))} "
            f"(report: {escape(run['report'])})",
            soft_wrap=True,
        )
        ctx.exit(3)


def _print_result(run: dict) -> None:
    c, t = run["choice"], run["test"]
    if c:
        _ui.out.print(f"chosen {c['chosen']['arch_hash']}: {c['message']}")
    if t:
        key = "macro_f1" if "macro_f1" in t else "f1_nao" if "f1_nao" in t else "accuracy"
        _ui.out.print(f"test {key} {t[key]:.4f} on {t['windows']} windows")
    ref = run.get("reference")
    if ref:

        def fmt(v) -> str:
            return "—" if v is None else f"{v:.4g}"

        _ui.out.print(
            f"reference {escape(ref['spec'])}: validation {ref['metric']} "
            f"{fmt(ref['validation'])}, test {fmt((ref['test'] or {}).get(ref['metric']))}, "
            f"{ref['cost_name']}* {fmt(ref['cost'])}"
        )
    for f in run["figures"]:
        if f["group"] in ("timing", "verification") or f["name"].startswith("energy"):
            star = "*" if f["kind"] == "estimate" else ""
            value = f"{f['value']:.4g}" if isinstance(f["value"], float) else f["value"]
            _ui.out.print(f"{f['name']}{star}: {value} {f['unit']}".rstrip())
    for note in run["notes"]:
        _ui.out.print(f"[yellow]note:[/] {escape(note)}", soft_wrap=True)
    _ui.out.print(
        f"report: {run['report']} (* estimate); summary: {Path(run['run_dir']) / 'run.json'}"
    )
