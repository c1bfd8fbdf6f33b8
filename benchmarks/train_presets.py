# SPDX-License-Identifier: Apache-2.0
"""Train the shipped presets from their recipes, over several seeds, and report val and test.

    .venv/bin/python benchmarks/train_presets.py [--only mitdb-aami-small ...] [--seeds 0 1 2]
        [--out runs/presets] [--install] [--data-dir DIR]

Each recipe in benchmarks/presets/<task>-<name>.yaml holds the architecture, the task parameters
and the training options. Every seed trains a run folder `<out>/<task>-<name>/seed<k>` with
`half.nn.runs.train_run` (the same code as `half train`); model selection (the epoch) uses the
validation split only. The test split is evaluated once per trained model, after training, and
never feeds back into a choice: the seed that is shipped is fixed in advance (`--ship-seed`, 0),
not the best one. `--install` copies that run folder into src/half/nn/presets/<task>/<name>/.

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

from half.nn.arch import Arch
from half.nn.runs import eval_run, presets_dir, train_run
from half.nn.train import TrainConfig

HERE = Path(__file__).resolve().parent
RECIPES = HERE / "presets"


def _summary(values: list[float]) -> dict:
    return {"mean": round(float(np.mean(values)), 4), "std": round(float(np.std(values)), 4),
            "values": [round(v, 4) for v in values]}


def train_preset(recipe: Path, seeds: list[int], out: Path, data_dir: Path | None,
                 threads: int) -> dict:
    spec = yaml.safe_load(recipe.read_text())
    task, name = spec["task"], recipe.stem[len(spec["task"]) + 1:]
    arch = Arch.from_dict(spec["arch"])
    key = "macro_f1" if task == "mitdb-aami" else "f1_nao"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        arch_file = Path(tmp) / "arch.json"
        arch_file.write_text(arch.to_json())
        for seed in seeds:
            cfg = TrainConfig(**{**spec.get("train", {}), "seed": seed, "threads": threads})
            run = out / f"{task}-{name}" / f"seed{seed}"
            res = train_run(task, str(arch_file), run, cfg, spec.get("task_params", {}),
                            data_dir)
            (run / "recipe.yaml").write_text(recipe.read_text())
            test = eval_run(str(run), task, "test", data_dir)
            row = {"preset": f"{task}/{name}", "seed": seed, "params": arch.params(),
                   "macs": arch.macs(), "best_epoch": res["best_epoch"],
                   "epochs_run": res["epochs_run"], "qat_windows_per_s": res["windows_per_s"],
                   f"val_{key}": res["val"][key], f"test_{key}": test[key],
                   "test_f1": {c: round(v["f1"], 4) for c, v in test["per_class"].items()},
                   "qonnx_agreement": res["qonnx_check"]["argmax_agreement"]}
            print(json.dumps(row), flush=True)
            rows.append(row)
    return {"preset": f"{task}/{name}", "task": task, "name": name, "metric": key,
            "params": arch.params(), "macs": arch.macs(),
            f"val_{key}": _summary([r[f"val_{key}"] for r in rows]),
            f"test_{key}": _summary([r[f"test_{key}"] for r in rows]),
            "qat_windows_per_s": round(float(np.mean([r["qat_windows_per_s"] for r in rows]))),
            "runs": rows}


def install(run: Path, task: str, name: str) -> Path:
    dest = presets_dir(task) / name
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(run, dest)
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
    args = ap.parse_args()
    recipes = sorted(RECIPES.glob("*.yaml"))
    if args.only:
        recipes = [r for r in recipes if r.stem in args.only]
        if not recipes:
            sys.exit(f"error: no recipe named {args.only} in {RECIPES}")
    for recipe in recipes:
        summary = train_preset(recipe, args.seeds, args.out, args.data_dir, args.threads)
        summary.pop("runs")
        print("SUMMARY " + json.dumps(summary), flush=True)
        if args.install:
            run = args.out / f"{summary['task']}-{summary['name']}" / f"seed{args.ship_seed}"
            print(f"installed {install(run, summary['task'], summary['name'])}", flush=True)


if __name__ == "__main__":
    main()
