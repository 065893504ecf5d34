"""A lesson's training widget: Train and Stop buttons, a progress bar as it goes, a redraw every few steps, and the
result kept in the session so it survives reruns. Stop works the Streamlit way: its click reruns the page, which
abandons the running script, and the model trained in place keeps what it had learned by then."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import streamlit as st
from torch import nn

from mnist_core.data.sources import Split
from mnist_core.i18n import _
from mnist_core.learning.config import TrainConfig
from mnist_core.learning.events import Event, EventKind
from mnist_core.learning.training import train
from mnist_core.lessons.basics import fresh_model
from ui.learn import view


@dataclass
class Run:
    """What one press of Train produced so far (kept under the widget's key in the session)."""

    model: nn.Module
    config: TrainConfig
    step: int = 0
    total_steps: int = 0
    val_acc: list[float] = field(default_factory=list)  # the held-out accuracy before training and after each epoch
    losses: list[float] = field(default_factory=list)  # the training loss at each reported step
    done: bool = False

    @property
    def final_acc(self) -> float | None:
        return self.val_acc[-1] if self.val_acc else None


def train_button(
    config: TrainConfig,
    key: str,
    train_split: Split,
    val_split: Split | None,
    redraw: Callable[[Run], None] | None = None,
    every: int = 5,
    label: str | None = None,
) -> Run | None:
    """Train `config` when the learner presses Train, showing progress and calling `redraw` every `every` steps;
    returns this widget's latest run (finished, stopped, or None before the first press)."""
    with st.container(horizontal=True):
        pressed = st.button(label or _("Train"), key=f"{key}-train", type="primary", icon=":material/play_arrow:")
        stopped = st.button(_("Stop"), key=f"{key}-stop", icon=":material/stop:")
    bar, area = st.empty(), st.empty()
    run: Run | None = st.session_state.get(f"{key}-run")
    if pressed:
        run = Run(fresh_model(config.model, config.seed), config)
        st.session_state[f"{key}-run"] = run

        def on_event(event: Event) -> None:
            if event.kind == EventKind.EPOCH and event.val_acc is not None:
                run.val_acc.append(event.val_acc)
            if event.kind != EventKind.STEP:
                return
            run.step, run.total_steps = event.step, event.total_steps
            run.losses.append(event.loss)
            if event.step % every == 0 or event.step == event.total_steps:
                bar.progress(
                    event.step / event.total_steps,
                    text=_("Step {step} of {total} · epoch {epoch} of {epochs} · loss {loss:.3f}").format(
                        step=event.step,
                        total=event.total_steps,
                        epoch=event.epoch,
                        epochs=event.epochs,
                        loss=event.loss,
                    ),
                )
                if redraw is not None:
                    with area.container():
                        redraw(run)

        train(config, train_split, val_split, on_event, initial=run.model, in_place=True)
        run.done = True
    if run is not None:
        if run.done:
            bar.progress(1.0, text=_("Trained: {steps} steps.").format(steps=run.total_steps))
        else:
            bar.progress(
                run.step / max(run.total_steps, 1),
                text=_("Stopped after step {step} of {total}: the weights are as they were then.").format(
                    step=run.step, total=run.total_steps
                ),
            )
        if redraw is not None and not pressed:  # a run just trained was drawn at its last step
            with area.container():
                redraw(run)
    elif stopped:
        st.caption(_("Nothing is training: press Train first."))
    view.code_behind(config, key)
    return run
