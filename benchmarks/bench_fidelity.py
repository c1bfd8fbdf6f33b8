# SPDX-License-Identifier: Apache-2.0
"""How well does each cheap search fidelity rank architectures the way a costly protocol does?

    .venv/bin/python benchmarks/bench_fidelity.py run --archs 40 \
        --out benchmarks/results/fidelity.jsonl
    .venv/bin/python benchmarks/bench_fidelity.py table benchmarks/results/fidelity.jsonl
    .venv/bin/python benchmarks/bench_fidelity.py replicate benchmarks/results/fidelity.jsonl \
        --out benchmarks/results/fidelity_ref2.jsonl
    .venv/bin/python benchmarks/bench_fidelity.py extend benchmarks/results/fidelity.jsonl \
        --fidelity f0.25-e12-val --out benchmarks/results/fidelity_extra.jsonl
    .venv/bin/python benchmarks/bench_fidelity.py table benchmarks/results/fidelity.jsonl \
        --extra benchmarks/results/fidelity_extra.jsonl \
        --replicate benchmarks/results/fidelity_ref2.jsonl

Issue 14, item 1. Architectures: the task's presets, then `--archs` drawn from the search space
(seeded) that pass the search's pre-checks for the goal on the device (the ones a search would
train). Each is scored

* at every cheap fidelity of FIDELITIES (share of the training windows x epochs x validation
  protocol): `val` = the search's protocol (train split, best epoch on the task's validation
  records), `cvK` = patient-wise K-fold cross-validation over the train and val records, the
  pooled out-of-fold metric at each fold's best epoch;
* at the reference: every training window (train and val records), `--ref-epochs`, patient-wise
  `--ref-folds`-fold CV with another training seed.

`replicate` scores the reference of every architecture of a results file once more with another
training seed (rows appended to its own --out, resumable): the reference's seed-to-seed rho, the
ceiling any fidelity can reach against it; `table --replicate FILE` prints it. `extend` scores
the architectures of a results file at further fidelities (named fSHARE-eEPOCHS-PROTOCOL, rows
in their own --out, resumable); `table --extra FILE` adds them to the table.

The test split is never loaded. Rows are appended one per architecture as soon as it is done
(a partial run still counts); `table` prints Spearman rho of each fidelity against the
reference and the seconds per candidate (wall, while `--workers` candidates ran in parallel).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

import numpy as np

# name -> (share of training windows, epochs, protocol)
FIDELITIES: dict[str, tuple[float, int, str]] = {
    "f0.05-e2-val": (0.05, 2, "val"),
    "f0.1-e6-val": (0.1, 6, "val"),  # the search's default until issue 14
    "f0.25-e4-val": (0.25, 4, "val"),
    "f0.1-e6-cv3": (0.1, 6, "cv3"),
    "f0.25-e4-cv3": (0.25, 4, "cv3"),
}


def _spec(args, fraction: float = 0.1, epochs: int = 6):
    from half.search.evaluate import SearchSpec

    return SearchSpec(task=args.task, goal=args.goal, device=args.device, fidelity=fraction,
                      epochs=epochs, seed=args.seed, threads=1).resolved()


def candidates(args) -> list[dict]:
    """Presets first, then seeded draws from the space that pass the bits pre-check."""
    from half.nn.arch import Arch
    from half.nn.runs import list_presets, presets_dir
    from half.nn.space import Space
    from half.search.evaluate import decode, static_check

    spec = _spec(args)
    out, seen = [], set()
    for name in list_presets(args.task):
        arch = Arch.from_dict(json.loads((presets_dir(args.task) / name / "arch.json")
                                         .read_text()))
        arch = dataclasses.replace(arch, per_channel=spec.per_channel)
        out.append({"source": f"preset:{name}", "arch": arch.to_dict(),
                    "arch_hash": arch.arch_hash()})
        seen.add(arch.arch_hash())
    space = Space()
    rng = np.random.default_rng(args.seed)
    drawn = 0
    while drawn < args.archs * 3:  # more than needed: the export pre-check drops some
        genome = space.random_genome(rng)
        if static_check(spec, genome, space) is not None:
            continue
        arch = decode(spec, genome, space)
        if arch.arch_hash() in seen:
            continue
        seen.add(arch.arch_hash())
        out.append({"source": "space", "genome": genome, "arch": arch.to_dict(),
                    "arch_hash": arch.arch_hash()})
        drawn += 1
    return out


def _score(args, arch, data, fraction: float, epochs: int, protocol: str, seed: int) -> dict:
    from half.nn.cv import cross_validate
    from half.nn.metrics import primary_metric
    from half.search.evaluate import evaluate_arch

    t0, c0 = time.perf_counter(), time.process_time()
    if protocol == "val":
        spec = dataclasses.replace(_spec(args, fraction, epochs), seed=seed, precheck="off")
        rec, _ = evaluate_arch(spec, arch, lambda: data)
        return {"metric": rec["val_metric"], "seconds": round(time.perf_counter() - t0, 2),
                "cpu_seconds": round(time.process_time() - c0, 2), "cost": rec["cost"]}
    k = int(protocol[2:])
    cfg = dataclasses.replace(_spec(args, fraction, epochs).train_config(), seed=seed)
    cv = cross_validate(arch, data, k=k, cfg=cfg, seed=0)
    key = primary_metric(data.task, data.classes)
    return {"metric": cv["pooled"][key], "fold_mean": cv["fold_mean"],
            "seconds": round(time.perf_counter() - t0, 2),
            "cpu_seconds": round(time.process_time() - c0, 2)}


def _worker_data(args):
    """(search spec, prepared data) in a worker process, one torch thread."""
    import torch

    from half.search.evaluate import search_data

    torch.set_num_threads(1)
    spec = _spec(args)
    return spec, search_data(spec.task, spec.task_params, args.data_dir)


def _work(job: tuple) -> dict:
    args, cand = job
    from half.nn.arch import Arch
    from half.search.evaluate import _untrained_hardware

    spec, data = _worker_data(args)
    arch = Arch.from_dict(cand["arch"])
    row = {**cand, "params": arch.params(), "macs": arch.macs(),
           "task": args.task, "goal": args.goal, "device": args.device, "pid": os.getpid()}
    t0 = time.perf_counter()
    hw = _untrained_hardware(arch, data, spec)
    row["precheck_seconds"] = round(time.perf_counter() - t0, 2)
    if hw["fits"] > 0 or hw["rate"] > 0:
        row["status"] = "precheck-rejected"
        return row
    row["status"] = "ok"
    row["fidelities"] = {name: _score(args, arch, data, f, e, p, args.seed)
                         for name, (f, e, p) in FIDELITIES.items()}
    row["reference"] = _score(args, arch, data, args.ref_fraction, args.ref_epochs,
                              f"cv{args.ref_folds}", args.seed + 1)
    row["reference"]["protocol"] = f"{args.ref_fraction:g} of the training windows, " \
                                   f"{args.ref_epochs} epochs, " \
                                   f"{args.ref_folds}-fold patient-wise CV, seed {args.seed + 1}"
    return row


def _replicate(job: tuple) -> dict:
    args, row, seed = job
    from half.nn.arch import Arch

    _, data = _worker_data(args)
    ref = _score(args, Arch.from_dict(row["arch"]), data, args.ref_fraction, args.ref_epochs,
                 f"cv{args.ref_folds}", seed)
    return {"arch_hash": row["arch_hash"], "source": row["source"], "seed": seed, **ref}


def _scored(args) -> tuple[list[dict], list[dict]]:
    """(the architectures of a results file that were scored, the rows already in --out)."""
    rows = [json.loads(line) for line in Path(args.results).read_text().splitlines() if line]
    out = Path(args.out)
    have = [json.loads(line) for line in out.read_text().splitlines() if line] \
        if out.is_file() else []
    return [r for r in rows if r.get("status") == "ok"], have


def _append_all(args, work, jobs: list, what: str) -> None:
    """Run `work` on `jobs` in --workers processes, in order, appending each result to --out
    as soon as it is done (a partial run counts; a rerun skips what is there)."""
    out = Path(args.out)
    t0 = time.perf_counter()
    with mp.get_context("spawn").Pool(args.workers) as pool:
        for k, rec in enumerate(pool.imap(work, jobs), 1):
            with out.open("a") as f:
                f.write(json.dumps(rec) + "\n")
            print(f"[{time.perf_counter() - t0:7.0f} s] {k}/{len(jobs)} {what} "
                  f"{rec.get('fidelity', 'reference')} {rec['arch_hash']} {rec['metric']:.4f}",
                  flush=True)


def cmd_replicate(args) -> int:
    ok, have = _scored(args)
    done = {r["arch_hash"] for r in have}
    seed = args.seed + 2  # the cheap fidelities used seed, the reference seed + 1
    jobs = [(args, r, seed) for r in ok if r["arch_hash"] not in done]
    print(f"{len(ok)} scored architectures, {len(jobs)} to replicate, {args.workers} workers",
          flush=True)
    _append_all(args, _replicate, jobs, "replicate")
    return 0


def parse_fidelity(name: str) -> tuple[float, int, str]:
    """'f0.25-e12-val' -> (0.25, 12, 'val'), the naming of FIDELITIES."""
    try:
        f, e, p = name.split("-")
        out = float(f[1:]), int(e[1:]), p
    except ValueError:
        out = None
    if not (out and f[0] == "f" and e[0] == "e" and 0 < out[0] <= 1 and out[1] >= 1
            and (p == "val" or (p.startswith("cv") and p[2:].isdigit()))):
        raise SystemExit(f"--fidelity {name}: expected fSHARE-eEPOCHS-(val|cvK), "
                         "e.g. f0.25-e12-val")
    return out


def _extend(job: tuple) -> dict:
    args, row, name = job
    from half.nn.arch import Arch

    _, data = _worker_data(args)
    f, e, p = parse_fidelity(name)
    rec = _score(args, Arch.from_dict(row["arch"]), data, f, e, p, args.seed)
    rec.pop("cost", None)
    return {"arch_hash": row["arch_hash"], "source": row["source"], "fidelity": name, **rec}


def cmd_extend(args) -> int:
    ok, have = _scored(args)
    done = {(r["arch_hash"], r["fidelity"]) for r in have}
    for name in args.fidelity:
        parse_fidelity(name)
    # fidelity by fidelity, so that a partial run completes the first ones
    jobs = [(args, r, name) for name in args.fidelity for r in ok
            if (r["arch_hash"], name) not in done]
    print(f"{len(ok)} scored architectures, {len(jobs)} scores to add, {args.workers} workers",
          flush=True)
    _append_all(args, _extend, jobs, "extend")
    return 0


def cmd_run(args) -> int:
    out = Path(args.out)
    done = set()
    if out.is_file():
        done = {json.loads(line)["arch_hash"] for line in out.read_text().splitlines() if line}
    cands = candidates(args)
    jobs = [(args, c) for c in cands if c["arch_hash"] not in done]
    print(f"{len(cands)} candidates, {len(jobs)} to score, {args.workers} workers", flush=True)
    ok = sum(1 for line in (out.read_text().splitlines() if out.is_file() else []) if
             json.loads(line).get("status") == "ok")
    t0 = time.perf_counter()
    ctx = mp.get_context("spawn")
    with ctx.Pool(args.workers, maxtasksperchild=None) as pool:
        for row in pool.imap_unordered(_work, jobs):  # a row as soon as it is done
            with out.open("a") as f:
                f.write(json.dumps(row) + "\n")
            ok += row["status"] == "ok"
            print(f"[{time.perf_counter() - t0:7.0f} s] {ok} scored; {row['source']} "
                  f"{row['arch_hash']} {row['status']} "
                  f"ref={row.get('reference', {}).get('metric')}", flush=True)
            if ok >= args.archs + len([c for c in cands if c["source"] != "space"]):
                pool.terminate()
                break
    return 0


def spearman(a, b) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def cmd_table(args) -> int:
    rows = [json.loads(line) for line in Path(args.results).read_text().splitlines() if line]
    ok = [r for r in rows if r.get("status") == "ok"]
    ref = [r["reference"]["metric"] for r in ok]
    print(f"{len(ok)} architectures scored ({sum(r['source'] != 'space' for r in ok)} presets), "
          f"{len(rows) - len(ok)} rejected by the pre-check; reference: "
          f"{ok[0]['reference']['protocol']}, mean "
          f"{np.mean([r['reference']['seconds'] for r in ok]):.0f} s\n")
    print("| fidelity | share x epochs | protocol | Spearman rho vs reference (95 % bootstrap) "
          "| top-5 overlap | s per candidate, wall / CPU (mean) |")
    print("|---|---|---|---|---|---|")
    top = set(np.argsort(ref)[-5:].tolist())
    rng = np.random.default_rng(0)
    boots = [rng.integers(0, len(ok), len(ok)) for _ in range(1000)]
    extra: dict[str, dict[str, dict]] = {}
    for line in (Path(args.extra).read_text().splitlines() if args.extra else []):
        if line:
            rec = json.loads(line)
            extra.setdefault(rec["fidelity"], {})[rec["arch_hash"]] = rec
    for r in ok:
        r["fidelities"].update({n: got[r["arch_hash"]] for n, got in extra.items()
                                if r["arch_hash"] in got})
    names = {**{n: FIDELITIES[n] for n in FIDELITIES},
             **{n: parse_fidelity(n) for n in extra}}
    for name, (f, e, p) in names.items():
        have = [r for r in ok if name in r["fidelities"]]
        if len(have) < 3:
            continue
        if len(have) < len(ok):
            print(f"({name}: {len(have)} of {len(ok)} architectures so far)")
        vals = [r["fidelities"][name]["metric"] for r in have]
        ref = [r["reference"]["metric"] for r in have]
        top = set(np.argsort(ref)[-5:].tolist())
        boots = [rng.integers(0, len(have), len(have)) for _ in range(1000)]
        sec = np.mean([r["fidelities"][name]["seconds"] for r in have])
        cpu = np.mean([r["fidelities"][name]["cpu_seconds"] for r in have])
        hit = len(top & set(np.argsort(vals)[-5:].tolist()))
        rho = [spearman(np.take(vals, b), np.take(ref, b)) for b in boots]
        lo, hi = np.nanpercentile(rho, [2.5, 97.5])
        print(f"| {name} | {f} x {e} | {p} | {spearman(vals, ref):.3f} ({lo:.2f} .. {hi:.2f}) "
              f"| {hit} / 5 | {sec:.1f} / {cpu:.1f} |")
    if args.replicate:
        again = {}
        for line in Path(args.replicate).read_text().splitlines():
            if line:
                rec = json.loads(line)
                again[rec["arch_hash"]] = rec["metric"]
        both = [r for r in ok if r["arch_hash"] in again]
        if len(both) >= 3:
            a = [r["reference"]["metric"] for r in both]
            b = [again[r["arch_hash"]] for r in both]
            bo = [rng.integers(0, len(both), len(both)) for _ in range(1000)]
            rho = [spearman(np.take(a, i), np.take(b, i)) for i in bo]
            lo, hi = np.nanpercentile(rho, [2.5, 97.5])
            print(f"| reference, another seed ({len(both)} architectures) | | | "
                  f"{spearman(a, b):.3f} ({lo:.2f} .. {hi:.2f}) | | |")
    ref = [r["reference"]["metric"] for r in ok]
    for name, vals in (("parameters (no training)", [r["params"] for r in ok]),
                       ("MACs (no training)", [r["macs"] for r in ok]),
                       ("conv blocks (no training)", [len(r["arch"]["blocks"]) for r in ok])):
        print(f"| {name} | | | {spearman(vals, ref):.3f} | | 0 |")
    cpu = np.mean([r["reference"]["cpu_seconds"] for r in ok])
    print(f"| reference | 1 x {ok[0]['reference']['protocol'].split(', ')[1]} | "
          f"cv | 1 | 5 / 5 | {np.mean([r['reference']['seconds'] for r in ok]):.1f} / "
          f"{cpu:.1f} |")
    return 0


def _common_options(p: argparse.ArgumentParser) -> None:
    """The task, the reference protocol and the workers (of `run` and `replicate`)."""
    p.add_argument("--task", default="mitdb-aami")
    p.add_argument("--goal", default="low-energy")
    p.add_argument("--device", default="up5k")
    p.add_argument("--ref-epochs", type=int, default=8)
    p.add_argument("--ref-folds", type=int, default=3)
    p.add_argument("--ref-fraction", type=float, default=1.0, help="(smoke runs only)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--data-dir", default=None)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    _common_options(r)
    r.add_argument("--archs", type=int, default=40, help="architectures drawn from the space")
    r.add_argument("--out", required=True)
    t = sub.add_parser("table")
    t.add_argument("results")
    t.add_argument("--replicate", default=None, help="rows of `replicate` (the ceiling)")
    t.add_argument("--extra", default=None, help="rows of `extend` (more fidelities)")
    x = sub.add_parser("extend", help="score the architectures of a results file at more "
                                      "fidelities (rows appended to --out, resumable)")
    x.add_argument("results")
    _common_options(x)
    x.add_argument("--fidelity", action="append", required=True,
                   help="fSHARE-eEPOCHS-(val|cvK), repeatable, e.g. f0.25-e12-val")
    x.add_argument("--out", required=True)
    p = sub.add_parser("replicate")
    p.add_argument("results")
    _common_options(p)
    p.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    return {"run": cmd_run, "table": cmd_table, "replicate": cmd_replicate,
            "extend": cmd_extend}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
