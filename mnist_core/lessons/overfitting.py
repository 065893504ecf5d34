"""Learn's overfitting lesson: the same wide network trained on a few hundred images with and without dropout (or
Normalize), and each run's accuracy on its own training images beside the held-out one, epoch by epoch."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from mnist_core.learning.config import TrainConfig
from mnist_core.learning.events import Event, EventKind
from mnist_core.lessons.configs import lesson_config

TRAIN_SIZE = 500
HELD_OUT = 1000

# Two regularisers are left out so dropout is the only one: weight decay, and augmentation (new variants of the
# images every epoch would hide the learning by heart).
BASE = lesson_config(
    model="mlp-256", epochs=30, batch_size=50, lr=1e-3, optimizer="adam", train_size=TRAIN_SIZE, val_size=HELD_OUT
)


def overfit_config(dropout: bool = False, normalise: bool = True, epochs: int = BASE.epochs) -> TrainConfig:
    """The lesson's run: mlp-256 (or its dropout twin) on 500 images, with Normalize or with the raw 0-1 ink."""
    config = replace(BASE, model="mlp-256-dropout" if dropout else "mlp-256", epochs=epochs)
    return config if normalise else replace(config, norm_mean=0.0, norm_std=1.0)


@dataclass
class Curves:
    """One run's accuracy after every epoch, on its training images and on held-out ones (fractions)."""

    epochs: list[int] = field(default_factory=list)
    fit: list[float] = field(default_factory=list)
    held_out: list[float] = field(default_factory=list)
    done: bool = False

    def add(self, event: Event) -> bool:
        """Take an event of train(score_train=True); True when it added a point."""
        if event.kind in (EventKind.DONE, EventKind.STOPPED):
            self.done = event.kind == EventKind.DONE
        if event.kind != EventKind.EPOCH or event.fit_acc is None or event.val_acc is None:
            return False
        self.epochs.append(event.epoch)
        self.fit.append(event.fit_acc)
        self.held_out.append(event.val_acc)
        return True

    @property
    def gap(self) -> float | None:
        """Training minus held-out accuracy at the last epoch: how much was learned by heart."""
        return self.fit[-1] - self.held_out[-1] if self.fit else None

    def first_perfect(self) -> int | None:
        """The first epoch at which every training image was read right."""
        return next((e for e, a in zip(self.epochs, self.fit) if a >= 1.0), None)


@dataclass(frozen=True)
class Hidden:
    values: np.ndarray  # (units,) the first hidden layer's outputs, as the next layer receives them
    dropped: np.ndarray  # (units,) True where dropout switched the neuron off (none in eval mode)

    @property
    def off(self) -> int:
        return int(self.dropped.sum())


@torch.no_grad()
def first_hidden(model: nn.Module, x: torch.Tensor, training: bool, seed: int = 0) -> Hidden:
    """The first hidden layer of an MLP with dropout for one normalised image, through the model's own modules:
    in training mode its nn.Dropout zeroes a random half (seeded) and doubles the rest; in eval mode it does
    nothing."""
    dropout = model.dropout
    dropout.train(training)
    try:
        with torch.random.fork_rng(devices=[]):  # seeded here without moving anyone else's random numbers
            active = F.relu(model.hidden[0](x.flatten(1)))
            torch.manual_seed(seed)
            out = dropout(active)[0]
            torch.manual_seed(seed)  # the same draw on ones: which neurons it switched off, silent ones included
            dropped = (dropout(torch.ones_like(active)) == 0)[0]
    finally:
        dropout.eval()
    return Hidden(out.numpy(), dropped.numpy())
