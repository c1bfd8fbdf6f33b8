# SPDX-License-Identifier: Apache-2.0
"""The hardware design: the IR bound to stages of the module library, one pass (`bind`).

`bind(graph, folding, device) -> Design` is the one place that decides which stage of
rtl/lib implements which IR layers, what fuses into what, each stage's timing, Verilog
parameters and ROM images, and where its arithmetic and memories go on the device. Everything
below reads the Design: the cost model (`half.hw.cost.estimate` sums its stages), the generator
(`half.rtl` renders the top, the ROM images and design.json from it: `Design.to_dict`) and the
flow (design.json; `Design.from_dict` with the project's ir.json).

A Design is a chain of typed stages, each with the IR layers it implements (`layers`, indices
into graph.layers: its fusions), its timing, its Verilog module and parameters (`half.hw.rom`'s
layout), its output stream and, for MAC and pooling stages, its `Binding`:

* `InputStage` (kind `input`): the window's samples, N per beat (`Folding.samples_per_beat`,
  1 by default), one beat per cycle through the top's framing check; a decimation is fused
  (dropped on write; RTL: `axis_decimate`, instance `decimate`). cycles = length / N. N > 1
  needs a decimation: N divides its factor and the window, so that the first conv still takes
  at most one time step a cycle (lane 0 of every (factor / N)-th beat).
* `MVUStage` (`mvu`; `op` conv or dense): `mvu_stage`, PE output channels x SIMD inputs in
  parallel (SIMD divides cin, or is a multiple of cin spanning whole taps); standard and
  pointwise conv: cycles = L_out * (K * cin / SIMD) * (cout / PE); depthwise (PE channels, SIMD
  taps): cycles = L_out * (C / PE) * (K / SIMD); dense: cycles = (fin / SIMD) * (fout / PE). A
  following max-pool is fused into its output writer (`pool`), the classifier's argmax too
  (`classes`). With `psums` P >= 1 (`Folding.psums`, P divides SIMD) each PE's SIMD products
  are summed in P groups into registers that the next cycle adds into the accumulator (RTL
  parameter PSUMS): one cycle more of depth, the same cycles.
* `GapJoinStage` (`gap`): `gap_join`, global average pool + join: one channel vector per cycle;
  on the last, the sums go to a snapshot requantized one channel per cycle (one multiplier),
  side features appended: cycles = max(L_in, C + d), output C + d cycles after the last input
  (d = `gap_depth`: 3, or 4 with multiply-shift).
* `ArgMaxStage` (`argmax`): `argmax`, only where no dense stage precedes it.

This module and the IR's own (ir, lower, golden) are the only ones that tell IR layer classes
apart: what comes after asks the stages (`MVUStage.op`, `.geometry`: `geometry(layer)`, the MAC
layer's shape that the ROM layout and the cost model read, `.depthwise`).

Every stage has a double-buffered input, so stages run concurrently on consecutive windows and
each stage's timing is independent of its neighbours: a stage starts a window as soon as its
input bank is full, so the initiation interval is II = max cycles_i; its last output beat leaves
`depth` cycles after its last MAC step (`mvu_depth`; earlier by the steps of positions a fused
max-pool drops: `tail`): latency = sum over stages of (cycles_i - tail_i + depth_i). Measured
on rtl/lib by tests/rtl/ and on every build by `half verify`.

Input beats (`Folding.samples_per_beat`, N >= 1, `Design.samples_per_beat`): the top's input
takes N samples per beat (`BEAT`), so the input stage takes window / N cycles and a design whose
MAC stages keep up runs at II = window / N: the lever where one pipeline is bound by its input.

Replicas (`Folding.replicas`, R >= 1, `Design.replicas`): the top holds R copies of the chain,
each on its own input and output lane (`LANES`), sharing nothing; `stages` describe one copy
(its binding against 1/R of the device's DSPs and BRAMs). II and latency are a lane's, R
windows per II in all.

Binding (`bind` with a device; without one every binding is None: left to synthesis, the RTL's
defaults). What synthesis places whatever the budget is reserved first: requantization
multipliers are always `*` (DSPs where the device has them), conv window buffers (one copy per
time step read in a cycle) always in block RAM. Then, stage by stage in chain order, against
the device's DSPs and BRAMs left: the weight ROM in block RAM from W_BRAM_MIN_BITS (more than
one word) while blocks are left, else in logic; the MAC products in DSP blocks where synthesis
maps them (both operands >= DSP_MIN_PRODUCT_BITS, the result >= DSP_MIN_RESULT_BITS) and
enough are left, else shift-and-add in logic (never for one word, constant weights); a dense
stage's two input words in block RAM while blocks are left, else registers. The RTL follows
(`MAC_DSP`, `W_BRAM`, `BUF_BRAM`), so model and synthesis agree on DSPs and BRAMs.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import ClassVar

from half.errors import ConfigError
from half.hw import rom
from half.hw.devices import Device
from half.hw.ir import ArgMax, Conv, Decimate, Dense, Graph, MaxPool, PoolJoin, Requant
from half.hw.lower import MUL_BITS

TOP = "half_top"  # the generated top level's module name
# side beats the top buffers ahead of the join by default (0: none, as before the parameter;
# each entry costs side_width flip-flops or RAM bits); the top's SIDE_LAG overrides it
SIDE_LAG = 0
# pooled vectors the join queues while their side beats are missing, by default (0: none, as
# before the parameter; N >= 1 costs (N + 1) x C x OUT_W flip-flops or RAM bits: the entries
# and the queue's read register); the top's SIDE_TRAIL overrides it
SIDE_TRAIL = 0

# the stream contract of every generated top, written into design.json and the README
CONTRACT = {
    "input": "s_axis: one signed sample per beat; every window of `window` samples ends with "
             "tlast on its last sample. A short window (tlast early) is padded with zeros, a "
             "long one (no tlast on its last sample) is cut there and its further beats are "
             "dropped up to its tlast: either way one class comes out for it (meaningless), "
             "err_framing is set, and the next window is framed correctly again.",
    "side": "side_axis (models with side features): one beat per window, in window order, no "
            "tlast (every beat is one window's features). The join holds one side beat and a "
            "FIFO in front of it SIDE_LAG more (parameter of half_top, 0 or >= 2; default "
            "`side_lag`): a side beat may lead its window by up to SIDE_LAG + 1 windows (the "
            "side beats of windows w .. w + SIDE_LAG + 1 are all taken before any sample of "
            "window w). The join also queues SIDE_TRAIL pooled vectors whose side beats are "
            "missing (parameter of half_top, >= 0; default `side_trail`): a side beat may "
            "trail its window by up to SIDE_TRAIL + 2 windows (the samples of windows w + 1 .. "
            "w + SIDE_TRAIL + 2 are all taken while the side beat of window w is missing; "
            "more on deeper pipelines). A single-threaded driver that goes beyond either bound "
            "may deadlock.",
    "output": "m_axis: one class index per input window, in order; tlast on every beat (a "
              "window's class is a one-beat packet).",
    "status": "err_framing: high from the cycle after a short or long window is detected "
              "until reset.",
    "reset": "rst: synchronous, active high, at least one clock cycle. It clears every valid "
             "flag, counter and FIFO and err_framing, discards the windows in flight (their "
             "classes never come out) and does not touch the ROMs. Drive s_axis_tvalid and "
             "side_axis_tvalid low during reset: beats taken then are discarded. After reset "
             "the next input beat is the first sample of a window and the next side beat "
             "belongs to that window.",
}

# the input beat of a top that takes N > 1 samples per beat (design.json's contract, in place of
# CONTRACT's one sample per beat)
BEAT = ("samples_per_beat N > 1 (in place of `input`'s one sample per beat; framing as there, "
        "in beats): s_axis carries N consecutive signed samples per beat, sample j "
        "of the beat in bits [j*W +: W] (W: in_width; the earliest sample in the lowest bits); "
        "a window is window / N beats, tlast on its last beat. Framing counts beats: a short or "
        "long window is padded or cut in whole beats.")


def beat_width(design: dict) -> int:
    """Bits of an input beat of a design.json (`Design.to_dict`): its samples per beat x the
    sample width."""
    return design["in_width"] * design.get("samples_per_beat", 1)


# the lanes of a top with several replicas (design.json's contract, with CONTRACT's streams per
# lane)
LANES = ("replicas R > 1: R lanes, each a whole stream interface of the contract above with a "
         "handshake of its own: lane r is bits [r*W +: W] of each tdata port (W: that stream's "
         "width) and bit r of each tvalid, tready, tlast and of err_framing. Lane r's pipeline "
         "classifies the windows sent on lane r, in order; the lanes share nothing but clk and "
         "rst, so each may be driven, stalled or left idle independently.")

# Cycles from a stage's last input beat to its last output beat beyond its MAC steps (measured
# on rtl/lib by tests/rtl/). "mvu": mvu_stage with multiply-shift or affine requantization;
# thresholds take one cycle per output bit in place of its one (`mvu_depth`). "gap": see
# `gap_depth`. "argmax": per class (one comparison a cycle, then the output register).
DEPTH = {"argmax": 1, "mvu": 6, "gap": 3}
W_BRAM_MIN_BITS = 1024  # weight ROMs from this size go to block RAM while blocks are left
DSP_MIN_PRODUCT_BITS = 5  # MAC products with both operands >= this use DSPs while left
# Yosys maps a product to a DSP only from this many result bits (synth_ice40: DSP_Y_MINWIDTH=11;
# the other flows map any product of 2 x 2 bits or more)
DSP_MIN_RESULT_BITS = {"ice40up": 11}


@dataclass(frozen=True)
class Folding:
    """Per MAC stage (by layer name): (PE, SIMD) and its partial sums (`psums`); the clock; and
    the replicas: identical pipelines that share nothing (each its own ROMs, buffers, DSPs and
    block RAMs) and take independent windows on their own input lanes."""

    pe_simd: dict[str, tuple[int, int]]
    clock_mhz: float
    replicas: int = 1  # R pipelines side by side: R x throughput and resources, same latency
    # per MAC stage (by layer name) P >= 1 dividing its SIMD: the SIMD products summed in P
    # groups into registers before the accumulator (a shorter MAC path, one cycle more of
    # latency); a layer it does not name has none (0; zeros are dropped)
    psums: dict[str, int] = field(default_factory=dict)
    # N input samples per beat (1: one): the input stage takes window / N cycles; N > 1 needs a
    # decimation that N divides (checked by `bind`, which knows the graph)
    samples_per_beat: int = 1

    def __post_init__(self):
        r = self.replicas
        if isinstance(r, bool) or not isinstance(r, int) or r < 1:
            raise ConfigError("folding.replicas", f"must be an integer >= 1, got {r!r}")
        n = self.samples_per_beat
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ConfigError("folding.samples_per_beat", f"must be an integer >= 1, got {n!r}")
        for name, ps in self.psums.items():
            check_psums(name, self.pe_simd.get(name, (1, 1))[1], ps)
        object.__setattr__(self, "psums", {k: v for k, v in self.psums.items() if v})

    def psums_of(self, name: str) -> int:
        """Layer `name`'s partial sums (0: none)."""
        return self.psums.get(name, 0)

    def to_dict(self) -> dict:
        # replicas only when there are several, psums only where a layer has them, samples
        # per beat only when more than one: a one-pipeline folding without them reads as before
        return {"clock_mhz": self.clock_mhz,
                "layers": {k: {"pe": p, "simd": s}
                           | ({"psums": self.psums[k]} if k in self.psums else {})
                           for k, (p, s) in self.pe_simd.items()}} \
            | ({"replicas": self.replicas} if self.replicas != 1 else {}) \
            | ({"samples_per_beat": self.samples_per_beat} if self.samples_per_beat != 1 else {})

    @classmethod
    def from_dict(cls, d: dict) -> Folding:
        return cls({k: (v["pe"], v["simd"]) for k, v in d["layers"].items()}, d["clock_mhz"],
                   d.get("replicas", 1),
                   {k: v["psums"] for k, v in d["layers"].items() if "psums" in v},
                   d.get("samples_per_beat", 1))


def check_psums(name: str, simd: int, psums) -> None:
    """Layer `name`'s partial sums must be 0 (none) or a divisor of its SIMD: a ConfigError
    naming the field (`folding.<layer>.psums`) otherwise."""
    if isinstance(psums, bool) or not isinstance(psums, int) or psums < 0:
        raise ConfigError(f"folding.{name}.psums",
                          f"must be an integer >= 0 (0: none), got {psums!r}")
    if psums and simd % psums:
        raise ConfigError(f"folding.{name}.psums",
                          f"{psums} does not divide the layer's SIMD ({simd})")


@dataclass(frozen=True)
class Binding:
    """Where a stage's arithmetic and memories go on the device, and the blocks they take (its
    requantization multipliers and window buffers included)."""

    mac_dsp: bool = False  # the MAC products in DSP blocks (else shift-and-add in logic)
    w_bram: bool = False  # the weight ROM in block RAM (else in logic)
    buf_bram: bool = False  # the input buffers in block RAM (else registers)
    dsp: int = 0  # DSP blocks of the stage
    bram: int = 0  # block RAMs of the stage


@dataclass(frozen=True)
class Stream:
    """What a link carries per window: the output of IR layer `layer` (-1: the input samples)
    as `beats` beats of `elems` elements of `elem_w` bits (`rom.pack`'s layout)."""

    layer: int
    beats: int = 1
    elems: int = 1
    elem_w: int = 1
    signed: bool = False

    @property
    def width(self) -> int:
        return self.elems * self.elem_w


@dataclass(kw_only=True)
class Stage:
    """A stage of the chain (see the module docstring for the kinds and their timing)."""

    kind: ClassVar[str]
    name: str
    layers: tuple[int, ...]  # the IR layers it implements (indices into graph.layers)
    cycles: int  # busy cycles per window: the initiation interval it allows
    depth: int  # cycles from its last step to its last output beat
    # cycles of its work after its last output (positions a fused max-pool drops, samples
    # after the last kept one), or overlapping its input (pooling)
    tail: int = 0

    @property
    def module(self) -> str | None:
        """Its Verilog module in rtl/lib (None: no instance of its own)."""
        raise NotImplementedError

    @property
    def instance(self) -> str:
        """Its instance name in the top (`u_<instance>`) and design.json's stage name."""
        return self.name

    @property
    def params(self) -> dict:
        """Its Verilog parameters (strings already quoted)."""
        raise NotImplementedError

    @property
    def stream(self) -> Stream:
        raise NotImplementedError

    def roms(self) -> list[tuple[str, list[int], int]]:
        """Its ROM images: (file name under mem/, words, word width)."""
        return []


@dataclass(kw_only=True)
class InputStage(Stage):
    kind: ClassVar[str] = "input"
    name: str = "input"
    width: int  # sample bits
    signed: bool
    window: int  # samples per window (the framing check's L)
    factor: int = 1  # a fused decimation keeps 1 sample in `factor` (1: none)
    per_beat: int = 1  # samples per input beat (N; divides `factor` and `window`)

    @property
    def module(self) -> str | None:
        return "axis_decimate" if self.factor > 1 else None

    @property
    def instance(self) -> str:
        return "decimate"

    @property
    def params(self) -> dict:  # N only where a beat holds several (the instance as before)
        return {"W": self.width, "L": self.window, "FACTOR": self.factor} \
            | ({"N": self.per_beat} if self.per_beat > 1 else {})

    @property
    def stream(self) -> Stream:
        return Stream(self.layers[0] if self.layers else -1, -(-self.window // self.factor),
                      elem_w=self.width, signed=self.signed)


@dataclass(kw_only=True)
class MVUStage(Stage):
    kind: ClassVar[str] = "mvu"
    layer: Conv | Dense = field(repr=False, compare=False)
    pe: int
    simd: int
    pool: int = 1  # a max-pool fused into its output writer (1: none)
    classes: int = 0  # the classifier's argmax fused into its writer (0: none)
    binding: Binding | None = None  # None: left to synthesis
    psums: int = 0  # partial sums per PE registered before the accumulator (0: none)

    module = "mvu_stage"

    @property
    def op(self) -> str:
        """What it computes: "conv" (standard, pointwise, depthwise) or "dense"."""
        return "conv" if isinstance(self.layer, Conv) else "dense"

    @property
    def geometry(self) -> rom.Geometry:
        """Its layer's shape (`geometry`)."""
        return geometry(self.layer)

    @property
    def depthwise(self) -> bool:
        """A depthwise conv: the vector unit (PE channels x SIMD taps)."""
        return self.geometry.depthwise

    @property
    def params(self) -> dict:
        p = rom.mvu_params(self.layer, self.geometry, self.pe, self.simd, self.pool)
        if self.binding is not None:
            p.update(MAC_DSP=int(self.binding.mac_dsp), W_BRAM=int(self.binding.w_bram),
                     BUF_BRAM=int(self.binding.buf_bram))
        p.update({k: f'"mem/{f}"' for k, f in _rom_files(self).items()})
        if self.classes:
            p.update(ARGMAX=1, IDX_W=idx_width(self.classes))
        if self.psums:  # (without, the instance reads as before the parameter)
            p.update(PSUMS=self.psums)
        return p

    @property
    def stream(self) -> Stream:
        if self.classes:
            return Stream(self.layers[-1], elem_w=idx_width(self.classes))
        r, layer = self.layer.requant, self.layer
        if isinstance(layer, Dense):
            beats, channels = 1, layer.fout
        else:
            beats, channels = layer.length_out // self.pool, layer.cout
        return Stream(self.layers[-1], beats, channels, rom.out_bits(r),
                      r.kind == "affine" or r.out.signed)

    def roms(self) -> list[tuple[str, list[int], int]]:
        words = rom.mvu_roms(self.layer, self.geometry, self.pe, self.simd)
        return [(f, *words[k]) for k, f in _rom_files(self).items()]


@dataclass(kw_only=True)
class GapJoinStage(Stage):
    kind: ClassVar[str] = "gap"
    layer: PoolJoin = field(repr=False, compare=False)
    binding: Binding | None = None  # None: left to synthesis

    module = "gap_join"

    @property
    def side_features(self) -> int:
        return self.layer.side.features if self.layer.side else 0

    @property
    def params(self) -> dict:
        return rom.gap_params(self.layer) | {k: f'"mem/{f}"'
                                              for k, f in _rom_files(self).items()}

    @property
    def stream(self) -> Stream:
        r = self.layer.requant
        return Stream(self.layers[0], elems=self.layer.features, elem_w=r.out.bits,
                      signed=r.out.signed)

    def roms(self) -> list[tuple[str, list[int], int]]:
        words = rom.gap_roms(self.layer)
        return [(f, *words[k]) for k, f in _rom_files(self).items()]


@dataclass(kw_only=True)
class ArgMaxStage(Stage):
    kind: ClassVar[str] = "argmax"
    name: str = "argmax"
    classes: int
    score_w: int  # bits of a score (its input beat holds all of them)

    module = "argmax"

    @property
    def params(self) -> dict:
        return {"N": self.classes, "W": self.score_w, "IDX_W": idx_width(self.classes)}

    @property
    def stream(self) -> Stream:
        return Stream(self.layers[0], elem_w=idx_width(self.classes))


def _rom_files(st: MVUStage | GapJoinStage) -> dict[str, str]:
    """The stage's ROM images (under mem/) by Verilog parameter."""
    weights = {"W_FILE": f"{st.name}_w.mem"} if isinstance(st, MVUStage) else {}
    return weights | {"R_FILE": f"{st.name}_r.mem"}


def idx_width(classes: int) -> int:
    """Bits of a class index."""
    return max(1, (classes - 1).bit_length())


_KINDS = {c.kind: c for c in (InputStage, MVUStage, GapJoinStage, ArgMaxStage)}


@dataclass
class Design:
    """The stages of `graph` folded as `folding`, bound to `device` (None: left to synthesis).
    `stages[0]` is the input; `chain` the stages with an instance of their own."""

    graph: Graph = field(repr=False)
    folding: Folding
    device: str | None
    stages: list[Stage]

    @property
    def input(self) -> InputStage:
        return self.stages[0]

    @property
    def replicas(self) -> int:
        """Identical pipelines of `stages` side by side (the folding's), each on its own input
        and output lane: the stages, their timing and binding are one pipeline's."""
        return self.folding.replicas

    @property
    def samples_per_beat(self) -> int:
        """Input samples per beat of the top's s_axis (the folding's N; `BEAT`)."""
        return self.folding.samples_per_beat

    @property
    def latency_cycles(self) -> int:
        """One window's cycles through one pipeline: the sum over the stages of (cycles -
        tail + depth) (module docstring); what `half verify` measures."""
        return sum(st.cycles - st.tail + st.depth for st in self.stages)

    @property
    def ii_cycles(self) -> int:
        """Cycles between windows of one pipeline: the slowest stage's cycles."""
        return max(st.cycles for st in self.stages)

    @property
    def chain(self) -> list[Stage]:
        """The top's instances in stream order: stage i reads link s<i>, writes s<i+1>."""
        return [st for st in self.stages if st.module]

    @property
    def in_width(self) -> int:
        return self.input.width

    @property
    def window(self) -> int:
        return self.input.window

    @property
    def beat_width(self) -> int:
        """Bits of an input beat: `samples_per_beat` samples of `in_width` bits."""
        return self.in_width * self.samples_per_beat

    @property
    def side_width(self) -> int:
        """Bits of a side beat (0: no side inputs)."""
        return sum(st.side_features * st.layer.out_type.bits for st in self.stages
                   if isinstance(st, GapJoinStage))

    @property
    def idx_width(self) -> int:
        """Bits of the class index out."""
        last = self.stages[-1]
        return last.stream.elem_w if isinstance(last, ArgMaxStage) or \
            isinstance(last, MVUStage) and last.classes else 1

    def to_dict(self) -> dict:
        """design.json: the top's ports and stream contract, the folding and device, the chain
        (`stages`: instance name, module, parameters, output stream; kind, IR layers, timing,
        binding) and the input stage (`input`)."""
        side = self.side_width > 0
        # several replicas: their count and the lanes' contract (one pipeline: as before)
        many = {"replicas": self.replicas} if self.replicas != 1 else {}
        # several samples per beat: their count and the beat's contract (one: as before)
        wide = {"samples_per_beat": self.samples_per_beat} if self.samples_per_beat != 1 \
            else {}
        return {"top": TOP, "folding": self.folding.to_dict(), "in_width": self.in_width,
                "side_width": self.side_width, "idx_width": self.idx_width,
                "window": self.window, "side_lag": SIDE_LAG if side else None,
                "side_trail": SIDE_TRAIL if side else None,
                "contract": CONTRACT | ({"beat": BEAT} if wide else {})
                | ({"lanes": LANES} if many else {}),
                "stages": [_entry(st) for st in self.chain], "device": self.device,
                "input": _entry(self.input, instance=False)} | many | wide

    @staticmethod
    def from_dict(d: dict, graph: Graph) -> Design:
        """The inverse of `to_dict`, with the IR graph it was bound from (the project's ir.json:
        `Graph.from_dict`)."""
        if "input" not in d:
            raise ConfigError("design", "design.json without stage kinds (written by an older "
                              "half: rebuild with `half build`)")
        entries = [d["input"], *(e for e in d["stages"] if e["kind"] != InputStage.kind)]
        stages = []
        for e in entries:
            cls = _KINDS[e["kind"]]
            kw = {f.name: e[f.name] for f in dataclasses.fields(cls) if f.name in e}
            kw["layers"] = tuple(kw["layers"])
            if kw.get("binding") is not None:
                kw["binding"] = Binding(**kw["binding"])
            if cls in (MVUStage, GapJoinStage):
                kw["layer"] = graph.layers[kw["layers"][0]]
            stages.append(cls(**kw))
        return Design(graph, Folding.from_dict(d["folding"]), d.get("device"), stages)


def _entry(st: Stage, instance: bool = True) -> dict:
    """A stage in design.json: as an instance of the chain (name, module, params, stream), and
    its own fields."""
    head = {"name": st.instance, "module": st.module, "params": st.params,
            "stream": dataclasses.asdict(st.stream)} if instance else {"name": st.name}
    own = {f.name: getattr(st, f.name) for f in dataclasses.fields(st)
           if f.name not in ("name", "layer")}
    if not own.get("psums", 1):  # only a stage with partial sums says so (design.json as before)
        del own["psums"]
    if own.get("per_beat", 0) == 1:  # only an input of several samples a beat says so
        del own["per_beat"]
    own["layers"] = list(st.layers)
    if own.get("binding") is not None:
        own["binding"] = dataclasses.asdict(own["binding"])
    return head | {"kind": st.kind} | own


def bind(graph: Graph, folding: Folding, device: Device | None = None) -> Design:
    """The hardware design of `graph` folded as `folding` (PE, SIMD per MAC layer; (1, 1) where
    it names none): one stage per layer that does work, decimation, max-pools and the
    classifier's argmax fused (module docstring), bound to `device`'s DSPs and block RAMs by
    the binding rules; without a device, the binding is left to synthesis. A layer that cannot
    be implemented (a decimation after the first layer, a max-pool not after a conv) is a
    ConfigError."""
    layers = graph.layers
    inp = graph.input
    dec = bool(layers) and isinstance(layers[0], Decimate)
    factor = decimation(graph)
    n = folding.samples_per_beat
    check_samples_per_beat(n, factor, inp.length)
    last_kept = (-(-inp.length // factor) - 1) * factor  # ends the input's part of the latency
    beats = inp.length // n  # the input's cycles: its last kept sample is in beat last_kept / n
    stages: list[Stage] = [InputStage(layers=(0,) if dec else (), cycles=beats, depth=0,
                                      tail=beats - last_kept // n, width=inp.out.bits,
                                      signed=inp.out.signed, window=inp.length, factor=factor,
                                      per_beat=n)]
    i = int(dec)
    while i < len(layers):
        layer, nxt = layers[i], layers[i + 1] if i + 1 < len(layers) else None
        if isinstance(layer, Conv | Dense):
            st = _mvu(i, layer, nxt, folding)
        elif isinstance(layer, PoolJoin):
            busy = max(layer.length_in, layer.channels + gap_depth(layer.requant))
            st = GapJoinStage(name=layer.name, layers=(i,), cycles=busy,
                              depth=gap_depth(layer.requant) + layer.channels, tail=busy,
                              layer=layer)
        elif isinstance(layer, ArgMax):  # not after a dense stage (there it is fused)
            st = ArgMaxStage(layers=(i,), cycles=0, depth=DEPTH["argmax"] * layer.classes,
                             classes=layer.classes,
                             score_w=stages[-1].stream.width // layer.classes)
        else:
            raise ConfigError("model", f"{type(layer).__name__} (layer {i}) has no RTL module "
                              "here: decimation only first, max-pooling only after a conv")
        stages.append(st)
        i += len(st.layers)
    if device is not None:
        _bind(stages, device, folding.replicas)
    return Design(graph, folding, device.name if device else None, stages)


def decimation(graph: Graph) -> int:
    """The factor of `graph`'s decimation (a first Decimate layer; 1 without one)."""
    layers = graph.layers
    return layers[0].factor if layers and isinstance(layers[0], Decimate) else 1


def beat_options(graph: Graph) -> list[int]:
    """Legal samples per input beat N of `graph` (ascending): 1, and the divisors of its
    decimation factor that `check_samples_per_beat` accepts."""
    factor, window = decimation(graph), graph.input.length
    return [d for d in divisors(factor) if _beat_problem(d, factor, window) is None]


def check_samples_per_beat(n: int, factor: int, window: int) -> None:
    """N samples per beat must divide the model's decimation factor (the first conv takes at
    most one time step a cycle) and its window (whole beats per window), and leave two beats a
    window or more: a ConfigError naming `folding.samples_per_beat` otherwise."""
    problem = _beat_problem(n, factor, window)
    if problem:
        raise ConfigError("folding.samples_per_beat", problem)


def _beat_problem(n: int, factor: int, window: int) -> str | None:
    """What is wrong with N samples per beat (None: nothing; the one rule of
    `check_samples_per_beat` and `beat_options`)."""
    if n == 1:
        return None
    if factor % n:
        return (f"{n} does not divide the model's decimation factor ({factor}): the first conv "
                "takes one time step a cycle, so N must be a divisor of the decimation (1 "
                "without one)")
    if window % n:
        return f"{n} does not divide the window ({window} samples)"
    if window // n < 2:  # axis_frame frames windows of two beats or more
        return f"{n} leaves fewer than 2 beats per window ({window} samples)"
    return None


def _mvu(i: int, layer: Conv | Dense, nxt, folding: Folding) -> MVUStage:
    """The mvu_stage of layer i, with a following max-pool (conv) or argmax (dense) fused, and
    the folding's partial sums (one cycle more of depth)."""
    pe, simd = folding.pe_simd.get(layer.name, (1, 1))
    psums = folding.psums_of(layer.name)  # checked against the SIMD when the folding was made
    cycles = cycles_of(layer, pe, simd)
    pool = nxt.pool if isinstance(layer, Conv) and isinstance(nxt, MaxPool) else 0
    classes = nxt.classes if isinstance(layer, Dense) and isinstance(nxt, ArgMax) else 0
    # the steps of the positions the pool drops come after the last output
    tail = layer.length_out % pool * (cycles // layer.length_out) if pool else 0
    return MVUStage(name=layer.name, layers=(i, i + 1) if pool or classes else (i,),
                    cycles=cycles, depth=mvu_depth(layer.requant, psums), tail=tail,
                    layer=layer, pe=pe, simd=simd, pool=pool or 1, classes=classes, psums=psums)


def _bind(stages: list[Stage], dev: Device, replicas: int = 1) -> None:
    """Each MAC and pooling stage's Binding on `dev`, by the rules of the module docstring;
    with several replicas, against a replica's share of the DSPs and BRAMs (1 / replicas:
    the replicas are identical, so each gets the same binding)."""
    mac = [st for st in stages if isinstance(st, MVUStage)]
    gap = [st for st in stages if isinstance(st, GapJoinStage)]
    # reserved first: the requant multipliers and the conv window buffers
    left = {"dsp": dev.dsp.count // replicas
            - sum(_requant_dsps(dev, st.layer, st.pe) for st in mac)
            - sum(_requant_dsps(dev, st.layer, 1) for st in gap),
            "bram": dev.bram.count // replicas
            - sum(_buffer_brams(dev, st.layer, st.simd) for st in mac)}
    for st in gap:
        st.binding = Binding(dsp=_requant_dsps(dev, st.layer, 1))
    for st in mac:  # then, in chain order, what is left
        st.binding = _bind_mvu(st, dev, left)


def _bind_mvu(st: MVUStage, dev: Device, left: dict[str, int]) -> Binding:
    layer, lanes = st.layer, st.pe * st.simd
    wb, ib = layer.w_type.bits, layer.in_type.bits
    words = layer.weights.size // lanes
    dsp = _requant_dsps(dev, layer, st.pe)
    bram = _buffer_brams(dev, layer, st.simd)
    blocks = ram_blocks(dev, words, lanes * wb)
    w_bram = words > 1 and layer.weights.size * wb >= W_BRAM_MIN_BITS and blocks <= left["bram"]
    if w_bram:
        bram += blocks
        left["bram"] -= blocks
    xb = rom.signed_bits(layer.in_type)  # the input as a signed operand
    macs = lanes * _mul_dsps(dev, xb, wb)
    mac_dsp = (words > 1 and min(wb, ib) >= DSP_MIN_PRODUCT_BITS
               and xb + wb >= DSP_MIN_RESULT_BITS.get(dev.power_family, 4)
               and macs <= left["dsp"])
    if mac_dsp:
        dsp += macs
        left["dsp"] -= macs
    buf_bram = isinstance(layer, Conv)  # conv window buffers: always (reserved)
    if not buf_bram:  # a dense stage's two input words
        blocks = ram_blocks(dev, 2, layer.fin * ib)
        buf_bram = blocks <= left["bram"]
        if buf_bram:
            bram += blocks
            left["bram"] -= blocks
    return Binding(mac_dsp, w_bram, buf_bram, dsp, bram)


def geometry(layer: Conv | Dense) -> rom.Geometry:
    """A MAC layer's shape as the layout (`half.hw.rom`) and the cost model read it: a dense
    layer is a conv of kernel 1 over one position."""
    if isinstance(layer, Dense):
        return rom.Geometry(layer.fin, layer.fout)
    return rom.Geometry(layer.cin, layer.cout, layer.kernel, layer.stride, layer.pad,
                        layer.length_in, layer.length_out, depthwise=layer.groups > 1)


def options(layer: Conv | Dense) -> tuple[list[int], list[int]]:
    """Legal PE and SIMD values (divisors of their dimensions)."""
    if isinstance(layer, Dense):
        return divisors(layer.fout), divisors(layer.fin)
    if layer.groups > 1:
        return divisors(layer.cout), divisors(layer.kernel)
    # SIMD spans input channels, and whole taps of all channels beyond that
    cin = layer.cin
    simd = [d for d in divisors(cin * layer.kernel) if cin % d == 0 or d % cin == 0]
    return divisors(layer.cout), simd


def cycles_of(layer: Conv | Dense, pe: int, simd: int) -> int:
    """MAC steps of an mvu_stage per window (module docstring)."""
    if isinstance(layer, Dense):
        return (layer.fin // simd) * (layer.fout // pe)
    if layer.groups > 1:
        return layer.length_out * (layer.cout // pe) * (layer.kernel // simd)
    return layer.length_out * (layer.kernel * layer.cin // simd) * (layer.cout // pe)


def divisors(n: int) -> list[int]:
    """The divisors of n, ascending."""
    return [d for d in range(1, n + 1) if n % d == 0]


def mvu_depth(requant: Requant, psums: int = 0) -> int:
    """mvu_stage's cycles from its last MAC step to its last output beat: 6, or with
    thresholds 5 + the output bits (a binary search, one tree level per cycle); one more with
    partial sums (`psums` >= 1: their register)."""
    extra = 1 if psums else 0
    if requant.kind == "thresholds":
        return DEPTH["mvu"] - 1 + requant.out.bits + extra
    return DEPTH["mvu"] + extra


def mac_levels(simd: int, psums: int = 0) -> int:
    """Adder levels of mvu_stage's longest register-to-register MAC path (the fmax model's
    feature, `half.hw.cost.fmax_estimate`): ceil(log2 SIMD), the SIMD-lane tree into the
    accumulator; with P partial sums the longer of a group's tree, ceil(log2(SIMD / P)), and
    the P sums added into the accumulator, ceil(log2 P) + 1.
    ASSUMPTION: the pipelined rule puts both paths on the unpipelined path's scale (the same
    constant and ns per level). Two placed pipelined designs (timing rows 101 and 102 of
    benchmarks/results/calibration_timing_unfitted.jsonl, outside the fit) placed faster than
    the model estimates; none is among the fitted rows yet (docs/RESULTS.md)."""
    if not psums:
        return (simd - 1).bit_length()  # ceil(log2 simd)
    return max((simd // psums - 1).bit_length(), (psums - 1).bit_length() + 1)


def gap_depth(requant: Requant) -> int:
    """gap_join's cycles beyond one per channel from its last input beat to its output: 3, or 4
    with multiply-shift (the product is registered before the shift)."""
    return DEPTH["gap"] + (requant.kind != "thresholds")


def window_reads(layer: Conv, simd: int) -> int:
    """mvu_stage's identical window buffers: one per time step read in a cycle."""
    if layer.groups > 1:
        return simd
    return max(1, simd // layer.cin)


def ram_blocks(dev: Device, depth: int, width: int) -> int:
    """Fewest block RAMs for a depth x width memory (any one aspect ratio of the catalog)."""
    return min(math.ceil(width / w) * math.ceil(depth / d) for d, w in dev.bram.configs)


def _buffer_brams(dev: Device, layer: Conv | Dense, simd: int) -> int:
    """Block RAMs of a conv stage's window buffers (a dense stage's are bound separately)."""
    if isinstance(layer, Dense):
        return 0
    words, width = 2 * layer.length_in, layer.cin * layer.in_type.bits
    return window_reads(layer, simd) * ram_blocks(dev, words, width)


def _mul_dsps(dev: Device, a: int, b: int) -> int:
    """DSP blocks of one a x b product written as `*`."""
    if not dev.dsp.count:
        return 0
    return math.ceil(a / dev.dsp.a_bits) * math.ceil(b / dev.dsp.b_bits)


def _requant_dsps(dev: Device, layer: Conv | Dense | PoolJoin, pe: int) -> int:
    """The requant multipliers' DSPs, `pe` of them (acc x unsigned multiplier: the acc's sign
    rides in the block's signed mode, so a block holds one bit more of it); none with
    thresholds."""
    if layer.requant.kind == "thresholds":
        return 0
    return pe * _mul_dsps(dev, layer.acc_type.bits - 1, MUL_BITS)
