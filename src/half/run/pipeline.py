# SPDX-License-Identifier: Apache-2.0
"""`half run`: the whole chain for one task, goal and device, into one run folder.

    from half.run import RunSettings, run_all
    run = run_all(RunSettings(task="mitdb-aami", goal="low-energy", device="up5k",
                              budget="30m"), "out/run")
    run["choice"]["chosen"], run["verification"], run["figures"]

The stages (STAGES, in this order), each a plain function in `half.run.stages`:

    search     half.search.run_search into search/ (the budget is the search's own)
    reeval     half.search.reevaluate: the search's feasible front trained again (all training
               windows, the tiny recipe's epochs), measured by patient-wise 3-fold
               cross-validation over the train and val records (`reeval_folds`; 0: on the
               validation split)
    reference  the reference design (default preset:tiny) trained, evaluated and folded as the
               front designs were in `reeval` (half.run.reference)
    refine     the reference's cheaper one-step neighbours in the search space, the
               `refine` closest (default 4) re-evaluated as the front was: the local search
               from the hand-made end (the rule: half.search.refine)
    choose     validation only: the cheapest re-evaluated design on the goal's hardware metric
               that meets the accuracy floor (default: the reference's validation metric).
               After cross-validation it and the reference are trained once more on every
               train and val record (a final fit, `half.search.study.final_spec`); without,
               its best-validation run is kept. The model is copied to model/
    test       the chosen model and the reference on the test split: the first and only use of
               the test split
    golden     the integer golden model against PyTorch on the test split (`half golden`)
    build      the RTL project in project/ (`half build`)
    verify     Verilator against the golden model (`half verify`): project/reports/verify.json
    implement  Yosys + nextpnr (`half implement`): project/reports/implementation.json

and then report/index.html (half.report) and run.json, both written whatever happened.

Records and resume. Every stage writes `stages/<stage>.json`: its inputs key (a digest of the
settings it depends on and of the results of the stages it reads), status, seconds and result.
Run again into the same folder, a stage is reused when its record finished with the same key
and its artefacts are still there; otherwise it runs (and so, when its result changed, do the
stages that read it). `redo` forces stages to run. The search is reused when it finished its
budget; an unfinished (killed) search resumes its study with what is left of the budget (wall
time is counted across runs in search/budget.json), and a larger budget continues it.

Failures. Settings are checked before any work (ConfigError). A stage that fails with a
HalfError (a tool missing or failing, no feasible design) is recorded with its one-line message;
the stages that need its result are skipped and the run ends with `ok` false and the report
saying so. Implementation results such as "does not fit" or "timing not met" are findings, not
failures. Only the stages before `test` (search, re-evaluation, reference, refinement, choice)
read training and validation data;
nothing before `test` loads the test split. A run that finished but whose answer is suspect
(the chosen design below the reference on the test split, no design reaching the reference's
validation metric, a metric that collapsed between the search and the re-evaluation, or one
no better than always answering the commonest class) has `warnings` and `ok` false.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from half._io import write_json_atomic
from half.errors import ConfigError, HalfError
from half.hw.goal import DEFAULT_GOAL, get_goal
from half.search.evaluate import DEFAULT_EPOCHS, DEFAULT_FIDELITY

Progress = Callable[[dict], None]
FLOOR_SLACK = 0.05  # default floor: the best re-evaluated validation metric minus this
FOLD_TOLERANCE = 0.005  # against the reference: the most a design may fall short of it on one
#                         validation fold (its mean must still reach the reference's); chosen by
#                         a leave-one-fold-out check on validation records, docs/RESULTS.md


@dataclass(frozen=True)
class RunSettings:
    """What a run computes (everything its results depend on); see `half run --help`."""

    task: str = "mitdb-aami"
    goal: str = DEFAULT_GOAL  # a name of half.hw.goal.GOALS
    device: str = "up5k"
    budget: str | int = "30m"  # the search's: wall time ("30m", "1h30m") or finished trials
    accuracy_floor: float | None = None  # least validation metric of the chosen design; None:
    #                                      the reference's (below), else the best re-evaluated
    #                                      one's minus FLOOR_SLACK
    fold_tolerance: float = FOLD_TOLERANCE  # against the reference: the most a design may
    #                                         fall short of it on one validation fold
    reference: str | None = "preset:tiny"  # the design to be at least as good as (preset:NAME,
    #                                        run folder, arch file), trained as the front was
    seed_presets: bool = True  # warm start: the task's presets among the first search trials
    seed_archs: tuple[str, ...] = ()  # warm start: architecture files, likewise
    seed: int = 0  # search sampler and training seed (re-evaluation: seed+1 ...)
    fidelity: float = DEFAULT_FIDELITY  # share of the training windows a search candidate
    epochs: int = DEFAULT_EPOCHS  # training epochs of a search candidate
    population: int = 16  # NSGA-II population (trials per generation; a batch for the rungs)
    sampler: str = "nsga2"  # the search's sampler: nsga2, tpe, surrogate or random (the control)
    rungs: str = ""  # costlier search fidelities above (fidelity, epochs): "0.25x4,1x6"
    promote: float = 1 / 3  # share of a batch promoted to the next rung
    precheck: str = "export"  # hardware check before training a candidate (export, bits, off)
    rate: float | None = None  # required inferences/s (None: the task's real-time rate)
    refine: int = 4  # the reference's cheaper one-step neighbours re-evaluated beside the
    #                  front (half.search.refine; 0: none)
    reeval_seeds: int = 1  # seeds each front design is trained again with
    reeval_folds: int = 3  # patient-wise CV folds of the re-evaluation (0: the validation split)
    reeval_fidelity: float = 1.0  # share of the training windows in the re-evaluation
    reeval_epochs: int | None = None  # epochs of the re-evaluation (None: the tiny preset
    #                                   recipe's, else `epochs`)
    verify_windows: int = 200  # test windows simulated by Verilator
    implement: bool = True  # run synthesis and place-and-route
    task_params: dict = field(default_factory=dict)  # over the search's (tiny preset's)
    train_options: dict = field(default_factory=dict)  # TrainConfig fields over the recipe's

    def __post_init__(self) -> None:
        from half.search.study import parse_budget

        parse_budget(self.budget)
        if self.accuracy_floor is not None and not 0 <= self.accuracy_floor <= 1:
            raise ConfigError("accuracy_floor", f"must lie in [0, 1], got {self.accuracy_floor}")
        if not 0 <= self.fold_tolerance <= 1:
            raise ConfigError("fold_tolerance", f"must lie in [0, 1], got {self.fold_tolerance}")
        if self.refine < 0:
            raise ConfigError("refine", f"must be at least 0, got {self.refine}")
        if self.reeval_seeds < 1:
            raise ConfigError("reeval_seeds", f"must be at least 1, got {self.reeval_seeds}")
        if self.reeval_folds == 1 or self.reeval_folds < 0:
            raise ConfigError(
                "reeval_folds", f"0 (the validation split) or at least 2, got {self.reeval_folds}"
            )
        if not 0 < self.reeval_fidelity <= 1:
            raise ConfigError("reeval_fidelity", f"must lie in (0, 1], got {self.reeval_fidelity}")
        if self.reeval_epochs is not None and self.reeval_epochs < 1:
            raise ConfigError("reeval_epochs", f"must be at least 1, got {self.reeval_epochs}")
        if self.verify_windows < 3:  # latency and II are measured on the first three windows
            raise ConfigError("verify_windows", f"must be at least 3, got {self.verify_windows}")
        if self.population < 2:
            raise ConfigError("population", f"must be at least 2, got {self.population}")
        from half.search.study import SAMPLERS, parse_rungs

        if self.sampler not in SAMPLERS:
            raise ConfigError("sampler", f"one of {', '.join(SAMPLERS)}, not {self.sampler!r}")
        parse_rungs(self.rungs)
        if not 0 < self.promote < 1:
            raise ConfigError("promote", f"must lie in (0, 1), got {self.promote}")
        if self.reference is not None and not str(self.reference).strip():
            raise ConfigError(
                "reference",
                "give preset:NAME, a run folder or an architecture file (or None for no reference)",
            )
        object.__setattr__(self, "seed_archs", tuple(str(a) for a in self.seed_archs))
        object.__setattr__(self, "goal", get_goal(self.goal).name)  # a Goal: stored as its name

    def search_spec(self):
        """The search's SearchSpec (validates task, goal, device, fidelity ...). The accuracy
        floor is not a search constraint: it applies to the re-evaluated (full fidelity)
        metrics at the choice, not to the low-fidelity metrics the search sees."""
        from half.search.evaluate import SearchSpec

        return SearchSpec(
            task=self.task,
            goal=self.goal,
            device=self.device,
            fidelity=self.fidelity,
            epochs=self.epochs,
            seed=self.seed,
            rate=self.rate,
            task_params=dict(self.task_params),
            train_options=dict(self.train_options),
            precheck=self.precheck,
        )

    def reeval_protocol(self) -> dict:
        """How the front, the reference and (after cross-validation) the chosen design are
        trained: seeds, folds, fidelity and epochs (None resolved)."""
        from half.search.evaluate import recipe_epochs

        return {
            "seeds": self.reeval_seeds,
            "folds": self.reeval_folds,
            "fidelity": self.reeval_fidelity,
            "epochs": self.reeval_epochs or recipe_epochs(self.task) or self.epochs,
        }

    def to_dict(self) -> dict:
        return json.loads(json.dumps(dataclasses.asdict(self)))


@dataclass
class Ctx:
    """What the stage functions share: settings, folders and the records so far."""

    settings: RunSettings
    run_dir: Path
    spec: Any  # the resolved SearchSpec
    space: Any  # half.nn.space.Space
    workers: int | None
    data_dir: Path | None
    progress: Progress
    records: dict[str, dict] = field(default_factory=dict)

    @property
    def search_dir(self) -> Path:
        return self.run_dir / "search"

    @property
    def model_dir(self) -> Path:
        return self.run_dir / "model"

    @property
    def project(self) -> Path:
        return self.run_dir / "project"

    def result(self, stage: str) -> dict:
        return self.records[stage]["result"]

    def log(self, message: str) -> None:
        self.progress({"event": "log", "message": message})


def _check_inputs(settings: RunSettings, spec, space) -> None:
    """The reference and the warm-start files are read before any work (ConfigError)."""
    from half.run.reference import load_reference
    from half.search.seeds import resolve_seeds

    if settings.reference is not None:
        load_reference(settings.reference, spec)
    resolve_seeds(spec, space, presets=False, files=settings.seed_archs)


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def stage_key(ctx: Ctx, stage) -> str:
    """The inputs key of a stage: its settings and the results of the stages it reads."""
    return _digest(
        {
            "stage": stage.name,
            "settings": stage.settings(ctx),
            "deps": {d: _digest(ctx.records[d]["result"]) for d in stage.deps},
        }
    )


def _record_path(run_dir: Path, name: str) -> Path:
    return run_dir / "stages" / f"{name}.json"


def _load_record(run_dir: Path, name: str) -> dict | None:
    path = _record_path(run_dir, name)
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):  # none, or damaged: the stage runs again
        return None


def run_all(
    settings: RunSettings,
    run_dir: str | Path,
    *,
    workers: int | None = None,
    data_dir: str | Path | None = None,
    space=None,
    redo: tuple[str, ...] = (),
    progress: Progress | None = None,
    force: bool = False,
) -> dict:
    """Run (or resume) every stage into `run_dir`; returns the run summary also written to
    run_dir/run.json (with `ok`, `problems`, every stage's status and the figures), after
    run_dir/report/index.html. `workers`, `data_dir` and `space` (the search space, default
    Space()) are as for `half.search.run_search`; `redo` names stages to run again ("all").
    An existing `run_dir` that is not a half run folder is refused unless `force`."""
    from half.nn.space import Space
    from half.run.stages import STAGES
    from half.run.summary import summarize, write_outputs

    names = [s.name for s in STAGES]
    redo = tuple(redo)
    for name in redo:
        if name != "all" and name not in names:
            raise ConfigError("redo", f"no stage {name!r}; stages: {', '.join(names)}, all")
    if workers is not None and workers < 1:
        raise ConfigError("workers", f"must be at least 1, got {workers}")
    if data_dir is not None and not Path(data_dir).is_dir():
        raise ConfigError("data_dir", f"{data_dir}: no such folder")
    spec = settings.search_spec().resolved()
    _check_inputs(settings, spec, space or Space())
    from half._io import prepare_output

    run_dir = prepare_output(Path(run_dir), "run", force=force).resolve()
    ctx = Ctx(
        settings,
        run_dir,
        spec,
        space or Space(),
        workers,
        None if data_dir is None else Path(data_dir),
        progress or (lambda e: None),
    )
    from half.run.stages import check_resumable

    check_resumable(ctx)
    t_start = time.monotonic()
    for i, stage in enumerate(STAGES):
        ev = {"event": "stage", "stage": stage.name, "index": i + 1, "total": len(STAGES)}
        blocked = [d for d in stage.deps if ctx.records[d]["status"] not in ("done", "reused")]
        if blocked or (stage.enabled and not stage.enabled(ctx)):
            reason = f"{blocked[0]} did not finish" if blocked else stage.disabled_reason
            ctx.records[stage.name] = {
                "stage": stage.name,
                "status": "skipped",
                "reason": reason,
                "result": None,
            }
            ctx.progress({**ev, "status": "skipped", "message": reason})
            continue
        key = stage_key(ctx, stage)
        old = _load_record(run_dir, stage.name)
        if (
            old is not None
            and old.get("status") == "done"
            and old.get("key") == key
            and "all" not in redo
            and stage.name not in redo
            and stage.reusable(ctx, old)
        ):
            ctx.records[stage.name] = {**old, "status": "reused"}
            ctx.progress(
                {
                    **ev,
                    "status": "reused",
                    "message": stage.describe(old),
                    "seconds": old.get("seconds"),
                }
            )
            continue
        ctx.progress({**ev, "status": "start", "message": stage.title})
        t0 = time.monotonic()
        try:
            result, info = stage.run(ctx)
            rec = {
                "stage": stage.name,
                "key": key,
                "status": "done",
                "result": result,
                "info": info,
            }
        except HalfError as exc:
            rec = {
                "stage": stage.name,
                "key": key,
                "status": "error",
                "result": None,
                "info": {},
                "error": " ".join(str(exc).split()),
            }
        rec["seconds"] = round(time.monotonic() - t0, 2)
        rec["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        write_json_atomic(_record_path(run_dir, stage.name), rec)
        ctx.records[stage.name] = rec
        ctx.progress(
            {
                **ev,
                "status": rec["status"],
                "seconds": rec["seconds"],
                "message": rec.get("error") or stage.describe(rec),
            }
        )
    run = summarize(ctx, time.monotonic() - t_start)
    write_outputs(run, run_dir)
    ctx.progress(
        {
            "event": "finished",
            "ok": run["ok"],
            "problems": run["problems"],
            "report": run["report"],
            "run_json": str(run_dir / "run.json"),
        }
    )
    return run


__all__ = ["FLOOR_SLACK", "FOLD_TOLERANCE", "Ctx", "RunSettings", "run_all", "stage_key"]
