"""Named presets: the seed tutorials' recipes and the fast default, each one TrainConfig with a title and a
description a learner can read."""

from __future__ import annotations

from dataclasses import dataclass, replace

from mnist_core.i18n import N_
from mnist_core.learning.config import TrainConfig


@dataclass(frozen=True)
class Recipe:
    slug: str  # what links (?recipe=...) and the CLI (--recipe) use; never change one that has been shared
    title: str  # the Train page's button: short, plain words
    description: str  # what it trains and where it comes from, one hover or click away
    config: TrainConfig  # never handed out: recipe_config() gives a fresh copy


RECIPES: dict[str, Recipe] = {
    r.slug: r
    for r in (
        Recipe(
            "fast",
            N_("Fast default (Digit Lab CNN)"),
            N_(
                "Fast default: our strided CNN, AdamW with a one-cycle schedule, label smoothing and light "
                "augmentation. ~99% in under a minute on a CPU."
            ),
            TrainConfig(
                model="fast-strided",
                epochs=10,
                batch_size=128,
                lr=0.01,
                optimizer="adamw",
                scheduler="onecycle",
                label_smoothing=0.1,
                augment=True,
            ),
        ),
        Recipe(
            "tutorial-mlp-adam",
            N_("Tutorial MLP (Adam)"),
            N_("Seed tutorial 1: 784-64-64-64-10 MLP, Adam 0.001, batches of 15, 2 epochs, no normalisation."),
            TrainConfig(
                model="mlp-64x3",
                epochs=2,
                batch_size=15,
                lr=1e-3,
                optimizer="adam",
                weight_decay=0.0,
                scheduler="none",
                augment=False,
                norm_mean=0.0,
                norm_std=1.0,
            ),
        ),
        Recipe(
            "tutorial-mlp-sgd",
            N_("Tutorial MLP (SGD)"),
            N_(
                "Seed tutorial 2: 784-128-64-10 MLP, SGD 0.003 with momentum 0.9, batches of 64, 15 epochs, "
                "Normalize(0.5, 0.5)."
            ),
            TrainConfig(
                model="mlp-128-64",
                epochs=15,
                batch_size=64,
                lr=0.003,
                optimizer="sgd",
                momentum=0.9,
                weight_decay=0.0,
                scheduler="none",
                augment=False,
                norm_mean=0.5,
                norm_std=0.5,
            ),
        ),
        Recipe(
            "tutorial-cnn-small",
            N_("Tutorial small CNN"),
            N_("Seed tutorial 3: conv10/conv20/fc500 CNN, Adam, batches of 16, 10 epochs, Normalize(0.1307, 0.3081)."),
            TrainConfig(
                model="cnn-small",
                epochs=10,
                batch_size=16,
                lr=1e-3,
                optimizer="adam",
                weight_decay=0.0,
                scheduler="none",
                augment=False,
            ),
        ),
        Recipe(
            "pytorch-example",
            N_("PyTorch example CNN"),
            N_(
                "The PyTorch MNIST example: conv32/conv64/fc128 with dropout, Adadelta 1.0, StepLR 0.7, batches of "
                "64, 14 epochs."
            ),
            TrainConfig(
                model="cnn-example",
                epochs=14,
                batch_size=64,
                lr=1.0,
                optimizer="adadelta",
                weight_decay=0.0,
                scheduler="step",
                step_gamma=0.7,
                augment=False,
            ),
        ),
        Recipe(
            "tutorial-cnn-pooled",
            N_("Tutorial pooled CNN"),
            N_(
                "Seed tutorial 4 ('Intro to PyTorch'), rebuilt from its words: the tutorial shows no code. It names "
                "two convolutions, the second reused many times, max pooling, a global average pool and Adam, and "
                "reports 99.06% on full MNIST after 10 epochs. Our reading applies the second convolution four "
                "times with two max pools (28 -> 14 -> 7) before the 7x7 average; Adam 0.001, 10 epochs, batches "
                "of 64 (a size the tutorial does not give)."
            ),
            TrainConfig(
                model="cnn-pooled-4x",
                epochs=10,
                batch_size=64,
                lr=1e-3,
                optimizer="adam",
                weight_decay=0.0,
                scheduler="none",
                augment=False,
            ),
        ),
    )
}


def recipe_config(name: str, **overrides) -> TrainConfig:
    """A fresh copy of a preset's config, with any fields overridden."""
    if name not in RECIPES:
        raise KeyError(f"unknown recipe {name!r}; choose one of: {', '.join(RECIPES)}")
    return replace(RECIPES[name].config, **{"recipe": name, **overrides})
