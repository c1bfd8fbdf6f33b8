# SPDX-License-Identifier: Apache-2.0
"""Analytical cost model of a hardware design: cycles, resources, power, energy.

`estimate(graph, dev, folding)` binds the design (`half.hw.design.bind`: the stages, their
fusions, cycles and depths, and their DSPs and block RAMs on the device) and sums its stages:
per stage its LUT and FF terms below (dispatch on the stage's type), then the calibration,
fmax and power. Cycle counts are the design's and match the RTL exactly (`half verify` checks
them on every build); the initiation interval is the slowest stage's cycles, the latency the
sum of the stages' (cycles - tail + depth).

Replicas (`Folding.replicas`, R): R identical pipelines that share nothing. `stages` are one
pipeline's (bound against 1/R of the device's DSPs and BRAMs); the totals (`total`: LUTs, FFs,
BRAMs, DSPs, and so the fit, the fmax's congestion term and the clock tree) are R times theirs;
the throughput is R windows per II; the latency and the dynamic energy of one inference (one
window through one pipeline) are a pipeline's.

Resources are estimates (labelled so wherever shown): per-component LUT and FF counts below,
scaled by the coefficients fitted per family against Yosys (`calibration.json`, read and fitted
by `half.hw.calibration`: `half calibrate fit --install`); BRAM and DSP counts are the design's
binding (the RTL follows it, so synthesis agrees); fmax from a per-family model fitted on placed
designs.
Power is an estimate: static power from the device catalog plus an activity-based dynamic model
(coefficients per resource in `half/hw/power.yaml`, with their sources).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np

from half.hw import calibration as _calibration
from half.hw.design import (
    ArgMaxStage,
    Folding,
    GapJoinStage,
    InputStage,
    MVUStage,
    bind,
    geometry,
    mac_levels,
    window_reads,
)
from half.hw.devices import Device
from half.hw.ir import Conv, Dense, Graph
from half.hw.lower import MUL_BITS
from half.hw.rom import out_bits, signed_bits, weight_lanes

# -- resource coefficients (estimates; LUT4 units, LUT6 = LUT4 * LUT6_FACTOR) -------------------
LUT6_FACTOR = 0.6  # a LUT6 holds about 1.6 LUT4s of random logic
CTRL_LUT, CTRL_FF = 40, 32  # per stage: counters, address generation, handshakes
ROM_BITS_PER_LUT = 8  # a constant table in logic (mux trees): measured 2,560 bits in 315 LUT4s
# iCE40 packing, measured with nextpnr-ice40 on three tiny-preset designs (docs/RESULTS.md):
# logic cells = LUT4s + 0.81-0.83 x FFs (most FFs are fed by block RAM, DSPs, other FFs or a LUT
# that also feeds something else). The per-stage LUT and FF fits count each stage synthesized on
# its own; the whole design, flattened, comes out smaller: a packing factor fitted on placed
# designs (calibration "packing") scales the sum. Placement succeeded at 89-91 % of the cells
# and failed above 100 %; a design may take up to 97 % of the cells by the model (`half
# implement` is the check)
ICE40_UNPACKED_FF = 0.83
LC_MARGIN = 0.97


@dataclass
class StageCost:
    name: str
    kind: str
    pe: int = 1
    simd: int = 1
    psums: int = 0  # partial sums per PE registered before the accumulator (0: none)
    cycles: int = 0
    depth: int = 0
    luts: float = 0.0
    ffs: float = 0.0
    bram: int = 0
    dsp: int = 0
    rom_bits: int = 0  # weights and thresholds
    buffer_bits: int = 0  # double-buffered input activations
    # the stage's binding (`half.hw.design.Binding`), which the RTL follows
    mac_dsp: bool = False  # the MAC products in DSP blocks (else in logic)
    w_bram: bool = False  # the weight ROM in block RAM (else in logic)
    buf_bram: bool = False  # the input buffers in block RAM (else registers)
    raw_ffs: float = 0.0  # FFs before calibration
    energy_uj: float = 0.0  # dynamic energy per inference of this stage (estimate)
    tail: int = 0  # cycles of work after its last output (pool-dropped positions, samples
    #                after the last kept one) or overlapping its input (pooling)
    parts: dict = field(default_factory=dict)  # LUT estimate by component (calibration data)

    def add_luts(self, part: str, luts: float) -> None:
        self.luts += luts
        self.parts[part] = self.parts.get(part, 0.0) + luts

    @property
    def occupancy(self) -> int:
        return self.cycles + self.depth

    @property
    def latency(self) -> int:
        """Cycles from the stage's last input beat to its last output beat."""
        return self.cycles - self.tail + self.depth


@dataclass
class Estimate:
    device: str
    clock_mhz: float
    stages: list[StageCost] = field(default_factory=list)
    static_mw: float = 0.0
    dynamic_mw_busy: float = 0.0  # all stages busy
    clock_mw: float = 0.0  # clock tree, paid whether busy or idle
    energy_dyn_uj: float = 0.0  # dynamic energy of one inference (busy cycles only)
    fmax_mhz: float | None = None  # calibrated fmax of the family (estimate), None if unknown
    logic_cells_: float | None = None  # iCE40 logic cells (`logic_cells`), None elsewhere
    packing: float = 1.0  # iCE40: logic cells of the placed design per (LUTs + unpacked FFs)
    # LUT and FF counts scaled by the device family's fitted coefficients (`calibration()`);
    # False: the raw model, and `calibration_note` says why (family not fitted, calibration.json
    # missing from the install, or the raw model asked for)
    calibrated: bool = False
    calibration_note: str | None = None
    replicas: int = 1  # identical pipelines side by side (`stages` are one pipeline's)

    @property
    def ii(self) -> int:
        """Stages overlap consecutive windows: a stage's next window starts right after its
        last MAC step, so the interval is the slowest stage's cycles (of one lane: each
        replica takes a window per II)."""
        return max(s.cycles for s in self.stages)

    @property
    def latency_cycles(self) -> int:
        return sum(s.latency for s in self.stages)

    @property
    def throughput(self) -> float:
        """Inferences per second, back to back (every replica busy)."""
        return self.clock_mhz * 1e6 / self.ii * self.replicas

    @property
    def latency_s(self) -> float:
        return self.latency_cycles / (self.clock_mhz * 1e6)

    def total(self, key: str) -> float:
        """A resource of the whole design: the stages' sum, times the replicas."""
        return sum(getattr(s, key) for s in self.stages) * self.replicas

    def power_mw(self, rate: float | None = None) -> float:
        """Average power at `rate` inferences/s (default: back to back)."""
        rate = self.throughput if rate is None else rate
        return self.static_mw + self.clock_mw + self.energy_dyn_uj * rate * 1e-3

    def energy_uj(self) -> float:
        """Energy of one inference on a duty-cycled device (wake, classify one window, power
        down: race to idle): (static + clock) * latency + dynamic energy of the busy cycles.
        With R replicas a wake classifies R windows, one per lane (assumed: the host holds R
        windows, as a device that is given R lanes is fed), so one window bears 1/R of the
        wake's static and clock-tree energy (the clock tree being R pipelines'); its dynamic
        energy is one pipeline's, as with one replica."""
        return ((self.static_mw + self.clock_mw) * 1e-3 * self.latency_s * 1e6 / self.replicas
                + self.energy_dyn_uj)

    def logic_cells(self, dev: Device) -> float | None:
        """iCE40 logic cells (one LUT4 and one FF each): the LUTs plus the FFs that cannot share
        a cell with the LUT driving them, scaled by the calibrated packing factor; None on
        other families."""
        if dev.power_family != "ice40up":
            return None
        return self.packing * (self.total("luts") + ICE40_UNPACKED_FF * self.total("ffs"))

    def resources(self, dev: Device) -> dict[str, float]:
        """LUTs, FFs, BRAMs, DSPs, and on iCE40 the logic cells (`utilization`'s totals)."""
        out = {k: self.total(k) for k in ("luts", "ffs", "bram", "dsp")}
        cells = self.logic_cells(dev)
        return out if cells is None else out | {"logic_cells": cells}

    def fits(self, dev: Device, margin: float = 0.85) -> bool:
        """Within `margin` of the LUTs and FFs (room for routing; iCE40: LC_MARGIN of the logic
        cells), and the DSPs and BRAMs (`utilization` at most 1)."""
        return utilization(self.resources(dev), dev, margin) <= 1

    def to_dict(self, rate: float | None = None) -> dict:
        """The figures as plain data; with several replicas also `replicas` (the `stages` are
        one pipeline's, the totals all of them)."""
        return {
            "device": self.device, "clock_mhz": self.clock_mhz, "ii_cycles": self.ii,
            "latency_cycles": self.latency_cycles, "throughput_per_s": self.throughput,
            "latency_ms": self.latency_s * 1e3, "fmax_estimate_mhz": self.fmax_mhz,
            "calibrated": self.calibrated, "calibration_note": self.calibration_note,
            "resources_estimate": {k: round(self.total(k)) for k in ("luts", "ffs", "bram",
                                                                       "dsp")}
            | ({"logic_cells": round(self.logic_cells_)} if self.logic_cells_ else {}),
            "power_estimate_mw": {"static": self.static_mw, "clock": self.clock_mw,
                                  "dynamic_busy": self.dynamic_mw_busy,
                                  "average_at_rate": self.power_mw(rate), "rate_per_s": rate
                                  or self.throughput},
            "energy_estimate_uj": self.energy_uj(),
            "stages": [{"name": s.name, "kind": s.kind, "pe": s.pe, "simd": s.simd}
                       | ({"psums": s.psums} if s.psums else {})
                       | {"cycles": s.cycles, "depth": s.depth, "luts": round(s.luts),
                        "ffs": round(s.ffs), "ffs_raw": round(s.raw_ffs), "bram": s.bram,
                        "dsp": s.dsp,
                        "buffer_bits": s.buffer_bits, "rom_bits": s.rom_bits,
                        "lut_parts": {k: round(v, 1) for k, v in s.parts.items()},
                        "dynamic_energy_share": round(s.energy_uj / self.energy_dyn_uj, 4)
                        if self.energy_dyn_uj else 0.0} for s in self.stages],
        } | ({"replicas": self.replicas} if self.replicas != 1 else {})




def _mulshift_luts(ab: int, r) -> float:
    """Multiply-shift requantization beyond its multiplier: the add, the barrel shifter of the
    product (log2 of the shifts' range levels) and the clip."""
    yw = ab + MUL_BITS + 1
    shifts = max(1, int(r.shift.max()).bit_length()) if getattr(r, "shift", None) is not None \
        else 0
    return yw + yw * shifts + 2 * yw


@functools.lru_cache(maxsize=4096)  # a fold estimates the same layer for many foldings
def _weight_bits(layer: Conv | Dense, pe: int, simd: int) -> tuple[int, int]:
    """Of a weight ROM in logic (`half.hw.rom.weight_lanes`, W_W bits per lane, two's
    complement), the bits that synthesis keeps: (live, varying) = set in some word of their
    lane (a shifted add each), not the same in every word (a register bit each: constant ones
    and zeros are not registered)."""
    lanes = weight_lanes(layer, geometry(layer), pe, simd) & ((1 << signed_bits(layer.w_type)) - 1)
    ored = np.bitwise_or.reduce(lanes, axis=0)  # (pe * simd,)
    anded = np.bitwise_and.reduce(lanes, axis=0)

    def ones(x: np.ndarray) -> int:
        return int(np.unpackbits(x.astype(np.uint64).view(np.uint8)).sum())

    return ones(ored), ones(ored & ~anded)


def _input(st: InputStage, dev: Device, lut_div: float) -> StageCost:
    """The input writer (the framing check, a fused decimation): one control block."""
    cost = StageCost(st.name, "input", cycles=st.cycles, depth=st.depth, ffs=CTRL_FF,
                     tail=st.tail)
    cost.add_luts("input", CTRL_LUT * lut_div)
    return cost


def _mvu(st: MVUStage, dev: Device, lut_div: float) -> StageCost:
    """One mvu_stage: MAC lanes, requantization, ROMs and buffers (see rtl/lib/mvu_stage.v),
    with the stage's binding."""
    layer, pe, simd, b = st.layer, st.pe, st.simd, st.binding
    g, conv = st.geometry, st.op == "conv"
    r = layer.requant
    cost = StageCost(st.name, st.op, pe, simd, st.psums, st.cycles, st.depth, bram=b.bram,
                     dsp=b.dsp, mac_dsp=b.mac_dsp, w_bram=b.w_bram, buf_bram=b.buf_bram,
                     tail=st.tail)
    wb, ib, ab = layer.w_type.bits, layer.in_type.bits, layer.acc_type.bits
    lanes = pe * simd
    # the weight ROM in logic, where synthesis sees the weights: a weight bit that is 0 in every
    # word of its lane drops out with its shifted add and register bit (a fully parallel stage,
    # one word, keeps only the set bits of its constant weights)
    words = layer.weights.size // lanes
    cost.rom_bits += layer.weights.size * wb
    if b.w_bram:
        live = varying = lanes * wb
    else:
        live, varying = _weight_bits(layer, pe, simd)
        cost.add_luts("memory", live * words / ROM_BITS_PER_LUT * lut_div)
    xb = signed_bits(layer.in_type)  # the input as a signed operand
    if not b.mac_dsp:  # shift-and-add of the (live) weight bits; constant weights: one sum per
        # PE of the inputs shifted by their set bits, which takes the adder tree's place
        cost.add_luts("multipliers", live * xb * lut_div)
    # with P partial sums the lanes' trees are P trees of SIMD/P lanes (SIMD - P adders) and
    # the accumulator adds P sums (P adders of its width): SIMD adders in all, as without
    sums = st.psums or 1
    if b.mac_dsp or words > 1:
        width = wb + ib + max(0, math.ceil(math.log2(simd)))
        cost.add_luts("adders", pe * (simd - sums) * width * lut_div)  # adder trees
    if not conv:  # dense
        slices, vectors = g.cin // simd, 1
    elif g.depthwise:  # each PE's channel of its group, for each tap read
        slices, vectors = g.cout // pe, pe
    else:
        slices, vectors = (g.cin // simd if simd < g.cin else 1), 1
    # the operands of the read words: a slices-to-1 mux of each of the simd inputs (per vector)
    cost.add_luts("mux", vectors * simd * ib * max(0, slices - 1) / 2 * lut_div)
    if conv:  # per window buffer read: position, padding test, address
        reads = window_reads(layer, simd)
        pw = math.ceil(math.log2(g.length_in + 2 * g.pad + g.kernel
                                 + g.stride * g.length_out + 2)) + 1
        aw = math.ceil(math.log2(2 * g.length_in))
        cost.add_luts("address", reads * (3 * pw + 2 * aw) * lut_div)
    cost.add_luts("accumulators", pe * sums * ab * lut_div)
    # accumulators, weight (varying bits) and operand registers
    cost.ffs += pe * ab + varying + vectors * simd * (xb + 1)
    if st.psums:  # the partial-sum registers and the step's flags (6) and group, delayed
        cost.ffs += pe * st.psums * ab + 6 + max(1, (g.cout // pe - 1).bit_length())
    if r.kind == "thresholds":
        # binary search: one comparator per level and PE; the tree ROM in logic
        bits = r.out.bits
        cost.add_luts("comparators", pe * bits * ab * lut_div)
        tree_bits = r.channels * ((1 << bits) - 1) * ab
        cost.add_luts("memory", tree_bits / ROM_BITS_PER_LUT * lut_div)
        # per level its node's threshold, and beyond the first the sum and the node reached
        # (with one channel group the roots are constants, not registered)
        cost.ffs += pe * ((bits - (r.channels == pe)) * ab + (bits - 1) * (ab + bits)) + 4 * bits
        cost.rom_bits += tree_bits
    else:  # mulshift, or the classifier's affine scores: one multiply-add per PE
        if not dev.dsp.count:  # the multipliers in logic on a device without DSP blocks
            cost.add_luts("multipliers", pe * ab * MUL_BITS * lut_div)
        if r.kind == "mulshift":
            cost.add_luts("requant", pe * _mulshift_luts(ab, r) * lut_div)
        else:  # affine: the adder
            cost.add_luts("requant", pe * (ab + MUL_BITS) * lut_div)
        rq_bits = r.channels * 2 * (ab + MUL_BITS)
        cost.add_luts("memory", rq_bits / ROM_BITS_PER_LUT * lut_div)
        cost.ffs += pe * 2 * (ab + MUL_BITS)
    ob = out_bits(r)
    if st.classes:  # the argmax fused: a running comparison
        cost.add_luts("comparators", pe * ob * lut_div)
        cost.ffs += ob + 2 * max(1, (st.classes - 1).bit_length())
    else:  # the pooling queue and the output register
        cost.ffs += 2 * r.channels * ob
    # double-buffered input: R identical conv window buffers in block RAM; dense: two words
    # and their read register, in registers where the binding left them out of block RAM
    if conv:
        cost.buffer_bits = 2 * g.cin * g.length_in * ib * window_reads(layer, simd)
    else:
        cost.buffer_bits = 2 * g.cin * ib
        if not b.buf_bram:
            cost.ffs += cost.buffer_bits + g.cin * ib
    cost.add_luts("control", CTRL_LUT * lut_div)
    cost.ffs += CTRL_FF
    return cost


def _gap(st: GapJoinStage, dev: Device, lut_div: float) -> StageCost:
    """gap_join: accumulates while its input arrives, then requantizes one channel per cycle."""
    layer = st.layer
    cost = StageCost(st.name, "gap", cycles=st.cycles, depth=st.depth, tail=st.tail,
                     dsp=st.binding.dsp)
    ab = layer.acc_type.bits
    cost.add_luts("accumulators", layer.channels * ab * lut_div)  # one per channel
    cost.add_luts("memory", layer.channels * ab / 2 * lut_div)  # snapshot, read a channel
    if layer.requant.kind == "mulshift":
        if not cost.dsp:  # the multiplier in logic on a device without DSP blocks
            cost.add_luts("multipliers", ab * MUL_BITS * lut_div)
        cost.add_luts("requant", _mulshift_luts(ab, layer.requant) * lut_div)
        cost.add_luts("memory", layer.channels * 2 * (ab + MUL_BITS) / ROM_BITS_PER_LUT
                      * lut_div)
    else:
        n_thr = layer.requant.out.max - layer.requant.out.min
        cost.add_luts("comparators", n_thr * ab * lut_div)
    # running sums and their snapshot, the read registers and the multiply-add register
    cost.ffs += 2 * layer.channels * ab + CTRL_FF + 3 * (ab + MUL_BITS)
    cost.add_luts("control", CTRL_LUT * lut_div)
    cost.buffer_bits = layer.features * layer.out_type.bits  # the output beat
    cost.ffs += cost.buffer_bits
    return cost


_STAGE_COSTS = {InputStage: _input, MVUStage: _mvu, GapJoinStage: _gap}


def estimate(graph: Graph, dev: Device, folding: Folding, power=None,
             activity: float | dict[str, float] | None = None, calibrated: bool = True
             ) -> Estimate:
    """Cycles, resources and power of `graph` on `dev` with `folding` (all estimates except the
    cycle counts, which the RTL matches exactly): the sum of the stages of its design bound to
    `dev` (`half.hw.design.bind`). `activity`: toggle rate of the logic (per stage name, or one
    for all; default the power model's reference rate). `calibrated` False: the raw model (the
    calibration's features)."""
    lut_div = LUT6_FACTOR if dev.lut_inputs == 6 else 1.0
    est = Estimate(dev.name, folding.clock_mhz, replicas=folding.replicas)
    for st in bind(graph, folding, dev).stages:
        if isinstance(st, ArgMaxStage):  # no LUT model of its own: its comparisons, one per
            est.stages[0].depth += st.depth  # class, count in the input's latency
        else:
            est.stages.append(_STAGE_COSTS[type(st)](st, dev, lut_div))
    _calibrate(est, dev, calibrated)
    # the fmax model is a calibration too (fitted on calibrated LUT totals)
    est.fmax_mhz = fmax_estimate(dev, folding, est.total("luts")) if calibrated else None
    if calibrated:
        est.calibrated, est.calibration_note = calibration_status(dev)
    else:
        est.calibration_note = (f"{dev.family} ({dev.power_family}): the raw cost model was "
                                "asked for (calibrated=False): uncalibrated LUT and FF counts, "
                                "no fmax estimate")
    est.logic_cells_ = est.logic_cells(dev)
    _power(est, dev, power, activity)
    return est


def utilization(totals: dict, dev: Device, margin: float = 0.85) -> float:
    """The largest share of a resource a design uses against what it may use, > 1 exactly when
    it does not fit: LUTs and FFs against `margin` of the part (room for routing; iCE40: the
    logic cells, `totals["logic_cells"]`, against LC_MARGIN), every DSP and BRAM. `totals` as
    `Estimate.resources` or predicted.json's `resources_estimate`."""
    def share(used: float, have: float) -> float:
        return used / have if have else (math.inf if used > 0 else 0.0)

    cells = totals.get("logic_cells")
    logic = (share(cells, LC_MARGIN * dev.luts) if cells is not None
             else share(totals["luts"], margin * dev.luts))
    return max(logic, share(totals["ffs"], margin * dev.ffs), share(totals["dsp"], dev.dsp.count),
               share(totals["bram"], dev.bram.count))


CALIBRATION = _calibration.PATH  # the installed calibration.json (package data)


@functools.cache
def calibration() -> dict:
    """Fitted coefficients per device family (`half.hw.calibration.load`, fitted by `half
    calibrate fit --install`): LUTs per LUT part of the model, FFs as a * model FFs + b per
    stage, the fmax model, iCE40's packing factor. Empty when calibration.json is missing (a
    broken install: the wheel ships it; `calibration_status` and every estimate say so); a
    malformed one is a DataError naming the file and the field."""
    if not CALIBRATION.is_file():
        return {}
    return _calibration.load(CALIBRATION)


def calibration_status(dev: Device) -> tuple[bool, str | None]:
    """(calibrated, note) of estimates on the device's family (`Device.power_family`): True
    when calibration.json holds the family's LUT and FF coefficients; else False and a one-line
    note naming the family and why (never fitted, or calibration.json missing). A calibrated
    family without an fmax model gets a note too."""
    family = f"{dev.family} ({dev.power_family})"
    if not calibration() and not CALIBRATION.is_file():  # (estimates run by the thousand)
        return False, (f"{family}: NOT calibrated: the cost model's calibration file "
                       f"{CALIBRATION} is missing (a broken install of half; reinstall it): "
                       "uncalibrated LUT and FF counts, no fmax estimate")
    cal = calibration().get(dev.power_family)
    if not cal:
        return False, (f"{family}: NOT calibrated: no fitted coefficients for this device "
                       f"family in {CALIBRATION.name} (uncalibrated LUT and FF counts, no "
                       "fmax estimate)")
    if not cal.get("fmax"):
        return True, f"{family}: no fmax calibration for this device family (no fmax estimate)"
    return True, None


def fmax_estimate(dev: Device, folding: Folding, luts: float = 0.0) -> float | None:
    """Estimated fmax (MHz) of the design on the device's family: the calibrated clock period
    a + b x adder-tree levels of the widest MAC stage + c x the design's share of the part's
    LUTs (`luts`; routing congestion), fitted on placed designs (`benchmarks/calibrate.py
    timing`; the MAC path is the critical one); None if the family has no fmax calibration.
    A stage with partial sums counts the levels of its longest register-to-register MAC path
    (`half.hw.design.mac_levels`): an ASSUMPTION; the placed pipelined designs so far ran
    faster than it estimates and are not among the fitted timing rows (docs/RESULTS.md)."""
    fm = calibration().get(dev.power_family, {}).get("fmax")
    if not fm:
        return None
    levels = max((mac_levels(s, folding.psums_of(name))
                  for name, (_, s) in folding.pe_simd.items()), default=0)
    return 1000.0 / (fm["period_ns"] + fm["ns_per_tree_level"] * levels
                     + fm.get("ns_per_lut_share", 0.0) * luts / dev.luts)


def _calibrate(est: Estimate, dev: Device, calibrated: bool = True) -> None:
    """Replace each stage's LUT and FF counts by the calibrated ones of the device's family
    (the raw model stays in `parts` and `raw_ffs`, the fit's features)."""
    for st in est.stages:
        st.raw_ffs = st.ffs
    cal = calibration().get(dev.power_family) if calibrated else None
    if not cal:
        return
    for st in est.stages:
        st.luts = sum(cal["lut"].get(k, 1.0) * v for k, v in st.parts.items())
        st.ffs = cal["ff"]["model_ffs"] * st.raw_ffs + cal["ff"]["per_stage"]
    est.packing = cal.get("packing") or 1.0


def _power(est: Estimate, dev: Device, power,
           activity: float | dict[str, float] | None = None) -> None:
    """Static power from the catalog; dynamic power from per-resource coefficients (µW per MHz
    at the family's reference toggle rate and supply, `half/hw/power.yaml`), scaled by
    (Vcore / Vref)^2 and activity / toggle_ref. Both are estimates."""
    est.static_mw = float(dev.static_power_mw or 0.0)
    if power is None:
        return
    c = {k: float(getattr(power, k) or 0.0) for k in ("lut", "ff", "bram", "dsp", "clock_per_ff")}
    volt = ((dev.vcc_core_v or power.vref_v) / power.vref_v) ** 2
    f = est.clock_mhz
    for s in est.stages:
        rate = activity.get(s.name) if isinstance(activity, dict) else activity
        act = 1.0 if rate is None else rate / power.toggle_ref
        uw_per_mhz = volt * (act * (s.luts * c["lut"] + s.ffs * c["ff"] + s.dsp * c["dsp"])
                             + s.bram * c["bram"])
        s.energy_uj = uw_per_mhz * 1e-6 * s.occupancy  # µW/MHz * 1e-6 = µJ per cycle
        est.energy_dyn_uj += s.energy_uj
        est.dynamic_mw_busy += uw_per_mhz * f * 1e-3
    # every replica busy at once; one inference's energy stays one pipeline's
    est.dynamic_mw_busy *= est.replicas
    est.clock_mw = volt * est.total("ffs") * c["clock_per_ff"] * f * 1e-3
