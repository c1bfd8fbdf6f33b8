# SPDX-License-Identifier: Apache-2.0
"""The integer dataflow IR: the one description of a network that the golden model, the cost
models, the folding optimizer and the RTL generator all read.

A `Graph` is a chain of hardware layers fed by one input stream (the window, 1 channel) and an
optional side stream (e.g. RR features) that joins after global pooling:

    InputQuant -> [Decimate] -> Conv ... (MaxPool) ... -> PoolJoin(+side)
               -> Dense ... -> Dense(scores) -> ArgMax

Every tensor between layers is an integer stream of a declared `IntType`. Each MAC layer holds
integer weights, the accumulator type (the narrowest that cannot overflow, from the actual
weights and the input range) and a `Requant` that maps accumulators to the next integer type.
Floating-point values appear only at the two host boundaries: the input and side scales (how
the sensor's values become integers), documented on `InputQuant` and `SideInput`.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from half.errors import ConfigError


@dataclass(frozen=True)
class IntType:
    bits: int
    signed: bool

    def __post_init__(self) -> None:
        if not 1 <= self.bits <= 64:
            raise ConfigError("IntType.bits", f"must be 1..64, got {self.bits}")

    @property
    def min(self) -> int:
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def max(self) -> int:
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1

    @staticmethod
    def for_range(lo: int, hi: int) -> IntType:
        """The narrowest type holding every integer in [lo, hi]."""
        if lo >= 0:
            return IntType(max(1, int(hi).bit_length()), False)
        bits = max(int(-lo - 1).bit_length(), int(hi).bit_length()) + 1
        return IntType(bits, True)

    def __str__(self) -> str:
        return f"{'int' if self.signed else 'uint'}{self.bits}"

    @staticmethod
    def parse(text: str) -> IntType:
        """The inverse of `str`: "int8" -> IntType(8, True), "uint4" -> IntType(4, False)."""
        signed = not text.startswith("uint")
        digits = text[3:] if signed else text[4:]
        if not (text.startswith(("int", "uint")) and digits.isdigit()):
            raise ConfigError("IntType", f"not an integer type: {text!r}")
        return IntType(int(digits), signed)


@dataclass(frozen=True, eq=False)
class Requant:
    """Accumulator (per channel) -> output integer.

    `thresholds` (C, 2^bits - 1), ascending per row: out = out.min + #{k : acc >= t[c, k]}
    (FINN-style multi-threshold; cheap for narrow outputs).
    `mulshift`: out = clip((acc * mul[c] + add[c]) >> shift[c], out.min, out.max) (one multiplier;
    for wide outputs). `affine` (the classifier): score = acc * mul[c] + add[c], no clip; only the
    argmax of the scores leaves the chip.
    """

    kind: str  # "thresholds" | "mulshift" | "affine"
    out: IntType
    thresholds: np.ndarray | None = None  # (C, 2^bits - 1) int64
    mul: np.ndarray | None = None  # (C,) int64
    add: np.ndarray | None = None  # (C,) int64
    shift: np.ndarray | None = None  # (C,) int64, mulshift only

    def __post_init__(self) -> None:
        if self.kind == "thresholds":
            t = self.thresholds
            if t is None or t.ndim != 2 or t.shape[1] != self.out.max - self.out.min:
                raise ConfigError("Requant.thresholds", f"need (C, {self.out.max - self.out.min})")
            if (np.diff(t, axis=1) < 0).any():
                raise ConfigError("Requant.thresholds", "must ascend along each row")
        elif self.kind in ("mulshift", "affine"):
            if self.mul is None or self.add is None or self.mul.shape != self.add.shape:
                raise ConfigError("Requant.mul", "mul and add must be given, one per channel")
            if self.kind == "mulshift" and (self.shift is None or
                                            self.shift.shape != self.mul.shape):
                raise ConfigError("Requant.shift", "mulshift needs one shift per channel")
        else:
            raise ConfigError("Requant.kind", f"thresholds, mulshift or affine, not {self.kind!r}")

    @property
    def channels(self) -> int:
        return len(self.thresholds) if self.kind == "thresholds" else len(self.mul)


@dataclass(frozen=True)
class InputQuant:
    """Host boundary: q = clip(round_half_even(x / scale), out.min, out.max), after decimation."""

    length: int  # samples per window as the task delivers them (before decimation)
    scale: float
    out: IntType


@dataclass(frozen=True)
class SideInput:
    """Second input stream: side features standardized with (mean, std), then quantized like the
    input with `scale` to `out`. They arrive after the window's pooled features."""

    features: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    scale: float
    out: IntType


@dataclass(frozen=True)
class Decimate:
    factor: int  # keep samples 0, factor, 2*factor, ...
    channels: int
    length_in: int
    dtype: IntType

    @property
    def length_out(self) -> int:
        return -(-self.length_in // self.factor)


@dataclass(frozen=True, eq=False)
class Conv:
    """1D convolution (groups = 1: standard; groups = cin = cout: depthwise), batch-norm, bias,
    ReLU and activation quantization folded into `requant`."""

    name: str
    cin: int
    cout: int
    kernel: int
    stride: int
    pad: int  # zeros on each side
    groups: int
    length_in: int
    weights: np.ndarray  # (cout, cin // groups, kernel) int64
    in_type: IntType
    w_type: IntType
    acc_type: IntType
    requant: Requant

    @property
    def length_out(self) -> int:
        return (self.length_in + 2 * self.pad - self.kernel) // self.stride + 1

    @property
    def out_type(self) -> IntType:
        return self.requant.out

    @property
    def macs(self) -> int:
        return self.length_out * self.cout * (self.cin // self.groups) * self.kernel


@dataclass(frozen=True)
class MaxPool:
    name: str
    channels: int
    length_in: int
    pool: int  # kernel = stride
    dtype: IntType

    @property
    def length_out(self) -> int:
        return self.length_in // self.pool


@dataclass(frozen=True, eq=False)
class PoolJoin:
    """Global average pooling: per channel sum over the length, requantized to the join type
    (`requant`, which divides by the length); then the side stream's integers are appended."""

    name: str
    channels: int
    length_in: int
    in_type: IntType
    acc_type: IntType
    requant: Requant
    side: SideInput | None = None

    @property
    def features(self) -> int:
        return self.channels + (self.side.features if self.side else 0)

    @property
    def out_type(self) -> IntType:
        return self.requant.out


@dataclass(frozen=True, eq=False)
class Dense:
    """Fully-connected layer; hidden ones requantize (ReLU folded), the last emits scores."""

    name: str
    fin: int
    fout: int
    weights: np.ndarray  # (fout, fin) int64
    in_type: IntType
    w_type: IntType
    acc_type: IntType
    requant: Requant

    @property
    def out_type(self) -> IntType:
        return self.requant.out

    @property
    def macs(self) -> int:
        return self.fin * self.fout


@dataclass(frozen=True)
class ArgMax:
    classes: int
    score_type: IntType


Layer = Decimate | Conv | MaxPool | PoolJoin | Dense | ArgMax


@dataclass(frozen=True, eq=False)
class Graph:
    input: InputQuant
    layers: tuple[Layer, ...]
    classes: tuple[str, ...] = ()
    meta: dict = field(default_factory=dict)  # provenance: source file, arch hash, task

    @property
    def side(self) -> SideInput | None:
        joins = [layer for layer in self.layers if isinstance(layer, PoolJoin)]
        return joins[0].side if joins else None

    def mac_layers(self) -> list[Conv | Dense]:
        return [layer for layer in self.layers if isinstance(layer, Conv | Dense)]

    def macs(self) -> int:
        return sum(layer.macs for layer in self.mac_layers())

    def to_dict(self) -> dict:
        """Plain JSON-able description (arrays as nested lists), for `ir.json`."""
        return {"input": _plain(self.input), "classes": list(self.classes), "meta": self.meta,
                "layers": [{"op": type(layer).__name__, **_plain(layer)}
                           for layer in self.layers]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @staticmethod
    def from_dict(d: dict) -> Graph:
        """The inverse of `to_dict` (what `ir.json` holds): the same layers, types, integer
        arrays (int64), side-input standardization, classes and meta. A malformed description
        is a ConfigError naming what is wrong."""
        try:
            layers = []
            for i, x in enumerate(d["layers"]):
                if x.get("op") not in _LAYERS:
                    raise ConfigError(f"ir.layers[{i}]", f"unknown op {x.get('op')!r}")
                layers.append(_build(_LAYERS[x["op"]], x))
            return Graph(_build(InputQuant, d["input"]), tuple(layers),
                         tuple(d.get("classes", ())), dict(d.get("meta", {})))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ConfigError("ir", f"not an IR graph ({type(exc).__name__}: {exc})") from None

    @staticmethod
    def from_json(text: str) -> Graph:
        return Graph.from_dict(json.loads(text))


_LAYERS = {cls.__name__: cls for cls in (Decimate, Conv, MaxPool, PoolJoin, Dense, ArgMax)}


def _build(cls: type, d: dict) -> Any:
    """A dataclass of this module from its `_plain` form, each field converted by its declared
    type (the annotations are strings: `from __future__ import annotations`)."""
    return cls(**{f.name: _typed(f.type, d[f.name]) for f in dataclasses.fields(cls)
                  if f.name in d or f.default is dataclasses.MISSING})


def _typed(kind: str, v: Any) -> Any:
    if v is None:
        return None
    if kind == "IntType":
        return IntType.parse(v)
    if kind.startswith("np.ndarray"):
        return np.asarray(v, dtype=np.int64)
    if kind == "Requant":
        return _build(Requant, v)
    if kind.startswith("SideInput"):
        return _build(SideInput, v)
    if kind.startswith("tuple[float"):
        return tuple(float(x) for x in v)
    if kind == "float":
        return float(v)
    return v


def _plain(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, IntType):
        return str(obj)
    if dataclasses.is_dataclass(obj):
        return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, tuple | list):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.integer | np.floating):
        return obj.item()
    return obj
