"""The one shape of a lesson's training: small, plain and repeatable, so a learner sees one idea change at a time."""

from __future__ import annotations

from mnist_core.learning.config import TrainConfig

# Plain SGD with no schedule, augmentation or decay, a few thousand images, one CPU thread and a fixed seed: each
# lesson changes only the knob it is about, and the same button gives the same curve on every computer.
PLAIN = dict(
    model="linear",
    epochs=1,
    batch_size=32,
    lr=0.01,
    optimizer="sgd",
    momentum=0.0,
    weight_decay=0.0,
    scheduler="none",
    augment=False,
    train_size=2000,
    val_size=1000,
    seed=0,
    cpu_threads=1,
    device="cpu",
)


def lesson_config(**fields) -> TrainConfig:
    """PLAIN with the lesson's own changes, checked."""
    return TrainConfig(**{**PLAIN, **fields}).validate()
