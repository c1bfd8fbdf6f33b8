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


RECHECK_S = 0.02  # how often a deferred interrupt looks again whether it may be raised


def _in_import(frame) -> bool:
    """True while `frame` runs inside an import (importlib's frames are on its stack)."""
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


def _on_sigint(signum, frame) -> None:
    _io.note_interrupt()
    if _io.deferring_interrupts():  # the block's owner raises it once it is safe
        return
    if _in_import(frame):
        # A KeyboardInterrupt inside an import can leave a native extension half initialised
        # (ml_dtypes, under onnx: a crash at exit, SIGSEGV, seen in the suite). Let the import
        # finish; a timer raises the interrupt as soon as the stack is out of it.
        signal.signal(signal.SIGALRM, _raise_once_safe)
        signal.setitimer(signal.ITIMER_REAL, RECHECK_S, RECHECK_S)
        return
    raise KeyboardInterrupt


def _raise_once_safe(signum, frame) -> None:
    if _in_import(frame) or _io.deferring_interrupts():
        return
    signal.setitimer(signal.ITIMER_REAL, 0)
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
