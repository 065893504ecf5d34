"""The one training config shared by the app, the CLI and the tests.

Every field has an allowed range so bad values from any front end (CLI flags, sliders, URL state)
are refused with the same plain-language message.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields

OPTIMIZERS = ("adamw", "adam", "sgd", "adadelta")
SCHEDULERS = ("onecycle", "step", "none")
DEVICES = ("auto", "cpu", "cuda", "mps")
SPLITS = ("train", "test", "all")  # the parts of a dataset one can train or evaluate on (see data.Source.split)

# name -> (min, max) for numeric fields; used by validate() and by the UI sliders.
RANGES = {
    "epochs": (1, 50),
    "batch_size": (8, 1024),
    "lr": (1e-5, 10.0),
    "momentum": (0.0, 0.99),
    "weight_decay": (0.0, 0.1),
    "step_gamma": (0.1, 1.0),
    "seed": (0, 2**31 - 1),
    "train_size": (0, 1_000_000),
    "val_size": (0, 10_000),
    "cpu_threads": (0, 256),
}

INTEGER_FIELDS = ("epochs", "batch_size", "seed", "train_size", "val_size", "cpu_threads")

# The stops the Train page's controls offer (inside RANGES). A shared link is held to the same stops,
# so what it asks for is exactly what the controls can show.
EPOCH_CHOICES = range(1, 31)
BATCH_SIZES = (8, 15, 16, 32, 64, 128, 256, 512)
LEARNING_RATES = (1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 1.0)
LINK_SETTINGS = ("recipe", "model", "epochs", "batch_size", "lr", "optimizer", "augment", "seed", "train_size")


class ConfigError(ValueError):
    """A config value outside what training accepts; the message names the allowed range."""


@dataclass
class TrainConfig:
    model: str = "fast"
    epochs: int = 10
    batch_size: int = 128
    lr: float = 0.01
    optimizer: str = "adamw"
    momentum: float = 0.9  # SGD only
    weight_decay: float = 5e-4
    scheduler: str = "onecycle"
    step_gamma: float = 0.7  # StepLR: multiply the learning rate by this after every epoch
    seed: int = 0
    device: str = "auto"
    train_size: int = 0  # 0 = use every training image
    val_size: int = 2000  # held-out images scored after every epoch for the live chart; 0 = off
    augment: bool = True
    norm_mean: float = 0.1307
    norm_std: float = 0.3081
    cpu_threads: int = 0  # 0 = one per core
    recipe: str = field(default="")  # which preset this started from, for the record only

    def validate(self) -> "TrainConfig":
        from .models import MODELS  # late import: models imports nothing from here

        if self.model not in MODELS:
            raise ConfigError(f"unknown model {self.model!r}; choose one of: {', '.join(MODELS)}")
        for name, allowed in (("optimizer", OPTIMIZERS), ("scheduler", SCHEDULERS), ("device", DEVICES)):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name} must be one of {', '.join(allowed)} (got {getattr(self, name)!r})")
        for name, (lo, hi) in RANGES.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
                raise ConfigError(f"{name} must be between {lo:g} and {hi:g} (got {value!r})")
            if name in INTEGER_FIELDS and not isinstance(value, int):
                if not float(value).is_integer():  # 2.5 epochs or batches of 31.7 images mean nothing
                    raise ConfigError(f"{name} must be a whole number between {lo:g} and {hi:g} (got {value!r})")
                setattr(self, name, int(value))  # 10.0 from a JSON file or a float slider is just 10
        if not 0.0 < self.norm_std <= 10.0 or not -10.0 <= self.norm_mean <= 10.0:
            raise ConfigError("normalisation std must be in (0, 10] and mean in [-10, 10]")
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def settings_from_link(params: Mapping[str, str], max_train_size: int, min_train_size: int = 1) -> tuple[dict, list[str]]:
    """Train settings from a shared link (``?recipe=fast&epochs=5&batch_size=64``).

    Returns the values that can be used, parsed, and one plain sentence per value that cannot (naming what
    is allowed). Keys that are not settings (``run``) are left to their owners.
    """
    from .models import MODELS  # late imports: both import this module
    from .recipes import RECIPES

    choices = {"recipe": tuple(RECIPES), "model": tuple(MODELS), "optimizer": OPTIMIZERS}
    settings, problems = {}, []
    for key in LINK_SETTINGS:
        if key not in params:
            continue
        raw = str(params[key]).strip()
        try:
            settings[key] = _parse_link_value(key, raw, choices, min_train_size, max_train_size)
        except ValueError as e:
            problems.append(f"{key}={raw[:40]!r} was ignored: {e}")
    return settings, problems


def _parse_link_value(key: str, raw: str, choices: dict, min_train_size: int, max_train_size: int):
    if key in choices:
        if raw not in choices[key]:
            raise ValueError(f"choose one of {', '.join(choices[key])}")
        return raw
    if key == "augment":
        flags = {"1": True, "true": True, "on": True, "yes": True, "0": False, "false": False, "off": False, "no": False}
        if raw.lower() not in flags:
            raise ValueError("use 1 (on) or 0 (off)")
        return flags[raw.lower()]
    try:
        number = float(raw)
    except ValueError:
        raise ValueError("not a number") from None
    if key == "lr":
        match = [v for v in LEARNING_RATES if math.isclose(v, number, rel_tol=1e-9)]
        if not match:
            raise ValueError(f"choose one of {', '.join(f'{v:g}' for v in LEARNING_RATES)}")
        return match[0]
    if not number.is_integer():
        raise ValueError("must be a whole number")
    number = int(number)
    lo, hi = {"epochs": (EPOCH_CHOICES[0], EPOCH_CHOICES[-1]), "seed": RANGES["seed"],
              "train_size": (min_train_size, max_train_size)}.get(key, (None, None))
    if key == "batch_size":
        if number not in BATCH_SIZES:
            raise ValueError(f"choose one of {', '.join(map(str, BATCH_SIZES))}")
    elif not lo <= number <= hi:
        raise ValueError(f"must be between {lo:,} and {hi:,}")
    return number
