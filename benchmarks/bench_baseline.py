# SPDX-License-Identifier: Apache-2.0
"""Baseline: the chosen designs next to the same model run with onnxruntime on this machine's
CPU (measured throughput and latency, energy per window measured by RAPL or estimated from the
TDP) and, from benchmarks/bench_gpu.py's results, on a GPU; every figure says where it comes
from ("measured ..." or "estimate ...").

    .venv/bin/python benchmarks/bench_baseline.py measure --run R [--run R2 ...] \
        [--windows 2000] [--warmup 200] [--batch 256] [--threads 1 2] \
        [--optimizations all disabled] [--seed 0] [--data-dir D] [--results FILE] \
        [--cpu-tdp-w W --cpu-package-cores N]
    .venv/bin/python benchmarks/bench_baseline.py measure --model preset:tiny [--project P] \
        [--task mitdb-aami] [--model runs/x --project P2 ...]
    .venv/bin/python benchmarks/bench_baseline.py table [FILE] [--gpu benchmarks/results/gpu.jsonl]

On a machine without readable RAPL counters whose CPU is not in platforms.TDP_TABLE (this
project's: /proc/cpuinfo says only "AMD EPYC", under a hypervisor), `measure` records the
CPU's energy as not estimated unless --cpu-tdp-w and --cpu-package-cores give the datasheet's
TDP of the host's part and its cores (then an estimate, labelled so).

A design is a `half run` folder (`--run R`: the chosen model R/model/, the RTL project
R/project/, the task from R/run.json) or a model spec as `half eval --model` takes it
(`--model preset:tiny` or a run folder, task `--task`), optionally followed by the `half build`
project made from it (`--project P`: its reports/verify.json and reports/implementation.json
are read when `half verify` and `half implement` were run). Nothing is re-run on the FPGA side.

CPU (measured here, onnxruntime's CPUExecutionProvider): the model's QCDQ export
(model.qcdq.onnx; the model folders of a search hold none: then half.nn.export.export_qcdq
writes one from model.pt into a temporary folder, and the notes say so) on `--windows`
test-split windows of its task (seeded draw; repeated when the split is smaller), prepared by
half.nn.runs.load_run_data as the model sees them (task parameters of task.json, side (RR)
features standardized with side_norm.json; the decimation is inside the graph).
  agreement   argmax of onnxruntime's scores vs the PyTorch QAT model on the same windows
              (1.0: every class the same), windows whose scores differ at all, the largest
              difference; for each graph optimization level of `--optimizations` (default:
              onnxruntime's default "all", and "disabled", the graph as exported: the
              optimizations rewrite quantize/dequantize nodes, which can move a value across
              a rounding step and so change a score by a quantization step);
  latency     batch 1, one call per window after `--warmup` calls, time.perf_counter_ns
              around each call: median and p99 in µs (intra_op and inter_op threads 1; the
              same with `--threads` 2);
  throughput  windows/s: batch 1, the windows one call after another (wall time of the whole
              loop), and batch `--batch` (whole batches, wall time) if the graph's batch
              dimension accepts it: tried, and when the export fixes it at 1 the row says so
              (the file is not re-exported); each with every `--threads` count;
  machine     onnxruntime version, CPU model (/proc/cpuinfo), cores, load average before and
              after (other jobs on the machine slow the CPU figures down).
  energy      µJ per window of every timed loop (benchmarks/platforms.py): "measured" from the
              RAPL package counters (/sys/class/powercap/intel-rapl:N/energy_uj, wrap-around
              at max_energy_range_uj) read just before and after the loop when readable: the
              whole package, other processes included; otherwise an "estimate": the share
              threads / package cores of the package's TDP (--cpu-tdp-w, or the table by the
              /proc/cpuinfo model) times the measured time per window.

FPGA (read from the project's files; every figure carries a label):
  clock       the folding's target clock (predicted.json); "tool-reported (nextpnr)" when
              place and route met it, else "estimate (cost model)";
  timing, fmax  nextpnr's static timing after routing (implementation.json): tool-reported;
  latency     Verilator's cycles_measured / clock, throughput clock / ii_measured: "measured
              cycles at the tool-verified clock" when nextpnr met the clock, "estimate" when
              the clock was not verified (no implementation, timing not met, does not fit),
              "estimate (cost model)" from the cycle model when `half verify` was not run;
  at fmax     fmax / II (nextpnr's fmax, Verilator's II when measured);
  energy, power  energy per inference (duty-cycled) and average power at the task's rate:
              estimates of the cost model (predicted.json);
  resources   post-route utilization (nextpnr); post-synthesis cells (Yosys) when it did not
              get that far; the cost model's estimate without an implementation;
  verification  windows and mismatches of `half verify`: measured (Verilator).

GPU: benchmarks/bench_gpu.py measures the same QCDQ export on the same windows (same --seed
and --windows) with onnxruntime-gpu and NVML; `table` sets its rows beside the designs.
`table` first prints the platforms side by side (FPGA, CPU batch 1 and best run, GPU batch 1
and best batch per provider: windows/s and µJ/window, each labelled) and one line per design
saying against which platform the FPGA wins and loses.

Results: benchmarks/results/baseline.jsonl (one line per design; rewritten by each run, via a
temporary file), `--results FILE` elsewhere. Errors (a missing or broken folder or file) are
one line on stderr naming the file, with a non-zero exit and no results file.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # platforms: energy and the table
import platforms  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
VERILATOR = "measured (Verilator)"
NEXTPNR = "tool-reported (nextpnr)"
YOSYS = "tool-reported (Yosys, post-synthesis)"
COST = "estimate (cost model)"
VERIFIED = "measured cycles at the tool-verified clock"
UNVERIFIED = "estimate (Verilator cycles at a clock place and route did not verify)"
AT_FMAX = "measured cycles at the tool-reported fmax"
AT_FMAX_COST = "estimate (cost-model cycles at the tool-reported fmax)"
NO_POWER = ("a CPU core's power was not measured (no power meter on this machine): energy and "
            "power are compared only where known (FPGA: cost-model estimates, marked *)")


def energy_note(source: dict | None) -> str:
    """The one note that says where the CPU's energy per window comes from."""
    if not source or source["kind"] == "none":
        return f"{NO_POWER}; CPU energy not estimated: " + (source or {}).get("reason", "-")
    if source["kind"] == "rapl":
        return (f"CPU energy per window: {source['label']}, read before and after each timed "
                f"loop ({', '.join(source['files'])})")
    return (f"CPU energy per window: an ESTIMATE, not measured (no power meter: "
            f"{source['reason']}): threads / {source['package_cores']} package cores "
            f"({source['cores_from']}) x {source['tdp_w']:g} W TDP ({source['tdp_from']}) x "
            "the measured time per window")


# -- files -------------------------------------------------------------------------------------
def _errors():
    from half.errors import ConfigError, DataError, HalfError

    return ConfigError, DataError, HalfError


def read_json(path: Path, required: bool = True) -> dict | None:
    """The JSON object in `path`; a one-line DataError naming it when missing or broken."""
    _, DataError, _ = _errors()
    if not path.is_file():
        if required:
            raise DataError(path, "missing")
        return None
    try:
        obj = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise DataError(path, f"not valid JSON ({e})") from e
    if not isinstance(obj, dict):
        raise DataError(path, "not a JSON object")
    return obj


def _field(obj: dict, path: Path, *keys: str):
    """obj[k0][k1]...; a DataError naming the file and the field when absent."""
    _, DataError, _ = _errors()
    cur = obj
    for i, k in enumerate(keys):
        if not isinstance(cur, dict) or k not in cur:
            raise DataError(path, f"no field {'.'.join(keys[:i + 1])!r}")
        cur = cur[k]
    return cur


def resolve_design(d: dict, task: str) -> dict:
    """A design from the command line ({"kind": "run"|"model", "spec", "project"?}): its name,
    task, model spec and folder and project folder, checked before anything is measured."""
    _, DataError, _ = _errors()
    if d["kind"] == "run":
        root = Path(d["spec"])
        if not root.is_dir():
            raise DataError(root, "no such run folder")
        run = read_json(root / "run.json")
        task = _field(run, root / "run.json", "settings", "task")
        model_dir = root / "model"
        if not (model_dir / "arch.json").is_file():
            raise DataError(model_dir, "no chosen model (arch.json missing: the run's choose "
                            "stage did not finish)")
        project = root / "project" if (root / "project" / "design.json").is_file() else None
        s = run["settings"]
        name = f"run {root.name} ({s.get('goal')}, {s.get('device')})"
        spec, inputs = str(model_dir), {"run": str(root)}
    else:
        from half.nn.runs import resolve_model

        spec = d["spec"]
        model_dir = resolve_model(spec, task)
        project = Path(d["project"]) if d.get("project") else None
        name = spec + (f" + {project.name}" if project else "")
        inputs = {"model": spec, "project": None if project is None else str(project)}
        if project is not None:
            _check_project(project, model_dir, task)
    qcdq = model_dir / "model.qcdq.onnx"  # search and re-evaluation runs write none
    if project is not None:
        for f in ("design.json", "predicted.json"):
            read_json(project / f)
    return {"name": name, "inputs": inputs, "task": task, "model_spec": spec,
            "model_dir": model_dir, "qcdq": qcdq if qcdq.is_file() else None,
            "project": project}


def _check_project(project: Path, model_dir: Path, task: str) -> None:
    """The project was built from this model for this task (as far as source.json tells)."""
    ConfigError, DataError, HalfError = _errors()
    from half.nn.runs import resolve_model

    if not project.is_dir():
        raise DataError(project, "no such project folder")
    src = read_json(project / "source.json")
    if src.get("task") != task:
        raise ConfigError("project", f"{project} was built for task {src.get('task')}, "
                          f"not {task}")
    try:
        built = resolve_model(str(src.get("model")), task)
    except HalfError:  # a relative path from another working folder: cannot tell
        return
    if built.resolve() != model_dir.resolve():
        raise ConfigError("project", f"{project} was built from {src.get('model')} "
                          f"({built}), not from {model_dir}")


# -- machine -----------------------------------------------------------------------------------
def cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def machine() -> dict:
    import numpy as np
    import onnxruntime as ort
    import torch

    git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                         text=True, cwd=Path(__file__).parent)
    return {"cpu": cpu_model(), "cores": os.cpu_count(),
            "cores_usable": len(os.sched_getaffinity(0)), "onnxruntime": ort.__version__,
            "python": platform.python_version(), "numpy": np.__version__,
            "torch": torch.__version__, "commit": git.stdout.strip() or None}


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# -- CPU: onnxruntime --------------------------------------------------------------------------
OPTIMIZATIONS = {"all": "ORT_ENABLE_ALL", "extended": "ORT_ENABLE_EXTENDED",
                 "basic": "ORT_ENABLE_BASIC", "disabled": "ORT_DISABLE_ALL"}


def session(path: Path, threads: int, optimization: str = "all"):
    """An onnxruntime CPU session with `threads` intra-op threads, one inter-op thread and the
    graph optimizations `optimization` (OPTIMIZATIONS; "all" is onnxruntime's default)."""
    import onnxruntime as ort

    _, DataError, _ = _errors()
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = getattr(ort.GraphOptimizationLevel,
                                          OPTIMIZATIONS[optimization])
    so.log_severity_level = 3  # older exports list their initializers as inputs: a warning each
    try:
        return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime's own exception types
        raise DataError(path, f"onnxruntime cannot load it ({_first_line(e)})") from e


def _first_line(e: Exception) -> str:
    lines = [x.strip() for x in str(e).splitlines() if x.strip()]
    return " ".join(lines[:3])[:300] if lines else type(e).__name__


def _initializer_inputs(path: Path) -> int:
    """Initializers the graph also lists as inputs: onnxruntime cannot constant-fold them."""
    import onnx

    g = onnx.load(str(path)).graph
    inits = {i.name for i in g.initializer}
    return sum(i.name in inits for i in g.input)


def _sequential(sess, feeds: list[dict], warmup: int, rapl=None) -> tuple[dict, list]:
    """One call per window; per-call times (ns) and the wall time of the whole loop, and the
    RAPL counters' µJ over it where `rapl` (platforms.Rapl) is given."""
    import numpy as np

    out = [sess.get_outputs()[0].name]
    run = sess.run
    for i in range(warmup):
        run(out, feeds[i % len(feeds)])
    ns = np.empty(len(feeds), dtype=np.int64)
    scores = [None] * len(feeds)
    e0 = rapl.read() if rapl else None
    t_start = time.perf_counter_ns()
    for i, f in enumerate(feeds):
        t0 = time.perf_counter_ns()
        scores[i] = run(out, f)[0]
        ns[i] = time.perf_counter_ns() - t0
    wall = time.perf_counter_ns() - t_start
    energy = {"rapl_uj": rapl.delta_uj(e0, rapl.read())} if rapl else {}
    us = ns / 1e3
    return ({"latency_us": {"median": float(np.median(us)), "p99": float(np.percentile(us, 99)),
                            "mean": float(us.mean()), "min": float(us.min())},
             "per_s": len(feeds) / (wall / 1e9), "wall_s": wall / 1e9,
             "windows_timed": len(feeds), **energy}, scores)


def batch_feeds(names: list[str], x, side, batch: int) -> tuple[list[dict], int]:
    """(feeds of whole batches of `batch` windows, windows they hold): the windows repeated to
    fill at least one batch; a remainder short of a batch left out."""
    import numpy as np

    reps = -(-batch // len(x))
    xs, ss = np.tile(x, (reps, 1)), None if side is None else np.tile(side, (reps, 1))
    n = max(1, len(x) // batch) * batch
    return [{names[0]: xs[i:i + batch], **({} if ss is None else {names[1]: ss[i:i + batch]})}
            for i in range(0, n, batch)], n


def _batched(sess, x, side, batch: int, warmup: int, rapl=None) -> tuple[dict, object]:
    """Whole batches of `batch` windows (batch_feeds); tried: a graph whose batch dimension is
    fixed says so instead. RAPL's µJ over the timed loop where `rapl` is given."""
    import numpy as np

    names = [i.name for i in sess.get_inputs()]
    shape = sess.get_inputs()[0].shape
    chunks, n = batch_feeds(names, x, side, batch)
    out = [sess.get_outputs()[0].name]
    try:
        sess.run(out, chunks[0])
    except Exception as e:  # onnxruntime's own exception types
        fixed = f"fixed at {shape[0]} " if isinstance(shape[0], int) else ""
        return {"possible": False, "input_shape": shape,
                "reason": f"the export's batch dimension is {fixed}(input {names[0]!r} "
                          f"shape {shape}); onnxruntime: {_first_line(e)}"}, None
    for i in range(warmup):
        sess.run(out, chunks[i % len(chunks)])
    per = []
    scores = []
    e0 = rapl.read() if rapl else None
    t_start = time.perf_counter_ns()
    for c in chunks:
        t0 = time.perf_counter_ns()
        scores.append(sess.run(out, c)[0])
        per.append(time.perf_counter_ns() - t0)
    wall = time.perf_counter_ns() - t_start
    energy = {"rapl_uj": rapl.delta_uj(e0, rapl.read())} if rapl else {}
    per_us = np.array(per) / 1e3
    return ({"possible": True, "input_shape": shape, "batches": len(chunks),
             "batch_latency_us": {"median": float(np.median(per_us)),
                                  "p99": float(np.percentile(per_us, 99))},
             "per_s": n / (wall / 1e9), "wall_s": wall / 1e9, "windows_timed": n, **energy},
            np.concatenate(scores)[:min(n, len(x))])  # the windows of x covered


def _agreement(scores, ref, y) -> dict:
    """onnxruntime's scores vs the PyTorch model's on the same windows."""
    import numpy as np

    same = scores.argmax(1) == ref.argmax(1)
    return {"argmax_agreement": float(same.mean()), "disagreements": int((~same).sum()),
            "windows_with_other_scores": int((np.abs(scores - ref).max(1) > 1e-4).sum()),
            "max_abs_score_diff": float(np.abs(scores - ref).max()),
            "accuracy": float((scores.argmax(1) == y).mean())}


@contextlib.contextmanager
def _qcdq_file(design: dict, model):
    """(path, how it came about): the model folder's QCDQ export, or, where it has none (the
    run folders of a search hold the QONNX export only), one written from its weights by
    half.nn.export.export_qcdq into a temporary folder, removed afterwards."""
    if design["qcdq"] is not None:
        yield design["qcdq"], None
        return
    from half.nn.export import export_qcdq

    with tempfile.TemporaryDirectory(prefix="bench-baseline-") as tmp:
        path = export_qcdq(model, Path(tmp) / "model.qcdq.onnx")
        yield path, ("exported by this benchmark with half.nn.export.export_qcdq from "
                     f"{design['model_dir'] / 'model.pt'} (the folder holds no model.qcdq.onnx)")


def _runs(path: Path, x, side, ref, y, warmup: int, batch: int, threads, optimizations,
          energy: dict | None = None) -> tuple[dict, list[dict]]:
    """(input shapes, one record per optimization level x threads x batch size, each with its
    energy per window by `energy`, a platforms.energy_source)."""
    import numpy as np

    _, DataError, _ = _errors()
    probe = session(path, 1, "disabled")
    names = [i.name for i in probe.get_inputs()]
    shapes = {i.name: i.shape for i in probe.get_inputs()}
    k = 0 if side is None else side.shape[1]
    if len(names) != (2 if k else 1) or shapes[names[0]][-1] != x.shape[1]:
        raise DataError(path, f"inputs {shapes} do not take windows of {x.shape[1]} samples"
                        + (f" and {k} side features" if k else ""))
    feeds = [{names[0]: x[i:i + 1], **({names[1]: side[i:i + 1]} if k else {})}
             for i in range(len(x))]
    rapl = platforms.meter(energy)
    runs = []
    for opt in optimizations:
        for t in threads:
            sess = session(path, t, opt)
            seq, scores = _sequential(sess, feeds, warmup, rapl)
            runs.append({"optimization": opt, "threads": t, "batch": 1, **seq,
                         "agreement": _agreement(np.concatenate(scores), ref, y)})
            if batch > 1:
                res, bscores = _batched(sess, x, side, batch, max(1, warmup // batch), rapl)
                if bscores is not None:
                    m = len(bscores)
                    res["agreement"] = _agreement(bscores, ref[:m], y[:m])
                runs.append({"optimization": opt, "threads": t, "batch": batch, **res})
    for r in runs:
        if r.get("per_s"):
            r["energy_uj"] = platforms.cpu_energy(r, energy)
    return shapes, runs


def load_windows(design: dict, windows: int, seed: int, data_dir: Path | None) -> dict:
    """The seeded draw of `windows` test-split windows as the model sees them (x, side, y),
    the PyTorch QAT model's scores on them (ref) and the model; bench_gpu takes the same."""
    import numpy as np
    import torch

    from half.nn.runs import load_run_data

    _, DataError, _ = _errors()
    t0 = time.monotonic()
    folder, arch, norm, model, data = load_run_data(design["model_spec"], design["task"],
                                                    "test", data_dir)
    if len(data) == 0:
        raise DataError(folder, f"no test-split windows of {design['task']} in the data found")
    data_s = time.monotonic() - t0
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(data), size=windows, replace=windows > len(data))
    x = np.ascontiguousarray(data.x[pick], dtype=np.float32)  # (n, window) mV
    side_t = norm(None if data.side is None else data.side[pick])  # standardized, (n, k)
    k = arch.side_inputs
    side = None if not k else np.ascontiguousarray(side_t.numpy()[:, :k], dtype=np.float32)
    y = data.y[pick]

    torch.set_num_threads(1)
    with torch.no_grad():  # the reference: the PyTorch QAT model on the same windows
        ref = np.concatenate([model(torch.from_numpy(x[i:i + 512]),
                                    None if side_t is None else side_t[i:i + 512]).numpy()
                              for i in range(0, len(x), 512)])
    return {"x": x, "side": side, "y": y, "ref": ref, "pick": pick, "model": model,
            "data": data, "data_seconds": round(data_s, 1)}


def cpu_measure(design: dict, windows: int = 2000, warmup: int = 200, batch: int = 256,
                threads: tuple[int, ...] = (1, 2), optimizations: tuple[str, ...] = ("all",),
                seed: int = 0, data_dir: Path | None = None, energy: dict | None = None
                ) -> dict:
    """The design's QCDQ export in onnxruntime on test-split windows (see the module doc);
    energy per window by `energy` (platforms.energy_source; None: not estimated)."""
    import numpy as np
    import onnxruntime as ort

    w = load_windows(design, windows, seed, data_dir)
    x, y, ref, data = w["x"], w["y"], w["ref"], w["data"]
    with _qcdq_file(design, w["model"]) as (path, exported):
        load_before = _load()
        shapes, runs = _runs(path, x, w["side"], ref, y, warmup, batch, threads, optimizations,
                             energy)
        load_after = _load()
        initializer_inputs = _initializer_inputs(path)
    return {
        "energy_source": energy,
        "onnx_file": None if exported else str(path),
        "onnx_source": exported or "the model folder's model.qcdq.onnx",
        "onnxruntime": ort.__version__, "provider": "CPUExecutionProvider", "inputs": shapes,
        "initializers_listed_as_inputs": initializer_inputs,
        "windows": int(len(x)), "distinct_windows": int(len(np.unique(w["pick"]))),
        "test_windows": len(data), "seed": seed, "warmup": warmup,
        "data_source": data.source, "data_warnings": list(data.warnings),
        "data_seconds": w["data_seconds"],
        "reference": {"model": "PyTorch QAT model (model.pt, half.nn.train.load_run)",
                      "accuracy": float((ref.argmax(1) == y).mean())},
        "runs": runs, "load_before": load_before, "load_after": load_after}


# -- FPGA: the project's files -----------------------------------------------------------------
def _fig(value, unit: str, label: str, how: str) -> dict:
    return {"value": value, "unit": unit, "label": label, "how": how}


def fpga_figures(project: Path | None) -> dict | None:
    """The design's FPGA figures from design.json, predicted.json and reports/ (not re-run)."""
    if project is None:
        return None
    ConfigError, DataError, _ = _errors()
    pp, dp = project / "predicted.json", project / "design.json"
    pred, design = read_json(pp), read_json(dp)
    vp, ip = project / "reports" / "verify.json", project / "reports" / "implementation.json"
    ver, im = read_json(vp, required=False), read_json(ip, required=False)
    clock = _field(pred, pp, "clock_mhz")
    if _field(design, dp, "folding", "clock_mhz") != clock:
        raise DataError(pp, f"clock {clock} MHz differs from design.json's "
                        f"{design['folding']['clock_mhz']} MHz: rebuild the project")
    notes = []
    fmax = im.get("fmax_mhz") if im else None
    met = im.get("timing_met") if im else None
    if im is None:
        clock_how = "place and route not run (no reports/implementation.json)"
    elif not im.get("fits"):
        clock_how = f"not verified: {im.get('bitstream_note') or 'does not fit'}"
    elif fmax is None:
        clock_how = f"not verified: {im.get('bitstream_note') or 'no timing report'}"
    else:
        clock_how = (f"nextpnr after routing: fmax {fmax:.2f} MHz, timing "
                     f"{'met' if met else 'NOT met'}")
    verified = bool(im and im.get("kind") == "post-route" and met is True)
    out = {"device": pred.get("device"), "part": pred.get("part"), "goal": pred.get("goal"),
           "folding": design["folding"],
           "clock_mhz": _fig(clock, "MHz", NEXTPNR if verified else COST,
                             f"the folding's target clock (predicted.json); {clock_how}")}
    if ver:
        cycles, ii = _field(ver, vp, "cycles_measured"), _field(ver, vp, "ii_measured")
        label = VERIFIED if verified else UNVERIFIED
        how = f"Verilator: latency {cycles} cycles, II {ii} cycles (reports/verify.json)"
        out["verification"] = _fig({"windows": ver.get("windows"),
                                    "mismatches": ver.get("mismatches"),
                                    "lint_clean": ver.get("lint_clean")}, "", VERILATOR,
                                   "half verify: RTL classes vs the golden model")
        if ver.get("mismatches"):
            notes.append(f"{project}: the RTL differs from the golden model on "
                         f"{ver['mismatches']} of {ver.get('windows')} windows")
    else:
        cycles, ii = _field(pred, pp, "latency_cycles"), _field(pred, pp, "ii_cycles")
        label = COST
        how = f"half.hw.cost cycle model: latency {cycles} cycles, II {ii} (not simulated)"
    if ii is None:
        raise DataError(vp if ver else pp, "no ii_measured (verified with fewer than 2 timing "
                        "windows)" if ver else "no ii_cycles")
    out["latency_us"] = _fig(cycles / clock, "µs", label, f"{how} / {clock:g} MHz; {clock_how}")
    out["per_s"] = _fig(clock * 1e6 / ii, "inferences/s", label, f"{clock:g} MHz / II; {how}")
    if im:
        out["fits"] = _fig(im.get("fits"), "", NEXTPNR if im.get("kind") == "post-route"
                           else YOSYS, f"implementation.json ({im.get('kind')})")
        out["timing_met"] = _fig(met, "", NEXTPNR, clock_how)
        out["fmax_mhz"] = _fig(fmax, "MHz", NEXTPNR, f"nextpnr static timing after routing, "
                               f"target {im.get('target_mhz')} MHz")
        if fmax:
            out["per_s_at_fmax"] = _fig(fmax * 1e6 / ii, "inferences/s",
                                        AT_FMAX if ver else AT_FMAX_COST,
                                        f"{fmax:.2f} MHz / II {ii} cycles")
            out["latency_us_at_fmax"] = _fig(cycles / fmax, "µs",
                                             AT_FMAX if ver else AT_FMAX_COST,
                                             f"{cycles} cycles / {fmax:.2f} MHz")
    rate = _field(pred, pp, "power_estimate_mw", "rate_per_s")
    out["energy_uj"] = _fig(_field(pred, pp, "energy_estimate_uj"), "µJ", COST,
                            "per inference, duty-cycled (wake, classify, sleep): "
                            "predicted.json")
    out["power_mw"] = _fig(_field(pred, pp, "power_estimate_mw", "average_at_rate"), "mW", COST,
                           f"average at the task's rate {rate:.4g}/s, always on: "
                           "predicted.json")
    out["rate_per_s"] = rate
    if im and im.get("utilization"):
        out["resources"] = _fig({k: v["used"] for k, v in im["utilization"].items()}, "",
                                NEXTPNR, "post-route utilization (nextpnr --report), of "
                                + ", ".join(f"{k} {v['available']}"
                                            for k, v in im["utilization"].items()))
    elif im and im.get("resources"):
        out["resources"] = _fig({k: v["used"] for k, v in im["resources"].items()}, "", YOSYS,
                                f"cells after `{im.get('synthesis')}` (no place and route)")
    else:
        out["resources"] = _fig(_field(pred, pp, "resources_estimate"), "", COST,
                                "predicted.json (no implementation)")
    if im and met is False:
        notes.append(f"{project}: timing not met (fmax {fmax:.2f} MHz < target {clock:g} MHz):"
                     " the throughput at fmax is the one the design reaches")
    out["notes"] = notes
    return out


# -- one design --------------------------------------------------------------------------------
def cpu_notes(cpu: dict) -> list[str]:
    """What the CPU figures need said: batch dimension, graph inputs, agreement."""
    notes = [] if cpu["onnx_file"] else [f"model.qcdq.onnx: {cpu['onnx_source']}"]
    fixed = [r for r in cpu["runs"] if r["batch"] > 1 and not r["possible"]]
    if fixed:
        notes.append(f"batch {fixed[0]['batch']}: not measured: {fixed[0]['reason']}")
    if cpu["initializers_listed_as_inputs"]:
        notes.append(f"the QCDQ export lists {cpu['initializers_listed_as_inputs']} "
                     "initializers as graph inputs too: onnxruntime treats them as overridable "
                     "inputs and does not constant-fold them; measured as exported")
    for r in cpu["runs"]:
        a = r.get("agreement")
        if a and a["windows_with_other_scores"]:
            notes.append(f"onnxruntime, graph optimizations {r['optimization']}, batch "
                         f"{r['batch']} x {r['threads']} thread(s): scores differ from "
                         f"PyTorch's on {a['windows_with_other_scores']} of {cpu['windows']} "
                         f"windows (up to {a['max_abs_score_diff']:.3g}), the class on "
                         f"{a['disagreements']}")
    return notes


def measure_design(design: dict, args) -> dict:
    from half.nn.arch import load_arch

    arch = load_arch(design["model_dir"] / "arch.json")
    t0 = time.monotonic()
    cpu = cpu_measure(design, args.windows, args.warmup, args.batch, tuple(args.threads),
                      tuple(args.optimizations), args.seed, args.data_dir,
                      getattr(args, "energy", None))
    fpga = fpga_figures(design["project"])
    notes = [energy_note(cpu["energy_source"]), *cpu_notes(cpu), *cpu["data_warnings"],
             *(fpga["notes"] if fpga else [])]
    if fpga is None:
        notes.append("no RTL project: FPGA figures not available (give --project P)")
    return {"design": design["name"], "inputs": design["inputs"], "task": design["task"],
            "model_dir": str(design["model_dir"]), "arch_hash": arch.arch_hash(),
            "params": arch.params(), "macs": arch.macs(),
            "project": None if design["project"] is None else str(design["project"]),
            "cpu": cpu, "fpga": fpga, "notes": notes, "machine": machine(),
            "seconds": round(time.monotonic() - t0, 1)}


# -- tables ------------------------------------------------------------------------------------
def _v(f: dict | None, fmt: str = ",.4g") -> str:
    return "—" if not f or f["value"] is None else format(f["value"], fmt)


def _order(cpu: dict) -> list[dict]:
    opts = list(dict.fromkeys(r["optimization"] for r in cpu["runs"]))
    return sorted(cpu["runs"], key=lambda r: (opts.index(r["optimization"]), r["batch"],
                                              r["threads"]))


def cpu_baseline(cpu: dict) -> dict:
    """The reference CPU run: batch 1, one thread, the first optimization level given."""
    seq = [r for r in _order(cpu) if r["batch"] == 1]
    return next((r for r in seq if r["threads"] == 1), seq[0])


def comparison_table(rows: list[dict]) -> str:
    """Per design: the CPU runs and the FPGA design, latency, throughput, energy, power."""
    out = ["| design | platform | batch × threads | latency median / p99 µs | inferences/s | "
           "vs CPU batch 1 × 1 | same class as reference | energy µJ/inference | "
           "power mW at rate | source |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        cpu, f = r["cpu"], r["fpga"]
        base, said = cpu_baseline(cpu)["per_s"], False
        for x in _order(cpu):
            plat = f"CPU, onnxruntime {cpu['onnxruntime']}, graph opt. {x['optimization']}"
            head = f"| {r['design']} | {plat} | {x['batch']} × {x['threads']} |"
            if x["batch"] > 1 and not x["possible"]:
                if not said:  # the same for every optimization level and thread count
                    out.append(f"| {r['design']} | CPU, onnxruntime {cpu['onnxruntime']} | "
                               f"{x['batch']} × any | — | not measured: batch dimension fixed "
                               "at 1 in the export | — | — | — | — | — |")
                said = True
                continue
            lat = x["latency_us"] if x["batch"] == 1 else x["batch_latency_us"]
            a, e = x["agreement"], x.get("energy_uj")
            e_s = ("not measured" if not e or e["value"] is None else
                   f"{e['value']:,.4g} ({e['label'].split(' ')[0]})")
            out.append(f"{head} {lat['median']:,.1f} / {lat['p99']:,.1f}"
                       f"{'' if x['batch'] == 1 else ' per batch'} | {x['per_s']:,.0f} | "
                       f"{x['per_s'] / base:.2f}× | {a['argmax_agreement']:.4f} (PyTorch) | "
                       f"{e_s} | not measured | {platforms.ORT_TIME}"
                       f"{'; energy: ' + e['label'] if e else ''} |")
        if not f:
            out.append(f"| {r['design']} | FPGA | — | — | — | — | — | — | — | no project |")
            continue
        clk, lat, thr = f["clock_mhz"], f["latency_us"], f["per_s"]
        ver = (f.get("verification") or {}).get("value")
        same = (f"{1 - ver['mismatches'] / ver['windows']:.4f} (golden, {ver['windows']} windows)"
                if ver and ver.get("windows") and ver.get("mismatches") is not None else "—")
        out.append(f"| {r['design']} | FPGA {f['device']} ({f['goal']}) at {clk['value']:g} MHz "
                   f"| 1 (streaming) | {_v(lat, ',.1f')} | {_v(thr, ',.0f')} | "
                   f"{thr['value'] / base:.3g}× | {same} | {_v(f['energy_uj'])}* | "
                   f"{_v(f['power_mw'])}* at {f['rate_per_s']:.3g}/s | {thr['label']}; clock: "
                   f"{clk['label']} |")
        if f.get("per_s_at_fmax"):
            fm, la = f["per_s_at_fmax"], f["latency_us_at_fmax"]
            out.append(f"| {r['design']} | FPGA {f['device']} at fmax "
                       f"{f['fmax_mhz']['value']:.2f} MHz | 1 (streaming) | {_v(la, ',.1f')} | "
                       f"{_v(fm, ',.0f')} | {fm['value'] / base:.3g}× | {same} | — | — | "
                       f"{fm['label']} |")
    return "\n".join(out)


def fpga_table(rows: list[dict]) -> str:
    out = ["| design | device / goal | folding (PE×SIMD) | clock MHz | timing | fmax MHz | "
           "resources | Verilator |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        f = r["fpga"]
        if not f:
            continue
        timing = {True: "met", False: "NOT met"}.get((f.get("timing_met") or {}).get("value"),
                                                      "not run")
        res = f["resources"]
        res_s = ", ".join(f"{k} {v:,}" for k, v in res["value"].items()) + f" ({res['label']})"
        ver = f.get("verification")
        ver_s = (f"{ver['value']['mismatches']} mismatches in {ver['value']['windows']} "
                 f"windows ({ver['label']})" if ver else "not run")
        fold = ", ".join(f"{k} {v['pe']}×{v['simd']}" for k, v in f["folding"]["layers"].items())
        out.append(f"| {r['design']} | {f['device']} ({f['part']}) / {f['goal']} | {fold} | "
                   f"{f['clock_mhz']['value']:g} ({f['clock_mhz']['label']}) | {timing} | "
                   f"{_v(f.get('fmax_mhz'), '.2f')} | {res_s} | {ver_s} |")
    return "\n".join(out) if len(out) > 2 else ""


def cpu_table(rows: list[dict]) -> str:
    out = ["| design | windows (distinct, of test) | graph opt. | same class as PyTorch | scores "
           "differ | max score diff | accuracy ORT / PyTorch | CPU, cores | load before / "
           "after | data |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        c, m = r["cpu"], r["machine"]
        for x in _order(c):
            if x["batch"] != 1 or x["threads"] != c["runs"][0]["threads"]:
                continue
            a = x["agreement"]
            out.append(f"| {r['design']} | {c['windows']} ({c['distinct_windows']}, of "
                       f"{c['test_windows']}) | {x['optimization']} | "
                       f"{a['argmax_agreement']:.4f} ({a['disagreements']} differ) | "
                       f"{a['windows_with_other_scores']} | {a['max_abs_score_diff']:.2g} | "
                       f"{a['accuracy']:.4f} / {c['reference']['accuracy']:.4f} | "
                       f"{m['cpu']}, {m['cores']} cores ({m['cores_usable']} usable) | "
                       f"{c['load_before'][0]:.2f} / {c['load_after'][0]:.2f} | "
                       f"{c['data_source']} |")
    return "\n".join(out)


def report(rows: list[dict], gpu_rows: list[dict] | None = None) -> str:
    """The tables: the platforms side by side (with bench_gpu's rows where given), the CPU runs
    and FPGA designs in detail, then the labels and notes."""
    parts = [platforms.platform_table(rows, gpu_rows), comparison_table(rows), fpga_table(rows),
             cpu_table(rows)]
    notes = list(dict.fromkeys(n for r in rows for n in r["notes"]))
    labels = ("* estimates of the cost model (half.hw.cost; predicted.json). Sources: "
              f"'{VERILATOR}' (cycles in simulation), '{NEXTPNR}' (place and route), "
              f"'{COST}'; '{VERIFIED}': Verilator's cycles at the target clock that nextpnr "
              "met. \"same class as reference\": share of windows whose class equals the PyTorch "
              "QAT model's (CPU) or the golden integer model's (FPGA RTL, `half verify`).")
    return "\n\n".join([p for p in parts if p] + [labels, "\n".join(f"- {n}" for n in notes)])


# -- command line ------------------------------------------------------------------------------
def _write_lines(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    tmp.replace(path)


def _read_lines(path: Path) -> list[dict]:
    _, DataError, _ = _errors()
    if not path.is_file():
        raise DataError(path, "missing")
    try:
        return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    except ValueError as e:
        raise DataError(path, f"not a JSON-lines results file ({e})") from e


class _Design(argparse.Action):
    """--run and --model add a design; --project attaches to the --model before it."""

    def __call__(self, parser, ns, value, option=None):
        designs = list(getattr(ns, "designs", None) or [])
        if option == "--project":
            if not designs or designs[-1]["kind"] != "model" or designs[-1].get("project"):
                parser.error(f"--project {value}: give the --model it was built from before it")
            designs[-1] = {**designs[-1], "project": value}
        else:
            designs.append({"kind": option.lstrip("-"), "spec": value})
        ns.designs = designs


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="mode", required=True)
    m = sub.add_parser("measure", help="measure designs on the CPU, next to their FPGA figures")
    m.add_argument("--run", action=_Design, dest="designs", metavar="DIR",
                   help="a `half run` folder")
    m.add_argument("--model", action=_Design, dest="designs", metavar="SPEC",
                   help="preset:NAME or a run folder (as `half eval --model`)")
    m.add_argument("--project", action=_Design, dest="designs", metavar="P",
                   help="the `half build` project of the --model before it")
    m.add_argument("--task", default="mitdb-aami", help="of --model designs")
    m.add_argument("--windows", type=int, default=2000, help="test windows, one call each")
    m.add_argument("--warmup", type=int, default=200, help="calls before timing")
    m.add_argument("--batch", type=int, default=256, help="batch size tried (1: none)")
    m.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    m.add_argument("--optimizations", nargs="+", default=["all", "disabled"],
                   choices=list(OPTIMIZATIONS), help="onnxruntime graph optimization levels")
    m.add_argument("--seed", type=int, default=0, help="the draw of test windows")
    m.add_argument("--data-dir", type=Path, default=None)
    m.add_argument("--results", type=Path, default=None,
                   help="results file (default benchmarks/results/baseline.jsonl)")
    m.add_argument("--cpu-tdp-w", type=float, default=None, metavar="W",
                   help="the CPU package's TDP, for the energy estimate where no RAPL counter "
                        "is readable (default: platforms.TDP_TABLE by the CPU model)")
    m.add_argument("--cpu-package-cores", type=int, default=None, metavar="N",
                   help="the cores of the package that TDP is for (default: the table, or "
                        "/proc/cpuinfo outside a virtual machine)")
    t = sub.add_parser("table", help="the Markdown tables of a results file")
    t.add_argument("file", type=Path, nargs="?",
                   help="default benchmarks/results/baseline.jsonl")
    t.add_argument("--gpu", type=Path, default=None, metavar="FILE",
                   help="bench_gpu.py's results, set beside the designs (default: "
                        "benchmarks/results/gpu.jsonl where FILE is not given and it exists)")
    return ap


def run(argv: list[str] | None = None) -> list[dict]:
    """The command line without the error handling of `main`; returns the rows printed."""
    args = _parser().parse_args(argv)
    if args.mode == "table":
        rows = _read_lines(args.file or RESULTS / "baseline.jsonl")
        gpu = args.gpu or (RESULTS / "gpu.jsonl" if args.file is None else None)
        gpu_rows = _read_lines(gpu) if gpu and (args.gpu or gpu.is_file()) else None
        print(report(rows, gpu_rows))
        return rows
    ConfigError, _, _ = _errors()
    if not args.designs:
        raise ConfigError("designs", "give at least one --run DIR or --model SPEC")
    for name in ("windows", "warmup", "batch"):
        if getattr(args, name) < (0 if name == "warmup" else 1):
            raise ConfigError(name, f"must be positive, got {getattr(args, name)}")
    if min(args.threads) < 1:
        raise ConfigError("threads", f"must be at least 1, got {args.threads}")
    designs = [resolve_design(d, args.task) for d in args.designs]  # every input checked first
    # without RAPL, a known part or the options, the throughput is still measured and the
    # energy said to be unknown (a TDP given without its cores is still an error)
    args.energy = platforms.energy_source(cpu_model(), args.cpu_tdp_w, args.cpu_package_cores,
                                          required=args.cpu_tdp_w is not None)
    rows = []
    for d in designs:
        print(f"measuring {d['name']} ...", file=sys.stderr, flush=True)
        rows.append(measure_design(d, args))
    path = args.results or RESULTS / "baseline.jsonl"
    _write_lines(path, rows)
    print(f"results: {path}\n", file=sys.stderr)
    print(report(rows))
    return rows


def main(argv: list[str] | None = None) -> None:
    _, _, HalfError = _errors()
    try:
        run(argv)
    except HalfError as exc:
        print(f"bench_baseline: error: {' '.join(str(exc).split())}", file=sys.stderr)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
