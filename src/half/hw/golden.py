# SPDX-License-Identifier: Apache-2.0
"""The golden model: bit-exact numpy int64 execution of an IR `Graph`.

This is the reference the RTL simulation must equal exactly (per layer and end to end), and the
model whose agreement with the PyTorch QAT network `half golden` measures. Tensors are
(windows, channels, length) int64; every layer output is checked to lie in its declared type.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from half.hw.ir import (
    ArgMax,
    Conv,
    Decimate,
    Dense,
    Graph,
    IntType,
    Layer,
    MaxPool,
    PoolJoin,
    Requant,
)


def quantize_input(graph: Graph, x: np.ndarray) -> np.ndarray:
    """Host side: float windows (n, length) -> int64 samples (the sensor's integers)."""
    q = graph.input
    return _quantize(np.asarray(x, dtype=np.float32), q.scale, q.out)


def quantize_side(graph: Graph, side: np.ndarray | None) -> np.ndarray | None:
    """Host side: raw side features (n, >= features) -> standardized, quantized int64."""
    s = graph.side
    if s is None:
        return None
    if side is None:
        raise ValueError("this graph takes side inputs")
    z = (side[:, : s.features] - np.array(s.mean)) / np.array(s.std)
    return _quantize(z.astype(np.float32), s.scale, s.out)


def _quantize(v: np.ndarray, scale: float, t: IntType) -> np.ndarray:
    # float32 division and round-half-to-even, as the QAT model's quantizer computes it
    return np.clip(np.round(v / np.float32(scale)), t.min, t.max).astype(np.int64)


def requantize(r: Requant, acc: np.ndarray) -> np.ndarray:
    """Apply `r` to accumulators whose axis 1 is the channel axis."""
    shape = (1, -1) + (1,) * (acc.ndim - 2)
    if r.kind == "thresholds":
        out = np.empty_like(acc)
        for c in range(r.channels):
            out[:, c] = np.searchsorted(r.thresholds[c], acc[:, c], side="right")
        return out + r.out.min
    y = acc * r.mul.reshape(shape) + r.add.reshape(shape)
    if r.kind == "affine":
        return y
    return np.clip(y >> r.shift.reshape(shape), r.out.min, r.out.max)


def conv(layer: Conv, x: np.ndarray) -> np.ndarray:
    """Integer accumulators (n, cout, length_out) of a 1D convolution."""
    xp = np.pad(x, ((0, 0), (0, 0), (layer.pad, layer.pad)))
    win = sliding_window_view(xp, layer.kernel, axis=2)[:, :, :: layer.stride]  # (n,cin,L,k)
    win = win[:, :, : layer.length_out]
    # float64 BLAS is exact here: every partial sum is an integer below 2^53 (acc_type <= 52 bits)
    exact = layer.acc_type.bits <= 52
    dtype = np.float64 if exact else np.int64
    w = layer.weights.astype(dtype)
    if layer.groups == 1:  # (n, cin, L, k) x (cout, cin, k)
        acc = np.tensordot(win.astype(dtype), w, axes=([1, 3], [1, 2])).transpose(0, 2, 1)
    else:  # depthwise: cin == cout == groups, one kernel per channel
        acc = np.einsum("nclk,ck->ncl", win.astype(dtype), w[:, 0, :], optimize=True)
    return np.rint(acc).astype(np.int64) if exact else acc


def step(layer: Layer, x: np.ndarray, side: np.ndarray | None) -> np.ndarray:
    """One layer: int64 in -> int64 out (the accumulator step included)."""
    if isinstance(layer, Decimate):
        return x[:, :, :: layer.factor]
    if isinstance(layer, Conv):
        return requantize(layer.requant, conv(layer, x))
    if isinstance(layer, MaxPool):
        n, c, _ = x.shape
        lo = layer.length_out
        return x[:, :, : lo * layer.pool].reshape(n, c, lo, layer.pool).max(axis=3)
    if isinstance(layer, PoolJoin):
        pooled = requantize(layer.requant, x.sum(axis=2))
        return pooled if layer.side is None else np.concatenate([pooled, side], axis=1)
    if isinstance(layer, Dense):
        if layer.acc_type.bits <= 52:  # exact in float64, as for conv
            acc = np.rint(x.astype(np.float64) @ layer.weights.T.astype(np.float64))
            return requantize(layer.requant, acc.astype(np.int64))
        return requantize(layer.requant, x @ layer.weights.T)
    if isinstance(layer, ArgMax):
        return x.argmax(axis=1)
    raise TypeError(f"no golden execution for {type(layer).__name__}")


def run(graph: Graph, xq: np.ndarray, sq: np.ndarray | None = None, *,
        trace: bool = False, batch: int = 4096) -> np.ndarray | list[np.ndarray]:
    """Execute on integer windows `xq` (n, length) [and side integers `sq`]: the class index of
    every window, or with `trace` every layer's output (for per-layer comparisons)."""
    if xq.ndim != 2 or xq.shape[1] != graph.input.length:
        raise ValueError(f"windows must be (n, {graph.input.length}), got {xq.shape}")
    if graph.side is not None and (sq is None or sq.shape[1] != graph.side.features):
        raise ValueError(f"this graph takes {graph.side.features} side inputs per window")
    outs: list[list[np.ndarray]] = [[] for _ in graph.layers]
    for i in range(0, len(xq), batch):
        x = np.asarray(xq[i:i + batch], dtype=np.int64)[:, None, :]
        s = None if sq is None else np.asarray(sq[i:i + batch], dtype=np.int64)
        for j, layer in enumerate(graph.layers):
            x = step(layer, x, s)
            _check_range(layer, x)
            if trace or j == len(graph.layers) - 1:
                outs[j].append(x)
    if not trace:
        return np.concatenate(outs[-1]) if outs[-1] else np.zeros(0, dtype=np.int64)
    return [np.concatenate(o) for o in outs]


def _check_range(layer: Layer, x: np.ndarray) -> None:
    t = getattr(layer, "out_type", None) or getattr(layer, "dtype", None)  # Dense: requant.out
    if t is not None and x.size and (x.min() < t.min or x.max() > t.max):
        name = getattr(layer, "name", type(layer).__name__)
        raise OverflowError(f"{name}: values [{x.min()}, {x.max()}] outside {t}")
