# SPDX-License-Identifier: Apache-2.0
"""The cost model's calibration: its data files, the fit and the check.

Two kinds of JSON-lines rows are measured (`half calibrate collect` and `benchmarks/calibrate.py
timing` write them; `read_rows` checks every field it reads, naming the file, line and field):

- a *synthesis* row is one stage of one design synthesized with Yosys per family, the stage
  kept on its own (`-noflatten`): `index` (the design; even indices fit, odd ones are held
  out), `spec` (the model it was built from: a run folder, e.g. a frozen preset under
  benchmarks/results/calibration_models/, or `preset:NAME`), `task`, `goal`, `device`,
  `folding` (design.json's), `family` (`FAMILY_DEVICES`), `stage` (its instance in the top,
  `Stage.instance`), `measured` (`luts`, `carry`, `ffs`, `bram`, `lutram`, `dsp`), `cells`
  (Yosys cell counts) and `model` (the cost model's stage then; refitting recomputes it);
- a *timing* row is one design placed and routed: `index`, `model` (its spec), `task`,
  `family`, `impl_device`, `folding`, `fmax_mhz` (null: no timing), `utilization` (nextpnr's).

`designs(n, seed)` is the synthesis sweep (the shipped presets folded per goal, then random
foldings) and `graphs(designs)` the IR graphs it is built from (read here, through
`half.hw.plan.graph_for`, so that `half.flow.calibrate` reads no model).

`fit(rows, timing)` refits from the rows and the cost model as it is now (`refresh`: a change to
the model's components needs no new synthesis): per family non-negative least squares of the
LUTs on the model's LUT parts and of the FFs on the model's FFs and a constant per stage, then
the fmax model and iCE40's packing factor from the timing rows; `as_calibration` turns that
into calibration.json (version `SCHEMA`), which `load` reads back checked, and `check` applies
to other rows (e.g. designs synthesized after an RTL change).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from half.errors import ConfigError, DataError, HalfError
from half.hw.design import ArgMaxStage, Design, Folding, Stage, bind, mac_levels
from half.hw.devices import get_device
from half.hw.ir import Graph

SCHEMA = 1  # calibration.json's version (its "schema")
PATH = Path(__file__).with_name("calibration.json")  # the installed calibration (package data)
# the device of each family on which rows are synthesized and their features computed
FAMILY_DEVICES = {"ice40": "up5k", "ecp5": "ecp5-85k", "xc7": "xc7z020"}
FIT_FAMILIES = ("ice40", "ecp5")  # fitted; the others compared with the raw model only
CAL_KEYS = {"ice40": "ice40up", "ecp5": "ecp5"}  # -> calibration.json's key (power_family)
PARTS = ("multipliers", "adders", "accumulators", "comparators", "requant", "memory", "mux",
         "address", "control", "input")  # the cost model's LUT parts (StageCost.parts)
MEASURED = ("luts", "carry", "ffs", "bram", "dsp")
MIN_SHARE_SPREAD = 0.2  # fmax model: the LUT-share term needs designs this far apart
NOTE = "fitted on the designs of even index; errors on the odd ones in docs/RESULTS.md"

# -- files -----------------------------------------------------------------------------------
_NUMBER = (int, float)
_ROW_FIELDS = {  # field -> type(s) it must have, per kind of row
    "synthesis": {"index": int, "spec": str, "task": str, "family": str, "stage": str,
                  "folding": dict, "measured": dict},
    "timing": {"index": int, "model": str, "task": str, "family": str, "impl_device": str,
               "folding": dict, "fmax_mhz": (*_NUMBER, type(None)), "utilization": dict}}


def read_rows(path: str | Path, kind: str = "synthesis") -> list[dict]:
    """The rows of a JSON-lines file of `kind` ("synthesis" or "timing"), every field the fit
    reads checked; a DataError naming the file, the line and the field otherwise."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise DataError(path, "no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(path, f"cannot be read ({getattr(e, 'strerror', None) or e})") from None
    return parse_rows(text.splitlines(), path, kind)


def parse_rows(lines: list[str], path: str | Path, kind: str = "synthesis") -> list[dict]:
    """`read_rows` of the lines of `path` (numbered from 1; blank ones skipped)."""
    rows = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(path, f"line {n}: not a JSON object ({e.msg})") from None
        fault = _row_fault(row, kind)
        if fault:
            raise DataError(path, f"line {n}: {fault} (a {kind} row of the calibration)")
        rows.append(row)
    return rows


def _row_fault(row, kind: str) -> str | None:
    if not isinstance(row, dict):
        return "not a JSON object"
    for name, types in _ROW_FIELDS[kind].items():
        if name not in row:
            why = " (the model it was measured on)" if name in ("spec", "model") else ""
            return f"field `{name}` missing{why}"
        v = row[name]
        if not isinstance(v, types) or isinstance(v, bool):
            return f"field `{name}`: {v!r} is not {_type_name(types)}"
    if row["family"] not in FAMILY_DEVICES:
        return f"field `family`: {row['family']!r} is not one of {', '.join(FAMILY_DEVICES)}"
    try:
        Folding.from_dict(row["folding"])
    except (KeyError, TypeError, AttributeError) as e:
        return f"field `folding`: not a folding (no {e})"
    for k in MEASURED if kind == "synthesis" else ():
        if not _is_number(row["measured"].get(k)):
            return f"field `measured.{k}`: {row['measured'].get(k)!r} is not a number"
    return None


def _type_name(types) -> str:
    names = {int: "an integer", str: "a string", dict: "an object", float: "a number",
             type(None): "null"}
    return " or ".join(dict.fromkeys(names[t] for t in (types if isinstance(types, tuple)
                                                        else (types,))))


def _is_number(v) -> bool:
    return isinstance(v, _NUMBER) and not isinstance(v, bool) and math.isfinite(v)


def load(path: str | Path = PATH) -> dict:
    """The coefficients per family key (`Device.power_family`) of a calibration.json: `lut`
    (per LUT part), `ff` (`model_ffs`, `per_stage`), `fmax` (`period_ns`, `ns_per_tree_level`,
    `ns_per_lut_share`; or null) and, on iCE40, `packing`. A DataError naming the file and the
    field when it is missing, of another version or malformed."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(path, "no such calibration file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(path, f"cannot be read ({getattr(e, 'strerror', None) or e})") from None
    except json.JSONDecodeError as e:
        raise DataError(path, f"not valid JSON ({e})") from None
    fault = _calibration_fault(doc)
    if fault:
        raise DataError(path, f"{fault} (not a calibration half can read: refit it with "
                        "`half calibrate fit`)")
    return doc["families"]


def _calibration_fault(doc) -> str | None:
    if not isinstance(doc, dict):
        return "not a JSON object"
    if doc.get("schema") != SCHEMA:
        return f"`schema`: {doc.get('schema')!r}, this half reads version {SCHEMA}"
    if not isinstance(doc.get("families"), dict):
        return "`families`: missing or not an object"
    for fam, co in doc["families"].items():
        where = f"`families.{fam}"
        if not isinstance(co, dict):
            return f"{where}`: not an object"
        unknown = set(co) - {"lut", "ff", "fmax", "packing"}
        if unknown:
            return f"{where}.{sorted(unknown)[0]}`: unknown field"
        fault = (_numbers(co.get("lut"), PARTS, (), f"{where}.lut")
                 or _numbers(co.get("ff"), (), ("model_ffs", "per_stage"), f"{where}.ff")
                 or (co.get("fmax") is not None and _numbers(
                     co["fmax"], ("ns_per_lut_share",), ("period_ns", "ns_per_tree_level"),
                     f"{where}.fmax"))
                 or ("packing" in co and not _is_number(co["packing"])
                     and f"{where}.packing`: {co['packing']!r} is not a number"))
        if fault:
            return fault
    return None


def _numbers(d, optional: tuple, required: tuple, where: str) -> str | None:
    """The fault of a mapping of numbers with these keys, or None."""
    if not isinstance(d, dict):
        return f"{where}`: missing or not an object"
    for k in required:
        if k not in d:
            return f"{where}.{k}`: missing"
    for k, v in d.items():
        if k not in optional and k not in required:
            return f"{where}.{k}`: unknown field"
        if not _is_number(v):
            return f"{where}.{k}`: {v!r} is not a number"
    return None


def is_calibration_file(path: Path) -> bool:
    """Whether `path` is a calibration.json half wrote (any version): one `fit -o` replaces."""
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(doc, dict) and "families" in doc and "source" in doc


# -- the synthesis sweep's designs -------------------------------------------------------------
GOALS = ("low-energy", "low-power", "high-throughput")  # (the order numbers the designs)
MAX_LUTS = 20000  # designs the raw-calibrated model puts above this are not synthesized
PRESETS = (("tiny", "up5k"), ("small", "ecp5-85k"))  # (preset, the device its goals fold for)
TASKS = ("mitdb-aami", "cinc2017-af")


def designs(n: int, seed: int = 0) -> list[dict]:
    """Presets x tasks x goals, then random legal foldings of the presets (seeded), n in all,
    numbered by `index`: {model, task, goal, device[, folding]} (no folding: the goal's). What
    `half calibrate collect` synthesizes (`half.flow.calibrate.collect`, with `graphs`)."""
    from half.hw.cost import estimate
    from half.hw.design import options
    from half.hw.folding import required_rate
    from half.hw.plan import graph_for, plan

    out = []
    for p, d in PRESETS:
        for t in TASKS:
            graph, params = graph_for(f"preset:{p}", t)
            for g in GOALS:
                if plan(graph, d, g, required_rate(t, params))["resources_estimate"]["luts"] \
                        <= MAX_LUTS:
                    out.append({"model": f"preset:{p}", "task": t, "goal": g, "device": d})
    rng = np.random.default_rng(seed)
    dev = get_device("ecp5-85k")
    while len(out) < n:
        p = ("tiny", "small")[int(rng.integers(2))]
        t = TASKS[int(rng.integers(2))]
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


def graphs(todo: list[dict]) -> dict[tuple[str, str], tuple[Graph, dict]]:
    """(IR graph, task parameters) of each (model, task) of the designs `todo`: what
    `half.flow.calibrate.collect` builds the designs from (the flow reads no model)."""
    from half.hw.plan import graph_for

    out: dict[tuple[str, str], tuple[Graph, dict]] = {}
    for d in todo:
        key = (d["model"], d["task"])
        if key not in out:
            out[key] = graph_for(*key)
    return out


# -- features ----------------------------------------------------------------------------------
def counted_in(design: Design) -> dict[str, Stage]:
    """The stage of the design whose cost counts each instance of its top (`Stage.instance` ->
    stage): its own, but an argmax of its own (no cost of its own) counts in the stage it reads
    from. The top's framing check and side FIFO are in no stage (the cost model counts
    neither)."""
    chain = design.chain
    return {st.instance: chain[i - 1] if isinstance(st, ArgMaxStage) and i else st
            for i, st in enumerate(chain)}


def refresh(rows: list[dict]) -> list[dict]:
    """Each synthesis row's `model` (the cost model's stage, raw) recomputed from the cost model
    as it is now, on its family's device; None where the model has no such stage."""
    from half.hw.cost import estimate

    graphs: dict = {}
    stages: dict = {}
    for r in rows:
        key = (r["index"], r["family"])
        if key not in stages:
            g = (r["spec"], r["task"])
            if g not in graphs:
                graphs[g] = _graph(r["spec"], r["task"], r["index"])
            dev, folding = get_device(FAMILY_DEVICES[r["family"]]), Folding.from_dict(r["folding"])
            est = estimate(graphs[g], dev, folding, calibrated=False)
            by_name = {st["name"]: st for st in est.to_dict()["stages"]}
            stages[key] = {inst: by_name.get(st.name) for inst, st in
                           counted_in(bind(graphs[g], folding, dev)).items()}
        r["model"] = stages[key].get(r["stage"])
    return rows


def _graph(spec: str, task: str, index: int):
    """The IR graph of the model a row was measured on; a ConfigError naming the design."""
    from half.hw.plan import graph_for

    try:
        return graph_for(spec, task)[0]
    except HalfError as e:
        raise ConfigError(f"spec of design {index}", f"{e} (a relative path is taken from the "
                          "working folder: run where the rows were collected)") from None


def features(row: dict) -> tuple[list[float], list[float]]:
    """LUT features (the model's LUT parts) and FF features (the model's FFs, 1 per stage) of
    one synthesis row."""
    m = row["model"] or {}
    parts = m.get("lut_parts", {})
    return ([parts.get(k, 0.0) for k in PARTS], [m.get("ffs_raw", m.get("ffs", 0.0)), 1.0])


def target(row: dict) -> tuple[float, float]:
    """Measured LUTs and FFs of one synthesis row."""
    meas = row["measured"]
    # ECP5 carry chains are CCU2C cells of two LUT4s; iCE40 carries share logic cells
    luts = meas["luts"] + (2 * meas["carry"] if row["family"] == "ecp5" else 0)
    return float(luts), float(meas["ffs"])


# -- the fit ---------------------------------------------------------------------------------
def fit(rows: list[dict], timing: list[dict] = ()) -> dict:
    """The fit report per family (calibration_fit.json): for a fitted family (`FIT_FAMILIES`,
    with rows of even index) the LUT and FF coefficients fitted on the designs of even index,
    the errors of whole-design totals on those (`fit`) and on the odd ones (`held_out`), the
    stages whose BRAM and DSP counts are the model's, and from the `timing` rows the fmax model
    and (iCE40) the packing factor; for another family the raw model against synthesis."""
    from scipy.optimize import nnls

    rows = [r for r in refresh(rows) if r["model"] is not None]
    out: dict = {}
    for fam in (f for f in FAMILY_DEVICES if f not in FIT_FAMILIES):
        if any(r["family"] == fam for r in rows):
            out[fam] = compare_raw([r for r in rows if r["family"] == fam])
    for fam in FIT_FAMILIES:
        fr = [r for r in rows if r["family"] == fam]
        train = [r for r in fr if r["index"] % 2 == 0]
        if not train:
            continue
        xl = np.array([features(r)[0] for r in train])
        xf = np.array([features(r)[1] for r in train])
        yl = np.array([target(r)[0] for r in train])
        yf = np.array([target(r)[1] for r in train])
        # absolute or relative least squares (every stage by its error in per cent, so the
        # many small stages are not drowned by the few large ones): the one whose design
        # totals are closer on the fitting designs
        wl = 1.0 / np.maximum(yl, 20.0)
        cl = min((nnls(xl, yl)[0], nnls(xl * wl[:, None], yl * wl)[0]),
                 key=lambda c: _design_error(train, xl, yl, c))
        cf, _ = nnls(xf, yf)
        # the linear FF fit only where it beats the raw model on the fitting designs' totals
        # (the held-out designs never choose)
        raw = np.array([1.0, 0.0])
        cf = cf if _design_error(train, xf, yf, cf) < _design_error(train, xf, yf, raw) else raw
        out[fam] = {"lut": {k: round(float(v), 4) for k, v in zip(PARTS, cl, strict=True)},
                    "ff": {"model_ffs": round(float(cf[0]), 4),
                           "per_stage": round(float(cf[1]), 1)},
                    "designs_fit": sorted({r["index"] for r in train}), "errors": {}}
        for split, sel in (("fit", 0), ("held_out", 1)):
            out[fam]["errors"][split] = _design_errors(
                [r for r in fr if r["index"] % 2 == sel], cl, cf)
        out[fam] |= _exact_counts(fr)
    for fam, fm in fit_fmax(timing, out).items():
        out[fam]["fmax"] = fm
    for fam, pk in fit_packing(timing, out).items():
        out[fam]["packing"] = pk
    return out


def as_calibration(report: dict, source: str) -> dict:
    """calibration.json's content from a fit report (`fit`): the coefficients of the fitted
    families under their calibration keys, `source` saying how it was made."""
    families = {}
    for fam, r in report.items():
        if not r.get("lut"):
            continue
        fmax = {k: r["fmax"][k] for k in ("period_ns", "ns_per_tree_level", "ns_per_lut_share")
                } if r.get("fmax") else None
        families[CAL_KEYS[fam]] = ({"lut": r["lut"], "ff": r["ff"], "fmax": fmax}
                                   | ({"packing": r["packing"]["packing"]} if r.get("packing")
                                      else {}))
    return {"schema": SCHEMA, "source": source, "note": NOTE, "families": families}


def check(rows: list[dict], families: dict) -> dict:
    """Whole-design errors of the coefficients `families` (as `load` returns them) on every
    design of `rows`, none of them taken as fitted, per family, with the stages whose BRAM and
    DSP counts are the model's; a family without coefficients: the raw model's errors."""
    rows = [r for r in refresh(rows) if r["model"] is not None]
    out: dict = {}
    for fam in FAMILY_DEVICES:
        fr = [r for r in rows if r["family"] == fam]
        co = families.get(CAL_KEYS.get(fam, ""))
        if not fr:
            continue
        if not co:
            out[fam] = compare_raw(fr)
            continue
        cl = np.array([co["lut"].get(k, 1.0) for k in PARTS])
        cf = np.array([co["ff"]["model_ffs"], co["ff"]["per_stage"]])
        out[fam] = {"errors": _design_errors(fr, cl, cf), **_exact_counts(fr)}
    return out


def compare_raw(rows: list[dict]) -> dict:
    """A family that is not fitted (xc7: Yosys synth_xilinx): the raw model's whole-design LUT
    (LUT6 after the model's LUT4-to-LUT6 factor) and FF totals against the synthesized ones."""
    per: dict = {}
    for r in rows:
        d = per.setdefault(r["index"], [0.0, 0.0, 0.0, 0.0])
        fl, ff = features(r)
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


def _design_error(rows: list[dict], x: np.ndarray, y: np.ndarray, coef: np.ndarray) -> float:
    """Median relative error of whole-design totals of `x @ coef` against `y`."""
    pred: dict = {}
    meas: dict = {}
    for r, xi, yi in zip(rows, x, y, strict=True):
        pred[r["index"]] = pred.get(r["index"], 0.0) + float(np.dot(xi, coef))
        meas[r["index"]] = meas.get(r["index"], 0.0) + float(yi)
    return float(np.median([abs(pred[k] - meas[k]) / max(meas[k], 1) for k in meas]))


def _design_errors(rows: list[dict], cl, cf) -> dict:
    """Median and worst relative errors of whole-design LUT and FF totals, with the LUT
    coefficients `cl` (per part) and FF coefficients `cf` (model FFs, per stage) and raw."""
    per: dict = {}
    for r in rows:
        fl, ff = features(r)
        tl, tf = target(r)
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


# -- fmax and packing (timing rows) -------------------------------------------------------------
def _tree_levels(folding: dict) -> int:
    """Adder levels of the longest MAC path of the design (`half.hw.design.mac_levels`, the
    partial sums of a pipelined stage counted): the fmax model's feature."""
    return max(mac_levels(v["simd"], v.get("psums", 0)) for v in folding["layers"].values())


def _model_totals(row: dict, coef: dict) -> tuple[float, float]:
    """The model's LUTs and FFs of a placed design (a timing row) with the per-stage
    coefficients `coef` of its family (just fitted: not the installed ones)."""
    from half.hw.cost import estimate

    est = estimate(_graph(row["model"], row["task"], row["index"]), get_device(row["impl_device"]),
                   Folding.from_dict(row["folding"]), calibrated=False)
    lut, ff = coef[row["family"]]["lut"], coef[row["family"]]["ff"]
    luts = sum(lut.get(k, 1.0) * v for st in est.stages for k, v in st.parts.items())
    ffs = sum(ff["model_ffs"] * st.raw_ffs + ff["per_stage"] for st in est.stages)
    return luts * est.replicas, ffs * est.replicas  # every replica's, as Estimate.total counts


def fit_fmax(timing: list[dict], coef: dict) -> dict:
    """The fmax model per family: clock period = a + b x adder-tree levels of the widest stage
    + c x the model's share of the part's LUTs (routing congestion), non-negative least
    squares on the placed designs of even index, errors on the odd ones."""
    from scipy.optimize import nnls

    out = {}
    for fam in FIT_FAMILIES:
        fr = [r for r in timing if r["family"] == fam and r["fmax_mhz"]]
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
        a, b, c = nnls(x, y)[0] if spread else np.append(nnls(x[:, :2], y)[0], 0.0)

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


def fit_packing(timing: list[dict], coef: dict) -> dict:
    """iCE40 packing: the placed designs' logic cells against the model's LUTs + 0.83 x FFs
    (with the per-stage coefficients `coef` just fitted, whose stages are synthesized on their
    own): one factor, least squares through the origin on the designs of even index, errors
    on the odd ones."""
    from half.hw.cost import ICE40_UNPACKED_FF

    rows = [r for r in timing if r["family"] == "ice40"
            and r["utilization"].get("ICESTORM_LC", {}).get("used")]
    if "ice40" not in coef or not rows:
        return {}
    pts = []
    for r in rows:
        luts, ffs = _model_totals(r, coef)
        pts.append((r["index"], luts + ICE40_UNPACKED_FF * ffs,
                    float(r["utilization"]["ICESTORM_LC"]["used"])))
    train = [(x, y) for i, x, y in pts if i % 2 == 0]
    if not train:
        return {}
    k = sum(x * y for x, y in train) / sum(x * x for x, _ in train)
    errors = {}
    for split, sel in (("fit", 0), ("held_out", 1)):
        err = [(k * x - y) / y for i, x, y in pts if i % 2 == sel]
        errors[split] = {"designs": len(err),
                         "error_median": round(float(np.median(np.abs(err))), 3) if err else None,
                         "error_worst": round(float(np.max(np.abs(err))), 3) if err else None,
                         "signed": [round(e, 3) for e in err]}
    return {"ice40": {"packing": round(k, 4), "errors": errors}}
