# SPDX-License-Identifier: Apache-2.0
"""Data layer: tasks (datasets turned into windows, labels and splits), data location, cache.

    >>> from half.data import get_task
    >>> data = get_task("mitdb-aami", window=256).load()
    >>> data.select("train").x.shape
"""

from __future__ import annotations

from half.data._locate import DataSource, cache_dir, find_dataset
from half.data.cinc2017 import Cinc2017Af
from half.data.mitdb import MitdbAami
from half.data.task import SPLITS, Task, TaskData
from half.errors import ConfigError

TASKS: dict[str, type[Task]] = {t.name: t for t in (MitdbAami, Cinc2017Af)}
DEFAULT_TASK = "mitdb-aami"


def get_task(name: str, **options) -> Task:
    """The task `name` with its parameters set from `options` (strings are converted)."""
    if name not in TASKS:
        raise ConfigError("task", f"unknown task {name!r}; known: {', '.join(TASKS)}")
    return TASKS[name].from_options(**options)


__all__ = ["DEFAULT_TASK", "SPLITS", "TASKS", "DataSource", "Task", "TaskData", "cache_dir",
           "find_dataset", "get_task"]
