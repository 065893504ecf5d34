"""The model registry: every network a learner can pick, with a description they can read.

All models take a normalised batch (N, 1, 28, 28) and return logits (N, 10); the loss applies the
softmax, so no model ends in log_softmax.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from mnist_core.i18n import N_


class MLP(nn.Module):
    """Flatten the 28x28 image into 784 numbers and pass them through fully connected layers."""

    def __init__(self, hidden: tuple[int, ...], relu: bool = True, dropout: float = 0.0):
        super().__init__()
        sizes = (28 * 28, *hidden)
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))
        self.out = nn.Linear(sizes[-1], 10)
        self.relu = relu  # off: the layers stack into one linear map, which Learn's ReLU lesson shows
        self.dropout = nn.Dropout(dropout) if dropout else None

    def forward(self, x):
        x = x.flatten(1)
        for layer in self.hidden:
            x = layer(x)
            if self.relu:
                x = F.relu(x)
            if self.dropout is not None:
                x = self.dropout(x)
        return self.out(x)


class Linear(nn.Module):
    """One fully connected layer, 784 -> 10: each digit's score is a weighted sum of the pixels plus a bias."""

    def __init__(self):
        super().__init__()
        self.out = nn.Linear(28 * 28, 10)

    def forward(self, x):
        return self.out(x.flatten(1))


class SmallCNN(nn.Module):
    """conv10 (5x5) -> pool -> conv20 (3x3) -> fc500 -> fc10, as in the seed tutorial."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 10, 5)
        self.conv2 = nn.Conv2d(10, 20, 3)
        self.fc1 = nn.Linear(20 * 10 * 10, 500)
        self.fc2 = nn.Linear(500, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.relu(self.conv2(x))
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


class ExampleCNN(nn.Module):
    """The network of the official PyTorch MNIST example."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.conv2(F.relu(self.conv1(x))))
        x = self.dropout1(F.max_pool2d(x, 2)).flatten(1)
        return self.fc2(self.dropout2(F.relu(self.fc1(x))))


class PooledCNN(nn.Module):
    """An earlier reading of the 'Intro to PyTorch' tutorial's CNN: the second conv applied twice, one max pool,
    then global average pooling. Hidden from the pickers; kept so checkpoints saved with it answer as before."""

    def __init__(self, width: int = 32):
        super().__init__()
        self.conv1 = nn.Conv2d(1, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)  # reused: same weights, applied twice
        self.fc = nn.Linear(width, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2)
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


class ReusedConvCNN(nn.Module):
    """The 'Intro to PyTorch' tutorial's CNN as its words describe it (it shows no code): two conv layers, the
    second reused many times (here four, a max pool after every second use: 28 -> 14 -> 7), a global average
    pool over the 7x7 maps and one fully connected layer."""

    def __init__(self, width: int = 32):
        super().__init__()
        self.conv1 = nn.Conv2d(1, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)  # one set of weights, applied four times
        self.fc = nn.Linear(width, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.relu(F.max_pool2d(self.conv2(x), 2))  # max and ReLU commute: pooling first leaves a quarter to ReLU
        x = F.relu(self.conv2(x))
        x = F.relu(F.max_pool2d(self.conv2(x), 2))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


def _conv_block(c_in: int, c_out: int, kernel: int) -> nn.Sequential:
    # Pool before the ReLU: max and ReLU commute, so the outputs are the same as ReLU-then-pool (and
    # checkpoints saved either way load: neither layer has weights), but the ReLU and its backward pass
    # touch a quarter of the values, so training goes through more images a second (docs/performance.md).
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(c_out),
        nn.MaxPool2d(2),
        nn.ReLU(inplace=True),
    )


class FastCNN(nn.Sequential):
    """Three conv/batch-norm/pool blocks (28 -> 14 -> 7 -> 3) and one linear layer.

    Sized for accuracy per second on a laptop CPU: batch norm lets a high learning rate converge in a
    few epochs, and the narrow early layers keep the per-image cost low where the images are largest.
    """

    def __init__(self, width: int = 16):
        super().__init__(
            _conv_block(1, width, 5),
            _conv_block(width, 2 * width, 3),
            _conv_block(2 * width, 4 * width, 3),
            nn.Flatten(),
            nn.Linear(4 * width * 3 * 3, 10),
        )


class StridedCNN(nn.Sequential):
    """A stride-2 first convolution (28 -> 14), two conv/batch-norm/pool blocks (14 -> 7 -> 3), one linear layer.

    The first layer steps two pixels at a time, so nothing after it runs on the full 28x28 grid, where the fast
    CNN spends most of its batch-norm and pooling time; this one reaches the same accuracy sooner on a CPU
    (docs/performance.md).
    """

    def __init__(self, width: int = 16):
        super().__init__(
            nn.Conv2d(1, width, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            _conv_block(width, 2 * width, 3),
            _conv_block(2 * width, 4 * width, 3),
            nn.Flatten(),
            nn.Linear(4 * width * 3 * 3, 10),
        )


@dataclass(frozen=True)
class ModelSpec:
    name: str
    title: str
    description: str
    build: Callable[[], nn.Module]
    source: str  # where it comes from, shown beside the description
    pickable: bool = True  # False: an earlier reading, kept only so checkpoints saved with it still load


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "fast-strided",
            N_("Strided CNN (default)"),
            N_(
                "Three small convolution layers with batch normalisation; the first looks at every second pixel, "
                "so the rest work on a smaller picture: about 99% on MNIST in seconds on a CPU."
            ),
            StridedCNN,
            "Digit Lab",
        ),
        ModelSpec(
            "fast",
            N_("Fast CNN (the first default)"),
            N_(
                "Three small convolution layers with batch normalisation, the first on the full 28x28 picture: "
                "about 99% on MNIST in seconds on a CPU, a little slower than the strided CNN."
            ),
            FastCNN,
            "Digit Lab",
        ),
        ModelSpec(
            "linear",
            N_("One layer 784-10"),
            N_("Every pixel connects straight to the ten digits: one weight per pixel and digit, and a bias."),
            Linear,
            "seed tutorial: how a fully connected layer works",
        ),
        ModelSpec(
            "mlp-64",
            N_("MLP 784-64-10"),
            N_("One hidden layer of 64 neurons with ReLU between the layers."),
            lambda: MLP((64,)),
            "Learn: why ReLU",
        ),
        ModelSpec(
            "mlp-64-no-relu",
            N_("MLP 784-64-10 without ReLU"),
            N_("The same layers with nothing between them: together they are no more than one linear layer."),
            lambda: MLP((64,), relu=False),
            "Learn: why ReLU",
        ),
        ModelSpec(
            "mlp-256",
            N_("MLP 784-256-256-10"),
            N_("Two wide hidden layers: enough weights to learn a few hundred images by heart."),
            lambda: MLP((256, 256)),
            "Learn: overfitting and dropout",
        ),
        ModelSpec(
            "mlp-256-dropout",
            N_("MLP 784-256-256-10 with dropout"),
            N_("The same wide layers, with half of the hidden neurons switched off at random in each training step."),
            lambda: MLP((256, 256), dropout=0.5),
            "Learn: overfitting and dropout",
        ),
        ModelSpec(
            "mlp-64x3",
            N_("MLP 784-64-64-64-10"),
            N_("The simplest network: every pixel connects to 64 neurons, three layers deep. No notion of shape."),
            lambda: MLP((64, 64, 64)),
            "seed tutorial: MLP with Adam",
        ),
        ModelSpec(
            "mlp-128-64",
            N_("MLP 784-128-64-10"),
            N_("A two-hidden-layer fully connected network, the classic first neural network for MNIST."),
            lambda: MLP((128, 64)),
            "seed tutorial: MLP with SGD",
        ),
        ModelSpec(
            "cnn-small",
            N_("Small CNN (conv10, conv20, fc500)"),
            N_("Two convolution layers find strokes and edges, then a large fully connected layer decides."),
            SmallCNN,
            "seed tutorial: small CNN",
        ),
        ModelSpec(
            "cnn-example",
            N_("PyTorch example CNN (conv32, conv64, fc128)"),
            N_("The official PyTorch MNIST example: two convolutions, max-pooling and dropout against overfitting."),
            ExampleCNN,
            "PyTorch MNIST example",
        ),
        ModelSpec(
            "cnn-pooled-4x",
            N_("Pooled CNN (one conv used 4 times, global average pooling)"),
            N_(
                "Applies the same convolution four times, shrinking the image twice, then averages each feature "
                "map: very few weights."
            ),
            ReusedConvCNN,
            "seed tutorial: Intro to PyTorch (described, no code)",
        ),
        ModelSpec(
            "cnn-pooled",
            N_("Pooled CNN, earlier reading (one conv used twice)"),
            N_(
                "Applies the same convolution twice, pools once and averages each feature map: Digit Lab's first "
                "reading of the tutorial."
            ),
            PooledCNN,
            "seed tutorial: Intro to PyTorch",
            pickable=False,
        ),
    )
}


def pickable_models() -> tuple[str, ...]:
    """The architectures a learner can choose for a new run (earlier readings only load old checkpoints)."""
    return tuple(name for name, spec in MODELS.items() if spec.pickable)


def build_model(name: str) -> nn.Module:
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}")
    return MODELS[name].build()


def count_parameters(model_or_name: nn.Module | str) -> int:
    model = build_model(model_or_name) if isinstance(model_or_name, str) else model_or_name
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def predict_probabilities(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Softmax probabilities for a normalised batch, in eval mode."""
    model.eval()
    return torch.softmax(model(x).float(), dim=1)
