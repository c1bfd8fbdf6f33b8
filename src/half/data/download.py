# SPDX-License-Identifier: Apache-2.0
"""Fetch a PhysioNet dataset into the folder where half looks for it (`half data download`).

Sources (the server base can be changed with `base_url=` or env `HALF_PHYSIONET_URL`, which
names the folder that holds `mitdb/` and `challenge-2017/`):

* `mitdb`: MIT-BIH Arrhythmia Database 1.0.0, https://physionet.org/files/mitdb/1.0.0/.
  `RECORDS`, `ANNOTATORS` and each record's `NNN.hea`, `NNN.dat`, `NNN.atr`, stored flat.
* `cinc2017`: PhysioNet/Computing in Cardiology Challenge 2017 1.0.0,
  https://physionet.org/files/challenge-2017/1.0.0/. `training2017.zip` (unpacked into
  `training2017/`) and the relabelled `REFERENCE-v3.csv`.

Licences and citations: MIT-BIH is published under the Open Data Commons Attribution License
v1.0 (ODC-By 1.0); cite Moody GB, Mark RG, "The impact of the MIT-BIH Arrhythmia Database",
IEEE Eng Med Biol 20(3):45-50 (2001), and Goldberger AL et al., "PhysioBank, PhysioToolkit, and
PhysioNet", Circulation 101(23):e215-e220 (2000). For CinC 2017 cite Clifford GD et al., "AF
classification from a short single lead ECG recording: the PhysioNet/Computing in Cardiology
Challenge 2017", CinC 2017 (https://doi.org/10.22489/CinC.2017.065-469), and Goldberger et al.
2000; check the project page for its licence before redistributing the files.

A download is atomic: files go into a temporary folder beside the target, which is renamed into
place only when every file arrived. On failure the target is left as it was (absent, or the old
copy). Network faults fail fast (`timeout` per socket operation, at most two attempts per file).
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from half._io import atomic_dir
from half.data._locate import DATASETS, cache_dir
from half.errors import DataError

Progress = Callable[[str, int, int], None]

PHYSIONET_URL = "https://physionet.org/files/"
REMOTE = {"mitdb": "mitdb/1.0.0/", "cinc2017": "challenge-2017/1.0.0/"}
CINC_ZIP = "training2017.zip"
CINC_LABELS = "REFERENCE-v3.csv"
ATTEMPTS = 2
RETRY_PAUSE_S = 0.5
_RECORD_NAME = re.compile(r"[A-Za-z0-9_-]+")


def download(dataset: str, dest: Path | None = None, *, base_url: str | None = None,
             progress: Progress | None = None, timeout: float = 15.0,
             force: bool = False) -> Path:
    """Download `dataset` ("mitdb" or "cinc2017") into `dest` and return that folder.

    `dest` defaults to `<cache>/data/<dataset>`, where the data locator looks. A folder that
    already looks complete is returned as is unless `force` is true. `progress(description,
    done, total)` is called once per file. Raises DataError (one line) on any failure.
    """
    if dataset not in REMOTE:
        raise DataError(dataset, f"unknown dataset; known: {', '.join(DATASETS)}")
    dest = Path(dest) if dest is not None else cache_dir() / "data" / dataset
    if not force and is_complete(dataset, dest):
        return dest
    base = dataset_url(dataset, base_url)
    fetch = _mitdb if dataset == "mitdb" else _cinc2017
    # a folder of someone else's files is never replaced, --force or not
    with atomic_dir(dest, "dataset") as tmp:
        fetch(base, tmp, _Fetcher(timeout, progress))
        if not is_complete(dataset, tmp):
            raise DataError(base, "download finished but the files are incomplete")
    return dest


def dataset_url(dataset: str, base_url: str | None = None) -> str:
    """The folder URL of `dataset` on the server (argument, env HALF_PHYSIONET_URL, PhysioNet)."""
    root = base_url or os.environ.get("HALF_PHYSIONET_URL") or PHYSIONET_URL
    return root.rstrip("/") + "/" + REMOTE[dataset]


def is_complete(dataset: str, folder: Path) -> bool:
    """Whether `folder` holds every file its RECORDS list names (and the label files)."""
    if dataset == "mitdb":
        return _records_present(folder, ("hea", "dat", "atr"))
    sub = folder / "training2017"
    return ((folder / CINC_LABELS).is_file() and (sub / "REFERENCE.csv").is_file()
            and _records_present(sub, ("hea", "mat")))


def _records_present(folder: Path, exts: tuple[str, ...]) -> bool:
    try:
        names = (folder / "RECORDS").read_text().split()
    except OSError:
        return False
    return bool(names) and all((folder / f"{n}.{e}").is_file() for n in names for e in exts)


class _Fetcher:
    """Downloads single files with a timeout and one retry; counts files for `progress`."""

    def __init__(self, timeout: float, progress: Progress | None) -> None:
        self.timeout = timeout
        self.progress = progress
        self.done = 0
        self.total = 0

    def report(self, description: str) -> None:
        if self.progress is not None:
            self.progress(description, self.done, max(self.total, self.done))

    def get(self, url: str, path: Path, *, optional: bool = False) -> bool:
        """Save `url` to `path`; False if `optional` and the server says 404."""
        self.report(url.rsplit("/", 1)[-1])
        for attempt in range(ATTEMPTS):
            try:
                _save(url, path, self.timeout)
                break
            except urllib.error.HTTPError as exc:
                if optional and exc.code == 404:
                    return False
                if exc.code < 500 or attempt + 1 == ATTEMPTS:
                    raise _network_error(url, f"HTTP {exc.code} {exc.reason}") from None
            except (OSError, http.client.HTTPException) as exc:
                if attempt + 1 == ATTEMPTS:
                    raise _network_error(url, _reason(exc)) from None
            time.sleep(RETRY_PAUSE_S)
        self.done += 1
        return True


def _save(url: str, path: Path, timeout: float) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "half (python urllib)"})
    with urllib.request.urlopen(request, timeout=timeout) as response, path.open("wb") as fh:
        shutil.copyfileobj(response, fh, 1 << 20)


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    if isinstance(reason, TimeoutError):
        return "timed out"
    return " ".join(str(reason).split()) or type(reason).__name__


def _network_error(url: str, reason: str) -> DataError:
    return DataError(url, f"download failed ({reason}): the machine seems offline or the server "
                          "refused the request; to use a copy you already have, pass --data-dir "
                          "or set HALF_DATA_DIR to the folder that holds it")


def _mitdb(base: str, tmp: Path, fetch: _Fetcher) -> None:
    fetch.total = 1
    fetch.get(base + "RECORDS", tmp / "RECORDS")
    names = (tmp / "RECORDS").read_text().split()
    bad = [n for n in names if not _RECORD_NAME.fullmatch(n)]
    if not names or bad:
        raise DataError(base + "RECORDS", f"unexpected record list (bad names: {bad[:3]})")
    files = [f"{n}.{e}" for n in names for e in ("hea", "dat", "atr")]
    fetch.total = 2 + len(files)
    for name in files:
        fetch.get(base + name, tmp / name)
    if not fetch.get(base + "ANNOTATORS", tmp / "ANNOTATORS", optional=True):
        fetch.total -= 1
    fetch.report("done")


def _cinc2017(base: str, tmp: Path, fetch: _Fetcher) -> None:
    fetch.total = 2
    archive = tmp / CINC_ZIP
    fetch.get(base + CINC_ZIP, archive)
    fetch.get(base + CINC_LABELS, tmp / CINC_LABELS)
    fetch.report("unpacking")
    _unzip(archive, tmp, base + CINC_ZIP)
    archive.unlink()
    fetch.report("done")


def _unzip(archive: Path, dest: Path, url: str) -> None:
    """Extract `archive` into `dest` after checking that no member escapes it."""
    try:
        with zipfile.ZipFile(archive) as zf:
            for name in zf.namelist():
                if not _safe_member(name):
                    raise DataError(url, f"unsafe member name in zip archive: {name!r}")
            zf.extractall(dest)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
        raise DataError(url, f"not a readable zip archive ({_reason(exc)})") from None


def _safe_member(name: str) -> bool:
    path = PurePosixPath(name)
    return (bool(name) and not path.is_absolute() and ".." not in path.parts
            and "\\" not in name and ":" not in name)
