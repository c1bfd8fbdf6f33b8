# SPDX-License-Identifier: Apache-2.0
"""Hardware layer: the integer IR, lowering from QONNX, golden model, devices, the hardware
design (`design.bind`), cost, folding."""
