# SPDX-License-Identifier: Apache-2.0
"""Energy per window on each platform, and the table that sets the platforms side by side
(bench_baseline.py's `table`); bench_gpu.py's rows are read from their results file only.

CPU energy, per timed loop of bench_baseline (one figure per run record, field energy_uj):
  measured  the Linux powercap RAPL counters of the packages (/sys/class/powercap/intel-rapl:N/
            energy_uj, µJ, wrapping at max_energy_range_uj), read just before and just after
            the timed loop, when readable (root only on most kernels): the whole package's
            energy, idle cores and other processes included, over the windows timed;
  estimate  otherwise: P = threads / package cores x TDP (the share of the package's thermal
            design power that the loop's busy cores would draw at full load), times the measured
            time per window (1 / windows per s). The TDP comes from `--cpu-tdp-w` or from
            TDP_TABLE by the /proc/cpuinfo model name; the package's cores from
            `--cpu-package-cores`, the table, or /proc/cpuinfo's "cpu cores" (not under a
            hypervisor: a guest sees its own vCPUs there, not the package's cores). An upper
            bound of sorts for a loaded core, blind to frequency, idle and uncore power.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

POWERCAP = Path("/sys/class/powercap")
MEASURED_RAPL = "measured (RAPL package counters: whole package, other processes included)"
ESTIMATE_TDP = "estimate (threads / package cores x TDP x time per window)"
NOT_ESTIMATED = "not estimated (no RAPL counters readable, no TDP known)"
ORT_TIME = "measured (onnxruntime, perf_counter_ns)"

# Thermal design power (W) and cores of one package, keyed by the tokens of the /proc/cpuinfo
# model name that name the part. Sources:
#  [amd-9004] AMD EPYC 9004 series specifications, "Default TDP" and "# of CPU Cores" of each
#     part's page on amd.com (Products > Processors > Server > EPYC > 4th Generation), as
#     tabulated at https://www.hpctech.co.jp/product/amd-epyc-9004-series/
#  [amd-7003] AMD EPYC 7003 launch specifications (amd.com product page of the part, "Default
#     TDP"; max cTDP in the launch table at https://techgage.com/article/amd-epyc-milan-launch-
#     performance/)
#  [intel-ark] Intel ARK, "Intel Xeon Platinum 8480+ Processor" specifications page (TDP 350 W,
#     56 cores)
TDP_TABLE: dict[tuple[str, ...], tuple[float, int, str]] = {
    ("EPYC", "9754"): (360.0, 128, "amd-9004"),
    ("EPYC", "9654"): (360.0, 96, "amd-9004"),
    ("EPYC", "9654P"): (360.0, 96, "amd-9004"),
    ("EPYC", "9634"): (290.0, 84, "amd-9004"),
    ("EPYC", "9554"): (360.0, 64, "amd-9004"),
    ("EPYC", "9534"): (280.0, 64, "amd-9004"),
    ("EPYC", "9354"): (280.0, 32, "amd-9004"),
    ("EPYC", "9334"): (210.0, 32, "amd-9004"),
    ("EPYC", "9254"): (200.0, 24, "amd-9004"),
    ("EPYC", "7763"): (280.0, 64, "amd-7003"),
    ("Platinum", "8480+"): (350.0, 56, "intel-ark"),
}


def _errors():
    from half.errors import ConfigError

    return ConfigError


def is_measured(label: str | None) -> bool:
    return bool(label) and label.startswith("measured")


# -- RAPL --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rapl:
    """The package domains of the powercap RAPL driver (intel-rapl:N, whose energy_uj counts
    the whole package; the subdomains intel-rapl:N:M are parts of it and left out)."""

    names: tuple[str, ...]  # the domains' `name` files, e.g. package-0
    files: tuple[Path, ...]  # their energy_uj
    max_uj: tuple[int, ...]  # their max_energy_range_uj: where the counter wraps to 0

    def read(self) -> tuple[int, ...]:
        return tuple(int(f.read_text()) for f in self.files)

    def delta_uj(self, before: tuple[int, ...], after: tuple[int, ...]) -> int:
        """µJ between two readings, summed over the packages; a counter that went down wrapped
        once (a loop shorter than a wrap period: minutes at a package's full power)."""
        return sum(a - b if a >= b else a + m - b
                   for b, a, m in zip(before, after, self.max_uj, strict=True))


def find_rapl(root: Path = POWERCAP) -> Rapl | None:
    """The package domains under `root` whose counters this process can read, or None."""
    doms = sorted(p for p in root.glob("intel-rapl:*") if p.name.count(":") == 1)
    names, files, maxes = [], [], []
    for d in doms:
        try:
            int((d / "energy_uj").read_text())
            maxes.append(int((d / "max_energy_range_uj").read_text()))
            name = (d / "name").read_text().strip() if (d / "name").is_file() else d.name
        except (OSError, ValueError):  # unreadable (root only) or not a counter
            return None
        names.append(name)
        files.append(d / "energy_uj")
    return Rapl(tuple(names), tuple(files), tuple(maxes)) if files else None


# -- where the CPU's energy comes from ---------------------------------------------------------
def tdp_lookup(model: str | None) -> tuple[float, int, str] | None:
    """(TDP W, package cores, source) of the part the model name names, or None."""
    tokens = (model or "").split()
    for key, value in TDP_TABLE.items():
        if any(tuple(tokens[i:i + len(key)]) == key for i in range(len(tokens))):
            return value
    return None


def _cpuinfo() -> tuple[int | None, bool]:
    """(/proc/cpuinfo's "cpu cores" of the first package, whether a hypervisor is flagged)."""
    cores, hyper = None, False
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, val = line.partition(":")
            if key.strip() == "cpu cores" and cores is None:
                cores = int(val)
            elif key.strip() == "flags":
                hyper = hyper or "hypervisor" in val.split()
    except (OSError, ValueError):
        pass
    return cores, hyper


def energy_source(model: str | None, tdp_w: float | None = None, cores: int | None = None,
                  required: bool = True, root: Path = POWERCAP) -> dict:
    """How the CPU's energy is had: RAPL when readable, else the TDP-share estimate. Without
    either, a ConfigError naming --cpu-tdp-w when `required`, else a source that says so."""
    ConfigError = _errors()
    rapl = find_rapl(root)
    if rapl is not None:
        return {"kind": "rapl", "label": MEASURED_RAPL, "domains": list(rapl.names),
                "files": [str(f) for f in rapl.files], "max_uj": list(rapl.max_uj)}
    known = tdp_lookup(model)
    where = f"{root} has no readable RAPL counters"
    if tdp_w is None and known is None:
        why = (f"{where}, and the CPU {model!r} is not in the TDP table (benchmarks/"
               "platforms.py): give --cpu-tdp-w W (its datasheet's TDP) and "
               "--cpu-package-cores N")
        if required:
            raise ConfigError("cpu-tdp-w", why)
        return {"kind": "none", "label": NOT_ESTIMATED, "reason": why}
    if tdp_w is not None:
        tdp_from = ("--cpu-tdp-w" + ("" if known else f" (the CPU {model!r} is not in the "
                                      "TDP table)"))
    else:
        tdp_w, tdp_from = known[0], f"TDP table [{known[2]}] for {model!r}"
    if cores is not None:
        cores_from = "--cpu-package-cores"
    elif known is not None:
        cores, cores_from = known[1], f"TDP table [{known[2]}]"
    else:
        cores, hyper = _cpuinfo()
        if hyper or cores is None:
            raise ConfigError("cpu-package-cores", "give the cores of the package the TDP is "
                              "for: /proc/cpuinfo " + ("flags a hypervisor (its 'cpu cores' "
                                                       "are the guest's)" if hyper else
                                                       "has no 'cpu cores'"))
        cores_from = "/proc/cpuinfo 'cpu cores'"
    if tdp_w <= 0 or cores < 1:
        raise ConfigError("cpu-tdp-w", f"TDP {tdp_w} W over {cores} cores: both must be "
                          "positive")
    return {"kind": "tdp", "label": ESTIMATE_TDP, "reason": where, "tdp_w": float(tdp_w),
            "tdp_from": tdp_from, "package_cores": int(cores), "cores_from": cores_from}


def meter(source: dict | None) -> Rapl | None:
    """The counters to read around a timed loop (None: nothing to read)."""
    if not source or source["kind"] != "rapl":
        return None
    return Rapl(tuple(source["domains"]), tuple(Path(f) for f in source["files"]),
                tuple(source["max_uj"]))


def cpu_energy(run: dict, source: dict | None) -> dict:
    """µJ per window of one timed run (its per_s, threads, windows_timed and, measured, its
    rapl_uj), labelled measured or estimate."""
    fig = {"unit": "µJ/window"}
    if source is None or source["kind"] == "none":
        return {**fig, "value": None, "label": NOT_ESTIMATED,
                "how": (source or {}).get("reason", "no energy source")}
    if source["kind"] == "rapl":
        n = run["windows_timed"]
        return {**fig, "value": run["rapl_uj"] / n, "label": source["label"],
                "how": f"{run['rapl_uj']:,} µJ over {n} windows, RAPL "
                       f"{'+'.join(source['domains'])}"}
    share = min(run["threads"], source["package_cores"]) / source["package_cores"]
    watts = share * source["tdp_w"]
    us = 1e6 / run["per_s"]
    return {**fig, "value": watts * us, "label": source["label"],
            "how": f"{run['threads']} thread(s) / {source['package_cores']} cores "
                   f"({source['cores_from']}) x {source['tdp_w']:g} W TDP ({source['tdp_from']})"
                   f" = {watts:.3g} W, x {us:.4g} µs per window; {source['reason']}"}


# -- the platforms side by side ----------------------------------------------------------------
def _entry(platform: str, batch, per_s: dict | None, uj: dict | None) -> dict:
    """One line of the platform table: windows/s and µJ/window, each with its label."""
    return {"platform": platform, "batch": batch,
            "per_s": None if not per_s else per_s.get("value"),
            "per_s_label": "—" if not per_s else per_s["label"],
            "uj": None if not uj else uj.get("value"), "uj_label": "—" if not uj else uj["label"]}


def _cpu_entries(cpu: dict) -> list[dict]:
    """CPU batch 1 (one thread, the first graph optimization level) and the fastest run."""
    opts = list(dict.fromkeys(r["optimization"] for r in cpu["runs"]))
    done = [r for r in cpu["runs"] if r.get("per_s")]
    base = min((r for r in done if r["batch"] == 1),
               key=lambda r: (opts.index(r["optimization"]), r["threads"]))
    best = max(done, key=lambda r: r["per_s"])
    out = []
    for what, r in (("batch 1", base), ("best", best)):
        if what == "best" and r is base:
            continue
        name = (f"CPU {'' if what == 'batch 1' else 'best: '}batch {r['batch']} × "
                f"{r['threads']} thread(s), graph opt. {r['optimization']}")
        out.append(_entry(name, r["batch"], {"value": r["per_s"], "label": ORT_TIME},
                          r.get("energy_uj")))
    return out


def _gpu_entries(gpu: dict) -> list[dict]:
    """Per provider: batch 1 and its fastest batch."""
    out = []
    for prov in dict.fromkeys(r["provider"] for r in gpu["runs"]):
        done = [r for r in gpu["runs"] if r["provider"] == prov and r.get("per_s")]
        if not done:
            continue
        one = [r for r in done if r["batch"] == 1]
        best = max(done, key=lambda r: r["per_s"])
        for what, r in (("batch 1", one[0] if one else None), ("best", best)):
            if r is None or (what == "best" and one and r is one[0]):
                continue
            out.append(_entry(f"GPU {gpu['device']}, {prov.replace('ExecutionProvider', '')} "
                              + ("batch 1" if what == "batch 1" else f"best: batch {r['batch']}"),
                              r["batch"],
                              {"value": r["per_s"], "label": r["per_s_label"]},
                              r.get("energy_uj")))
    return out


def _fpga_entries(f: dict | None) -> list[dict]:
    if not f:
        return []
    out = [_entry(f"FPGA {f['device']} ({f['goal']}) at {f['clock_mhz']['value']:g} MHz",
                  "1 (streaming)", f["per_s"], f["energy_uj"])]
    if f.get("per_s_at_fmax"):
        out.append(_entry(f"FPGA {f['device']} at fmax {f['fmax_mhz']['value']:.2f} MHz",
                          "1 (streaming)", f["per_s_at_fmax"], None))
    return out


def _num(v: float | None) -> str:
    return "—" if v is None else f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.4g}"


def _kind(label: str) -> str:
    return "measured" if is_measured(label) else "estimate" if label.startswith("estimate") \
        else label


def verdict(fpga: dict, others: list[dict]) -> str:
    """One line: against which platform lines the FPGA wins and loses, on windows/s (more is
    better) and µJ/window (less is better), each figure with its kind."""
    def fmt(v, label):
        return f"{_num(v)} {_kind(label)}"

    wins, losses, compared = [], [], False
    for key, label, better, unit in (("per_s", "per_s_label", lambda a, b: a > b, "windows/s"),
                                     ("uj", "uj_label", lambda a, b: a < b, "µJ/window")):
        if fpga[key] is None:
            continue
        for o in others:
            if o[key] is None:
                continue
            said = (f"{unit} vs {o['platform']} ({fmt(fpga[key], fpga[label])} vs "
                    f"{fmt(o[key], o[label])})")
            (wins if better(fpga[key], o[key]) else losses).append(said)
            compared = True
    none = "nowhere" if compared else "nothing compared"
    return (f"{fpga['platform']} wins on: {'; '.join(wins) or none}. "
            f"Loses on: {'; '.join(losses) or none}.")


def platform_table(rows: list[dict], gpu_rows: list[dict] | None = None) -> str:
    """Per design: FPGA, CPU batch 1 and best, GPU batch 1 and best per provider (GPU rows are
    matched to a design by arch_hash and task; unmatched ones stand alone), windows/s and
    µJ/window with their labels, then one line per design: where the FPGA wins and loses."""
    gpu_rows = list(gpu_rows or [])
    out = ["| design | platform | batch | windows/s | source | µJ/window | source |",
           "|---|---|---|---|---|---|---|"]
    lines = []
    groups = []
    for r in rows:
        gpus = [g for g in gpu_rows if (g.get("arch_hash"), g.get("task")) ==
                (r.get("arch_hash"), r.get("task"))]
        gpu_rows = [g for g in gpu_rows if g not in gpus]
        groups.append((r["design"], r.get("fpga"), r.get("cpu"), gpus))
    groups += [(g["design"], None, None, [g]) for g in gpu_rows]
    for design, fpga, cpu, gpus in groups:
        fe = _fpga_entries(fpga)
        others = (_cpu_entries(cpu) if cpu else []) + [e for g in gpus
                                                       for e in _gpu_entries(g["gpu"])]
        for e in fe + others:
            out.append(f"| {design} | {e['platform']} | {e['batch']} | {_num(e['per_s'])} | "
                       f"{e['per_s_label']} | {_num(e['uj'])} | {e['uj_label']} |")
        if fe and others:
            lines.append(f"- {design}: {verdict(fe[0], others)}")
    return "\n".join(out + ([""] + lines if lines else []))
