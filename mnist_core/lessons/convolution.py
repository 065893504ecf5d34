"""Learn's convolution lesson: a 3x3 filter slid over a 28x28 digit with torch's own conv2d, one window of that
slide worked out by hand, max pooling, and tutorial 004's chain (one convolution reused, pools, a global average).

Images are ink from 0 (paper) to 1 (full ink), so the numbers a learner reads stay small."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from mnist_core.i18n import N_, _


@dataclass(frozen=True)
class Filter:
    key: str
    title: str  # a msgid
    weights: tuple[tuple[float, ...], ...]  # 3 rows of 3


FILTERS: dict[str, Filter] = {
    f.key: f
    for f in (
        Filter("top", N_("Top edges of strokes"), ((-1, -1, -1), (0, 0, 0), (1, 1, 1))),
        Filter("bottom", N_("Bottom edges of strokes"), ((1, 1, 1), (0, 0, 0), (-1, -1, -1))),
        Filter("left", N_("Left edges of strokes"), ((-1, 0, 1), (-1, 0, 1), (-1, 0, 1))),
        Filter("right", N_("Right edges of strokes"), ((1, 0, -1), (1, 0, -1), (1, 0, -1))),
        Filter("blur", N_("Blur (the average of 9 pixels)"), ((1 / 9,) * 3,) * 3),
        Filter("sharpen", N_("Sharpen"), ((0, -1, 0), (-1, 5, -1), (0, -1, 0))),
    )
}
CUSTOM = "custom"  # the learner types the 9 numbers


def kernel(weights) -> torch.Tensor:
    """3x3 numbers -> the (1, 1, 3, 3) weight tensor conv2d takes."""
    k = torch.as_tensor(np.asarray(weights, dtype=np.float32))
    if k.shape != (3, 3):
        raise ValueError(_("a filter needs 3 rows of 3 numbers"))
    return k[None, None]


def parse_filter(text: str) -> tuple[tuple[float, ...], ...]:
    """Nine numbers typed in any layout ("1 0 -1, 2 0 -2, 1 0 -1") -> 3 rows of 3, or a ValueError saying why."""
    parts = [p for p in re.split(r"[\s,;]+", text.strip()) if p]
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        raise ValueError(_("only numbers, please, such as 1, -1 or 0.5")) from None
    if len(numbers) != 9 or not all(np.isfinite(numbers)):
        raise ValueError(_("type exactly 9 numbers (you typed {n})").format(n=len(numbers)))
    return tuple(tuple(numbers[i : i + 3]) for i in range(0, 9, 3))


def ink(image28: np.ndarray) -> torch.Tensor:
    """A uint8 28x28 image -> the (1, 1, 28, 28) float batch of ink from 0 to 1."""
    return torch.from_numpy(np.ascontiguousarray(image28, dtype=np.float32) / 255.0)[None, None]


def output_size(size: int, kernel_size: int = 3, stride: int = 1, padding: int = 0) -> int:
    """How many positions a kernel takes along one side: the size of the map it makes."""
    return (size + 2 * padding - kernel_size) // stride + 1


@torch.no_grad()
def feature_map(image28: np.ndarray, weights) -> np.ndarray:
    """The filter slid over the image by torch itself (no padding, stride 1): a 26x26 map from 28x28."""
    return F.conv2d(ink(image28), kernel(weights))[0, 0].numpy()


@dataclass(frozen=True)
class Window:
    row: int  # top-left corner in the image = the output pixel it makes
    col: int
    patch: np.ndarray  # (3, 3) ink under the filter
    products: np.ndarray  # (3, 3) ink times weight
    total: float  # their sum: the output pixel's value


def window(image28: np.ndarray, weights, row: int, col: int) -> Window:
    """The filter placed at one position, multiplied and added up by hand: what conv2d does at every position."""
    size = output_size(image28.shape[0])
    if not (0 <= row < size and 0 <= col < size):
        raise ValueError(_("a 3x3 window fits at rows and columns 0 to {last}").format(last=size - 1))
    patch = ink(image28)[0, 0, row : row + 3, col : col + 3].numpy()
    products = patch * np.asarray(weights, dtype=np.float32)
    return Window(row, col, patch, products, float(products.sum()))


@torch.no_grad()
def max_pool(values: np.ndarray, size: int = 2) -> np.ndarray:
    """Keep the largest value of each size x size square (torch's max_pool2d): half the height and width."""
    return F.max_pool2d(torch.from_numpy(np.ascontiguousarray(values))[None, None], size)[0, 0].numpy()


@dataclass(frozen=True)
class Stage:
    what: str  # a msgid: which operation made it
    values: np.ndarray  # 2-D; the last stage is 1x1


@torch.no_grad()
def reused_chain(image28: np.ndarray, weights) -> list[Stage]:
    """Tutorial 004's shape of network with one filter: the same convolution applied again after a pool (its
    conv2 is reused), a ReLU after each, then a global average pool that leaves one number per map."""
    k = kernel(weights)
    x = ink(image28)
    stages = [Stage(N_("Your image"), x[0, 0].numpy())]
    x = F.relu(F.conv2d(x, k))
    stages.append(Stage(N_("Filter, then ReLU"), x[0, 0].numpy()))
    x = F.max_pool2d(x, 2)
    stages.append(Stage(N_("Max pooling 2x2"), x[0, 0].numpy()))
    x = F.relu(F.conv2d(x, k))
    stages.append(Stage(N_("The same filter again, then ReLU"), x[0, 0].numpy()))
    x = F.max_pool2d(x, 2)
    stages.append(Stage(N_("Max pooling 2x2 again"), x[0, 0].numpy()))
    x = F.adaptive_avg_pool2d(x, 1)
    stages.append(Stage(N_("Global average pooling"), x[0, 0].numpy()))
    return stages
