# SPDX-License-Identifier: Apache-2.0
"""RTL: the library of parametrizable Verilog modules (lib/) and the design generator."""

from pathlib import Path

LIB = Path(__file__).resolve().parent / "lib"  # one module per file, named after the module
