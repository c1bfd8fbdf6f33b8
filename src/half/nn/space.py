# SPDX-License-Identifier: Apache-2.0
"""The search space over `Arch`: a fixed-length integer genome that mutation and crossover work
on, its decoding into a validated `Arch`, and a seeded sampler of random valid architectures.

Genome layout (every gene is an index into one of the Space's choice lists):

    [decimation, n_blocks, head,
     (kind, channels, kernel, stride, pool, weight_bits, act_bits) x max_blocks,
     n_dense, (units, weight_bits, act_bits) x max_dense, out_bits]

Inactive slots (beyond n_blocks / n_dense) still carry genes, so crossover can revive them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from half.errors import ConfigError
from half.nn.arch import KINDS, Arch, ConvBlock, DenseLayer, Limits

_BLOCK_GENES = ("kind", "channels", "kernel", "stride", "pool", "weight_bits", "act_bits")
_DENSE_GENES = ("units", "weight_bits", "act_bits")


@dataclass(frozen=True)
class Space:
    min_blocks: int = 1
    max_blocks: int = 4
    channels: tuple[int, ...] = (4, 8, 12, 16, 24, 32)
    kernels: tuple[int, ...] = (3, 5, 7, 9)
    strides: tuple[int, ...] = (1, 2)
    pools: tuple[int, ...] = (1, 2, 4)
    kinds: tuple[str, ...] = KINDS
    bits: tuple[int, ...] = (2, 3, 4, 5, 6, 8)
    decimations: tuple[int, ...] = (1, 2, 3, 4)
    heads: tuple[str, ...] = ("gap",)
    max_dense: int = 1  # hidden dense layers (0..max_dense)
    units: tuple[int, ...] = (8, 16, 32)
    limits: Limits = field(default_factory=Limits)

    def genes(self) -> list[tuple[str, int]]:
        """(name, number of choices) of every gene, in genome order."""
        block = {"kind": self.kinds, "channels": self.channels, "kernel": self.kernels,
                 "stride": self.strides, "pool": self.pools, "weight_bits": self.bits,
                 "act_bits": self.bits}
        dense = {"units": self.units, "weight_bits": self.bits, "act_bits": self.bits}
        out = [("decimation", len(self.decimations)),
               ("n_blocks", self.max_blocks - self.min_blocks + 1), ("head", len(self.heads))]
        out += [(f"blocks[{i}].{g}", len(block[g])) for i in range(self.max_blocks)
                for g in _BLOCK_GENES]
        out += [("n_dense", self.max_dense + 1)]
        out += [(f"dense[{j}].{g}", len(dense[g])) for j in range(self.max_dense)
                for g in _DENSE_GENES]
        out += [("out_bits", len(self.bits))]
        return out

    def decode(self, genome: list[int], *, window: int, n_classes: int, side_inputs: int = 0
               ) -> Arch:
        """The Arch a genome describes (validated against `limits`)."""
        spec = self.genes()
        if len(genome) != len(spec):
            raise ConfigError("genome", f"has {len(genome)} genes, the space needs {len(spec)}")
        for (name, n), g in zip(spec, genome, strict=True):
            if not 0 <= int(g) < n:
                raise ConfigError(f"genome.{name}", f"index {g} outside 0..{n - 1}")
        it = iter(int(g) for g in genome)
        decimation, n_blocks, head = (self.decimations[next(it)], self.min_blocks + next(it),
                                      self.heads[next(it)])
        blocks = []
        for i in range(self.max_blocks):
            k, c, kern, s, p, wb, ab = (next(it) for _ in _BLOCK_GENES)
            if i < n_blocks:
                blocks.append(ConvBlock(channels=self.channels[c], kernel=self.kernels[kern],
                                        stride=self.strides[s], kind=self.kinds[k],
                                        pool=self.pools[p], weight_bits=self.bits[wb],
                                        act_bits=self.bits[ab]))
        n_dense = next(it)
        dense = []
        for j in range(self.max_dense):
            u, wb, ab = (next(it) for _ in _DENSE_GENES)
            if j < n_dense:
                dense.append(DenseLayer(self.units[u], self.bits[wb], self.bits[ab]))
        out_bits = self.bits[next(it)]
        return Arch(window=window, n_classes=n_classes, blocks=tuple(blocks), dense=tuple(dense),
                    decimation=decimation, head=head, side_inputs=side_inputs,
                    out_bits=out_bits).validate(self.limits)

    def encode(self, arch: Arch) -> list[int]:
        """The genome of `arch`; its values must be among the space's choices."""

        def idx(name: str, options: tuple, value) -> int:
            if value not in options:
                raise ConfigError(name, f"{value!r} is not a choice of this space {options}")
            return options.index(value)

        if not self.min_blocks <= len(arch.blocks) <= self.max_blocks:
            raise ConfigError("blocks", f"{len(arch.blocks)} blocks outside "
                              f"{self.min_blocks}..{self.max_blocks}")
        if len(arch.dense) > self.max_dense:
            raise ConfigError("dense", f"{len(arch.dense)} layers exceed {self.max_dense}")
        g = [idx("decimation", self.decimations, arch.decimation),
             len(arch.blocks) - self.min_blocks, idx("head", self.heads, arch.head)]
        for i in range(self.max_blocks):
            b = arch.blocks[i] if i < len(arch.blocks) else arch.blocks[-1]
            f = f"blocks[{i}]"
            g += [idx(f"{f}.kind", self.kinds, b.kind), idx(f"{f}.channels", self.channels,
                                                            b.channels),
                  idx(f"{f}.kernel", self.kernels, b.kernel),
                  idx(f"{f}.stride", self.strides, b.stride), idx(f"{f}.pool", self.pools, b.pool),
                  idx(f"{f}.weight_bits", self.bits, b.weight_bits),
                  idx(f"{f}.act_bits", self.bits, b.act_bits)]
        g.append(len(arch.dense))
        for j in range(self.max_dense):
            d = arch.dense[j] if j < len(arch.dense) else DenseLayer(self.units[0], 4, 4)
            g += [idx(f"dense[{j}].units", self.units, d.units),
                  idx(f"dense[{j}].weight_bits", self.bits, d.weight_bits),
                  idx(f"dense[{j}].act_bits", self.bits, d.act_bits)]
        g.append(idx("out_bits", self.bits, arch.out_bits))
        return g

    # -- variation -------------------------------------------------------------------------
    def random_genome(self, rng: np.random.Generator) -> list[int]:
        return [int(rng.integers(n)) for _, n in self.genes()]

    def mutate(self, genome: list[int], rng: np.random.Generator, rate: float = 0.1
               ) -> list[int]:
        """Redraw each gene with probability `rate` (at least one gene changes)."""
        spec = self.genes()
        out = list(genome)
        hits = [i for i in range(len(spec)) if rng.random() < rate]
        hits = hits or [int(rng.integers(len(spec)))]
        for i in hits:
            out[i] = int(rng.integers(spec[i][1]))
        return out

    def crossover(self, a: list[int], b: list[int], rng: np.random.Generator) -> list[int]:
        """Uniform crossover of two genomes."""
        return [x if rng.random() < 0.5 else y for x, y in zip(a, b, strict=True)]

    def sample(self, rng: np.random.Generator, *, window: int, n_classes: int,
               side_inputs: int = 0, tries: int = 1000) -> Arch:
        """A random valid architecture (rejection sampling against validity and limits)."""
        last = None
        for _ in range(tries):
            try:
                return self.decode(self.random_genome(rng), window=window, n_classes=n_classes,
                                   side_inputs=side_inputs)
            except ConfigError as exc:
                last = exc
        raise ConfigError("space", f"no valid architecture in {tries} draws (last: {last})")
