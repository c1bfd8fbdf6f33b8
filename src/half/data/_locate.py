# SPDX-License-Identifier: Apache-2.0
"""Where the raw datasets and the preprocessing cache live.

Data folders are searched in this order (the first that exists wins):
1. the `--data-dir` argument, 2. env `HALF_DATA_DIR`, 3. `../shared/data` next to the checkout,
4. `<cache>/data` (where `half data download` puts files), 5. the small MIT-BIH subset bundled
inside the package (mitdb only; the output says so). An explicitly given folder (1 or 2) is never
silently skipped: if it lacks the dataset, that is an error.
"""

from __future__ import annotations

import hashlib
import lzma
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import platformdirs

from half._io import atomic_dir
from half.errors import DataError

# Sub-folder of a data folder that holds each dataset.
DATASETS = ("mitdb", "cinc2017")
# Companion data no task is built from, found the same way (nstdb: noise for augmentation).
COMPANIONS = ("nstdb",)
BUNDLED = {"mitdb": "mitdb"}


@dataclass(frozen=True)
class DataSource:
    """A dataset folder and how it was found."""

    dataset: str
    path: Path  # the folder holding the dataset's files (e.g. .../mitdb)
    origin: str  # "argument", "HALF_DATA_DIR", "shared", "cache" or "bundled"

    @property
    def bundled(self) -> bool:
        return self.origin == "bundled"

    def describe(self) -> str:
        if self.bundled:
            return (
                f"bundled MIT-BIH subset ({self.path}): no data folder was found, so the small "
                "subset shipped with half is used"
            )
        return f"{self.path} (from {self.origin})"


def cache_dir() -> Path:
    """Root of half's cache (env `HALF_CACHE_DIR`, else the user cache dir)."""
    env = os.environ.get("HALF_CACHE_DIR")
    return Path(env).expanduser() if env else Path(platformdirs.user_cache_dir("half"))


def checkout_root() -> Path | None:
    """The source checkout this package runs from, if it runs from one (src layout)."""
    root = Path(__file__).resolve().parents[3]
    return root if (root / "pyproject.toml").is_file() else None


def _candidates(data_dir: str | Path | None) -> list[tuple[Path, str, bool]]:
    """(folder, origin, explicit) in search order."""
    out: list[tuple[Path, str, bool]] = []
    if data_dir is not None:
        out.append((Path(data_dir).expanduser(), "argument", True))
    elif os.environ.get("HALF_DATA_DIR"):
        out.append((Path(os.environ["HALF_DATA_DIR"]).expanduser(), "HALF_DATA_DIR", True))
    if not out:
        root = checkout_root()
        if root is not None:
            out.append((root.parent / "shared" / "data", "shared", False))
        out.append((cache_dir() / "data", "cache", False))
    return out


def find_dataset(dataset: str, data_dir: str | Path | None = None) -> DataSource:
    """Locate `dataset` ("mitdb", "cinc2017" or a companion such as "nstdb"); raise DataError
    naming what was searched."""
    if dataset not in DATASETS + COMPANIONS:
        raise DataError(dataset, f"unknown dataset; known: {', '.join(DATASETS + COMPANIONS)}")
    searched = []
    for folder, origin, explicit in _candidates(data_dir):
        if explicit and not folder.is_dir():
            raise DataError(folder, f"data folder does not exist (given by {origin})")
        path = folder / dataset
        if path.is_dir():
            return DataSource(dataset, path.resolve(), origin)
        if explicit:
            raise DataError(path, f"missing folder: {origin} has no '{dataset}/' sub-folder")
        searched.append(str(path))
    if dataset in BUNDLED:
        return DataSource(dataset, extract_bundled(dataset), "bundled")
    raise DataError(
        dataset,
        f"no data found (searched {', '.join(searched)}); pass --data-dir, set HALF_DATA_DIR, "
        f"or run 'half data download {dataset}'",
    )


def _bundled_files(dataset: str):
    return resources.files("half.data").joinpath("bundled", BUNDLED[dataset])


def extract_bundled(dataset: str) -> Path:
    """Decompress the bundled subset into the cache once; check it against SHA256SUMS.orig."""
    src = _bundled_files(dataset)
    sums = {}
    for line in src.joinpath("SHA256SUMS.orig").read_text().splitlines():
        digest, name = line.split()
        sums[name] = digest
    dest = cache_dir() / "bundled" / dataset
    if dest.is_dir() and sorted(p.name for p in dest.iterdir()) == sorted(sums):
        return dest
    with atomic_dir(dest) as tmp:
        for name, digest in sums.items():
            packed = src.joinpath(name + ".xz")
            data = lzma.decompress(packed.read_bytes()) if packed.is_file() else (
                src.joinpath(name).read_bytes()
            )
            if hashlib.sha256(data).hexdigest() != digest:
                raise DataError(f"bundled/{dataset}/{name}", "checksum mismatch (corrupt package)")
            (tmp / name).write_bytes(data)
    return dest
