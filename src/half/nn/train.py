# SPDX-License-Identifier: Apache-2.0
"""Quantization-aware training of an `Arch` on a prepared task, and the run folder it writes.

Class-weighted cross-entropy (inverse square-root class frequency by default) for the heavy
class imbalance, AdamW with a one-cycle learning-rate schedule, early stopping on the
**validation** split's primary metric (macro-F1 / F1_NAO), seeded initialisation and data
order, best-epoch checkpoint. Fidelity knobs for the search: epochs, train_fraction, time budget.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from half._io import atomic_file, write_json_atomic
from half.data.task import Progress, TaskData
from half.errors import ConfigError
from half.nn.arch import Arch
from half.nn.augment import AugmentConfig, Augmenter
from half.nn.config import TrainConfig
from half.nn.metrics import metrics_for, primary_metric
from half.nn.model import QuantCNN
from half.nn.offsets import add_to_last_bias, class_scores


@dataclass
class Normalizer:
    """Fixed affine map of the side inputs (train-split mean and std), applied on the host."""

    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)

    @classmethod
    def fit(cls, side: np.ndarray | None) -> Normalizer:
        if side is None or side.size == 0:
            return cls()
        return cls(side.mean(0).tolist(), (side.std(0) + 1e-6).tolist())

    def __call__(self, side: np.ndarray | None) -> torch.Tensor | None:
        if side is None or not self.mean:
            return None
        return torch.from_numpy(((side - np.array(self.mean)) / np.array(self.std))
                                .astype(np.float32))


@dataclass
class TrainResult:
    model: QuantCNN
    norm: Normalizer
    best_epoch: int
    val: dict  # validation metrics of the best epoch
    history: list[dict]  # per epoch: loss, validation metric, seconds, windows/s
    windows_per_s: float


def _subsample(y: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    if fraction >= 1:
        return np.arange(y.size)
    keep = [rng.permutation(np.flatnonzero(y == c))[: max(1, round(fraction * (y == c).sum()))]
            for c in np.unique(y)]
    return np.sort(np.concatenate(keep))


def _class_weights(y: np.ndarray, n: int, balance: str, cap: float = 0.0) -> torch.Tensor:
    """Per-class loss weights (TrainConfig.balance), each at most `cap` times the commonest
    class's when `cap` (TrainConfig.balance_cap), normalised to a mean of 1 over the classes
    present; classes absent from `y` weigh 0."""
    freq = np.bincount(y, minlength=n).astype(np.float64)
    w = np.zeros(n)
    seen = freq > 0
    if balance == "none":
        w[seen] = 1.0
    else:
        w[seen] = 1 / (np.sqrt(freq[seen]) if balance == "sqrt" else freq[seen])
        if cap:
            w[seen] = np.minimum(w[seen], cap * w[seen].min())
        w[seen] *= seen.sum() / w[seen].sum()
    return torch.tensor(w, dtype=torch.float32)


def _augment(x: torch.Tensor, strength: float, gen: torch.Generator) -> torch.Tensor:
    """Per window: gain in [e^-0.4s, e^0.4s], offset and white noise scaled by the window's
    spread. Inter-patient generalization suffers most from patient-specific amplitude and noise."""
    n = x.shape[0]
    spread = x.std(dim=1, keepdim=True) + 1e-3
    gain = torch.exp((torch.rand(n, 1, generator=gen) * 2 - 1) * 0.4 * strength)
    offset = torch.randn(n, 1, generator=gen) * 0.2 * strength * spread
    noise = torch.randn(x.shape, generator=gen) * 0.05 * strength * spread
    return x * gain + offset + noise


def widen(arch: Arch, width: int) -> Arch:
    """`arch` with every block's channels and every dense layer's units times `width` (the
    distillation teacher's topology)."""
    return dataclasses.replace(
        arch, blocks=tuple(dataclasses.replace(b, channels=b.channels * width)
                           for b in arch.blocks),
        dense=tuple(dataclasses.replace(d, units=d.units * width) for d in arch.dense))


def noisy_twin(data: TaskData, cfg: TrainConfig, progress: Progress | None = None
               ) -> TaskData:
    """`data`'s task built again from its records with nstdb noise added (TrainConfig.
    noisy_twin; cached like the task, so built once per seed and SNR range)."""
    from half.data import get_task
    from half.data.noise import RecordNoise

    task = get_task(data.task, **data.params)
    noise = RecordNoise(seed=cfg.seed, snr_db=cfg.twin_snr_db,
                        data_dir=None if data.data_dir is None else str(data.data_dir))
    if progress:
        progress("noisy twin of the task (cached after the first build)", 0, 1)
    return task.load(data.data_dir, perturb=noise)


def predict(model: QuantCNN, x: np.ndarray, side: torch.Tensor | None, batch: int = 2048
            ) -> np.ndarray:
    """Predicted class of every window (argmax of the scores)."""
    return class_scores(model, x, side, batch).argmax(1)


def evaluate(model: QuantCNN, norm: Normalizer, data: TaskData) -> dict:
    """Task metrics of `model` on the windows of `data` (one split)."""
    y_pred = predict(model, data.x, norm(data.side))
    return metrics_for(data.task, data.classes, data.y, y_pred)


def train(arch: Arch, data: TaskData, cfg: TrainConfig | None = None,
          progress: Progress | None = None) -> TrainResult:
    """Train on data's train split; select the epoch on its val split (never on test).

    Without validation windows the last epoch run is kept (`stop_at`, chosen by k-fold CV)."""
    cfg = cfg or TrainConfig()
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    rng = np.random.default_rng(cfg.seed)
    tr, va = data.select("train"), data.select("val")
    if len(tr) == 0:
        raise ConfigError("data", f"{data.task} has no training windows")
    if len(va) == 0 and not cfg.stop_at:
        raise ConfigError("stop_at", f"{data.task} has no validation windows: give the epoch to "
                          "keep (from cross-validation) as stop_at")
    if arch.window != tr.x.shape[1] or arch.n_classes != len(data.classes):
        raise ConfigError("arch", f"expects window {arch.window} and {arch.n_classes} classes; "
                          f"the task gives {tr.x.shape[1]} and {len(data.classes)}")
    if cfg.score_offsets and len(cfg.score_offsets) != arch.n_classes:
        raise ConfigError("score_offsets", f"{len(cfg.score_offsets)} values for "
                          f"{arch.n_classes} classes")
    given = 0 if tr.side is None else tr.side.shape[1]
    if arch.side_inputs > given:
        raise ConfigError("side_inputs", f"the architecture takes {arch.side_inputs} side "
                          f"inputs; {data.task} with these parameters gives {given}"
                          + (f" ({', '.join(data.side_names)})" if given else ""))
    idx = _subsample(tr.y, cfg.train_fraction, rng)
    x_tr, y_tr = tr.x[idx], tr.y[idx]
    norm = Normalizer.fit(None if tr.side is None else tr.side[idx])
    s_tr, s_va = norm(None if tr.side is None else tr.side[idx]), norm(va.side)
    last = cfg.stop_at or cfg.epochs
    loss_fn = nn.CrossEntropyLoss(weight=_class_weights(y_tr, arch.n_classes, cfg.balance,
                                                           cfg.balance_cap))
    steps = -(-len(y_tr) // cfg.batch_size)
    key = primary_metric(data.task, data.classes)
    best, best_epoch, best_state, history = -1.0, 0, None, []
    xt, yt = torch.from_numpy(x_tr), torch.from_numpy(y_tr)
    gen = torch.Generator().manual_seed(cfg.seed)
    augmenter = (Augmenter.for_task(AugmentConfig(cfg.augment_kinds, p=cfg.augment_p), data)
                 if cfg.augment_kinds else None)
    aug_rng = np.random.default_rng([cfg.seed, 1])  # its own stream: batch order is unchanged
    twin_x = twin_s = None
    if cfg.noisy_twin:
        twin = noisy_twin(data, cfg, progress)
        rows = tr.rows_in(twin)[idx]
        twin_x, twin_s = torch.from_numpy(twin.x[rows]), norm(
            None if twin.side is None else twin.side[rows])
    twin_rng = np.random.default_rng([cfg.seed, 2])

    def optimizer(net: nn.Module, epochs: int):
        opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        return opt, torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=epochs * steps)

    def run_epoch(net: nn.Module, opt, sched, teacher: nn.Module | None = None
                  ) -> tuple[float, float]:
        """One pass over the training windows: (mean loss, seconds). With a teacher, the loss
        mixes in the distillation term on the same (augmented) windows."""
        net.train()
        t = cfg.distill_temperature
        t0, total = time.perf_counter(), 0.0
        order = torch.from_numpy(rng.permutation(len(y_tr)))
        for step in range(steps):
            b = order[step * cfg.batch_size:(step + 1) * cfg.batch_size]
            xb = xt[b]
            side = None if s_tr is None else s_tr[b]
            if twin_x is not None:  # these windows (and side inputs) from the noisy records
                swap = torch.from_numpy(twin_rng.random(len(b)) < cfg.noisy_twin)[:, None]
                xb = torch.where(swap, twin_x[b], xb)
                side = None if side is None else torch.where(swap, twin_s[b], side)
            if augmenter is not None:
                xb = torch.from_numpy(augmenter(xb.numpy(), aug_rng))
            xb = _augment(xb, cfg.augment, gen) if cfg.augment else xb
            scores = net(xb, side)
            loss = loss_fn(scores, yt[b])
            if teacher is not None:
                with torch.no_grad():
                    soft = F.softmax(teacher(xb, side) / t, dim=1)
                kd = F.kl_div(F.log_softmax(scores / t, dim=1), soft, reduction="batchmean")
                loss = (1 - cfg.distill) * loss + cfg.distill * t * t * kd
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(b)
        return total / len(y_tr), time.perf_counter() - t0

    def train_float(a: Arch, epochs: int, label: str) -> QuantCNN:
        """A float network of `a` trained for all `epochs` (the last one kept)."""
        net = QuantCNN(a, quant=False)
        opt, sched = optimizer(net, epochs)
        for epoch in range(1, epochs + 1):
            loss, _ = run_epoch(net, opt, sched)
            if progress:
                progress(f"{label} epoch {epoch} loss {loss:.3f}", epoch, epochs)
        return net

    teacher = None
    if cfg.distill:  # the larger float teacher, trained on the same windows; last epoch kept
        teacher = train_float(widen(arch, cfg.teacher_width), cfg.epochs, "teacher").eval()
    model = QuantCNN(arch)
    if cfg.float_epochs:  # float pre-training of the twin; QAT starts from its weights
        twin = train_float(arch, cfg.float_epochs, "float")
        unexpected = model.load_state_dict(twin.state_dict(), strict=False).unexpected_keys
        assert not unexpected, unexpected  # the twin's parameters are a subset of the model's
    opt, sched = optimizer(model, cfg.epochs)
    start = time.perf_counter()
    for epoch in range(1, last + 1):
        mean_loss, seconds = run_epoch(model, opt, sched, teacher)
        if len(va):
            metric = metrics_for(data.task, data.classes, va.y, predict(model, va.x, s_va))[key]
        else:
            metric = float(epoch)  # no validation split: the last epoch wins
        history.append({"epoch": epoch, "loss": mean_loss,
                        f"val_{key}": metric if len(va) else None,
                        "seconds": round(seconds, 2),
                        "windows_per_s": round(len(y_tr) / seconds, 1)})
        if progress:
            shown = f"val {key} {metric:.3f}" if len(va) else "no validation split"
            progress(f"epoch {epoch} loss {mean_loss:.3f} {shown}", epoch, last)
        if metric > best:
            best, best_epoch, best_state = metric, epoch, copy.deepcopy(model.state_dict())
        if epoch - best_epoch >= cfg.patience:
            break
        if cfg.time_budget_s and time.perf_counter() - start > cfg.time_budget_s:
            break
    model.load_state_dict(best_state)
    if cfg.score_offsets:
        add_to_last_bias(model, cfg.score_offsets)
    val = evaluate(model, norm, va) if len(va) else {}
    speed = float(np.mean([h["windows_per_s"] for h in history]))
    return TrainResult(model, norm, best_epoch, val, history, speed)


def save_run(run_dir: Path, arch: Arch, task_params: dict, task: str, cfg: TrainConfig,
             result: TrainResult) -> None:
    """Write the run folder: arch, task, config, weights, metrics, history."""
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(run_dir / "arch.json", arch.to_dict())
    write_json_atomic(run_dir / "task.json", {"task": task, "params": task_params})
    write_json_atomic(run_dir / "train_config.json", dataclasses.asdict(cfg))
    write_json_atomic(run_dir / "side_norm.json", dataclasses.asdict(result.norm))
    with atomic_file(run_dir / "model.pt") as fh:
        torch.save(result.model.state_dict(), fh)
    write_json_atomic(run_dir / "history.json", result.history)
    write_json_atomic(run_dir / "metrics_val.json", {"best_epoch": result.best_epoch,
                                                     "windows_per_s": result.windows_per_s,
                                                     **result.val})


def load_run(run_dir: Path) -> tuple[Arch, dict, Normalizer, QuantCNN]:
    """(arch, task.json, side normalizer, model with weights) from a run folder."""
    for name in ("arch.json", "task.json", "side_norm.json", "model.pt"):
        if not (run_dir / name).is_file():
            raise ConfigError("model", f"{run_dir}: not a run folder (no {name})")
    arch = Arch.from_dict(json.loads((run_dir / "arch.json").read_text()))
    task = json.loads((run_dir / "task.json").read_text())
    norm = Normalizer(**json.loads((run_dir / "side_norm.json").read_text()))
    model = QuantCNN(arch)
    model.load_state_dict(torch.load(run_dir / "model.pt", weights_only=True))
    model.eval()
    return arch, task, norm, model
