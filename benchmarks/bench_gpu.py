# SPDX-License-Identifier: Apache-2.0
"""GPU baseline: the designs' QCDQ export (the file bench_baseline.py runs on the CPU) on the
same test-split windows with onnxruntime-gpu, windows/s and energy per window measured by NVML.

    pip install onnxruntime-gpu nvidia-ml-py   # on the GPU machine; not dependencies of half
    .venv/bin/python benchmarks/bench_gpu.py --run R [--run R2 ...] [--model SPEC --task T] \\
        [--windows 2000] [--seed 0] [--batches 1 16 64 256 1024 4096] \\
        [--providers cuda tensorrt] [--min-seconds 2] [--warmup 20] [--device-id 0] \\
        [--data-dir D] [--results benchmarks/results/gpu.jsonl]
    .venv/bin/python benchmarks/bench_baseline.py table --gpu benchmarks/results/gpu.jsonl

Where onnxruntime has no CUDAExecutionProvider, pynvml is missing, NVML finds no driver or no
GPU, or no session runs on the GPU, it prints one line saying so and exits with status 0,
writing nothing. Nothing in half imports this script; it imports bench_baseline for the designs,
the windows and the QCDQ file, so --windows and --seed draw the windows the CPU ran.

Per design, per provider (CUDAExecutionProvider; TensorrtExecutionProvider when onnxruntime
offers it, with CUDA for the nodes TensorRT does not take, at its default precision settings)
and per batch size of --batches (whole batches, the windows repeated to fill one, as on the
CPU): `--warmup` calls (TensorRT builds its engine for the shape here), then passes over the
windows until --min-seconds have passed (whole passes), timed with perf_counter_ns from the
host: numpy in, numpy out, so the host-device copies are in every call. Agreement: argmax of the
first pass's scores against the PyTorch QAT model's.
  windows/s   windows of the timed passes / their wall time: measured;
  energy      µJ per window: measured by NVML on the GPU of --device-id (taken to be the CUDA
              device of the same index), the whole board, its idle power included: the total
              energy counter (nvmlDeviceGetTotalEnergyConsumption, mJ) read before and after the
              timed passes where the GPU supports it, else power (nvmlDeviceGetPowerUsage, mW)
              sampled every 5 ms in a thread and integrated (trapezoid) over the passes
              (coarse: the driver averages power over its own window);
  best batch  the batch size with the most windows/s, per provider (`table` shows batch 1
              and it).
Results: one JSON line per design, rewritten by each run.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_baseline's designs and windows
import bench_baseline as base  # noqa: E402

RESULTS = base.RESULTS / "gpu.jsonl"
PROVIDERS = {"cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider"}
GPU_TIME = "measured (onnxruntime-gpu, perf_counter_ns, host to host)"
NVML_COUNTER = "measured (NVML total energy counter: whole board)"
NVML_SAMPLED = "measured (NVML power samples every 5 ms, integrated: whole board)"
SAMPLE_S = 0.005


class NoGpu(Exception):
    """Nothing can be measured on a GPU here; the message says why, in one line."""


# -- energy ------------------------------------------------------------------------------------
def integrate_power(samples: list[tuple[float, float]]) -> float:
    """Joules from (seconds, watts) samples in time order: the trapezoid rule."""
    pairs = zip(samples, samples[1:], strict=False)
    return sum((t1 - t0) * (w0 + w1) / 2 for (t0, w0), (t1, w1) in pairs)


class CounterMeter:
    """NVML's total energy counter (mJ since the driver loaded), read around the loop."""

    label = NVML_COUNTER

    def __init__(self, nvml, handle):
        self.nvml, self.handle = nvml, handle

    def start(self) -> None:
        self.e0 = self.nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle)

    def stop(self) -> float:
        return (self.nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle) - self.e0) / 1e3


class SampledMeter:
    """NVML's power reading sampled in a thread every SAMPLE_S, integrated over the loop."""

    label = NVML_SAMPLED

    def __init__(self, nvml, handle):
        self.nvml, self.handle = nvml, handle

    def _sample(self) -> tuple[float, float]:
        return time.perf_counter(), self.nvml.nvmlDeviceGetPowerUsage(self.handle) / 1e3

    def _loop(self) -> None:
        while not self.done.wait(SAMPLE_S):
            self.samples.append(self._sample())

    def start(self) -> None:
        self.samples, self.done = [self._sample()], threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def stop(self) -> float:
        self.done.set()
        self.thread.join()
        self.samples.append(self._sample())
        return integrate_power(self.samples)


def make_meter(nvml, handle):
    """The counter where the GPU supports it (Volta and later), else sampled power."""
    try:
        nvml.nvmlDeviceGetTotalEnergyConsumption(handle)
        return CounterMeter(nvml, handle)
    except nvml.NVMLError:
        return SampledMeter(nvml, handle)


# -- the GPU -----------------------------------------------------------------------------------
def probe(device_id: int) -> dict:
    """onnxruntime's GPU providers and the NVML device, or NoGpu saying what is missing."""
    import onnxruntime as ort

    avail = ort.get_available_providers()
    if PROVIDERS["cuda"] not in avail:
        raise NoGpu(f"onnxruntime {ort.__version__} has no CUDAExecutionProvider (it has "
                    f"{', '.join(avail)}): install onnxruntime-gpu on a machine with an NVIDIA "
                    "GPU")
    try:
        import pynvml as nvml
    except ImportError as e:
        raise NoGpu(f"pynvml cannot be imported ({e}): pip install nvidia-ml-py, for the "
                    "GPU's energy") from e
    try:
        nvml.nvmlInit()
        count = nvml.nvmlDeviceGetCount()
        if device_id >= count:
            raise NoGpu(f"NVML sees {count} GPU(s), no device {device_id}")
        handle = nvml.nvmlDeviceGetHandleByIndex(device_id)
        name, driver = nvml.nvmlDeviceGetName(handle), nvml.nvmlSystemGetDriverVersion()
    except nvml.NVMLError as e:
        raise NoGpu(f"NVML: {e} (no NVIDIA driver or GPU)") from e
    return {"onnxruntime": ort.__version__, "providers": avail, "nvml": nvml, "handle": handle,
            "device": _text(name), "driver": _text(driver), "device_id": device_id}


def _text(v) -> str:
    """NVML's strings: bytes in older pynvml, str in newer."""
    return v.decode() if isinstance(v, bytes) else str(v)


def gpu_session(path: Path, provider: str, device_id: int):
    """A session on `provider` (TensorRT with CUDA behind it); its active providers."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    opts = {"device_id": device_id}
    chain = [(provider, opts)] + ([(PROVIDERS["cuda"], opts)] if provider != PROVIDERS["cuda"]
                                  else [])
    sess = ort.InferenceSession(str(path), so, providers=[*chain, "CPUExecutionProvider"])
    return sess, sess.get_providers()


def timed(sess, feeds: list[dict], warmup: int, min_seconds: float, meter=None) -> dict:
    """`warmup` calls, then whole passes over `feeds` until `min_seconds` have passed: per-call
    times, wall time, the first pass's scores, and the meter's joules over the passes."""
    import numpy as np

    out = [sess.get_outputs()[0].name]
    run = sess.run
    for i in range(warmup):
        run(out, feeds[i % len(feeds)])
    per, scores, passes = [], [], 0
    if meter:
        meter.start()
    t_start = time.perf_counter_ns()
    while True:
        for f in feeds:
            t0 = time.perf_counter_ns()
            s = run(out, f)[0]
            per.append(time.perf_counter_ns() - t0)
            if not passes:
                scores.append(s)
        passes += 1
        if time.perf_counter_ns() - t_start >= min_seconds * 1e9:
            break
    wall = (time.perf_counter_ns() - t_start) / 1e9
    joules = meter.stop() if meter else None
    us = np.array(per) / 1e3
    return {"wall_s": wall, "passes": passes, "calls": len(per), "joules": joules,
            "call_latency_us": {"median": float(np.median(us)),
                                "p99": float(np.percentile(us, 99))},
            "scores": np.concatenate(scores)}


def gpu_record(provider: str, active: list[str], batch: int, windows_per_pass: int,
               timing: dict, energy_label: str | None) -> dict:
    """One run of the results: windows/s and µJ/window (measured), from `timed`'s figures."""
    n = windows_per_pass * timing["passes"]
    j = timing["joules"]
    energy = ({"value": None, "unit": "µJ/window", "label": "not measured", "how": "no meter"}
              if j is None or energy_label is None else
              {"value": j * 1e6 / n, "unit": "µJ/window", "label": energy_label,
               "how": f"{j:.4g} J over {n} windows ({timing['wall_s']:.3g} s, "
                      f"{j / timing['wall_s']:.4g} W average)"})
    return {"provider": provider, "providers_active": active, "batch": batch, "possible": True,
            "per_s": n / timing["wall_s"], "per_s_label": GPU_TIME, "windows_timed": n,
            "passes": timing["passes"], "wall_s": timing["wall_s"],
            "call_latency_us": timing["call_latency_us"], "energy_uj": energy}


def measure_design(design: dict, gpu: dict, args) -> dict:
    """Every provider x batch size on the design's QCDQ export (see the module doc)."""
    t0 = time.monotonic()
    w = base.load_windows(design, args.windows, args.seed, args.data_dir)
    x, side, ref, y = w["x"], w["side"], w["ref"], w["y"]
    meter = make_meter(gpu["nvml"], gpu["handle"])
    runs, notes = [], []
    with base._qcdq_file(design, w["model"]) as (path, exported):
        if exported:
            notes.append(f"model.qcdq.onnx: {exported}")
        for key in args.providers:
            prov = PROVIDERS[key]
            if prov not in gpu["providers"]:
                notes.append(f"{prov}: not offered by onnxruntime {gpu['onnxruntime']}")
                continue
            try:
                sess, active = gpu_session(path, prov, gpu["device_id"])
            except Exception as e:  # onnxruntime's own exception types
                notes.append(f"{prov}: no session ({base._first_line(e)})")
                continue
            if active[0] != prov:
                notes.append(f"{prov}: onnxruntime fell back to {active[0]}")
                continue
            names = [i.name for i in sess.get_inputs()]
            for b in args.batches:
                feeds, n = base.batch_feeds(names, x, side, b)
                try:
                    t = timed(sess, feeds, args.warmup, args.min_seconds, meter)
                except Exception as e:  # a batch dimension fixed at 1, a kernel missing
                    runs.append({"provider": prov, "batch": b, "possible": False,
                                 "reason": base._first_line(e)})
                    continue
                rec = gpu_record(prov, active, b, n, t, meter.label)
                m = min(n, len(x))
                rec["agreement"] = base._agreement(t["scores"][:m], ref[:m], y[:m])
                runs.append(rec)
                print(f"  {prov} batch {b}: {rec['per_s']:,.0f} windows/s, "
                      f"{rec['energy_uj']['value']:.4g} µJ/window", file=sys.stderr)
    if not any(r.get("possible") for r in runs):
        raise NoGpu(f"{design['name']}: no run on the GPU ({'; '.join(notes) or 'none'})")
    from half.nn.arch import load_arch

    return {"design": design["name"], "inputs": design["inputs"], "task": design["task"],
            "model_dir": str(design["model_dir"]),
            "arch_hash": load_arch(design["model_dir"] / "arch.json").arch_hash(),
            "gpu": {"device": gpu["device"], "driver": gpu["driver"],
                    "device_id": gpu["device_id"], "onnxruntime": gpu["onnxruntime"],
                    "energy_method": meter.label, "windows": int(len(x)), "seed": args.seed,
                    "warmup": args.warmup, "min_seconds": args.min_seconds, "runs": runs},
            "notes": notes, "machine": {"cpu": base.cpu_model(), "load": base._load()},
            "seconds": round(time.monotonic() - t0, 1)}


# -- command line ------------------------------------------------------------------------------
def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", action=base._Design, dest="designs", metavar="DIR",
                    help="a `half run` folder")
    ap.add_argument("--model", action=base._Design, dest="designs", metavar="SPEC",
                    help="preset:NAME or a run folder (as `half eval --model`)")
    ap.add_argument("--task", default="mitdb-aami", help="of --model designs")
    ap.add_argument("--windows", type=int, default=2000, help="as bench_baseline's")
    ap.add_argument("--seed", type=int, default=0, help="as bench_baseline's: the same draw")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 16, 64, 256, 1024, 4096])
    ap.add_argument("--providers", nargs="+", default=["cuda", "tensorrt"],
                    choices=list(PROVIDERS))
    ap.add_argument("--min-seconds", type=float, default=2.0,
                    help="timed passes last at least this long (NVML's resolution)")
    ap.add_argument("--warmup", type=int, default=20, help="calls before timing")
    ap.add_argument("--device-id", type=int, default=0)
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--results", type=Path, default=None, help=f"default {RESULTS}")
    return ap


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    ap = parser()
    args = ap.parse_args(argv)
    if not getattr(args, "designs", None):
        ap.error("give at least one --run DIR or --model SPEC")
    for name in ("windows", "min_seconds"):
        if getattr(args, name) <= 0:
            ap.error(f"--{name.replace('_', '-')} must be positive")
    if min(args.batches) < 1 or args.warmup < 0 or args.device_id < 0:
        ap.error("--batches must be at least 1, --warmup and --device-id at least 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    _, _, HalfError = base._errors()
    try:
        gpu = probe(args.device_id)
        designs = [base.resolve_design(d, args.task) for d in args.designs]
        rows = []
        for d in designs:
            print(f"measuring {d['name']} on {gpu['device']} ...", file=sys.stderr, flush=True)
            rows.append(measure_design(d, gpu, args))
    except NoGpu as e:
        print(f"bench_gpu: nothing measured: {e}", file=sys.stderr)
        return 0
    except HalfError as exc:
        print(f"bench_gpu: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return exc.exit_code
    path = args.results or RESULTS
    base._write_lines(path, rows)
    print(f"results: {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
