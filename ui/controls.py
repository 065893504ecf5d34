"""The Train page's controls for the knobs (mnist_core/learning/knobs.py): each one's widget key in
st.session_state and the page's column that holds it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mnist_core.learning.knobs import Knob


@dataclass(frozen=True)
class Control:
    key: str  # the widget's key in st.session_state
    column: int = 0  # the page's left (0) or right (1) column


CONTROLS: dict[str, Control] = {  # knob name -> its control: one row per knob
    "recipe": Control("train_recipe"),
    "model": Control("train_model"),
    "epochs": Control("train_epochs"),
    "batch_size": Control("train_batch"),
    "lr": Control("train_lr"),
    "optimizer": Control("train_optimizer", column=1),
    "train_size": Control("train_size", column=1),
    "augment": Control("train_augment", column=1),
    "seed": Control("train_seed", column=1),
}


def key(knob: Knob) -> str:
    """The knob's widget key in st.session_state."""
    return CONTROLS[knob.name].key


def column(knob: Knob) -> int:
    return CONTROLS[knob.name].column


def widget_state(settings: Mapping[str, Any]) -> dict:
    """Settings keyed by the Train page's widget keys, for st.session_state."""
    return {CONTROLS[name].key: value for name, value in settings.items()}
