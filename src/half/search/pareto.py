# SPDX-License-Identifier: Apache-2.0
"""Pareto fronts and hypervolumes of minimization problems (the search's two objectives: error
and hardware cost), for reading a study and comparing NSGA-II with the random baseline."""

from __future__ import annotations

import math
from collections.abc import Sequence

from half.errors import ConfigError


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """a is no worse than b in every objective and better in one (minimization)."""
    return all(x <= y for x, y in zip(a, b, strict=True)) and any(
        x < y for x, y in zip(a, b, strict=True))


def pareto_front(points: Sequence[Sequence[float]]) -> list[int]:
    """Indices of the non-dominated points (the first of equal points only), in input order."""
    keep = []
    for i, p in enumerate(points):
        if any(dominates(q, p) for j, q in enumerate(points) if j != i):
            continue
        if any(list(points[j]) == list(p) for j in keep):
            continue
        keep.append(i)
    return keep


def hypervolume(points: Sequence[Sequence[float]], ref: Sequence[float]) -> float:
    """Volume dominated by `points` and bounded by the reference point `ref` (minimization);
    points not strictly better than `ref` in every objective add nothing. Exact: a sweep in
    two dimensions, slicing along the first objective above that."""
    d = len(ref)
    pts = [tuple(float(x) for x in p) for p in points]
    for p in pts:
        if len(p) != d:
            raise ConfigError("hypervolume", f"point {p} has {len(p)} objectives, ref has {d}")
        if any(math.isnan(x) for x in p):
            raise ConfigError("hypervolume", f"point {p} holds NaN")
    pts = [p for p in pts if all(x < r for x, r in zip(p, ref, strict=True))]
    return _hv([pts[i] for i in pareto_front(pts)], tuple(float(r) for r in ref))


def _hv(pts: list[tuple[float, ...]], ref: tuple[float, ...]) -> float:
    if not pts:
        return 0.0
    if len(ref) == 1:
        return ref[0] - min(p[0] for p in pts)
    if len(ref) == 2:
        total, best_y = 0.0, ref[1]
        for x, y in sorted(pts):
            if y < best_y:
                total += (ref[0] - x) * (best_y - y)
                best_y = y
        return total
    # slice along the first objective: between consecutive x values the dominated region's
    # cross-section is the hypervolume of the points with x at most the slice's start
    pts = sorted(pts)
    total = 0.0
    for k, p in enumerate(pts):
        x_next = pts[k + 1][0] if k + 1 < len(pts) else ref[0]
        if x_next > p[0]:
            rest = [q[1:] for q in pts[:k + 1]]
            total += (x_next - p[0]) * _hv([rest[i] for i in pareto_front(rest)], ref[1:])
    return total


def objective_points(records: Sequence[dict], log_cost: bool = True) -> list[tuple[float, float]]:
    """(error, cost) of feasible records, the cost as log10 when `log_cost` (hardware costs span
    orders of magnitude; a hypervolume in linear cost is dominated by the costliest designs)."""
    out = []
    for r in records:
        if not r.get("feasible") or r.get("cost") is None:
            continue
        cost = float(r["cost"])
        out.append((float(r["error"]), math.log10(cost) if log_cost else cost))
    return out


def reference_point(*record_sets: Sequence[dict], log_cost: bool = True,
                    margin: float = 0.1) -> tuple[float, float]:
    """A common reference point for comparing fronts: error 1 (a useless classifier) and the
    largest feasible cost of all the sets plus `margin` (a decade share in log scale, else a
    relative margin)."""
    costs = [p[1] for records in record_sets for p in objective_points(records, log_cost)]
    if not costs:
        return (1.0, 1.0)
    top = max(costs)
    return (1.0, top + margin if log_cost else top * (1 + margin) + 1e-300)


def compare(named: dict[str, Sequence[dict]], log_cost: bool = True,
            ref: Sequence[float] | None = None) -> dict:
    """Hypervolume of each named set of records (e.g. "nsga2", "random") against one common
    reference point, with their front sizes."""
    ref = tuple(ref) if ref is not None else reference_point(*named.values(), log_cost=log_cost)
    out = {"reference_point": list(ref), "log_cost": log_cost, "hypervolume": {},
           "front_size": {}, "feasible": {}}
    for name, records in named.items():
        pts = objective_points(records, log_cost)
        out["hypervolume"][name] = hypervolume(pts, ref)
        out["front_size"][name] = len(pareto_front(pts))
        out["feasible"][name] = len(pts)
    return out


__all__ = ["compare", "dominates", "hypervolume", "objective_points", "pareto_front",
           "reference_point"]
