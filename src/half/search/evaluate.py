# SPDX-License-Identifier: Apache-2.0
"""One search candidate, evaluated: genome -> architecture -> hardware pre-check -> training at
search fidelity -> integer IR -> folding for the goal on the device -> objectives and constraints.

    spec = SearchSpec(task="mitdb-aami", goal="low-energy", device="up5k", fidelity=0.1)
    ev = Evaluator(spec, data_dir)
    record, files = ev.evaluate(genome)

Stages, cheapest first; a candidate leaves at the first stage it fails and is never trained then:

1. decode: `Space.decode` validates the genome (ConfigError = infeasible, constraint `valid`).
2. `bits` pre-check (microseconds): the weights alone need more memory than the device has
   (block RAM + LUT RAM at the cost model's fit margin) -> cannot fit, whatever the folding.
3. `export` pre-check (about 1.5-2.5 s, see the report): the *untrained* network is exported to
   QONNX, lowered and folded for the goal. Its structure and bit widths fix the resources up to
   the accumulator widths, which depend on the weights; a candidate that fails here does not fit
   (or cannot meet the rate) and is not trained.
4. training on the task's train split (a class-stratified `fidelity` fraction of it), epoch
   selection on the val split only; the test split is dropped when the data is loaded and never
   reaches this module.
5. QONNX export of the trained model -> IR -> `half.hw.plan.plan` for the goal on the device.

Objectives (both minimized): `error` = 1 - validation primary metric (macro-F1 for mitdb-aami,
F1_NAO for cinc2017-af); the hardware cost of the goal: energy per inference in µJ (low-energy),
average power in mW at the required rate (low-power), seconds per inference = 1/throughput
(high-throughput). Constraints (feasible when <= 0): `valid`, `fits` (utilization of the binding
resource - 1), `rate` (required rate / throughput - 1) and, with an accuracy floor, `accuracy`
(floor - metric). Hardware figures are the analytical cost model's estimates.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import socket
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from half.errors import ConfigError, HalfError
from half.hw.goal import DEFAULT_GOAL, HIGH_THROUGHPUT, get_goal
from half.nn.space import Space

SEARCH_PRESET = "tiny"  # the preset whose task parameters and training recipe the search uses
FIT_MARGIN = 0.85  # Estimate.fits' default share of LUTs/FFs a design may use
INVALID_VIOLATION = 1000.0  # constraint value of a genome that decodes to no valid network
# TrainConfig fields the search sets itself (the recipe's values of these are not used)
_SEARCH_OWNED = ("epochs", "patience", "stop_at", "train_fraction", "time_budget_s", "seed",
                 "threads")
# Recipe training options the search does not inherit (a user's `-c KEY=VALUE` still sets them):
# distillation trains a 4x wider float teacher before every candidate, which would cost each
# trial (and each re-evaluation) a multiple of its training time; the search ranks designs
# trained without it, the reference included
_NOT_INHERITED = ("distill", "teacher_width", "distill_temperature")
_KEYS: dict[str, str] = {}  # SearchSpec.key() per spec (resolving reads the preset files)
# the pre-check's measure of how far a rate goal falls short: high-throughput's folder without the
# levers only it uses (replicas, partial sums, wide input beats), as the rate goals fold
_ONE_PIPELINE = dataclasses.replace(HIGH_THROUGHPUT, replicate=False, pipeline=False,
                                    wide_input=False)


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=lambda o: list(o) if isinstance(o, tuple) else
                                 str(o)))


# The search's default fidelity: a quarter of the training windows for 12 epochs. Of the
# fidelities measured against the reference protocol (every DS1 window, patient-wise 3-fold CV;
# benchmarks/bench_fidelity.py, docs/RESULTS.md "Search fidelity"), it ranks designs best:
# Spearman rho 0.64, where the former default 0.1 x 6 had 0.09 (short runs favour small
# networks), at about 3x its CPU time per candidate.
DEFAULT_FIDELITY = 0.25
DEFAULT_EPOCHS = 12


@dataclass(frozen=True)
class SearchSpec:
    """Everything that defines the evaluation of a candidate (and so its cached result)."""

    task: str = "mitdb-aami"
    goal: str = DEFAULT_GOAL  # a name of half.hw.goal.GOALS (a Goal is stored as its name)
    device: str = "up5k"  # a device of the catalog
    fidelity: float = DEFAULT_FIDELITY  # share of the training windows (class-stratified)
    epochs: int = DEFAULT_EPOCHS  # training epochs at search fidelity (one-cycle schedule)
    seed: int = 0  # training seed of every candidate (and the sampler's)
    rate: float | None = None  # required inferences/s (default: half.hw.folding.required_rate)
    accuracy_floor: float | None = None  # least validation primary metric (None = no floor)
    task_params: dict = field(default_factory=dict)  # over the `tiny` preset's task parameters
    train_options: dict = field(default_factory=dict)  # TrainConfig fields over the recipe's
    time_budget_s: float = 0.0  # per-candidate training cap; when it cuts training the result
    #                             depends on the machine's speed (flagged `budget_hit`)
    precheck: str = "export"  # "export" (bits, then the untrained export), "bits" or "off"
    per_channel: bool = True  # per-channel weight scales, as the shipped presets use
    holdout: str = "val"  # what the metric is measured on (see `holdout_data`): "val" (the
    #                       task's validation records), "cv{K}:{I}" (fold I of a patient-wise
    #                       K-fold split of the train and val records) or "none" (trained on
    #                       them all for every epoch, no metric: a final fit)
    threads: int = 1  # torch threads per evaluation (not part of the result's key)

    def __post_init__(self) -> None:
        from half.data import TASKS
        from half.hw.devices import get_device

        if self.task not in TASKS:
            raise ConfigError("task", f"unknown task {self.task!r}; known: {', '.join(TASKS)}")
        # a Goal becomes its name: the spec stays plain JSON and keys as before
        object.__setattr__(self, "goal", get_goal(self.goal).name)
        get_device(self.device)
        if not (isinstance(self.fidelity, int | float) and 0 < self.fidelity <= 1):
            raise ConfigError("fidelity", f"must lie in (0, 1], got {self.fidelity!r}")
        if not (isinstance(self.epochs, int) and self.epochs >= 1):
            raise ConfigError("epochs", f"must be a positive integer, got {self.epochs!r}")
        if self.rate is not None and not self.rate > 0:
            raise ConfigError("rate", f"must be positive, got {self.rate}")
        if self.accuracy_floor is not None and not 0 <= self.accuracy_floor <= 1:
            raise ConfigError("accuracy_floor", f"must lie in [0, 1], got {self.accuracy_floor}")
        if self.precheck not in ("export", "bits", "off"):
            raise ConfigError("precheck", f"export, bits or off, not {self.precheck!r}")
        if self.time_budget_s < 0:
            raise ConfigError("time_budget_s", f"must be >= 0, got {self.time_budget_s}")
        if self.threads < 1:
            raise ConfigError("threads", f"must be at least 1, got {self.threads}")
        parse_holdout(self.holdout)
        for key in self.train_options:
            if key in _SEARCH_OWNED:
                raise ConfigError(f"train_options.{key}", "is set by the search itself")

    # -- resolution ------------------------------------------------------------------------
    def resolved(self) -> SearchSpec:
        """The spec with the task parameters, training options and rate filled in."""
        params = resolve_task_params(self.task, self.task_params)
        options = {**recipe_train_options(self.task), **self.train_options}
        self._train_config(options)  # validates the options
        from half.hw.folding import required_rate

        rate = self.rate if self.rate is not None else required_rate(self.task, params)
        return dataclasses.replace(self, task_params=params, train_options=options, rate=rate)

    def _train_config(self, options: dict | None = None):
        from half.nn.config import TrainConfig

        options = self.train_options if options is None else options
        known = {f.name for f in dataclasses.fields(TrainConfig)}
        for key in options:
            if key not in known:
                raise ConfigError(f"train_options.{key}", "unknown training option")
        return TrainConfig(**{**options, "epochs": self.epochs, "patience": self.epochs,
                              "stop_at": self.epochs if self.holdout == "none" else 0,
                              "train_fraction": float(self.fidelity),
                              "time_budget_s": float(self.time_budget_s), "seed": self.seed,
                              "threads": self.threads})

    def train_config(self):
        """The TrainConfig of a candidate (no early stopping: all `epochs` run, the best epoch
        on the validation split is kept)."""
        return self.resolved()._train_config()

    def to_dict(self) -> dict:
        d = _jsonable(dataclasses.asdict(self))
        if d["holdout"] == "val":  # the default is left out: keys and run folders made before
            d.pop("holdout")      # the field existed stay valid
        return d

    @classmethod
    def from_dict(cls, d: dict) -> SearchSpec:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def key(self) -> str:
        """16 hex digits naming every setting a candidate's result depends on (resolved)."""
        mine = json.dumps(self.to_dict(), sort_keys=True)
        if mine not in _KEYS:
            d = self.resolved().to_dict()
            d.pop("threads")
            _KEYS[mine] = hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]
        return _KEYS[mine]

    @property
    def cost_name(self) -> str:
        return get_goal(self.goal).cost_name

    def arch_shape(self) -> dict:
        """window, n_classes and side_inputs of the task with the spec's parameters."""
        from half.data import get_task

        params = self.task_params if self.task_params else resolve_task_params(self.task, {})
        task = get_task(self.task, **params)
        return {"window": int(task.params.window), "n_classes": len(task.classes),
                "side_inputs": len(task.side_names)}


def parse_holdout(text: str) -> tuple[int, int] | None:
    """(K, I) of "cv{K}:{I}", None of "val" and "none"; ConfigError("holdout") otherwise."""
    if text in ("val", "none"):
        return None
    try:
        k, i = (int(v) for v in text.removeprefix("cv").split(":"))
        ok = text.startswith("cv") and k >= 2 and 0 <= i < k
    except ValueError:
        ok = False
    if not ok:
        raise ConfigError("holdout", f"val, none or cvK:I (fold I of K >= 2), not {text!r}")
    return k, i


def holdout_data(data, holdout: str):
    """The search data (train and val records) split as `holdout` says: "val" as loaded;
    "cvK:I" with fold I of `half.nn.cv.make_folds(data, K)` (patient-wise, classes balanced,
    the same folds for every candidate) as the validation records; "none" with every record
    in training and none held out."""
    from half.data import SPLITS
    from half.nn.cv import make_folds, with_fold

    fold = parse_holdout(holdout)
    if fold is not None:
        k, i = fold
        return with_fold(data, make_folds(data, k)[i])
    if holdout == "none":
        return with_fold(data, [])
    assert holdout == "val" and not (data.split == SPLITS.index("test")).any()
    return data


def resolve_task_params(task: str, overrides: dict | None = None) -> dict:
    """The search's task parameters: those of the `tiny` preset (its task.json) with `overrides`
    on top. A preset trained without validation records (mitdb-aami's epoch came from
    cross-validation) gets the task's default validation records back: the search selects on
    the validation split."""
    from half.data import get_task
    from half.nn.runs import presets_dir

    overrides = dict(overrides or {})
    if _complete(task, overrides):
        # already resolved (a stored run's settings): a parameter it leaves out is at its
        # default, not the preset's (whose recipe may have changed since: a resumed run keeps
        # its key)
        return _jsonable(get_task(task, **overrides).param_dict())
    path = presets_dir(task) / SEARCH_PRESET / "task.json"
    params = dict(json.loads(path.read_text())["params"]) if path.is_file() else {}
    if "val_records" in params and not params["val_records"]:
        params.pop("val_records")
    params.update(overrides)
    return _jsonable(get_task(task, **params).param_dict())


def _complete(task: str, params: dict) -> bool:
    """Whether `params` names every parameter of the task that task.json always holds (all but
    those omitted at their default)."""
    from half.data import get_task

    p = get_task(task).params
    omit = getattr(p, "OMIT_AT_DEFAULT", ())
    return all(f.name in params for f in dataclasses.fields(p) if f.name not in omit)


def _recipe_train(task: str) -> dict:
    """The `train` block of the `tiny` preset's recipe ({} without a recipe)."""
    from half.nn.runs import presets_dir

    recipe = presets_dir(task) / SEARCH_PRESET / "recipe.yaml"
    if not recipe.is_file():
        return {}
    import yaml

    return dict(yaml.safe_load(recipe.read_text()).get("train") or {})


def recipe_train_options(task: str) -> dict:
    """The `tiny` preset recipe's training options, less those the search sets (epochs ...) and
    the distillation (`_NOT_INHERITED`)."""
    return {k: v for k, v in _recipe_train(task).items()
            if k not in _SEARCH_OWNED + _NOT_INHERITED}


def recipe_epochs(task: str) -> int | None:
    """The `tiny` preset recipe's training epochs (None without a recipe): the epochs `half
    run` re-evaluates the front and trains the chosen design with by default."""
    epochs = _recipe_train(task).get("epochs")
    return int(epochs) if epochs else None


def decode(spec: SearchSpec, genome: list[int], space: Space | None = None):
    """The validated Arch of `genome` for the spec's task (ConfigError when invalid)."""
    space = space or Space()
    arch = space.decode([int(g) for g in genome], **spec.arch_shape())
    return dataclasses.replace(arch, per_channel=spec.per_channel)


# -- hardware ------------------------------------------------------------------------------
def weight_bits(arch) -> int:
    """Bits of every weight of the network (what a device must store at the least)."""
    bits = {}
    for i, b in enumerate(arch.blocks):
        bits[f"blocks[{i}]"] = bits[f"blocks[{i}].dw"] = bits[f"blocks[{i}].pw"] = b.weight_bits
    for j, d in enumerate(arch.dense):
        bits[f"dense[{j}]"] = d.weight_bits
    bits["classifier"] = arch.out_bits
    return sum(r["weights"] * bits[r["name"]] for r in arch.layer_sizes())


def memory_capacity_bits(device: str) -> float:
    """Most bits the cost model can place on `device`: every block RAM plus every LUT (at the
    fit margin) as 16-bit LUT RAM (per LUT4 unit)."""
    from half.hw.devices import get_device

    dev = get_device(device)
    lut_div = 0.6 if dev.lut_inputs == 6 else 1.0  # half.hw.cost.LUT6_FACTOR
    return dev.bram.count * dev.bram.bits + FIT_MARGIN * dev.luts * 16 / lut_div


def bits_check(arch, device: str) -> float:
    """Weight bits over the device's memory capacity, minus 1 (> 0: the network cannot fit)."""
    return weight_bits(arch) / memory_capacity_bits(device) - 1


def hardware_of(graph, spec: SearchSpec) -> dict:
    """Fold `graph` for the spec's goal on its device: the cost objective and the `fits` and
    `rate` constraint values, with the plan's figures (estimates)."""
    from half.hw.cost import Folding, estimate, utilization
    from half.hw.devices import get_device
    from half.hw.plan import plan, power_model

    t0 = time.perf_counter()
    dev = get_device(spec.device)
    rate = spec.rate
    power = power_model(dev)
    clock = dev.clock_max_mhz or dev.clock_typical_mhz
    least = estimate(graph, dev, Folding({x.name: (1, 1) for x in graph.mac_layers()}, clock),
                     power)
    totals = least.resources(dev)
    out: dict[str, Any] = {"least_parallel_utilization": utilization(totals, dev, FIT_MARGIN)}
    if out["least_parallel_utilization"] > 1:  # = not least.fits(dev, FIT_MARGIN)
        out.update(fits=out["least_parallel_utilization"] - 1, rate=0.0, cost=None,
                   reason=f"the least parallel design needs {_describe(totals)}, more than "
                          f"{dev.name} has")
    else:
        try:
            p = plan(graph, spec.device, spec.goal, rate)
            cost = get_goal(spec.goal).cost(p)
            out.update(fits=utilization(p["resources_estimate"], dev, FIT_MARGIN) - 1,
                       rate=rate / p["throughput_per_s"] - 1, cost=cost, plan=_brief_plan(p))
            if out["rate"] > 0:
                out["reason"] = (f"throughput {p['throughput_per_s']:.3g}/s is below the "
                                 f"required {rate:.3g}/s")
        except ConfigError:  # something fits, but no design meets the rate
            # the fastest design the rate goals can build: one pipeline of one sample a beat
            # without partial sums (high-throughput's other levers are not theirs)
            p = plan(graph, spec.device, _ONE_PIPELINE, rate)
            out.update(fits=utilization(p["resources_estimate"], dev, FIT_MARGIN) - 1,
                       rate=rate / p["throughput_per_s"] - 1, cost=None,
                       plan=_brief_plan(p),
                       reason=f"the fastest design that fits reaches {p['throughput_per_s']:.3g}"
                              f"/s, below the required {rate:.3g}/s")
    out["seconds"] = time.perf_counter() - t0
    return out


def _describe(totals: dict) -> str:
    return ", ".join(f"{round(v)} {k.upper()}" for k, v in totals.items())


def _brief_plan(p: dict) -> dict:
    keep = ("goal", "clock_mhz", "ii_cycles", "latency_cycles", "throughput_per_s",
            "latency_ms", "resources_estimate", "energy_estimate_uj", "folding", "macs")
    out = {k: p[k] for k in keep if k in p}
    out["power_estimate_mw"] = p["power_estimate_mw"]["average_at_rate"]
    return out


# -- evaluation ----------------------------------------------------------------------------
_DATA: dict[str, Any] = {}  # prepared train+val windows per (task, params, data_dir), per process


def search_data(task: str, params: dict, data_dir: str | Path | None = None):
    """The task's windows of the train and val splits only: test windows are dropped right
    after loading, before anything else sees them (memoised per process)."""
    from half.data import SPLITS, get_task

    key = json.dumps([task, params, None if data_dir is None else str(data_dir)], sort_keys=True)
    if key not in _DATA:
        data = get_task(task, **params).load(data_dir)
        keep = data.split != SPLITS.index("test")
        side = None if data.side is None else data.side[keep]
        _DATA[key] = dataclasses.replace(data, x=data.x[keep], y=data.y[keep],
                                         split=data.split[keep], record=data.record[keep],
                                         side=side)
    return _DATA[key]


class Evaluator:
    """Evaluates genomes for one SearchSpec; loads the task's data once, on first use."""

    def __init__(self, spec: SearchSpec, data_dir: str | Path | None = None,
                 space: Space | None = None) -> None:
        self.spec = spec.resolved()
        self.data_dir = data_dir
        self.space = space or Space()
        self._data = None

    @property
    def data(self):
        if self._data is None:
            self._data = search_data(self.spec.task, self.spec.task_params, self.data_dir)
        return self._data

    def evaluate(self, genome: list[int]) -> tuple[dict, dict[str, bytes]]:
        """(result record, files of the trained candidate's run folder; {} when untrained)."""
        return evaluate_genome(self.spec, genome, self.space, lambda: self.data)


def base_record(spec: SearchSpec, genome: list[int]) -> dict:
    return {"genome": [int(g) for g in genome], "spec_key": spec.key(), "arch_hash": None,
            "arch": None, "status": None, "stage": None, "trained": False, "feasible": False,
            "metric": None, "val_metric": None, "error": 1.0, "cost": None,
            "cost_name": spec.cost_name, "constraints": {}, "reason": "", "seconds": {}}


def finish(spec: SearchSpec, rec: dict, valid: float = 0.0, fits: float = 0.0,
           rate: float = 0.0) -> dict:
    """Fill constraints, feasibility and the objective values of a record."""
    cons = {"valid": valid, "fits": fits, "rate": rate}
    if spec.accuracy_floor is not None and spec.holdout != "none":  # a final fit: no metric
        cons["accuracy"] = spec.accuracy_floor - (rec["val_metric"] or 0.0)
    rec["constraints"] = {k: float(v) for k, v in cons.items()}
    rec["feasible"] = all(v <= 0 for v in rec["constraints"].values())
    return rec


def static_check(spec: SearchSpec, genome: list[int], space: Space | None = None) -> dict | None:
    """The record of a genome that fails before any training (decode or the bits pre-check),
    else None. Costs microseconds: the search runs it before dispatching a candidate."""
    t0 = time.perf_counter()
    rec = base_record(spec, genome)
    try:
        arch = decode(spec, genome, space)
    except ConfigError as exc:
        rec.update(status="invalid", stage="decode", reason=str(exc))
        rec["seconds"] = {"total": time.perf_counter() - t0}
        return _jsonable(finish(spec, rec, valid=INVALID_VIOLATION))
    if spec.precheck in ("bits", "export"):
        over = bits_check(arch, spec.device)
        if over > 0:
            rec.update(status="no-fit", stage="precheck-bits", arch_hash=arch.arch_hash(),
                       arch=arch.to_dict(), params=arch.params(), macs=arch.macs(),
                       reason=f"{weight_bits(arch)} weight bits exceed the {spec.device}'s "
                              f"memory ({memory_capacity_bits(spec.device):.0f} bits)")
            rec["seconds"] = {"total": time.perf_counter() - t0}
            return _jsonable(finish(spec, rec, fits=over))
    return None


def evaluate_genome(spec: SearchSpec, genome: list[int], space: Space | None = None,
                    data_fn=None, data_dir: str | Path | None = None
                    ) -> tuple[dict, dict[str, bytes]]:
    """Evaluate one genome (see the module doc): (record, files of the trained candidate's run
    folder, {} when it was not trained). `spec` must be resolved; `data_fn()` returns the search
    data (train and val splits only), by default `search_data(...)`."""
    t_start = time.perf_counter()
    failed = static_check(spec, genome, space)
    if failed is not None:
        return failed, {}
    return evaluate_arch(spec, decode(spec, genome, space), data_fn, data_dir,
                         genome=genome, t_start=t_start)


def evaluate_arch(spec: SearchSpec, arch, data_fn=None, data_dir: str | Path | None = None,
                  *, genome: list[int] | None = None, t_start: float | None = None
                  ) -> tuple[dict, dict[str, bytes]]:
    """Evaluate one architecture as `evaluate_genome` does after decoding and the bits
    pre-check: an `Arch` the space may not express (the reference design of `half run`). Its
    record's genome is `genome` (None for an architecture given directly)."""
    t_start = time.perf_counter() if t_start is None else t_start
    rec = base_record(spec, genome or [])
    if genome is None:
        rec["genome"] = None
    rec.update(arch_hash=arch.arch_hash(), arch=_jsonable(arch.to_dict()), params=arch.params(),
               macs=arch.macs(), weight_bits=weight_bits(arch),
               worker={"host": socket.gethostname(), "pid": os.getpid()})
    data_fn = data_fn or (lambda: search_data(spec.task, spec.task_params, data_dir))
    seconds = rec["seconds"]

    def done(rec: dict, files: dict, **cons) -> tuple[dict, dict]:
        seconds["total"] = time.perf_counter() - t_start
        return finish(spec, rec, **cons), files

    t0 = time.perf_counter()
    data = holdout_data(data_fn(), spec.holdout)
    seconds["data"] = time.perf_counter() - t0
    if spec.precheck == "export":
        t0 = time.perf_counter()
        try:
            hw = _untrained_hardware(arch, data, spec)
        except HalfError as exc:  # the hardware layer cannot take this network at all
            seconds["precheck"] = time.perf_counter() - t0
            rec.update(status="unbuildable", stage="precheck-export", reason=str(exc))
            return done(rec, {}, valid=INVALID_VIOLATION)
        seconds["precheck"] = time.perf_counter() - t0
        if hw["fits"] > 0 or hw["rate"] > 0:
            rec.update(status="no-fit" if hw["fits"] > 0 else "too-slow",
                       stage="precheck-export", reason=hw["reason"], precheck_hardware=hw)
            return done(rec, {}, fits=hw["fits"], rate=hw["rate"])
    cfg = spec._train_config()
    t0 = time.perf_counter()
    result = train(arch, data, cfg)
    seconds["train"] = time.perf_counter() - t0
    key = primary_metric(data.task, data.classes)
    y = data.select("train").y  # windows trained on: train()'s class-stratified subsample
    n_train = int(sum(max(1, round(cfg.train_fraction * int((y == c).sum())))
                      for c in np.unique(y))) if cfg.train_fraction < 1 else int(y.size)
    metric = result.val.get(key)  # None after a final fit (holdout "none")
    rec.update(trained=True, stage="trained", metric=key, val_metric=metric,
               error=None if metric is None else 1.0 - metric, val=_jsonable(result.val),
               holdout=spec.holdout,
               best_epoch=result.best_epoch, epochs_run=len(result.history),
               budget_hit=bool(cfg.time_budget_s and len(result.history) < cfg.epochs),
               windows_per_s=result.windows_per_s, train_windows=n_train,
               val_windows=int(len(data.select("val"))))
    files: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory(prefix="half-candidate-") as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        save_run(folder, arch, spec.task_params, spec.task, cfg, result)
        export_qonnx(result.model, folder / "model.qonnx.onnx")
        seconds["export"] = time.perf_counter() - t0
        try:
            t0 = time.perf_counter()
            graph = graph_of_run(folder, data.classes)
            seconds["lower"] = time.perf_counter() - t0
            hw = hardware_of(graph, spec)
        except HalfError as exc:
            rec.update(status="unbuildable", reason=str(exc))
            return done(rec, {}, valid=INVALID_VIOLATION)
        for f in sorted(folder.iterdir()):
            if f.is_file():
                files[f.name] = f.read_bytes()
    seconds["fold"] = hw.pop("seconds")
    files["hardware.json"] = (json.dumps(_jsonable(hw), indent=2) + "\n").encode()
    rec.update(cost=hw.pop("cost"), hardware=hw, reason=hw.get("reason", ""),
               status="ok" if hw["fits"] <= 0 and hw["rate"] <= 0 else
               ("no-fit" if hw["fits"] > 0 else "too-slow"))
    rec, files = done(rec, files, fits=hw["fits"], rate=hw["rate"])
    if rec["status"] == "ok" and not rec["feasible"]:
        rec.update(status="below-floor", reason=f"validation {key} {rec['val_metric']:.4f} is "
                   f"below the floor {spec.accuracy_floor}")
    rec = _jsonable(rec)
    files["search_record.json"] = (json.dumps(rec, indent=2) + "\n").encode()
    return rec, files


def untrained_graph(arch, data, spec: SearchSpec):
    """The math IR of the untrained network (export -> lower), seeded by the spec: what the
    hardware pre-check and the refinement's cost estimates fold."""
    import torch

    from half.hw.lower import lower
    from half.nn.model import QuantCNN
    from half.nn.train import Normalizer

    torch.set_num_threads(spec.threads)
    torch.manual_seed(spec.seed)
    model = QuantCNN(arch)
    norm = Normalizer.fit(data.select("train").side)
    with tempfile.TemporaryDirectory(prefix="half-precheck-") as tmp:
        path = export_qonnx(model, Path(tmp) / "model.qonnx.onnx")
        return lower(path, side_norm=dataclasses.asdict(norm) if norm.mean else None,
                     classes=data.classes)


def _untrained_hardware(arch, data, spec: SearchSpec) -> dict:
    """hardware_of() the untrained network (export -> lower -> fold)."""
    hw = hardware_of(untrained_graph(arch, data, spec), spec)
    hw.pop("seconds")
    hw.pop("cost")
    return hw


# Module-level names of the heavy steps (imported lazily), so that a test can watch the calls.
def train(arch, data, cfg):
    from half.nn.train import train as _train

    return _train(arch, data, cfg)


def save_run(folder, arch, params, task, cfg, result) -> None:
    from half.nn.train import save_run as _save_run

    _save_run(folder, arch, params, task, cfg, result)


def export_qonnx(model, path: Path) -> Path:
    from half.nn.export import export_qonnx as _export

    return _export(model, path)


def graph_of_run(folder: Path, classes):
    from half.hw.check import graph_of_run as _graph

    return _graph(folder, classes)


def primary_metric(task: str, classes) -> str:
    from half.nn.metrics import primary_metric as _pm

    return _pm(task, classes)


def result_values(rec: dict) -> list[float]:
    """The objective values (error, hardware cost) told to the study; an unknown cost (no
    design) is +inf there and None in the record."""
    return [float(rec["error"]), math.inf if rec["cost"] is None else float(rec["cost"])]


__all__ = ["Evaluator", "SearchSpec", "bits_check", "decode", "evaluate_arch",
           "evaluate_genome", "hardware_of", "holdout_data", "memory_capacity_bits",
           "parse_holdout", "recipe_epochs", "recipe_train_options",
           "resolve_task_params", "search_data", "static_check", "untrained_graph",
           "weight_bits"]
