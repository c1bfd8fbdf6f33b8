# SPDX-License-Identifier: Apache-2.0
"""Folding per design goal: per-layer parallelism (PE, SIMD) and the clock.

All three goals share one building block, `fold_for_ii(graph, target)`: every MAC stage gets the
least parallelism (fewest PE x SIMD lanes, then fewest PE) whose cycles meet the target
initiation interval — so no stage holds resources it does not need (a balanced pipeline).

* high-throughput: for every target II, the balanced design that fits, run at the fastest
  clock of the grid its estimated fmax allows (an fmax does not depend on the clock asked
  for); the design of highest throughput. A large design at a slower clock can beat a smaller
  one at a faster clock: routing congestion lowers a large design's fmax. Each balanced design
  is also tried as R = 2 .. MAX_REPLICAS replicas (`Folding.replicas`: R pipelines side by
  side, R windows per II) while they fit, each at its own fastest clock (R copies lower the
  fmax estimate): what raises throughput once one pipeline is bound by its input, one sample
  a cycle (II = window length). Each balanced design is also tried pipelined (`pipelined`:
  every MAC stage of SIMD >= PIPELINE_MIN_SIMD sums its lanes in P groups into registers
  before the accumulator, `Folding.psums`, P the fewest adder levels on the MAC path), with
  its replicas, each at its own fastest clock: one cycle more of latency per such stage, more
  FFs, a higher fmax estimate; the variant is kept only where its throughput is higher.
  Where the model decimates its input, the balanced designs of the II targets below the
  window are also tried with N > 1 samples per input beat (`Folding.samples_per_beat`, every
  legal N: `half.hw.design.beat_options`), which lets II fall to window / N; N = 1 is tried
  first, so a tie keeps one sample per beat (fewer input pins).
* low-power: for each clock of the device's grid, every balanced design that meets the required
  rate at that clock; the (clock, folding) of least average power at that rate (always on).
* low-energy: energy of one inference on a duty-cycled device (static and clock power over the
  latency, plus dynamic energy; `Estimate.energy_uj`). Per clock, a greedy descent from the
  least parallel design: repeatedly take the one-layer parallelism step of least energy while
  the design fits, keeping the best seen; the balanced designs of every target II are candidates
  too. The best (clock, folding) that meets the rate.

What a goal scores and which of these searches it runs are its `half.hw.goal.Goal` (`score`,
`needs_rate`, `fastest_clock`, `energy_descent`, `replicate`, `pipeline`, `wide_input`). The
other goals keep one pipeline without partial sums, one sample per beat: more replicas add
static and clock-tree power and do not lower a window's dynamic energy (`half.hw.cost`), partial
sums add FFs and latency for a clock those goals do not need, and their windows come in real
time, one sample at a time.

`set_folding` is the published FINN rule for comparison (per layer raise SIMD, then PE, until
the layer meets the target cycles).
"""

from __future__ import annotations

import dataclasses
import math
import time

from half.errors import ConfigError
from half.hw.cost import Estimate, estimate
from half.hw.design import (
    Folding,
    GapJoinStage,
    beat_options,
    bind,
    cycles_of,
    divisors,
    mac_levels,
    options,
)
from half.hw.devices import Device
from half.hw.goal import GOALS as GOALS  # re-exported: the goals by name, in this order
from half.hw.goal import Goal, get_goal
from half.hw.ir import Conv, Dense, Graph

# Clocks a design may ask for (MHz): what a PLL or divider commonly gives from 12/25/100 MHz.
CLOCK_GRID = (1, 2, 3, 4, 6, 8, 12, 16, 20, 24, 25, 32, 40, 48, 50, 64, 75, 100, 125, 150, 200)
MAX_TARGETS = 48  # distinct II targets tried per clock (thinned evenly by rank)
FMAX_MARGIN = 0.9  # clocks up to this share of the calibrated fmax (its spread across designs)
# most replicas the folder tries: each lane is an input stream the system must feed (its own
# pins and a source of windows) and costs a copy in simulation; the lever matters where one
# pipeline is input-bound, and a few copies of it already fill most parts the designs fit
MAX_REPLICAS = 4
# MAC stages from this SIMD get partial sums in a pipelined design (`pipelined`); below it a
# register level saves (by `mac_levels`) no adder level
PIPELINE_MIN_SIMD = 4


def required_rate(task: str, params: dict) -> float:
    """Default real-time rate (inferences/s): a beat at up to 250 bpm (mitdb-aami); one window
    per window length (cinc2017-af)."""
    if task == "mitdb-aami":
        return 250 / 60
    if task == "cinc2017-af":
        return float(params.get("fs", 300.0)) / float(params.get("window", 9000))
    raise ConfigError("task", f"no default required rate for {task}")


def _choices(layer: Conv | Dense) -> list[tuple[int, int, int]]:
    """(lanes, pe, simd) sorted by lanes, then fewer PE."""
    pes, simds = options(layer)
    return sorted((p * s, p, s) for p in pes for s in simds)


def fold_for_ii(graph: Graph, target: int, clock_mhz: float, samples_per_beat: int = 1
                ) -> Folding | None:
    """Least parallelism per MAC stage whose cycles per window meet `target`; None if a stage
    cannot reach it even fully parallel. The input takes `samples_per_beat` samples a beat."""
    pe_simd = {}
    for layer in graph.mac_layers():
        for _, p, s in _choices(layer):
            if cycles_of(layer, p, s) <= target:
                pe_simd[layer.name] = (p, s)
                break
        else:
            return None
    return Folding(pe_simd, clock_mhz, samples_per_beat=samples_per_beat)


def best_psums(simd: int) -> int:
    """The partial sums P (a divisor of `simd`) of fewest adder levels on the MAC path
    (`half.hw.design.mac_levels`), the smaller P on ties."""
    return min(divisors(simd), key=lambda d: (mac_levels(simd, d), d))


def pipelined(folding: Folding) -> Folding:
    """`folding` with partial sums (`best_psums`) on every MAC stage of SIMD >=
    PIPELINE_MIN_SIMD; the others unchanged."""
    psums = {name: best_psums(s) for name, (_, s) in folding.pe_simd.items()
             if s >= PIPELINE_MIN_SIMD}
    return dataclasses.replace(folding, psums=psums)


def _targets(graph: Graph, samples_per_beat: int = 1, below: int | None = None) -> list[int]:
    """Candidate II values (descending): every cycle count a MAC stage can have, at least the
    fixed stages' (input at `samples_per_beat` samples a beat, pooling) cycles and below
    `below` (None: no bound), thinned to MAX_TARGETS."""
    values = set()
    for layer in graph.mac_layers():
        values |= {cycles_of(layer, p, s) for _, p, s in _choices(layer)}
    fixed = _fixed_cycles(graph, samples_per_beat)
    if below is not None and fixed >= below:
        return []
    ordered = sorted((v for v in values if v >= fixed and (below is None or v < below)),
                     reverse=True)
    if fixed not in ordered:
        ordered.append(fixed)
    if len(ordered) > MAX_TARGETS:
        idx = sorted({round(i * (len(ordered) - 1) / (MAX_TARGETS - 1))
                      for i in range(MAX_TARGETS)})
        ordered = [ordered[i] for i in idx]
    return ordered


def _fixed_cycles(graph: Graph, samples_per_beat: int = 1) -> int:
    """Cycles of the stages folding cannot change: the input's (at `samples_per_beat` samples a
    beat), and a global pool's input length (its stage takes at least that; the design's
    stages say which there are)."""
    stages = bind(graph, Folding({}, 1.0, samples_per_beat=samples_per_beat)).stages
    cycles = stages[0].cycles
    for st in stages:
        if isinstance(st, GapJoinStage):
            cycles = max(cycles, st.layer.length_in)
    return cycles


def _clocks(dev: Device) -> list[float]:
    """The clock grid up to the device's ceiling (the catalog's practical maximum); a design
    also needs its clock within FMAX_MARGIN of its estimated fmax (`fold`)."""
    top = dev.clock_max_mhz or dev.clock_typical_mhz
    if not top:
        raise ConfigError("device", f"{dev.name} has no clock figures in the catalog")
    typical = dev.clock_typical_mhz if dev.clock_typical_mhz and dev.clock_typical_mhz <= top \
        else top
    return sorted({float(c) for c in CLOCK_GRID if c <= top} | {float(top), float(typical)})


def fold(graph: Graph, dev: Device, goal: str | Goal, rate: float | None = None, power=None
         ) -> tuple[Folding, Estimate, dict]:
    """(folding, its estimate, search info) for `goal` (a Goal or its name) on `dev`; `rate`
    is the required inferences/s (goals that `needs_rate` must meet it; the others ignore it)."""
    goal = get_goal(goal)
    if goal.needs_rate and (not rate or rate <= 0):
        raise ConfigError("rate", f"{goal.name} needs a positive required rate")
    t0 = time.perf_counter()
    targets = _targets(graph)
    clocks = _clocks(dev)
    def candidates():
        if goal.fastest_clock:  # each design at the fastest clock its fmax allows
            yield from _fastest(graph, dev, clocks, targets, power, goal.replicate,
                                goal.pipeline)
            if goal.wide_input:  # then N > 1 samples a beat: the II targets below the window
                narrow = _fixed_cycles(graph)  # the least II of one sample a beat
                for n in beat_options(graph)[1:]:
                    yield from _fastest(graph, dev, clocks, _targets(graph, n, below=narrow),
                                        power, goal.replicate, goal.pipeline, n)
            return
        for clock in clocks:  # only targets that leave the required rate possible
            usable = [t for t in targets if t <= math.floor(clock * 1e6 / rate)]
            yield from _balanced(graph, dev, clock, usable, power)
            if goal.energy_descent:
                yield from _descend_energy(graph, dev, clock, power)

    best: tuple[float, Folding, Estimate] | None = None
    tried = 0
    for f, est in candidates():
        tried += 1
        if goal.needs_rate and est.throughput < rate:
            continue
        if est.fmax_mhz and f.clock_mhz > FMAX_MARGIN * est.fmax_mhz:  # would not close timing
            continue
        score = goal.score(est, rate)
        if best is None or score < best[0]:
            best = (score, f, est)
    if best is None:
        raise ConfigError("device", f"no folding of this network fits {dev.name}"
                          + (f" at {rate:.3g} inferences/s" if rate and goal.needs_rate
                             else ""))
    info = {"goal": goal.name, "required_rate_per_s": rate, "candidates": tried,
            "seconds": round(time.perf_counter() - t0, 4)}
    return best[1], best[2], info


def _balanced(graph: Graph, dev: Device, clock: float, targets: list[int], power,
              samples_per_beat: int = 1):
    """(folding, estimate) of the balanced design of every target II that fits the device
    (the input at `samples_per_beat` samples a beat)."""
    for target in targets:
        f = fold_for_ii(graph, target, clock, samples_per_beat)
        if f is not None:
            est = estimate(graph, dev, f, power)
            if est.fits(dev):
                yield f, est


def _fastest(graph: Graph, dev: Device, clocks: list[float], targets: list[int], power,
             replicate: bool = False, pipeline: bool = False, samples_per_beat: int = 1):
    """(folding, estimate) of the balanced design of every target II that fits the device, at
    the fastest clock of `clocks` within FMAX_MARGIN of its estimated fmax (the resources and
    the fmax estimate do not depend on the clock); with `pipeline`, also each one `pipelined`
    (after it: on equal throughput the folder keeps the first); with `replicate`, also each
    one's 2 .. MAX_REPLICAS replicas that fit (fewer copies of it fit when more do not). The
    input takes `samples_per_beat` samples a beat."""
    for base, base_est in _balanced(graph, dev, clocks[-1], targets, power, samples_per_beat):
        variants = [(base, base_est)]
        if pipeline and (piped := pipelined(base)).psums:
            est = estimate(graph, dev, piped, power)
            if est.fits(dev):
                variants.append((piped, est))
        for f, est in variants:
            for r in range(1, MAX_REPLICAS + 1 if replicate else 2):
                if r > 1:
                    f = dataclasses.replace(f, clock_mhz=clocks[-1], replicas=r)
                    est = estimate(graph, dev, f, power)
                    if not est.fits(dev):
                        break
                ok = [c for c in clocks if not est.fmax_mhz or c <= FMAX_MARGIN * est.fmax_mhz]
                if not ok:
                    break
                if ok[-1] != clocks[-1]:
                    f = dataclasses.replace(f, clock_mhz=ok[-1])
                    est = estimate(graph, dev, f, power)
                yield f, est


def _descend_energy(graph: Graph, dev: Device, clock: float, power
                    ) -> list[tuple[Folding, Estimate]]:
    """The designs of a greedy energy descent at one clock (see module doc): from the least
    parallel design, repeatedly the one-layer parallelism step of least energy that still
    fits, past local bumps, until no step fits."""
    layers = {x.name: x for x in graph.mac_layers()}
    steps = {name: _choices(x) for name, x in layers.items()}
    cur = Folding({name: (1, 1) for name in layers}, clock)
    est = estimate(graph, dev, cur, power)
    path = [(cur, est)] if est.fits(dev) else []
    while True:
        step = None
        for name, layer in layers.items():
            p, s = cur.pe_simd[name]
            now = cycles_of(layer, p, s)
            nxt = next(((pp, ss) for _, pp, ss in steps[name]
                        if cycles_of(layer, pp, ss) < now), None)
            if nxt is None:
                continue
            cand = Folding({**cur.pe_simd, name: nxt}, clock)
            e = estimate(graph, dev, cand, power)
            if e.fits(dev) and (step is None or e.energy_uj() < step[1].energy_uj()):
                step = (cand, e)
        if step is None:  # nothing fits any more, or every layer is fully parallel
            return path
        cur = step[0]
        path.append(step)


def set_folding(graph: Graph, target_cycles: int, clock_mhz: float) -> Folding:
    """FINN's SetFolding rule: per MAC layer raise SIMD, then PE, through their divisors until
    the layer's cycles meet `target_cycles` (or it is fully parallel)."""
    pe_simd = {}
    for layer in graph.mac_layers():
        pes, simds = options(layer)
        p, s = 1, 1
        for s in simds:
            if cycles_of(layer, p, s) <= target_cycles:
                break
        if cycles_of(layer, p, s) > target_cycles:
            for p in pes:
                if cycles_of(layer, p, s) <= target_cycles:
                    break
        pe_simd[layer.name] = (p, s)
    return Folding(pe_simd, clock_mhz)
