# SPDX-License-Identifier: Apache-2.0
"""ONNX exports of a trained model: QONNX (what the hardware layer lowers) and QCDQ, and a check
that the QONNX file loads and executes with the `qonnx` package and matches PyTorch."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from half.nn.model import QuantCNN


def _example(model: QuantCNN) -> tuple:
    x = torch.zeros(1, model.arch.window)
    side = torch.zeros(1, model.arch.side_inputs) if model.arch.side_inputs else None
    return (x,) if side is None else (x, side)


@contextlib.contextmanager
def _quiet():
    """The exporter prints progress lines and warnings that are not the user's business."""
    log = logging.getLogger("torch.onnx")
    level = log.level
    log.setLevel(logging.ERROR)  # opset and torchvision notices of the torch exporter
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        log.setLevel(level)


def export_qonnx(model: QuantCNN, path: Path) -> Path:
    """The QONNX export (Quant nodes; what `half.hw.lower` reads), one self-contained file."""
    from brevitas.export import export_qonnx as _export

    return _export_to(_export, model, path)


def export_qcdq(model: QuantCNN, path: Path) -> Path:
    """The QCDQ export (QuantizeLinear/Clip/DequantizeLinear; runs in onnxruntime): inputs
    `x` (batch x window) and `side` (batch x side features, if the model has them), output
    `scores`, any batch size; weights are constants, not graph inputs (so a runtime may fold
    them)."""
    from brevitas.export import export_onnx_qcdq

    names = ["x", "side"][:len(_example(model))]
    return _export_to(export_onnx_qcdq, model, path, constants=True, input_names=names,
                      output_names=["scores"],
                      dynamic_axes={n: {0: "batch"} for n in [*names, "scores"]})


def _export_to(exporter, model: QuantCNN, path: Path, constants: bool = False,
               **kwargs) -> Path:
    """Export into a temporary folder beside `path`, then save one file with every tensor inline
    (the torch exporter may write weights to a side file named after the temporary path);
    `constants`: initializers are dropped from the graph inputs."""
    import shutil
    import tempfile

    import onnx

    model.eval()
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        with _quiet():
            exporter(model, args=_example(model), export_path=str(tmp_dir / "model.onnx"),
                     **kwargs)
        proto = onnx.load(str(tmp_dir / "model.onnx"))  # pulls in any external data
        if constants:
            inits = {t.name for t in proto.graph.initializer}
            keep = [i for i in proto.graph.input if i.name not in inits]
            del proto.graph.input[:]
            proto.graph.input.extend(keep)
        onnx.save_model(proto, str(tmp_dir / "inline.onnx"), save_as_external_data=False)
        os.replace(tmp_dir / "inline.onnx", path)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return path


def check_qonnx(path: Path, model: QuantCNN, x: np.ndarray, side: np.ndarray | None) -> dict:
    """Execute the QONNX file with qonnx on windows `x` and compare with the PyTorch model."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.util.cleanup import cleanup_model

    mw = cleanup_model(ModelWrapper(str(path)))  # constant folding, as the lowering sees it
    names = [i.name for i in mw.graph.input if mw.get_initializer(i.name) is None]
    k = model.arch.side_inputs
    side = side[:, :k] if k and side is not None else None
    out_name = mw.graph.output[0].name
    onnx_scores = []
    for i in range(len(x)):
        feed = {names[0]: x[i:i + 1].astype(np.float32)}
        if side is not None:
            feed[names[1]] = side[i:i + 1].astype(np.float32)
        onnx_scores.append(execute_onnx(mw, feed)[out_name])
    onnx_scores = np.concatenate(onnx_scores)
    model.eval()
    with torch.no_grad():
        ref = model(torch.from_numpy(x.astype(np.float32)),
                    None if side is None else torch.from_numpy(side.astype(np.float32))).numpy()
    return {"windows": len(x), "max_abs_diff": float(np.abs(onnx_scores - ref).max()),
            "argmax_agreement": float((onnx_scores.argmax(1) == ref.argmax(1)).mean())}
