# SPDX-License-Identifier: Apache-2.0
"""Agreement of the golden integer model with the PyTorch QAT model on real windows."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from half.data.task import Progress
from half.errors import ConfigError
from half.hw import golden
from half.hw.ir import Graph
from half.hw.lower import lower
from half.nn.metrics import metrics_for, primary_metric


def graph_of_run(folder: Path, classes: tuple[str, ...] = ()) -> Graph:
    """Lower a run folder's QONNX export (with its side-input standardization) to the IR."""
    onnx = folder / "model.qonnx.onnx"
    if not onnx.is_file():
        raise ConfigError("model", f"{folder}: no model.qonnx.onnx (not a run folder?)")
    norm_file = folder / "side_norm.json"
    norm = json.loads(norm_file.read_text()) if norm_file.is_file() else None
    arch = json.loads((folder / "arch.json").read_text()) if (folder / "arch.json").is_file() \
        else {}
    return lower(onnx, side_norm=norm, classes=classes,
                 meta={"source": str(onnx), "arch": arch})


def golden_agreement(model_spec: str, task_name: str, split: str = "test",
                     data_dir: Path | None = None, progress: Progress | None = None) -> dict:
    """Run the PyTorch model and the golden model on every window of `split`; compare."""
    from half.nn.runs import load_run_data

    folder, _, norm, model, data = load_run_data(model_spec, task_name, split, data_dir,
                                                 progress)
    from half.nn.train import predict
    graph = graph_of_run(folder, data.classes)
    y_torch = predict(model, data.x, norm(data.side))
    t0 = time.perf_counter()
    y_gold = golden.run(graph, golden.quantize_input(graph, data.x),
                        golden.quantize_side(graph, data.side))
    seconds = time.perf_counter() - t0
    key = primary_metric(task_name, data.classes)
    m_torch = metrics_for(task_name, data.classes, data.y, y_torch)
    m_gold = metrics_for(task_name, data.classes, data.y, y_gold)
    differ = np.flatnonzero(y_torch != y_gold)
    return {"model": str(folder), "task": task_name, "split": split, "windows": len(data),
            "agreement": float(1 - len(differ) / max(1, len(data))),
            "disagreements": int(len(differ)), "first_disagreements": differ[:10].tolist(),
            "accuracy_torch": m_torch["accuracy"], "accuracy_golden": m_gold["accuracy"],
            f"{key}_torch": m_torch[key], f"{key}_golden": m_gold[key],
            "golden_windows_per_s": round(len(data) / max(seconds, 1e-9)),
            "layers": [type(layer).__name__ for layer in graph.layers],
            "macs": graph.macs()}
