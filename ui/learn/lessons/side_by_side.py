"""What the training lessons share: their images, and two or three small trainings run one after the other on the
same images and drawn on one chart, for lessons that compare settings (ReLU or not, two batch sizes): trained when
a button is pressed, stoppable, kept per widget key."""

from __future__ import annotations

from dataclasses import dataclass, field

import plotly.graph_objects as go
import streamlit as st

from mnist_core.i18n import _
from mnist_core.learning.config import TrainConfig
from mnist_core.learning.events import Event, EventKind
from mnist_core.learning.training import train
from mnist_core.lessons.configs import lesson_config
from ui import charts
from ui.learn import view
from ui.learn.data import splits

DASHES = ("solid", "dash", "dot")


@dataclass
class Curve:
    label: str
    epochs: list[int] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)  # held-out, after each epoch (epoch 0: before training)
    loss: list[float] = field(default_factory=list)  # held-out loss, likewise
    seconds: list[float] = field(default_factory=list)  # training time so far
    steps: int = 0
    finished: bool = False

    def add(self, event: Event) -> None:
        if event.kind == EventKind.EPOCH and event.val_acc is not None:
            self.epochs.append(event.epoch)
            self.accuracy.append(event.val_acc)
            self.loss.append(event.val_loss)
            self.seconds.append(event.elapsed_s)
        if event.kind in (EventKind.STEP, EventKind.EPOCH):
            self.steps = event.step


def chart(curves: list[Curve], x: str = "epoch", y: str = "accuracy") -> go.Figure:
    fig = go.Figure()
    for i, c in enumerate(curves):
        # From the first epoch on: the untrained network's chance-level score would squash the gaps that matter.
        first = 1 if c.epochs and c.epochs[0] == 0 else 0
        fig.add_scatter(
            x=(c.epochs if x == "epoch" else c.seconds)[first:],
            y=[a * 100 for a in c.accuracy][first:] if y == "accuracy" else c.loss[first:],
            name=c.label,
            mode="lines+markers",
            line=dict(color=charts.PALETTE[i], dash=DASHES[i % len(DASHES)]),
            marker=dict(symbol=charts.SYMBOLS[i]),
        )
    if x == "epoch":
        fig.update_xaxes(dtick=1)  # epochs are whole numbers
    return charts.style(
        fig,
        _("Held-out accuracy") if y == "accuracy" else _("Held-out loss"),
        _("epoch") if x == "epoch" else _("seconds of training"),
        _("accuracy (%)") if y == "accuracy" else _("loss"),
    )


def train_side_by_side(
    key: str, runs: list[tuple[str, TrainConfig]], button: str, x: str = "epoch", y: str = "accuracy"
) -> list[Curve] | None:
    """A Train and a Stop button, then the chart: pressed, trains each config in turn on the same images with its
    progress and the chart growing per epoch. Returns the curves so far (kept in the session), None before any."""
    state = f"{key}-curves"
    with st.container(horizontal=True):
        start = st.button(button, type="primary", icon=":material/play_arrow:", key=f"{key}-train")
        # Any click reruns the page, which abandons a training in progress: that is what stops it.
        st.button(_("Stop"), icon=":material/stop:", key=f"{key}-stop")
    live = st.empty()
    if start:
        curves = [Curve(label) for label, _config in runs]
        st.session_state[state] = curves
        train_split, val_split = splits()
        bar = st.progress(0.0, text=_("Training…"))
        for i, ((label, config), curve) in enumerate(zip(runs, curves)):

            def report(event: Event, i=i, curve=curve, config=config, label=label) -> None:
                curve.add(event)
                if event.kind == EventKind.EPOCH:
                    bar.progress(
                        (i + event.epoch / config.epochs) / len(runs),
                        text=_("Training {label}: epoch {epoch} of {epochs}").format(
                            label=label, epoch=event.epoch, epochs=config.epochs
                        ),
                    )
                    # Each redraw its own key: two draws of the same points in one run must not share an id.
                    live.plotly_chart(
                        chart(curves, x, y), key=f"{key}-live-{i}-{event.epoch}", config={"displayModeBar": False}
                    )

            train(config, train_split, val_split, on_event=report)
            curve.finished = True
        bar.empty()
    curves = st.session_state.get(state)
    if curves:
        live.plotly_chart(
            chart(curves, x, y),
            key=f"{key}-chart",
            config={"displayModeBar": False},
            alt=_("Held-out accuracy or loss after each epoch, one line per training: {labels}.").format(
                labels=", ".join(c.label for c in curves)
            ),
        )
        if not all(c.finished for c in curves):
            st.warning(_("Stopped before the end: the chart shows the epochs done so far."), icon=":material/stop:")
    return curves


def base_config(**fields) -> TrainConfig:
    """A lesson's small training: a few thousand images, no schedule or augmentation, one CPU thread."""
    return lesson_config(**{"epochs": 5, "lr": 1e-3, "optimizer": "adam", **fields})


def code_for_each(runs: list[tuple[str, TrainConfig]], key: str) -> None:
    for i, (_label, config) in enumerate(runs):
        view.code_behind(config, f"{key}-code-{i}")
