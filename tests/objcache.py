# SPDX-License-Identifier: Apache-2.0
"""A compiler wrapper that reuses object files within one test session (a minimal ccache).

Verilator's makefiles run `$(OBJCACHE) $(CXX) ... -c -o X.o X.cpp`; the suite sets OBJCACHE to
this script. Every simulation build recompiles Verilator's runtime (verilated.cpp,
verilated_vpi.cpp, ...: most of a build's time) with the same flags: the first compile is
stored, keyed by the compiler, its arguments and the preprocessed source, and later identical
compiles copy it (with its -MMD dependency file). A design's own files differ in their
preprocessed text and are compiled; anything that is not a single `-c -o` compile runs as is.
The store is HALF_TEST_OBJCACHE (a folder of the test session)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def _compile_parts(args: list[str]) -> tuple[str, str] | None:
    """(output, source) of a plain `-c -o OUT SRC.cpp` compile, else None."""
    if "-c" not in args or args.count("-o") != 1:
        return None
    out = args[args.index("-o") + 1]
    sources = [a for a in args if a.endswith((".cpp", ".cc", ".c")) and not a.startswith("-")]
    return (out, sources[0]) if len(sources) == 1 and out.endswith(".o") else None


def _key(cmd: list[str], out: str) -> str | None:
    """Hash of the compiler, its arguments (the output by its name) and the preprocessed
    source; None if preprocessing fails (the real compile then reports the error)."""
    args = cmd[1:]
    i = args.index("-o")
    pre = [a for j, a in enumerate(args) if a not in ("-c", "-MMD", "-MP") and j not in (i, i + 1)]
    proc = subprocess.run([cmd[0], *pre, "-E"], capture_output=True)
    if proc.returncode != 0:
        return None
    h = hashlib.sha256()
    h.update(repr([shutil.which(cmd[0]) or cmd[0], Path(out).name, *pre]).encode())
    h.update(proc.stdout)
    return h.hexdigest()


def main(cmd: list[str]) -> int:
    store = os.environ.get("HALF_TEST_OBJCACHE")
    parts = _compile_parts(cmd[1:])
    if not store or parts is None:
        return subprocess.run(cmd).returncode
    out, _ = parts
    key = _key(cmd, out)
    if key is None:
        return subprocess.run(cmd).returncode
    entry = Path(store) / key
    dep = Path(out).with_suffix(".d")
    if (entry / "obj").is_file():
        shutil.copyfile(entry / "obj", out)
        if (entry / "dep").is_file():
            shutil.copyfile(entry / "dep", dep)
        return 0
    rc = subprocess.run(cmd).returncode
    if rc == 0:  # store atomically: another worker may be storing the same key
        Path(store).mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=store))
        shutil.copyfile(out, tmp / "obj")
        if dep.is_file():
            shutil.copyfile(dep, tmp / "dep")
        try:
            os.rename(tmp, entry)
        except OSError:  # stored meanwhile
            shutil.rmtree(tmp, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
