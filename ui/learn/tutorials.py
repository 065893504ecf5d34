"""The seed tutorials Digit Lab grew out of: their titles, the recipe that rebuilds each one's network, the figure
each reports, and the one Digit Lab measured for that recipe on full MNIST (docs/performance.md, "Learn: the seed
tutorials' figures")."""

from __future__ import annotations

from dataclasses import dataclass

from mnist_core.i18n import N_


@dataclass(frozen=True)
class Tutorial:
    id: str
    original: str  # its own (Chinese) title
    title: str  # our English name for it, a msgid
    recipe: str
    reported: str  # what the tutorial itself reports, a msgid
    measured: str | None  # what Digit Lab measured for the recipe on full MNIST, a msgid; None: not yet


TUTORIALS: dict[str, Tutorial] = {
    t.id: t
    for t in (
        Tutorial(
            "000",
            "使用PyTorch构建神经网络模型进行手写识别",
            N_("Building a neural network for handwriting with PyTorch"),
            "pytorch-example",
            N_("no figure (it builds the PyTorch example's network)"),
            None,
        ),
        Tutorial(
            "001",
            "通过PyTorch 手写数字识别 入门神经网络",
            N_("Neural networks from scratch, through handwritten digits"),
            "tutorial-mlp-adam",
            N_("96% after 2 epochs"),
            N_("96.90% after 2 epochs"),
        ),
        Tutorial(
            "002",
            "使用 PyTorch 的手写数字识别——神经网络介绍",
            N_("Handwritten digit recognition with PyTorch: an introduction"),
            "tutorial-mlp-sgd",
            N_("97.51% after 15 epochs"),
            N_("97.53% after 15 epochs"),
        ),
        Tutorial(
            "003",
            "pytorch图像识别之手写字识别",
            N_("Image recognition in PyTorch: handwritten digits"),
            "tutorial-cnn-small",
            N_("98.84% after its first epoch"),
            N_("98.56% after its first epoch"),
        ),
        Tutorial(
            "004",
            "PyTorch 神经网络简介",
            N_("Intro to PyTorch neural networks"),
            "tutorial-cnn-pooled",
            N_("99.06% after 10 epochs"),
            N_("85.81% after its first epoch (our reading of its words is still being checked)"),
        ),
    )
}
