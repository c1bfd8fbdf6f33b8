# SPDX-License-Identifier: Apache-2.0
"""The `half` console entry point. It imports nothing heavy before it installs its Ctrl-C
handler, so an interrupt at any moment (the imports of torch and friends included) ends in
`half: interrupted` and exit status 130, never a traceback, and is never lost inside a library
that catches KeyboardInterrupt (the flag in half._io survives that, and keeps any artefact from
being committed)."""

from __future__ import annotations

import signal
import sys

from half import _io

INTERRUPTED_EXIT = 130


def _on_sigint(signum, frame) -> None:
    _io.note_interrupt()
    if not _io.deferring_interrupts():  # else the block's owner raises it once it is safe
        raise KeyboardInterrupt


def _interrupted() -> int:
    sys.stderr.write("half: interrupted\n")
    sys.stderr.flush()
    return INTERRUPTED_EXIT


def main(argv: list[str] | None = None, command: str = "half") -> None:
    """Run `half` (or, with command="search", `python -m half.search`) and exit."""
    signal.signal(signal.SIGINT, _on_sigint)
    try:
        from half.cli import run

        code = run(argv, command)
        if _io.interrupted():  # caught and dropped by a library on its way
            code = _interrupted()
    except KeyboardInterrupt:
        code = _interrupted()
    except Exception:
        # an interrupt inside a native library's import or call can surface as another error
        # (onnxruntime's extension raises ImportError "initialization failed"): the interrupt
        # came first, so it is what the user is told about
        if not _io.interrupted():
            raise
        code = _interrupted()
    sys.exit(code)
