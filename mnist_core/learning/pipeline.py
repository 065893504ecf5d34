"""In-memory batches: gather uint8 images, normalise and augment whole chunks, hand out model-ready slices.

No per-image Python or PIL work happens here: the training and evaluation loops feed models from it.
"""

from __future__ import annotations

import functools

import torch
from torch import nn
from torch.nn import functional as F

from mnist_core.data.sources import normalize
from mnist_core.learning.config import TrainConfig
from mnist_core.learning.devices import use_bf16


def augment(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random small rotation, scale and shift of a whole float batch (N, 1, H, W) in one grid_sample.

    Handwriting varies in slant, size and position; showing the model such variants is what lets a
    small training set generalise. Done on the batch's own device, so it is cheap on a GPU too.
    """
    n, _, h, w = x.shape
    r = torch.rand(n, 4, generator=generator, device="cpu").to(x.device) * 2 - 1
    angle, scale, shift = r[:, 0] * 0.2, 1 + r[:, 1] * 0.1, r[:, 2:] * 0.12  # radians, factor, half-widths
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    # The same grid F.affine_grid makes, as one (2N, 3) x (3, H*W) matrix product: affine_grid's batched
    # small matmul cost more than the sampling itself on a CPU, making batching with augmentation several times
    # slower. Each image's x and y coordinates come out as two contiguous planes, which grid_sample reads several
    # times faster than a grid with the images interleaved (docs/performance.md).
    grid = (theta.to(x.dtype).reshape(n * 2, 3) @ _base_grid(h, w, x.device, x.dtype).T).view(n, 2, h, w)
    return F.grid_sample(x, grid.permute(0, 2, 3, 1), align_corners=False, padding_mode="zeros")


@functools.lru_cache(maxsize=8)
def _base_grid(h: int, w: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Pixel centres in [-1, 1] as rows (x, y, 1), the convention of affine_grid(align_corners=False)."""
    xs = (torch.arange(w, dtype=dtype, device=device) * 2 + 1) / w - 1
    ys = (torch.arange(h, dtype=dtype, device=device) * 2 + 1) / h - 1
    return torch.stack(
        [xs.expand(h, w), ys[:, None].expand(h, w), torch.ones(h, w, dtype=dtype, device=device)], -1
    ).view(h * w, 3)


# Images prepared per call in Pipeline.batches. 512 28x28 images are 1.6 MB of float32, which stays in a CPU's
# cache through the whole chain of ops; chunks of 2048 and more ran several times slower per image
# (docs/performance.md).
CHUNK = 512


class Pipeline:
    """What the loop needs on a given device: the data there, and how to run a forward pass."""

    def __init__(self, device: torch.device, config: TrainConfig):
        self.device = device
        self.mean, self.std = config.norm_mean, config.norm_std
        # channels_last (NHWC) speeds convolutions up on CPU (oneDNN; docs/performance.md) and on CUDA; bf16
        # autocast pays off where the hardware multiplies bf16 (devices.use_bf16 says where and why).
        self.channels_last = device.type in ("cpu", "cuda")
        self.amp = use_bf16(device)

    def inputs(self, images_u8: torch.Tensor, generator=None, augmented=False) -> torch.Tensor:
        x = normalize(images_u8, 0.0, 1.0)
        if augmented:
            x = augment(x, generator)
        x = (x - self.mean) / self.std
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def batches(
        self,
        images_u8: torch.Tensor,
        labels: torch.Tensor,
        order: torch.Tensor,
        batch_size: int,
        generator=None,
        augmented=False,
    ):
        """Model-ready (x, y) batches in `order`, prepared CHUNK images at a time.

        Gathering, normalising and augmenting is a dozen small tensor ops: at batch size 64 their fixed cost
        per call was most of the pipeline's time on a CPU (docs/performance.md). Done once per chunk of whole
        batches, each batch is then a slice (a view, no copy).
        """
        chunk = max(1, CHUNK // batch_size) * batch_size
        for c in range(0, len(order), chunk):
            idx = order[c : c + chunk]
            x, y = self.inputs(images_u8[idx], generator, augmented), labels[idx]
            for b in range(0, len(idx), batch_size):
                yield x[b : b + batch_size], y[b : b + batch_size]

    def place(self, model: nn.Module) -> nn.Module:
        """The model on this pipeline's device, in the memory layout its batches come in."""
        return model.to(self.device, memory_format=torch.channels_last) if self.channels_last else model.to(self.device)

    def forward(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            return model(x)
