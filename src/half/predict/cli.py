# SPDX-License-Identifier: Apache-2.0
"""`half predict` and the output of `half eval --records` (registered on the main group by
half.cli): a thin layer over half.predict."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from half import _ui
from half.data.qrs import METHODS
from half.predict.apply import DEFAULT_RECORD_RULE, RECORD_RULES
from half.predict.model import ENGINES

RECORD_RULE_OPTION = click.option(
    "--record-rule", type=click.Choice(RECORD_RULES), default=None,
    help="cinc2017-af: the record's class from its windows: af-any (AF when any window says "
         "AF, else the mean score's class), mean, vote, or task (the window the task itself "
         f"uses, as --split does) [default: {DEFAULT_RECORD_RULE}].")


@click.command("predict")
@click.option("--model", "model_spec", required=True, help="Run folder or preset:NAME.")
@click.option("--task", "task_name", default=None,
              help="Task of a preset:NAME (default mitdb-aami); a run folder knows its own.")
@click.argument("records", nargs=-1, required=True)
@click.option("--fs", type=float, default=None,
              help="Sampling rate (Hz) of CSV input (WFDB and EDF files carry their own).")
@click.option("--lead", default=None, help="Lead to read, by name (default: the task's lead, "
              "MLII for mitdb-aami, or lead II, or a file's only lead; the file's only lead for "
              "cinc2017-af).")
@click.option("--annotations", default=None, metavar="EXT",
              help="Take the beats from this WFDB annotation file (e.g. atr) instead of the "
                   "QRS detector.")
@click.option("--detector", type=click.Choice(METHODS), default="gqrs", show_default=True,
              help="QRS detector (half.data.qrs) where no annotations are given (the RR "
                   "features of a cinc2017-af model always use gqrs, as its training did).")
@click.option("--engine", type=click.Choice(ENGINES), default="golden", show_default=True,
              help="golden: the integer model the FPGA computes; torch: the QAT network.")
@click.option("-o", "--out", "out", type=click.Path(path_type=Path), default=None,
              help="Write every row to this .csv or .json file (atomically).")
@RECORD_RULE_OPTION
@click.option("--json", "as_json", is_flag=True,
              help="Print the result as JSON on stdout (every row without -o; a summary with).")
def predict_cmd(model_spec: str, task_name: str | None, records: tuple[str, ...],
                fs: float | None, lead: str | None, annotations: str | None, detector: str,
                engine: str, out: Path | None, record_rule: str, as_json: bool) -> None:
    """Classify your own recordings (WFDB, EDF or CSV, any sampling rate) with a model.

    mitdb-aami models give one row per beat (time_s, sample, class, scores); cinc2017-af models
    one row per window and one per record (by --record-rule)."""
    from half.data.recording import read_recording
    from half.predict import output
    from half.predict.apply import predict_recording
    from half.predict.model import Model

    if out is not None:
        output.check_out(out)
    model = Model(model_spec, task_name, engine)
    default_lead = getattr(model.params, "lead", None)
    recs = [read_recording(r, lead=lead or default_lead, fs=fs, annotations=annotations,
                           lead_fallback=lead is None) for r in records]
    results = []
    with _ui.progress_bar() as progress:
        for i, rec in enumerate(recs):
            if len(recs) > 1:
                progress(f"record {rec.name} ({i + 1}/{len(recs)})", i, len(recs))
            results.append(predict_recording(model, rec, method=detector,
                                             annotations=annotations, progress=progress,
                                             rule=record_rule))
    meta = model.describe()
    if out is not None:
        output.write(out, meta, results)
    summary = {**meta, "out": None if out is None else str(out),
               "records": [r.summary(model.classes) for r in results]}
    if as_json:
        _ui.emit_json(summary if out is not None else output.as_dict(meta, results))
        return
    _print_predict(summary, results if out is None else None)


def _print_predict(s: dict, results) -> None:
    table = Table("record", "lead", "fs", "seconds", "beats/windows", *s["classes"], "class",
                  title=f"{s['task']} model {s['model']} ({s['engine']} engine)")
    for r in s["records"]:
        n = r.get("beats", r.get("windows"))
        table.add_row(r["record"], r["lead"], f"{r['fs']:g}", f"{r['seconds']:.1f}", str(n),
                      *(str(r["counts"][c]) for c in s["classes"]), r.get("class", ""))
    _ui.out.print(table)
    for r in s["records"]:
        if "beats_from" in r:
            _ui.out.print(f"{r['record']}: beats from {r['beats_from']}")
        for note in r["notes"]:
            _ui.out.print(f"[yellow]note:[/] {r['record']}: {note}")
    if s["out"]:
        _ui.out.print(f"rows written to {s['out']}")
    elif results:
        _ui.out.print("(give -o FILE.csv or FILE.json for every row)")


def print_eval_records(res: dict) -> None:
    """Text output of `half eval --records`."""
    from half.cli import _print_metrics

    what = "beats" if "beats" in res else "windows"
    title = (f"{res['task']} on {res['records_dir']}: {res['records']} records, "
             f"{res[what]} {what}"
             + (f" from {res['beats_from']}" if "beats_from" in res else "")
             + f" ({res['engine']} engine)")
    _print_metrics(res, title)
    classes = res["classes"]
    cm = Table("true \\ predicted", *classes, title="confusion")
    for c, row in zip(classes, res["confusion"], strict=True):
        cm.add_row(c, *(str(v) for v in row))
    _ui.out.print(cm)
    det = res.get("detection")
    if det:
        q = det["qrs"]
        _ui.out.print(f"QRS detection: Se {q['se']:.4f}, +P {q['ppv']:.4f} ({q['fn']} missed, "
                      f"{q['fp']} false)")
        _ui.out.print("missed beats per class: " + ", ".join(f"{c} {v}" for c, v in
                                                             det["missed"].items()))
        _ui.out.print("false detections classified as: " + ", ".join(
            f"{c} {v}" for c, v in det["false_detections"].items()))
        wm = res["with_misses"]
        _ui.out.print(f"with misses and false detections counted: macro_f1 {wm['macro_f1']:.4f}; "
                      + ", ".join(f"{c} Se {v['se']:.3f} +P {v['ppv']:.3f}"
                                  for c, v in wm["per_class"].items()))
    if "per_record" in res:
        _print_per_record(res)
    for w in res["warnings"]:
        _ui.out.print(f"[yellow]warning:[/] {w}")


def _print_per_record(res: dict) -> None:
    beats = "beats" in res
    cols = ["record", "beats" if beats else "label", "accuracy" if beats else "class"]
    if beats:
        cols += ["S Se", "S +P", "V Se", "V +P"]
        if "detection" in res:
            cols += ["QRS Se", "QRS +P", "missed"]
    t = Table(*cols, title="per record")
    for r in res["per_record"]:
        if not beats:
            t.add_row(r["record"], r["label"], r["class"])
            continue
        m = r["metrics"]
        pc = m["per_class"]
        cells = [r["record"], str(r["beats"]), f"{m['accuracy']:.3f}",
                 *(f"{pc[c][k]:.3f}" for c in ("S", "V") for k in ("se", "ppv"))]
        if "qrs" in r:
            cells += [f"{r['qrs']['se']:.4f}", f"{r['qrs']['ppv']:.4f}",
                      str(sum(r["missed"].values()))]
        t.add_row(*cells)
    _ui.out.print(t)
