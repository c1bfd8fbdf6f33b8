# SPDX-License-Identifier: Apache-2.0
"""Terminal output shared by the CLI: progress bars and messages go to stderr, results to stdout
(with --json, stdout holds the JSON result and nothing else)."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

err = Console(stderr=True, highlight=False)
out = Console(highlight=False)


@contextlib.contextmanager
def progress_bar() -> Iterator:
    """A `progress(description, done, total)` callback drawing one bar on stderr."""
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), console=err, transient=True, disable=not err.is_terminal)
    task_id = None

    def update(desc: str, done: int, total: int) -> None:
        nonlocal task_id
        if task_id is None:
            task_id = bar.add_task(desc, total=total)
        bar.update(task_id, description=desc, completed=done, total=total)

    with bar:
        yield update


def note(message: str) -> None:
    err.print(message)


def emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2) + "\n")
    sys.stdout.flush()
