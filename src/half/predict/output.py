# SPDX-License-Identifier: Apache-2.0
"""`half predict`'s output file: CSV (one table, a `record` column) or JSON, written atomically
(a temporary file beside it, then renamed), so a failure leaves no partial file."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from half._io import write_bytes_atomic
from half.errors import ConfigError, OutputError
from half.predict.apply import Result

SUFFIXES = (".csv", ".json")


def check_out(path: Path) -> None:
    """Refuse an output path before any work: an unknown extension, a folder."""
    if path.suffix.lower() not in SUFFIXES:
        raise ConfigError("--out", f"{path}: give a .csv or .json file")
    if path.is_dir():
        raise OutputError(path, "is a folder, not a file")


def as_dict(meta: dict, results: list[Result]) -> dict:
    out = {**meta, "records": []}
    for r in results:
        rec = r.summary(tuple(meta["classes"]))
        if r.record_row is not None:
            rec["record_row"] = r.record_row
        rec["rows"] = r.rows
        out["records"].append(rec)
    return out


def as_csv(results: list[Result]) -> str:
    rows = []
    for r in results:
        rows += r.rows + ([r.record_row] if r.record_row is not None else [])
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def write(path: Path, meta: dict, results: list[Result]) -> None:
    if path.suffix.lower() == ".json":
        data = json.dumps(as_dict(meta, results), indent=1) + "\n"
    else:
        data = as_csv(results)
    try:
        write_bytes_atomic(path, data.encode())
    except OSError as e:
        raise OutputError(path, f"cannot be written ({e.strerror or e})") from None
