# SPDX-License-Identifier: Apache-2.0
"""Train the shipped presets from their recipes, over several seeds, and report val and test.

    .venv/bin/python benchmarks/train_presets.py [--only mitdb-aami-small ...] [--seeds 0 1 2]
        [--out runs/presets] [--install] [--data-dir DIR] [--cv-only [--cv-seed K]]
        [--recipe FILE ...] [--cv-epoch N]
    .venv/bin/python benchmarks/train_presets.py --reexport   # rewrite the shipped exports only
    .venv/bin/python benchmarks/train_presets.py --record-predictions  # cinc2017-af's per-record

Each recipe in benchmarks/presets/<task>-<name>.yaml holds the architecture, the task parameters
and the training options. Every seed trains a run folder `<out>/<task>-<name>/seed<k>` with
`half.nn.runs.train_run` (the same code as `half train`). The epoch is selected without the test
split, in one of two ways (the recipe's `selection`):

* `val` (default): early stopping on the task's validation split;
* `cv`: patient-wise k-fold cross-validation inside the training records (`folds`, seed 0) gives
  the epoch with the best mean validation curve; each seed then trains on all training records
  (`final_task_params`, e.g. no validation records) with the same schedule and stops there.
  With `offsets: cv` the same CV also chooses per-class score offsets (half.nn.offsets) that the
  final fits add to their last layer's bias.

The test split is evaluated once per trained model, after training, and never feeds back into a
choice: the shipped seed is fixed in advance (`--ship-seed`, 0), not the best one. `--install`
copies that run folder into src/half/nn/presets/<task>/<name>/.

Prints one JSON line per run and one summary line per preset (mean ± std over the seeds).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import yaml

from half.data import get_task
from half.nn.arch import Arch
from half.nn.cv import cross_validate
from half.nn.runs import eval_run, list_presets, presets_dir, reexport, train_run
from half.nn.train import TrainConfig

HERE = Path(__file__).resolve().parent
RECIPES = HERE / "presets"


def _summary(values: list[float | None]) -> dict | None:
    if any(v is None for v in values):  # no validation figure (--cv-epoch: no CV was run)
        return None
    return {"mean": round(float(np.mean(values)), 4), "std": round(float(np.std(values)), 4),
            "values": [round(v, 4) for v in values]}


def train_preset(recipe: Path, seeds: list[int], out: Path, data_dir: Path | None,
                 threads: int, cv_seed: int = 0, cv_epoch: int = 0) -> dict:
    spec = yaml.safe_load(recipe.read_text())
    task, name = spec["task"], recipe.stem[len(spec["task"]) + 1:]
    arch = Arch.from_dict(spec["arch"])
    key = "macro_f1" if task == "mitdb-aami" else "f1_nao"
    rows, cv = [], None
    base = {**spec.get("train", {}), "threads": threads}
    task_params = spec.get("task_params", {})
    if spec.get("selection", "val") == "cv" and cv_epoch:
        if spec.get("offsets"):
            raise SystemExit(f"{recipe}: --cv-epoch cannot give the CV's score offsets")
        # the epoch of an earlier CV run of this same recipe (its row says which): not rerun
        cv = {"cv_epoch": cv_epoch, "cv_epoch_score": None, "fold_mean": None, "fold_std": None,
              "given": "--cv-epoch: from an earlier --cv-only run of this recipe"}
    elif spec.get("selection", "val") == "cv":
        data = get_task(task, **task_params).load(data_dir)
        cv = cross_validate(arch, data, spec.get("folds", 4), TrainConfig(**base, seed=cv_seed),
                            offsets=spec.get("offsets") == "cv")
        print(json.dumps({"preset": f"{task}/{name}", "cv_seed": cv_seed,
                          "cv_epoch": cv["cv_epoch"],
                          "cv_epoch_score": cv["cv_epoch_score"], "fold_mean": cv["fold_mean"],
                          "fold_std": cv["fold_std"], "curve": cv["curve"],
                          f"pooled_{key}": round(cv["pooled"][key], 4),
                          "offsets": cv.get("offsets")}), flush=True)
        if "offsets" in cv:
            base["score_offsets"] = cv["offsets"]["values"]
    elif spec.get("offsets"):
        raise SystemExit(f"{recipe}: offsets: cv needs selection: cv")
    elif cv_epoch:
        raise SystemExit(f"{recipe}: --cv-epoch needs a recipe with selection: cv")
    if cv is not None:  # the final fits: stop at the CV's epoch, on the final task parameters
        base["stop_at"] = cv["cv_epoch"]
        task_params = {**task_params, **spec.get("final_task_params", {})}
    elif not seeds:
        raise SystemExit(f"{recipe}: --cv-only needs a recipe with selection: cv")
    if not seeds:  # --cv-only: the selection figures, no final fit, no test split
        return {"preset": f"{task}/{name}", "cv": cv}
    with tempfile.TemporaryDirectory() as tmp:
        arch_file = Path(tmp) / "arch.json"
        arch_file.write_text(arch.to_json())
        for seed in seeds:
            cfg = TrainConfig(**{**base, "seed": seed})
            run = out / f"{task}-{name}" / f"seed{seed}"
            res = train_run(task, str(arch_file), run, cfg, task_params, data_dir)
            (run / "recipe.yaml").write_text(recipe.read_text())
            if cv is not None:
                (run / "cv.json").write_text(json.dumps(cv, indent=2))
            test = eval_run(str(run), task, "test", data_dir)
            # recorded so that a test can check the shipped weights still give this figure
            (run / "metrics_test.json").write_text(json.dumps(test, indent=2))
            record_predictions(run, task, data_dir)
            val = res["val"].get(key, cv["cv_epoch_score"] if cv else None)
            row = {"preset": f"{task}/{name}", "seed": seed, "params": arch.params(),
                   "macs": arch.macs(), "best_epoch": res["best_epoch"],
                   "epochs_run": res["epochs_run"], "qat_windows_per_s": res["windows_per_s"],
                   f"val_{key}": val, f"test_{key}": test[key],
                   "test_f1": {c: round(v["f1"], 4) for c, v in test["per_class"].items()},
                   "qonnx_agreement": res["qonnx_check"]["argmax_agreement"]}
            print(json.dumps(row), flush=True)
            rows.append(row)
    return {"preset": f"{task}/{name}", "task": task, "name": name, "metric": key,
            "params": arch.params(), "macs": arch.macs(),
            f"val_{key}": _summary([r[f"val_{key}"] for r in rows]),
            f"test_{key}": _summary([r[f"test_{key}"] for r in rows]),
            "qat_windows_per_s": round(float(np.mean([r["qat_windows_per_s"] for r in rows]))),
            "selection": spec.get("selection", "val"),
            "cv": None if cv is None else {k: cv[k] for k in ("cv_epoch", "cv_epoch_score",
                                                              "fold_mean", "fold_std")},
            "runs": rows}


def record_predictions(run: Path, task: str, data_dir: Path | None) -> Path | None:
    """cinc2017-af: the predicted class of every test recording, in predictions_test.json, so
    that tests/test_presets.py can check the shipped weights on a subset of the recordings
    (preparing all 8,528 with RR features takes minutes). None for other tasks."""
    if task != "cinc2017-af":
        return None
    from half.nn.runs import load_run_data
    from half.nn.train import predict

    _, _, norm, model, data = load_run_data(str(run), task, "test", data_dir)
    pred = predict(model, data.x, norm(data.side))
    out = run / "predictions_test.json"
    out.write_text(json.dumps({str(r): data.classes[int(k)] for r, k in
                               zip(data.record, pred, strict=True)}, indent=0) + "\n")
    return out


def install(run: Path, task: str, name: str) -> Path:
    dest = presets_dir(task) / name
    if dest.exists():
        shutil.rmtree(dest)
    # a preset is package data, not a user's output folder: no hidden files (half's artefact
    # marker included)
    shutil.copytree(run, dest, ignore=shutil.ignore_patterns(".*"))
    return dest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="*", default=None, help="recipe names (file stems)")
    ap.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    ap.add_argument("--ship-seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("runs/presets"))
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--install", action="store_true")
    ap.add_argument("--cv-only", action="store_true",
                    help="only the cross-validation of `selection: cv` recipes (and their "
                    "offsets): no final fit, no test split; for choosing between recipes")
    ap.add_argument("--cv-seed", type=int, default=0,
                    help="training seed of the cross-validation's models (the folds stay "
                    "the same: a paired comparison between recipes)")
    ap.add_argument("--cv-epoch", type=int, default=0,
                    help="skip the cross-validation of a `selection: cv` recipe and stop the "
                    "final fits at this epoch: the cv_epoch an earlier --cv-only run of the same "
                    "recipe printed (the CV is deterministic; this saves rerunning it)")
    ap.add_argument("--recipe", type=Path, action="append", default=[],
                    help="a recipe file outside benchmarks/presets (a variant being tried)")
    ap.add_argument("--reexport", action="store_true",
                    help="only rewrite the shipped presets' ONNX exports from their weights")
    ap.add_argument("--record-predictions", action="store_true",
                    help="only write the shipped cinc2017-af presets' predictions_test.json")
    args = ap.parse_args()
    if args.record_predictions:
        for name in list_presets("cinc2017-af"):
            print(record_predictions(presets_dir("cinc2017-af") / name, "cinc2017-af",
                                     args.data_dir), flush=True)
        return
    if args.reexport:
        for task in ("mitdb-aami", "cinc2017-af"):
            for name in list_presets(task):
                check = reexport(f"preset:{name}", task, args.data_dir)
                print(json.dumps({"preset": f"{task}/{name}", **check}), flush=True)
        return
    if args.cv_only and args.cv_epoch:
        sys.exit("error: --cv-only and --cv-epoch exclude each other")
    recipes = args.recipe or sorted(RECIPES.glob("*.yaml"))
    if args.only:
        recipes = [r for r in recipes if r.stem in args.only]
        if not recipes:
            sys.exit(f"error: no recipe named {args.only} in {RECIPES}")
    for recipe in recipes:
        summary = train_preset(recipe, [] if args.cv_only else args.seeds, args.out,
                               args.data_dir, args.threads, args.cv_seed, args.cv_epoch)
        if args.cv_only:
            continue  # its CV line is printed
        summary.pop("runs")
        print("SUMMARY " + json.dumps(summary), flush=True)
        if args.install:
            run = args.out / f"{summary['task']}-{summary['name']}" / f"seed{args.ship_seed}"
            print(f"installed {install(run, summary['task'], summary['name'])}", flush=True)


if __name__ == "__main__":
    main()
