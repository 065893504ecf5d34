"""Lesson: overfitting and dropout (tutorial 000's network has dropout; 003 calls Normalize a regulariser)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch

from mnist_core.data.preprocess import to_input
from mnist_core.i18n import N_, _
from mnist_core.learning.config import TrainConfig
from mnist_core.learning.models import build_model
from mnist_core.learning.training import train
from mnist_core.lessons import overfitting as of
from ui import charts
from ui.learn import view
from ui.learn.data import held_out_split, learning_split
from ui.learn.lesson import Guess, Lesson, Step


def figure(runs: dict[str, of.Curves], labels: dict[str, str]) -> go.Figure:
    """Each run in its own colour: its training images as a solid line, held-out images dashed."""
    fig = go.Figure()
    for i, (name, curves) in enumerate(runs.items()):
        colour = charts.PALETTE[(0, 5, 2, 3)[i % 4]]
        for values, what, dash, symbol in (
            (curves.fit, _("its 500 training images"), "solid", charts.SYMBOLS[0]),
            (curves.held_out, _("held-out images"), "dash", charts.SYMBOLS[1]),
        ):
            fig.add_trace(
                go.Scatter(
                    x=curves.epochs,
                    y=np.asarray(values) * 100,
                    name=f"{_(labels[name])}: {what}",
                    mode="lines+markers",
                    line=dict(color=colour, dash=dash),
                    marker=dict(symbol=symbol, size=5),
                )
            )
    fig.update_xaxes(range=[0, of.BASE.epochs])
    fig.update_yaxes(range=[0, 101])
    charts.style(fig, _("Accuracy after each epoch"), _("epoch"), _("accuracy (%)"), 380)
    return charts.fixed_margins(fig)


def train_runs(key: str, configs: dict[str, TrainConfig], labels: dict[str, str]) -> dict[str, of.Curves] | None:
    """A Train button that trains each config in turn on the same 500 images, drawing the chart as it goes; a
    Stop button (any click reruns the page, which abandons the run). The curves are kept per widget key."""
    row = st.container(horizontal=True)
    start = row.button(_("Train"), key=f"{key}-train", type="primary", icon=":material/play_arrow:")
    row.button(_("Stop"), key=f"{key}-stop", icon=":material/stop:", disabled=not start)
    progress, chart = st.empty(), st.empty()
    runs: dict[str, of.Curves] = st.session_state.get(f"{key}-runs", {})
    if start:
        runs = st.session_state[f"{key}-runs"] = {}
        split, held = learning_split(), held_out_split()
        total, done = sum(c.epochs for c in configs.values()), 0
        for name, config in configs.items():
            curves = runs[name] = of.Curves()

            def on_event(event, curves=curves):
                nonlocal done
                if curves.add(event) and event.epoch:
                    done += 1
                    progress.progress(
                        done / total, text=_("Training: epoch {n} of {total}").format(n=done, total=total)
                    )
                    chart.plotly_chart(figure(runs, labels), key=f"{key}-live-{done}", config={"displayModeBar": False})

            train(config, split, held, on_event=on_event, score_train=True)
        st.rerun()  # drawn again from what is kept, with Stop back to disabled
    if not runs:
        st.caption(_("Press Train: each run takes a few seconds, and the chart grows epoch by epoch."))
        return None
    chart.plotly_chart(figure(runs, labels), key=f"{key}-chart", config={"displayModeBar": False})
    if len(runs) < len(configs) or not all(c.done for c in runs.values()):
        st.caption(_("Stopped before the end: press Train to run it again."))
        return None
    return runs


def gap_line(curves: of.Curves, label: str) -> str:
    return _("{label}: {fit:.0%} on its training images, {held:.1%} on held-out ones, {gap:.1f} points apart.").format(
        label=_(label), fit=curves.fit[-1], held=curves.held_out[-1], gap=curves.gap * 100
    )


def learning_by_heart(key: str) -> None:
    configs = {"plain": of.overfit_config()}
    labels = {"plain": N_("Without dropout")}
    runs = train_runs(key, configs, labels)
    view.code_behind(configs["plain"], f"{key}-code")
    if runs:
        curves = runs["plain"]
        st.markdown(gap_line(curves, labels["plain"]))
        if (first := curves.first_perfect()) is not None:
            st.caption(_("From epoch {n} on it gets every one of its 500 images right.").format(n=first))


def dropout_mask(key: str) -> None:
    split = learning_split()
    index = st.number_input(
        _("Image number (0 to {last:,})").format(last=len(split) - 1), 0, len(split) - 1, key=f"{key}-index"
    )
    draws = st.session_state.setdefault(f"{key}-draws", 0)
    st.button(
        _("Another training step"),
        key=f"{key}-again",
        icon=":material/casino:",
        on_click=lambda: st.session_state.update({f"{key}-draws": draws + 1}),
        help=_("Each training step switches off a new random half of the neurons."),
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # the same starting weights every time: only the dropout changes
        model = build_model("mlp-256-dropout").eval()
    config = of.overfit_config(dropout=True)
    x = to_input(split.images[index].numpy(), config.norm_mean, config.norm_std).float()
    training = of.first_hidden(model, x, training=True, seed=draws)
    testing = of.first_hidden(model, x, training=False)
    left, right = st.columns(2)
    for col, hidden, title in (
        (left, training, _("While training: {off} of 256 off").format(off=training.off)),
        (right, testing, _("While testing: all 256 on")),
    ):
        with col:
            fig = go.Figure(
                go.Heatmap(
                    z=np.where(hidden.dropped, np.nan, hidden.values).reshape(16, 16),  # off: a white gap
                    colorscale="Viridis",
                    showscale=False,
                    zmin=0,
                    zmax=float(training.values.max()) or 1.0,
                    hovertemplate=_("neuron output %{z:.2f}") + "<extra></extra>",
                )
            )
            fig.update_yaxes(autorange="reversed", scaleanchor="x", constrain="domain", showticklabels=False)
            fig.update_xaxes(showticklabels=False)
            charts.style(fig, title, "", "", 300)
            st.plotly_chart(
                fig, key=f"{key}-{'train' if hidden is training else 'test'}", config={"displayModeBar": False}
            )
    st.caption(
        _(
            "The first hidden layer's 256 neurons for this image, 16 to a row (white: switched off). While training, "
            "dropout sets a random half to 0 and doubles the others, so the total stays about the same; while "
            "testing it does nothing."
        )
    )


def with_and_without(key: str) -> None:
    configs = {"plain": of.overfit_config(), "dropout": of.overfit_config(dropout=True)}
    labels = {"plain": N_("Without dropout"), "dropout": N_("With dropout")}
    runs = train_runs(key, configs, labels)
    view.code_behind(configs["dropout"], f"{key}-code")
    if runs:
        for name in configs:
            st.markdown("- " + gap_line(runs[name], labels[name]))
        firsts = {name: runs[name].first_perfect() for name in configs}
        st.caption(
            _("Without dropout it knew all 500 by epoch {plain}; with dropout, by epoch {dropout}.").format(
                plain=firsts["plain"] or "-", dropout=firsts["dropout"] or "-"
            )
        )
        lift = (runs["dropout"].held_out[-1] - runs["plain"].held_out[-1]) * 100
        st.markdown(
            _(
                "On held-out images, dropout changed the score by {lift:+.1f} points. More training images would "
                "narrow the gap far more: try the same networks on Train with all of them."
            ).format(lift=lift)
        )


def normalise_or_not(key: str) -> None:
    configs = {"normalised": of.overfit_config(), "raw": of.overfit_config(normalise=False)}
    labels = {"normalised": N_("With Normalize"), "raw": N_("Without Normalize")}
    runs = train_runs(key, configs, labels)
    view.code_behind(configs["raw"], f"{key}-code")
    if runs:
        for name in configs:
            st.markdown("- " + gap_line(runs[name], labels[name]))


LESSON = Lesson(
    slug="overfitting",
    title=N_("Overfitting and dropout"),
    summary=N_("Why a network can know its training images by heart and still read new digits worse."),
    tutorials=("000", "003"),
    recipe="pytorch-example",
    steps=(
        Step(
            title=N_("Learning by heart"),
            text=N_(
                "Give a wide network only 500 images and many epochs, and it can remember every one of them "
                "instead of learning what digits look like. That is overfitting: a high score on the "
                "training images, a lower one on images kept apart."
            ),
            widget=learning_by_heart,
            guess=Guess(
                question=N_(
                    "A network trains for 30 epochs on the same 500 images. Where will it score higher: on those 500, "
                    "or on images it has never seen?"
                ),
                choices=(N_("On its 500 training images"), N_("On new images"), N_("The same on both")),
                answer=0,
                why=N_("It ends up reading all of its own images right, and far fewer of the new ones."),
            ),
            alt=N_(
                "A chart of accuracy per epoch: the solid line for the training images climbs to 100%, the dashed "
                "line for held-out images stops far below it."
            ),
        ),
        Step(
            title=N_("Dropout switches neurons off"),
            text=N_(
                "Dropout (as in tutorial 000's network) switches off a random half of the hidden neurons in every "
                "training step, a different half each time. No neuron can count on another one being there, which "
                "makes remembering single images harder."
            ),
            widget=dropout_mask,
            guess=Guess(
                question=N_("When the finished network is tested, does dropout still switch neurons off?"),
                choices=(N_("Yes, half of them"), N_("No, only while training")),
                answer=1,
                why=N_("Dropout only acts in training mode; in eval mode, for testing, every neuron takes part."),
            ),
            alt=N_(
                "Two 16 by 16 grids of the first hidden layer's neurons: while training, about half are dark (off); "
                "while testing, all of them glow."
            ),
        ),
        Step(
            title=N_("With and without dropout"),
            text=N_(
                "Now the same 500 images and the same 30 epochs, once with dropout and once without. Watch how fast "
                "each solid line reaches 100%, and where each dashed line ends: with so few images, dropout slows "
                "the learning by heart more than it lifts the held-out score."
            ),
            widget=with_and_without,
            guess=Guess(
                question=N_("Which one gets all of its 500 training images right first?"),
                choices=(N_("Without dropout"), N_("With dropout"), N_("Both at the same epoch")),
                answer=0,
                why=N_(
                    "With half of its neurons missing in every step, the network with dropout takes longer to learn "
                    "its images by heart."
                ),
            ),
            alt=N_(
                "Four lines of accuracy per epoch: for each network, its training images (solid) and held-out "
                "images (dashed)."
            ),
        ),
        Step(
            title=N_("Normalize is not regularisation"),
            text=N_(
                "Tutorial 003 calls Normalize 正则化, regularisation, but it is normalisation: it rescales "
                "every pixel the same way, in training and testing alike. Regularisation means curbing learning by "
                "heart, as dropout or weight decay do, only while training. Try 500 images with and without "
                "Normalize."
            ),
            widget=normalise_or_not,
            guess=Guess(
                question=N_("Does Normalize close the gap between training and held-out accuracy?"),
                choices=(N_("Yes, it stops overfitting"), N_("No, the gap stays about the same")),
                answer=1,
                why=N_(
                    "Normalize only changes the scale of the input numbers; what causes overfitting is still there."
                ),
            ),
            alt=N_(
                "Four lines of accuracy per epoch: with and without Normalize, each on its training images (solid) "
                "and on held-out images (dashed)."
            ),
        ),
    ),
)
