# SPDX-License-Identifier: Apache-2.0
"""The summary of a run (run.json) from its stage records: every stage's status, the results,
and `figures`, one entry per reported number saying whether it was measured (by which tool)
or estimated (by which model); `reference` (the reference design beside the chosen one) and
`warnings` (a finished run whose answer is suspect; `ok` is then false). The HTML report
(half.report) renders the same summary."""

from __future__ import annotations

import time
from pathlib import Path

from half._io import write_bytes_atomic, write_json_atomic
from half.hw.goal import get_goal
from half.search.study import measured_on

COST_MODEL = "half.hw.cost cost model (LUT/FF calibrated against Yosys per family; estimates)"


def _result(ctx, stage: str) -> dict | None:
    rec = ctx.records.get(stage) or {}
    return rec.get("result") if rec.get("status") in ("done", "reused") else None


def _fig(group: str, name: str, value, unit: str, kind: str, how: str) -> dict:
    return {"group": group, "name": name, "value": value, "unit": unit, "kind": kind, "how": how}


def figures(run: dict) -> list[dict]:
    """Every number the report shows about the chosen design, with how it was obtained."""
    out: list[dict] = []
    choice, test, gold = run["choice"], run["test"], run["golden"]
    build, ver, impl = run["build"], run["verification"], run["implementation"]
    reev = run["reevaluation"]
    if choice:
        c = choice["chosen"]
        how = (
            f"measured: half.search.reevaluate, {measured_on(reev)}, training fidelity "
            f"{reev['fidelity']:g}, {reev['epochs']} epochs, seeds {reev['seeds']} (mean)"
        )
        out.append(
            _fig(
                "accuracy", f"validation {choice['metric']}", c["metric_mean"], "", "measured", how
            )
        )
    if test:
        how = (
            f"measured: half.nn.runs.eval_run (PyTorch QAT model) on the {test['windows']} "
            "test-split windows, after the choice"
        )
        for key in ("macro_f1", "f1_nao", "f1", "accuracy", "jk_index"):
            if key in test:
                out.append(_fig("accuracy", f"test {key}", test[key], "", "measured", how))
    if gold:
        how = (
            f"measured: half.hw.check.golden_agreement (numpy int64 golden model vs "
            f"PyTorch), {gold['windows']} test windows"
        )
        out.append(
            _fig("accuracy", "golden/PyTorch agreement", gold["agreement"], "", "measured", how)
        )
    if build:
        p = build["predicted"]
        out.append(
            _fig(
                "timing",
                "clock target",
                p["clock_mhz"],
                "MHz",
                "setting",
                f"chosen by the {p['goal']} folding (half.hw.folding)",
            )
        )
        for key, label in (("luts", "LUT"), ("ffs", "FF"), ("bram", "BRAM"), ("dsp", "DSP")):
            out.append(
                _fig(
                    "resources",
                    f"{label} (estimate)",
                    p["resources_estimate"][key],
                    "",
                    "estimate",
                    COST_MODEL,
                )
            )
        pw = p["power_estimate_mw"]
        for key, label in (
            ("static", "static power"),
            ("clock", "clock-tree power"),
            ("dynamic_busy", "dynamic power, all stages busy"),
            ("average_at_rate", f"average power at {pw['rate_per_s']:.4g}/s"),
        ):
            out.append(_fig("power", label, pw[key], "mW", "estimate", COST_MODEL))
        out.append(
            _fig(
                "power",
                "energy per inference",
                p["energy_estimate_uj"],
                "µJ",
                "estimate",
                COST_MODEL + " (duty-cycled: wake, classify, sleep)",
            )
        )
        out.append(
            _fig(
                "timing",
                "latency (model)",
                p["latency_cycles"],
                "cycles",
                "estimate",
                "half.hw.cost cycle model of the RTL",
            )
        )
        out.append(
            _fig(
                "timing",
                "II (model)",
                p["ii_cycles"],
                "cycles",
                "estimate",
                "half.hw.cost cycle model of the RTL",
            )
        )
    if ver:
        how = (
            f"measured: Verilator {ver.get('verilator', '')} simulation of "
            f"project/sim/tb_half.sv, first three windows back to back (half.flow.verify)"
        )
        out.append(
            _fig("timing", "latency (measured)", ver["cycles_measured"], "cycles", "measured", how)
        )
        out.append(_fig("timing", "II (measured)", ver["ii_measured"], "cycles", "measured", how))
        out.append(
            _fig(
                "verification",
                "windows differing from the golden model",
                ver["mismatches"],
                f"of {ver['windows']}",
                "measured",
                f"measured: Verilator, {ver['windows']} test windows with random "
                "input idles and output back-pressure, every class compared",
            )
        )
        lint = (ver.get("lint") or "").splitlines()
        out.append(
            _fig(
                "verification",
                "lint warnings",
                len([x for x in lint if x.startswith("%Warning")]),
                "",
                "measured",
                "verilator --lint-only -Wall of the whole design"
                + (f": {lint[0]}" if lint else ""),
            )
        )
        if build:
            mhz = build["predicted"]["clock_mhz"]
            out.append(
                _fig(
                    "timing",
                    "throughput at the clock target",
                    mhz * 1e6 / ver["ii_measured"],
                    "inferences/s",
                    "derived",
                    "measured II x clock target",
                )
            )
    if impl:
        tools = impl.get("tools", {})
        yosys = tools.get("yosys", {}).get("version", "yosys")
        how = (
            f"measured: Yosys ({yosys}) `{impl['synthesis']}` cell counts of the synthesized "
            "netlist, before place and route (half.flow.implement)"
        )
        for key, r in impl["resources"].items():
            if r["used"] or r.get("predicted"):
                out.append(
                    _fig(
                        "resources",
                        f"{key} (post-synthesis)",
                        r["used"],
                        f"of {r['available']}",
                        "measured",
                        how,
                    )
                )
        pnr = next((f"{k} ({v['version']})" for k, v in tools.items() if "nextpnr" in k), "nextpnr")
        for key, u in impl.get("utilization", {}).items():
            out.append(
                _fig(
                    "resources",
                    f"{key} (post-route)",
                    u["used"],
                    f"of {u['available']}",
                    "measured",
                    f"measured: {pnr} --report",
                )
            )
        if impl.get("fmax_mhz") is not None:
            out.append(
                _fig(
                    "timing",
                    "fmax",
                    impl["fmax_mhz"],
                    "MHz",
                    "measured",
                    f"measured: {pnr} static timing after routing, target "
                    f"{impl['target_mhz']:g} MHz, seed 1",
                )
            )
            out += _throughput_at_fmax(impl, ver)
    return out


def _throughput_at_fmax(impl: dict, ver: dict | None) -> list[dict]:
    """fmax / II: with the II Verilator measured, else with the cost model's (an estimate)."""
    fmax = impl["fmax_mhz"]
    if ver and ver.get("ii_measured"):
        rate = fmax * 1e6 / ver["ii_measured"]
        return [
            _fig(
                "timing",
                "throughput at fmax",
                rate,
                "inferences/s",
                "derived",
                "fmax (nextpnr) / measured II (Verilator)",
            )
        ]
    if not impl.get("inferences_per_s"):
        return []
    return [
        _fig(
            "timing",
            "throughput at fmax (model II)",
            impl["inferences_per_s"],
            "inferences/s",
            "estimate",
            "fmax (nextpnr) / II of the half.hw.cost cycle model (verification measured none)",
        )
    ]


def _problems(run: dict) -> tuple[list[str], list[str]]:
    """(problems that make the run fail, findings the report must show)."""
    problems, notes = [], []
    for name, st in run["stages"].items():
        if st["status"] == "error":
            problems.append(f"{name}: {st['error']}")
    ver, impl, choice, gold = (
        run["verification"],
        run["implementation"],
        run["choice"],
        run["golden"],
    )
    if ver and ver["mismatches"]:
        problems.append(
            f"verify: {ver['mismatches']} of {ver['windows']} windows differ from "
            f"the golden model (first at layer {ver['first_mismatch_layer']})"
        )
    if ver and not ver["lint_clean"]:
        first = (ver.get("lint") or "").splitlines()[:1]
        problems.append(
            "verify: verilator --lint-only -Wall reports warnings"
            + (f" ({first[0]})" if first else "")
        )
    if choice and not choice["met_floor"] and choice.get("floor_kind") != "reference":
        notes.append(choice["message"])  # below the reference's floor: a warning instead
    if gold and gold["agreement"] < 1:
        notes.append(
            f"the golden integer model and PyTorch disagree on "
            f"{gold['disagreements']} of {gold['windows']} test windows (rounding at "
            "requantization)"
        )
    if impl and not impl["fits"]:
        notes.append(f"implementation: {impl['bitstream_note']}")
    elif impl and impl.get("timing_met") is False:
        notes.append(
            f"implementation: timing not met, fmax {impl['fmax_mhz']:.2f} MHz < "
            f"target {impl['target_mhz']:g} MHz"
        )
    return problems, notes


def summarize(ctx, seconds: float) -> dict:
    from half import __version__
    from half.run.reference import summary_block, warnings
    from half.run.stages import commands

    cmds = commands(ctx)
    stages = {}
    for name, rec in ctx.records.items():
        st = {
            "status": rec["status"],
            "seconds": rec.get("seconds"),
            "record": None if rec["status"] == "skipped" else f"stages/{name}.json",
            "command": cmds.get(name),
        }
        for key in ("error", "reason", "finished_at"):
            if rec.get(key):
                st[key] = rec[key]
        stages[name] = st
    search = _result(ctx, "search")
    ver = _result(ctx, "verify")
    run = {
        "half_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "run_dir": str(ctx.run_dir),
        "seconds": round(seconds, 1),
        "settings": ctx.settings.to_dict(),
        "search_spec": ctx.spec.to_dict(),
        "stages": stages,
        "search": None if search is None else {**search, **ctx.records["search"]["info"]},
        "reevaluation": _result(ctx, "reeval"),
        "refinement": _result(ctx, "refine"),
        "choice": _result(ctx, "choose"),
        "test": _result(ctx, "test"),
        "golden": _result(ctx, "golden"),
        "build": _result(ctx, "build"),
        "verification": None if ver is None else {**ver, **ctx.records["verify"]["info"]},
        "implementation": _result(ctx, "implement"),
        "cost_unit": get_goal(ctx.spec.goal).cost_unit,
        "report": str(ctx.run_dir / "report" / "index.html"),
    }
    run["reference"] = summary_block(_result(ctx, "reference"), run["choice"], run["test"])
    run["problems"], run["notes"] = _problems(run)
    run["warnings"] = warnings(run)
    run["ok"] = not run["problems"] and not run["warnings"]
    run["figures"] = figures(run)
    return run


def write_outputs(run: dict, run_dir: Path) -> None:
    """report/index.html, then run.json (each written to a temporary file, then renamed)."""
    from half.report import render_report

    write_bytes_atomic(Path(run_dir) / "report" / "index.html", render_report(run).encode())
    write_json_atomic(Path(run_dir) / "run.json", run)


__all__ = ["figures", "summarize", "write_outputs"]
