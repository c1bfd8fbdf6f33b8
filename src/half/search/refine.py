# SPDX-License-Identifier: Apache-2.0
"""Refinement around the reference: its cheaper one-step neighbours in the search space.

    picks, summary = cheaper_neighbours(spec, ref_arch, space, data, k=4)

`half run` asks for the cheapest design at least as good as the reference (default the task's
preset:tiny). The evolutionary search explores the whole space at a cheap fidelity, and that
fidelity ranks small networks above their worth (docs/RESULTS.md, "Search fidelity"), so its
fronts are thin between very small designs and the reference. The refinement is a local search
step from the other end: it starts at the reference, known to be good, and looks one step away.
This module holds its rule (the one place it is written; the CLI help and the docs point here):
- every single-gene move of the reference's genome to an adjacent choice (`one_step_genomes`:
  one more or one fewer block, a channel step, kernel, stride, pool, bit width, decimation, a
  dense layer; the two-valued `kind` and `head` genes to their other value);
- each decoded and, unless the spec's precheck is "off", checked by the bits pre-check; then
  folded untrained for the spec's goal and device (the cost model's estimate, as the search's
  export pre-check folds); a neighbour that cannot be lowered or folded is counted and left out;
- kept when it fits, meets the rate and costs at most `SHARE` times the reference's own
  untrained estimate (issue 14's "clearly cheaper": cost <= 0.8x the reference's);
- ranked closest to the reference first: most parameters, then most MACs, then the highest
  cost (the smallest step down).

`half run`'s `refine` stage re-evaluates the first `k` not already on the front beside it, under
the reference's own protocol (seeds, folds, epochs), so the paired floor compares like with
like. The neighbours are never trained at the search's fidelity.
"""

from __future__ import annotations

import dataclasses

from half.errors import ConfigError, HalfError
from half.nn.space import Space

SHARE = 0.8  # a neighbour must cost at most this share of the reference ("clearly cheaper")


def one_step_genomes(genome: list[int], space: Space) -> list[tuple[str, list[int]]]:
    """(move, genome) for every single-gene move of `genome` to an adjacent choice index."""
    out = []
    for i, (name, n) in enumerate(space.genes()):
        for step in (-1, 1):
            j = genome[i] + step
            if 0 <= j < n:
                g = list(genome)
                g[i] = j
                out.append((f"{name} {'-' if step < 0 else '+'}1", g))
    return out


def _usable_cost(hw: dict) -> float | None:
    """The cost of a folded design that fits and meets the rate, else None."""
    if hw.get("cost") is None or hw.get("fits", 0) > 0 or hw.get("rate", 0) > 0:
        return None
    return float(hw["cost"])


def cheaper_neighbours(spec, arch, space: Space, data, *, k: int, share: float = SHARE,
                       exclude: set[str] | frozenset[str] = frozenset()
                       ) -> tuple[list[dict], dict]:
    """(the first `k` ranked neighbour records whose hash is not in `exclude`; a summary of
    every neighbour considered) of the reference `arch`. A record holds what the re-evaluation
    and the choice read of a front design: arch_hash, genome, arch, params, macs, the estimated
    `cost` (and `error` None: never trained at the search's fidelity), plus `move`.
    ConfigError when the reference cannot be refined: the space cannot express it, or it does
    not fit the device or meet the rate (the caller skips the refinement and says why)."""
    from half.search.evaluate import decode, hardware_of, static_check, untrained_graph
    from half.search.seeds import seed_genome

    spec = spec.resolved()
    if not 0 < share <= 1:
        raise ConfigError("refine_share", f"must lie in (0, 1], got {share}")
    genome = seed_genome(arch, spec, space)
    ref = dataclasses.replace(arch, per_channel=spec.per_channel)
    ref_cost = _usable_cost(hardware_of(untrained_graph(ref, data, spec), spec))
    if ref_cost is None:
        raise ConfigError("arch", f"does not fit {spec.device} or meet the rate, so no "
                                  "neighbour can be cheaper at its level")
    seen = {ref.arch_hash()}
    rows: list[dict] = []
    counts = {"moves": 0, "same_network": 0, "invalid": 0, "no_fit": 0, "unbuildable": 0,
              "not_cheaper": 0, "cheaper": 0}
    for move, g in one_step_genomes(genome, space):
        counts["moves"] += 1
        failed = static_check(spec, g, space)
        if failed is not None:
            counts["invalid" if failed["status"] == "invalid" else "no_fit"] += 1
            continue
        cand = decode(spec, g, space)
        hash_ = cand.arch_hash()
        if hash_ in seen:  # an inactive gene (a block past n_blocks): the same network
            counts["same_network"] += 1
            continue
        seen.add(hash_)
        try:  # as the search's pre-check: a design that cannot be built is left out
            cost = _usable_cost(hardware_of(untrained_graph(cand, data, spec), spec))
        except HalfError:
            counts["unbuildable"] += 1
            continue
        if cost is None:
            counts["no_fit"] += 1
            continue
        if cost > share * ref_cost:
            counts["not_cheaper"] += 1
            continue
        counts["cheaper"] += 1
        rows.append({"arch_hash": hash_, "genome": [int(x) for x in g], "arch": cand.to_dict(),
                     "params": cand.params(), "macs": cand.macs(), "move": move,
                     "cost": cost, "cost_share": cost / ref_cost, "error": None})
    rows.sort(key=lambda r: (-r["params"], -r["macs"], -r["cost"], r["arch_hash"]))
    picks = [r for r in rows if r["arch_hash"] not in exclude][:k]
    summary = {"reference_cost_estimate": ref_cost, "share": share, "k": k, **counts,
               "excluded": sorted(r["arch_hash"] for r in rows if r["arch_hash"] in exclude),
               "ranked": [{key: r[key] for key in ("arch_hash", "move", "params", "macs",
                                                   "cost", "cost_share")} for r in rows]}
    return picks, summary


__all__ = ["SHARE", "cheaper_neighbours", "one_step_genomes"]
