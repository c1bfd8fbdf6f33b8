# SPDX-License-Identifier: Apache-2.0
"""Lowering: a QONNX model (Brevitas export) -> the integer IR `Graph`.

The file is cleaned up with the `qonnx` package (ModelWrapper, cleanup: constant folding, shape
inference, unique names); then small handlers, one per op pattern, walk the chain from the
window input and build IR layers:

    Unsqueeze [Slice] Quant                      -> InputQuant [+ Decimate]
    Conv(Quant weights) [BatchNormalization] Relu Quant  -> Conv (batch-norm, bias, ReLU folded)
    MaxPool                                      -> MaxPool
    ReduceMean [Concat(side input)] Quant        -> PoolJoin
    Gemm(Quant weights) Relu Quant               -> Dense (hidden)
    Gemm(Quant weights) -> graph output          -> Dense (class scores) + ArgMax

Anything else is rejected with the node's name and op type.

Requantization rule (documented in docs/ARCHITECTURE.md): every activation quantizer becomes
q = clip(round(A[c] * acc + D[c]), lo, hi) with real A, D from the scales, bias and batch-norm.
Outputs of <= 4 bits use multi-thresholds (2^bits - 1 comparisons, no multiplier); wider ones use
one integer multiply, add and shift (mul < 2^17, which fits every target's DSP multiplier).
A channel with A < 0 (a negative batch-norm gain) has its weights negated so that A > 0.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from half.errors import ConfigError
from half.hw.ir import (
    ArgMax,
    Conv,
    Decimate,
    Dense,
    Graph,
    InputQuant,
    IntType,
    MaxPool,
    PoolJoin,
    Requant,
    SideInput,
)

THRESHOLD_MAX_BITS = 4  # multi-threshold requantization up to this output width
MUL_BITS = 16  # unsigned multiplier of multiply-shift requantization (iCE40 SB_MAC16: 16 x 16)
SCORE_BITS = 15  # fixed-point fraction of the classifier's per-class score scales
_NEVER = 1 << 62


class _Walker:
    def __init__(self, mw) -> None:
        self.mw = mw
        self.consumers: dict[str, list] = {}
        for node in mw.graph.node:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)
        self.outputs = {o.name for o in mw.graph.output}

    def init(self, name: str) -> np.ndarray | None:
        return self.mw.get_initializer(name)

    def next(self, tensor: str):
        nodes = self.consumers.get(tensor, [])
        if len(nodes) > 1:
            raise ConfigError("model", f"tensor {tensor} feeds {len(nodes)} nodes; only chains "
                              "are supported")
        return nodes[0] if nodes else None

    def attr(self, node, name: str, default=None):
        for a in node.attribute:
            if a.name == name:
                from onnx import helper

                v = helper.get_attribute_value(a)
                return v.decode() if isinstance(v, bytes) else v
        return default


def _reject(node, why: str = "unsupported op") -> ConfigError:
    return ConfigError("model", f"node {node.name} ({node.op_type}): {why}")


def _quant_params(w: _Walker, node) -> tuple[np.ndarray, IntType, bool]:
    """(scale, integer type, narrow) of a Quant node; zero point must be 0."""
    if node.op_type != "Quant":
        raise _reject(node, "expected a Quant node here")
    scale, zp, bits = (w.init(n) for n in node.input[1:4])
    if scale is None or zp is None or bits is None:
        raise _reject(node, "scale, zero point and bit width must be constants")
    if np.any(zp != 0):
        raise _reject(node, "non-zero zero points are not supported")
    if w.attr(node, "rounding_mode", "ROUND") != "ROUND":
        raise _reject(node, "only rounding_mode ROUND is supported")
    signed, narrow = bool(w.attr(node, "signed", 1)), bool(w.attr(node, "narrow", 0))
    return scale.astype(np.float64), IntType(int(bits), signed), narrow


def _int_weights(w: _Walker, tensor: str, owner) -> tuple[np.ndarray, np.ndarray]:
    """(integer weights, per-output-channel scale) from a weight Quant node's output."""
    qnode = next((n for n in w.mw.graph.node if tensor in n.output), None)
    raw = w.init(qnode.input[0]) if qnode is not None and qnode.op_type == "Quant" else None
    if raw is None:
        raise _reject(owner, "weights must come from a Quant node on a constant")
    scale, t, narrow = _quant_params(w, qnode)
    lo = t.min + (1 if narrow else 0)
    q = np.clip(np.round(raw / scale), lo, t.max).astype(np.int64)
    per_out = np.broadcast_to(scale.reshape(-1), (raw.shape[0],))  # (1,) or (C,) scales
    return q, per_out.astype(np.float64)


def _acc_range(weights: np.ndarray, t: IntType) -> tuple[int, int]:
    """Exact accumulator bounds of sum(w * x) over x in t, worst output channel."""
    w = weights.reshape(len(weights), -1)
    pos, neg = np.clip(w, 0, None).sum(1), np.clip(w, None, 0).sum(1)
    hi = pos * t.max + neg * t.min
    lo = pos * t.min + neg * t.max
    return int(lo.min()), int(hi.max())


def make_requant(a: np.ndarray, d: np.ndarray, out: IntType, acc: tuple[int, int]) -> Requant:
    """Requant for q = clip(round(a * acc + d), out) with a >= 0 per channel (see module doc).

    Thresholds are exact (ties aside). Multiply-shift uses a per-channel shift so that every
    channel's multiplier has MUL_BITS significant bits: |error| <= (|acc| + 1) * 2^-(shift + 1).
    """
    lo, hi = acc
    if out.bits <= THRESHOLD_MAX_BITS:
        levels = np.arange(out.min + 1, out.max + 1, dtype=np.float64)  # q >= k <=> acc >= t_k
        t = np.empty((len(a), len(levels)), dtype=np.int64)
        for c in range(len(a)):
            if a[c] > 0:
                raw = np.ceil((levels - 0.5 - d[c]) / a[c])
                t[c] = np.clip(raw, lo, hi + 1)  # hi + 1: never reached
            else:  # constant output round(d)
                t[c] = np.where(levels <= np.round(d[c]), lo, hi + 1)
        return Requant("thresholds", out, thresholds=t)
    shift = np.zeros(len(a), dtype=np.int64)
    for c in range(len(a)):
        if a[c] > 0:
            shift[c] = max(0, MUL_BITS - 1 - math.floor(math.log2(a[c])))
    mul = np.round(a * 2.0**shift).astype(np.int64)
    over = mul >= 1 << MUL_BITS  # rounding reached 2^MUL_BITS: one bit less
    shift[over] -= 1
    mul[over] = np.round(a[over] * 2.0 ** shift[over]).astype(np.int64)
    add = np.floor((d + 0.5) * 2.0**shift).astype(np.int64)
    return Requant("mulshift", out, mul=mul, add=add, shift=shift)


def _wtype(weights: np.ndarray) -> IntType:
    return IntType.for_range(int(weights.min()), int(weights.max()))


def _acc_type(acc: tuple[int, int], requant: Requant) -> IntType:
    """Accumulator type; with thresholds it must also hold the never-reached value hi + 1."""
    return IntType.for_range(acc[0], acc[1] + (requant.kind == "thresholds"))


def _fold_sign(weights: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Negate the weights of channels whose scale a < 0, so that every a >= 0."""
    sign = np.where(a < 0, -1, 1)
    return weights * sign.reshape((-1,) + (1,) * (weights.ndim - 1)), np.abs(a)


def _act_out(w: _Walker, relu, what: str) -> tuple[object, float, IntType]:
    """The Quant node after a Relu: (node, scale, type); must be unsigned, not narrow."""
    if relu is None or relu.op_type != "Relu":
        found = "nothing" if relu is None else f"node {relu.name} ({relu.op_type}), unsupported"
        raise ConfigError("model", f"{what} must be followed by Relu and Quant; found {found}")
    q = w.next(relu.output[0])
    if q is None:
        raise _reject(relu, "Relu must be followed by a Quant node")
    scale, t, narrow = _quant_params(w, q)
    if t.signed or narrow or scale.size != 1:
        raise _reject(q, "activations must be unsigned, not narrow, one scale per tensor")
    return q, _scalar(scale), t


def _scalar(scale: np.ndarray) -> float:
    return float(np.asarray(scale).reshape(-1)[0])


def lower(path: str | Path, side_norm: dict | None = None, classes: tuple[str, ...] = (),
          meta: dict | None = None) -> Graph:
    """The IR of the QONNX file at `path`. `side_norm` ({mean, std}) standardizes side inputs.

    Whatever cannot be lowered is a ConfigError naming the file (and the node and its op)."""
    try:
        return _lower(Path(path), side_norm, classes, meta)
    except ConfigError as exc:
        if str(path) in str(exc):
            raise
        raise ConfigError(exc.field, f"{path}: {exc.fault}") from None


def _lower(path: Path, side_norm: dict | None, classes: tuple[str, ...], meta: dict | None
           ) -> Graph:
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.cleanup import cleanup_model

    path = Path(path)
    try:
        mw = cleanup_model(ModelWrapper(str(path)))
    except Exception as exc:  # onnx/qonnx raise many types for a bad file
        raise ConfigError("model", f"{path}: not a loadable ONNX model ({exc})") from None
    w = _Walker(mw)
    inputs = [i.name for i in mw.graph.input if w.init(i.name) is None]
    if not 1 <= len(inputs) <= 2:
        raise ConfigError("model", f"{path}: expected 1 or 2 graph inputs, found {len(inputs)}")
    length = int(mw.get_tensor_shape(inputs[0])[-1])
    node = w.next(inputs[0])
    if node is not None and node.op_type == "Unsqueeze":
        node = w.next(node.output[0])
    decimation = 1
    if node is not None and node.op_type == "Slice":
        steps = w.init(node.input[4]) if len(node.input) > 4 else None
        starts = w.init(node.input[1])
        if steps is None or starts is None or int(starts[0]) != 0:
            raise _reject(node, "only a constant stride-k slice from 0 is supported")
        decimation = int(steps[0])
        node = w.next(node.output[0])
    if node is None:
        raise ConfigError("model", f"{path}: the input is not quantized")
    scale, in_type, narrow = _quant_params(w, node)
    if narrow or scale.size != 1:
        raise _reject(node, "the input quantizer must be per tensor and not narrow")
    inq = InputQuant(length=length, scale=_scalar(scale), out=in_type)
    layers: list = []
    if decimation > 1:
        layers.append(Decimate(decimation, 1, length, in_type))
    cur_t, cur_s, channels, cur_len = in_type, _scalar(scale), 1, -(-length // decimation)
    tensor = node.output[0]
    while True:
        node = w.next(tensor)
        if node is None:
            raise ConfigError("model", f"{path}: the chain ends at {tensor} without class scores")
        op = node.op_type
        if op == "Conv":
            layer, tensor, cur_s = _conv(w, node, cur_t, cur_s, channels, cur_len, len(layers))
            layers.append(layer)
            cur_t, channels, cur_len = layer.out_type, layer.cout, layer.length_out
        elif op == "MaxPool":
            k, s = w.attr(node, "kernel_shape"), w.attr(node, "strides", None)
            pads = w.attr(node, "pads", [0, 0])
            if s is None or list(k) != list(s) or any(pads) or w.attr(node, "ceil_mode", 0):
                raise _reject(node, "max-pool must have kernel = stride, no padding, floor mode")
            layers.append(MaxPool(f"pool{len(layers)}", channels, cur_len, int(k[0]), cur_t))
            cur_len, tensor = cur_len // int(k[0]), node.output[0]
        elif op in ("ReduceMean", "GlobalAveragePool"):
            layer, tensor, cur_s = _pool_join(w, node, cur_t, cur_s, channels, cur_len,
                                              inputs, side_norm)
            layers.append(layer)
            cur_t, channels = layer.out_type, layer.features
        elif op == "Gemm":
            layer, tensor, cur_s = _dense(w, node, cur_t, cur_s, channels, len(layers))
            layers.append(layer)
            cur_t, channels = layer.out_type, layer.fout
            if layer.requant.kind == "affine":
                layers.append(ArgMax(layer.fout, layer.out_type))
                return Graph(inq, tuple(layers), tuple(classes), dict(meta or {}))
        else:
            raise _reject(node)


def _conv(w: _Walker, node, in_t: IntType, in_s: float, cin: int, length: int, idx: int):
    weights, s_w = _int_weights(w, node.input[1], node)
    cout, _, k = weights.shape
    groups = int(w.attr(node, "group", 1))
    if groups != 1 and (groups != cin or cout != cin):
        raise _reject(node, f"groups={groups}: only standard or depthwise convolutions")
    pads, strides = w.attr(node, "pads", [0, 0]), w.attr(node, "strides", [1])
    if pads[0] != pads[1] or any(d != 1 for d in w.attr(node, "dilations", [1])):
        raise _reject(node, "needs symmetric padding and no dilation")
    bias = w.init(node.input[2]) if len(node.input) > 2 else np.zeros(cout)
    a, d = in_s * s_w, np.asarray(bias, dtype=np.float64)
    nxt = w.next(node.output[0])
    if nxt is not None and nxt.op_type == "BatchNormalization":
        g, beta, mean, var = (w.init(n).astype(np.float64) for n in nxt.input[1:5])
        inv = g / np.sqrt(var + float(w.attr(nxt, "epsilon", 1e-5)))
        a, d = a * inv, (d - mean) * inv + beta
        nxt = w.next(nxt.output[0])
    q, s_out, out_t = _act_out(w, nxt, f"node {node.name} (Conv)")
    weights, a = _fold_sign(weights, a / s_out)
    acc = _acc_range(weights, in_t)
    requant = make_requant(a, d / s_out, out_t, acc)
    layer = Conv(f"conv{idx}", cin, cout, k, int(strides[0]), int(pads[0]), groups, length,
                 weights, in_t, _wtype(weights), _acc_type(acc, requant), requant)
    return layer, q.output[0], s_out


def _pool_join(w: _Walker, node, in_t: IntType, in_s: float, channels: int, length: int,
               inputs: list[str], side_norm: dict | None):
    axes = w.init(node.input[1]) if len(node.input) > 1 else w.attr(node, "axes")
    if node.op_type == "ReduceMean" and (axes is None or list(np.atleast_1d(axes)) != [2]):
        raise _reject(node, "only the mean over the length axis is supported")
    nxt, side = w.next(node.output[0]), None
    if nxt is not None and nxt.op_type == "Concat":
        others = [i for i in nxt.input if i != node.output[0]]
        if len(inputs) < 2 or others != [inputs[1]] or nxt.input[0] != node.output[0]:
            raise _reject(nxt, "concat must append the side input after the pooled features")
        side = int(w.mw.get_tensor_shape(inputs[1])[-1])
        nxt = w.next(nxt.output[0])
    if nxt is None:
        raise _reject(node, "global pooling must be followed by a Quant node")
    scale, out_t, narrow = _quant_params(w, nxt)
    if narrow or scale.size != 1:
        raise _reject(nxt, "the join quantizer must be per tensor and not narrow")
    s_join = _scalar(scale)
    acc = (length * in_t.min, length * in_t.max)
    a = np.full(channels, in_s / (length * s_join))
    requant = make_requant(a, np.zeros(channels), out_t, acc)
    side_in = None
    if side is not None:
        norm = side_norm or {"mean": [0.0] * side, "std": [1.0] * side}
        side_in = SideInput(side, tuple(norm["mean"][:side]), tuple(norm["std"][:side]), s_join,
                            out_t)
    layer = PoolJoin(f"gap{channels}", channels, length, in_t, _acc_type(acc, requant), requant,
                     side_in)
    return layer, nxt.output[0], s_join


def _dense(w: _Walker, node, in_t: IntType, in_s: float, fin: int, idx: int):
    if w.attr(node, "transB", 0) != 1 or w.attr(node, "transA", 0) != 0:
        raise _reject(node, "expected transB=1, transA=0")
    weights, s_w = _int_weights(w, node.input[1], node)
    fout = weights.shape[0]
    bias = w.init(node.input[2]) if len(node.input) > 2 else np.zeros(fout)
    bias = np.asarray(bias, dtype=np.float64)
    nxt = w.next(node.output[0])
    if node.output[0] in w.outputs and nxt is None:  # class scores: only their argmax leaves
        acc = _acc_range(weights, in_t)
        ref = float(s_w.max())
        mul = np.round(s_w / ref * 2.0**SCORE_BITS).astype(np.int64)
        add = np.round(bias / (in_s * ref) * 2.0**SCORE_BITS).astype(np.int64)
        lo = min(acc[0] * int(mul.max()), acc[0] * int(mul.min())) + int(add.min())
        hi = acc[1] * int(mul.max()) + int(add.max())
        requant = Requant("affine", IntType.for_range(lo, hi), mul=mul, add=add)
        return (Dense(f"dense{idx}", fin, fout, weights, in_t, _wtype(weights),
                      IntType.for_range(*acc), requant), node.output[0], 1.0)
    q, s_out, out_t = _act_out(w, nxt, f"node {node.name} (Gemm)")
    weights, a = _fold_sign(weights, in_s * s_w / s_out)
    acc = _acc_range(weights, in_t)
    requant = make_requant(a, bias / s_out, out_t, acc)
    layer = Dense(f"dense{idx}", fin, fout, weights, in_t, _wtype(weights),
                  _acc_type(acc, requant), requant)
    return layer, q.output[0], s_out
