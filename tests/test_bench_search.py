# SPDX-License-Identifier: Apache-2.0
"""benchmarks/bench_search.py's tables on synthetic records: the goals' cross table (best per
column, each goal on its own metric, distinct designs) and hypervolumes against a common
reference point."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_search.py"
spec = importlib.util.spec_from_file_location("bench_search", PATH)
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def _rec(goal: str, arch: str, clock: float, energy: float, power: float, per_s: float,
         device: str = "up5k") -> dict:
    folding = {"clock_mhz": clock, "layers": {"conv1": {"pe": 1, "simd": 2}}}
    return {"goal": goal, "device": device,
            "design": {"arch_hash": arch, "folding": folding, "clock_mhz": clock},
            "estimate": {"energy_uj": energy, "power_mw": power, "per_s": per_s,
                         "rate_per_s": 4.17}}


def test_cross_table_best_per_column_and_own_metric():
    recs = [_rec("low-energy", "a", 24, 1.0, 0.9, 5000),
            _rec("low-power", "a", 1, 2.0, 0.2, 200),
            _rec("high-throughput", "b", 24, 1.5, 1.1, 4000),  # slower than low-energy's
            _rec("high-throughput", "c", 100, 9.0, 9.0, 1e6, device="ecp5-85k")]
    c = bench.cross(recs, "up5k")
    assert [r["goal"] for r in c["rows"]] == ["low-energy", "low-power", "high-throughput"]
    assert c["best"] == {"energy_uj": 1.0, "power_mw": 0.2, "per_s": 5000}
    assert c["own_best"] == {"low-energy": True, "low-power": True, "high-throughput": False}
    assert (c["distinct_architectures"], c["distinct_designs"]) == (2, 3)
    table = bench.cross_table(recs, "up5k")
    assert "**1** (best)" in table and "**0.2** (best)" in table and "**5,000** (best)" in table
    assert "high-throughput design best on its own metric (inferences/s): no (4000 vs " \
           "best 5000)" in table
    assert "ecp5" not in table.split("\n\n")[0]


def test_same_design_for_every_goal_is_one_design():
    recs = [_rec(g, "a", 24, 1.0, 1.0, 10) for g in bench.GOALS]
    c = bench.cross(recs, "up5k")
    assert all(c["own_best"].values())  # ties are best
    assert (c["distinct_architectures"], c["distinct_designs"]) == (1, 1)


def test_hypervolumes_share_one_reference_point():
    rows = [{"seed": 0, "sampler": "nsga2", "population": 2,
             "points": [[0.5, 10.0, True], [1.0, None, False], [0.3, 100.0, True]]},
            {"seed": 0, "sampler": "random", "population": 2,
             "points": [[0.6, 1000.0, True], [0.9, 1.0, False]]}]
    rows = bench.hv_annotate(rows)
    assert rows[0]["reference_point"] == rows[1]["reference_point"] == [1.0, pytest.approx(3.1)]
    # log10 costs 1 and 2 against (1, 3.1): 0.5 * 2.1 + (0.5 - 0.3) * 1.1
    assert rows[0]["hypervolume"] == pytest.approx(0.5 * 2.1 + 0.2 * 1.1)
    assert rows[0]["hv_by_trials"] == {"2": pytest.approx(0.5 * 2.1),
                                       "3": rows[0]["hypervolume"]}
    assert rows[1]["hypervolume"] == pytest.approx(0.4 * 0.1)
    assert (rows[0]["front_size"], rows[1]["feasible"]) == (2, 1)
