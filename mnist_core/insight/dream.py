"""What a model imagines a digit looks like: feature visualisation (Olah, Mordvintsev and Schubert, "Feature
Visualization", Distill 2017). An image is changed step by step, by gradient ascent, until the model's score for
one digit (or one convolution channel's activity) is as high as it gets, with the article's usual regularisers so
the picture stays readable: the image moves a pixel or two at random before each step (jitter), it is blurred a
little now and then, and ink beyond what a pen would leave is penalised.

The image lives in pixel space (0 = paper, 1 = full ink, as an MNIST digit after ToTensor) behind a sigmoid, so
it never leaves what a drawing could be, and each step feeds it through the model's own normalisation.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from mnist_core.i18n import _
from mnist_core.insight.explain import cpu_threads
from mnist_core.learning.config import TrainConfig


@dataclass(frozen=True)
class DreamSettings:
    steps: int = 300
    lr: float = 0.1  # Adam's, on the sigmoid's input
    jitter: int = 2  # the largest random shift before each step, in pixels
    blur_every: int = 8  # steps between two light blurs
    ink_penalty: float = 0.01  # times the mean ink: keeps the strokes from spreading over the whole square
    start: str = "blank"  # "blank" paper, or "noise": faint random ink (a different picture for every seed)
    seed: int = 0


@dataclass(frozen=True)
class Dream:
    image: np.ndarray  # (28, 28) floats in [0, 1]: 0 paper, 1 ink
    digit: int | None  # the digit dreamt of, or None for a channel's favourite pattern
    layer: str | None = None
    channel: int | None = None
    probability: float | None = None  # the model's probability for `digit` when it reads the dream
    activation: float | None = None  # the channel's output where it looks, for the dream
    field: tuple[int, int, int, int] | None = None  # (top, bottom, left, right): the pixels that channel position sees

    def seen(self) -> np.ndarray:
        """The part of the picture the channel looks at (all of it for a digit's dream)."""
        if self.field is None:
            return self.image
        top, bottom, left, right = self.field
        return self.image[top:bottom, left:right]

    def as_uint8(self) -> np.ndarray:
        return np.clip(self.image * 255.0 + 0.5, 0, 255).astype(np.uint8)


def conv_layers(model: nn.Module) -> dict[str, int]:
    """Each convolution layer's name (as named_modules gives it) and its number of channels, in order."""
    return {name: m.out_channels for name, m in model.named_modules() if isinstance(m, nn.Conv2d)}


def dream_digit(model: nn.Module, config: TrainConfig, digit: int, settings: DreamSettings = DreamSettings()) -> Dream:
    """The image that makes the model most sure of `digit`: its log-probability is pushed up, so other digits'
    scores are pushed down at the same time."""
    if not 0 <= digit <= 9:
        raise ValueError(_("the digit must be 0 to 9, not {digit}").format(digit=digit))
    model = model.eval()
    image = _ascend(lambda x: F.log_softmax(model(x), 1)[0, digit], config, settings)
    with torch.no_grad():
        probability = float(torch.softmax(model(_normalised(torch.from_numpy(image)[None, None], config)), 1)[0, digit])
    return Dream(image, digit, probability=probability)


def dream_channel(
    model: nn.Module, config: TrainConfig, layer: str, channel: int, settings: DreamSettings = DreamSettings()
) -> Dream:
    """The image that most excites one channel of one convolution layer where it looks at the middle of the picture
    (the article's "neuron" objective): a channel's mean over the whole picture fills it with one texture, while
    one position shows the stroke that the channel waits for."""
    layers = conv_layers(model)
    if layer not in layers:
        raise ValueError(
            _("{model} has no convolution layer {layer} (it has: {layers})").format(
                model=config.model, layer=repr(layer), layers=", ".join(layers) or "-"
            )
        )
    if not 0 <= channel < layers[layer]:
        raise ValueError(
            _("layer {layer} has channels 0 to {last}, not {channel}").format(
                layer=layer, last=layers[layer] - 1, channel=channel
            )
        )
    # No jitter: the objective is one position, and a shifted image would put another part of it there.
    settings = replace(settings, jitter=0)
    model = model.eval()
    module = dict(model.named_modules())[layer]
    seen: list[torch.Tensor] = []
    hook = module.register_forward_hook(lambda _m, _i, out: seen.append(out))
    try:

        def objective(x: torch.Tensor) -> torch.Tensor:
            seen.clear()
            model(x)
            out = seen[0][0, channel]
            return out[out.shape[0] // 2, out.shape[1] // 2]

        field = _receptive_field(objective, config)
        image = _ascend(objective, config, settings)
        with torch.no_grad():
            activation = float(objective(_normalised(torch.from_numpy(image)[None, None], config)))
    finally:
        hook.remove()
    return Dream(image, None, layer, channel, activation=activation, field=field)


def _receptive_field(objective, config: TrainConfig) -> tuple[int, int, int, int]:
    """The box of pixels whose change changes the objective at all: found from its gradient on faint random ink
    (on blank paper a ReLU that is off would hide part of the field)."""
    pixels = (0.5 * torch.rand((1, 1, 28, 28), generator=torch.Generator().manual_seed(0))).requires_grad_(True)
    with torch.enable_grad():
        objective(_normalised(pixels, config)).backward()
    rows, cols = (pixels.grad[0, 0].abs() > 0).nonzero(as_tuple=True)
    if len(rows) == 0:
        return 0, 28, 0, 28
    return int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1


def _normalised(pixels: torch.Tensor, config: TrainConfig) -> torch.Tensor:
    return (pixels - config.norm_mean) / config.norm_std


def _ascend(objective, config: TrainConfig, settings: DreamSettings) -> np.ndarray:
    """Gradient ascent on objective(normalised image) with jitter, blur and an ink penalty; the final image. On one
    thread: one small image is too little work to share, and on a busy CPU extra threads only wait on each other."""
    with cpu_threads(1):
        return _ascend_here(objective, config, settings)


def _ascend_here(objective, config: TrainConfig, settings: DreamSettings) -> np.ndarray:
    generator = torch.Generator().manual_seed(settings.seed)
    start = torch.full((1, 1, 28, 28), -4.0)  # sigmoid(-4) = 0.018: all but blank paper
    if settings.start == "noise":
        start = start + 2.0 * torch.rand(start.shape, generator=generator)
    raw = start.requires_grad_(True)
    optimizer = torch.optim.Adam([raw], lr=settings.lr)
    blur = torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]).div(16.0).view(1, 1, 3, 3)
    with torch.enable_grad():
        for step in range(settings.steps):
            pixels = torch.sigmoid(raw)
            if settings.jitter:
                dx, dy = (
                    int(v) for v in torch.randint(-settings.jitter, settings.jitter + 1, (2,), generator=generator)
                )
                pixels = torch.roll(pixels, (dy, dx), (2, 3))
            loss = -objective(_normalised(pixels, config)) + settings.ink_penalty * pixels.mean() * 28
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if settings.blur_every and (step + 1) % settings.blur_every == 0 and step + 1 < settings.steps:
                with torch.no_grad():  # blurred in pixel space, then back behind the sigmoid
                    soft = F.conv2d(torch.sigmoid(raw), blur, padding=1).clamp(1e-4, 1 - 1e-4)
                    raw.copy_(torch.logit(soft))
    return torch.sigmoid(raw).detach()[0, 0].numpy().astype(np.float32)
