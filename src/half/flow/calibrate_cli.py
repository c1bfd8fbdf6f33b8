# SPDX-License-Identifier: Apache-2.0
"""`half calibrate collect|fit|check` (registered on the main group by half.cli): a thin layer
over half.flow.calibrate (the synthesis sweep) and half.hw.calibration (the sweep's designs and
their IR graphs, read from the presets before the flow runs; the fit, the check and the
calibration.json files)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape

from half import _ui
from half.errors import ConfigError, DataError, OutputError
from half.flow.calibrate import SYNTH

JSON_OPTION = click.option("--json", "as_json", is_flag=True,
                           help="Print the result as JSON on stdout (and nothing else there).")


@click.group("calibrate")
def calibrate_grp() -> None:
    """Calibrate the cost model against synthesis: collect measurements, fit, check."""


@calibrate_grp.command("collect")
@click.option("--designs", "n", type=click.IntRange(min=1), default=20, show_default=True,
              help="Designs of the sweep: the presets folded for each goal, then random "
                   "foldings.")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Designs synthesized at a time (one process each).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the foldings.")
@click.option("--family", "families", multiple=True, type=click.Choice(list(SYNTH)),
              help="Synthesize for this family only; repeatable [default: all].")
@click.option("-o", "--out", required=True, type=click.Path(path_type=Path),
              help="Rows file (JSON lines) to append to: the designs and families it already "
                   "holds are skipped, so a killed sweep resumes.")
@JSON_OPTION
@click.pass_context
def collect_cmd(ctx: click.Context, n: int, jobs: int, seed: int, families: tuple[str, ...],
                out: Path, as_json: bool) -> None:
    """Synthesize N designs with Yosys, stage by stage, and append their rows to OUT."""
    from half.flow.calibrate import collect
    from half.hw.calibration import designs, graphs

    if out.is_dir():
        raise OutputError(out, "is a folder; give the rows file (JSON lines) to append to")
    _ui.note(f"making {n} designs (seed {seed}) ...")
    todo = designs(n, seed)
    with _ui.progress_bar() as progress:
        res = collect(todo, out, graphs(todo), jobs=jobs, families=families or tuple(SYNTH),
                      progress=progress, log=_ui.note)
    if as_json:
        _ui.emit_json(res)
    else:
        _ui.out.print(f"{res['rows']}: {res['synthesized']} designs synthesized, "
                      f"{res['skipped']} already there, {len(res['failed'])} failed",
                      soft_wrap=True)
    if res["failed"]:
        first = res["failed"][0]
        _ui.err.print(f"[red]half: {len(res['failed'])} designs failed[/] (design "
                      f"{first['index']}: {escape(first['error'])}); rerun to retry them",
                      soft_wrap=True)
        ctx.exit(1)


@calibrate_grp.command("fit")
@click.argument("rows", type=click.Path(path_type=Path))
@click.option("--timing", type=click.Path(path_type=Path), default=None,
              help="Place-and-route rows (benchmarks/calibrate.py timing): the fmax model and "
                   "iCE40's packing factor (without them the calibration has neither).")
@click.option("--install", is_flag=True,
              help="Write the calibration into this half's cost model (its calibration.json).")
@click.option("-o", "--out", type=click.Path(path_type=Path), default=None,
              help="Write the calibration to this file (atomically; an existing file must be a "
                   "calibration half wrote, or give --force).")
@click.option("--force", is_flag=True, help="Replace OUT even if half did not write it.")
@JSON_OPTION
def fit_cmd(rows: Path, timing: Path | None, install: bool, out: Path | None, force: bool,
            as_json: bool) -> None:
    """Fit the cost model's LUT and FF coefficients per family to synthesis ROWS (designs of even
    index; the odd ones are held out) and print the errors."""
    from half._io import write_json_atomic
    from half.hw import calibration as cal

    if install and out is not None:
        raise ConfigError("--install", "give --install or -o FILE, not both")
    if out is not None:
        _claim_file(out, force)
    data = cal.read_rows(rows)
    if not any(r["family"] in cal.FIT_FAMILIES and r["index"] % 2 == 0 for r in data):
        raise DataError(rows, f"no rows of a fitted family ({', '.join(cal.FIT_FAMILIES)}) "
                        "with an even design index: nothing to fit")
    placed = cal.read_rows(timing, "timing") if timing else []
    _ui.note(f"fitting {len(data)} rows" + (f" and {len(placed)} placed designs" if timing
                                             else "") + " ...")
    report = cal.fit(data, placed)
    source = " ".join(["half calibrate fit", str(rows), *(["--timing", str(timing)] if timing
                                                           else [])])
    content = cal.as_calibration(report, source)
    dest = cal.PATH if install else out
    if dest is not None:
        write_json_atomic(dest, content)
    if as_json:
        _ui.emit_json({"report": report, "calibration": content,
                       "written": None if dest is None else str(dest)})
        return
    _print_errors(report, f"fit of {rows}: held-out designs (odd index)", held_out=True)
    for fam, r in report.items():
        extra = []
        if r.get("fmax"):
            e = r["fmax"]["errors"]["held_out"]
            extra.append(f"fmax model held-out median {_pct(e, 'error_median')} (worst "
                         f"{_pct(e, 'error_worst')})")
        if r.get("packing"):
            extra.append(f"packing factor {r['packing']['packing']}")
        if extra:
            _ui.out.print(f"{fam}: " + "; ".join(extra), soft_wrap=True)
    if not timing:
        _ui.out.print("no --timing rows: no fmax model and no packing factor", soft_wrap=True)
    _ui.out.print(f"calibration written to {dest}" if dest is not None else
                  "(give --install or -o FILE to write the calibration)", soft_wrap=True)


@calibrate_grp.command("check")
@click.argument("rows", type=click.Path(path_type=Path))
@click.option("--calibration", "cal_file", type=click.Path(path_type=Path), default=None,
              help="calibration.json to apply [default: the installed one].")
@JSON_OPTION
def check_cmd(rows: Path, cal_file: Path | None, as_json: bool) -> None:
    """Errors of a calibration on every design of synthesis ROWS (none of them taken as fitted,
    e.g. designs synthesized after an RTL change), per family."""
    from half.hw import calibration as cal

    path = cal_file or cal.PATH
    families = cal.load(path)
    data = cal.read_rows(rows)
    res = {"coefficients": str(path), "data": str(rows), **cal.check(data, families)}
    if as_json:
        _ui.emit_json(res)
        return
    _print_errors({k: v for k, v in res.items() if isinstance(v, dict)},
                  f"{path.name} on {rows} (all designs held out)", held_out=False)


def _claim_file(out: Path, force: bool) -> None:
    """`fit -o`: a new file, or a calibration half wrote (`--force`: anything but a folder)."""
    from half.hw.calibration import is_calibration_file

    if out.is_dir():
        raise OutputError(out, "is a folder, not a calibration file")
    if out.exists() and not force and not is_calibration_file(out):
        raise OutputError(out, "exists and is not a calibration half wrote: choose a new path "
                          "or pass --force to replace it")


def _pct(d: dict, key: str) -> str:
    v = d.get(key)
    return "-" if v is None else f"{100 * v:.1f} %"


def _pair(d: dict, key: str) -> str:
    """Median / worst of `key` (e.g. "lut" -> lut_median, lut_worst) in per cent."""
    med, worst = d.get(f"{key}_median"), d.get(f"{key}_worst")
    return "-" if med is None else f"{100 * med:.1f} / {100 * worst:.1f} %"


def _print_errors(per_family: dict, title: str, held_out: bool) -> None:
    """One line per family: whole-design LUT and FF errors (median / worst), calibrated and
    raw, and how many stages have the model's BRAM and DSP counts."""
    _ui.out.print(f"{title}; errors of whole-design totals, median / worst:", soft_wrap=True)
    for fam, r in per_family.items():
        counts = (f"stages with the model's BRAM count {r['bram_exact_stages']}, DSP count "
                  f"{r['dsp_exact_stages']}")
        if r.get("raw_model_only"):  # a family that is not fitted: the raw model only
            _ui.out.print(f"{fam}, {r['designs']} designs (not fitted: the raw model): LUT "
                          f"{_pair(r, 'lut')}, FF {_pair(r, 'ff')}; {counts}", soft_wrap=True)
            continue
        e = r["errors"]["held_out"] if held_out else r["errors"]
        _ui.out.print(f"{fam}, {e['designs']} designs: LUT {_pair(e, 'lut')} (raw "
                      f"{_pair(e, 'lut_uncal')}), FF {_pair(e, 'ff')} (raw "
                      f"{_pair(e, 'ff_uncal')}); {counts}", soft_wrap=True)
