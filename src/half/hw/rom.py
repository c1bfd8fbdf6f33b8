# SPDX-License-Identifier: Apache-2.0
"""The one layout of a stage's Verilog parameters, ROM words and stream beats, from IR layers.

`mvu_stage` (Conv, Dense; their shape as a `Geometry`, which `half.hw.design.geometry` reads off
the layer: a dense layer is a conv of kernel 1 over one position):
Weight ROM: one word per (output-channel group g, chunk c), address g * NCHUNK + c; lane
(p, j) = (PE lane, SIMD lane) at bits [(p*SIMD + j) * W_W +: W_W] holds the weight of output
channel g*PE + p for the flat input index f = c*SIMD + j, tap f // CIN, channel f % CIN
(depthwise, DW = 1: tap f of channel g*PE + p's own kernel) (`weight_lanes`).
Requant ROM, thresholds: one word per (group g, search-tree node h), address g * 2^OUT_W + h;
lane p at [p * ACC_W +: ACC_W] holds node h of channel g*PE + p's tree (`threshold_tree`).
Multiply-shift / affine: one word per group g; lane p holds {shift, add, mul} at [p*RW +: RW]
(mul lowest). `gap_join` (PoolJoin): one requant word per channel (thresholds: all of them).
All values two's complement in their field. `pack` / `unpack`: the same layout for every
stream's tdata (element 0 in the low bits).

The hardware design (`half.hw.design`) gives each stage's parameters and ROM words from here;
`half.rtl` writes them into the project, the cost model counts the live weight bits of this
layout (`cost._weight_bits`). Nothing here asks which kind of IR layer it was given: the
design's stage says (its `geometry`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from half.hw.ir import Conv, Dense, IntType, PoolJoin, Requant


@dataclass(frozen=True)
class Geometry:
    """The shape of an mvu_stage's layer (`half.hw.design.geometry`): a conv's, or a dense
    layer's as a conv of kernel 1 over one position."""

    cin: int  # input channels (dense: inputs)
    cout: int  # output channels (dense: outputs)
    kernel: int = 1
    stride: int = 1
    pad: int = 0
    length_in: int = 1  # positions in (dense: 1)
    length_out: int = 1  # positions out (dense: 1)
    depthwise: bool = False  # one kernel per channel (DW = 1: the vector unit)


def signed_bits(t: IntType) -> int:
    """Bits of `t` as a signed (two's complement) field."""
    return t.bits if t.signed else t.bits + 1


def mvu_params(layer: Conv | Dense, geo: Geometry, pe: int, simd: int, pool: int = 1
               ) -> dict[str, int]:
    """The Verilog parameters of `mvu_stage` for `layer` of shape `geo` folded as (pe, simd),
    with a fused max-pool of `pool` (1: none)."""
    r = layer.requant
    out = dict(CIN=geo.cin, COUT=geo.cout, K=geo.kernel, STRIDE=geo.stride, PAD=geo.pad,
               L_IN=geo.length_in, POOL=pool, PE=pe, SIMD=simd, DW=int(geo.depthwise),
               IN_W=layer.in_type.bits, IN_SIGNED=int(layer.in_type.signed),
               W_W=signed_bits(layer.w_type), ACC_W=signed_bits(layer.acc_type),
               RQ={"thresholds": 0, "mulshift": 1, "affine": 2}[r.kind])
    out.update(OUT_W=out_bits(r), OUT_SIGNED=int(r.kind == "affine" or r.out.signed))
    out.update(_rq_params(r))
    return out


def out_bits(r: Requant) -> int:
    """Bits of a requantized output element: the classifier's affine scores as signed."""
    return signed_bits(r.out) if r.kind == "affine" else r.out.bits


def gap_params(layer: PoolJoin) -> dict[str, int]:
    """The Verilog parameters of `gap_join` for an IR PoolJoin layer."""
    r = layer.requant
    if r.kind == "affine":
        raise ValueError(f"{layer.name}: pooling needs thresholds or multiply-shift")
    return dict(C=layer.channels, L_IN=layer.length_in,
                F=layer.side.features if layer.side else 0, IN_W=layer.in_type.bits,
                IN_SIGNED=int(layer.in_type.signed), ACC_W=signed_bits(layer.acc_type),
                RQ=0 if r.kind == "thresholds" else 1, OUT_W=r.out.bits,
                OUT_SIGNED=int(r.out.signed), **_rq_params(r))


def _rq_params(r: Requant) -> dict[str, int]:
    if r.kind == "thresholds":
        return {}
    shift = r.shift if r.shift is not None else np.zeros_like(r.mul)
    return dict(MUL_W=max(1, int(r.mul.max()).bit_length()),
                ADD_W=signed_bits(IntType.for_range(int(r.add.min()), int(r.add.max()))),
                SH_W=max(1, int(shift.max()).bit_length()))


def mvu_roms(layer: Conv | Dense, geo: Geometry, pe: int, simd: int
             ) -> dict[str, tuple[list[int], int]]:
    """mvu_stage's ROM images by Verilog parameter: (words, word width) of the weights
    (W_FILE) and the requantization (R_FILE)."""
    p = mvu_params(layer, geo, pe, simd)
    return {"W_FILE": weight_words(layer, geo, pe, simd),
            "R_FILE": requant_words(layer.requant, p["COUT"] // pe, pe, p)}


def gap_roms(layer: PoolJoin) -> dict[str, tuple[list[int], int]]:
    """gap_join's ROM image (R_FILE): one requantization word per channel."""
    return {"R_FILE": requant_words(layer.requant, layer.channels, 1, gap_params(layer),
                                    tree=False)}


def weight_lanes(layer: Conv | Dense, geo: Geometry, pe: int, simd: int) -> np.ndarray:
    """The weight ROM as (words, PE * SIMD) integers: row g * NCHUNK + c, column p * SIMD + j
    (the module docstring's layout)."""
    # (cout, cin per group, k): a conv's weights as they are, a dense layer's (fout, fin, 1)
    w = np.asarray(layer.weights, dtype=np.int64).reshape(geo.cout, -1, geo.kernel)
    cout, cin, k = w.shape  # depthwise: cin == 1 (one kernel per channel)
    flat = w.transpose(0, 2, 1).reshape(cout, k * cin)  # [o, f]
    lanes = flat.reshape(cout // pe, pe, k * cin // simd, simd).transpose(0, 2, 1, 3)
    return lanes.reshape(-1, pe * simd)


def weight_words(layer: Conv | Dense, geo: Geometry, pe: int, simd: int
                 ) -> tuple[list[int], int]:
    """The weight ROM's words and their width."""
    w_w = signed_bits(layer.w_type)
    return [pack(row, w_w) for row in weight_lanes(layer, geo, pe, simd)], pe * simd * w_w


def requant_words(r: Requant, ngroup: int, pe: int, params: dict[str, int], tree: bool = True
                  ) -> tuple[list[int], int]:
    """Requant ROM words and their width: multiply-shift / affine one word per group of `pe`
    channels; thresholds one word per (group, search-tree node), see `threshold_tree`, or
    (`tree` False: gap_join's layout) one word per group of all its thresholds."""
    words = []
    if r.kind == "thresholds" and not tree:
        nt = r.thresholds.shape[1]
        for g in range(ngroup):
            words.append(pack([r.thresholds[g * pe + p, t] for p in range(pe)
                               for t in range(nt)], params["ACC_W"]))
        return words, pe * nt * params["ACC_W"]
    if r.kind == "thresholds":
        heap = threshold_tree(r.thresholds)  # (channels, 2^B)
        for g in range(ngroup):
            for h in range(heap.shape[1]):
                words.append(pack([heap[g * pe + p, h] for p in range(pe)], params["ACC_W"]))
        return words, pe * params["ACC_W"]
    mw, aw, sw = params["MUL_W"], params["ADD_W"], params["SH_W"]
    shift = r.shift if r.shift is not None else np.zeros_like(r.mul)
    for g in range(ngroup):
        word = 0
        for p in range(pe):
            ch = g * pe + p
            lane = (int(r.mul[ch]) & ((1 << mw) - 1)) \
                | ((int(r.add[ch]) & ((1 << aw) - 1)) << mw) \
                | ((int(shift[ch]) & ((1 << sw) - 1)) << (mw + aw))
            word |= lane << (p * (mw + aw + sw))
        words.append(word)
    return words, pe * (mw + aw + sw)


def threshold_tree(thresholds: np.ndarray) -> np.ndarray:
    """Each channel's 2^B - 1 thresholds sorted into a binary search tree in heap order: node h
    (root 1; children 2h, 2h + 1) at level l = floor(log2 h) holds the threshold that decides
    whether the output is at least (2 (h - 2^l) + 1) * 2^(B-1-l); node 0 is unused (zero). The
    count of thresholds <= x does not depend on their order, so sorting keeps it."""
    ch, nt = thresholds.shape
    bits = (nt + 1).bit_length() - 1
    if (1 << bits) - 1 != nt:
        raise ValueError(f"{nt} thresholds per channel: a search tree needs 2^B - 1")
    srt = np.sort(thresholds, axis=1)
    tree = np.zeros((ch, 1 << bits), dtype=np.int64)
    for h in range(1, 1 << bits):
        level = h.bit_length() - 1
        tree[:, h] = srt[:, ((2 * (h - (1 << level)) + 1) << (bits - 1 - level)) - 1]
    return tree


def pack(values, width: int) -> int:
    """Integers (two's complement) packed into one word, element 0 in the low bits: the layout
    of ROM words and of every stream's tdata."""
    word, mask = 0, (1 << width) - 1
    for i, v in enumerate(values):
        word |= (int(v) & mask) << (i * width)
    return word


def unpack(word: int, n: int, width: int, signed: bool) -> list[int]:
    """The `n` elements of `width` bits packed in `word` (the inverse of `pack`)."""
    out = []
    for i in range(n):
        v = (word >> (i * width)) & ((1 << width) - 1)
        if signed and v >> (width - 1):
            v -= 1 << width
        out.append(v)
    return out
