# SPDX-License-Identifier: Apache-2.0
"""Switching activity measured in simulation, fed to the power model (`half power`).

The native harness is built a second time with Verilator's toggle coverage
(`--coverage-toggle`): every bit of every signal counts its 0->1 and 1->0 transitions while
real test windows stream through back to back (no stalls). The toggle rate of a stage is its
transitions per signal bit per cycle of its work (clock and reset excluded): transitions /
(bits x windows x the stage's busy cycles per window), so that rate x busy cycles is what one
inference switches. The cost model's dynamic power is then computed per stage at that rate instead
of the reference rate (12.5 %, the vendors' default). Both figures are estimates: the
coefficients are first-order and the RTL signals stand in for the mapped netlist's nets.
Instances are counted for the design stage they implement (`half.hw.design`: the decimator
`u_decimate` is the input stage's), the stages whose names the cost model's carry.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from half._io import write_json_atomic
from half.hw.cost import estimate
from half.hw.design import Folding, bind
from half.hw.devices import get_device
from half.hw.power import power_model

_ENTRY = re.compile(r"^C '(.*)' (\d+)$")
_SKIP = {"clk", "rst"}


def parse_toggles(path: Path) -> dict[str, tuple[int, int]]:
    """Verilator coverage file -> {instance path: (transitions, signal bits)}."""
    toggles: dict[str, int] = defaultdict(int)
    bits: dict[str, set] = defaultdict(set)
    for line in path.read_text(errors="replace").splitlines():
        m = _ENTRY.match(line)
        if not m:
            continue
        fields = dict(kv.split("\x02", 1) for kv in m.group(1).split("\x01") if "\x02" in kv)
        if fields.get("t") != "toggle":
            continue
        signal = fields.get("o", "").rsplit(":", 1)[0]  # "name[3]:0->1" -> "name[3]"
        if signal.split("[")[0] in _SKIP:
            continue
        inst = fields.get("h", "")
        toggles[inst] += int(m.group(2))
        bits[inst].add(signal)
    return {inst: (toggles[inst], len(bits[inst])) for inst in toggles}


def measure(project: Path, windows: int = 100, seed: int = 0,
            data_dir: Path | None = None) -> dict:
    """Toggle rates per stage on `windows` real windows, and the power estimate at those rates
    beside the one at the reference rate. Written to PROJECT/reports/power.json."""
    from half.flow.verify import _simulate, prepare

    project = Path(project).resolve()
    run = prepare(project, windows, seed, data_dir, idle=0.0, stall=0.0)
    cov = project / "sim" / "coverage.dat"
    cov.unlink(missing_ok=True)
    res = _simulate(project, run.case, coverage=cov)
    cycles = res["cycles"]
    per_inst = parse_toggles(cov)
    rates, detail = {}, {}
    dev = get_device(run.src["device"])
    # the project's design (bound again from its IR: a design.json of any age will do)
    design = bind(run.graph, Folding.from_dict(run.design["folding"]), dev)
    groups: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for st in design.chain:  # the instance u_<instance> of the design's stage <name>
        for inst, tb in per_inst.items():
            if inst.endswith(f".u_{st.instance}"):
                groups[st.name].append(tb)
    busy = {s.name: s.occupancy for s in run.est.stages}
    n = len(run.xq)
    for name, pairs in groups.items():
        # with R replicas the bits are R instances' and each took n / R of the windows
        t, b = sum(p[0] for p in pairs), sum(p[1] for p in pairs)
        rates[name] = t * design.replicas / max(1, b * n * busy.get(name, cycles / n))
        detail[name] = {"transitions": t, "signal_bits": b, "toggle_rate": round(rates[name], 5)}
    notes: list[str] = []
    power = power_model(dev, notes)
    rate = run.src.get("rate")
    ref = estimate(run.graph, dev, design.folding, power)
    act = estimate(run.graph, dev, design.folding, power, activity=rates)
    all_t = sum(d["transitions"] for d in detail.values())
    all_b = sum(d["signal_bits"] for d in detail.values())
    out = {
        "project": str(project), "windows": len(run.xq), "cycles": cycles,
        "toggle_rate_mean_all_cycles": round(all_t / max(1, all_b * cycles), 5),
        "toggle_rate_reference": power.toggle_ref, "stages": detail,
        "estimate_reference_toggle": _power_figures(ref, rate),
        "estimate_measured_toggle": _power_figures(act, rate),
        "notes": ["power figures are estimates: first-order per-resource coefficients; toggle "
                  "rates are of the RTL's signals in Verilator, not of the mapped netlist",
                  *notes],
    }
    write_json_atomic(project / "reports" / "power.json", out)
    return out


def _power_figures(est, rate: float | None) -> dict:
    d = est.to_dict(rate)
    return {"power_estimate_mw": d["power_estimate_mw"],
            "energy_estimate_uj": d["energy_estimate_uj"],
            "dynamic_energy_estimate_uj": est.energy_dyn_uj}
