# SPDX-License-Identifier: Apache-2.0
"""Implementation flow: external tools (Verilator, Yosys, nextpnr), simulation, synthesis."""
