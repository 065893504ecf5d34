"""Training one step at a time, for Learn's lesson on gradients: each step takes the next batch, computes the real
loss and its gradient with `loss.backward()`, lets the optimizer change the weights, and reports all of it."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from mnist_core.data.sources import Split, subsample
from mnist_core.learning.config import TrainConfig
from mnist_core.learning.devices import resolve_device, set_cpu_threads
from mnist_core.learning.models import build_model
from mnist_core.learning.pipeline import Pipeline
from mnist_core.learning.training import _SEED_LOCK, _optimizer

# The rule a lesson states: training has diverged once the loss is not a number (NaN or infinite) or has grown past
# this many times the loss of the first step.
DIVERGE_FACTOR = 10.0


def diverged_at(losses: list[float]) -> int | None:
    """The first step (from 1) at which a run whose step losses are `losses` had diverged by the rule above."""
    for i, loss in enumerate(losses, start=1):
        if not math.isfinite(loss) or loss > DIVERGE_FACTOR * losses[0]:
            return i
    return None


def diverged(losses: list[float]) -> bool:
    return diverged_at(losses) is not None


def first_layer(model: nn.Module) -> nn.Module:
    """The layer the images meet first: its weights are the ones a lesson draws as pictures."""
    return next(m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d)))


@dataclass
class Batch:
    images: np.ndarray  # uint8 (n, 28, 28), as stored: what the learner sees
    labels: np.ndarray  # int (n,)
    x: torch.Tensor  # the model's input: normalised (and augmented where the config says so)
    y: torch.Tensor


@dataclass
class StepResult:
    step: int  # 1 for the first step
    images: np.ndarray  # the batch, uint8 (n, 28, 28)
    labels: np.ndarray
    loss: float  # the batch's loss before the weights changed
    grad: np.ndarray  # the first layer's weight gradient, as loss.backward() left it (out, in) or (out, c, k, k)
    before: np.ndarray  # the first layer's weights before the optimizer's step
    after: np.ndarray  # ... and after it
    lr: float
    diverged: bool  # by the rule of `diverged`, over every step so far

    @property
    def change(self) -> np.ndarray:
        return self.after - self.before


class Stepper:
    """A model, its optimizer and an endless shuffled stream of batches, advanced one step per call.

    Two steppers made from configs that differ only in optimizer or learning rate start from the same weights and
    see the same batches in the same order (both follow the config's seed)."""

    def __init__(self, config: TrainConfig, split: Split):
        config.validate()
        self.config = config
        self.device = resolve_device(config.device)
        self.pipeline = Pipeline(self.device, config)
        # A lesson shows the exact float32 gradient, so no bfloat16 autocast even where the hardware would use it.
        self.pipeline.amp = False
        split = subsample(split, config.train_size, config.seed)
        if len(split) == 0:
            raise ValueError("the training split is empty")
        self.images, self.labels = split.images, split.labels
        self.generator = torch.Generator().manual_seed(config.seed)
        with _SEED_LOCK:
            torch.manual_seed(config.seed)
            self.model = self.pipeline.place(build_model(config.model))
        self.model.train()
        self.optimizer = _optimizer(config, self.model.parameters(), self.device)
        self.layer = first_layer(self.model)
        self.losses: list[float] = []
        self.epoch = 0
        self._order = torch.empty(0, dtype=torch.long)
        self._at = 0

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.labels) / self.config.batch_size)

    @property
    def diverged(self) -> bool:
        return diverged(self.losses)

    @property
    def grad(self) -> torch.Tensor | None:
        """The first layer's weight gradient as it stands: None before any backward()."""
        return self.layer.weight.grad

    def set_lr(self, lr: float) -> None:
        """A new learning rate from the next step on (the weights and the optimizer's memory stay)."""
        self.config.lr = lr
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def next_batch(self) -> Batch:
        """The next batch of the shuffled stream; a new epoch reshuffles every image."""
        if self._at >= len(self._order):
            self._order, self._at = torch.randperm(len(self.labels), generator=self.generator), 0
            self.epoch += 1
        idx = self._order[self._at : self._at + self.config.batch_size]
        self._at += len(idx)
        images, labels = self.images[idx], self.labels[idx]
        x = self.pipeline.inputs(images.to(self.device), self.generator, self.config.augment)
        return Batch(images.numpy(), labels.numpy(), x, labels.to(self.device))

    def backward(self, batch: Batch) -> torch.Tensor:
        """The batch's loss with its gradient filled in by loss.backward(); the weights do not change."""
        if self.device.type == "cpu":
            set_cpu_threads(self.config.cpu_threads)  # per calling thread, and each page run may be a new thread
        self.optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(self.pipeline.forward(self.model, batch.x).float(), batch.y)
        loss.backward()
        return loss.detach()

    def step(self) -> StepResult:
        """One training step: the next batch, its loss and gradient, then the optimizer's change to the weights."""
        batch = self.next_batch()
        loss = float(self.backward(batch))
        before = self.layer.weight.detach().cpu().numpy().copy()
        grad = self.layer.weight.grad.detach().cpu().numpy().copy()
        self.optimizer.step()
        self.losses.append(loss)
        return StepResult(
            step=len(self.losses),
            images=batch.images,
            labels=batch.labels,
            loss=loss,
            grad=grad,
            before=before,
            after=self.layer.weight.detach().cpu().numpy().copy(),
            lr=self.config.lr,
            diverged=self.diverged,
        )

    def run(self, steps: int) -> list[float]:
        """`steps` steps at once; their losses (a diverged run carries on, its losses say so)."""
        for _ in range(steps):
            self.step()
        return self.losses[-steps:]
