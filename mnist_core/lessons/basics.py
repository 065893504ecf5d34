"""The numbers behind Learn's first lessons: an image as the inputs a network gets, one layer's weighted sums,
softmax and the cross-entropy loss, and a model that can be watched while `train` trains it. No Streamlit here."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from mnist_core.data.sources import Split, normalize
from mnist_core.learning.config import TrainConfig
from mnist_core.learning.models import build_model

MEAN, STD = TrainConfig.norm_mean, TrainConfig.norm_std  # MNIST's own mean and spread: tutorial 003's Normalize
CHANCE_LOSS = -math.log(0.1)  # the loss of a network that gives each of the ten digits the same probability


def to_tensor(images: torch.Tensor) -> torch.Tensor:
    """What torchvision's ToTensor does to uint8 (N, 28, 28) digits: floats (N, 1, 28, 28) from 0 to 1."""
    return normalize(images, 0.0, 1.0)


def normalized(images: torch.Tensor, mean: float = MEAN, std: float = STD) -> torch.Tensor:
    """ToTensor then Normalize(mean, std), exactly as training prepares its inputs."""
    return normalize(images, mean, std)


def flat(images: torch.Tensor) -> torch.Tensor:
    """(N, 1, 28, 28) -> (N, 784): each image's rows one after another, as the models' `x.flatten(1)` does."""
    return images.flatten(1)


def first_linear(model: nn.Module) -> nn.Linear:
    """The first fully connected layer of a model: the one that gets the flattened image."""
    return next(m for m in model.modules() if isinstance(m, nn.Linear))


@dataclass(frozen=True)
class NeuronSum:
    products: np.ndarray  # (28, 28): weight times input, pixel by pixel
    weighted_sum: float  # w·x
    bias: float
    output: float  # w·x + b, as the layer itself computes it


def neuron_sum(layer: nn.Linear, x: torch.Tensor, unit: int, bias: float | None = None) -> NeuronSum:
    """One output unit of `layer` on one normalised image x (1, 28, 28): its products, w·x, b and w·x + b; `bias`
    replaces the learned bias (to see what moving it does)."""
    with torch.no_grad():
        w = layer.weight[unit]
        row = x.reshape(-1)
        products = w * row
        b = float(layer.bias[unit]) if bias is None else float(bias)
        output = float(F.linear(row, w[None], torch.tensor([b]))[0])
    return NeuronSum(products.reshape(28, 28).numpy(), float(products.sum()), b, output)


def weight_pictures(model: nn.Module) -> np.ndarray:
    """The first layer's weights as one 28x28 picture per output unit: (units, 28, 28)."""
    with torch.no_grad():
        w = first_linear(model).weight.detach().float().cpu()
    return w.reshape(len(w), 28, 28).numpy().copy()


def parameter_table(model: nn.Module) -> list[tuple[str, tuple[int, ...], int]]:
    """Every learned tensor of a model: (name, shape, how many numbers)."""
    return [(name, tuple(p.shape), p.numel()) for name, p in model.named_parameters()]


def softmax(scores) -> np.ndarray:
    """torch's softmax of a list of scores."""
    return torch.softmax(torch.as_tensor(scores, dtype=torch.float64), dim=0).numpy()


def cross_entropy(scores, true: int) -> float:
    """torch's cross-entropy of one image's scores when `true` is the right answer: -log(softmax(scores)[true])."""
    z = torch.as_tensor(scores, dtype=torch.float64)[None]
    return float(F.cross_entropy(z, torch.tensor([true])))


def logits(model: nn.Module, images: torch.Tensor, mean: float = MEAN, std: float = STD) -> torch.Tensor:
    """A model's raw scores (N, 10) for uint8 digits, in eval mode and without gradients."""
    model.eval()
    with torch.no_grad():
        return model(normalized(images, mean, std)).float()


@dataclass(frozen=True)
class LossTwoWays:
    nll_of_log_softmax: float  # tutorial 002: LogSoftmax at the end of the network, then NLLLoss
    cross_entropy: float  # tutorial 003 and Digit Lab: F.cross_entropy on the raw scores
    per_image: np.ndarray  # each image's own loss: their mean is the batch's loss


def loss_two_ways(z: torch.Tensor, labels: torch.Tensor) -> LossTwoWays:
    return LossTwoWays(
        float(F.nll_loss(F.log_softmax(z, dim=1), labels)),
        float(F.cross_entropy(z, labels)),
        F.cross_entropy(z, labels, reduction="none").numpy(),
    )


@dataclass(frozen=True)
class Start:
    loss: float  # mean cross-entropy on the images
    accuracy: float
    p_true: float  # mean probability given to the right digit


def untrained_start(model_name: str, seed: int, split: Split, mean: float = MEAN, std: float = STD) -> Start:
    """How a freshly built network, its weights drawn with `seed`, scores `split` before any training."""
    z = logits(fresh_model(model_name, seed), split.images, mean, std)
    p = torch.softmax(z, 1)[torch.arange(len(split)), split.labels]
    accuracy = float((z.argmax(1) == split.labels).float().mean())
    return Start(float(F.cross_entropy(z, split.labels)), accuracy, float(p.mean()))


def fresh_model(model_name: str, seed: int) -> nn.Module:
    """A model as `train` builds it for this seed, before its first step."""
    torch.manual_seed(seed)
    return build_model(model_name)
