# SPDX-License-Identifier: Apache-2.0
"""The reference design of `half run`: what the chosen design must be at least as good as.

    arch, source = load_reference("preset:tiny", spec)

The reference (`preset:NAME`, a run folder or an architecture file; default the task's
`preset:tiny`) is trained, evaluated and folded exactly as the front designs are in the
re-evaluation (`half.search.study.reeval_specs`: the same seeds, training fidelity and epochs, the
same cross-validation folds or validation split, the same goal and device), so its validation
metric is a floor the front can fairly be held to. After a cross-validated choice it also gets
the chosen design's final fit on every train and val record (`half.run.stages`). Its runs go
into the search's result cache: a reference the search also found is trained once. After the
choice, the `test` stage evaluates it on the test split beside the chosen design, and the run's
warnings compare the two (`warnings`).
"""

from __future__ import annotations

import dataclasses
import statistics
from pathlib import Path

from half.errors import ConfigError
from half.nn.arch import Arch

COLLAPSE = 0.5  # a re-evaluated metric under this share of the search's is a collapse


def load_reference(text: str, spec) -> tuple[Arch, str]:
    """(architecture, its source) of `preset:NAME`, a run folder or an architecture file;
    ConfigError("reference", ...) when it cannot be read or does not fit the task's shape."""
    from half.nn.arch import load_arch
    from half.nn.runs import PREFIX, resolve_model

    try:
        if text.startswith(PREFIX):
            path = resolve_model(text, spec.task) / "arch.json"
        else:
            path = Path(text)
            if path.is_dir():
                path = path / "arch.json"
                if not path.is_file():
                    raise ConfigError(
                        "reference",
                        f"{text}: a run folder holds arch.json; give "
                        "a run folder, an architecture file or preset:NAME",
                    )
        arch = load_arch(path)
    except ConfigError as exc:
        if exc.field == "reference":
            raise
        raise ConfigError(
            "reference", exc.fault if exc.field in ("model", "arch") else str(exc)
        ) from None
    for key, want in spec.arch_shape().items():
        if getattr(arch, key) != want:
            raise ConfigError(
                "reference",
                f"{text}: {key} is {getattr(arch, key)}; the task {spec.task} gives {want}",
            )
    return arch, str(path)


def train_reference(ctx) -> tuple[dict, dict]:
    """The `reference` stage: the reference trained and folded under the re-evaluation's
    protocol (result: its runs, mean validation metric, mean cost; None cost: it does not fit
    the device or meet the rate). No reference (None): {"spec": None}."""
    from half.search.study import ResultStore, reeval_specs, train_all

    s = ctx.settings
    if s.reference is None:
        return {"spec": None}, {}
    arch, source = load_reference(s.reference, ctx.spec)
    protocol = s.reeval_protocol()
    epochs = protocol["epochs"]
    specs = reeval_specs(ctx.spec, **protocol)
    store = ResultStore(ctx.search_dir)
    hash_ = arch.arch_hash()
    for k, spec in enumerate(specs):
        rec = store.get(spec, hash_)  # a front design trained already under this protocol
        if rec is None or not rec.get("trained"):
            # trained even when it cannot fit the device: its accuracy is the floor
            specs[k] = dataclasses.replace(spec, precheck="off")
    todo = sum(store.get(spec, hash_) is None for spec in specs)
    if todo:
        ctx.log(
            f"training the reference {s.reference} ({todo} run(s), fidelity "
            f"{s.reeval_fidelity:g}, {epochs} epoch(s)) as the front designs were"
        )
    results = dict(
        enumerate(
            train_all(
                store,
                [(spec, arch, hash_) for spec in specs],
                workers=ctx.workers,
                threads=ctx.spec.threads,
                data_dir=ctx.data_dir,
                space=ctx.space,
            )
        )
    )
    runs = [
        {
            "seed": specs[k].seed,
            "holdout": specs[k].holdout,
            "val_metric": results[k].get("val_metric"),
            "cost": results[k].get("cost"),
            "feasible": bool(results[k].get("feasible")),
            "status": results[k].get("status"),
            "reason": results[k].get("reason") or "",
            "run_dir": results[k].get("run_dir"),
        }
        for k in range(len(specs))
    ]
    metrics = [r["val_metric"] for r in runs if r["val_metric"] is not None]
    costs = [r["cost"] for r in runs if r["cost"] is not None]
    first = results[0]
    fits = all(r["feasible"] for r in runs)
    trained = [r for r in runs if r["val_metric"] is not None and r["run_dir"]]
    result = {
        "spec": s.reference,
        "source": source,
        "arch_hash": hash_,
        "arch": first.get("arch"),
        "params": first.get("params"),
        "macs": first.get("macs"),
        "metric": first.get("metric"),
        "cost_name": ctx.spec.cost_name,
        "seeds": sorted({sp.seed for sp in specs}),
        "folds": protocol["folds"],
        "fidelity": s.reeval_fidelity,
        "epochs": epochs,
        "runs": runs,
        "metric_mean": statistics.fmean(metrics) if metrics else None,
        "metric_std": statistics.stdev(metrics) if len(metrics) > 1 else 0.0,
        "cost": statistics.fmean(costs) if fits and costs else None,
        "fits": fits,
        "reason": "" if fits else next(r["reason"] for r in runs if not r["feasible"]),
        # the model tested beside the chosen one: after cross-validation its final fit (the
        # choice trains it), else its best-validation run
        "best_run": max(trained, key=lambda r: r["val_metric"])
        if trained and not protocol["folds"]
        else None,
    }
    return result, {}


def reference_runs(ctx, rec: dict) -> list[Path]:
    """The run folders a reused reference record needs."""
    return [Path(r["run_dir"]) for r in (rec["result"] or {}).get("runs", []) if r.get("run_dir")]


def describe(rec: dict) -> str:
    r = rec["result"]
    if not r or r.get("spec") is None:
        return "no reference (floor: the best re-evaluated design's minus the slack)"
    metric = "—" if r["metric_mean"] is None else f"{r['metric_mean']:.4f}"
    cost = (
        f"{r['cost_name']}* {r['cost']:.4g}"
        if r["cost"] is not None
        else (f"does not fit or meet the rate ({r['reason']})")
    )
    return f"{r['spec']} ({r['arch_hash']}): validation {r['metric']} {metric}, {cost}"


def chance(task: str, test: dict) -> dict | None:
    """The metrics of always answering the most frequent class of the test split (from the
    test result's confusion matrix): the least a classifier must beat."""
    import numpy as np

    from half.nn.metrics import metrics_for

    if "confusion" not in test or "classes" not in test:
        return None
    support = np.asarray(test["confusion"]).sum(axis=1)
    y = np.repeat(np.arange(len(support)), support)
    top = int(np.argmax(support))
    m = metrics_for(task, tuple(test["classes"]), y, np.full_like(y, top))
    return {k: m[k] for k in ("macro_f1", "f1_nao", "f1", "accuracy") if k in m} | {
        "class": test["classes"][top]
    }


def summary_block(ref: dict | None, choice: dict | None, test: dict | None) -> dict | None:
    """run.json's `reference`: the reference beside the chosen design (validation metric,
    test metric, the goal's cost on the device), or None without a reference."""
    if not ref or ref.get("spec") is None:
        return None
    keys = ("macro_f1", "f1_nao", "f1", "accuracy", "jk_index")

    def metrics(t: dict | None) -> dict | None:
        return {k: t[k] for k in keys if k in t} if t else None

    block = {
        "spec": ref["spec"],
        "arch_hash": ref["arch_hash"],
        "params": ref["params"],
        "macs": ref["macs"],
        "metric": ref["metric"],
        "cost_name": ref["cost_name"],
        "validation": ref["metric_mean"],
        "validation_std": ref["metric_std"],
        "test": metrics((test or {}).get("reference")),
        "cost": ref["cost"],
        "fits": ref["fits"],
        "reason": ref["reason"],
        "how": f"trained as the front designs were re-evaluated (seeds {ref['seeds']}, training "
        f"fidelity {ref['fidelity']:g}, {ref['epochs']} epoch(s), "
        + (
            f"patient-wise {ref['folds']}-fold cross-validation); "
            if ref.get("folds")
            else "validation split); "
        )
        + "cost: the cost model's estimate of its folding for the same goal and device; test: "
        + (
            "its final fit on every train and val record, on the same test windows"
            if ref.get("folds")
            else "its best-validation seed on the same test windows"
        ),
        "chosen": None,
    }
    if choice:
        c = choice["chosen"]
        block["chosen"] = {
            "arch_hash": c["arch_hash"],
            "params": c.get("params"),
            "macs": c.get("macs"),
            "validation": c["metric_mean"],
            "test": metrics(test),
            "cost": c["cost"],
        }
        # after cross-validation the tested models are final fits: their own costs (the
        # trained weights set the accumulator widths, so they can differ from the folds')
        final = choice.get("final") or {}
        for key, into in (("chosen", block["chosen"]), ("reference", block)):
            if final.get(key):
                into["cost_final_fit"] = final[key]["cost"]
    return block


def warnings(run: dict) -> list[str]:
    """What makes a finished run's answer suspect (run.json `warnings`; `ok` false, exit 3):
    the chosen design below the reference on the test split, no design reaching the
    reference's validation metric, a metric that collapsed between the search and the
    re-evaluation, a test metric no better than always answering the commonest class, or a
    chosen design whose final fit does not fit the device or meet the rate."""
    out: list[str] = []
    choice, test, ref = run.get("choice"), run.get("test"), run.get("reference")
    if not choice:
        return out
    c, key = choice["chosen"], choice["metric"]
    if choice.get("floor_kind") == "reference" and not choice["met_floor"]:
        out.append(choice["message"])
    fit = (choice.get("final") or {}).get("chosen")
    if fit and not fit["feasible"]:
        out.append(
            "the chosen design's final fit (every train and val record) does not fit the "
            "device or meet the rate with its trained weights"
        )
    searched = 1.0 - c["search_error"] if c.get("search_error") is not None else None
    if searched and c["metric_mean"] is not None and c["metric_mean"] < COLLAPSE * searched:
        out.append(
            f"the chosen design's validation {key} collapsed between the search "
            f"({searched:.4f}) and the re-evaluation ({c['metric_mean']:.4f})"
        )
    if not test or key not in test:
        return out
    mine = test[key]
    if ref and (ref.get("test") or {}).get(key) is not None and mine < ref["test"][key]:
        out.append(
            f"the chosen design's test {key} {mine:.4f} is below the reference "
            f"{ref['spec']}'s {ref['test'][key]:.4f} (trained alike)"
        )
    low = (test.get("chance") or {}).get(key)
    if low is not None and mine <= low:
        out.append(
            f"the chosen design's test {key} {mine:.4f} is no better than always "
            f"answering {test['chance']['class']} ({low:.4f})"
        )
    return out


__all__ = [
    "COLLAPSE",
    "chance",
    "describe",
    "load_reference",
    "summary_block",
    "train_reference",
    "warnings",
]
