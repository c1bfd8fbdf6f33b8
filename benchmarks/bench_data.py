# SPDX-License-Identifier: Apache-2.0
"""Time `prepare` of both tasks: cold (empty cache) and warm (second call).

    .venv/bin/python benchmarks/bench_data.py [--data-dir DIR]

Prints one JSON line per task with the windows, the counts per class and both timings.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data-dir", default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        os.environ["HALF_CACHE_DIR"] = cache
        from half.data import get_task

        for name in ("mitdb-aami", "cinc2017-af"):
            task = get_task(name)
            t0 = time.perf_counter()
            data = task.load(args.data_dir)
            t1 = time.perf_counter()
            again = task.load(args.data_dir)
            t2 = time.perf_counter()
            assert again.cache["hit"]
            print(json.dumps({"task": name, "windows": len(data), "window": data.x.shape[1],
                              "totals": task.summary(data)["totals"],
                              "cold_s": round(t1 - t0, 2), "warm_s": round(t2 - t1, 2)}))


if __name__ == "__main__":
    main()
