# SPDX-License-Identifier: Apache-2.0
"""A trained model (run folder or preset) applied to new windows: its task, with the parameters
it was trained with (task.json), and the engine that computes its answers.

Engines: ``golden`` (default), the bit-exact integer model of `half.hw.golden` — what the FPGA
computes —, whose scores are the classifier's integer outputs (`acc·mul[c] + add[c]`, the values
its argmax compares); ``torch``, the Brevitas QAT network, whose scores are its float logits.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

from half.data import TASKS, get_task
from half.data.task import Progress, Task
from half.errors import ConfigError

ENGINES = ("golden", "torch")
# The lowest sampling rate accepted from a recording (Hz), unless the model's own rate is lower:
# the lowest rate the stress suite measured, where no shipped preset lost accuracy
# (benchmarks/bench_robustness.py, resample-128; docs/RESULTS.md). Lower rates are untested.
MIN_FS_MEASURED = 128.0
BATCH = 2048  # windows per engine call (and per progress step)


class Model:
    """The model at `spec` (a run folder, or `preset:NAME` of task `task_name`)."""

    def __init__(self, spec: str, task_name: str | None = None, engine: str = "golden") -> None:
        from half.nn.runs import PREFIX, resolve_model

        if engine not in ENGINES:
            raise ConfigError("--engine", f"one of {', '.join(ENGINES)}, got {engine!r}")
        if spec.startswith(PREFIX) and task_name is None:
            task_name = "mitdb-aami"
        if task_name is not None and task_name not in TASKS:
            raise ConfigError("task", f"unknown task {task_name!r}; known: {', '.join(TASKS)}")
        self.folder = resolve_model(spec, task_name or "")
        info_file = self.folder / "task.json"
        if not info_file.is_file():
            raise ConfigError("model", f"{self.folder}: not a run folder (no task.json)")
        info = json.loads(info_file.read_text())
        if task_name is not None and info["task"] != task_name:
            raise ConfigError("task", f"{self.folder} was trained for {info['task']}, not "
                              f"{task_name}")
        self.spec = spec
        self.engine = engine
        self.task: Task = get_task(info["task"], **info["params"])
        self.classes: tuple[str, ...] = self.task.classes

    @property
    def params(self):
        return self.task.params

    @property
    def min_fs(self) -> float:
        """The lowest recording rate this model accepts (Hz); see MIN_FS_MEASURED."""
        return min(float(self.params.fs), MIN_FS_MEASURED)

    def describe(self) -> dict:
        return {"model": str(self.folder), "task": self.task.name, "engine": self.engine,
                "classes": list(self.classes), "fs": float(self.params.fs),
                "window": int(self.params.window)}

    def classify(self, x: np.ndarray, side: np.ndarray | None,
                 progress: Progress | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(class index (n,), scores (n, classes)) of windows `x` (n, window) in the task's
        units with raw side features `side` (n, k) (or None)."""
        n = len(x)
        preds, scores = [], []
        run = self._golden if self.engine == "golden" else self._torch
        for i in range(0, n, BATCH):
            if progress is not None:
                progress("classifying", i, n)
            p, s = run(x[i:i + BATCH], None if side is None else side[i:i + BATCH])
            preds.append(p)
            scores.append(s)
        if progress is not None:
            progress("classifying", n, n)
        if not preds:
            return np.zeros(0, dtype=np.int64), np.zeros((0, len(self.classes)))
        return np.concatenate(preds).astype(np.int64), np.concatenate(scores)

    def _golden(self, x: np.ndarray, side: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        from half.hw import golden

        graph = _graph(str(self.folder), _mtime(self.folder / "model.qonnx.onnx"), self.classes)
        outs = golden.run(graph, golden.quantize_input(graph, x),
                          golden.quantize_side(graph, side), trace=True)
        return outs[-1], outs[-2]  # argmax, and the classifier's integer scores before it

    def _torch(self, x: np.ndarray, side: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        import torch

        norm, net = _torch_model(str(self.folder), _mtime(self.folder / "model.pt"))
        s = norm(side)
        with torch.no_grad():
            logits = net(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), s).numpy()
        return logits.argmax(1), logits.astype(np.float64)


def _mtime(path: Path) -> float:
    return path.stat().st_mtime if path.is_file() else 0.0


# Lowering and loading take a second or two: keep them for the process (keyed by the file's
# modification time, so a retrained folder is read again).
@functools.lru_cache(maxsize=8)
def _graph(folder: str, mtime: float, classes: tuple[str, ...]):
    from half.hw.check import graph_of_run

    return graph_of_run(Path(folder), classes)


@functools.lru_cache(maxsize=8)
def _torch_model(folder: str, mtime: float):
    from half.nn.train import load_run

    _, _, norm, net = load_run(Path(folder))
    net.eval()
    return norm, net
