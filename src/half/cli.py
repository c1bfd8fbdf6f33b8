# SPDX-License-Identifier: Apache-2.0
"""The `half` command line: a thin layer over the Python API.

Every command takes --json (its result as JSON on stdout, nothing else there) and the global
--data-dir. Errors are one line on stderr and a non-zero exit status.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from half import __version__, _ui
from half.data import DEFAULT_TASK, TASKS, cache_dir, find_dataset, get_task
from half.data.task import SPLITS
from half.errors import ConfigError, HalfError
from half.hw.goal import DEFAULT_GOAL, GOALS
from half.predict.cli import RECORD_RULE_OPTION


def json_option(fn: Callable) -> Callable:
    return click.option("--json", "as_json", is_flag=True,
                        help="Print the result as JSON on stdout (and nothing else there).")(fn)


def _parse_params(items: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError("--param", f"expected KEY=VALUE, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def _options(*decorators: Callable) -> Callable:
    """Several click options as one decorator (applied in the order listed)."""

    def apply(fn: Callable) -> Callable:
        for d in reversed(decorators):
            fn = d(fn)
        return fn

    return apply


TASK_OPTION = click.option("--task", "task_name", default=DEFAULT_TASK, show_default=True)
MODEL_OPTION = click.option("--model", "model_spec", required=True,
                            help="Run folder or preset:NAME.")
# -c / -p of the commands that train
TRAIN_OPTIONS = _options(
    click.option("-c", "--config", "config", multiple=True, metavar="KEY=VALUE",
                 help="Set a training option (lr, batch_size, patience, balance, ...)."),
    click.option("-p", "--param", "params", multiple=True, metavar="KEY=VALUE",
                 help="Set a task parameter; repeatable."))
# --device / --goal / --rate of the commands that fold a model for a target
TARGET_OPTIONS = _options(
    click.option("--device", default="up5k", show_default=True, help="Device of the catalog."),
    click.option("--goal", type=click.Choice(list(GOALS)), default=DEFAULT_GOAL,
                 show_default=True),
    click.option("--rate", type=float, default=None,
                 help="Required inferences/s (default: the task's real-time rate)."))


def _split_option(default: str) -> Callable:
    return click.option("--split", type=click.Choice(["train", "val", "test"]), default=default,
                        show_default=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="Folder holding mitdb/ and cinc2017/ (else HALF_DATA_DIR, ../shared/data next "
                   "to the checkout, the cache, the bundled subset).")
@click.version_option(__version__, prog_name="half")
@click.pass_context
def cli(ctx: click.Context, data_dir: Path | None) -> None:
    """half: from an ECG dataset to a verified, quantized neural network on an FPGA."""
    ctx.obj = {"data_dir": data_dir}


@cli.command("tasks")
@json_option
def tasks_cmd(as_json: bool) -> None:
    """List the tasks with their classes and parameters."""
    import dataclasses

    result = []
    for name, cls in TASKS.items():
        task = cls()
        params = {f.name: getattr(task.params, f.name) for f in dataclasses.fields(cls.Params)}
        result.append({"task": name, "dataset": cls.dataset, "classes": list(task.classes),
                       "params": params, "default": name == DEFAULT_TASK})
    if as_json:
        _ui.emit_json(result)
        return
    for t in result:
        _ui.out.print(f"[bold]{t['task']}[/]{' (default)' if t['default'] else ''}: "
                      f"classes {' '.join(t['classes'])}")
        for k, v in t["params"].items():
            _ui.out.print(f"    {k} = {v}")


@cli.group("data")
def data_grp() -> None:
    """Find, download and prepare the ECG datasets."""


@data_grp.command("prepare")
@click.option("--task", "task_name", default=DEFAULT_TASK, show_default=True,
              help=f"One of: {', '.join(TASKS)}.")
@click.option("--labels", default=None, help="cinc2017-af label file (REFERENCE-v3.csv default, "
              "or REFERENCE.csv for the first release, or a path).")
@click.option("-p", "--param", "params", multiple=True, metavar="KEY=VALUE",
              help="Set a task parameter (see `half tasks`); repeatable.")
@click.option("--no-cache", is_flag=True, help="Rebuild and do not write the cache.")
@json_option
@click.pass_context
def prepare_cmd(ctx: click.Context, task_name: str, labels: str | None, params: tuple[str, ...],
                no_cache: bool, as_json: bool) -> None:
    """Cut the task's windows (cached) and print counts per split and class."""
    options = _parse_params(params)
    if labels is not None:
        options["labels"] = labels
    task = get_task(task_name, **options)
    with _ui.progress_bar() as progress:
        data = task.load(ctx.obj["data_dir"], progress=progress, use_cache=not no_cache)
    summary = task.summary(data)
    if as_json:
        _ui.emit_json(summary)
    else:
        _print_summary(summary)


def _print_summary(s: dict) -> None:
    _ui.out.print(f"[bold]{s['task']}[/]: {s['windows']} windows of {s['window']} samples at "
                  f"{s['fs']:g} Hz; data: {s['source']}")
    table = Table("split", "records", *s["classes"], "total")
    for split in SPLITS:
        c = s["counts"][split]
        table.add_row(split, str(s["records"][split]), *(str(c[k]) for k in s["classes"]),
                      str(sum(c.values())))
    table.add_row("all", str(sum(s["records"].values())), *(str(s["totals"][k]) for k in
                                                             s["classes"]),
                  str(s["windows"]))
    _ui.out.print(table)
    pub = s.get("published")
    if pub and pub["comparable"]:
        t = Table("class", "DS1 ours", "DS1 published", "diff", "DS2 ours", "DS2 published",
                  "diff", title=f"published counts ({pub['source']})")
        for c in s["classes"]:
            cells = []
            for ds in ("DS1", "DS2"):
                v = pub["sets"][ds][c]
                cells += [str(v["ours"]), str(v["published"]), f"{v['diff_pct']:+.2f} %"]
            t.add_row(c, *cells)
        _ui.out.print(t)
    for w in s["warnings"]:
        _ui.out.print(f"[yellow]warning:[/] {w}")
    hit = "hit" if s["cache"]["hit"] else ("written" if s["cache"]["used"] else "off")
    _ui.out.print(f"cache {hit}: {s['cache']['path']}")


@data_grp.command("where")
@json_option
@click.pass_context
def where_cmd(ctx: click.Context, as_json: bool) -> None:
    """Say where each dataset is found and where the cache is."""
    result: dict = {"cache_dir": str(cache_dir()), "datasets": {}}
    for ds in ("mitdb", "cinc2017"):
        try:
            src = find_dataset(ds, ctx.obj["data_dir"])
            result["datasets"][ds] = {"path": str(src.path), "origin": src.origin}
        except HalfError as exc:
            result["datasets"][ds] = {"path": None, "error": str(exc)}
    if as_json:
        _ui.emit_json(result)
        return
    _ui.out.print(f"cache: {result['cache_dir']}")
    for ds, info in result["datasets"].items():
        where = f"{info['path']} ({info['origin']})" if info["path"] else info["error"]
        _ui.out.print(f"{ds}: {where}")


@data_grp.command("download")
@click.argument("dataset", type=click.Choice(["mitdb", "cinc2017"]))
@click.option("--dest", type=click.Path(path_type=Path), default=None,
              help="Target folder (default: <cache>/data/DATASET, where half looks).")
@click.option("--force", is_flag=True, help="Download again even if the folder holds the dataset "
              "(a folder of other files is never replaced).")
@json_option
def download_cmd(dataset: str, dest: Path | None, force: bool, as_json: bool) -> None:
    """Fetch a dataset from PhysioNet (needs internet)."""
    from half.data.download import download

    with _ui.progress_bar() as progress:
        path = download(dataset, dest, progress=progress, force=force)
    if as_json:
        _ui.emit_json({"dataset": dataset, "path": str(path)})
    else:
        _ui.out.print(f"{dataset}: {path}")


@cli.command("train")
@TASK_OPTION
@click.option("--arch", "arch_spec", required=True, help="Architecture file (.json/.yaml) or "
              "preset:NAME.")
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(path_type=Path),
              help="Run folder to write (replaced as a whole when training ends; an existing "
                   "path must be a half model folder, or give --force).")
@click.option("--force", is_flag=True, help="Replace OUT even if it is not a half model folder.")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Maximum epochs.")
@click.option("--fraction", type=float, default=None, help="Fraction of the training windows.")
@click.option("--budget", type=float, default=None, help="Training time budget in seconds.")
@click.option("--seed", type=int, default=None)
@TRAIN_OPTIONS
@json_option
@click.pass_context
def train_cmd(ctx: click.Context, task_name: str, arch_spec: str, out_dir: Path,
              force: bool, epochs: int | None, fraction: float | None, budget: float | None,
              seed: int | None, config: tuple[str, ...], params: tuple[str, ...],
              as_json: bool) -> None:
    """Quantization-aware training; early stopping on the validation split."""
    from half.nn.runs import train_run

    cfg = _train_config(config, epochs=epochs, train_fraction=fraction, time_budget_s=budget,
                        seed=seed)
    with _ui.progress_bar() as progress:
        result = train_run(task_name, arch_spec, out_dir, cfg, _parse_params(params),
                           ctx.obj["data_dir"], progress, force=force)
    if as_json:
        _ui.emit_json(result)
        return
    _print_metrics(result["val"], f"{task_name} validation (best epoch {result['best_epoch']})")
    _ui.out.print(f"{result['params']} parameters, {result['macs']} MACs; "
                  f"{result['windows_per_s']:.0f} windows/s; run folder {out_dir}")


@cli.command("eval")
@MODEL_OPTION
@click.option("--task", "task_name", default=None,
              help=f"Task of a preset:NAME [default: {DEFAULT_TASK}].")
@click.option("--split", type=click.Choice(["train", "val", "test"]), default=None,
              help="Split of the task's own data [default: val].")
@click.option("--records", "records_dir", type=click.Path(path_type=Path), default=None,
              help="Evaluate on this folder of recordings instead (WFDB; beat annotations for "
                   "mitdb-aami, --rhythm-labels for cinc2017-af).")
@click.option("--rhythm-labels", type=click.Path(path_type=Path), default=None,
              help="With --records: CSV of record,label (N/A/O/~ or their names).")
@click.option("--detect", is_flag=True, help="With --records: beats from the QRS detector, "
              "matched within 150 ms to the annotated ones (misses counted).")
@click.option("--per-record", is_flag=True, help="With --records: metrics of every record.")
@click.option("--engine", type=click.Choice(["torch", "golden"]), default=None,
              help="With --records: the QAT network or the integer model [default: torch].")
@click.option("--lead", default=None, help="With --records: lead to read (default: the task's).")
@RECORD_RULE_OPTION
@json_option
@click.pass_context
def eval_cmd(ctx: click.Context, model_spec: str, task_name: str | None, split: str | None,
             records_dir: Path | None, rhythm_labels: Path | None, detect: bool,
             per_record: bool, engine: str | None, lead: str | None, record_rule: str,
             as_json: bool) -> None:
    """Print a model's metrics on one split of its task, or on a folder of recordings."""
    from half.nn.runs import eval_run

    if records_dir is not None:
        if split is not None:
            raise ConfigError("--split", "give --split or --records, not both")
        _eval_records(model_spec, task_name, records_dir, rhythm_labels, detect, per_record,
                      engine or "torch", lead, record_rule, as_json)
        return
    for flag, given in (("--rhythm-labels", rhythm_labels is not None), ("--detect", detect),
                        ("--per-record", per_record), ("--lead", lead is not None),
                        ("--engine", engine is not None),
                        ("--record-rule", record_rule is not None)):
        if given:
            raise ConfigError(flag, "only with --records DIR")
    task_name = task_name or DEFAULT_TASK
    split = split or "val"
    with _ui.progress_bar() as progress:
        result = eval_run(model_spec, task_name, split, ctx.obj["data_dir"], progress)
    if as_json:
        _ui.emit_json(result)
        return
    _print_metrics(result, f"{task_name} {split} split, {result['windows']} windows")
    for w in result["warnings"]:
        _ui.out.print(f"[yellow]warning:[/] {w}")


def _eval_records(model_spec: str, task_name: str | None, records_dir: Path,
                  rhythm_labels: Path | None, detect: bool, per_record: bool, engine: str,
                  lead: str | None, record_rule: str, as_json: bool) -> None:
    from half.predict.cli import print_eval_records
    from half.predict.evaluate import evaluate_folder
    from half.predict.model import Model

    model = Model(model_spec, task_name, engine)
    with _ui.progress_bar() as progress:
        res = evaluate_folder(model, records_dir, rhythm_labels=rhythm_labels, detect=detect,
                              per_record=per_record, lead=lead, progress=progress,
                              record_rule=record_rule)
    if as_json:
        _ui.emit_json(res)
    else:
        print_eval_records(res)


@cli.command("cv")
@TASK_OPTION
@click.option("--arch", "arch_spec", required=True, help="Architecture file or preset:NAME.")
@click.option("--folds", type=click.IntRange(min=2), default=4, show_default=True)
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help="Maximum epochs per fold.")
@click.option("--seed", type=int, default=0, show_default=True)
@TRAIN_OPTIONS
@json_option
@click.pass_context
def cv_cmd(ctx: click.Context, task_name: str, arch_spec: str, folds: int, epochs: int | None,
           seed: int, config: tuple[str, ...], params: tuple[str, ...], as_json: bool) -> None:
    """Patient-wise k-fold cross-validation inside the training records (never the test split)."""
    from half.data import get_task
    from half.nn.cv import cross_validate
    from half.nn.runs import resolve_arch

    cfg = _train_config(config, epochs=epochs, seed=seed)
    arch, preset_params = resolve_arch(arch_spec, task_name)
    task = get_task(task_name, **{**preset_params, **_parse_params(params)})
    with _ui.progress_bar() as progress:
        data = task.load(ctx.obj["data_dir"], progress=progress)
        result = cross_validate(arch, data, folds, cfg, seed=seed, progress=progress)
    if as_json:
        _ui.emit_json(result)
        return
    _print_metrics(result["pooled"], f"{task_name} out-of-fold ({folds} folds, pooled)")
    _ui.out.print(f"{result['metric']} per fold: {result['fold_mean']:.4f} ± "
                  f"{result['fold_std']:.4f}")


@cli.command("golden")
@MODEL_OPTION
@TASK_OPTION
@_split_option("test")
@json_option
@click.pass_context
def golden_cmd(ctx: click.Context, model_spec: str, task_name: str, split: str,
               as_json: bool) -> None:
    """Lower the model to the integer IR; compare the golden model with the PyTorch model."""
    from half.hw.check import golden_agreement

    with _ui.progress_bar() as progress:
        res = golden_agreement(model_spec, task_name, split, ctx.obj["data_dir"], progress)
    if as_json:
        _ui.emit_json(res)
        return
    key = "macro_f1" if "macro_f1_torch" in res else "f1_nao"
    _ui.out.print(f"{res['windows']} {split} windows: agreement {res['agreement']:.4f} "
                  f"({res['disagreements']} disagreements)")
    _ui.out.print(f"accuracy: PyTorch {res['accuracy_torch']:.4f}, golden "
                  f"{res['accuracy_golden']:.4f}; {key}: PyTorch {res[key + '_torch']:.4f}, "
                  f"golden {res[key + '_golden']:.4f}")


@cli.command("estimate")
@click.option("--model", "model_spec", required=True,
              help="Run folder, preset:NAME or a QONNX file (.onnx).")
@TASK_OPTION
@TARGET_OPTIONS
@json_option
def estimate_cmd(model_spec: str, task_name: str, device: str, goal: str, rate: float | None,
                 as_json: bool) -> None:
    """Fold the model for a goal on a device; per-layer cycles, resources and power (estimates)."""
    from half.hw.folding import required_rate
    from half.hw.plan import graph_for, plan

    graph, params = graph_for(model_spec, task_name)
    res = plan(graph, device, goal, rate or required_rate(task_name, params))
    if as_json:
        _ui.emit_json(res)
        return
    cal = "calibrated" if res["calibrated"] else "[yellow]NOT calibrated[/]"
    table = Table("stage", "kind", "PE", "SIMD", "cycles", "LUT*", "FF*", "BRAM*", "DSP*",
                  "dyn. energy*", title=f"{goal} on {device} at {res['clock_mhz']:g} MHz "
                  f"(* estimate; {cal})")
    for s in res["stages"]:
        table.add_row(s["name"], s["kind"], str(s["pe"]), str(s["simd"]), str(s["cycles"]),
                      str(s["luts"]), str(s["ffs"]), str(s["bram"]), str(s["dsp"]),
                      f"{100 * s['dynamic_energy_share']:.0f} %")
    r, p = res["resources_estimate"], res["power_estimate_mw"]
    table.add_row("total", "", "", "", f"II {res['ii_cycles']}", str(r["luts"]), str(r["ffs"]),
                  str(r["bram"]), str(r["dsp"]), "")
    _ui.out.print(table)
    _ui.out.print(f"throughput {res['throughput_per_s']:.4g}/s, latency {res['latency_ms']:.4g} "
                  f"ms; power* {p['average_at_rate']:.4g} mW at {p['rate_per_s']:.4g}/s "
                  f"(static* {p['static']:.4g} mW); energy* {res['energy_estimate_uj']:.4g} µJ "
                  "per inference")
    if not res["calibrated"]:  # the raw model: say so, not only in a note
        _ui.out.print(f"[yellow]warning:[/] {res['calibration_note']}")
    for note in res["notes"]:
        if res["calibrated"] or note != res["calibration_note"]:
            _ui.out.print(f"note: {note}")


@cli.command("build")
@MODEL_OPTION
@TASK_OPTION
@TARGET_OPTIONS
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(path_type=Path),
              help="Project folder to write (replaced as a whole; an existing path must be a half "
                   "project, or give --force).")
@click.option("--force", is_flag=True, help="Replace OUT even if it is not a half project.")
@click.option("--folding", "folding_file", type=click.Path(path_type=Path), default=None,
              help="Use this folding (JSON as design.json's 'folding': clock_mhz and per layer "
                   "pe, simd and optionally psums; optionally replicas and samples_per_beat) "
                   "instead of folding for the goal.")
@json_option
def build_cmd(model_spec: str, task_name: str, device: str, goal: str, rate: float | None,
              out_dir: Path, force: bool, folding_file: Path | None, as_json: bool) -> None:
    """Generate the RTL project of a model folded for a goal on a device."""
    from half.rtl.build import build, read_folding

    folding = read_folding(folding_file) if folding_file else None
    res = build(model_spec, task_name, device, goal, out_dir, rate, folding, force=force)
    if as_json:
        _ui.emit_json(res)
        return
    _ui.out.print(f"project {out_dir}: {device}, {goal}, {res['folding']['clock_mhz']:g} MHz, "
                  f"II {res['ii_cycles']} cycles, latency {res['latency_cycles']} cycles")


@cli.command("verify")
@click.argument("project", type=click.Path(path_type=Path))
@click.option("--windows", type=click.IntRange(min=1), default=200, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@json_option
@click.pass_context
def verify_cmd(ctx: click.Context, project: Path, windows: int, seed: int,
               as_json: bool) -> None:
    """Simulate real test windows through the design (Verilator) against the golden model."""
    from half.flow.verify import verify

    _ui.err.print(f"building and simulating {project} with Verilator ...")
    res = verify(project, windows, seed, ctx.obj["data_dir"])
    if as_json:
        _ui.emit_json(res)
    else:
        _ui.out.print(f"{res['windows']} windows: {res['mismatches']} mismatches; cycles "
                      f"model {res['cycles_model']} / measured {res['cycles_measured']}; II "
                      f"model {res['ii_model']} / measured {res['ii_measured']}; lint "
                      f"{'clean' if res['lint_clean'] else 'WARNINGS'}")
        if res["mismatches"]:
            _ui.out.print(f"first mismatch: window {res['first_mismatch_window']}, layer "
                          f"{res['first_mismatch_layer']}")
    if res["mismatches"] or not res["lint_clean"]:
        ctx.exit(1)


@cli.command("power")
@click.argument("project", type=click.Path(path_type=Path))
@click.option("--windows", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@json_option
@click.pass_context
def power_cmd(ctx: click.Context, project: Path, windows: int, seed: int, as_json: bool) -> None:
    """Power estimate from toggle rates measured in simulation (Verilator toggle coverage)."""
    from half.flow.activity import measure

    _ui.err.print(f"simulating {project} with toggle coverage ...")
    res = measure(project, windows, seed, ctx.obj["data_dir"])
    if as_json:
        _ui.emit_json(res)
        return
    table = Table("stage", "toggle rate", "signal bits", title=f"measured on {res['windows']} "
                  "windows (reference rate " f"{res['toggle_rate_reference']:.1%})")
    for name, d in res["stages"].items():
        table.add_row(name, f"{d['toggle_rate']:.2%}", str(d["signal_bits"]))
    _ui.out.print(table)
    for key, label in (("estimate_reference_toggle", "reference toggle rate"),
                       ("estimate_measured_toggle", "measured toggle rates")):
        e = res[key]
        p = e["power_estimate_mw"]
        _ui.out.print(f"{label}: power* {p['average_at_rate']:.4g} mW at {p['rate_per_s']:.4g}/s, "
                      f"busy dynamic* {p['dynamic_busy']:.4g} mW, energy* "
                      f"{e['energy_estimate_uj']:.4g} µJ per inference")
    for note in res["notes"]:
        _ui.out.print(f"note: {note}")


@cli.command("implement")
@click.argument("project", type=click.Path(path_type=Path))
@click.option("--device", default=None,
              help="Device of the catalog (default: the project's; the RTL is vendor-neutral).")
@json_option
@click.pass_context
def implement_cmd(ctx: click.Context, project: Path, device: str | None, as_json: bool) -> None:
    """Synthesis, place-and-route and bitstream (Yosys, nextpnr); Vivado Tcl for AMD/Xilinx."""
    from half.flow.implement import implement

    res = implement(project, device, progress=lambda m: _ui.err.print(m, soft_wrap=True))
    if as_json:
        _ui.emit_json(res)
    else:
        _print_implementation(res)
    if not res["fits"] or res["timing_met"] is False:
        why = res["bitstream_note"] if not res["fits"] else (
            f"timing not met: fmax {res['fmax_mhz']:.2f} MHz < target {res['target_mhz']:g} MHz "
            f"(slack {res['slack_ns']:+.3f} ns)")
        _ui.err.print(f"[red]half: {why}[/]", soft_wrap=True)
        ctx.exit(1)


def _print_implementation(r: dict) -> None:
    table = Table("resource", "used", "available", "%", title=f"{r['device']} ({r['part']}), "
                  f"{r['kind']}" + (f", top {r['top']}" if r["top"] != "half_top" else ""))
    rows = r["utilization"] or {k: v for k, v in r["resources"].items() if v["used"]}
    for name, u in rows.items():
        avail = u.get("available")
        pct = f"{100 * u['used'] / avail:.1f}" if avail else ""
        table.add_row(name, f"{u['used']:g}", str(avail or ""), pct)
    _ui.out.print(table)
    if r["fmax_mhz"] is not None:
        met = "[green]met[/]" if r["timing_met"] else "[red]NOT met[/]"
        rate = (f"; {r['inferences_per_s']:.4g} inferences/s at fmax (II {r['ii_cycles']} "
                "cycles)") if r["inferences_per_s"] else ""
        _ui.out.print(f"fmax {r['fmax_mhz']:.2f} MHz vs target {r['target_mhz']:g} MHz: timing "
                      f"{met} (slack {r['slack_ns']:+.3f} ns){rate}")
    else:
        _ui.out.print(f"target {r['target_mhz']:g} MHz; no timing ({r['kind']})")
    cp = r.get("critical_path")
    if cp:
        _ui.out.print(f"critical path {cp['delay_ns']:.2f} ns ({cp['logic_ns']:.2f} logic, "
                      f"{cp['routing_ns']:.2f} routing): {cp['start']} -> {cp['end']}")
    _ui.out.print(f"bitstream: {r['bitstream'] or r['bitstream_note']}")
    if r.get("vivado_tcl"):
        _ui.out.print(f"Vivado script: {r['vivado_tcl']}")
    steps = ", ".join(f"{k} {v:g} s" for k, v in r["seconds"].items())
    _ui.out.print(f"time: {steps}")
    for note in r["notes"]:
        if note != r["bitstream_note"]:
            _ui.out.print(f"note: {note}")

def _train_config(config: tuple[str, ...], **given):
    """TrainConfig from `-c KEY=VALUE` options and the dedicated flags that were given."""
    # half.nn.config imports no torch: a bad option fails in a second
    from half.nn.config import TrainConfig, options_from_strings

    options = options_from_strings(dict(sorted(_parse_params(config).items())))
    options.update({k: v for k, v in given.items() if v is not None})
    return TrainConfig(**options)


def _print_metrics(m: dict, title: str) -> None:
    per_class = {k: v for k, v in m.get("per_class", {}).items()}
    table = Table("class", "Se", "+P", "F1", "support", title=title)
    for c, row in per_class.items():
        table.add_row(c, f"{row['se']:.3f}", f"{row['ppv']:.3f}", f"{row['f1']:.3f}",
                      str(row["support"]))
    if per_class:
        _ui.out.print(table)
    for key in ("macro_f1", "f1_nao", "f1", "accuracy", "jk_index", "sensitivity",
                "specificity"):
        if key in m:
            _ui.out.print(f"{key}: {m[key]:.4f}")


def _error(message: str) -> None:
    message = " ".join(str(message).split())  # always one line
    _ui.err.print(f"[red]half: error:[/] {escape(message)}", soft_wrap=True)


def run(argv: list[str] | None = None, command: str = "half") -> int:
    """Run the command line and return its exit status; every failure is one line on stderr.

    HalfError: its own status (2 for bad input); a usage error: 2; an OSError (a path that
    cannot be read or written): 2, naming the path. KeyboardInterrupt propagates to the entry
    point (half._entry), which says `half: interrupted` and exits 130."""
    group = cli
    if command == "search":
        from half.search.cli import search_cmd as group
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        # click's own main() would print a blank line on Ctrl-C and turn it into Abort
        with group.make_context("half search" if command == "search" else "half", args) as ctx:
            group.invoke(ctx)
        return 0
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.Abort:
        raise KeyboardInterrupt from None
    except click.ClickException as exc:  # usage errors
        _error(exc.format_message())
        return 2
    except (HalfError, OSError) as exc:
        from half import _io

        if _io.interrupted():  # a Ctrl-C a library turned into an error: the entry point says so
            raise KeyboardInterrupt from None
        if isinstance(exc, HalfError):
            _error(str(exc))
            return exc.exit_code
        where = exc.filename if exc.filename is not None else "error"
        _error(f"{where}: {exc.strerror or exc}")
        return 2


def _register_search() -> None:
    from half.search.cli import search_cmd

    cli.add_command(search_cmd)


_register_search()


def _register_predict() -> None:
    from half.predict.cli import predict_cmd

    cli.add_command(predict_cmd)


_register_predict()


def _register_run() -> None:
    from half.run.cli import run_cmd

    cli.add_command(run_cmd)


_register_run()


def _register_calibrate() -> None:
    from half.flow.calibrate_cli import calibrate_grp

    cli.add_command(calibrate_grp)


_register_calibrate()


def main(argv: list[str] | None = None) -> None:
    """Console entry point (`half`): see half._entry."""
    from half._entry import main as entry

    entry(argv)
