# SPDX-License-Identifier: Apache-2.0
"""Warm start: known-good architectures in the search's first generation.

    seeds, notes = resolve_seeds(spec, space, presets=True, files=["my_arch.yaml"])
    enqueue_seeds(study, space, seeds)   # a fresh study only

The seeds are the task's shipped presets (`half/nn/presets/<task>/*/arch.json`) and any
architecture file the user gives (`--seed-arch`, as `half train --arch` reads). Each is mapped
to the space's genome; the genome must decode to the same network again (a value outside the
space's choices, or a field the space does not vary such as `padding: valid`, cannot be
searched). A preset the space cannot express is skipped with a note; a user's file is an error
naming the file. Seeds are enqueued (Optuna `enqueue_trial`) only into a study that has no
trial yet, so a resumed study never gets them twice; asked in order, they are the first trials
of generation 0 (the sampler fills the rest of the population).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from half.errors import ConfigError
from half.nn.arch import Arch
from half.nn.space import Space

SEED_ATTR = "seed_source"  # trial user attribute naming where a seeded trial came from


@dataclass(frozen=True)
class Seed:
    source: str  # "preset:NAME" or the file it was read from
    arch_hash: str  # of the network the search evaluates (the spec's per_channel)
    genome: tuple[int, ...]


def seed_genome(arch: Arch, spec, space: Space) -> list[int]:
    """The genome of `arch` in `space` for the spec's task; ConfigError saying why when the
    space cannot express it (per_channel is the search's setting, not a gene)."""
    shape = spec.arch_shape()
    for key, want in shape.items():
        if getattr(arch, key) != want:
            raise ConfigError(key, f"is {getattr(arch, key)}; the task {spec.task} gives {want}")
    genome = space.encode(arch)
    target = dataclasses.replace(arch, per_channel=spec.per_channel)
    back = dataclasses.replace(space.decode(genome, **shape), per_channel=spec.per_channel)
    if back != target:
        where, got = _difference(target.to_dict(), back.to_dict())
        raise ConfigError(where, f"is {got[0]!r}; the search space only builds {got[1]!r}")
    return genome


def _difference(a, b, where: str = "") -> tuple[str, tuple]:
    """(path, (a's value, b's value)) of the first field where two dicts differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in a:
            if a[key] != b.get(key):
                return _difference(a[key], b.get(key), f"{where}.{key}" if where else key)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if x != y:
                return _difference(x, y, f"{where}[{i}]")
    return where or "arch", (a, b)


def resolve_seeds(spec, space: Space, *, presets: bool = True,
                  files: tuple[str | Path, ...] | list[str | Path] = ()
                  ) -> tuple[list[Seed], list[str]]:
    """(seeds in order: presets by name, then the files; notes for skipped presets). A file
    that cannot be read or searched raises ConfigError("--seed-arch FILE: ...")."""
    from half.nn.arch import load_arch
    from half.nn.runs import PREFIX, list_presets, presets_dir

    seeds, notes, seen = [], [], set()

    def add(source: str, arch: Arch, genome: list[int]) -> None:
        hash_ = dataclasses.replace(arch, per_channel=spec.per_channel).arch_hash()
        if hash_ not in seen:  # the same network twice is evaluated once
            seen.add(hash_)
            seeds.append(Seed(source, hash_, tuple(int(g) for g in genome)))

    if presets:
        sides = spec.arch_shape().get("side_inputs")
        for name in list_presets(spec.task):
            source = f"{PREFIX}{name}"
            arch = load_arch(presets_dir(spec.task) / name / "arch.json")
            trained = arch.side_inputs
            if trained and sides and trained != sides:
                # a preset trained with other side inputs (e.g. mitdb-aami's rhythm_context):
                # its network, retrained with the search's, is still the hand-made start
                arch = dataclasses.replace(arch, side_inputs=sides)
            try:
                add(source, arch, seed_genome(arch, spec, space))
                if arch.side_inputs != trained:
                    notes.append(f"warm start: {source} takes the task's {sides} side inputs "
                                 f"(trained with {trained})")
            except ConfigError as exc:
                notes.append(f"warm start: {source} is not in the search space ({exc}); "
                             "not seeded")
    for path in files:
        try:
            arch = load_arch(path)
            add(str(path), arch, seed_genome(arch, spec, space))
        except ConfigError as exc:
            fault = str(exc).removeprefix(f"arch: {path}: ").removeprefix(f"{path}: ")
            raise ConfigError(f"--seed-arch {path}", fault) from None
    return seeds, notes


def enqueue_seeds(study, space: Space, seeds: list[Seed]) -> int | None:
    """Enqueue the seeds into a study that has no trial yet and return how many were added;
    None (nothing done) for a study that has started: it was seeded when it started. A study
    killed while being seeded holds only WAITING trials: the missing seeds are added, none
    twice."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    if any(t.state != TrialState.WAITING for t in trials):
        return None
    names = [name for name, _ in space.genes()]
    before = len(trials)
    for seed in seeds:
        study.enqueue_trial(dict(zip(names, seed.genome, strict=True)),
                            user_attrs={SEED_ATTR: seed.source}, skip_if_exists=True)
    return len(study.get_trials(deepcopy=False)) - before


__all__ = ["SEED_ATTR", "Seed", "enqueue_seeds", "resolve_seeds", "seed_genome"]
