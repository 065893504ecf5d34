"""Named presets: the seed tutorials' recipes and the fast default, each one TrainConfig."""
from __future__ import annotations

from dataclasses import replace

from .config import TrainConfig

RECIPES: dict[str, tuple[str, TrainConfig]] = {
    "fast": ("Fast default: our CNN, AdamW with a one-cycle schedule and light augmentation. ~99% in under a minute on a CPU.",
             TrainConfig(model="fast", epochs=10, batch_size=128, lr=0.01, optimizer="adamw", scheduler="onecycle",
                         augment=True)),
    "tutorial-mlp-adam": ("Seed tutorial 1: 784-64-64-64-10 MLP, Adam 0.001, batches of 15, 2 epochs, no normalisation.",
                          TrainConfig(model="mlp-64x3", epochs=2, batch_size=15, lr=1e-3, optimizer="adam",
                                      weight_decay=0.0, scheduler="none", augment=False, norm_mean=0.0, norm_std=1.0)),
    "tutorial-mlp-sgd": ("Seed tutorial 2: 784-128-64-10 MLP, SGD 0.003 with momentum 0.9, batches of 64, 15 epochs, Normalize(0.5, 0.5).",
                         TrainConfig(model="mlp-128-64", epochs=15, batch_size=64, lr=0.003, optimizer="sgd", momentum=0.9,
                                     weight_decay=0.0, scheduler="none", augment=False, norm_mean=0.5, norm_std=0.5)),
    "tutorial-cnn-small": ("Seed tutorial 3: conv10/conv20/fc500 CNN, Adam, batches of 16, 10 epochs, Normalize(0.1307, 0.3081).",
                           TrainConfig(model="cnn-small", epochs=10, batch_size=16, lr=1e-3, optimizer="adam",
                                       weight_decay=0.0, scheduler="none", augment=False)),
    "pytorch-example": ("The PyTorch MNIST example: conv32/conv64/fc128 with dropout, Adadelta 1.0, StepLR 0.7, batches of 64, 14 epochs.",
                        TrainConfig(model="cnn-example", epochs=14, batch_size=64, lr=1.0, optimizer="adadelta",
                                    weight_decay=0.0, scheduler="step", step_gamma=0.7, augment=False)),
    "tutorial-cnn-pooled": ("Seed tutorial 4: the pooled CNN that reuses its second convolution, Adam, 10 epochs.",
                            TrainConfig(model="cnn-pooled", epochs=10, batch_size=64, lr=1e-3, optimizer="adam",
                                        weight_decay=0.0, scheduler="none", augment=False)),
}


def recipe_config(name: str, **overrides) -> TrainConfig:
    """A fresh copy of a preset's config, with any fields overridden."""
    if name not in RECIPES:
        raise KeyError(f"unknown recipe {name!r}; choose one of: {', '.join(RECIPES)}")
    return replace(RECIPES[name][1], **{"recipe": name, **overrides})
