# SPDX-License-Identifier: Apache-2.0
"""Run folders and shipped presets: train into a folder, evaluate a folder or a preset.

A run folder holds: arch.json, task.json (task name and parameters), train_config.json,
side_norm.json, model.pt, history.json, metrics_val.json, confusion_val.json, curve.png,
model.qonnx.onnx, model.qcdq.onnx and export_check.json. Presets are run folders shipped inside
the package under half/nn/presets/<task>/<name>/, addressed as `preset:<name>`.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from half._io import atomic_dir, claim_output, write_json_atomic
from half.data import get_task
from half.data.task import Progress
from half.errors import ConfigError
from half.nn.arch import Arch, load_arch
from half.nn.metrics import primary_metric

# half.nn.train and half.nn.export (torch, brevitas: about 4 CPU-s to import) are imported by
# the functions that train, evaluate or export, so that resolving a model or a preset, as
# `half build`, `estimate` and `predict` do, stays light.
if TYPE_CHECKING:
    from half.nn.config import TrainConfig

PREFIX = "preset:"


def presets_dir(task: str) -> Path:
    return Path(str(resources.files("half.nn").joinpath("presets", task)))


def list_presets(task: str) -> list[str]:
    d = presets_dir(task)
    return sorted(p.name for p in d.iterdir() if (p / "arch.json").is_file()) if d.is_dir() else []


def resolve_model(spec: str, task: str) -> Path:
    """A run folder from `preset:NAME` (for `task`) or a path."""
    if spec.startswith(PREFIX):
        name = spec[len(PREFIX):]
        path = presets_dir(task) / name
        if not (path / "arch.json").is_file():
            known = ", ".join(list_presets(task)) or "none"
            raise ConfigError("model", f"no preset {name!r} for task {task} (known: {known})")
        return path
    path = Path(spec)
    if not path.is_dir():
        raise ConfigError("model", f"{spec}: no such run folder")
    return path


def resolve_arch(spec: str, task: str) -> tuple[Arch, dict]:
    """(arch, task params it was made for) from `preset:NAME` or an arch .json/.yaml file."""
    if spec.startswith(PREFIX):
        folder = resolve_model(spec, task)
        params = json.loads((folder / "task.json").read_text())["params"]
        recipe = folder / "recipe.yaml"
        if recipe.is_file():  # the recipe's task parameters, not those of its final fit (which
            import yaml  # may hold no validation records, see benchmarks/train_presets.py)

            params = yaml.safe_load(recipe.read_text()).get("task_params", {})
        return load_arch(folder / "arch.json"), params
    return load_arch(spec), {}


def _plot_curve(history: list[dict], key: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ep = [h["epoch"] for h in history]
    ax.plot(ep, [h["loss"] for h in history], label="train loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    if history[0][f"val_{key}"] is not None:  # None: trained without a validation split
        ax2 = ax.twinx()
        ax2.plot(ep, [h[f"val_{key}"] for h in history], color="C1", label=f"val {key}")
        ax2.set_ylabel(f"val {key}")
    fig.legend(loc="upper center", ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def train_run(task_name: str, arch_spec: str, out_dir: Path, cfg: TrainConfig,
              task_options: dict | None = None, data_dir: Path | None = None,
              progress: Progress | None = None, force: bool = False) -> dict:
    """Train `arch_spec` on the task and write a complete run folder (atomically).

    `out_dir` is checked before training: an existing path that is not a half model folder is
    refused unless `force` (a user's files are never replaced silently)."""
    claim_output(out_dir, "model", force=force)
    arch, preset_params = resolve_arch(arch_spec, task_name)

    from half.nn.train import save_run, train  # torch: after the cheap checks
    task = get_task(task_name, **{**preset_params, **(task_options or {})})
    data = task.load(data_dir, progress=progress)
    result = train(arch, data, cfg, progress=progress)
    va = data.select("val")
    key = primary_metric(data.task, data.classes)
    # the QONNX check runs on validation windows, or training windows when there is no val split
    probe = va if len(va) else data.select("train")
    side_probe = result.norm(probe.side)
    with atomic_dir(out_dir, "model", force=force) as tmp:
        save_run(tmp, arch, task.param_dict(), task_name, cfg, result)
        if len(va):
            write_json_atomic(tmp / "confusion_val.json", result.val["confusion"])
        _plot_curve(result.history, key, tmp / "curve.png")
        check = _export_all(tmp, result.model, probe.x, side_probe)
    return {"run_dir": str(out_dir), "task": task_name, "arch_hash": arch.arch_hash(),
            "params": arch.params(), "macs": arch.macs(), "best_epoch": result.best_epoch,
            "epochs_run": len(result.history), "windows_per_s": result.windows_per_s,
            "val": result.val, "qonnx_check": check, "warnings": list(data.warnings)}


def _export_all(folder: Path, model, x, side) -> dict:
    """QONNX and QCDQ exports, and the check that the QONNX file matches PyTorch (64 windows)."""
    from half.nn.export import check_qonnx, export_qcdq, export_qonnx

    export_qonnx(model, folder / "model.qonnx.onnx")
    export_qcdq(model, folder / "model.qcdq.onnx")
    n = min(64, len(x))
    check = check_qonnx(folder / "model.qonnx.onnx", model, x[:n],
                        None if side is None else side[:n].numpy())
    write_json_atomic(folder / "export_check.json", check)
    return check


def reexport(model_spec: str, task_name: str, data_dir: Path | None = None) -> dict:
    """Rewrite a run folder's (or preset's) exports from its weights, e.g. after an exporter
    fix; stray files of an earlier export (names starting with '.') are removed."""
    folder, _, norm, model, data = load_run_data(model_spec, task_name, "train", data_dir)
    for stray in folder.glob(".*"):
        stray.unlink()
    return _export_all(folder, model, data.x, norm(data.side))


def _trained_for(folder: Path) -> str | None:
    """The task named by the run folder's task.json; None when it cannot be read (load_run
    then says what is wrong)."""
    try:
        return json.loads((folder / "task.json").read_text())["task"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def load_run_data(model_spec: str, task_name: str, split: str, data_dir: Path | None = None,
                  progress: Progress | None = None):
    """(folder, arch, side normalizer, model, windows of `split`) of a run folder or preset,
    its task prepared with the parameters it was trained with."""
    folder = resolve_model(model_spec, task_name)
    trained_for = _trained_for(folder)
    if trained_for is not None and trained_for != task_name:
        raise ConfigError("task", f"{folder} was trained for {trained_for}, not {task_name}")

    from half.nn.train import load_run  # torch: after the cheap checks

    arch, task_info, norm, model = load_run(folder)
    task = get_task(task_name, **task_info["params"])
    return folder, arch, norm, model, task.load(data_dir, progress=progress).select(split)


def eval_run(model_spec: str, task_name: str, split: str, data_dir: Path | None = None,
             progress: Progress | None = None) -> dict:
    """Metrics of a run folder or preset on one split of its task."""
    folder, arch, norm, model, data = load_run_data(model_spec, task_name, split, data_dir,
                                                    progress)
    from half.nn.train import evaluate
    return {"model": str(folder), "task": task_name, "split": split, "windows": len(data),
            "arch_hash": arch.arch_hash(), "params": arch.params(), "macs": arch.macs(),
            **evaluate(model, norm, data), "warnings": list(data.warnings)}
