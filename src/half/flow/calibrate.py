# SPDX-License-Identifier: Apache-2.0
"""The calibration's measurements: generated designs synthesized with Yosys, stage by stage.

`collect(designs, out, graphs)` builds each design of the sweep (`half.hw.calibration.designs`)
per family from its IR graph (`graphs`: `half.hw.calibration.graphs` reads them; nothing here
reads a model) with `half.rtl.build.build_graph`, and synthesizes it with YoWASP Yosys keeping
the hierarchy (`SYNTH`: `synth_ice40 -dsp -noflatten`, `synth_ecp5 -noflatten`, `synth_xilinx
-family xc7`, which keeps it by default), so that every stage's cells are counted on their own,
and appends one synthesis row per (design, family, stage) to `out` (the row schema is
`half.hw.calibration`'s). `sweep` is the resumable runner under it: each design's rows are
appended as it finishes, so a killed sweep resumes where it stopped (`benchmarks/calibrate.py
timing` runs its place-and-route sweep through it too).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from half.errors import DataError
from half.hw.calibration import FAMILY_DEVICES, counted_in, parse_rows
from half.hw.devices import get_device
from half.hw.ir import Graph

SYNTH = {"ice40": "synth_ice40 -dsp -noflatten", "ecp5": "synth_ecp5 -noflatten",
         "xc7": "synth_xilinx -family xc7"}  # synth_xilinx keeps the hierarchy by default


def synth_stages(project: Path, synth: str) -> dict[str, dict[str, int]]:
    """Yosys with the hierarchy kept: {instance: {cell type: count}} of half_top's instances
    (without their `u_` prefix)."""
    from half.flow.implement import find_tool

    yosys = find_tool("yosys")
    files = (project / "files.f").read_text().split()
    (project / "cal.ys").write_text(f"read_verilog -defer -sv {' '.join(files)}\n"
                                    f"{synth} -top half_top\nwrite_json cal.json\n")
    proc = subprocess.run([*yosys.argv, "-q", "-s", "cal.ys"], cwd=project,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-500:] or proc.stdout[-500:])
    net = json.loads((project / "cal.json").read_text())["modules"]

    def leaf(t: str) -> bool:  # a primitive (the cell library's modules are (white)boxes)
        attrs = net[t].get("attributes", {}) if t in net else {}
        return t not in net or "blackbox" in attrs or "whitebox" in attrs

    def count(mod: str) -> dict[str, int]:
        cells: dict[str, int] = {}
        for c in net[mod]["cells"].values():
            t = c["type"]
            if not leaf(t):  # a submodule: its cells count here
                for k, v in count(t).items():
                    cells[k] = cells.get(k, 0) + v
            else:
                cells[t] = cells.get(t, 0) + 1
        return cells

    return {name.removeprefix("u_"): count(c["type"])
            for name, c in net["half_top"]["cells"].items() if not leaf(c["type"])}


def summary(cells: dict[str, int]) -> dict[str, float]:
    """A row's `measured`: LUTs, carry cells, FFs, block RAMs (RAMB18 as half), LUT RAM and
    DSPs of any family's cell counts."""
    def total(*names: str) -> int:
        return sum(v for k, v in cells.items() if any(k.startswith(n) for n in names))

    return {"luts": total("SB_LUT4", "LUT"), "carry": total("SB_CARRY", "CCU2C", "CARRY4"),
            "ffs": total("SB_DFF", "TRELLIS_FF", "FD"),
            "bram": total("SB_RAM40_4K", "DP16KD", "PDPW16KD", "RAMB36E1")
            + total("RAMB18E1") / 2,
            "lutram": total("TRELLIS_DPR16X4", "RAM32", "RAM64", "SRL"),
            "dsp": total("SB_MAC16", "MULT18X18D", "DSP48E1")}


def collect_design(design: dict, families: tuple[str, ...], graph: Graph, params: dict
                   ) -> list[dict]:
    """The synthesis rows of one design on each of `families`: the goal's folding on the
    design's own device (or its given folding) of `graph` (the design's model, trained with
    task parameters `params`), built for the family's device and synthesized; an instance's
    cells go to the stage whose cost counts them (`counted_in`)."""
    from half.hw.cost import Folding
    from half.hw.design import Design
    from half.hw.folding import fold, required_rate
    from half.hw.power import power_model
    from half.rtl.build import build_graph
    from half.rtl.generate import read_ir

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        if "folding" in design:
            folding = Folding.from_dict(design["folding"])
        else:  # the folding `half build` would choose for the goal
            dev = get_device(design["device"])
            folding = fold(graph, dev, design["goal"], required_rate(design["task"], params),
                           power_model(dev))[0]
        for fam in families:
            proj = Path(tmp) / fam
            build_graph(graph, params, design["task"], FAMILY_DEVICES[fam], design["goal"],
                        proj, model=design["model"], folding=folding)
            predicted = json.loads((proj / "predicted.json").read_text())
            model = {s["name"]: s for s in predicted["stages"]}
            owner = counted_in(Design.from_dict(json.loads((proj / "design.json").read_text()),
                                                read_ir(proj)))
            measured: dict[str, dict[str, int]] = {}
            for inst, cells in synth_stages(proj, SYNTH[fam]).items():
                into = measured.setdefault(owner[inst].instance if inst in owner else inst, {})
                for k, v in cells.items():
                    into[k] = into.get(k, 0) + v
            for inst, cells in measured.items():
                st = owner.get(inst)
                rows.append({**{k: v for k, v in design.items() if k != "folding"},
                             "spec": design["model"], "folding": predicted["folding"],
                             "family": fam, "stage": inst, "measured": summary(cells),
                             "cells": cells, "model": model.get(st.name) if st else None})
    return rows


def collect(todo: list[dict], out: Path, graphs: dict[tuple[str, str], tuple[Graph, dict]],
            *, jobs: int = 1, families: tuple[str, ...] = tuple(SYNTH),
            progress: Callable | None = None, log: Callable[[str], None] = print) -> dict:
    """Synthesize the designs of `todo` (as `half.hw.calibration.designs` makes them) on
    `families` and append their rows to `out`, skipping every (design, family) `out` already
    holds (a killed sweep resumes; a design of `out` that is not the one `todo` numbers so is
    refused). `graphs`: (IR graph, task parameters) by (model, task) of each design
    (`half.hw.calibration.graphs`). Returns the counts and the designs that failed (each with
    its one-line error)."""
    out = Path(out)
    have: set = set()
    by_index = {d["index"]: d for d in todo}
    for r in _existing(out, log):
        d = by_index.get(r["index"])
        if d is not None and _differs(r, d):
            raise DataError(out, f"design {r['index']} ({r['spec']}, {r['task']}, {r.get('goal')})"
                            " is not the one this sweep makes: give a new file, or the seed "
                            "and options it was collected with")
        have.add((r["index"], r["family"]))
    items = [(d, (fams, *graphs[(d["model"], d["task"])])) for d in todo
             if (fams := tuple(f for f in families if (d["index"], f) not in have))]
    log(f"{len(todo)} designs x {len(families)} families: {len(items)} designs to synthesize "
        f"into {out}")
    failed = sweep(items, out, collect_design, jobs=jobs, progress=progress, log=log,
                   describe=lambda d, rows: f"({d['model']} {d['task']} {d['goal']}): "
                                            f"{len(rows)} stage rows")
    return {"rows": str(out), "designs": len(todo), "synthesized": len(items) - len(failed),
            "skipped": len(todo) - len(items), "failed": failed}


def _differs(row: dict, design: dict) -> bool:
    return (row["spec"], row["task"], row.get("goal"), row.get("device")) != (
        design["model"], design["task"], design["goal"], design["device"]) or (
        "folding" in design and row["folding"]["layers"] != design["folding"]["layers"])


def _existing(out: Path, log: Callable[[str], None]) -> list[dict]:
    """The rows of `out` (none if it does not exist), a file of anything else refused
    (DataError). A last line a killed sweep cut off (after rows, not JSON, no newline) is
    removed."""
    if not out.exists():
        return []
    try:
        text = out.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(out, f"cannot be read ({getattr(e, 'strerror', None) or e})") from None
    head, _, tail = text.rpartition("\n")
    if head and tail.strip() and not _is_json(tail):
        rows = parse_rows(head.splitlines(), out)  # the rows are ours: the tail was cut off
        log(f"{out}: removing its last line, cut off ({len(tail)} characters)")
        with out.open("r+b") as f:
            f.truncate(len(head.encode()) + 1)
        return rows
    return parse_rows(text.splitlines(), out)


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except json.JSONDecodeError:
        return False
    return True


def sweep(items: list[tuple[dict, tuple]], out: Path, work: Callable[..., list[dict]], *,
          jobs: int = 1, describe: Callable[[dict, list[dict]], str] = lambda d, r: "",
          progress: Callable | None = None, log: Callable[[str], None] = print) -> list[dict]:
    """Run `work(design, *args)` for each (design, args) of `items`, `jobs` at a time (in
    worker processes if more than one), appending each design's rows to `out` in one write as
    it finishes. A design whose work raises is reported (`log`) and skipped; the failures are
    returned ({index, error})."""
    failed: list[dict] = []
    if not items:
        return failed
    out.parent.mkdir(parents=True, exist_ok=True)
    pool = ProcessPoolExecutor(jobs) if jobs > 1 else None
    try:
        results = (pool.map(_guarded, [work] * len(items), items) if pool
                   else (_guarded(work, it) for it in items))
        for n, ((design, _), rows) in enumerate(zip(items, results, strict=True), 1):
            if isinstance(rows, str):
                failed.append({"index": design["index"], "error": rows})
                log(f"design {design['index']}: failed: {rows}")
            else:
                _append(out, rows)
                log(f"design {design['index']} {describe(design, rows)}")
            if progress:
                progress(f"design {design['index']}", n, len(items))
    finally:
        if pool:
            pool.shutdown(cancel_futures=True)
    return failed


def _append(out: Path, rows: list[dict]) -> None:
    """The rows at the end of `out`, one line each, in one write (after a newline if its last
    line has none)."""
    with out.open("a+b") as f:  # (appends go to the end whatever the read position)
        lead = b""
        if size := f.seek(0, os.SEEK_END):
            f.seek(size - 1)
            lead = b"" if f.read(1) == b"\n" else b"\n"
        f.write(lead + "".join(json.dumps(r) + "\n" for r in rows).encode())
        f.flush()
        os.fsync(f.fileno())


def _guarded(work: Callable, item: tuple[dict, tuple]) -> list[dict] | str:
    try:
        return work(item[0], *item[1])
    except Exception as exc:  # noqa: BLE001 - reported and skipped
        return " ".join(f"{type(exc).__name__}: {exc}".split())
