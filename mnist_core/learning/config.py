"""The one training config shared by the app, the CLI and the tests.

Every field has an allowed range so bad values from any front end (CLI flags, sliders, URL state)
are refused with the same plain-language message. What the Train page's controls offer (a narrower set of
stops) and how a link spells them is in knobs.py.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from mnist_core.i18n import _

OPTIMIZERS = ("adamw", "adam", "sgd", "adadelta")
SCHEDULERS = ("onecycle", "step", "none")
DEVICES = ("auto", "cpu", "cuda", "mps")

# name -> (min, max) for numeric fields; used by validate() and by the CLI's flags.
RANGES = {
    "epochs": (1, 50),
    "batch_size": (8, 1024),
    "lr": (1e-5, 10.0),
    "momentum": (0.0, 0.99),
    "weight_decay": (0.0, 0.1),
    "label_smoothing": (0.0, 0.5),
    "step_gamma": (0.1, 1.0),
    "seed": (0, 2**31 - 1),
    "train_size": (0, 1_000_000),
    "val_size": (0, 10_000),
    "cpu_threads": (0, 256),
}

INTEGER_FIELDS = ("epochs", "batch_size", "seed", "train_size", "val_size", "cpu_threads")


class ConfigError(ValueError):
    """A config value outside what training accepts; the message names the allowed range."""


@dataclass
class TrainConfig:
    model: str = "fast-strided"
    epochs: int = 10
    batch_size: int = 128
    lr: float = 0.01
    optimizer: str = "adamw"
    momentum: float = 0.9  # SGD only
    weight_decay: float = 5e-4
    label_smoothing: float = 0.0  # share of each target spread over the other digits: a less over-confident fit
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

    def validate(self) -> TrainConfig:
        from mnist_core.learning.models import MODELS  # late import: torch loads only once a config is checked

        if self.model not in MODELS:
            raise ConfigError(
                _("unknown model {model!r}; choose one of: {choices}").format(
                    model=self.model, choices=", ".join(MODELS)
                )
            )
        for name, allowed in (("optimizer", OPTIMIZERS), ("scheduler", SCHEDULERS), ("device", DEVICES)):
            if getattr(self, name) not in allowed:
                raise ConfigError(
                    _("{name} must be one of {choices} (got {value!r})").format(
                        name=name, choices=", ".join(allowed), value=getattr(self, name)
                    )
                )
        for name, (lo, hi) in RANGES.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
                raise ConfigError(
                    _("{name} must be between {lo:g} and {hi:g} (got {value!r})").format(
                        name=name, lo=lo, hi=hi, value=value
                    )
                )
            if name in INTEGER_FIELDS and not isinstance(value, int):
                if not float(value).is_integer():  # 2.5 epochs or batches of 31.7 images mean nothing
                    raise ConfigError(
                        _("{name} must be a whole number between {lo:g} and {hi:g} (got {value!r})").format(
                            name=name, lo=lo, hi=hi, value=value
                        )
                    )
                setattr(self, name, int(value))  # 10.0 from a JSON file or a float slider is just 10
        if not 0.0 < self.norm_std <= 10.0 or not -10.0 <= self.norm_mean <= 10.0:
            raise ConfigError(_("normalisation std must be in (0, 10] and mean in [-10, 10]"))
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
