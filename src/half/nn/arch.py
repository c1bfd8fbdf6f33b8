# SPDX-License-Identifier: Apache-2.0
"""The model space: a typed, serializable description of a streaming-friendly quantized 1D CNN.

Everything the search varies about a network is a field here, and everything expressible here
maps onto the hardware module library (one streaming engine per layer):

    input (window, decimation, input_bits)
      -> blocks: conv | depthwise-separable conv, [batch-norm], quantized ReLU, [max-pool]
      -> head: global average pool | flatten, [concat side inputs] -> dense layers -> classifier

`Arch.validate()` rejects an invalid description with a ConfigError naming the field.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from half.errors import ConfigError

KINDS = ("conv", "dwsep")
PADDINGS = ("same", "valid")
HEADS = ("gap", "flatten")
MIN_BITS, MAX_BITS = 2, 8


@dataclass(frozen=True)
class ConvBlock:
    channels: int  # output channels
    kernel: int = 5  # taps (the depthwise kernel for kind="dwsep")
    stride: int = 1  # convolution stride
    kind: str = "conv"  # "conv", or "dwsep" = depthwise (kernel) then pointwise (1 tap)
    padding: str = "same"  # "same": zero-pad so length becomes ceil(L/stride); "valid": none
    pool: int = 1  # max-pool with kernel = stride = pool after the activation; 1 = none
    batchnorm: bool = True  # folded into the requantization by the hardware layer
    weight_bits: int = 4  # 2..8, signed integer weights
    act_bits: int = 4  # 2..8, unsigned ReLU output


@dataclass(frozen=True)
class DenseLayer:
    units: int  # outputs of this hidden fully-connected layer
    weight_bits: int = 4  # 2..8
    act_bits: int = 4  # 2..8


@dataclass(frozen=True)
class Limits:
    """Caps a description must respect (the search tightens them per device)."""

    max_params: int = 200_000
    max_macs: int = 20_000_000


@dataclass(frozen=True)
class Arch:
    window: int  # input samples per window, as the task delivers them
    n_classes: int  # class scores out (the hardware emits their argmax)
    blocks: tuple[ConvBlock, ...]
    dense: tuple[DenseLayer, ...] = ()  # hidden fully-connected layers before the classifier
    decimation: int = 1  # keep every k-th input sample: fewer samples, less compute
    input_bits: int = 8  # signed input quantization
    head: str = "gap"  # "gap" (global average pooling) or "flatten"
    side_inputs: int = 0  # side features (e.g. RR intervals) joined after pooling; 0 = none
    side_bits: int = 8  # their quantization (the hardware gets them as a second stream)
    out_bits: int = 8  # classifier weight bits
    per_channel: bool = False  # per-output-channel weight scales (else one per tensor)
    name: str = field(default="", compare=False)  # free label, not part of the hash

    # -- shapes and size -------------------------------------------------------------------
    def shapes(self) -> list[tuple[int, int]]:
        """(channels, length) after the input decimation and after each block."""
        length = math.ceil(self.window / self.decimation)
        out = [(1, length)]
        for b in self.blocks:
            if b.padding == "same":
                length = math.ceil(length / b.stride)
            else:
                length = (length - b.kernel) // b.stride + 1 if length >= b.kernel else 0
            length //= b.pool
            out.append((b.channels, length))
        return out

    def head_features(self) -> int:
        c, length = self.shapes()[-1]
        return (c if self.head == "gap" else c * length) + self.side_inputs

    def layer_sizes(self) -> list[dict]:
        """Per layer: name, weights, biases and multiply-accumulates per inference."""
        rows = []
        shapes = self.shapes()
        for i, b in enumerate(self.blocks):
            cin, (cout, _) = shapes[i][0], shapes[i + 1]
            lout = _conv_len(shapes[i][1], b)
            if b.kind == "conv":
                rows.append(dict(name=f"blocks[{i}]", weights=cin * cout * b.kernel, biases=cout,
                                 macs=lout * cout * cin * b.kernel))
            else:
                rows.append(dict(name=f"blocks[{i}].dw", weights=cin * b.kernel, biases=cin,
                                 macs=lout * cin * b.kernel))
                rows.append(dict(name=f"blocks[{i}].pw", weights=cin * cout, biases=cout,
                                 macs=lout * cin * cout))
        fin = self.head_features()
        for j, d in enumerate(self.dense):
            rows.append(dict(name=f"dense[{j}]", weights=fin * d.units, biases=d.units,
                             macs=fin * d.units))
            fin = d.units
        rows.append(dict(name="classifier", weights=fin * self.n_classes, biases=self.n_classes,
                         macs=fin * self.n_classes))
        return rows

    def params(self) -> int:
        return sum(r["weights"] + r["biases"] for r in self.layer_sizes())

    def macs(self) -> int:
        return sum(r["macs"] for r in self.layer_sizes())

    def max_weight_bits(self) -> int:
        return max([b.weight_bits for b in self.blocks] + [d.weight_bits for d in self.dense]
                   + [self.out_bits])

    # -- validity --------------------------------------------------------------------------
    def validate(self, limits: Limits | None = None) -> Arch:
        """Return self if valid; else raise ConfigError naming the offending field."""
        limits = limits or Limits()
        _positive("window", self.window)
        _positive("decimation", self.decimation)
        if self.n_classes < 2:
            raise ConfigError("n_classes", f"needs at least 2 classes, got {self.n_classes}")
        _bits("input_bits", self.input_bits)
        _bits("out_bits", self.out_bits)
        _choice("head", self.head, HEADS)
        if self.side_inputs < 0:
            raise ConfigError("side_inputs", f"must be >= 0, got {self.side_inputs}")
        if self.side_inputs:
            _bits("side_bits", self.side_bits)
        if not self.blocks:
            raise ConfigError("blocks", "needs at least one conv block")
        length = math.ceil(self.window / self.decimation)
        for i, b in enumerate(self.blocks):
            f = f"blocks[{i}]"
            for name in ("channels", "kernel", "stride", "pool"):
                _positive(f"{f}.{name}", getattr(b, name))
            _choice(f"{f}.kind", b.kind, KINDS)
            _choice(f"{f}.padding", b.padding, PADDINGS)
            _bits(f"{f}.weight_bits", b.weight_bits)
            _bits(f"{f}.act_bits", b.act_bits)
            if b.padding == "same" and b.kernel % 2 == 0:
                raise ConfigError(f"{f}.kernel", f"padding=same needs an odd kernel, got "
                                  f"{b.kernel}")
            if b.padding == "valid" and length < b.kernel:
                raise ConfigError(f"{f}.kernel", f"{b.kernel} taps exceed the input length "
                                  f"{length} (padding=valid)")
            length = self.shapes()[i + 1][1]
            if length < 1:
                raise ConfigError(f"{f}.pool", "the sequence length drops to 0")
        for j, d in enumerate(self.dense):
            _positive(f"dense[{j}].units", d.units)
            _bits(f"dense[{j}].weight_bits", d.weight_bits)
            _bits(f"dense[{j}].act_bits", d.act_bits)
        if self.params() > limits.max_params:
            raise ConfigError("arch", f"{self.params()} parameters exceed the cap "
                              f"{limits.max_params}")
        if self.macs() > limits.max_macs:
            raise ConfigError("arch", f"{self.macs()} MACs per inference exceed the cap "
                              f"{limits.max_macs}")
        return self

    # -- serialization ---------------------------------------------------------------------
    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, d: dict) -> Arch:
        d = dict(_fields(cls, d, "arch"))
        d["blocks"] = tuple(ConvBlock(**_fields(ConvBlock, b, f"blocks[{i}]"))
                            for i, b in enumerate(d.get("blocks", ())))
        d["dense"] = tuple(DenseLayer(**_fields(DenseLayer, b, f"dense[{i}]"))
                           for i, b in enumerate(d.get("dense", ())))
        try:
            return cls(**d).validate()
        except TypeError as exc:
            raise ConfigError("arch", str(exc)) from None

    def arch_hash(self) -> str:
        """Stable 16-hex-digit hash of everything that defines the network (not `name`)."""
        d = self.to_dict()
        d.pop("name")
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def _conv_len(length: int, b: ConvBlock) -> int:
    if b.padding == "same":
        return math.ceil(length / b.stride)
    return (length - b.kernel) // b.stride + 1


def _positive(name: str, v: int) -> None:
    if not isinstance(v, int) or v < 1:
        raise ConfigError(name, f"must be a positive integer, got {v!r}")


def _bits(name: str, v: int) -> None:
    if not isinstance(v, int) or not MIN_BITS <= v <= MAX_BITS:
        raise ConfigError(name, f"must be {MIN_BITS}..{MAX_BITS} bits, got {v!r}")


def _choice(name: str, v: str, options: tuple[str, ...]) -> None:
    if v not in options:
        raise ConfigError(name, f"must be one of {', '.join(options)}, got {v!r}")


def _fields(cls: type, d: Any, where: str) -> dict:
    if not isinstance(d, dict):
        raise ConfigError(where, f"expected a mapping, got {type(d).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    for key in d:
        if key not in known:
            names = ", ".join(sorted(known))
            raise ConfigError(f"{where}.{key}", f"unknown field (known: {names})")
    return d


def load_arch(path: str | Path) -> Arch:
    """Read an architecture from a .json or .yaml/.yml file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("arch", f"{path}: no such file")
    text = path.read_text()
    import yaml

    try:
        d = yaml.safe_load(text) if path.suffix in (".yaml", ".yml") else json.loads(text)
    except (ValueError, yaml.YAMLError) as exc:
        brief = " ".join(str(exc).split())
        raise ConfigError("arch", f"{path}: not valid {path.suffix[1:]} ({brief})") from None
    try:
        return Arch.from_dict(d)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc.field}", exc.fault) from None


def dump_yaml(arch: Arch) -> str:
    import yaml

    return yaml.safe_dump(arch.to_dict(), sort_keys=False)
