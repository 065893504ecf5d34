"""What a training run reports as it goes: one Event per start, step, epoch and end.

Events travel far: from a Dask worker to the app, into a checkpoint's history, to the Train page's charts and the
CLI's progress bar; their kind is written as text (a StrEnum), so saved histories and JSON read the same strings.
Nothing here loads torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum


class EventKind(StrEnum):
    START = "start"
    STEP = "step"  # a few batches done: the loss and training accuracy since the last step event
    EPOCH = "epoch"  # an epoch done (epoch 0: before the first step), with the held-out score
    DONE = "done"
    STOPPED = "stopped"  # stopped early; what it had learned is kept


@dataclass
class Event:
    kind: EventKind
    step: int = 0
    total_steps: int = 0
    epoch: int = 0  # 1-based while training; 0 = before the first step
    epochs: int = 0
    loss: float | None = None  # mean training loss since the previous step event
    train_acc: float | None = None  # training accuracy over the epoch so far (on augmented images)
    val_acc: float | None = None
    fit_acc: float | None = None  # epoch events of train(score_train=True): accuracy on the training images, eval mode
    val_loss: float | None = None
    images_per_s: float = 0.0
    eta_s: float | None = None
    elapsed_s: float = 0.0
    lr: float | None = None

    def __post_init__(self):
        self.kind = EventKind(self.kind)  # an event read back from JSON or a checkpoint names its kind as text

    def to_dict(self) -> dict:
        return {**asdict(self), "kind": self.kind.value}  # plain text: JSON, msgpack and old readers alike
