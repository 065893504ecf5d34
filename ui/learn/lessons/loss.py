"""Lesson: the loss says how wrong an answer is (tutorial 003's cross-entropy; tutorial 002's LogSoftmax + NLLLoss)."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from mnist_core.i18n import N_, _
from mnist_core.learning.models import MODELS
from mnist_core.learning.recipes import recipe_config
from mnist_core.lessons.basics import (
    CHANCE_LOSS,
    cross_entropy,
    fresh_model,
    logits,
    loss_two_ways,
    softmax,
    untrained_start,
)
from ui import charts
from ui.learn.data import splits
from ui.learn.lesson import Guess, Lesson, Step
from ui.learn.lessons.softmax import score_sliders
from ui.learn.live_training import Run, train_button

NO_MENUS = {"displayModeBar": False}

# Tutorial 002's network and optimizer (its recipe) on a few thousand images for a few epochs, with a larger
# learning rate than its 0.003 so that the loss falls within seconds.
SGD = recipe_config("tutorial-mlp-sgd", epochs=3, lr=0.01, train_size=4000, val_size=1000, cpu_threads=1, seed=0)
TRAINED = "learn-loss-run"  # the network step 3 trained, which step 4 scores a batch with


def from_sliders(key: str) -> None:
    z = score_sliders(key)
    true = st.radio(
        _("The right answer"),
        range(3),
        index=1,
        format_func=lambda i: _("score {i}").format(i=i),
        horizontal=True,
        key=f"{key}-true",
    )
    p = softmax(z)
    loss = cross_entropy(z, true)
    c1, c2 = st.columns(2)
    c1.metric(_("Probability of the right answer"), f"{p[true]:.3f}")
    c2.metric(_("Cross-entropy loss"), f"{loss:.3f}")
    st.markdown(
        _("-ln({p:.3f}) = {minus_log:.3f}, as F.cross_entropy gives.").format(p=p[true], minus_log=-math.log(p[true]))
    )
    grid = np.linspace(0.005, 1, 200)
    fig = go.Figure(go.Scatter(x=grid, y=-np.log(grid), mode="lines", name="-ln p"))
    fig.add_scatter(x=[p[true]], y=[loss], mode="markers", marker=dict(size=14, symbol="diamond"), name=_("now"))
    fig.update_layout(showlegend=False)
    charts.style(fig, _("Loss against the probability of the right answer"), _("probability"), _("loss"), 300)
    st.plotly_chart(
        fig, config=NO_MENUS, alt=_("The curve -ln p, falling to 0 at p = 1, with a point for the scores now.")
    )


STARTERS = ("linear", "mlp-128-64", "mlp-64x3")


def untrained(key: str) -> None:
    name = st.selectbox(_("Network"), STARTERS, index=1, format_func=lambda m: _(MODELS[m].title), key=f"{key}-model")
    seed = st.slider(_("Random seed of its first weights"), 0, 20, 0, key=f"{key}-seed")
    _learn, held = splits()
    start = untrained_start(name, seed, held)
    c1, c2 = st.columns(2)
    c1.metric(
        _("Loss before training"), f"{start.loss:.3f}", help=_("-ln(0.1) = {chance:.3f}").format(chance=CHANCE_LOSS)
    )
    c2.metric(_("Accuracy before training"), f"{start.accuracy:.1%}")
    st.markdown(
        _(
            "On {n:,} held-out images the untrained network gives the right digit {p:.1%} on average: about one in "
            "ten, so its loss is close to -ln(0.1) = {chance:.3f}."
        ).format(n=len(held), p=start.p_true, chance=CHANCE_LOSS)
    )


def training(key: str) -> None:
    def redraw(run: Run) -> None:
        fig = go.Figure(go.Scatter(y=run.losses, mode="lines", name=_("training loss")))
        fig.add_hline(y=CHANCE_LOSS, line_dash="dash", annotation_text="-ln(0.1)")
        charts.style(fig, _("Training loss, batch by batch"), _("step"), _("loss"), 300)
        st.plotly_chart(fig, config=NO_MENUS, alt=_("The training loss falling from about 2.3, step by step."))
        if run.val_acc:
            st.caption(_("Held-out accuracy: {acc}").format(acc=" → ".join(f"{a:.1%}" for a in run.val_acc)))

    run = train_button(SGD, key, *splits(), redraw, every=4)
    if run is not None and run.step > 0:
        st.session_state[TRAINED] = run
    else:
        st.caption(_("Press Train: tutorial 002's network learns from 4,000 images for 3 epochs."))


def two_ways(key: str) -> None:
    run: Run | None = st.session_state.get(TRAINED)
    model = run.model if run is not None else fresh_model(SGD.model, SGD.seed)
    st.caption(
        _("Scored by the network trained in step 3.")
        if run is not None
        else _("Scored by an untrained network: train one in step 3 to see smaller losses.")
    )
    split, _held = splits()
    batch = st.slider(_("Which batch of 64 training images"), 0, len(split) // 64 - 1, 0, key=f"{key}-batch")
    images, labels = split.images[batch * 64 : batch * 64 + 64], split.labels[batch * 64 : batch * 64 + 64]
    z = logits(model, images, SGD.norm_mean, SGD.norm_std)
    result = loss_two_ways(z, labels)
    st.code(
        f"F.nll_loss(F.log_softmax(z, dim=1), y)  # {result.nll_of_log_softmax:.6f}\n"
        f"F.cross_entropy(z, y)                   # {result.cross_entropy:.6f}",
        language="python",
    )
    fig = go.Figure(
        go.Bar(
            x=list(range(len(labels))),
            y=result.per_image,
            customdata=labels.numpy(),
            hovertemplate=_("image %{x}, a %{customdata}<br>loss %{y:.3f}") + "<extra></extra>",
        )
    )
    fig.add_hline(y=result.cross_entropy, line_dash="dash", annotation_text=_("mean"))
    charts.style(fig, _("Each image's loss in the batch; the batch's loss is their mean"), _("image"), _("loss"), 280)
    st.plotly_chart(fig, config=NO_MENUS, alt=_("64 bars, one per image's loss, and a dashed line at their mean."))


LESSON = Lesson(
    slug="loss",
    title=N_("The loss says how wrong an answer is"),
    summary=N_("Cross-entropy: one number for how far the network's probabilities are from the right digit."),
    tutorials=("003", "002"),
    recipe="tutorial-mlp-sgd",
    steps=(
        Step(
            title=N_("The loss of one answer"),
            text=N_(
                "Training needs one number that says how wrong an answer was. Cross-entropy takes the probability "
                "the network gave the right digit and returns minus its logarithm: small when the network was "
                "sure and right, huge when it was sure and wrong."
            ),
            widget=from_sliders,
            guess=Guess(
                question=N_("What is the loss when the network is 100% sure of the right answer?"),
                choices=(N_("0"), N_("1"), N_("2.30"), N_("It cannot be worked out")),
                answer=0,
                why=N_("-ln(1) = 0: nothing left to correct. Push the right score far above the others to see it."),
            ),
            alt=N_("The curve -ln p, falling to 0 at p = 1, with a point for the scores now."),
        ),
        Step(
            title=N_("Where training starts"),
            text=N_(
                "Before training the weights are random, so the network spreads its bets about evenly over the ten "
                "digits. Tutorial 001 prints the accuracy of its fresh network: about 0.1, a lucky guess in ten."
            ),
            widget=untrained,
            guess=Guess(
                question=N_("What loss does an untrained network start with on ten digits?"),
                choices=(N_("About 0"), N_("About 2.3"), N_("About 10"), N_("About 100")),
                answer=1,
                why=N_("A probability of about 0.1 for the right digit gives -ln(0.1) = 2.30."),
            ),
        ),
        Step(
            title=N_("Training makes the loss smaller"),
            text=N_(
                "Each training step works out the loss of a batch and changes the weights to lower it. Watch tutorial "
                "002's network (784-128-64-10, SGD with momentum, here with a learning rate of 0.01 instead of its 0.003 "
                "so that it learns in seconds) start near 2.30 and fall."
            ),
            widget=training,
            alt=N_("The training loss falling from about 2.3, step by step."),
        ),
        Step(
            title=N_("LogSoftmax + NLLLoss is cross-entropy"),
            text=N_(
                "Tutorial 002 ends its network in LogSoftmax and trains it with NLLLoss; tutorial 003 and Digit Lab "
                "give the raw scores to cross_entropy. It is the same loss, split in two: NLLLoss only picks out "
                "minus the log-probability of the right digit and averages over the batch."
            ),
            widget=two_ways,
            guess=Guess(
                question=N_("On the same batch, how do the two losses compare?"),
                choices=(N_("They are equal"), N_("NLLLoss is larger"), N_("cross_entropy is larger")),
                answer=0,
                why=N_("cross_entropy is log_softmax followed by nll_loss, in one call."),
            ),
            alt=N_("64 bars, one per image's loss, and a dashed line at their mean."),
        ),
    ),
)
