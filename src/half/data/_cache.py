# SPDX-License-Identifier: Apache-2.0
"""Content-hashed cache of preprocessing results.

The key of a prepared dataset is a SHA-256 over the task name, its parameters, the cache format
version and the SHA-256 of every input file. File digests are memoised by (path, size, mtime) in
`<cache>/digests.json`, so a second call only stats the files. Entries are written atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from half._io import atomic_file, write_json_atomic
from half.data._locate import cache_dir

# Bump when the layout or meaning of cached arrays changes.
CACHE_VERSION = 1


class _DigestMemo:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.changed = False
        try:
            self.table: dict[str, list] = json.loads(path.read_text())
        except (OSError, ValueError):
            self.table = {}

    def digest(self, file: Path) -> str:
        st = file.stat()
        key = str(file.resolve())
        hit = self.table.get(key)
        if hit and hit[0] == st.st_size and hit[1] == st.st_mtime_ns:
            return hit[2]
        h = hashlib.sha256()
        with open(file, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        self.table[key] = [st.st_size, st.st_mtime_ns, h.hexdigest()]
        self.changed = True
        return h.hexdigest()

    def save(self) -> None:
        if self.changed:
            write_json_atomic(self.path, self.table)
            self.changed = False


def cache_key(task: str, params: dict, files: Iterable[Path]) -> str:
    """Stable key of a prepared dataset: task, parameters, format version and input contents."""
    memo = _DigestMemo(cache_dir() / "digests.json")
    inputs = sorted((f.name, memo.digest(f)) for f in files)
    memo.save()
    blob = json.dumps(
        {"task": task, "params": params, "version": CACHE_VERSION, "inputs": inputs},
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def entry_path(task: str, key: str) -> Path:
    return cache_dir() / "prepared" / task / f"{key}.npz"


def load(path: Path) -> dict[str, np.ndarray] | None:
    """The cached arrays, or None when absent or unreadable (then the caller rebuilds)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError):
        return None


def save(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with atomic_file(path) as fh:
        np.savez(fh, **arrays)


def disabled() -> bool:
    return os.environ.get("HALF_NO_CACHE", "") not in ("", "0")
