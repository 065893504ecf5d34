"""Looking inside a model at one image: each layer's output, the first layer's weights, which pixels pushed it
towards an answer, and what small changes to the image do. How its accuracy holds up on moved or turned digits is
in robustness.py, which reuses the moves and the faster model copy made here.

Attributions come from captum, PyTorch's own interpretability library: occlusion (cover a patch, watch the
score) and integrated gradients (fade the image in from black, add up what each pixel did to the score). Both
explain the raw score (logit) of a digit, not its probability: a probability near 100% barely moves when one
patch is covered, so it would hide what the model relies on. Nothing here imports Streamlit: the Inside page,
the `explain` command and the tests all draw on these functions.
"""

from __future__ import annotations

import contextlib
import copy
import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from mnist_core.data.preprocess import Steps, squash_28, to_input, to_mnist_steps
from mnist_core.i18n import N_, _
from mnist_core.learning.config import TrainConfig
from mnist_core.learning.devices import set_cpu_threads

WINDOW, STRIDE = 4, 2  # occlusion patch and step, in pixels: 13x13 positions over a 28x28 image
IG_STEPS = 16  # integrated-gradients path points; more changed the maps by less than the eye can see


@dataclass(frozen=True)
class Method:
    key: str
    title: str  # marked with N_: the page translates it with _()
    meaning: str  # one sentence a learner can follow (likewise)


METHODS = {
    m.key: m
    for m in (
        Method(
            "occlusion",
            N_("Covering patches (occlusion)"),
            N_(
                "Each 4×4 patch is covered with black in turn: red where covering it lowers the score for this "
                "digit (that ink argued for it), blue where covering it raises the score (it argued against)."
            ),
        ),
        Method(
            "gradients",
            N_("Fading in (integrated gradients)"),
            N_(
                "The image is faded in from black and every pixel's effect on the score for this digit is added "
                "up along the way: red pixels pushed the model towards the digit, blue ones away from it."
            ),
        ),
    )
}


@dataclass
class Layer:
    name: str  # the module's name inside the model, e.g. "conv1" or "0.0"
    kind: str  # "conv" (feature maps), "dense" (one number per neuron) or "output" (one score per digit)
    title: str  # plain words: "Layer 1: 16 detectors of simple strokes", in the language of the run (i18n)
    help: str
    values: np.ndarray  # conv: (channels, height, width); dense and output: (units,)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.values.shape)

    def info(self) -> dict:
        return {"name": self.name, "kind": self.kind, "shape": list(self.shape)}


@dataclass
class Filters:
    title: str
    help: str
    weights: np.ndarray  # (n, height, width): one small image per detector or neuron


@dataclass
class Attribution:
    digit: int
    probability: float
    maps: dict[str, np.ndarray]  # method key -> (28, 28) floats; positive = pushed towards `digit`


@dataclass
class Inside:
    """Everything the Inside page shows for one image."""

    image28: np.ndarray | None  # uint8 (28, 28) the model reads; None when no digit was found
    steps: Steps | None = None  # the preprocessing stages (drawings and photos; dataset images are already 28x28)
    naive28: np.ndarray | None = None  # the input squashed to 28x28 without the steps
    naive_probabilities: np.ndarray | None = None
    probabilities: np.ndarray | None = None  # (10,)
    layers: list[Layer] = field(default_factory=list)
    attributions: list[Attribution] = field(default_factory=list)  # the top three digits, likeliest first

    @property
    def digit(self) -> int | None:
        return None if self.probabilities is None else int(self.probabilities.argmax())


@contextlib.contextmanager
def cpu_threads(n: int):
    """Run the block on n intra-op threads (0: one per core, or $DIGIT_LAB_CPU_THREADS); the setting is per
    calling thread. One drawing's small batches take one thread: a few hundred 28x28 variants ran as fast on one
    thread as on two on an idle 2-core CPU and much faster on a busy one, where extra OpenMP threads only wait on
    each other. The robustness curves take one thread too: slower than two on an idle CPU, but several times
    faster while a training run goes on beside them (docs/performance.md)."""
    before = torch.get_num_threads()
    set_cpu_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _background(config: TrainConfig) -> float:
    """A black pixel after normalisation: what 'nothing here' looks like to the model."""
    return (0.0 - config.norm_mean) / config.norm_std


def _for_inference(model: nn.Module) -> nn.Module:
    """A copy with each convolution's batch norm folded into its weights and channels-last memory: the same
    answers, and both the folding and the layout make them faster to compute on a CPU (docs/performance.md). The
    caller's model is left as it is."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    fast = copy.deepcopy(model).eval()
    for seq in [m for m in fast.modules() if isinstance(m, nn.Sequential)]:
        for i in range(len(seq) - 1):
            if isinstance(seq[i], nn.Conv2d) and isinstance(seq[i + 1], nn.BatchNorm2d):
                seq[i], seq[i + 1] = fuse_conv_bn_eval(seq[i], seq[i + 1]), nn.Identity()
    return fast.to(memory_format=torch.channels_last)


# ----- layer by layer -----

_STAGES = (nn.Conv2d, nn.Linear, nn.BatchNorm2d, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.ReLU)


@torch.no_grad()
def layer_outputs(model: nn.Module, x: torch.Tensor) -> list[Layer]:
    """Each convolution and dense layer's output for a batch of one, in the order the model runs them.

    A layer's output is taken after the batch norm, pooling and ReLU modules that follow it. Where a model
    applies ReLU as a function (the registry's MLPs and seed CNNs do, after every hidden layer), it is applied
    here too, so that every map shows what the next layer receives: 0 = silent, bright = found its pattern.
    """
    model.eval()
    calls: list[tuple[str, nn.Module, torch.Tensor]] = []
    names = {m: n for n, m in model.named_modules()}
    hooks = [
        m.register_forward_hook(lambda mod, _, out: calls.append((names[mod], mod, out.detach().clone())))
        for m in model.modules()
        if isinstance(m, _STAGES)
    ]
    try:
        logits = model(x)
    finally:
        for h in hooks:
            h.remove()
    groups: list[list[tuple[str, nn.Module, torch.Tensor]]] = []
    for call in calls:
        if isinstance(call[1], (nn.Conv2d, nn.Linear)) or not groups:
            groups.append([call])
        else:
            groups[-1].append(call)
    layers, seen, convs = [], set(), 0
    for i, group in enumerate(groups):
        name, module, out = group[0][0], group[0][1], group[-1][2][0]
        last = i == len(groups) - 1
        if not last and not any(isinstance(m, nn.ReLU) for _, m, _ in group):
            out = F.relu(out)
        again = name in seen
        seen.add(name)
        if last:
            layers.append(
                Layer(
                    name,
                    "output",
                    _("Output: {n} scores, one per digit").format(n=out.numel()),
                    _(
                        "The raw scores (logits). The softmax below turns them into probabilities: the "
                        "highest score is the answer."
                    ),
                    logits[0].float().numpy(),
                )
            )
            continue
        n = len(layers) + 1
        if isinstance(module, nn.Conv2d):
            convs += 1
            c, h, w = out.shape
            if convs == 1:  # the first convolution the image meets: never one applied again
                title = _("Layer {n}: {c} detectors of simple strokes and edges")
            elif not again:
                title = _("Layer {n}: {c} detectors of bigger shapes, each built from the layer below")
            else:
                title = _(
                    "Layer {n}: {c} detectors of bigger shapes, each built from the layer below "
                    "(the same detectors as before, applied again)"
                )
            title = title.format(n=n, c=c)
            help_ = _(
                "Each small square is one detector's map ({h}×{w} pixels): bright where it found its "
                "pattern in the image, dark where it did not. Later layers see a coarser grid of richer "
                "patterns."
            ).format(h=h, w=w)
            layers.append(Layer(name, "conv", title, help_, out.float().numpy()))
        else:
            units = out.numel()
            if n == 1:
                title = _("Layer {n}: {units} neurons, each looking at every pixel")
            else:
                title = _("Layer {n}: {units} neurons, each weighing everything the layer below found")
            layers.append(
                Layer(
                    name,
                    "dense",
                    title.format(n=n, units=units),
                    _(
                        "Each bar is one neuron: how strongly it fires for this image (0 = silent). The "
                        "next layer only sees these numbers."
                    ),
                    out.flatten().float().numpy(),
                )
            )
    if not layers or layers[-1].kind != "output" or layers[-1].shape != (10,):
        raise ValueError(_("this model does not end in a layer with 10 outputs"))
    return layers


def first_filters(model: nn.Module) -> Filters:
    """The weights of the first layer that touches the image, one small picture per detector or neuron."""
    first = next(m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
    w = first.weight.detach().float()
    if isinstance(first, nn.Conv2d):
        k = w.shape[-1]
        return Filters(
            _("What the {n} detectors of layer 1 look for ({k}×{k} weights each)").format(n=w.shape[0], k=k),
            _(
                "Red weights add brightness under them to the detector's output, blue ones subtract it: "
                "a red stripe beside a blue one finds an edge at that angle."
            ),
            w[:, 0].numpy(),
        )
    return Filters(
        _("What the {n} neurons of layer 1 look for (784 weights each, one per pixel)").format(n=w.shape[0]),
        _(
            "Each neuron weighs every pixel: red where ink makes it fire, blue where ink holds it back. "
            "They are blurry templates of parts of digits."
        ),
        w.reshape(-1, 28, 28).numpy(),
    )


# ----- why this answer -----


class Explainer:
    """One saved model, ready to be looked into: the model as loaded for the layer views, and a faster copy
    (batch norm folded in, channels-last memory) for the attributions' hundreds of forward passes."""

    def __init__(self, model: nn.Module, config: TrainConfig):
        self.model, self.config = model.eval(), config
        self.fast = _for_inference(model)

    def input(self, image28: np.ndarray) -> torch.Tensor:
        return to_input(image28, self.config.norm_mean, self.config.norm_std).float()

    @torch.no_grad()
    def probabilities(self, image28: np.ndarray) -> np.ndarray:
        """(10,) probabilities for one 28x28 uint8 image."""
        with cpu_threads(1):
            return torch.softmax(self.fast(self.input(image28)), 1)[0].numpy()

    def attribute(self, image28: np.ndarray, targets: list[int], method: str = "occlusion") -> np.ndarray:
        """(len(targets), 28, 28) floats: how much each pixel pushed the score of each target digit up (positive)
        or down (negative)."""
        from captum.attr import IntegratedGradients, Occlusion  # here: importing captum is slow (docs/performance.md)

        if method not in METHODS:
            raise KeyError(f"unknown method {method!r}; choose one of: {', '.join(METHODS)}")
        x, background = self.input(image28), _background(self.config)
        with cpu_threads(1):
            if method == "occlusion":
                picked = torch.tensor(targets)
                with torch.no_grad():
                    # One pass over the 169 covered copies scores every target at once: captum attributes each
                    # output of the forward function separately (checked against one call per target in
                    # tests/test_explain.py).
                    maps = Occlusion(lambda inp: self.fast(inp)[:, picked]).attribute(
                        x,
                        sliding_window_shapes=(1, WINDOW, WINDOW),
                        strides=(1, STRIDE, STRIDE),
                        baselines=background,
                        perturbations_per_eval=256,
                    )
            else:
                with torch.enable_grad():
                    maps = IntegratedGradients(self.fast).attribute(
                        x.expand(len(targets), -1, -1, -1).contiguous(),
                        baselines=background,
                        target=list(targets),
                        n_steps=IG_STEPS,
                    )
        return maps.detach().reshape(len(targets), 28, 28).float().numpy()

    def look(self, image: np.ndarray | None = None, *, image28: np.ndarray | None = None, top: int = 3) -> Inside:
        """All the Inside page shows for a drawing or photo (`image`, any size) or a dataset image (`image28`)."""
        if (image is None) == (image28 is None):
            raise ValueError("give either an image or a 28x28 image28")
        steps = naive = naive_probs = None
        if image is not None:
            steps = to_mnist_steps(image)
            image28 = steps.digit28
            if image28 is None:
                return Inside(None, steps)
            naive = squash_28(steps.ink)
            naive_probs = self.probabilities(naive)
        with cpu_threads(1):
            layers = layer_outputs(self.model, self.input(image28))
        probs = _softmax(layers[-1].values)
        digits = [int(d) for d in np.argsort(-probs)[:top]]
        maps = {key: self.attribute(image28, digits, key) for key in METHODS} if digits else {}
        found = [Attribution(d, float(probs[d]), {key: m[i] for key, m in maps.items()}) for i, d in enumerate(digits)]
        return Inside(image28, steps, naive, naive_probs, probs, layers, found)


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max())
    return e / e.sum()


# ----- try to fool it -----


@dataclass(frozen=True)
class Tweak:
    """Changes a learner makes to the 28x28 image to see what the model copes with."""

    shift_x: int = 0  # pixels to the right (negative: left)
    shift_y: int = 0  # pixels down (negative: up)
    rotate: float = 0.0  # degrees, anticlockwise
    scale: float = 1.0  # 1 = as it is
    thickness: int = 0  # strokes thickened (positive) or thinned (negative) by this many pixel steps
    noise: float = 0.0  # 0-1: strength of random speckle
    erase: int = 0  # side of a black square painted over the image, pixels (0 = none)
    erase_x: int = 14  # that square's centre
    erase_y: int = 14
    seed: int = 0  # the same settings always give the same noise


def _morph(x: torch.Tensor, steps: int) -> torch.Tensor:
    """Grow (steps > 0) or shrink strokes by one pixel per step, with a plus-shaped brush."""
    for _step in range(abs(steps)):
        y = x if steps > 0 else -x  # thinning is growing the background: min(x) = -max(-x)
        p = F.pad(y, (1, 1, 1, 1))  # outside the image is black, in both cases
        y = torch.stack(
            [p[..., 1:-1, 1:-1], p[..., :-2, 1:-1], p[..., 2:, 1:-1], p[..., 1:-1, :-2], p[..., 1:-1, 2:]]
        ).amax(0)
        x = y if steps > 0 else -y
    return x


def tweak(image28: np.ndarray, t: Tweak) -> np.ndarray:
    """The image moved, turned, scaled, thickened or thinned, erased in part and speckled, as uint8 28x28."""
    x = torch.from_numpy(np.ascontiguousarray(image28, dtype=np.float32) / 255.0)[None, None]
    if t.rotate or t.scale != 1:
        theta = _turn_matrix(t.rotate) / torch.tensor([[[t.scale], [t.scale]]])
        x = F.grid_sample(x, F.affine_grid(theta, [1, 1, 28, 28], align_corners=False), align_corners=False)
    if t.shift_x or t.shift_y:
        x = _shift(x, torch.tensor([t.shift_x]), torch.tensor([t.shift_y]))
    x = _morph(x, t.thickness)
    if t.erase > 0:
        top, left = t.erase_y - t.erase // 2, t.erase_x - t.erase // 2
        x[..., max(top, 0) : max(top + t.erase, 0), max(left, 0) : max(left + t.erase, 0)] = 0
    if t.noise > 0:
        g = torch.Generator().manual_seed(t.seed)
        x = x + t.noise * torch.randn(x.shape, generator=g)
    return (x[0, 0].clamp(0, 1).numpy() * 255).round().astype(np.uint8)


def _shift(x: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor) -> torch.Tensor:
    """Each image of a (N, 1, H, W) batch moved by whole pixels (dx right, dy down), black filling in."""
    out = torch.zeros_like(x)
    h, w = x.shape[-2:]
    for mx, my in {(int(a), int(b)) for a, b in zip(dx.tolist(), dy.tolist())}:
        rows = (dx == mx) & (dy == my)
        out[rows, :, max(my, 0) : h + min(my, 0), max(mx, 0) : w + min(mx, 0)] = x[
            rows, :, max(-my, 0) : h + min(-my, 0), max(-mx, 0) : w + min(-mx, 0)
        ]
    return out


def _turn_matrix(degrees: float) -> torch.Tensor:
    """affine_grid's matrix for an anticlockwise turn on screen (y points down, and the grid maps output
    positions to input ones, so this is the grid's clockwise turn, i.e. the inverse motion)."""
    a = math.radians(degrees)
    return torch.tensor([[[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0]]])
