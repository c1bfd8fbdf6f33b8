# SPDX-License-Identifier: Apache-2.0
"""Build a Brevitas quantization-aware model from an `Arch`.

Integer weights (signed, per-tensor or per-channel scales), unsigned quantized ReLU activations,
a signed 8-bit (by default) quantized input, and a quantized side-input branch joined after
pooling. Global average pooling is a plain mean over the (fixed) length followed by a requant,
so the export holds no AdaptiveAvgPool with non-dividing sizes.
"""

from __future__ import annotations

import torch
from brevitas import nn as qnn
from brevitas.quant import (
    Int8ActPerTensorFloat,
    Int8WeightPerChannelFloat,
    Int8WeightPerTensorFloat,
    Uint8ActPerTensorFloat,
)
from torch import nn

from half.nn.arch import Arch, ConvBlock


def _wq(arch: Arch):
    return Int8WeightPerChannelFloat if arch.per_channel else Int8WeightPerTensorFloat


def _qconv(arch: Arch, cin: int, cout: int, k: int, stride: int, groups: int, bits: int,
           padding: int, quant: bool = True) -> nn.Module:
    if not quant:
        return nn.Conv1d(cin, cout, k, stride=stride, padding=padding, groups=groups)
    return qnn.QuantConv1d(cin, cout, k, stride=stride, padding=padding, groups=groups,
                           bias=True, weight_quant=_wq(arch), weight_bit_width=bits,
                           return_quant_tensor=False)


def _qrelu(bits: int, quant: bool) -> nn.Module:
    return qnn.QuantReLU(act_quant=Uint8ActPerTensorFloat, bit_width=bits) if quant else nn.ReLU()


def _qid(act_quant, bits: int, quant: bool) -> nn.Module:
    return qnn.QuantIdentity(act_quant=act_quant, bit_width=bits) if quant else nn.Identity()


def _qlinear(arch: Arch, fin: int, fout: int, bits: int, quant: bool) -> nn.Module:
    if not quant:
        return nn.Linear(fin, fout)
    return qnn.QuantLinear(fin, fout, bias=True, weight_quant=_wq(arch), weight_bit_width=bits)


class Block(nn.Module):
    """conv | depthwise+pointwise -> [batch-norm] -> quantized ReLU -> [max-pool]."""

    def __init__(self, arch: Arch, cin: int, b: ConvBlock, quant: bool = True) -> None:
        super().__init__()
        pad = b.kernel // 2 if b.padding == "same" else 0
        wb, q = b.weight_bits, quant
        layers: list[nn.Module] = []
        if b.kind == "conv":
            layers.append(_qconv(arch, cin, b.channels, b.kernel, b.stride, 1, wb, pad, q))
        else:
            layers.append(_qconv(arch, cin, cin, b.kernel, b.stride, cin, wb, pad, q))
            if b.batchnorm:
                layers.append(nn.BatchNorm1d(cin))
            layers.append(_qrelu(b.act_bits, q))
            layers.append(_qconv(arch, cin, b.channels, 1, 1, 1, wb, 0, q))
        if b.batchnorm:
            layers.append(nn.BatchNorm1d(b.channels))
        layers.append(_qrelu(b.act_bits, q))
        if b.pool > 1:
            layers.append(nn.MaxPool1d(b.pool, b.pool))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class QuantCNN(nn.Module):
    """The network an `Arch` describes; forward(x (n, window), side (n, k) | None) -> scores.

    `quant=False` builds the float twin (same topology and parameter names for conv, linear and
    batch-norm layers; plain ReLU): for float pre-training and float-vs-QAT speed comparisons.
    """

    def __init__(self, arch: Arch, quant: bool = True) -> None:
        super().__init__()
        self.arch = arch
        self.input_quant = _qid(Int8ActPerTensorFloat, arch.input_bits, quant)
        blocks, cin = [], 1
        for b in arch.blocks:
            blocks.append(Block(arch, cin, b, quant))
            cin = b.channels
        self.blocks = nn.Sequential(*blocks)
        # One quantizer for the joined feature vector, so the dense layers see one integer type:
        # pooled features are requantized to it on chip, side inputs arrive already in it.
        if arch.side_inputs:
            self.join_quant = _qid(Int8ActPerTensorFloat, arch.side_bits, quant)
        else:
            self.join_quant = _qid(Uint8ActPerTensorFloat, arch.blocks[-1].act_bits, quant)
        dense: list[nn.Module] = []
        fin = arch.head_features()
        for d in arch.dense:
            dense += [_qlinear(arch, fin, d.units, d.weight_bits, quant),
                      _qrelu(d.act_bits, quant)]
            fin = d.units
        dense.append(_qlinear(arch, fin, arch.n_classes, arch.out_bits, quant))
        self.head = nn.Sequential(*dense)

    def forward(self, x: torch.Tensor, side: torch.Tensor | None = None) -> torch.Tensor:
        a = self.arch
        x = x[:, None, :: a.decimation]  # (n, 1, ceil(window / decimation))
        x = self.blocks(self.input_quant(x))  # (n, C, L)
        x = x.mean(dim=2) if a.head == "gap" else x.flatten(1)  # (n, C) or (n, C*L)
        if a.side_inputs:
            if side is None:
                raise ValueError("this architecture takes side inputs")
            x = torch.cat([x, side[:, : a.side_inputs]], dim=1)  # (n, features)
        return self.head(self.join_quant(x))  # (n, n_classes) class scores
