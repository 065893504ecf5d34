"""The training loop.

`train` reports progress as Events to a callback and checks a stop flag every batch; it never touches
a UI. The same function serves the app (from a background thread), the CLI and the tests.
"""

from __future__ import annotations

import copy
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from mnist_core.data.sources import Split, subsample
from mnist_core.learning.config import TrainConfig
from mnist_core.learning.devices import resolve_device, set_cpu_threads
from mnist_core.learning.evaluation import score
from mnist_core.learning.events import Event, EventKind
from mnist_core.learning.models import build_model
from mnist_core.learning.pipeline import Pipeline

# Model init and dropout draw from torch's global RNG, so two runs in one process must not overlap
# while seeding; the app runs one job at a time anyway (2 cores), this makes it safe regardless.
_SEED_LOCK = threading.Lock()


@dataclass
class TrainResult:
    model: nn.Module  # on the CPU, in eval mode
    config: TrainConfig
    history: list[Event] = field(default_factory=list)  # step and epoch events
    stopped: bool = False
    seconds: float = 0.0
    images_per_s: float = 0.0
    device: str = "cpu"
    n_train: int = 0  # images actually trained on (after train_size)


def _optimizer(config: TrainConfig, params, device: torch.device) -> torch.optim.Optimizer:
    # Adam's fused kernel updates every weight in one pass, which trains the default recipe a little faster on a
    # CPU (docs/performance.md).
    fused = device.type in ("cpu", "cuda")
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay, fused=fused)
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay, fused=fused)
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


class _Progress:
    """Counts steps, images and training time, and reports them as Events (history + callback).

    Validation time is not training time: the clock runs only inside epochs.
    """

    def __init__(
        self, config: TrainConfig, steps_per_epoch: int, report_every: int, on_event: Callable[[Event], None] | None
    ):
        self.epochs, self.steps_per_epoch, self.report_every = config.epochs, steps_per_epoch, report_every
        self.total_steps = steps_per_epoch * config.epochs
        self.emit = on_event or (lambda e: None)
        self.history: list[Event] = []
        self.step = self.seen = self.epoch = 0
        self.train_time = 0.0

    def _report(self, event: Event) -> None:
        self.history.append(event)
        self.emit(event)

    def _eta(self, elapsed: float) -> float:
        return (self.total_steps - self.step) * elapsed / max(self.step, 1)

    @property
    def images_per_s(self) -> float:
        return self.seen / self.train_time if self.train_time else 0.0

    def start(self) -> None:
        self.emit(Event(EventKind.START, total_steps=self.total_steps, epochs=self.epochs))

    def start_epoch(self, epoch: int, device: torch.device) -> None:
        self.epoch, self.t0, self.in_epoch = epoch, time.perf_counter(), 0
        self.loss_acc = torch.zeros((), device=device)  # summed on the device: no sync per batch
        self.correct_acc = torch.zeros((), device=device, dtype=torch.long)
        self.epoch_correct = self.epoch_seen = self.pending = 0

    def batch_done(self, loss: torch.Tensor, logits: torch.Tensor, y: torch.Tensor, lr: float) -> None:
        self.step += 1
        self.in_epoch += 1
        self.loss_acc += loss.detach()
        self.correct_acc += (logits.detach().argmax(1) == y).sum()
        self.pending += 1
        self.epoch_seen += len(y)
        self.seen += len(y)
        if self.pending == self.report_every or self.in_epoch == self.steps_per_epoch:
            elapsed = self.train_time + time.perf_counter() - self.t0
            self.epoch_correct += int(self.correct_acc.item())
            self._report(
                Event(
                    EventKind.STEP,
                    self.step,
                    self.total_steps,
                    self.epoch,
                    self.epochs,
                    loss=self.loss_acc.item() / self.pending,
                    train_acc=self.epoch_correct / self.epoch_seen,
                    images_per_s=self.seen / elapsed if elapsed > 0 else 0.0,
                    eta_s=self._eta(elapsed),
                    elapsed_s=elapsed,
                    lr=lr,
                )
            )
            self.loss_acc.zero_()
            self.correct_acc.zero_()
            self.pending = 0

    def end_epoch(self) -> None:
        self.train_time += time.perf_counter() - self.t0

    def scored(self, val_acc: float | None, val_loss: float | None, fit_acc: float | None = None) -> None:
        """The held-out score after an epoch (epoch 0: before training, about chance)."""
        train_acc = self.epoch_correct / max(self.epoch_seen, 1) if self.epoch else None
        self._report(
            Event(
                EventKind.EPOCH,
                self.step,
                self.total_steps,
                self.epoch,
                self.epochs,
                train_acc=train_acc,
                val_acc=val_acc,
                val_loss=val_loss,
                fit_acc=fit_acc,
                images_per_s=self.images_per_s,
                elapsed_s=self.train_time,
                eta_s=self._eta(self.train_time) if self.epoch else None,
            )
        )

    def finish(self, stopped: bool) -> None:
        self.emit(
            Event(
                EventKind.STOPPED if stopped else EventKind.DONE,
                self.step,
                self.total_steps,
                self.epoch,
                self.epochs,
                images_per_s=self.images_per_s,
                elapsed_s=self.train_time,
                eta_s=0.0,
            )
        )


def train_epoch(
    model: nn.Module,
    pipeline: Pipeline,
    batches,
    optimizer,
    scheduler,
    tick_every: int,
    progress: _Progress,
    stop: threading.Event | None,
    label_smoothing: float = 0.0,
) -> bool:
    """One pass over the training batches, as in the PyTorch MNIST example. False if `stop` ended it early."""
    model.train()
    for x, y in batches:
        if stop is not None and stop.is_set():
            return False
        logits = pipeline.forward(model, x)
        loss = F.cross_entropy(logits.float(), y, label_smoothing=label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheduler is not None and (progress.step + 1) % tick_every == 0:
            scheduler.step()
        progress.batch_done(loss, logits, y, optimizer.param_groups[0]["lr"])
    return True


def validate(model: nn.Module, pipeline: Pipeline, images: torch.Tensor | None, labels: torch.Tensor | None):
    """(accuracy, mean loss) on the held-out tensors, or (None, None) without any."""
    if labels is None:
        return None, None
    loss_sum, correct, _ = score(model, pipeline, images, labels)
    return correct / len(labels), loss_sum / len(labels)


def train(
    config: TrainConfig,
    train_split: Split,
    val_split: Split | None = None,
    on_event: Callable[[Event], None] | None = None,
    stop: threading.Event | None = None,
    initial: nn.Module | None = None,
    in_place: bool = False,
    score_train: bool = False,
    on_epoch_end: Callable[[nn.Module, list[Event]], None] | None = None,
) -> TrainResult:
    """Train a fresh model from `config` (or a copy of `initial`, to fine-tune it) on `train_split`, scoring
    `val_split` after every epoch. With `in_place`, `initial` itself is trained: a lesson redraws its weights
    while the run goes on, and keeps what it learned when the run is stopped.

    `on_event` gets an Event after every reported step and epoch; setting `stop` ends the run at the
    next batch, and the result then has `stopped=True` with the model as it was. With `score_train`, every epoch
    event also says how many of the training images themselves the model gets right (`fit_acc`, in eval mode, without
    augmentation or dropout): what Learn's overfitting lesson sets beside the held-out score. `on_epoch_end` gets
    the model as it is after each epoch's score and the history so far (that epoch's event last): a worker sends it
    to the app then, so the run keeps what it learned if the worker dies later.
    """
    config.validate()
    device = resolve_device(config.device)
    if device.type == "cpu":
        set_cpu_threads(config.cpu_threads)
    pipeline = Pipeline(device, config)
    train_split = subsample(train_split, config.train_size, config.seed)
    if len(train_split) == 0:
        raise ValueError("the training split is empty")
    images, labels = train_split.images.to(device), train_split.labels.to(device)
    val_images = val_labels = None
    if val_split is not None and config.val_size > 0 and len(val_split):
        val = subsample(val_split, config.val_size, config.seed)
        val_images, val_labels = val.images.to(device), val.labels.to(device)

    generator = torch.Generator().manual_seed(config.seed)
    with _SEED_LOCK:
        torch.manual_seed(config.seed)
        if initial is None:
            model = build_model(config.model)
        else:
            model = initial if in_place else copy.deepcopy(initial)
        model = pipeline.place(model)
    optimizer = _optimizer(config, model.parameters(), device)
    steps_per_epoch = math.ceil(len(train_split) / config.batch_size)
    scheduler, tick_every = _scheduler(config, optimizer, steps_per_epoch)
    # Per-step .item() syncs are free on a CPU but stall a GPU pipeline, so report less often there.
    progress = _Progress(config, steps_per_epoch, 1 if device.type == "cpu" else 25, on_event)

    def fit() -> float | None:
        return validate(model, pipeline, images, labels)[0] if score_train else None

    progress.start()
    progress.scored(*validate(model, pipeline, val_images, val_labels), fit())
    stopped = False
    for epoch in range(1, config.epochs + 1):
        order = torch.randperm(len(labels), generator=generator).to(device)
        batches = pipeline.batches(images, labels, order, config.batch_size, generator, config.augment)
        progress.start_epoch(epoch, device)
        stopped = not train_epoch(
            model, pipeline, batches, optimizer, scheduler, tick_every, progress, stop, config.label_smoothing
        )
        progress.end_epoch()
        if stopped:
            break
        progress.scored(*validate(model, pipeline, val_images, val_labels), fit())
        if on_epoch_end is not None:
            on_epoch_end(model, progress.history)
    model.eval()
    progress.finish(stopped)
    return TrainResult(
        model.to("cpu", memory_format=torch.contiguous_format),
        config,
        progress.history,
        stopped,
        progress.train_time,
        progress.images_per_s,
        str(device),
        len(train_split),
    )
