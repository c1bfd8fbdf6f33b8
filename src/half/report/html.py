# SPDX-License-Identifier: Apache-2.0
"""One self-contained HTML page from a run summary (half.run.summary: the content of run.json).
Inline CSS and SVG only: no scripts, fonts or images from elsewhere. Every section renders
what the run has and says which stages did not run."""

from __future__ import annotations

from html import escape

from half.hw.goal import get_goal
from half.report.svg import pareto_svg
from half.search.study import measured_on

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.4}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.25em;border-bottom:1px solid #ddd;
padding-bottom:.2em;margin-top:1.8em}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em}
th,td{border:1px solid #d5d5d5;padding:.25em .55em;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.chosen td{background:#fdecee;font-weight:600}
.meta{color:#555}.ok{color:#17751f;font-weight:600}.bad{color:#b3261e;font-weight:600}
.warn{color:#9a5b00;font-weight:600}.est{color:#6a4c93}.how{color:#555;font-size:.9em}
.box{border:1px solid #ddd;border-radius:6px;padding:.6em 1em;background:#fafafa}
code{background:#f3f3f3;padding:0 .25em;border-radius:3px}
"""


INPUT_INSTANCE = "decimate"  # half.hw.design.InputStage.instance (axis_decimate, if any)


class Raw(str):
    """A cell that is HTML already."""


def cell(v) -> str:
    if isinstance(v, Raw):
        return v
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return escape(f"{v:.4g}")
    return escape(str(v))


def table(headers: list[str], rows: list[list], chosen: list[bool] | None = None) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cls = ' class="chosen"' if chosen and chosen[i] else ""
        tds = "".join(
            f'<td class="n">{cell(v)}</td>'
            if isinstance(v, int | float) and not isinstance(v, bool)
            else f"<td>{cell(v)}</td>"
            for v in row
        )
        body.append(f"<tr{cls}>{tds}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _missing(run: dict, stage: str) -> str:
    st = run["stages"].get(stage) or {"status": "not run"}
    why = st.get("error") or st.get("reason") or st["status"]
    return f'<p class="warn">Stage <code>{escape(stage)}</code> did not finish: {escape(why)}.</p>'


def _section(title: str, anchor: str, body: str) -> str:
    return f'<section id="{anchor}"><h2>{escape(title)}</h2>\n{body}\n</section>'


def _test_metric(run: dict) -> str | None:
    """The test metric the run selected on (the choice's, else the reference's); for a run
    summary without either, the first of the task's primary metrics the test result has."""
    t = run["test"] or {}
    key = (run["choice"] or {}).get("metric") or (run.get("reference") or {}).get("metric")
    if key in t:
        return key
    return next((k for k in ("macro_f1", "f1_nao", "f1", "accuracy") if k in t), None)


def _goal_figure(run: dict) -> list:
    """The Summary row of the goal's own cost (half.hw.goal: cost_name, cost_unit), with the
    figures that explain it."""
    p = run["build"]["predicted"]
    goal = get_goal(run["search_spec"]["goal"])
    value = f"{goal.cost_name} {goal.cost(p):.4g} {goal.cost_unit}"
    if goal.needs_rate:  # low-energy, low-power: energy and average power at the required rate
        pw = p["power_estimate_mw"]
        value += (
            f": {p['energy_estimate_uj']:.4g} µJ per inference, "
            f"{pw['average_at_rate']:.4g} mW at {pw['rate_per_s']:.4g} inferences/s"
        )
    else:  # high-throughput: back to back at the folding's clock
        value += f": {p['throughput_per_s']:.4g} inferences/s at {p['clock_mhz']:g} MHz"
    return [
        f"{goal.name} figure",
        value,
        Raw('<span class="est">estimates</span> of the cost model'),
    ]


def _flow_stage(i: dict) -> str:
    """How far the implementation went: post-synthesis, post-pack or post-route (implement's
    `kind`; post-synthesis counts are Yosys's, measured before place and route)."""
    return "post-synthesis" if i["kind"].startswith("post-synthesis") else i["kind"]


def _impl_how(i: dict) -> str:
    """How the implementation's figures were obtained."""
    if _flow_stage(i) == "post-synthesis":
        return "Yosys: post-synthesis cell counts (measured, before place and route)"
    return f"Yosys / nextpnr: {i['kind']} (measured)"


# -- sections ------------------------------------------------------------------------------
def _header(run: dict) -> str:
    s = run["settings"]
    status = (
        '<span class="ok">complete</span>'
        if run["ok"]
        else '<span class="bad">finished with problems</span>'
        if run["problems"]
        else '<span class="bad">finished with warnings</span>'
    )
    floor = s["accuracy_floor"]
    if floor is None and s.get("reference"):
        tol = s.get("fold_tolerance")
        floor = "the reference's" + (f" (fold tolerance {tol:g})" if tol else "")
    elif floor is None:
        floor = "default"
    out = [
        f"<h1>half run: {escape(s['task'])} on {escape(s['device'])}, goal "
        f"{escape(s['goal'])}</h1>",
        f'<p class="meta">{escape(run["run_dir"])} · {escape(run["created"])} · half '
        f"{escape(run['half_version'])} · budget {escape(str(s['budget']))} · seed "
        f"{s['seed']} · accuracy floor {escape(str(floor))} · {status}</p>",
    ]
    if run["problems"]:
        out.append(
            '<div class="box"><p class="bad">Problems</p><ul>'
            + "".join(f"<li>{escape(p)}</li>" for p in run["problems"])
            + "</ul></div>"
        )
    if run.get("warnings"):
        out.append(
            '<div class="box"><p class="bad">Warnings: this result is suspect</p><ul>'
            + "".join(f"<li>{escape(w)}</li>" for w in run["warnings"])
            + "</ul></div>"
        )
    if run["notes"]:
        out.append(
            '<div class="box"><p class="warn">Findings</p><ul>'
            + "".join(f"<li>{escape(p)}</li>" for p in run["notes"])
            + "</ul></div>"
        )
    return "\n".join(out)


def _summary(run: dict) -> str:
    c, t, v, i = run["choice"], run["test"], run["verification"], run["implementation"]
    b = run["build"]
    rows = []
    if c:
        rows.append(
            [
                "chosen design",
                f"{c['chosen']['arch_hash']} (seed {c['chosen']['seed']})",
                c["message"],
            ]
        )
    key = _test_metric(run)
    if t and key:
        rows.append([f"test {key}", t[key], f"{t['windows']} test windows (measured)"])
    if b:
        rows.append(_goal_figure(run))
    if v:
        ok = v["mismatches"] == 0
        rows.append(
            [
                "RTL vs golden model",
                Raw(
                    f'<span class="{"ok" if ok else "bad"}">'
                    f"{v['mismatches']} of {v['windows']} windows "
                    "differ</span>"
                ),
                "Verilator (measured)",
            ]
        )
    if i:
        if not i["fits"]:
            impl = Raw(f'<span class="warn">{escape(i["bitstream_note"])}</span>')
        elif i.get("fmax_mhz") is not None:
            cls = "ok" if i["timing_met"] else "warn"
            impl = Raw(
                f'<span class="{cls}">fits; fmax {i["fmax_mhz"]:.2f} MHz, target '
                f"{i['target_mhz']:g} MHz: timing {'met' if i['timing_met'] else 'NOT met'}"
                "</span>"
            )
        else:
            impl = i.get("bitstream_note") or f"fits ({_flow_stage(i)}; no timing)"
        rows.append(["implementation", impl, _impl_how(i)])
    if not rows:
        return _section(
            "Summary",
            "summary",
            "<p>No design was chosen: see the problems above and the stages below.</p>",
        )
    return _section("Summary", "summary", table(["", "result", "how"], rows))


def _pareto(run: dict) -> str:
    s = run["search"]
    if not s:
        return _section("Pareto front", "pareto", _missing(run, "search"))
    unit = run.get("cost_unit", "")
    cost_label = f"{s['cost_name']} [{unit}], estimate" if unit else f"{s['cost_name']}, estimate"
    metric = s.get("metric") or "metric"
    re_ = run["reevaluation"]
    reevaluated = [
        {"arch_hash": c["arch_hash"], "error": c["error_mean"], "cost": c["cost_mean"]}
        for c in (re_ or {}).get("candidates", [])
    ]
    chosen = run["choice"]["chosen"]["arch_hash"] if run["choice"] else None
    svg = pareto_svg(
        s["points"],
        s["front"],
        reevaluated,
        chosen,
        cost_label=cost_label,
        error_label=f"validation error (1 - {metric})",
    )
    hv = s.get("hypervolume") or {}
    hv_text = ""
    if hv.get("hypervolume"):
        val = next(iter(hv["hypervolume"].values()))
        ref = ", ".join(f"{v:.4g}" for v in hv["reference_point"])
        hv_text = (
            f" Hypervolume* (error × log10 cost, reference ({ref})): {val:.4g} "
            '(* an <span class="est">estimate</span>: computed on the cost model\'s costs).'
        )
    body = [
        svg,
        f'<p class="how">{s["trials_done"]} trials ({s["feasible"]} feasible, '
        f"{s['infeasible']} infeasible) of the study <code>{escape(s['study'])}"
        f"</code>, {s['seconds_used']:.0f} s of search, {s['workers']} worker(s) "
        f"({escape(s['backend'])}). Circles: one per evaluated architecture, error "
        f"on the validation split after training at search fidelity "
        f"{run['search_spec']['fidelity']:g} for {run['search_spec']['epochs']} epoch(s); "
        f'costs are <span class="est">estimates</span> of the cost model for the folding '
        f"of the goal. Diamonds: the front trained again (see below).{hv_text}</p>",
    ]
    rungs = (s.get("rungs") or {}).get("this_run") or []
    if len(rungs) > 1:  # multi-fidelity: where the search's time went
        body.append(
            f'<p class="how">Rungs: every candidate trains at rung 0; per batch of trials the '
            f"best {s['rungs']['promote']:.2g} (non-dominated sorting on error × cost) trains "
            "again at the next rung, and the front uses the highest rung a design reached. "
            "Counts are this run's (a resumed search counts from its restart).</p>"
        )
        body.append(
            table(
                ["rung", "share × epochs", "trained", "cache hits", "promoted", "told at it",
                 "seconds"],
                [
                    [r["rung"], f"{r['fidelity']:g} × {r['epochs']}", r["evaluated"],
                     r["cached"], r["promoted"], r["told"], f"{r['seconds']:.0f}"]
                    for r in rungs
                ],
            )
        )
    return _section("Pareto front", "pareto", "\n".join(body))


def _refinement_note(ref: dict | None) -> str:
    """The choice's sentence on the refinement (the reference's cheaper one-step
    neighbours), or nothing when it did not run."""
    if not ref:
        return ""
    if ref.get("skipped"):
        return f"; refinement around the reference skipped ({escape(ref['skipped'])})"
    n = ref["neighbours"]
    return (
        f", and so were {len(ref['candidates'])} of the reference's {n['cheaper']} one-step "
        f"neighbours (of {n['moves']} moves) whose estimated cost is at most "
        f"{ref['share']:g}× the reference's, the closest first (the refinement, "
        "half.search.refine)"
    )


def _choice(run: dict) -> str:
    c, re_ = run["choice"], run["reevaluation"]
    if not c:
        return _section("Choice", "choice", _missing(run, "reeval" if not re_ else "choose"))
    rows = [
        [
            r["arch_hash"]
            + (" (reference)" if r.get("reference") else "")
            + (f" (refinement: {r['move']})" if r.get("origin") == "refine" else ""),
            r["search_error"],
            r["metric_mean"],
            r["metric_std"],
            r["cost"],
            f"{r['feasible_runs']}/{r['runs']}",
            r["meets_floor"],
        ]
        for r in c["candidates"]
    ]
    head = [
        "design",
        "search error",
        f"validation {c['metric']} (mean)",
        "std",
        f"{c['cost_name']}* (mean)",
        "feasible runs",
        "meets floor",
    ]
    folds = max((len(r.get("per_fold") or {}) for r in c["candidates"]), default=0)
    if folds and any("folds_at_reference" in r for r in c["candidates"]):  # the paired rule
        tol = c.get("fold_tolerance") or 0.0
        head.insert(-1, "folds at the reference level" + (f" (within {tol:g})" if tol else ""))
        for row, r in zip(rows, c["candidates"], strict=True):
            at = r.get("folds_at_reference")
            row.insert(-1, "—" if at is None else f"{at}/{folds}")
    body = [
        f"<p>Every design of the search's front was trained again with seed(s) "
        f"{re_['seeds']} on training fidelity {re_['fidelity']:g} for {re_['epochs']} "
        f"epoch(s), measured by {escape(measured_on(re_))}"
        + _refinement_note(run.get("refinement"))
        + (
            "; the chosen design was then trained on every train and val record (a final fit"
            + (", as was the reference" if (c.get("final") or {}).get("reference") else "")
            + "), and that model is the one tested and built"
            if c.get("final")
            else ""
        )
        + f". Floor: {c['floor']:.4f} "
        f"({escape(c['floor_source'])}). Rule: the lowest {escape(c['cost_name'])} among "
        "the designs that fit and meet the rate in every run and reach the floor; if none "
        "reaches it, the most accurate. Chosen: " + escape(c["message"]) + ". The test "
        "split was not used for any of this.</p>",
        table(head, rows, [r["chosen"] for r in c["candidates"]]),
        '<p class="how">* estimate of the cost model.</p>',
    ]
    return _section("Choice", "choice", "\n".join(body))


def _reference(run: dict) -> str:
    ref = run.get("reference")
    if not ref:
        why = "no reference design was given" if "reference" in run else "not recorded"
        return _section("Reference design", "reference", f"<p>{escape(why)}.</p>")
    key, unit = ref["metric"], run.get("cost_unit", "")
    c = ref.get("chosen") or {}

    def row(name: str, d: dict, design: str) -> list:
        test = (d.get("test") or {}).get(key)
        cost = d.get("cost") if d.get("cost") is not None else "does not fit / too slow"
        return [name, design, d.get("params"), d.get("validation"), test, cost]

    rows = [row("chosen", c, c.get("arch_hash") or "—")] if c else []
    rows.append(row("reference", ref, f"{ref['spec']} ({ref['arch_hash']})"))
    head = [
        "",
        "design",
        "params",
        f"validation {key}",
        f"test {key}",
        f"{ref['cost_name']}* [{unit}]",
    ]
    body = [
        table(head, rows, [True, False] if c else None),
        f'<p class="how">{escape(ref["how"])}.'
        + ("" if ref["fits"] else f" The reference does not fit: {escape(ref['reason'])}.")
        + " * estimate of the cost model.</p>",
    ]
    return _section("Reference design", "reference", "\n".join(body))


def _arch(run: dict) -> str:
    c, b = run["choice"], run["build"]
    if not c or not c["chosen"].get("arch"):
        return _section("Architecture", "arch", _missing(run, "choose"))
    a = c["chosen"]["arch"]
    rows = [
        [
            "input",
            f"{a['window']} samples, {a['input_bits']}-bit, decimation {a['decimation']}",
            "",
            "",
        ]
    ]
    for i, blk in enumerate(a["blocks"]):
        rows.append(
            [
                f"block {i}",
                f"{blk['kind']} {blk['channels']} ch, kernel {blk['kernel']}"
                f", stride {blk['stride']}, pool {blk['pool']}",
                blk["weight_bits"],
                blk["act_bits"],
            ]
        )
    if a.get("side_inputs"):
        rows.append(
            [
                "side inputs",
                f"{a['side_inputs']} RR features, joined after {a['head']} pooling",
                "",
                a.get("side_bits", ""),
            ]
        )
    for j, d in enumerate(a.get("dense", [])):
        rows.append([f"dense {j}", f"{d['units']} units", d["weight_bits"], d["act_bits"]])
    rows.append(["classifier", f"{a['n_classes']} classes (argmax on chip)", a["out_bits"], ""])
    body = [
        table(["layer", "shape", "weight bits", "activation bits"], rows),
        f"<p>{c['chosen']['params']} parameters, {c['chosen']['macs']} MACs per "
        f"inference; model folder <code>{escape(c['chosen']['model'])}</code>.</p>",
    ]
    if b:
        p = b["predicted"]
        rows = [
            [
                s["name"],
                s["kind"],
                b["modules"].get(_instance(s), ""),
                s["pe"],
                s["simd"],
                s["cycles"],
                s["luts"],
                s["ffs"],
                s["bram"],
                s["dsp"],
                f"{100 * s['dynamic_energy_share']:.0f} %",
            ]
            for s in p["stages"]
        ]
        body += [
            f"<h3>Hardware per layer ({escape(p['goal'])} folding at {p['clock_mhz']:g} MHz)</h3>",
            table(
                [
                    "stage",
                    "kind",
                    "RTL module",
                    "PE",
                    "SIMD",
                    "cycles",
                    "LUT*",
                    "FF*",
                    "BRAM*",
                    "DSP*",
                    "dyn. energy*",
                ],
                rows,
            ),
            '<p class="how">PE, SIMD: the folding (half.hw.folding); cycles: the cost '
            "model's count of the RTL's schedule (checked in Verilator below); * "
            '<span class="est">estimates</span> of the analytical cost model.</p>',
        ]
    return _section("Architecture", "arch", "\n".join(body))


def _instance(stage: dict) -> str:
    """The design.json name (the top's instance) of a stage of predicted.json: the input
    stage's instance is `decimate` (half.hw.design.InputStage.instance), the others' their name."""
    return INPUT_INSTANCE if stage["kind"] == "input" else stage["name"]


def _figures(run: dict, group: str, title: str, anchor: str, extra: str = "") -> str:
    rows = [
        [
            f["name"],
            f["value"],
            f["unit"],
            Raw(f'<span class="est">{escape(f["kind"])}</span>')
            if f["kind"] == "estimate"
            else f["kind"],
            f["how"],
        ]
        for f in run["figures"]
        if f["group"] == group
    ]
    if not rows:
        return _section(
            title, anchor, "<p>No figures: the stages that produce them did not run.</p>"
        )
    return _section(
        title, anchor, table(["figure", "value", "unit", "kind", "how obtained"], rows) + extra
    )


def _resources(run: dict) -> str:
    i = run["implementation"]
    extra = ""
    if i:
        rows = [
            [k, r.get("predicted"), r["used"], r["available"]]
            for k, r in i["resources"].items()
            if r["used"] or r.get("predicted")
        ]
        extra = "<h3>Estimate vs synthesis</h3>" + table(
            ["resource", "estimate (cost model)", "post-synthesis (Yosys, measured)", "available"],
            rows,
        )
        if i.get("notes"):
            extra += "<ul>" + "".join(f"<li>{escape(n)}</li>" for n in i["notes"]) + "</ul>"
    elif run["stages"].get("implement"):
        extra = _missing(run, "implement")
    return _figures(run, "resources", "Resources", "resources", extra)


def _test(run: dict) -> str:
    t = run["test"]
    if not t:
        return _section("Test metrics", "test", _missing(run, "test"))
    body = [
        f"<p>The chosen model (PyTorch, quantization-aware) on all {t['windows']} windows "
        "of the test split, evaluated once, after the choice.</p>"
    ]
    if t.get("per_class"):
        rows = [[c, m["se"], m["ppv"], m["f1"], m["support"]] for c, m in t["per_class"].items()]
        body.append(table(["class", "Se", "+P", "F1", "support"], rows))
    elif "sensitivity" in t:  # two classes (half.nn.metrics.binary_metrics): the positive one
        classes, pos = t.get("classes"), t.get("positive", 1)
        name = classes[pos] if classes else f"class {pos}"
        row = [name, t["sensitivity"], t["specificity"], t["ppv"], t["f1"], t["support"]]
        body.append(table(["positive class", "Se", "Sp", "+P", "F1", "support"], [row]))
    return _section("Test metrics", "test", "\n".join(body)) + _figures(
        run, "accuracy", "Accuracy figures", "accuracy"
    )


def _stages(run: dict) -> str:
    rows = []
    for name, st in run["stages"].items():
        cls = {"done": "ok", "reused": "ok", "error": "bad", "skipped": "warn"}.get(
            st["status"], ""
        )
        rows.append(
            [
                name,
                Raw(f'<span class="{cls}">{escape(st["status"])}</span>'),
                st.get("seconds"),
                st.get("error") or st.get("reason") or "",
                Raw(f"<code>{escape(st['command'])}</code>") if st.get("command") else "",
                st.get("record") or "",
            ]
        )
    body = table(["stage", "status", "seconds", "note", "the same by hand", "record"], rows)
    body += (
        '<p class="how">"reused": the stage\'s record was still valid (same inputs), '
        "so it did not run again. Re-run a stage with <code>half run ... --redo STAGE"
        "</code>.</p>"
    )
    b = run["build"]
    if b and b["predicted"].get("notes"):
        body += (
            "<h3>Cost-model notes</h3><ul>"
            + "".join(f"<li>{escape(n)}</li>" for n in b["predicted"]["notes"])
            + "</ul>"
        )
    return _section("Stages", "stages", body)


def render_report(run: dict) -> str:
    """The report page of a run summary (see half.run.summary.summarize)."""
    s = run["settings"]
    title = f"half run: {s['task']} / {s['device']} / {s['goal']}"
    parts = [
        _header(run),
        _summary(run),
        _pareto(run),
        _choice(run),
        _reference(run),
        _arch(run),
        _resources(run),
        _figures(
            run,
            "power",
            "Power and energy (estimates)",
            "power",
            '<p class="how">No power was measured: these are the cost model\'s '
            "first-order figures (static and clock tree from the device catalog, "
            "dynamic from per-resource coefficients at a reference toggle rate). "
            "<code>half power PROJECT</code> refines the dynamic part with toggle "
            "rates simulated in Verilator.</p>",
        ),
        _figures(run, "timing", "Timing", "timing"),
        _figures(run, "verification", "Verification", "verification"),
        _test(run),
        _stages(run),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>\n"
        + "\n".join(parts)
        + "\n</body></html>\n"
    )


__all__ = ["render_report"]
