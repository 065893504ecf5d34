"""What ReLU changes, on a real network: a hidden layer's numbers before and after it, and the proof that two
linear layers with nothing between them make just one linear layer."""

from __future__ import annotations

import torch

from mnist_core.learning.models import MLP


def hidden_values(model: MLP, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The first hidden layer's outputs for the batch x, before and after ReLU."""
    with torch.no_grad():
        before = model.hidden[0](x.flatten(1))
    return before, torch.relu(before)


def merged_layer(model: MLP) -> tuple[torch.Tensor, torch.Tensor]:
    """The one 784-10 layer (weights, bias) that computes what a ReLU-free MLP computes: W2(W1 x + b1) + b2."""
    if model.relu:
        raise ValueError("a network with ReLU between its layers does not merge into one layer")
    with torch.no_grad():
        weight, bias = model.out.weight, model.out.bias
        for layer in reversed(model.hidden):
            weight, bias = weight @ layer.weight, weight @ layer.bias + bias
    return weight, bias
