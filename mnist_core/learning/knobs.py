"""The Train page's knobs, in one table.

Each row is one knob: the TrainConfig field it sets (also its key in a shared link), the kind of control that
shows it (its label, help and the values it offers), how a link spells its value (read and write) and its flag
on the CLI's `train` command, if it has one. The Train page draws its controls from this table (its widgets'
session-state keys and columns are the page's own: ui/controls.py), settings_from_link reads links with it and
the CLI adds its `train` flags from it.

The controls offer fewer values than TrainConfig accepts (30 epochs, not 50; a few batch sizes and learning
rates): a shared link is held to the same stops, so what it asks for is exactly what the controls can show.
The CLI's flags take the whole range TrainConfig allows.

Nothing here loads torch or Streamlit: the CLI builds its parser from this module before anything heavy loads.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from mnist_core.i18n import DEFAULT, N_, _
from mnist_core.learning.config import OPTIMIZERS, RANGES, TrainConfig
from mnist_core.learning.recipes import RECIPES, recipe_config


@dataclass(frozen=True)
class Limits:
    """What the data set decides: how many training images the training-size knob can ask for."""

    min_train_size: int = 1
    max_train_size: int = RANGES["train_size"][1]


class Widget(StrEnum):
    """The kind of control that shows a knob."""

    BUTTONS = "buttons"  # one button per choice (the recipe row)
    SELECT = "select"
    SLIDER = "slider"
    STOPS = "stops"  # a slider over a few stops
    TOGGLE = "toggle"
    NUMBER = "number"


@dataclass(frozen=True, kw_only=True)
class Knob:
    name: str  # the TrainConfig field it sets; also its key in a link (?name=value)
    label: str
    help: str
    widget: Widget  # the kind of control that shows it
    flag: str | None = None  # its flag on `python -m mnist_core train`, if it has one
    cli_help: str | None = None  # when the page's help does not fit the CLI
    preset: bool = True  # a recipe's button sets it (False: the learner's own choice, kept across recipes)

    def allowed(self, limits: Limits) -> Sequence:
        """The values its control offers."""
        raise NotImplementedError

    def read(self, raw: str, limits: Limits) -> Any:
        """The value a link's text asks for; ValueError with a sentence naming what is allowed otherwise."""
        raise NotImplementedError

    def write(self, value) -> str:
        """The link's text for a value (read() gives the value back)."""
        return str(value)

    def show(self, value) -> str:
        """How the control labels a value."""
        return self.write(value)

    def nearest(self, value, limits: Limits) -> Any:
        """The control's value for a config's value: the closest one the control offers."""
        return value

    def to_config(self, value, limits: Limits) -> Any:
        """The config's value for the control's value."""
        return value

    def cli_options(self) -> dict:
        """argparse keyword arguments for its flag."""
        return {}


@dataclass(frozen=True, kw_only=True)
class ChoiceKnob(Knob):
    choices: Callable[[], Sequence[str]]
    titles: Callable[[str], str] | None = None
    cli_checks: bool = True  # False: TrainConfig.validate names the allowed values (and allows more)
    cli_default: str | None = None

    def allowed(self, limits: Limits) -> tuple[str, ...]:
        return tuple(self.choices())

    def read(self, raw: str, limits: Limits) -> str:
        choices = self.allowed(limits)
        if raw not in choices:
            raise ValueError(_("choose one of {choices}").format(choices=", ".join(choices)))
        return raw

    def show(self, value) -> str:
        return self.titles(value) if self.titles else str(value)

    def nearest(self, value, limits: Limits) -> str:
        choices = self.allowed(limits)
        return value if value in choices else choices[0]

    def cli_options(self) -> dict:
        return {"default": self.cli_default, **({"choices": list(self.choices())} if self.cli_checks else {})}


def _number(raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ValueError(_("not a number")) from None


def bounded(kind: type, name: str) -> Callable[[str], Any]:
    """An argparse type that refuses values outside TrainConfig's range for the field `name`."""
    lo, hi = RANGES[name]

    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{value} is outside the allowed range {lo:g}-{hi:g}")
        return value

    return parse


@dataclass(frozen=True, kw_only=True)
class StopsKnob(Knob):
    """A number picked from a few stops (batch size, learning rate)."""

    stops: tuple[float, ...]
    whole: bool = False  # whole numbers only (a batch of 31.7 images means nothing)

    def allowed(self, limits: Limits) -> tuple[float, ...]:
        return self.stops

    def read(self, raw: str, limits: Limits):
        number = _number(raw)
        if self.whole and not number.is_integer():
            raise ValueError(_("must be a whole number"))
        match = [v for v in self.stops if math.isclose(v, number, rel_tol=1e-9)]
        if not match:
            raise ValueError(_("choose one of {choices}").format(choices=", ".join(f"{v:g}" for v in self.stops)))
        return match[0]

    def write(self, value) -> str:
        return f"{value:g}"

    def nearest(self, value, limits: Limits):
        return min(self.stops, key=lambda v: abs(math.log(v / value)))  # log scale: 0.002 is nearer 0.003 than 0.001

    def cli_options(self) -> dict:
        return {"type": bounded(int if self.whole else float, self.name)}


@dataclass(frozen=True, kw_only=True)
class RangeKnob(Knob):
    """A whole number between two bounds, which may depend on the data set."""

    bounds: Callable[[Limits], tuple[int, int]]
    step: Callable[[Limits], int] = lambda limits: 1
    zero_means_all: bool = False  # the config's 0 is the control's top value (train_size 0 = every image)

    def allowed(self, limits: Limits) -> range:
        lo, hi = self.bounds(limits)
        return range(lo, hi + 1)

    def read(self, raw: str, limits: Limits) -> int:
        number = _number(raw)
        if not number.is_integer():
            raise ValueError(_("must be a whole number"))
        lo, hi = self.bounds(limits)
        if not lo <= number <= hi:
            raise ValueError(_("must be between {lo:,} and {hi:,}").format(lo=lo, hi=hi))
        return int(number)

    def write(self, value) -> str:
        return str(int(value))

    def nearest(self, value, limits: Limits) -> int:
        lo, hi = self.bounds(limits)
        return hi if self.zero_means_all and value == 0 else min(max(int(value), lo), hi)

    def to_config(self, value, limits: Limits) -> int:
        return 0 if self.zero_means_all and value >= self.bounds(limits)[1] else int(value)

    def cli_options(self) -> dict:
        return {"type": bounded(int, self.name)}


@dataclass(frozen=True, kw_only=True)
class SwitchKnob(Knob):
    WORDS = {"1": True, "true": True, "on": True, "yes": True, "0": False, "false": False, "off": False, "no": False}

    def allowed(self, limits: Limits) -> tuple[bool, bool]:
        return (False, True)

    def read(self, raw: str, limits: Limits) -> bool:
        if raw.lower() not in self.WORDS:
            raise ValueError(_("use 1 (on) or 0 (off)"))
        return self.WORDS[raw.lower()]

    def write(self, value) -> str:
        return "1" if value else "0"

    def nearest(self, value, limits: Limits) -> bool:
        return bool(value)

    def cli_options(self) -> dict:
        return {"action": argparse.BooleanOptionalAction, "default": None}


def _pickable_models() -> tuple[str, ...]:
    from mnist_core.learning.models import pickable_models  # late: torch loads only when a model list is needed

    return pickable_models()


def _model_title(name: str) -> str:
    from mnist_core.learning.models import MODELS

    return MODELS[name].title


RECIPE = ChoiceKnob(
    name="recipe",
    label=N_("Recipe"),
    widget=Widget.BUTTONS,
    help=N_("A complete recipe from one of the classic PyTorch tutorials."),
    choices=lambda: tuple(RECIPES),
    titles=lambda slug: RECIPES[slug].title,
    flag="--recipe",
    cli_default="fast",
    cli_help="preset to start from",
)

KNOBS: tuple[Knob, ...] = (
    RECIPE,
    ChoiceKnob(
        name="model",
        label=N_("Model"),
        widget=Widget.SELECT,
        choices=_pickable_models,
        titles=_model_title,
        help=N_("The network's architecture: how its layers of artificial neurons are arranged."),
        flag="--model",
        cli_checks=False,
        cli_help="architecture (default: the recipe's)",
    ),
    RangeKnob(
        name="epochs",
        label=N_("Epochs"),
        widget=Widget.SLIDER,
        bounds=lambda limits: (1, 30),
        help=N_("One epoch = the model sees every training image once. More epochs, more practice."),
        flag="--epochs",
    ),
    StopsKnob(
        name="batch_size",
        label=N_("Batch size"),
        widget=Widget.STOPS,
        whole=True,
        stops=(8, 15, 16, 32, 64, 128, 256, 512),  # 15 and 16: two seed tutorials' own sizes
        help=N_("How many images the model looks at before each small correction of its weights."),
        flag="--batch-size",
    ),
    StopsKnob(
        name="lr",
        label=N_("Learning rate"),
        widget=Widget.STOPS,
        stops=(1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 1.0),
        help=N_("How big each correction step is. Too small: slow learning; too big: it overshoots."),
        flag="--lr",
        cli_help="learning rate",
    ),
    ChoiceKnob(
        name="optimizer",
        label=N_("Optimizer"),
        widget=Widget.SELECT,
        choices=lambda: OPTIMIZERS,
        flag="--optimizer",
        help=N_(
            "The rule that turns the error into weight updates (Adam adapts the step per weight; SGD uses "
            "one step size with momentum)."
        ),
    ),
    RangeKnob(
        name="train_size",
        label=N_("Training images"),
        widget=Widget.SLIDER,
        bounds=lambda limits: (limits.min_train_size, limits.max_train_size),
        step=lambda limits: 500 if limits.max_train_size > 1000 else 1,
        zero_means_all=True,
        preset=False,
        help=N_("Train on fewer images to see how much the amount of data matters."),
        flag="--train-size",
        cli_help="use only this many training images (0 = all)",
    ),
    SwitchKnob(
        name="augment",
        label=N_("Augmentation"),
        widget=Widget.TOGGLE,
        help=N_(
            "Randomly rotate, shrink and shift each image a little, so the model learns the digit, not its "
            "exact position."
        ),
        flag="--augment",
        cli_help="random shifts/rotations",
    ),
    RangeKnob(
        name="seed",
        label=N_("Seed"),
        widget=Widget.NUMBER,
        preset=False,
        bounds=lambda limits: RANGES["seed"],
        flag="--seed",
        help=N_("Starting point of the randomness: the same seed and settings give the same result."),
    ),
)
BY_NAME: dict[str, Knob] = {k.name: k for k in KNOBS}
LANGUAGE = "lang"  # a link's interface language (the app's ?lang=, ui.language.LANGUAGE_KEY): never a knob's name


def settings_from_link(
    params: Mapping[str, str], max_train_size: int, min_train_size: int = 1
) -> tuple[dict, list[str]]:
    """Train settings from a shared link (``?recipe=fast&epochs=5&batch_size=64``).

    Returns the values that can be used, parsed, and one plain sentence per value that cannot (naming what
    is allowed). Keys that are not knobs (``run``, the interface language ``lang``) are left to their owners.
    """
    limits = Limits(min_train_size, max_train_size)
    settings, problems = {}, []
    for knob in KNOBS:
        if knob.name not in params:
            continue
        raw = str(params[knob.name]).strip()
        try:
            settings[knob.name] = knob.read(raw, limits)
        except ValueError as e:
            problems.append(
                _("{name}={value} was ignored: {reason}").format(name=knob.name, value=repr(raw[:40]), reason=e)
            )
    return settings, problems


def link_params(settings: Mapping[str, Any], language: str = DEFAULT) -> dict[str, str]:
    """The link form of the page's settings: what settings_from_link reads back as the same settings. A link
    in another interface language than English also carries it (``lang=zh``), so it opens in that language;
    settings_from_link leaves that key alone."""
    params = {k.name: k.write(settings[k.name]) for k in KNOBS if k.name in settings}
    if language != DEFAULT:
        params[LANGUAGE] = language
    return params


def settings_from_config(config: TrainConfig, limits: Limits, preset_only: bool = False) -> dict:
    """The controls' values for a config (preset_only: just the knobs a recipe's button sets)."""
    return {k.name: k.nearest(getattr(config, k.name), limits) for k in KNOBS if k.preset or not preset_only}


def config_from_settings(settings: Mapping[str, Any], limits: Limits) -> TrainConfig:
    """The config a run with these control values trains with: the recipe's, with every knob's value on top."""
    overrides = {k.name: k.to_config(settings[k.name], limits) for k in KNOBS if k.name in settings and k is not RECIPE}
    return recipe_config(settings.get(RECIPE.name, RECIPE.cli_default), **overrides)


def add_cli_flags(parser: argparse.ArgumentParser) -> None:
    """The knobs' flags on the CLI's `train` command; each is stored under its TrainConfig field's name."""
    for knob in KNOBS:
        if knob.flag:
            parser.add_argument(knob.flag, dest=knob.name, help=knob.cli_help or knob.help, **knob.cli_options())


def cli_overrides(args: argparse.Namespace) -> dict:
    """The config fields the CLI's knob flags set (all but the recipe, which is where they start from)."""
    return {
        k.name: getattr(args, k.name)
        for k in KNOBS
        if k.flag and k is not RECIPE and getattr(args, k.name, None) is not None
    }
