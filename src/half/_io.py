# SPDX-License-Identifier: Apache-2.0
"""Atomic file output: every artefact is written to a temporary path, then renamed into place,
so a crash or an error never leaves a partial file behind."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_file(path: str | Path) -> Iterator[BinaryIO]:
    """Open a temporary file beside `path` for binary writing; rename it to `path` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = None
    try:
        with deferred_interrupts():  # a Ctrl-C in here cannot leave a temporary file unnamed
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            fh = os.fdopen(fd, "wb")
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        with fh:
            _check_interrupt()
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        _check_interrupt()
        os.replace(tmp, path)
    except BaseException:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        raise


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    with atomic_file(path) as fh:
        fh.write(data)


def write_json_atomic(path: str | Path, obj: Any) -> None:
    write_bytes_atomic(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


# -- interrupts ---------------------------------------------------------------------------------
# Set by the CLI's SIGINT handler (half._entry). A library may catch the KeyboardInterrupt it
# raises (some lazy imports do); the flag survives that, so no artefact is committed after Ctrl-C
# and the command still exits 130.
_INTERRUPTED = False


def note_interrupt() -> None:
    global _INTERRUPTED
    _INTERRUPTED = True


def interrupted() -> bool:
    return _INTERRUPTED


def _check_interrupt() -> None:
    if _INTERRUPTED:
        raise KeyboardInterrupt


_DEFERRING = 0


def deferring_interrupts() -> bool:
    """True inside `deferred_interrupts`: the CLI's SIGINT handler then only sets the flag."""
    return _DEFERRING > 0


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[None]:
    """A block a Ctrl-C must not split (create a temporary path and bind its name): the CLI's
    handler notes the interrupt without raising, and the caller's next `_check_interrupt` (inside
    its cleanup) raises it. Outside the CLI (no handler installed) this changes nothing."""
    global _DEFERRING
    _DEFERRING += 1
    try:
        yield
    finally:
        _DEFERRING -= 1


# -- output folders that never destroy a user's data ----------------------------------------------
# Every folder half creates for a user (`-o`, `--dest`) holds this marker, naming its kind. An
# existing path is replaced (or, for resumable kinds, written into) only when it is a half folder
# of the same kind, or empty, or the user passes --force. Folders written before the marker
# existed are recognised by the files that only that kind of folder holds (any one signature).
MARKER = ".half-artefact.json"
KINDS = {
    "project": (("design.json",),),  # half build
    "model": (("arch.json", "task.json", "model.pt"),),  # half train, the run's model stage
    "search": (("search.json",), ("study.db",)),  # half search (resumable)
    "run": (("stages",),),  # half run (resumable)
    "dataset": (("RECORDS", "100.hea"), ("training2017",)),  # half data download
}


def artefact_kind(path: Path) -> str | None:
    """The kind of half folder `path` is (marker, else the legacy signature), or None."""
    marker = path / MARKER
    if marker.is_file():
        try:
            return str(json.loads(marker.read_text()).get("kind"))
        except (ValueError, OSError, AttributeError):
            return None
    for kind, signatures in KINDS.items():
        if any(all((path / n).exists() for n in names) for names in signatures):
            return kind
    return None


def _is_cwd_or_above(path: Path) -> bool:
    try:
        cwd = Path.cwd().resolve()
    except OSError:
        return False
    p = path.resolve()
    return p == cwd or p in cwd.parents


def claim_output(path: str | Path, kind: str, *, force: bool = False) -> Path:
    """Check that `path` may become (or be reused as) a half `kind` folder; an OutputError (one
    line: the path and what is wrong) otherwise. Nothing is written.

    Allowed: a path that does not exist (its nearest existing parent a writable folder), an empty
    folder, a half folder of the same kind, or anything but the working folder and its parents
    with `force`."""
    from half.errors import OutputError

    if kind not in KINDS:
        raise ValueError(f"unknown artefact kind {kind!r}")
    path = Path(path)
    if _is_cwd_or_above(path):
        raise OutputError(path, "is the current folder or one of its parents; give a new folder "
                          "to write into")
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise OutputError(parent, "is a file, so nothing can be written under it")
    if not path.exists() and not path.is_symlink():
        if not os.access(parent, os.W_OK | os.X_OK):
            raise OutputError(parent, "is not writable (permission denied)")
        return path
    if force:
        return path
    hint = {"search": "choose a new path or pass --force to write into it",
            "run": "choose a new path or pass --force to write into it",
            "dataset": "choose a new or empty folder"}.get(
                kind, "choose a new path or pass --force to replace it")
    if path.is_symlink() or not path.is_dir():
        raise OutputError(path, f"is a file, not a half {kind} folder: {hint}")
    found = artefact_kind(path)
    if found == kind:
        return path
    entries = sum(1 for _ in path.iterdir())
    if entries == 0:
        return path
    what = (f"is a half {found} folder, not a {kind} folder" if found else
            f"holds {entries} file{'s' if entries > 1 else ''} or folder"
            f"{'s' if entries > 1 else ''} that half did not write")
    raise OutputError(path, f"{what}: {hint}")


def mark(folder: Path, kind: str) -> None:
    """Write the marker that makes `folder` a half `kind` folder."""
    from half import __version__

    write_json_atomic(folder / MARKER, {"kind": kind, "half": __version__})


def prepare_output(path: str | Path, kind: str, *, force: bool = False) -> Path:
    """For folders half writes into over time (search, run): claim `path`, create it, mark it."""
    path = Path(path)
    claim_output(path, kind, force=force)
    from half.errors import OutputError

    try:
        if path.exists() and not path.is_dir():  # --force on a file
            path.unlink()
        path.mkdir(parents=True, exist_ok=True)
        if not (path / MARKER).is_file():
            mark(path, kind)
    except OSError as e:
        raise OutputError(path, f"cannot be written ({e.strerror or e})") from None
    return path


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


@contextlib.contextmanager
def atomic_dir(path: str | Path, kind: str | None = None, *, force: bool = False
               ) -> Iterator[Path]:
    """Yield a temporary folder beside `path`; on success it replaces `path` as a whole.

    With `kind` (a folder written for a user, e.g. `-o`), `path` is claimed first (see
    `claim_output`: a user's files are never replaced without `force`) and the result is
    marked as a half `kind` folder. Without it, `path` is half's own (cache, a trial folder)."""
    from half.errors import OutputError

    path = Path(path)
    if kind is not None:
        claim_output(path, kind, force=force)
    tmp = None
    try:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with deferred_interrupts():  # a Ctrl-C in here cannot leave a folder unnamed
                tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp",
                                            dir=path.parent))
                os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700
        except OSError as e:
            raise OutputError(path, f"cannot be written ({e.strerror or e})") from None
        _check_interrupt()
        yield tmp
        if kind is not None:
            mark(tmp, kind)
        _check_interrupt()
        if path.exists() or path.is_symlink():
            old = path.with_name(f".{path.name}.old.{os.getpid()}")
            os.replace(path, old)
            os.replace(tmp, path)
            _remove(old)
        else:
            os.replace(tmp, path)
    except BaseException:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        raise


def read_yaml_mapping(file, where: str, field: str, keys: str) -> dict:
    """The non-empty YAML mapping in `file` (a Path or an importlib resource); a ConfigError on
    `field` naming `where` otherwise (`keys`: what the mapping's keys are, for the message)."""
    import yaml

    from half.errors import ConfigError

    try:
        raw = yaml.safe_load(file.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(field, f"{where} is not valid YAML: {e}") from e
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(field, f"{where} must map {keys} to records")
    return raw
