# SPDX-License-Identifier: Apache-2.0
"""Training speed (windows/s) of each preset's architecture, float vs QAT, 1 and 2 threads.

    .venv/bin/python benchmarks/bench_train_speed.py [--steps 30] [--batch 256]

Times forward + backward + AdamW steps on random windows of the preset's shape (the speed does
not depend on the values), after 3 warm-up steps. Prints one JSON line per measurement.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import yaml

from half.nn.arch import Arch
from half.nn.model import QuantCNN

RECIPES = Path(__file__).resolve().parent / "presets"


def windows_per_s(arch: Arch, quant: bool, threads: int, steps: int, batch: int) -> float:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = QuantCNN(arch, quant=quant)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randn(batch, arch.window)
    side = torch.randn(batch, arch.side_inputs) if arch.side_inputs else None
    y = torch.randint(0, arch.n_classes, (batch,))
    loss_fn = torch.nn.CrossEntropyLoss()
    for i in range(steps + 3):
        if i == 3:
            t0 = time.perf_counter()
        loss = loss_fn(model(x, side), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return steps * batch / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batch", type=int, default=256)
    args = ap.parse_args()
    for recipe in sorted(RECIPES.glob("*.yaml")):
        arch = Arch.from_dict(yaml.safe_load(recipe.read_text())["arch"])
        for threads in (1, 2):
            row = {"preset": recipe.stem, "threads": threads, "batch": args.batch}
            for quant in (False, True):
                key = "qat_windows_per_s" if quant else "float_windows_per_s"
                row[key] = round(windows_per_s(arch, quant, threads, args.steps, args.batch))
            row["qat_slowdown"] = round(row["float_windows_per_s"] / row["qat_windows_per_s"], 2)
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
