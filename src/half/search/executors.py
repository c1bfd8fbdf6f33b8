# SPDX-License-Identifier: Apache-2.0
"""Where candidates are evaluated: a thread of the search process (one worker), local worker
processes (one torch thread each), or Ray tasks on a cluster. Every executor turns
`submit(spec, genome)` (a genome, or an Arch) into a `concurrent.futures.Future` of
`(record, files)`; workers only compute, the search process writes every artefact."""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import threading
import time
from pathlib import Path

from half.errors import ConfigError
from half.nn.space import Space


def evaluate_task(spec, genome, data_dir: str | None, space: Space
                  ) -> tuple[dict, dict[str, bytes]]:
    """What a worker runs (a process-pool worker or a Ray task): one evaluation of a genome,
    or of an `Arch` given directly (the reference design). The task's data is loaded once per
    worker process (half.search.evaluate.search_data memoises it)."""
    from half.nn.arch import Arch
    from half.search.evaluate import evaluate_arch, evaluate_genome

    if isinstance(genome, Arch):
        return evaluate_arch(spec, genome, data_dir=data_dir)
    return evaluate_genome(spec, genome, space, data_dir=data_dir)


def _watch_parent(parent: int) -> None:
    """Exit when the search process is gone (it was killed): no orphaned workers."""
    while True:
        if os.getppid() != parent:
            os._exit(1)
        time.sleep(1.0)


def _init_worker(threads: int, parent: int) -> None:
    import torch

    torch.set_num_threads(threads)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


class Executor:
    kind = "base"
    workers = 1

    def submit(self, spec, genome: list[int]) -> cf.Future:
        raise NotImplementedError

    def close(self, cancel: bool = False) -> None:
        pass

    def describe(self) -> str:
        return f"{self.kind} ({self.workers} worker{'s' * (self.workers != 1)})"


class ThreadExecutor(Executor):
    """One evaluation at a time in a thread of the search process (workers=1)."""

    kind = "thread"

    def __init__(self, data_dir: str | None, space: Space) -> None:
        self.data_dir, self.space = data_dir, space
        self.pool = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="half-eval")

    def submit(self, spec, genome):
        return self.pool.submit(evaluate_task, spec, genome, self.data_dir, self.space)

    def close(self, cancel: bool = False) -> None:
        self.pool.shutdown(wait=not cancel, cancel_futures=cancel)


class ProcessExecutor(Executor):
    """`workers` spawned processes, `threads` torch threads each."""

    kind = "processes"

    def __init__(self, workers: int, threads: int, data_dir: str | None, space: Space) -> None:
        self.workers, self.threads, self.data_dir, self.space = workers, threads, data_dir, space
        self._start()

    def _start(self) -> None:
        self.pool = cf.ProcessPoolExecutor(
            max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker, initargs=(self.threads, os.getpid()))

    def submit(self, spec, genome):
        try:
            return self.pool.submit(evaluate_task, spec, genome, self.data_dir, self.space)
        except cf.process.BrokenProcessPool:  # a worker died (e.g. out of memory): start anew
            self.pool.shutdown(wait=False, cancel_futures=True)
            self._start()
            return self.pool.submit(evaluate_task, spec, genome, self.data_dir, self.space)

    def close(self, cancel: bool = False) -> None:
        if cancel:  # do not wait for running evaluations: end the workers we started
            procs = list(getattr(self.pool, "_processes", {}).values())
            self.pool.shutdown(wait=False, cancel_futures=True)
            for p in procs:
                if p.is_alive():
                    p.terminate()
        else:
            self.pool.shutdown(wait=True)


class RayExecutor(Executor):
    """Ray tasks (one CPU each). `address`: "local" starts a private local Ray instance (ended
    on close); anything else is passed to ray.init (e.g. "auto", "ray://head:10001"). The Ray
    workers need half installed and the data folder at the same path."""

    kind = "ray"

    def __init__(self, address: str, workers: int | None, threads: int, data_dir: str | None,
                 space: Space) -> None:
        try:
            import ray
        except ImportError:
            raise ConfigError("ray_address", "Ray is not installed (pip install 'half[ray]')"
                              ) from None
        self.ray = ray
        self.started = False
        if not ray.is_initialized():
            kwargs = {"include_dashboard": False, "log_to_driver": False,
                      "configure_logging": False}
            try:
                if address == "local":
                    ray.init(num_cpus=workers or None, **kwargs)
                else:
                    ray.init(address=address, **kwargs)
            except Exception as exc:  # ConnectionError, ValueError ... of ray
                brief = " ".join(str(exc).split())[:200]
                raise ConfigError("ray_address", f"cannot connect to Ray at {address!r} "
                                  f"({brief})") from None
            self.started = True
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.workers = workers or max(1, cpus // threads)
        self.threads, self.data_dir, self.space = threads, data_dir, space
        self.remote = ray.remote(num_cpus=threads, max_retries=2)(evaluate_task)

    def submit(self, spec, genome):
        ref = self.remote.remote(spec, genome, self.data_dir, self.space)
        return ref.future()

    def close(self, cancel: bool = False) -> None:
        if self.started:
            self.ray.shutdown()


def make_executor(workers: int, threads: int, data_dir: str | Path | None, space: Space,
                  ray_address: str | None = None) -> Executor:
    data_dir = None if data_dir is None else str(data_dir)
    if ray_address:
        return RayExecutor(ray_address, workers or None, threads, data_dir, space)
    if workers == 1:
        return ThreadExecutor(data_dir, space)
    return ProcessExecutor(workers, threads, data_dir, space)


def default_workers(threads: int = 1) -> int:
    """One worker per core this process may use."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores // threads)
