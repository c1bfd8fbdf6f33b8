# SPDX-License-Identifier: Apache-2.0
"""Try `half` with bad input as a new user would, and print what each case gives.

    .venv/bin/python benchmarks/bad_inputs.py [--out benchmarks/results/bad_inputs.jsonl]

Each case runs the real command line in a fresh temporary folder and records its exit status,
its stderr (the one line a user sees), whether stdout stayed empty, whether a traceback was
printed and whether the user's files are intact and nothing partial (hidden temp folders, a
half-written output) was left. Prints a markdown table for docs/RESULTS.md; rows are appended
to --out as JSON lines while the cases run.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _user_folder(work: Path) -> None:
    (work / "mine").mkdir()
    (work / "mine" / "notes.txt").write_text("precious")


def _a_file(work: Path) -> None:
    (work / "afile").write_text("precious")


def _project_without_rom(work: Path) -> None:
    subprocess.run([sys.executable, "-m", "half", "build", "--model", "preset:tiny", "-o", "p"],
                   cwd=work, check=True, capture_output=True)
    sorted((work / "p" / "mem").glob("*.mem"))[0].unlink()


def _odd_onnx(work: Path) -> None:
    import onnx

    from half.nn.runs import resolve_model

    model = onnx.load(str(resolve_model("preset:tiny", "mitdb-aami") / "model.qonnx.onnx"))
    next(n for n in model.graph.node if n.op_type == "Relu").op_type = "Sigmoid"
    onnx.save(model, str(work / "odd.onnx"))


# (what, command after `half`, setup, files that must be intact, Ctrl-C after seconds)
CASES = [
    ("build -o into a folder of the user's files", "build --model preset:tiny -o mine",
     _user_folder, ["mine/notes.txt"], None),
    ("train -o into a folder of the user's files", "train --arch preset:tiny -o mine",
     _user_folder, ["mine/notes.txt"], None),
    ("search -o into a folder of the user's files", "search --budget 1 -o mine",
     _user_folder, ["mine/notes.txt"], None),
    ("run -o into a folder of the user's files", "run --budget 1 -o mine", _user_folder,
     ["mine/notes.txt"], None),
    ("data download --force --dest into a folder of the user's files",
     "data download mitdb --force --dest mine", _user_folder, ["mine/notes.txt"], None),
    ("build -o . (the working folder)", "build --model preset:tiny -o .", None, [], None),
    ("build -o .. --force", "build --model preset:tiny -o .. --force", None, [], None),
    ("build -o onto a file", "build --model preset:tiny -o afile", _a_file, ["afile"], None),
    ("search -o onto a file", "search --budget 1 -o afile", _a_file, ["afile"], None),
    ("build -o under a parent that is a file", "build --model preset:tiny -o afile/p", _a_file,
     ["afile"], None),
    ("an unwritable output folder (/proc: root may write anywhere else)",
     "search --budget 1 -o /proc/half-out", None, [], None),
    ("verify --windows 0", "verify p --windows 0", None, [], None),
    ("verify --windows -3", "verify p --windows -3", None, [], None),
    ("verify a project whose ROM image was deleted", "verify p --windows 5",
     _project_without_rom, [], None),
    ("implement a project whose ROM image was deleted", "implement p", _project_without_rom, [],
     None),
    ("estimate a QONNX file with an unsupported op", "estimate --model odd.onnx", _odd_onnx, [],
     None),
    ("Ctrl-C during the imports (0.3 s)", "build --model preset:tiny -o p", None, [], 0.3),
    ("Ctrl-C during the build (4 s)", "build --model preset:tiny -o p", None, [], 4.0),
]


def run_case(what: str, command: str, setup, keep: list[str], sigint: float | None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "work"
        work.mkdir()
        if setup:
            setup(work)
        before = {p: (work / p).read_bytes() for p in keep}
        listing = sorted(p.name for p in work.iterdir())
        args = [sys.executable, "-m", "half", *command.split()]
        t0 = time.monotonic()
        proc = subprocess.Popen(args, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env={**os.environ,
                                                "HALF_PHYSIONET_URL": "http://127.0.0.1:9"})
        if sigint is not None:
            time.sleep(sigint)
            proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=600)
        intact = all((work / p).read_bytes() == b for p, b in before.items())
        after = sorted(p.name for p in work.iterdir())
        left = [n for n in after if n.startswith(".")] + (
            [n for n in after if n not in listing] if proc.returncode else [])
        lines = [x.replace(str(work.resolve()), "WORK").replace(str(work), "WORK")
                 for x in err.strip().splitlines()]
        return {"case": what, "command": f"half {command}", "exit": proc.returncode,
                "message": lines[-1] if lines else "", "stderr_lines": len(lines),
                "stdout_empty": out == "", "traceback": "Traceback" in err,
                "user_files_intact": intact, "left_behind": left,
                "seconds": round(time.monotonic() - t0, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=None, help="append JSON rows here")
    args = ap.parse_args()
    rows = []
    for case in CASES:
        row = run_case(*case)
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            with args.out.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
    print("| case | exit | what the user sees (stderr's last line) | files intact, nothing left |")
    print("|---|---|---|---|")
    for r in rows:
        ok = "yes" if r["user_files_intact"] and not r["left_behind"] and not r["traceback"] \
            else f"NO ({r['left_behind']}, traceback {r['traceback']})"
        msg = r["message"].replace("|", "\\|")
        print(f"| {r['case']} (`{r['command']}`) | {r['exit']} | `{msg}` | {ok} |")


if __name__ == "__main__":
    main()
