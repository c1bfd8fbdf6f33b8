# SPDX-License-Identifier: Apache-2.0
"""The search: an Optuna multi-objective study over the Space genome (NSGA-II, TPE, the
surrogate-screened sampler of `half.search.surrogate`, or random search as the baseline),
candidates evaluated by `half.search.evaluate` on local workers or Ray.

    from half.search import SearchSpec, run_search
    res = run_search(SearchSpec(task="mitdb-aami", goal="low-energy", device="up5k"),
                     "out/search", trials=200, time_budget_s=3600)

How it runs. One search process drives the study with ask-and-tell: it asks Optuna for a trial,
decodes its genome (an invalid genome or one whose weights cannot fit the device is told at
once, never trained), looks the architecture up in the result cache, and otherwise hands the
genome to a worker; results are told as they arrive. NSGA-II runs generation by generation: the
trials of generation g+1 are asked only once every trial of generation g is told, so the genomes
depend on the seed alone, not on which worker finished first.

Warm start (`half.search.seeds`). A new study's first trials are the task's shipped presets
(`seed_presets`, default on) and the user's architecture files (`seed_archs`), enqueued in that
order; the sampler fills the rest of generation 0. A resumed study is never seeded again.

Storage and resume. The study lives in `OUT/study.db` (SQLite) unless `storage` names another
SQLAlchemy URL; `study_name` (default `<task>-<device>-<goal>-<sampler>`) selects it, and
running again with the same name resumes it: finished trials are kept, and the search process
records a heartbeat for each running trial, so trials left RUNNING by a killed process go stale
after the grace period, are marked FAIL and are retried with the same genome
(RetryHeartbeatStaleTrialCallback). A resumed study must have the same SearchSpec.

Budget: `trials` counts the study's finished trials (a resumed study continues to that total);
`time_budget_s` is this run's wall time (no trial starts after it; running ones finish).

Artefacts in OUT: `cache/<spec key>/<arch hash>.json` (one result per architecture),
`runs/<spec key>/<arch hash>/` (the run folder of every trained candidate: weights, QONNX,
metrics, hardware.json), `search.json` (summary of the last run) and `pareto.json` (the feasible
front, and its re-evaluation with more seeds at full fidelity when asked for).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import dataclasses
import json
import math
import os
import socket
import statistics
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from half._io import atomic_dir, prepare_output, write_json_atomic
from half.errors import ConfigError, HalfError
from half.nn.space import Space
from half.search.evaluate import SearchSpec, result_values, static_check
from half.search.executors import Executor, default_workers, make_executor
from half.search.pareto import compare, pareto_front
from half.search.seeds import SEED_ATTR, enqueue_seeds, resolve_seeds

SAMPLERS = ("nsga2", "tpe", "random", "surrogate")
GEN_KEY = "NSGAIISampler:generation"  # where NSGAIISampler keeps a trial's generation
Progress = Callable[[dict], None]


# -- storage and study ------------------------------------------------------------------------
@contextlib.contextmanager
def _quiet_optuna():
    """Optuna warns that heartbeats are meant for Study.optimize (the search records them
    itself, for ask-and-tell) and that the stale-trial helpers are experimental."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed")
        yield


def _fail_stale(study) -> None:
    import optuna

    with _quiet_optuna():
        optuna.storages.fail_stale_trials(study)


def storage_url(out_dir: Path, storage: str | None) -> str:
    return storage or f"sqlite:///{(Path(out_dir) / 'study.db').resolve()}"


def open_storage(url: str, heartbeat_interval: int = 10, grace_period: int | None = None):
    """An RDB storage with heartbeats: trials of a killed process go stale and are retried."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=3)
    kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    try:
        with _quiet_optuna():
            return optuna.storages.RDBStorage(
                url, engine_kwargs=kwargs, heartbeat_interval=int(heartbeat_interval),
                grace_period=grace_period if grace_period is None else int(grace_period),
                heartbeat_stale_trial_callback=retry)
    except Exception as exc:  # sqlalchemy's many errors for a bad URL or unreachable server
        brief = " ".join(str(exc).split())[:200]
        raise ConfigError("storage", f"cannot open {url!r} ({brief})") from None


def gene_distributions(space: Space) -> dict:
    """One integer parameter per gene (an index into that gene's choices)."""
    from optuna.distributions import IntDistribution

    return {name: IntDistribution(0, n - 1) for name, n in space.genes()}


def make_sampler(kind: str, seed: int, population: int):
    import optuna

    if kind == "nsga2":
        return optuna.samplers.NSGAIISampler(population_size=population, seed=seed)
    if kind == "tpe":  # multi-objective TPE; the constant liar keeps parallel workers apart
        return optuna.samplers.TPESampler(seed=seed, constant_liar=True,
                                          n_startup_trials=population)
    if kind in ("random", "surrogate"):  # surrogate: random until it proposes (enqueued)
        return optuna.samplers.RandomSampler(seed=seed)
    raise ConfigError("sampler", f"one of {', '.join(SAMPLERS)}, not {kind!r}")


def _identity(spec: SearchSpec, space: Space, sampler: str, population: int,
              rungs: tuple = (), promote: float = 1 / 3) -> dict:
    d = spec.resolved().to_dict()
    d.pop("threads")
    out = {"spec": d, "genes": [list(g) for g in space.genes()],
           "space": json.loads(json.dumps(dataclasses.asdict(space))), "sampler": sampler,
           "population": population if sampler in ("nsga2", "tpe") or rungs else None}
    if rungs:  # a single-rung study keeps the identity it had before rungs existed
        out["rungs"] = [[float(f), int(e)] for f, e in rungs]
        out["promote"] = float(promote)
    return out


def open_study(spec: SearchSpec, out_dir: Path, *, study_name: str | None = None,
               storage: str | None = None, sampler: str = "nsga2", population: int = 16,
               space: Space | None = None, heartbeat_interval: int = 10,
               grace_period: int | None = None, rungs: tuple = (), promote: float = 1 / 3):
    """Create or resume the study; a resumed one must have been made with the same settings."""
    import optuna

    space = space or Space()
    name = study_name or default_study_name(spec, sampler)
    url = storage_url(out_dir, storage)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    store = open_storage(url, heartbeat_interval, grace_period)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(storage=store, study_name=name, load_if_exists=True,
                                directions=["minimize", "minimize"],
                                sampler=make_sampler(sampler, spec.seed, population))
    ident = _identity(spec, space, sampler, population, rungs, promote)
    old = study.user_attrs.get("half")
    if old is None:
        study.set_user_attr("half", ident)
        with _quiet_optuna():
            study.set_metric_names(["error", spec.cost_name])
    elif old != ident:
        raise ConfigError("study", f"{name!r} in {url} was made with other settings "
                          f"({_first_difference(old, ident)}); give another --study name or "
                          "output folder")
    return study, url


def _first_difference(old: dict, new: dict, where: str = "") -> str:
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if a != b:
            if isinstance(a, dict) and isinstance(b, dict):
                return _first_difference(a, b, f"{where}{key}.")
            return f"{where}{key} was {json.dumps(a)}, now {json.dumps(b)}"
    return "?"


def default_study_name(spec: SearchSpec, sampler: str = "nsga2") -> str:
    return f"{spec.task}-{spec.device}-{spec.goal}-{sampler}"


# -- budget ----------------------------------------------------------------------------------
def parse_budget(text: str | int | float | None) -> tuple[int | None, float | None]:
    """(trials, seconds) from a budget: "30m", "2h", "1h30m", "45s", "90" or 90 (trials)."""
    if text is None:
        return None, None
    if isinstance(text, int | float) and not isinstance(text, bool):
        if text < 1 or int(text) != text:
            raise ConfigError("budget", f"a number of trials must be a positive integer, got "
                              f"{text!r}")
        return int(text), None
    s = str(text).strip().lower().replace(" ", "")
    if s.isdigit():
        return parse_budget(int(s))
    units = {"h": 3600.0, "m": 60.0, "s": 1.0}
    total, num = 0.0, ""
    for ch in s:
        if ch.isdigit() or ch == ".":
            num += ch
        elif ch in units and num:
            try:
                total += float(num) * units[ch]
            except ValueError:
                num = "!"
                break
            num = ""
        else:
            num = "!"
            break
    if num or total <= 0:
        raise ConfigError("budget", f"expected a number of trials (e.g. 200) or a wall time "
                          f"(e.g. 30m, 2h, 1h30m, 45s), got {text!r}")
    return None, total


# -- results on disk -------------------------------------------------------------------------
class ResultStore:
    """The result cache (one JSON file per architecture and SearchSpec key) and the run folders
    of trained candidates, under the output folder."""

    def __init__(self, out_dir: str | Path, keep_runs: bool = True) -> None:
        self.out_dir, self.keep_runs = Path(out_dir), keep_runs

    def cache_path(self, spec: SearchSpec, arch_hash: str) -> Path:
        return self.out_dir / "cache" / spec.key() / f"{arch_hash}.json"

    def run_dir(self, spec: SearchSpec, arch_hash: str) -> Path:
        return self.out_dir / "runs" / spec.key() / arch_hash

    def get(self, spec: SearchSpec, arch_hash: str | None) -> dict | None:
        if arch_hash is None:
            return None
        path = self.cache_path(spec, arch_hash)
        if not path.is_file():
            return None
        try:
            rec = json.loads(path.read_text())
        except ValueError:  # a damaged entry is computed again
            return None
        if self.keep_runs and rec.get("run_dir") and not Path(rec["run_dir"]).is_dir():
            return None  # its run folder was deleted: trained again
        return rec

    def put(self, spec: SearchSpec, rec: dict, files: dict[str, bytes]) -> dict:
        """Write the run folder (if any files) and the cache entry; the record gets run_dir."""
        if rec.get("arch_hash") is None:
            return rec
        if files and self.keep_runs:
            folder = self.run_dir(spec, rec["arch_hash"])
            with atomic_dir(folder) as tmp:
                for name, data in files.items():
                    (tmp / name).write_bytes(data)
            rec = {**rec, "run_dir": str(folder)}
        write_json_atomic(self.cache_path(spec, rec["arch_hash"]), rec)
        return rec


def train_all(store: ResultStore, jobs: list[tuple[SearchSpec, Any, str]], *,
              workers: int | None, threads: int, data_dir: str | Path | None,
              space: Space) -> list[dict]:
    """The records of `jobs` ((spec, genome or Arch, arch hash) each): from the store where it
    holds them, else evaluated in parallel (at most `workers`) and put into it. In order."""
    results: dict[int, dict] = {}
    todo = {}
    for i, (spec, _, hash_) in enumerate(jobs):
        rec = store.get(spec, hash_)
        if rec is None:
            todo[i] = jobs[i]
        else:
            results[i] = rec
    if todo:
        n = min(len(todo), workers or default_workers(threads))
        executor = make_executor(n, threads, data_dir, space)
        futures = {executor.submit(spec, what): i for i, (spec, what, _) in todo.items()}
        try:
            for fut in cf.as_completed(futures):
                rec, files = fut.result()
                results[futures[fut]] = store.put(jobs[futures[fut]][0], rec, files)
        finally:
            executor.close(cancel=any(not f.done() for f in futures))
    return [results[i] for i in range(len(jobs))]


# -- the search ------------------------------------------------------------------------------
@dataclasses.dataclass
class _Pending:
    future: cf.Future
    spec: SearchSpec
    genome: list[int]
    arch_hash: str | None
    trials: list  # optuna Trials waiting for this evaluation
    started: float
    rung: int = 0  # the fidelity rung this evaluation runs at
    batch: int = 0  # the trials' batch (NSGA-II: their generation), see Search._batch_of
    history: dict = dataclasses.field(default_factory=dict)  # rung -> validation metric
    rec: dict | None = None  # the result at `rung` while parked
    cached: bool = False


class Search:
    """The ask-and-tell loop of one run (see the module doc). `run_search` is the entry."""

    def __init__(self, spec: SearchSpec, out_dir: str | Path, *, trials: int | None = None,
                 time_budget_s: float | None = None, workers: int | None = None,
                 study_name: str | None = None, storage: str | None = None,
                 sampler: str = "nsga2", population: int = 16,
                 ray_address: str | None = None, data_dir: str | Path | None = None,
                 space: Space | None = None, progress: Progress | None = None,
                 heartbeat_interval: int = 10, grace_period: int | None = None,
                 keep_runs: bool = True, seed_presets: bool = True,
                 seed_archs: tuple[str | Path, ...] | list[str | Path] = (),
                 rungs: tuple | list = (), promote: float = 1 / 3) -> None:
        if trials is None and time_budget_s is None:
            raise ConfigError("budget", "give a number of trials, a wall-time budget, or both")
        if trials is not None and trials < 1:
            raise ConfigError("trials", f"must be at least 1, got {trials}")
        if time_budget_s is not None and not time_budget_s > 0:
            raise ConfigError("budget", f"the wall time must be positive, got {time_budget_s}")
        if workers is not None and workers < 1:
            raise ConfigError("workers", f"must be at least 1, got {workers}")
        if sampler not in SAMPLERS:
            raise ConfigError("sampler", f"one of {', '.join(SAMPLERS)}, not {sampler!r}")
        if population < 2:
            raise ConfigError("population", f"must be at least 2, got {population}")
        if heartbeat_interval < 1:
            raise ConfigError("heartbeat_interval", f"must be at least 1 s, got "
                              f"{heartbeat_interval}")
        if data_dir is not None and not Path(data_dir).is_dir():
            raise ConfigError("data_dir", f"{data_dir}: no such folder")
        if not 0 < promote < 1:
            raise ConfigError("promote", f"must lie in (0, 1), got {promote}")
        self.spec = spec.resolved()
        self.rungs = tuple(parse_rungs(rungs)) if isinstance(rungs, str) else \
            tuple((float(f), int(e)) for f, e in rungs)
        self.promote = float(promote)
        # rung 0 is the spec's own fidelity; each further rung trains on more windows or for
        # more epochs (its own SearchSpec, so its results are cached apart)
        self.rung_specs = [self.spec] + [
            dataclasses.replace(self.spec, fidelity=f, epochs=e, precheck="bits").resolved()
            for f, e in self.rungs]
        _check_ladder([(s.fidelity, s.epochs) for s in self.rung_specs])
        self.space = space or Space()
        self.spec.arch_shape()  # task parameters are valid
        # warm start: read and check every seed before anything is written
        self.seeds, self.seed_notes = resolve_seeds(self.spec, self.space, presets=seed_presets,
                                                    files=tuple(seed_archs))
        self.out_dir = Path(out_dir)
        self.trials, self.time_budget_s = trials, time_budget_s
        self.workers = workers
        self.study_name, self.storage = study_name, storage
        self.sampler, self.population = sampler, population
        self.ray_address, self.data_dir = ray_address, data_dir
        self.progress = progress or (lambda state: None)
        self.heartbeat_interval, self.grace_period = heartbeat_interval, grace_period
        self.results = ResultStore(out_dir, keep_runs)
        self._foreign: set[int] = set()  # RUNNING trials of another process, not waited for
        self.names = [name for name, _ in self.space.genes()]
        self.dists = gene_distributions(self.space)
        self.pending: dict[int, _Pending] = {}  # by the number of its first trial
        # trained at a rung below the top, waiting for their batch's promotion decision
        self.parked: dict[int, _Pending] = {}
        self.rung_stats = [{"evaluated": 0, "cached": 0, "promoted": 0, "told": 0,
                            "seconds": 0.0} for _ in self.rung_specs]
        self._out_of_time = False
        self.stats = {"told": 0, "evaluated": 0, "cached": 0, "infeasible": 0, "failed": 0,
                      "eval_seconds": [], "trained_seconds": []}
        self._lock = threading.Lock()
        self._failures_in_a_row = 0

    # -- the loop ----------------------------------------------------------------------------
    def run(self) -> dict:
        t_start = time.monotonic()
        self.study, self.url = open_study(
            self.spec, self.out_dir, study_name=self.study_name, storage=self.storage,
            sampler=self.sampler, population=self.population, space=self.space,
            heartbeat_interval=self.heartbeat_interval, grace_period=self.grace_period,
            rungs=self.rungs, promote=self.promote)
        self.storage_obj = self.study._storage
        self._recover_stale()
        self._warm_start()
        threads = self.spec.threads
        workers = self.workers or (None if self.ray_address else default_workers(threads))
        self.executor: Executor = make_executor(workers or 0, threads, self.data_dir,
                                                self.space, self.ray_address)
        self._emit("start", t_start)
        stop_heart = threading.Event()
        heart = threading.Thread(target=self._heartbeat, args=(stop_heart,), daemon=True)
        heart.start()
        stopped = "budget"
        try:
            while True:
                out_of_time = (self.time_budget_s is not None
                               and time.monotonic() - t_start >= self.time_budget_s)
                self._out_of_time = out_of_time
                # a batch whose rung is complete: promote its best, tell the rest (out of
                # time: no promotion starts, every parked trial is told at its rung)
                self._promote(final=out_of_time)
                while not out_of_time and self._busy() < self.executor.workers \
                        and self._can_ask():
                    self._ask_one()
                if not self.pending:
                    if out_of_time or self._finished() >= (self.trials or math.inf):
                        stopped = "time" if out_of_time else "trials"
                        break
                    if not self._can_ask():  # e.g. a foreign RUNNING trial holds the barrier
                        time.sleep(1.0)
                        _fail_stale(self.study)
                        continue
                futures = {p.future: key for key, p in self.pending.items()}
                done, _ = cf.wait(futures, timeout=1.0, return_when=cf.FIRST_COMPLETED)
                for fut in done:
                    self._collect(futures[fut])
                self._emit("tick", t_start)
        except KeyboardInterrupt:
            stopped = "interrupted"
            raise
        finally:
            stop_heart.set()
            interrupted = stopped == "interrupted" or any(not p.future.done()
                                                          for p in self.pending.values())
            if self.pending or self.parked:
                self._abandon()
            self.executor.close(cancel=interrupted)
            self.summary = self._summary(t_start, stopped)
            if stopped != "interrupted":
                self._emit("done", t_start)
        return self.summary

    def _busy(self) -> int:
        return len(self.pending)

    def _held(self) -> list:
        """This process's trials not yet told: evaluating, or parked between rungs."""
        return [t for p in (*self.pending.values(), *self.parked.values()) for t in p.trials]

    def _finished(self) -> int:
        from optuna.trial import TrialState

        return len(self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))

    def _can_ask(self) -> bool:
        """NSGA-II generations are asked one at a time: a trial that would open generation g+1
        waits until every trial of generation g is told."""
        from optuna.trial import TrialState

        trials = self.study.get_trials(deepcopy=False)
        complete = sum(t.state == TrialState.COMPLETE for t in trials)
        running = len(self._held())
        if self.trials is not None and complete + running >= self.trials:
            return False
        if self.sampler == "surrogate":  # see surrogate_pick: it reads trials below the cutoff
            if any(t.state == TrialState.WAITING for t in trials):
                return True  # queued (seeded or retried) trials: nothing is proposed for them
            cutoff = len(trials) - self.executor.workers + 1
            return not any(p.rung == 0 and min(t.number for t in p.trials) < cutoff
                           for p in self.pending.values())
        if self.sampler != "nsga2":
            return True
        gens = [t.system_attrs.get(GEN_KEY, -1) for t in trials if t.state == TrialState.COMPLETE]
        top = max([0, *gens])
        count = sum(g == top for g in gens)
        if any(t.state == TrialState.RUNNING and t.number not in self._mine()
               and t.number not in self._foreign for t in trials):
            return False  # a trial of a killed run that has not gone stale yet
        mine = [self._generation(t) for t in self._held()]
        if count >= self.population:  # a new trial opens (or joins) generation top + 1
            return sum(g == top + 1 for g in mine) < self.population
        return count + sum(g == top for g in mine) < self.population

    def _mine(self) -> set[int]:
        return {t.number for t in self._held()}

    def _generation(self, trial) -> int:
        return self.storage_obj.get_trial_system_attrs(trial._trial_id).get(GEN_KEY, -1)

    def _warm_start(self) -> None:
        """Enqueue the seeds into a new study; on a resumed one, say if they changed."""
        for note in self.seed_notes:
            self._note(note)
        sources = [s.source for s in self.seeds]
        if enqueue_seeds(self.study, self.space, self.seeds) is not None:
            self.study.set_user_attr("half_seeds", sources)
            if sources:
                self._note(f"warm start: {len(sources)} architecture(s) seeded as the first "
                           f"trials ({', '.join(sources)})")
        elif self.study.user_attrs.get("half_seeds", []) != sources:
            self._note("warm start: seeds are added when a study starts; this one started with "
                       f"{self.study.user_attrs.get('half_seeds') or 'none'}, the seeds given "
                       "now are not added")

    def _propose(self) -> None:
        """The surrogate sampler: enqueue the design `surrogate_pick` chooses for the trial
        about to be asked. Seeded or retried trials waiting in the queue go first."""
        from optuna.trial import TrialState

        trials = self.study.get_trials(deepcopy=False)
        if any(t.state == TrialState.WAITING for t in trials):
            return
        workers = self.executor.workers
        pick = surrogate_pick(self.spec, self.space, trials, workers)
        if pick is not None:
            self.study.enqueue_trial(
                dict(zip(self.names, pick["genome"], strict=True)),
                user_attrs={"proposed": {**{k: v for k, v in pick.items() if k != "genome"},
                                         "workers": workers}})

    def _ask_one(self) -> None:
        if self.sampler == "surrogate":
            self._propose()
        with _quiet_optuna():
            trial = self.study.ask(fixed_distributions=self.dists)
        if self.sampler == "surrogate" and \
                "failed_trial" in self.storage_obj.get_trial_system_attrs(trial._trial_id):
            # a retried trial: its user attributes are copies of the failed one's
            for key in ("proposed", "first"):
                if trial.user_attrs.get(key) is not None:
                    trial.set_user_attr(key, None)
        # an enqueued (seeded) trial has every parameter fixed: NSGA-II samples nothing for it
        # and so never gives it a generation; give it the one it would have (the seeds join
        # generation 0 and are parents of the next)
        generation_of = getattr(self.study.sampler, "get_trial_generation", None)
        if generation_of is not None:
            generation_of(self.study, self.storage_obj.get_trial(trial._trial_id))
        self.storage_obj.record_heartbeat(trial._trial_id)
        # which process runs it (several search processes may share one study)
        trial.set_user_attr("driver", f"{socket.gethostname()}:{os.getpid()}")
        genome = [int(trial.params[n]) for n in self.names]
        rec = static_check(self.spec, genome, self.space)
        if rec is None:
            from half.search.evaluate import decode

            arch_hash = decode(self.spec, genome, self.space).arch_hash()
            rec = self.results.get(self.spec, arch_hash)
            if rec is not None:
                self.stats["cached"] += 1
                self.rung_stats[0]["cached"] += 1
                self._arrive(_Pending(None, self.spec, genome, arch_hash, [trial],
                                      time.monotonic(), batch=self._batch_of(trial)), rec,
                             cached=True)
                return
            for p in self.pending.values():  # the same network is being evaluated already
                if p.arch_hash == arch_hash and p.spec == self.spec:
                    p.trials.append(trial)
                    return
            fut = self.executor.submit(self.spec, genome)
            self.pending[trial.number] = _Pending(fut, self.spec, genome, arch_hash, [trial],
                                                  time.monotonic(), batch=self._batch_of(trial))
            return
        if rec.get("arch_hash") is not None:
            self.results.put(self.spec, rec, {})
        self._tell(trial, rec, cached=False)

    def _collect(self, key: int) -> None:
        from optuna.trial import TrialState

        p = self.pending.pop(key)
        try:
            rec, files = p.future.result()
        except HalfError as exc:  # a data or configuration fault: the same for every trial
            for t in p.trials:
                self.study.tell(t, state=TrialState.FAIL)
            raise exc
        except Exception as exc:  # a crashed worker, an unexpected error: the trial fails
            message = " ".join(f"{type(exc).__name__}: {exc}".split())[:500]
            for t in p.trials:
                t.set_user_attr("error", message)
                self.study.tell(t, state=TrialState.FAIL)
            self.stats["failed"] += len(p.trials)
            self._failures_in_a_row += 1
            self._note(f"trial {key} failed: {message}")
            if self._failures_in_a_row >= max(3, 2 * self.executor.workers):
                raise HalfError(f"search: {self._failures_in_a_row} evaluations failed in a "
                                f"row (last: {message})") from None
            return
        self._failures_in_a_row = 0
        self.stats["evaluated"] += 1
        self.stats["eval_seconds"].append(rec["seconds"].get("total", 0.0))
        if rec["trained"]:
            self.stats["trained_seconds"].append(rec["seconds"].get("total", 0.0))
        self.rung_stats[p.rung]["evaluated"] += 1
        self.rung_stats[p.rung]["seconds"] += rec["seconds"].get("total", 0.0)
        rec = self.results.put(p.spec, rec, files)
        self._arrive(p, rec, cached=False)

    # -- rungs (multi-fidelity, successive halving per batch) --------------------------------
    def _batch_of(self, trial) -> int:
        """Promotion decisions are taken per batch of `population` trials: an NSGA-II
        generation, or consecutive trial numbers for the other samplers. A batch's decision
        reads only its own results, so it does not depend on which worker finished first."""
        if self.sampler == "nsga2":
            return self._generation(trial)
        return trial.number // self.population

    def _arrive(self, p: _Pending, rec: dict, cached: bool) -> None:
        """A result at rung p.rung: parked for its batch's promotion decision when a costlier
        rung exists and the design is trained and buildable; told otherwise."""
        history = {**p.history, str(p.rung): rec.get("val_metric")}
        rec = {**rec, "rung": p.rung, "rung_metrics": history}
        if p.rung == 0 and self.sampler == "surrogate":  # what surrogate_pick reads
            first = _first_result(rec.get("val_metric"), rec.get("cost"),
                                  bool(rec.get("feasible")))
            for t in p.trials:
                t.set_user_attr("first", first)
        cons = rec.get("constraints") or {}
        buildable = all(cons.get(k, 0.0) <= 0 for k in ("valid", "fits", "rate"))
        if p.rung < len(self.rung_specs) - 1 and rec.get("trained") and buildable:
            p.rec, p.history, p.cached, p.future = rec, history, cached, None
            self.parked[p.trials[0].number] = p
            return
        self._tell_all(p, rec, cached)

    def _tell_all(self, p: _Pending, rec: dict, cached: bool) -> None:
        for i, t in enumerate(p.trials):
            self._tell(t, {**rec, "genome": [int(t.params[n]) for n in self.names]},
                       cached=cached or i > 0)
        if rec.get("trained"):
            self.rung_stats[rec.get("rung", 0)]["told"] += len(p.trials)

    def _may_ask(self) -> bool:
        """Whether this run may still ask trials (a batch that cannot grow is complete)."""
        from optuna.trial import TrialState

        if self._out_of_time:
            return False
        if self.trials is None:
            return True
        complete = len(self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
        return complete + len(self._held()) < self.trials

    def _batch_size(self, batch: int) -> int:
        from optuna.trial import TrialState

        n = 0
        for t in self.study.get_trials(deepcopy=False,
                                       states=(TrialState.COMPLETE, TrialState.RUNNING)):
            b = t.system_attrs.get(GEN_KEY, -1) if self.sampler == "nsga2" else \
                t.number // self.population
            n += b == batch
        return n

    def _batch_ready(self, batch: int, rung: int) -> bool:
        if any(q.batch == batch and q.rung <= rung for q in self.pending.values()):
            return False
        return not self._may_ask() or self._batch_size(batch) >= self.population

    def _promote(self, final: bool = False) -> None:
        """For every batch whose rung is complete: the best `promote` share of its designs
        (non-dominated sorting on error x cost at that rung, then error) go to the next rung;
        the others are told at this rung. `final`: no promotion, every parked trial is told."""
        groups: dict[tuple[int, int], list[int]] = {}
        for key, p in self.parked.items():
            groups.setdefault((p.batch, p.rung), []).append(key)
        for (batch, rung), keys in sorted(groups.items()):
            if not final and not self._batch_ready(batch, rung):
                continue
            entries = [self.parked.pop(k) for k in sorted(keys)]
            chosen = set() if final else promoted(entries, self.promote)
            for p in entries:
                if p.arch_hash in chosen:
                    self._next_rung(p)
                else:
                    self._tell_all(p, p.rec, p.cached)

    def _next_rung(self, p: _Pending) -> None:
        rung = p.rung + 1
        spec = self.rung_specs[rung]
        self.rung_stats[p.rung]["promoted"] += 1
        q = _Pending(None, spec, p.genome, p.arch_hash, list(p.trials), time.monotonic(),
                     rung=rung, batch=p.batch, history=p.history)
        hit = self.results.get(spec, p.arch_hash)
        if hit is not None:
            self.rung_stats[rung]["cached"] += 1
            self._arrive(q, hit, cached=True)
            return
        for other in self.pending.values():  # the same network at the same rung already runs
            if other.arch_hash == p.arch_hash and other.spec == spec:
                other.trials.extend(p.trials)
                return
        q.future = self.executor.submit(spec, p.genome)
        self.pending[p.trials[0].number] = q

    def _tell(self, trial, rec: dict, cached: bool) -> None:
        for name, value in rec["constraints"].items():
            trial.set_constraint(name, value)
        for key in ("arch_hash", "status", "stage", "trained", "val_metric", "cost", "reason",
                    "rung", "rung_metrics"):
            trial.set_user_attr(key, rec.get(key))
        trial.set_user_attr("cached", cached)
        trial.set_user_attr("seconds", 0.0 if cached else rec["seconds"].get("total", 0.0))
        self.study.tell(trial, result_values(rec))
        self.stats["told"] += 1
        self.stats["infeasible"] += not rec["feasible"]

    def _abandon(self) -> None:
        """Trials still running when the run ends early: FAIL and queued again (the same
        genome), as the heartbeat would do after a kill."""
        from optuna.trial import TrialState

        retry = self.storage_obj.get_heartbeat_stale_trial_callback()
        for p in (*self.pending.values(), *self.parked.values()):
            if p.future is not None:
                p.future.cancel()
            for t in p.trials:
                with contextlib.suppress(Exception):
                    self.study.tell(t, state=TrialState.FAIL)
                    if retry is not None:
                        retry(self.study, self.study.get_trials(deepcopy=False)[t.number])
        self.pending.clear()
        self.parked.clear()

    def _recover_stale(self) -> None:
        """Trials left RUNNING by a killed run: wait until their heartbeat is stale, then they
        are failed and queued again with the same genome. A process killed inside `ask` (the
        trial exists, its parameters are being written, no heartbeat yet) leaves a trial that
        Optuna never finds stale: every RUNNING trial gets one heartbeat here, so it goes stale
        after the grace period unless its owner is alive and keeps it fresh."""
        from optuna.trial import TrialState

        for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            with contextlib.suppress(Exception):
                self.storage_obj.record_heartbeat(t._trial_id)
        deadline = time.monotonic() + (self.grace_period or 2 * self.heartbeat_interval) \
            + 2 * self.heartbeat_interval
        waited = False
        while True:
            _fail_stale(self.study)
            running = self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if not running or time.monotonic() > deadline:
                break
            if not waited:
                self._note(f"{len(running)} trial(s) of an earlier run still RUNNING: waiting "
                           "for their heartbeat to go stale")
                waited = True
            time.sleep(min(1.0, self.heartbeat_interval))
        if running:
            self._foreign = {t.number for t in running}
            self._note(f"{len(running)} trial(s) RUNNING in another process: not waited for")

    def _heartbeat(self, stop: threading.Event) -> None:
        while not stop.wait(self.heartbeat_interval):
            for p in [*self.pending.values(), *self.parked.values()]:
                for t in list(p.trials):
                    with contextlib.suppress(Exception):
                        self.storage_obj.record_heartbeat(t._trial_id)

    # -- reporting ---------------------------------------------------------------------------
    def _note(self, message: str) -> None:
        self.progress({"event": "note", "message": message})

    def _emit(self, event: str, t_start: float) -> None:
        self.progress({"event": event, **self.state(t_start)})

    def state(self, t_start: float) -> dict:
        from optuna.trial import TrialState

        trials = self.study.get_trials(deepcopy=False)
        complete = [t for t in trials if t.state == TrialState.COMPLETE]
        feasible = [t for t in complete if all(v <= 0 for v in t.constraints.values())]
        best = {"error": min((t.values[0] for t in feasible), default=None),
                self.spec.cost_name: min((t.values[1] for t in feasible), default=None)}
        gens = [t.system_attrs.get(GEN_KEY, 0) for t in trials]
        elapsed = time.monotonic() - t_start
        running = len(self._held())
        eta = None
        secs = self.stats["eval_seconds"]
        if self.trials is not None:
            left = max(0, self.trials - len(complete))
            if secs:
                evaluated_share = self.stats["evaluated"] / max(1, self.stats["told"])
                eta = left * evaluated_share * statistics.fmean(secs) / self.executor.workers
        if self.time_budget_s is not None:
            rest = max(0.0, self.time_budget_s - elapsed)
            eta = rest if eta is None else min(eta, rest)
        return {"study": self.study.study_name, "sampler": self.sampler,
                "generation": max(gens, default=0) if self.sampler == "nsga2" else None,
                "trials_done": len(complete), "trials_target": self.trials,
                "running": running, "told_this_run": self.stats["told"],
                "evaluated_this_run": self.stats["evaluated"],
                "cached_this_run": self.stats["cached"], "failed_this_run": self.stats["failed"],
                "feasible": len(feasible), "infeasible": len(complete) - len(feasible),
                "best": best, "cost_name": self.spec.cost_name, "elapsed_s": elapsed,
                "eta_s": eta, "workers": self.executor.workers, "backend": self.executor.kind,
                "rungs": self.rung_state() if len(self.rung_specs) > 1 else None}

    def rung_state(self) -> list[dict]:
        """Per rung: its fidelity, evaluations (this run), cache hits, designs promoted from
        it, trials told at it, trials waiting at it, and the seconds spent there."""
        out = []
        for r, (spec, st) in enumerate(zip(self.rung_specs, self.rung_stats, strict=True)):
            out.append({"rung": r, "fidelity": spec.fidelity, "epochs": spec.epochs, **st,
                        "running": sum(p.rung == r for p in self.pending.values()),
                        "parked": sum(p.rung == r for p in self.parked.values())})
        return out

    def records(self) -> list[dict]:
        """The record of every COMPLETE trial (from the cache; its trial number added)."""
        from optuna.trial import TrialState

        out = []
        for t in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            rung = min(int(t.user_attrs.get("rung") or 0), len(self.rung_specs) - 1)
            rec = self.results.get(self.rung_specs[rung], t.user_attrs.get("arch_hash")) or {
                "arch_hash": t.user_attrs.get("arch_hash"), "status": t.user_attrs.get("status"),
                "trained": t.user_attrs.get("trained"), "val_metric": t.user_attrs.get(
                    "val_metric"), "error": t.values[0], "cost": t.user_attrs.get("cost"),
                "constraints": t.constraints, "reason": t.user_attrs.get("reason")}
            rec = {**rec, "trial": t.number, "rung": rung,
                   "rung_metrics": t.user_attrs.get("rung_metrics"),
                   "genome": [int(t.params[n]) for n in self.names],
                   "feasible": all(v <= 0 for v in t.constraints.values()),
                   "seeded": t.user_attrs.get(SEED_ATTR)}
            out.append(rec)
        return out

    def _summary(self, t_start: float, stopped: str) -> dict:
        records = self.records()
        front = front_of(records)
        elapsed = time.monotonic() - t_start
        secs, trained = self.stats["eval_seconds"], self.stats["trained_seconds"]
        summary = {
            "study": self.study.study_name, "storage": self.url, "out_dir": str(self.out_dir),
            "spec": self.spec.to_dict(), "spec_key": self.spec.key(), "sampler": self.sampler,
            "population": self.population if self.sampler == "nsga2" else None,
            "backend": self.executor.kind, "workers": self.executor.workers,
            "stopped": stopped, "seconds": elapsed, "state": self.state(t_start),
            "this_run": {"told": self.stats["told"], "evaluated": self.stats["evaluated"],
                         "cached": self.stats["cached"], "failed": self.stats["failed"],
                         "seconds_per_evaluation": statistics.fmean(secs) if secs else None,
                         "seconds_per_trained_candidate": statistics.fmean(trained)
                         if trained else None,
                         "evaluations_per_hour": 3600 * len(secs) / elapsed if elapsed else None},
            "statuses": _count(r.get("status") for r in records),
            "rungs": {"ladder": [[s.fidelity, s.epochs] for s in self.rung_specs],
                      "promote": self.promote, "this_run": self.rung_state()},
            "warm_start": {"seeded": self.study.user_attrs.get("half_seeds", []),
                           "notes": self.seed_notes},
            "front": [_brief(r) for r in front],
            "hypervolume": compare({self.sampler: records}),
        }
        write_json_atomic(self.out_dir / "search.json", summary)
        pareto = {"study": summary["study"], "spec": summary["spec"],
                  "cost_name": self.spec.cost_name, "front": front}
        write_json_atomic(self.out_dir / "pareto.json", pareto)
        return summary


def _first_result(val_metric: float | None, cost: float | None, feasible: bool) -> dict:
    """A trial's first-rung result as `surrogate.propose` reads it (error None: untrained)."""
    return {"error": None if val_metric is None else 1.0 - val_metric, "cost": cost,
            "feasible": feasible}


def surrogate_pick(spec: SearchSpec, space: Space, trials: list, workers: int) -> dict | None:
    """What the surrogate sampler proposes for trial n = len(trials) (`surrogate.propose`, or
    None while it draws at random). It reads the first-rung results of the trials numbered
    below n - workers + 1 only (their "first" attribute, set when the first rung's result
    arrives, whatever rung the trial reaches later), and the search asks trial n only once all
    of those are known (`Search._can_ask`): a proposal depends on the seed, the number of
    workers and earlier results, not on which worker finished first (within one search
    process: several processes on one study share the queue, and a proposal may then be asked
    by another process or read another's trial depending on timing). A network seen twice (a
    retried trial) counts once."""
    from optuna.trial import TrialState

    from half.search import surrogate
    from half.search.evaluate import decode

    names = [name for name, _ in space.genes()]
    n = len(trials)
    cutoff = n - workers + 1
    history, tried, used = [], set(), set()
    for t in trials:
        try:
            arch = decode(spec, [int(t.params[k]) for k in names], space)
        except (ConfigError, KeyError):
            continue
        h = arch.arch_hash()
        tried.add(h)
        if t.number >= cutoff or h in used:
            continue
        seen = t.user_attrs.get("first")
        if seen is None:  # told at once, untrained (or from a study made before "first")
            if t.state != TrialState.COMPLETE:
                continue
            val = (t.user_attrs.get("rung_metrics") or {}).get("0", t.user_attrs.get("val_metric"))
            seen = _first_result(val, t.user_attrs.get("cost"),
                                 all(v <= 0 for v in t.constraints.values()))
        used.add(h)
        history.append({**seen, "arch": arch})
    rng = np.random.default_rng([int(spec.seed), n])

    def sample():
        genome = space.random_genome(rng)
        if static_check(spec, genome, space) is not None:
            return None
        return genome, decode(spec, genome, space)

    return surrogate.propose(history, sample, exclude=tried, min_results=surrogate.MIN_RESULTS)


def parse_rungs(text: str | None) -> list[tuple[float, int]]:
    """The rungs above the search's own fidelity: "0.25x6,1x6" -> [(0.25, 6), (1.0, 6)]
    (share of the training windows x epochs); "" or "none" -> []."""
    if text is None or str(text).strip().lower() in ("", "none"):
        return []
    out = []
    for item in str(text).split(","):
        f, sep, e = item.strip().lower().partition("x")
        try:
            out.append((float(f), int(e)))
        except ValueError:
            raise ConfigError("rungs", f"expected SHARExEPOCHS items such as 0.25x6,1x6, got "
                              f"{item.strip()!r}") from None
        if not sep:
            raise ConfigError("rungs", f"expected SHARExEPOCHS, got {item.strip()!r}")
    return out


def _check_ladder(ladder: list[tuple[float, int]]) -> None:
    for (f0, e0), (f1, e1) in zip(ladder, ladder[1:], strict=False):
        if not 0 < f1 <= 1 or e1 < 1:
            raise ConfigError("rungs", f"a rung needs a share in (0, 1] and >= 1 epoch, got "
                              f"{f1}x{e1}")
        if f1 < f0 or e1 < e0 or (f1, e1) == (f0, e0):
            raise ConfigError("rungs", f"each rung must train on more windows or for more "
                              f"epochs than the one below: {f0}x{e0} then {f1}x{e1}")


def promoted(entries: list, share: float) -> set[str]:
    """Architecture hashes of the best `share` (at least one) of a batch's designs at one rung:
    non-dominated sorting on (error, cost), ties by error then trial number."""
    best: dict[str, tuple] = {}
    for p in entries:
        h = p.arch_hash
        if h not in best:
            best[h] = (float(p.rec["error"]), float(p.rec["cost"]), p.trials[0].number)
    hashes = list(best)
    level: dict[str, int] = {}
    rest, k = list(hashes), 0
    while rest:
        front = set(pareto_front([best[h][:2] for h in rest]))
        for i in front:
            level[rest[i]] = k
        rest = [h for i, h in enumerate(rest) if i not in front]
        k += 1
    order = sorted(hashes, key=lambda h: (level[h], best[h][0], best[h][2]))
    return set(order[:max(1, math.ceil(share * len(hashes)))])


def _count(items) -> dict:
    out: dict[str, int] = {}
    for x in items:
        out[str(x)] = out.get(str(x), 0) + 1
    return out


def _brief(r: dict) -> dict:
    hw = (r.get("hardware") or {}).get("plan") or {}
    return {"trial": r.get("trial"), "arch_hash": r.get("arch_hash"), "error": r.get("error"),
            "val_metric": r.get("val_metric"), "metric": r.get("metric"),
            "cost": r.get("cost"), "cost_name": r.get("cost_name"), "params": r.get("params"),
            "macs": r.get("macs"), "clock_mhz": hw.get("clock_mhz"),
            "throughput_per_s": hw.get("throughput_per_s"), "run_dir": r.get("run_dir"),
            "genome": r.get("genome"), "seeded": r.get("seeded")}


def front_of(records: list[dict]) -> list[dict]:
    """Feasible, non-dominated records (one per architecture), by increasing error."""
    seen, uniq = set(), []
    for r in records:
        if r.get("feasible") and r.get("cost") is not None and r.get("arch_hash") not in seen:
            seen.add(r.get("arch_hash"))
            uniq.append(r)
    idx = pareto_front([(float(r["error"]), float(r["cost"])) for r in uniq])
    return sorted((uniq[i] for i in idx), key=lambda r: (r["error"], r["cost"]))


def run_search(spec: SearchSpec, out_dir: str | Path, **options: Any) -> dict:
    """Run (or resume) a search; returns the summary also written to OUT/search.json. Options:
    see `Search` (trials, time_budget_s, workers, study_name, storage, sampler, population,
    ray_address, data_dir, space, progress, heartbeat_interval, grace_period, keep_runs,
    seed_presets, seed_archs) and
    reeval_seeds / reeval_fidelity / reeval_epochs / reeval_folds for `reevaluate` on the front."""
    reeval = {k[len("reeval_"):]: options.pop(k) for k in list(options)
              if k.startswith("reeval_")}
    # a folder of someone else's files is refused before anything is written (`force`: write
    # into it anyway; nothing already there is removed)
    prepare_output(out_dir, "search", force=options.pop("force", False))
    search = Search(spec, out_dir, **options)
    summary = search.run()
    if reeval.get("seeds"):
        summary["reevaluation"] = reevaluate(
            search.spec, out_dir, seeds=reeval["seeds"], fidelity=reeval.get("fidelity", 1.0),
            epochs=reeval.get("epochs"), folds=reeval.get("folds", 0),
            workers=options.get("workers"),
            ray_address=options.get("ray_address"), data_dir=options.get("data_dir"),
            space=options.get("space"), progress=options.get("progress"))
        write_json_atomic(Path(out_dir) / "search.json", summary)
    return summary


def run_random_search(spec: SearchSpec, out_dir: str | Path, **options: Any) -> dict:
    """The baseline: the same evaluation of uniformly random genomes (Optuna RandomSampler)."""
    return run_search(spec, out_dir, **{**options, "sampler": "random"})


# -- re-evaluation of the front --------------------------------------------------------------
def reeval_specs(spec: SearchSpec, seeds: int, fidelity: float = 1.0, epochs: int | None = None,
                 folds: int = 0) -> list[SearchSpec]:
    """The SearchSpecs of a re-evaluation (seeds spec.seed+1 ...; with `folds` >= 2, one per
    seed and patient-wise fold, holdout "cvK:I", seed-major): the protocol every re-evaluated
    design, and `half run`'s reference design, is trained and folded under."""
    if folds == 1 or folds < 0:
        raise ConfigError("folds", f"0 (the validation split) or at least 2, got {folds}")
    holdouts = [f"cv{folds}:{i}" for i in range(folds)] if folds else ["val"]
    return [dataclasses.replace(spec, seed=spec.seed + 1 + k, fidelity=fidelity,
                                epochs=epochs or spec.epochs, precheck="bits",
                                holdout=h).resolved()
            for k in range(seeds) for h in holdouts]


def measured_on(reev: dict) -> str:
    """Where a re-evaluation measured its metric (its `folds`)."""
    k = reev.get("folds")
    return (
        f"patient-wise {k}-fold cross-validation over the train and val records (mean of folds)"
        if k
        else "the validation split"
    )


def final_spec(spec: SearchSpec, fidelity: float = 1.0, epochs: int | None = None
               ) -> SearchSpec:
    """The SearchSpec of a final fit after a cross-validated re-evaluation: the first
    re-evaluation seed, every train and val record in training for all `epochs` (holdout
    "none"): the model `half run` builds, and its reference's."""
    return dataclasses.replace(reeval_specs(spec, 1, fidelity, epochs)[0], holdout="none")


def reevaluate(spec: SearchSpec, out_dir: str | Path, *, seeds: int = 3, fidelity: float = 1.0,
               epochs: int | None = None, front: list[dict] | None = None,
               workers: int | None = None, ray_address: str | None = None,
               data_dir: str | Path | None = None, space: Space | None = None,
               progress: Progress | None = None, folds: int = 0, record: bool = True) -> dict:
    """Train every front candidate again with `seeds` new seeds (spec.seed+1 ...) at `fidelity`
    (default: all training windows) and `epochs`, measured on the validation split or, with
    `folds` >= 2, on each fold of a patient-wise cross-validation (one run per seed and fold),
    and report the spread of the error and the hardware cost. Results are cached like the
    search's; written into OUT/pareto.json (unless `record` is False: candidates that are not
    the search's front, such as the refinement's)."""
    out_dir = Path(out_dir)
    spec = spec.resolved()
    space = space or Space()
    if seeds < 1:
        raise ConfigError("reeval_seeds", f"must be at least 1, got {seeds}")
    pareto_path = out_dir / "pareto.json"
    if front is None:
        if not pareto_path.is_file():
            raise ConfigError("pareto", f"{pareto_path}: no such file (run the search first)")
        front = json.loads(pareto_path.read_text())["front"]
    specs = reeval_specs(spec, seeds, fidelity, epochs, folds)
    store = ResultStore(out_dir)
    threads = spec.threads
    n_workers = workers or (None if ray_address else default_workers(threads))
    executor = make_executor(n_workers or 0, threads, data_dir, space, ray_address)
    progress = progress or (lambda state: None)
    jobs: dict[cf.Future, tuple[int, int]] = {}
    results: dict[tuple[int, int], dict] = {}
    queue = [(i, k) for i in range(len(front)) for k in range(len(specs))]
    t0 = time.monotonic()
    try:
        while queue or jobs:
            while queue and len(jobs) < executor.workers:
                i, k = queue.pop(0)
                hit = store.get(specs[k], front[i]["arch_hash"])
                if hit is not None:
                    results[(i, k)] = hit
                    continue
                jobs[executor.submit(specs[k], front[i]["genome"])] = (i, k)
            if not jobs:
                continue
            done, _ = cf.wait(jobs, timeout=1.0, return_when=cf.FIRST_COMPLETED)
            for fut in done:
                i, k = jobs.pop(fut)
                rec, files = fut.result()
                results[(i, k)] = store.put(specs[k], rec, files)
            progress({"event": "reeval", "done": len(results), "total": len(front) * len(specs),
                      "running": len(jobs), "elapsed_s": time.monotonic() - t0})
    finally:
        executor.close(cancel=bool(jobs))
    out = []
    for i, cand in enumerate(front):
        runs = [results[(i, k)] for k in range(len(specs))]
        errs = [r["error"] for r in runs]
        costs = [r["cost"] for r in runs if r.get("cost") is not None]
        out.append({
            "arch_hash": cand["arch_hash"], "search": {"error": cand["error"],
                                                       "cost": cand["cost"]},
            "runs": [{"seed": specs[k].seed, "holdout": specs[k].holdout, "error": r["error"],
                      "val_metric": r["val_metric"],
                      "cost": r.get("cost"), "feasible": r["feasible"], "status": r["status"],
                      "run_dir": r.get("run_dir")} for k, r in enumerate(runs)],
            "error_mean": statistics.fmean(errs),
            "error_std": statistics.stdev(errs) if len(errs) > 1 else 0.0,
            "error_min": min(errs), "error_max": max(errs),
            "cost_mean": statistics.fmean(costs) if costs else None,
            "cost_std": statistics.stdev(costs) if len(costs) > 1 else (0.0 if costs else None),
            "feasible_runs": sum(r["feasible"] for r in runs)})
    result = {"seeds": sorted({s.seed for s in specs}), "folds": folds, "fidelity": fidelity,
              "epochs": epochs or spec.epochs, "cost_name": spec.cost_name,
              "seconds": time.monotonic() - t0, "candidates": out}
    if record and pareto_path.is_file():
        pareto = json.loads(pareto_path.read_text())
        pareto["reevaluation"] = result
        write_json_atomic(pareto_path, pareto)
    return result


__all__ = ["SAMPLERS", "ResultStore", "Search", "final_spec", "front_of", "measured_on",
           "open_study", "parse_budget", "reeval_specs", "reevaluate", "run_random_search",
           "run_search", "train_all"]
