# SPDX-License-Identifier: Apache-2.0
"""Calibration data for the cost model, and its fit: a driver over `half.flow.calibrate` (the
synthesis sweep) and `half.hw.calibration` (the sweep's designs and their IR graphs, the row
schema, the fit, the check), which `half calibrate collect|fit|check` runs too; the
place-and-route sweep (`timing`) is here.

    .venv/bin/python benchmarks/calibrate.py collect [--designs 20] [--small 0] [--jobs 2] \
        [--out benchmarks/results/calibration.jsonl]
    .venv/bin/python benchmarks/calibrate.py timing [--designs 10] [--large 4] [--jobs 2]
    .venv/bin/python benchmarks/calibrate.py add IMPL.json --model SPEC --task T --goal G \
        --folding FOLDING.json --index N [--out benchmarks/results/calibration_timing.jsonl]
    .venv/bin/python benchmarks/calibrate.py fit [--data ...] [--timing ...] [--install]
    .venv/bin/python benchmarks/calibrate.py check --data FILE

`collect`: `half.hw.calibration.designs` (the shipped presets folded for each goal, then random
legal foldings, seeded) and, with `--small`, UP5K-sized foldings of the tiny preset, each
synthesized per family with the hierarchy kept (`half.flow.calibrate.collect`): one JSON line
per (design, family, stage), appended as each design finishes (a killed run resumes).

`timing`: tiny-preset designs that fit an UP5K (the goals' foldings and random ones of at most
8 lanes a layer) placed and routed on up5k and ecp5-85k (`half implement`): achieved fmax,
post-route utilization; with `--large`, small-preset designs filling 30-70 % of the ECP5-85 on
ecp5-85k only (routing congestion, the fmax model's LUT-share term).

`add`: one design placed and routed elsewhere (`half implement --json`'s IMPL.json, built from
SPEC with FOLDING.json: `half build --folding`) as a timing row numbered N (even: fitted, odd:
held out; numbers outside the sweep's, which resumes by number).

`fit`: `half.hw.calibration.fit`: LUT and FF coefficients per family fitted on the designs of
even index and tested on the odd ones, the fmax model and the iCE40 packing factor from the
timing rows; prints the report; `--install` writes it to benchmarks/results/calibration_fit.json
and the calibration into the cost model (`src/half/hw/calibration.json`).

`check`: `half.hw.calibration.check`: the installed coefficients on every design of a `collect`
file (e.g. designs synthesized after an RTL change, none of them fitted).

Rows name the model they were measured on (`spec`; `model` in timing rows): the committed ones
name frozen copies of old presets under benchmarks/results/calibration_models/, relative to the
repository root, where this script runs.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from half._io import write_json_atomic
from half.flow import calibrate
from half.hw import calibration

RESULTS = Path("benchmarks/results")


TIMING_DEVICES = {"ice40": "up5k", "ecp5": "ecp5-85k"}


def _timing_designs(n: int, seed: int) -> list[dict]:
    """Tiny-preset designs that fit an UP5K: each task x (low-power, low-energy), then random
    foldings of at most 8 lanes per layer (seeded), n in all."""
    from half.hw.cost import Folding, estimate
    from half.hw.design import options
    from half.hw.devices import get_device
    from half.hw.plan import graph_for

    out = [{"model": "preset:tiny", "task": t, "goal": g, "device": "up5k"}
           for t in ("mitdb-aami", "cinc2017-af") for g in ("low-power", "low-energy")]
    rng = np.random.default_rng(seed)
    dev = get_device("up5k")
    while len(out) < n:
        t = ("mitdb-aami", "cinc2017-af")[int(rng.integers(2))]
        graph, _ = graph_for("preset:tiny", t)
        pe_simd = {}
        for layer in graph.mac_layers():
            pes, simds = options(layer)
            pairs = [(p, s) for p in pes for s in simds if p * s <= 8]
            pe_simd[layer.name] = pairs[int(rng.integers(len(pairs)))]
        f = Folding(pe_simd, 24.0)
        if estimate(graph, dev, f, calibrated=False).fits(dev):
            out.append({"model": "preset:tiny", "task": t, "goal": "low-energy",
                        "device": "up5k", "folding": f.to_dict()})
    for i, d in enumerate(out[:n]):
        d["index"] = i
    return out[:n]


def _large_designs(n: int, seed: int, first: int) -> list[dict]:
    """Small-preset designs that fill 30-70 % of the ECP5-85's LUTs (random legal foldings,
    seeded), for the fmax model's utilization term; indices from `first`."""
    from half.hw.cost import Folding, estimate
    from half.hw.design import options
    from half.hw.devices import get_device
    from half.hw.plan import graph_for

    dev = get_device("ecp5-85k")
    rng = np.random.default_rng(seed)
    out: list[dict] = []
    for _attempt in range(100000):
        if len(out) >= n:
            break
        t = ("mitdb-aami", "cinc2017-af")[len(out) % 2]
        graph, _ = graph_for("preset:small", t)
        pe_simd = {}
        for layer in graph.mac_layers():
            pes, simds = options(layer)
            pe_simd[layer.name] = (int(rng.choice(pes)), int(rng.choice(simds)))
        f = Folding(pe_simd, 24.0)
        est = estimate(graph, dev, f)
        if est.fits(dev) and 0.3 * dev.luts <= est.total("luts") <= 0.7 * dev.luts:
            out.append({"model": "preset:small", "task": t, "goal": "high-throughput",
                        "device": "ecp5-85k", "folding": f.to_dict(), "families": ["ecp5"],
                        "index": first + len(out)})
    if len(out) < n:
        raise SystemExit(f"only {len(out)} of {n} random foldings fill 30-70 % of the ECP5-85")
    return out


def _row(design: dict, folding: dict, fam: str, device: str, r: dict) -> dict:
    """A timing row: the design, its folding, and what `half implement` measured (`r`)."""
    cp = r.get("critical_path") or {}
    return {**{k: v for k, v in design.items() if k != "folding"},
            "folding": folding, "family": fam, "impl_device": device,
            "fits": r["fits"], "target_mhz": r["target_mhz"],
            "fmax_mhz": r["fmax_mhz"], "timing_met": r["timing_met"],
            "utilization": r["utilization"],
            "resources": {k: v["used"] for k, v in r["resources"].items()},
            "critical_path": {k: cp.get(k) for k in ("delay_ns", "start", "end")},
            "seconds": r["seconds"]}


def _timing(design: dict) -> list[dict]:
    """Place and route one design on each family's device: fmax, critical path, cells."""
    from half.flow.implement import implement
    from half.hw.cost import Folding
    from half.rtl.build import build

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folding = Folding.from_dict(design["folding"]) if "folding" in design else None
        proj = Path(tmp) / "p"
        b = build(design["model"], design["task"], design["device"], design["goal"], proj,
                  folding=folding)
        for fam, device in TIMING_DEVICES.items():
            if fam not in design.get("families", TIMING_DEVICES):
                continue
            rows.append(_row(design, b["folding"], fam, device, implement(proj, device)))
    return rows


def collect(n: int, jobs: int, out: Path, seed: int, small: int = 0) -> None:
    designs = calibration.designs(n, seed)
    for d in _timing_designs(small, seed + 1) if small else []:  # small UP5K-sized designs
        designs.append({**d, "index": len(designs), "device": "up5k"})
    res = calibrate.collect(designs, out, calibration.graphs(designs), jobs=jobs)
    if res["failed"]:
        raise SystemExit(f"{len(res['failed'])} designs failed; rerun to retry them")


def timing(n: int, jobs: int, out: Path, seed: int, large: int = 0) -> None:
    designs = _timing_designs(n, seed)
    designs += _large_designs(large, seed + 2, first=n) if large else []
    done = {r["index"] for r in calibration.read_rows(out, "timing")} if out.is_file() else set()
    todo = [(d, ()) for d in designs if d["index"] not in done]
    print(f"{len(designs)} designs, {len(todo)} to place and route", flush=True)
    calibrate.sweep(todo, out, _timing, jobs=jobs,
                    describe=lambda d, rows: ", ".join(f"{r['family']} fmax {r['fmax_mhz']} MHz"
                                                       for r in rows))


def add(impl: Path, folding: Path, design: dict, out: Path) -> dict:
    """Append the timing row of a design placed elsewhere (`half implement --json`'s result
    `impl`, built with the folding file `folding`); its number must be new in `out`."""
    from half.hw.cost import Folding

    r = json.loads(impl.read_text())
    fam = next((f for f, d in TIMING_DEVICES.items() if d == r["device"]), None)
    if fam is None:
        raise SystemExit(f"error: {impl}: placed on {r['device']}; timing rows are of "
                         f"{', '.join(TIMING_DEVICES.values())}")
    f = Folding.from_dict(json.loads(folding.read_text())).to_dict()
    rows = calibration.read_rows(out, "timing") if out.is_file() else []
    if any(x["index"] == design["index"] for x in rows):
        raise SystemExit(f"error: {out} has a design {design['index']} already")
    row = _row({**design, "device": r["project_device"], "families": [fam]}, f, fam,
               r["device"], r)
    calibration.parse_rows([json.dumps(row)], impl, "timing")  # the fit reads it back
    with out.open("a") as fh:
        fh.write(json.dumps(row) + "\n")
    return row


def fit(data: Path, timing_rows: Path, install: bool) -> dict:
    placed = calibration.read_rows(timing_rows, "timing") if timing_rows.is_file() else []
    report = calibration.fit(calibration.read_rows(data), placed)
    if install:
        write_json_atomic(RESULTS / "calibration_fit.json", report)
        write_json_atomic(calibration.PATH, calibration.as_calibration(
            report, f"benchmarks/calibrate.py fit --install --data {data} --timing {timing_rows}"))
    return report


def check(data: Path) -> dict:
    return {"coefficients": str(calibration.PATH), "data": str(data),
            **calibration.check(calibration.read_rows(data), calibration.load())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="mode", required=True)
    c = sub.add_parser("collect")
    c.add_argument("--designs", type=int, default=20)
    c.add_argument("--jobs", type=int, default=2)
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--small", type=int, default=0,
                   help="also this many small designs (UP5K-sized foldings of the tiny preset)")
    c.add_argument("--out", type=Path, default=RESULTS / "calibration.jsonl")
    t = sub.add_parser("timing")
    t.add_argument("--designs", type=int, default=10)
    t.add_argument("--jobs", type=int, default=2)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--large", type=int, default=0,
                   help="also this many small-preset designs filling 30-70 %% of the ECP5-85 "
                        "(ecp5 only: the fmax model's utilization term)")
    t.add_argument("--out", type=Path, default=RESULTS / "calibration_timing.jsonl")
    a = sub.add_parser("add", help="a design placed and routed elsewhere as a timing row")
    a.add_argument("impl", type=Path, help="`half implement --json`'s result")
    a.add_argument("--folding", type=Path, required=True, help="the folding it was built with")
    a.add_argument("--model", required=True, help="the model it was built from (a spec)")
    a.add_argument("--task", required=True)
    a.add_argument("--goal", required=True)
    a.add_argument("--index", type=int, required=True)
    a.add_argument("--out", type=Path, default=RESULTS / "calibration_timing.jsonl")
    k = sub.add_parser("check", help="the installed coefficients on every design of a file")
    k.add_argument("--data", type=Path, required=True)
    f = sub.add_parser("fit")
    f.add_argument("--data", type=Path, default=RESULTS / "calibration.jsonl")
    f.add_argument("--timing", type=Path, default=RESULTS / "calibration_timing.jsonl")
    f.add_argument("--install", action="store_true",
                   help="write the coefficients into the cost model (half/hw/calibration.json) "
                        "and benchmarks/results/calibration_fit.json")
    args = ap.parse_args()
    if args.mode == "collect":
        collect(args.designs, args.jobs, args.out, args.seed, args.small)
    elif args.mode == "timing":
        timing(args.designs, args.jobs, args.out, args.seed, args.large)
    elif args.mode == "add":
        row = add(args.impl, args.folding, {"model": args.model, "task": args.task,
                                            "goal": args.goal, "index": args.index}, args.out)
        print(f"design {row['index']}: {row['family']} fmax {row['fmax_mhz']} MHz -> {args.out}")
    elif args.mode == "check":
        print(json.dumps(check(args.data), indent=1))
    else:
        print(json.dumps(fit(args.data, args.timing, args.install), indent=1))


if __name__ == "__main__":
    main()
