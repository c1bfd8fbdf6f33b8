# SPDX-License-Identifier: Apache-2.0
"""The task's metrics of a model on any folder of recordings (`half eval --records DIR`).

`mitdb-aami`: every WFDB record in the folder with the model's lead and an annotation file.
The beat labels are mapped to the AAMI classes (`half.data.mitdb.AAMI`); beats with labels
outside the map (MIT-BIH's B, r, n, ?, !) are counted per label and left out, as the task does
(their R peaks still count for the RR features). Beats come from the annotations, or with
`detect` from the QRS detector: each detection is classified, detections are matched one to one
within 150 ms to the annotated beats (`half.data.qrs.match_beats`), a matched AAMI beat is
scored with the class of its detection, and an annotated AAMI beat without a detection is a
miss. With detected beats, `metrics` covers the matched beats; `with_misses` counts the misses
against each class's Se and the detections matched to no beat (false detections) against the
+P of the class they were given.

`cinc2017-af`: the recordings named in a rhythm-label CSV (`record,label`; a first row whose
first field is `record` or `name` is a header), found in the folder as WFDB records or
`.edf` files. Labels map to the classes as `RHYTHM_LABELS` says (case-insensitive); others are
counted and left out. Each recording's class is the record class of `half.predict.apply` by
the record rule (default af-any); with the rule `task` (the task's own window), on the task's
own recordings this equals `half eval --split`.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path

import numpy as np

from half.data import qrs
from half.data.cinc2017 import Cinc2017Af
from half.data.mitdb import AAMI, MitdbAami, beat_inputs
from half.data.recording import read_recording
from half.data.task import Progress
from half.errors import ConfigError, DataError
from half.nn.metrics import MITDB_MACRO_EXCLUDED, metrics_for
from half.predict.apply import check_recording, find_beats, resolve_record_rule, window_rows
from half.predict.model import Model

# rhythm label (lower case) -> CinC 2017 class
RHYTHM_LABELS = {
    "n": "N", "normal": "N", "nsr": "N", "sinus": "N", "sinus rhythm": "N",
    "a": "A", "af": "A", "afib": "A", "(afib": "A", "atrial fibrillation": "A",
    "o": "O", "other": "O", "other rhythm": "O",
    "~": "~", "noisy": "~", "noise": "~",
}


def read_rhythm_labels(path: Path) -> tuple[dict[str, str], Counter]:
    """(record -> CinC class, count of labels outside RHYTHM_LABELS) from a CSV file."""
    if not path.is_file():
        raise DataError(path, "no such file")
    out: dict[str, str] = {}
    unknown: Counter = Counter()
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(path, f"unreadable ({exc})") from None
    for i, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or not "".join(row).strip():
            continue
        if i == 1 and row[0].strip().lower() in ("record", "name"):
            continue
        if len(row) < 2:
            raise DataError(path, f"line {i}: expected 'record,label', got {','.join(row)!r}")
        rec, lab = row[0].strip(), row[1].strip()
        cls = RHYTHM_LABELS.get(lab.lower())
        if cls is None:
            unknown[lab] += 1
        else:
            out[rec] = cls
    if not out and not unknown:
        raise DataError(path, "no labels in file")
    return out, unknown


def evaluate_folder(model: Model, folder: Path, *, rhythm_labels: Path | None = None,
                    detect: bool = False, per_record: bool = False, lead: str | None = None,
                    annotations: str = "atr", method: str = "gqrs",
                    progress: Progress | None = None,
                    record_rule: str | None = None) -> dict:
    """The task's metrics of `model` on the recordings in `folder` (see the module docstring);
    `record_rule`: cinc2017-af's record rule (None: DEFAULT_RECORD_RULE)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(folder, "no such folder")
    if isinstance(model.task, MitdbAami):
        if rhythm_labels is not None:
            raise ConfigError("--rhythm-labels", "mitdb-aami is scored on beat annotations")
        resolve_record_rule(model, record_rule)  # none given, or a one-line error
        res = _beats(model, folder, detect, lead or model.params.lead, annotations, method,
                     progress)
    elif isinstance(model.task, Cinc2017Af):
        if detect:
            raise ConfigError("--detect", "cinc2017-af classifies recordings, not beats")
        if rhythm_labels is None:
            raise ConfigError("--rhythm-labels", "cinc2017-af needs rhythm labels: a CSV file "
                              "of record,label")
        record_rule = resolve_record_rule(model, record_rule)
        res = _rhythm(model, folder, Path(rhythm_labels), lead, progress, record_rule)
        res["record_rule"] = record_rule
    else:
        raise ConfigError("model", f"half eval --records does not know task {model.task.name}")
    if not per_record:
        res.pop("per_record")
    return {**model.describe(), "records_dir": str(folder), **res}


def _beats(model: Model, folder: Path, detect: bool, lead: str, annotations: str, method: str,
           progress: Progress | None) -> dict:
    p = model.params
    classes = model.classes
    names = sorted(h.name[:-4] for h in folder.glob("*.hea"))
    if not names:
        raise DataError(folder, "no WFDB record (no NAME.hea file)")
    y_true, y_pred, per, skipped = [], [], [], []
    left_out: Counter = Counter()
    missed = np.zeros(len(classes), dtype=np.int64)
    false = np.zeros(len(classes), dtype=np.int64)
    qrs_tp = qrs_fn = qrs_fp = 0
    for k, name in enumerate(names):
        if progress is not None:
            progress(f"record {name}", k, len(names))
        if not (folder / f"{name}.{annotations}").is_file():
            skipped.append({"record": name, "why": f"no annotation file {name}.{annotations}"})
            continue
        try:
            rec = read_recording(folder / name, lead=lead, annotations=annotations)
        except DataError as exc:
            if "no lead named" not in exc.fault:
                raise
            skipped.append({"record": name, "why": exc.fault})
            continue
        check_recording(model, rec)
        ann = find_beats(rec, annotations=annotations)
        aami = np.array([s in AAMI for s in ann.symbol], dtype=bool)
        left_out.update(s for s in ann.symbol if s not in AAMI)
        truth = np.array([classes.index(AAMI[s]) if s in AAMI else -1 for s in ann.symbol])
        if not detect:
            x, side, _ = beat_inputs(rec.signal, rec.fs, ann.sample, p, keep=aami,
                                     where=rec.path)
            pred, _ = model.classify(x, side)
            t = truth[aami]
            row = {"record": name, "beats": int(aami.sum())}
        else:
            det = qrs.detect(rec.signal, rec.fs, method=method)
            if det.size < 2:
                raise DataError(rec.path, f"{det.size} beats found by the QRS detector: RR "
                                "features need two")
            x, side, _ = beat_inputs(rec.signal, rec.fs, det, p, where=rec.path)
            pred_all, _ = model.classify(x, side)
            m = qrs.match_beats(ann.sample, det, rec.fs)
            scored = aami[m.ref]
            t, pred = truth[m.ref][scored], pred_all[m.det][scored]
            miss = np.bincount(truth[m.missed][aami[m.missed]], minlength=len(classes))
            fp = np.bincount(pred_all[m.extra], minlength=len(classes))
            missed += miss
            false += fp
            qrs_tp, qrs_fn, qrs_fp = qrs_tp + m.tp, qrs_fn + m.missed.size, qrs_fp + m.extra.size
            row = {"record": name, "beats": int(aami.sum()), "qrs": m.counts(),
                   "missed": {c: int(v) for c, v in zip(classes, miss, strict=True)},
                   "false_detections": {c: int(v) for c, v in zip(classes, fp, strict=True)}}
        y_true.append(t)
        y_pred.append(pred)
        row["metrics"] = metrics_for(model.task.name, classes, t, pred)
        per.append(row)
    if progress is not None:
        progress("records", len(names), len(names))
    if not per:
        raise DataError(folder, f"no record with lead {lead!r} and an annotation file "
                        f"(.{annotations}) among {len(names)} records")
    yt, yp = np.concatenate(y_true), np.concatenate(y_pred)
    out = {"records": len(per), "beats_from": f"QRS detector ({method})" if detect
           else f"annotations (.{annotations})", "beats": int(yt.size),
           **metrics_for(model.task.name, classes, yt, yp),
           "left_out": dict(sorted(left_out.items())), "skipped": skipped, "per_record": per}
    if detect:
        out["detection"] = {
            "qrs": {"tp": qrs_tp, "fn": qrs_fn, "fp": qrs_fp,
                    "se": qrs_tp / max(1, qrs_tp + qrs_fn),
                    "ppv": qrs_tp / max(1, qrs_tp + qrs_fp)},
            "missed": {c: int(v) for c, v in zip(classes, missed, strict=True)},
            "false_detections": {c: int(v) for c, v in zip(classes, false, strict=True)}}
        out["with_misses"] = with_misses(np.asarray(out["confusion"]), missed, false, classes)
    out["warnings"] = _warnings(skipped, left_out)
    return out


def with_misses(cm: np.ndarray, missed: np.ndarray, false: np.ndarray,
                classes: tuple[str, ...]) -> dict:
    """Per-class Se, +P, F1 and macro-F1 with missed beats counted against Se and false
    detections against +P."""
    tp = np.diag(cm).astype(np.float64)
    rows = cm.sum(axis=1) + missed
    cols = cm.sum(axis=0) + false
    per = {c: {"se": float(tp[i] / rows[i]) if rows[i] else 0.0,
               "ppv": float(tp[i] / cols[i]) if cols[i] else 0.0,
               "f1": float(2 * tp[i] / (rows[i] + cols[i])) if rows[i] + cols[i] else 0.0,
               "support": int(rows[i])} for i, c in enumerate(classes)}
    macro = [per[c]["f1"] for c in classes if c not in MITDB_MACRO_EXCLUDED]
    return {"per_class": per, "macro_f1": float(np.mean(macro))}


def _rhythm(model: Model, folder: Path, labels_file: Path, lead: str | None,
            progress: Progress | None, record_rule: str) -> dict:
    classes = model.classes
    labels, unknown = read_rhythm_labels(labels_file)
    binary = len(classes) == 2
    y_true, y_pred, per, missing = [], [], [], []
    recs = sorted(labels)
    for k, name in enumerate(recs):
        if progress is not None and k % 50 == 0:
            progress("recordings", k, len(recs))
        path = folder / name
        if not path.with_name(name + ".hea").is_file():
            path = folder / f"{name}.edf"
            if not path.is_file():
                missing.append(name)
                continue
        rec = read_recording(path, lead=lead)
        check_recording(model, rec)
        _, record = window_rows(model, rec, rule=record_rule)
        cls = labels[name]
        t = (1 if cls == "A" else 0) if binary else classes.index(cls)
        y_true.append(t)
        y_pred.append(classes.index(record["class"]))
        per.append({"record": name, "label": cls, "class": record["class"]})
    if progress is not None:
        progress("recordings", len(recs), len(recs))
    if not per:
        raise DataError(folder, f"none of the {len(recs)} labelled recordings of {labels_file} "
                        "is in the folder")
    out = {"records": len(per), "windows": len(per),
           **metrics_for(model.task.name, classes, np.array(y_true), np.array(y_pred)),
           "left_out": dict(sorted(unknown.items())), "missing": missing, "per_record": per}
    out["warnings"] = ([f"{len(missing)} labelled recordings not found in the folder (first: "
                        f"{missing[0]})"] if missing else []) + _warnings([], unknown)
    return out


def _warnings(skipped: list[dict], left_out: Counter) -> list[str]:
    out = []
    if skipped:
        out.append(f"{len(skipped)} records left out (first: {skipped[0]['record']}: "
                   f"{skipped[0]['why']})")
    if left_out:
        what = ", ".join(f"{k!r} x{v}" for k, v in sorted(left_out.items()))
        out.append(f"labels outside the class map left out: {what}")
    return out


__all__ = ["RHYTHM_LABELS", "evaluate_folder", "read_rhythm_labels", "with_misses"]
