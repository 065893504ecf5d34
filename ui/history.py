"""Training history -> the curves a learner looks at (loss per step, accuracy per epoch)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mnist_core.i18n import _
from mnist_core.learning.events import Event, EventKind


@dataclass
class Curves:
    step: np.ndarray  # step number of each loss point
    loss: np.ndarray  # raw training loss at those steps
    loss_smooth: np.ndarray  # exponential moving average: the trend behind noisy batches
    epoch: np.ndarray  # 0 = before training, then 1..n
    epoch_step: np.ndarray  # the step at which each epoch ended (for a shared x-axis)
    train_acc: np.ndarray  # NaN for epoch 0
    val_acc: np.ndarray  # NaN when there was no held-out set
    epoch_loss: np.ndarray  # mean training loss per epoch (NaN for epoch 0)


def _ema(values: np.ndarray, alpha: float) -> np.ndarray:
    out = np.empty_like(values)
    acc = values[0] if len(values) else 0.0
    for i, v in enumerate(values):
        acc = alpha * v + (1 - alpha) * acc
        out[i] = acc
    return out


def curves(history: list[Event], max_points: int = 2000) -> Curves:
    """Chart-ready arrays; step series are thinned to at most ~max_points so redraws stay cheap."""
    steps = [h for h in history if h.kind == EventKind.STEP and h.loss is not None]
    epochs = [h for h in history if h.kind == EventKind.EPOCH]
    step = np.array([h.step for h in steps], dtype=np.int64)
    loss = np.array([h.loss for h in steps], dtype=np.float64)
    smooth = _ema(loss, alpha=min(1.0, 20.0 / max(len(loss), 20))) if len(loss) else loss
    step_epoch = np.array([h.epoch for h in steps], dtype=np.int64)
    n_epochs = max([h.epoch for h in epochs] + [int(step_epoch.max()) if len(step_epoch) else 0]) + 1
    sums = np.bincount(step_epoch, weights=loss, minlength=n_epochs)
    counts = np.bincount(step_epoch, minlength=n_epochs)
    per_epoch = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    epoch_loss = [per_epoch[e.epoch] if e.epoch > 0 else np.nan for e in epochs]
    if len(step) > max_points:
        keep = np.unique(np.linspace(0, len(step) - 1, max_points).round().astype(int))
        step, loss, smooth = step[keep], loss[keep], smooth[keep]

    def col(values):
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)

    return Curves(
        step,
        loss,
        smooth,
        np.array([h.epoch for h in epochs], dtype=np.int64),
        np.array([h.step for h in epochs], dtype=np.int64),
        col(h.train_acc for h in epochs),
        col(h.val_acc for h in epochs),
        np.array(epoch_loss, dtype=np.float64),
    )


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(round(seconds))
    if seconds >= 60:
        return _("{minutes}m {seconds:02d}s").format(minutes=seconds // 60, seconds=seconds % 60)
    return _("{seconds}s").format(seconds=seconds)
