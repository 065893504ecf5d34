"""Device-aware training and evaluation loops.

`train` reports progress as Events to a callback and checks a stop flag every batch; it never touches
a UI. The same function serves the app (from a background thread), the CLI and the tests.
"""
from __future__ import annotations

import functools
import math
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from .config import TrainConfig
from .data import Split, normalize, subsample
from .models import build_model

# Model init and dropout draw from torch's global RNG, so two runs in one process must not overlap
# while seeding; the app runs one job at a time anyway (2 cores), this makes it safe regardless.
_SEED_LOCK = threading.Lock()


def resolve_device(name: str = "auto") -> torch.device:
    """auto = cuda, then mps, then cpu. Asking for a device that is not there is an error."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was asked for but no CUDA GPU is available")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise RuntimeError("device 'mps' was asked for but Apple's MPS is not available")
    return torch.device(name)


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"GPU: {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return "Apple GPU (MPS)"
    return f"CPU ({torch.get_num_threads()} threads)"


def set_cpu_threads(requested: int = 0) -> int:
    """Intra-op threads for the *calling* thread (OpenMP settings are per thread): 0 = one per core."""
    n = requested or os.cpu_count() or 1
    torch.set_num_threads(n)
    return n


def augment(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random small rotation, scale and shift of a whole float batch (N, 1, H, W) in one grid_sample.

    Handwriting varies in slant, size and position; showing the model such variants is what lets a
    small training set generalise. Done on the batch's own device, so it is cheap on a GPU too.
    """
    n, _, h, w = x.shape
    r = torch.rand(n, 4, generator=generator, device="cpu").to(x.device) * 2 - 1
    angle, scale, shift = r[:, 0] * 0.2, 1 + r[:, 1] * 0.1, r[:, 2:] * 0.12  # radians, factor, half-widths
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    # The same grid F.affine_grid makes, as one (2N, 3) x (3, H*W) matrix product: affine_grid's batched
    # small matmul cost more than the sampling itself on a CPU (4x slower batching with augmentation). Each
    # image's x and y coordinates come out as two contiguous planes, which grid_sample reads 3-4x faster than
    # a grid with the images interleaved.
    grid = (theta.to(x.dtype).reshape(n * 2, 3) @ _base_grid(h, w, x.device, x.dtype).T).view(n, 2, h, w)
    return F.grid_sample(x, grid.permute(0, 2, 3, 1), align_corners=False, padding_mode="zeros")


@functools.lru_cache(maxsize=8)
def _base_grid(h: int, w: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Pixel centres in [-1, 1] as rows (x, y, 1), the convention of affine_grid(align_corners=False)."""
    xs = (torch.arange(w, dtype=dtype, device=device) * 2 + 1) / w - 1
    ys = (torch.arange(h, dtype=dtype, device=device) * 2 + 1) / h - 1
    return torch.stack([xs.expand(h, w), ys[:, None].expand(h, w), torch.ones(h, w, dtype=dtype, device=device)],
                       -1).view(h * w, 3)


@dataclass
class Event:
    kind: str  # "start", "step", "epoch", "done" or "stopped"
    step: int = 0
    total_steps: int = 0
    epoch: int = 0  # 1-based while training; 0 = before the first step
    epochs: int = 0
    loss: float | None = None  # mean training loss since the previous step event
    train_acc: float | None = None  # training accuracy over the epoch so far (on augmented images)
    val_acc: float | None = None
    val_loss: float | None = None
    images_per_s: float = 0.0
    eta_s: float | None = None
    elapsed_s: float = 0.0
    lr: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainResult:
    model: nn.Module  # on the CPU, in eval mode
    config: TrainConfig
    history: list[dict] = field(default_factory=list)  # step and epoch events, as dicts
    stopped: bool = False
    seconds: float = 0.0
    images_per_s: float = 0.0
    device: str = "cpu"
    n_train: int = 0  # images actually trained on (after train_size)


def _optimizer(config: TrainConfig, params) -> torch.optim.Optimizer:
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    return torch.optim.Adadelta(params, lr=config.lr, weight_decay=config.weight_decay)


def _scheduler(config: TrainConfig, optimizer, steps_per_epoch: int):
    """Returns (scheduler, steps_per_tick): OneCycle ticks every batch, StepLR every epoch."""
    total = config.epochs * steps_per_epoch
    if config.scheduler == "onecycle" and total >= 8:  # shorter runs cannot have a warm-up phase
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, config.lr, total_steps=total, pct_start=0.25), 1
    if config.scheduler == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=config.step_gamma), steps_per_epoch
    return None, 0


# Images prepared per call in Runner.batches. 512 28x28 images are 1.6 MB of float32, which stays in a CPU's
# cache through the whole chain of ops; 2048 and more ran 2-4x slower per image on the 2-core build machine.
CHUNK = 512


class Runner:
    """What the loop needs on a given device: the data there, and how to run a forward pass."""

    def __init__(self, device: torch.device, config: TrainConfig):
        self.device = device
        self.mean, self.std = config.norm_mean, config.norm_std
        # channels_last (NHWC) speeds convolutions up on CPU (oneDNN, measured 1.4x for the fast CNN) and on
        # CUDA; bf16 autocast pays off on GPU tensor cores only.
        self.channels_last = device.type in ("cpu", "cuda")
        self.amp = device.type == "cuda" and torch.cuda.is_bf16_supported()

    def inputs(self, images_u8: torch.Tensor, generator=None, augmented=False) -> torch.Tensor:
        x = normalize(images_u8, 0.0, 1.0)
        if augmented:
            x = augment(x, generator)
        x = (x - self.mean) / self.std
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def batches(self, images_u8: torch.Tensor, labels: torch.Tensor, order: torch.Tensor, batch_size: int,
                generator=None, augmented=False):
        """Model-ready (x, y) batches in `order`, prepared CHUNK images at a time.

        Gathering, normalising and augmenting is a dozen small tensor ops: at batch size 64 their fixed cost
        per call was 3/4 of the pipeline's time on a CPU. Done once per chunk of whole batches, each batch
        is then a slice (a view, no copy).
        """
        chunk = max(1, CHUNK // batch_size) * batch_size
        for c in range(0, len(order), chunk):
            idx = order[c:c + chunk]
            x, y = self.inputs(images_u8[idx], generator, augmented), labels[idx]
            for b in range(0, len(idx), batch_size):
                yield x[b:b + batch_size], y[b:b + batch_size]

    def forward(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.amp):
            return model(x)


@torch.no_grad()
def _score(model, runner: Runner, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000):
    """(loss sum, correct count, probabilities) over device tensors, in eval mode."""
    model.eval()
    loss_sum, correct, probs = 0.0, 0, []
    for i in range(0, len(labels), batch_size):
        logits = runner.forward(model, runner.inputs(images[i:i + batch_size])).float()
        y = labels[i:i + batch_size]
        loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
        p = torch.softmax(logits, 1)
        correct += (p.argmax(1) == y).sum().item()
        probs.append(p.cpu())
    return loss_sum, correct, torch.cat(probs) if probs else torch.empty(0, 10)


def train(config: TrainConfig, train_split: Split, val_split: Split | None = None,
          on_event: Callable[[Event], None] | None = None, stop: threading.Event | None = None) -> TrainResult:
    """Train a fresh model from `config` on `train_split`, scoring `val_split` after every epoch.

    `on_event` gets an Event after every reported step and epoch; setting `stop` ends the run at the
    next batch, and the result then has `stopped=True` with the model as it was.
    """
    config.validate()
    device = resolve_device(config.device)
    if device.type == "cpu":
        set_cpu_threads(config.cpu_threads)
    emit = on_event or (lambda e: None)
    runner = Runner(device, config)

    train_split = subsample(train_split, config.train_size, config.seed)
    if len(train_split) == 0:
        raise ValueError("the training split is empty")
    generator = torch.Generator().manual_seed(config.seed)
    with _SEED_LOCK:
        torch.manual_seed(config.seed)
        model = build_model(config.model)
    model = model.to(device, memory_format=torch.channels_last) if runner.channels_last else model.to(device)
    optimizer = _optimizer(config, model.parameters())
    steps_per_epoch = math.ceil(len(train_split) / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    scheduler, tick_every = _scheduler(config, optimizer, steps_per_epoch)

    images, labels = train_split.images.to(device), train_split.labels.to(device)
    if val_split is not None and config.val_size > 0 and len(val_split):
        val = subsample(val_split, config.val_size, config.seed)
        val_images, val_labels = val.images.to(device), val.labels.to(device)
    else:
        val_images = val_labels = None

    history: list[dict] = []

    def report(event: Event) -> None:
        history.append(event.to_dict())
        emit(event)

    def score_val() -> tuple[float | None, float | None]:
        if val_labels is None:
            return None, None
        loss_sum, correct, _ = _score(model, runner, val_images, val_labels)
        model.train()
        return correct / len(val_labels), loss_sum / len(val_labels)

    # Per-step .item() syncs are free on a CPU but stall a GPU pipeline, so report less often there.
    report_every = 1 if device.type == "cpu" else 25
    emit(Event("start", total_steps=total_steps, epochs=config.epochs))
    val_acc, val_loss = score_val()  # the "before training" point: about 10%, i.e. chance
    report(Event("epoch", total_steps=total_steps, epochs=config.epochs, val_acc=val_acc, val_loss=val_loss))

    step, seen, train_time, stopped = 0, 0, 0.0, False
    model.train()
    for epoch in range(1, config.epochs + 1):
        order = torch.randperm(len(labels), generator=generator).to(device)
        loss_acc = torch.zeros((), device=device)
        correct_acc = torch.zeros((), device=device, dtype=torch.long)
        epoch_correct, epoch_seen, pending = 0, 0, 0
        t0 = time.perf_counter()
        for i, (x, y) in enumerate(runner.batches(images, labels, order, config.batch_size, generator, config.augment)):
            if stop is not None and stop.is_set():
                stopped = True
                break
            logits = runner.forward(model, x)
            loss = F.cross_entropy(logits.float(), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            if scheduler is not None and step % tick_every == 0:
                scheduler.step()
            loss_acc += loss.detach()
            correct_acc += (logits.detach().argmax(1) == y).sum()
            pending += 1
            epoch_seen += len(y)
            seen += len(y)
            if pending == report_every or i + 1 == steps_per_epoch:
                elapsed = train_time + time.perf_counter() - t0
                epoch_correct += int(correct_acc.item())
                rate = seen / elapsed if elapsed > 0 else 0.0
                report(Event("step", step, total_steps, epoch, config.epochs, loss=loss_acc.item() / pending,
                             train_acc=epoch_correct / epoch_seen, images_per_s=rate,
                             eta_s=(total_steps - step) * elapsed / step, elapsed_s=elapsed,
                             lr=optimizer.param_groups[0]["lr"]))
                loss_acc.zero_()
                correct_acc.zero_()
                pending = 0
        train_time += time.perf_counter() - t0
        if stopped:
            break
        val_acc, val_loss = score_val()
        report(Event("epoch", step, total_steps, epoch, config.epochs,
                     train_acc=epoch_correct / max(epoch_seen, 1), val_acc=val_acc, val_loss=val_loss,
                     images_per_s=seen / train_time if train_time else 0.0, elapsed_s=train_time,
                     eta_s=(total_steps - step) * train_time / max(step, 1)))

    model.eval()
    rate = seen / train_time if train_time else 0.0
    emit(Event("stopped" if stopped else "done", step, total_steps, epoch, config.epochs,
               images_per_s=rate, elapsed_s=train_time, eta_s=0.0))
    return TrainResult(model.to("cpu", memory_format=torch.contiguous_format), config, history, stopped,
                       train_time, rate, str(device), len(train_split))


@dataclass
class EvalReport:
    accuracy: float
    loss: float
    n: int
    confusion: np.ndarray  # (10, 10): rows = true class, columns = predicted class
    per_class: pd.DataFrame  # class, precision, recall, f1, support
    labels: np.ndarray  # true class per image
    predictions: np.ndarray  # predicted class per image
    confidence: np.ndarray  # probability of the predicted class
    probabilities: np.ndarray  # (n, 10)

    def most_confused(self, k: int = 5) -> pd.DataFrame:
        """The k (true, predicted) pairs the model mixes up most, off the diagonal."""
        off = self.confusion.copy()
        np.fill_diagonal(off, 0)
        pairs = [(int(t), int(p), int(off[t, p])) for t, p in zip(*np.unravel_index(np.argsort(-off, axis=None), off.shape))]
        return pd.DataFrame([r for r in pairs if r[2] > 0][:k], columns=["true", "predicted", "count"])

    def mistakes(self, true: int | None = None, predicted: int | None = None) -> np.ndarray:
        """Indices of images with that true/predicted class (default: every mistake), least confident last."""
        mask = np.ones(self.n, bool) if true is not None and predicted is not None else self.labels != self.predictions
        if true is not None:
            mask &= self.labels == true
        if predicted is not None:
            mask &= self.predictions == predicted
        idx = np.flatnonzero(mask)
        return idx[np.argsort(-self.confidence[idx], kind="stable")]

    def summary(self) -> dict:
        return {"accuracy": self.accuracy, "loss": self.loss, "n": self.n}


def evaluate(model: nn.Module, split: Split, config: TrainConfig, device: str | torch.device = "auto",
             classes: list[str] | None = None) -> EvalReport:
    """Score a model on a split with the normalisation it was trained with."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    device = resolve_device(device) if isinstance(device, str) else device
    runner = Runner(device, config)
    model = model.to(device)
    if len(split) == 0:
        raise ValueError("cannot evaluate on an empty split")
    loss_sum, correct, probs = _score(model, runner, split.images.to(device), split.labels.to(device))
    model.to("cpu")
    probs_np = probs.numpy()
    y_true, y_pred = split.labels.numpy(), probs_np.argmax(1)
    k = list(range(10))
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=k, zero_division=0)
    per_class = pd.DataFrame({"class": classes or [str(i) for i in k], "precision": precision, "recall": recall,
                              "f1": f1, "support": support})
    return EvalReport(correct / len(split), loss_sum / len(split), len(split), confusion_matrix(y_true, y_pred, labels=k),
                      per_class, y_true, y_pred, probs_np.max(1), probs_np)
