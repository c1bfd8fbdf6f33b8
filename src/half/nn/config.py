# SPDX-License-Identifier: Apache-2.0
"""TrainConfig: the options of `half.nn.train.train`, in a module that imports no torch, so
that the command line can check them (and fail fast) before it loads the training stack."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from half.errors import ConfigError
from half.nn.augment import AugmentConfig


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 30  # maximum epochs
    batch_size: int = 256
    lr: float = 3e-3  # peak of the one-cycle schedule
    weight_decay: float = 1e-4
    patience: int = 8  # epochs without a better validation metric before stopping
    train_fraction: float = 1.0  # fidelity: class-stratified fraction of the training windows
    time_budget_s: float = 0.0  # stop after this many seconds of training (0 = no budget)
    balance: str = "sqrt"  # class weights: "none", "sqrt" (1/sqrt(freq)) or "inverse" (1/freq)
    # The most a class's weight may be, as a multiple of the commonest class's (0 = no cap). With
    # "inverse", a class of 8 training beats (mitdb-aami's Q) weighs ~5,700x an N beat and as
    # much in all as the 46k N beats together; a cap keeps a handful of beats from steering it.
    balance_cap: float = 0.0
    seed: int = 0
    threads: int = 2  # torch threads (one per trial when trials run in parallel processes)
    augment: float = 0.0  # strength of window augmentation (random gain, offset, noise); 0 = off
    # Augmentations that mimic other devices (half.nn.augment: stretch, flip, gain, wander, bw,
    # em, ma, resample), applied before the `augment` ones; empty = off. bw/em/ma draw from the
    # training half of the nstdb noise records (the data folder must hold nstdb/).
    augment_kinds: tuple[str, ...] = ()
    augment_p: float = 0.5  # probability that each of `augment_kinds` is applied to a window
    # Stop after this epoch but keep the LR schedule of `epochs` (0 = run them all). With no
    # validation split (the final fit on all training records) the model of this epoch is kept:
    # the epoch then comes from k-fold cross-validation (half.nn.cv), never from the test split.
    stop_at: int = 0
    # Per-class offsets added to the last layer's bias of the kept model (half.nn.offsets: chosen
    # by cross-validation); empty = none. They become part of the weights.
    score_offsets: tuple[float, ...] = ()
    # Epochs of float pre-training (the float twin, QuantCNN(quant=False), same data, augmentation
    # and schedule shape) before QAT starts from its weights; 0 = QAT from scratch.
    float_epochs: int = 0
    # Distillation from a larger float teacher: the float twin of the architecture with every
    # block's channels and every dense layer's units times `teacher_width`, trained first on the
    # same windows, augmentation and schedule (all `epochs`, the last one kept: no validation
    # split is read). The student's loss is then (1 - distill) x the class-weighted cross-entropy
    # + distill x T^2 x KL(teacher || student) on scores divided by T = `distill_temperature`
    # (Hinton et al., 2015). 0 = no teacher. The student's architecture, and so the hardware,
    # does not change.
    distill: float = 0.0
    teacher_width: int = 4
    distill_temperature: float = 2.0
    # Noisy twin: the probability that a training window (with its side inputs) is taken from
    # a copy of the task built from records with real nstdb noise added (half.data.noise.
    # RecordNoise: the training half of bw, em, ma, SNR uniform in `twin_snr_db`, seeded by
    # `seed`; cached like the task). Unlike window augmentation, the side inputs (RR and
    # beat-template features) then see the noise too, as on a noisy recording. 0 = off.
    noisy_twin: float = 0.0
    twin_snr_db: tuple[float, float] = (0.0, 24.0)

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ConfigError("epochs", f"must be at least 1, got {self.epochs}")
        if not 0 < self.train_fraction <= 1:
            raise ConfigError("train_fraction", f"must lie in (0, 1], got {self.train_fraction}")
        if not 0 <= self.stop_at <= self.epochs:
            raise ConfigError("stop_at", f"must lie in [0, epochs={self.epochs}], got "
                              f"{self.stop_at}")
        if self.float_epochs < 0:
            raise ConfigError("float_epochs", f"must be at least 0, got {self.float_epochs}")
        if not 0 <= self.distill <= 1:
            raise ConfigError("distill", f"must lie in [0, 1], got {self.distill}")
        if self.teacher_width < 1:
            raise ConfigError("teacher_width", f"must be at least 1, got {self.teacher_width}")
        if self.distill_temperature <= 0:
            raise ConfigError("distill_temperature", f"must be positive, got "
                              f"{self.distill_temperature}")
        if not 0 <= self.noisy_twin <= 1:
            raise ConfigError("noisy_twin", f"must lie in [0, 1], got {self.noisy_twin}")
        object.__setattr__(self, "twin_snr_db", tuple(float(v) for v in self.twin_snr_db))
        if len(self.twin_snr_db) != 2 or self.twin_snr_db[0] > self.twin_snr_db[1]:
            raise ConfigError("twin_snr_db", f"needs [low, high] dB with low <= high, got "
                              f"{list(self.twin_snr_db)}")
        if not 0 <= self.augment <= 1:
            raise ConfigError("augment", f"must lie in [0, 1], got {self.augment}")
        object.__setattr__(self, "augment_kinds", tuple(self.augment_kinds))  # JSON gives a list
        object.__setattr__(self, "score_offsets", tuple(float(v) for v in self.score_offsets))
        AugmentConfig(self.augment_kinds, p=self.augment_p)  # checks the kinds and p
        if self.balance not in ("none", "sqrt", "inverse"):
            raise ConfigError("balance", f"none, sqrt or inverse, got {self.balance!r}")
        if not (self.balance_cap == 0 or self.balance_cap >= 1):  # NaN fails both
            raise ConfigError("balance_cap", f"0 (no cap) or at least 1, got {self.balance_cap}")


def options_from_strings(raw: Mapping[str, str]) -> dict:
    """`-c KEY=VALUE` strings as TrainConfig field values; a ConfigError on `--config KEY` for
    the first key, in `raw`'s order, that is no training option."""
    import typing

    from half.data.task import _coerce

    hints = typing.get_type_hints(TrainConfig)
    out = {}
    for key, value in raw.items():
        if key not in hints:
            raise ConfigError(f"--config {key}", "unknown training option")
        out[key] = _coerce(key, value, hints[key])
    return out
