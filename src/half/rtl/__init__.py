# SPDX-License-Identifier: Apache-2.0
"""RTL: the library of parametrizable Verilog modules (lib/), the design generator
(`generate`: a bound Design -> project files), the Verilator harness (`harness`) and `half build`
(`build`: a model folded, bound and written as a project; the one module here that reads a
model)."""

from pathlib import Path

LIB = Path(__file__).resolve().parent / "lib"  # one module per file, named after the module
