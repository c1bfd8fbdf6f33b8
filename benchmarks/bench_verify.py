# SPDX-License-Identifier: Apache-2.0
"""Generate and verify designs against the golden model, with Verilator on real test windows.

    .venv/bin/python benchmarks/bench_verify.py presets [--windows 1000]
    .venv/bin/python benchmarks/bench_verify.py random [--n 50] [--windows 200] [--seed 0]
    .venv/bin/python benchmarks/bench_verify.py cases TASK:PRESET:DEVICE:GOAL:WINDOWS ...
    .venv/bin/python benchmarks/bench_verify.py table RESULTS.jsonl ...   (Markdown)

`presets`: every shipped preset x the three goals (tiny on up5k, small on ecp5-85k).
`random`: architectures drawn by the model-space sampler (`half.nn.space.Space`, seeded;
both tasks in turn), each trained briefly (1 epoch on 5 % of the training windows: real
weights and quantization scales, not accuracy) and built with a random legal folding.
Each design: `half build`, then `half verify` (random input idles 20 % and output
back-pressure 30 % after the first three windows) and one JSON line: mismatches, cycles
(latency) and initiation interval model vs measured, lint. `--jobs` designs run at once.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

GOALS = ("low-energy", "low-power", "high-throughput")
PRESET_DEVICE = {"tiny": "up5k", "small": "ecp5-85k"}


def _row(spec: str, task: str, device: str, goal: str, windows: int, folding=None,
         extra: dict | None = None) -> dict:
    from half.flow.verify import verify
    from half.rtl.build import build

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        b = build(spec, task, device, goal, Path(tmp) / "p", folding=folding)
        v = verify(Path(tmp) / "p", windows)
        return {**(extra or {}), "task": task, "device": device, "goal": goal,
                "folding": b["folding"], "windows": v["windows"],
                "mismatches": v["mismatches"], "first_mismatch_layer": v["first_mismatch_layer"],
                "cycles_model": v["cycles_model"], "cycles_measured": v["cycles_measured"],
                "ii_model": v["ii_model"], "ii_measured": v["ii_measured"],
                "lint_clean": v["lint_clean"], **({} if v["lint_clean"] else {"lint": v["lint"]}),
                "seconds": round(time.perf_counter() - t0, 1)}


def _preset_case(case: str) -> dict:
    task, preset, device, goal, windows = case.split(":")
    return _row(f"preset:{preset}", task, device, goal, int(windows), extra={"preset": preset})


def _random_model(i: int, seed: int, tmp: Path, decimations: tuple[int, ...] | None = None):
    """Random architecture i of the seeded sampler (its decimation drawn from `decimations`,
    None: the space's), trained briefly into `tmp`/run: (run folder, task, IR graph, arch, the
    design's rng: next, its folding)."""
    import torch

    from half.hw.plan import graph_for
    from half.nn.runs import resolve_model, train_run
    from half.nn.space import Space
    from half.nn.train import TrainConfig

    torch.set_num_threads(1)
    task = ("mitdb-aami", "cinc2017-af")[i % 2]
    params = json.loads((resolve_model("preset:tiny", task) / "task.json").read_text())["params"]
    rng = np.random.default_rng([seed, i])
    side = 8 if task == "mitdb-aami" else 0
    n_classes = 5 if task == "mitdb-aami" else 4
    space = Space() if decimations is None else Space(decimations=decimations)
    arch = space.sample(rng, window=int(params["window"]), n_classes=n_classes,
                        side_inputs=side)
    (tmp / "arch.json").write_text(arch.to_json())
    run = tmp / "run"
    train_run(task, str(tmp / "arch.json"), run,
              TrainConfig(epochs=1, stop_at=1, train_fraction=0.05, threads=1, seed=i), params)
    graph, _ = graph_for(str(run), task)
    return run, task, graph, arch, rng


def random_folding(graph, rng, clock_mhz: float = 12.0, replicas: int = 1,
                   samples_per_beat: int = 1):
    """A random legal (PE, SIMD) per MAC layer (drawn in layer order)."""
    from half.hw.design import Folding, options

    pe_simd = {}
    for layer in graph.mac_layers():
        pes, simds = options(layer)
        pe_simd[layer.name] = (int(rng.choice(pes)), int(rng.choice(simds)))
    return Folding(pe_simd, clock_mhz, replicas, samples_per_beat=samples_per_beat)


def arch_extra(i: int, arch) -> dict:
    """A random design's row fields describing its architecture."""
    return {"random": i, "arch_hash": arch.arch_hash(), "kinds": sorted({b.kind for b in
                                                                         arch.blocks}),
            "blocks": len(arch.blocks), "decimation": arch.decimation, "macs": arch.macs()}


def _random_case(args: tuple[int, int, int]) -> dict:
    """Random architecture i of the seeded sampler: train briefly, fold at random, verify."""
    i, seed, windows = args
    with tempfile.TemporaryDirectory() as tmp:
        run, task, graph, arch, rng = _random_model(i, seed, Path(tmp))
        folding = random_folding(graph, rng)
        return _row(str(run), task, "ecp5-85k", "high-throughput", windows, folding,
                    extra=arch_extra(i, arch))


def _table(rows: list[dict]) -> str:
    out = ["| design | task | device | clock | windows | mismatches | cycles model / measured "
           "| II model / measured | lint |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        name = (f"{r['preset']} {r['goal']}" if "preset" in r else
                f"random #{r['random']} ({'+'.join(r['kinds'])}, {r['blocks']} blocks, "
                f"decimation {r['decimation']})") if "error" not in r else r["case"]
        if "error" in r:
            out.append(f"| {name} | error: {r['error']} |||||||")
            continue
        out.append(f"| {name} | {r['task']} | {r['device']} | {r['folding']['clock_mhz']:g} MHz "
                   f"| {r['windows']:,} | **{r['mismatches']}** | {r['cycles_model']:,} / "
                   f"{r['cycles_measured']:,} | {r['ii_model']:,} / {r['ii_measured']:,} | "
                   f"{'clean' if r['lint_clean'] else 'WARNINGS'} |")
    return "\n".join(out)


def _guarded(job) -> dict:
    """A design's row, or the error that stopped it (reported, counted as a fault)."""
    fn, item = job
    try:
        return fn(item)
    except Exception as exc:  # noqa: BLE001 - a benchmark reports every failure and goes on
        return {"case": str(item), "error": f"{type(exc).__name__}: {exc}"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="mode", required=True)
    p = sub.add_parser("presets")
    p.add_argument("--windows", type=int, default=1000)
    r = sub.add_parser("random")
    r.add_argument("--n", type=int, default=50)
    r.add_argument("--windows", type=int, default=200)
    r.add_argument("--seed", type=int, default=0)
    c = sub.add_parser("cases")
    c.add_argument("cases", nargs="+")
    t = sub.add_parser("table", help="Markdown table of JSON-lines results")
    t.add_argument("files", nargs="+", type=Path)
    for s in (p, r, c):
        s.add_argument("--jobs", type=int, default=2)
        s.add_argument("--out", type=Path, help="also append the JSON lines to this file")
    args = ap.parse_args()
    if args.mode == "table":
        print(_table([json.loads(x) for f in args.files for x in f.read_text().splitlines()]))
        return
    if args.mode == "presets":
        jobs = [f"{task}:{preset}:{dev}:{goal}:{args.windows}"
                for preset, dev in PRESET_DEVICE.items()
                for task in ("mitdb-aami", "cinc2017-af") for goal in GOALS]
        fn, items = _preset_case, jobs
    elif args.mode == "cases":
        fn, items = _preset_case, args.cases
    else:
        fn, items = _random_case, [(i, args.seed, args.windows) for i in range(args.n)]
    bad = 0
    with ProcessPoolExecutor(args.jobs) as pool:
        for row in pool.map(_guarded, [(fn, item) for item in items]):
            if "error" in row:
                bad += 1
                print(json.dumps(row), flush=True)
                continue
            bad += row["mismatches"] + (row["cycles_model"] != row["cycles_measured"]) + \
                (row["ii_model"] != row["ii_measured"]) + (not row["lint_clean"])
            line = json.dumps(row)
            print(line, flush=True)
            if args.out:
                with args.out.open("a") as f:
                    f.write(line + "\n")
    print(f"{len(items)} designs, {bad} faults (mismatches, cycle/II differences, lint)")
    raise SystemExit(1 if bad else 0)


if __name__ == "__main__":
    main()
