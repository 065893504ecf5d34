"""Lesson: a layer is weights and a bias (tutorial 001, "network layers" and "how a fully connected layer works")."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from torch import nn

from mnist_core.data.sources import Split
from mnist_core.i18n import N_, _
from mnist_core.learning.models import MODELS, count_parameters
from mnist_core.lessons.basics import (
    first_linear,
    fresh_model,
    logits,
    neuron_sum,
    normalized,
    parameter_table,
    weight_pictures,
)
from mnist_core.lessons.configs import lesson_config
from ui import charts, pictures
from ui.learn.data import splits
from ui.learn.lesson import Guess, Lesson, Step
from ui.learn.live_training import Run, train_button

SHARED = "learn-linear"  # the session's trained 784-10 layer, which the softmax lesson reads its scores from

# One layer 784 -> 10, trained in a few seconds; plain SGD draws the clearest digit-shaped weights (Adam's come out
# speckled).
LINEAR = lesson_config(epochs=4, batch_size=64, lr=0.05, train_size=4000)


def shared_linear() -> nn.Module | None:
    run = st.session_state.get(SHARED)
    return run.model if run is not None else None


def train_linear(key: str, learn: Split, held: Split, redraw=None) -> Run | None:
    """The 784-10 layer's Train button; what it trains is shared with the other steps and lessons."""
    run = train_button(LINEAR, key, learn, held, redraw, every=5)
    if run is not None and run.step > 0:
        st.session_state[SHARED] = run
    return run


def weights_picture(model: nn.Module, zoom: int = 4) -> np.ndarray:
    """The ten digits' weights side by side, each in red (more ink here: a higher score) and blue, on its own scale."""
    w = weight_pictures(model)
    scaled = w / np.maximum(np.abs(w).reshape(len(w), -1).max(1), 1e-12)[:, None, None]
    return pictures.tile(pictures.signed_colours(scaled, 1.0), 5, zoom)


def neuron(key: str) -> None:
    split, _held = splits()
    index = st.slider(_("Which image"), 0, len(split) - 1, 0, key=f"{key}-image")
    label = int(split.labels[index])
    trained = shared_linear()
    layer = first_linear(trained if trained is not None else fresh_model("linear", LINEAR.seed))
    st.caption(
        _("These weights were trained in step 2.")
        if trained is not None
        else _("These weights are still random, as training starts: step 2 trains them.")
    )
    unit = st.selectbox(_("The neuron of digit"), range(10), index=label, key=f"{key}-unit")
    learned = float(layer.bias[unit].detach())
    bias = st.slider(_("Bias b"), -3.0, 3.0, round(learned, 2), 0.01, key=f"{key}-bias")
    x = normalized(split.images[index][None])[0]
    result = neuron_sum(layer, x, unit, bias)
    ink = pictures.signed_colours(x[0].numpy(), float(x.abs().max()))
    w = pictures.signed_colours(layer.weight[unit].detach().reshape(28, 28).numpy())
    prod = pictures.signed_colours(result.products)
    st.image(
        pictures.tile(np.stack([ink, w, prod]), 3, 4, gap=6),
        caption=_("x: the image (after Normalize) · w: the neuron's 784 weights · w × x, pixel by pixel"),
        width="stretch",
    )
    st.markdown(
        _(
            "w·x = the sum of the 784 products = **{sum:.3f}**  \n"
            "w·x + b = {sum:.3f} + ({bias:.2f}) = **{z:.3f}**: the score of digit {unit} for this {label}"
        ).format(sum=result.weighted_sum, bias=result.bias, z=result.output, unit=unit, label=label)
    )
    st.caption(_("Red is above zero, blue below. The bias was {learned:.3f} as learned.").format(learned=learned))


def training(key: str) -> None:
    def redraw(run: Run) -> None:
        st.image(
            weights_picture(run.model),
            caption=_("The weights of digits 0 to 4 (top) and 5 to 9 (bottom), after {step} steps").format(
                step=run.step
            ),
            width="stretch",
        )

    run = train_linear(key, *splits(), redraw)
    if run is None:
        st.image(
            weights_picture(fresh_model("linear", LINEAR.seed)),
            caption=_("The weights of digits 0 to 4 (top) and 5 to 9 (bottom), before training: random"),
            width="stretch",
        )
    st.caption(_("Red: ink there raises that digit's score. Blue: ink there lowers it."))


def accuracy(key: str) -> None:
    learn, held = splits()
    model = shared_linear()
    if model is None:
        st.info(_("This step needs the trained layer: press Train here (or in step 2)."))
        run = train_linear(key, learn, held)
        model = shared_linear() if run is not None else None
        if model is None:
            return
    run: Run = st.session_state[SHARED]
    z = logits(model, held.images)
    answers = z.argmax(1)
    right = int((answers == held.labels).sum())
    st.metric(
        _("Held-out accuracy"),
        f"{right / len(held):.1%}",
        help=_("{right:,} of {n:,} images it never trained on read right").format(right=right, n=len(held)),
    )
    st.caption(_("{right:,} of {n:,} images it never trained on read right").format(right=right, n=len(held)))
    if run.val_acc:
        fig = go.Figure(go.Scatter(x=list(range(len(run.val_acc))), y=run.val_acc, mode="lines+markers"))
        fig.update_yaxes(range=[0, 1], tickformat=".0%")
        charts.style(fig, _("Held-out accuracy after each epoch (0: before training)"), _("epoch"), _("accuracy"), 280)
        st.plotly_chart(fig, config={"displayModeBar": False}, alt=_("Held-out accuracy rising epoch by epoch."))
    start = st.slider(_("Which held-out images"), 0, len(held) - 10, 0, 10, key=f"{key}-from")
    shown = range(start, start + 10)
    gray = np.stack([np.repeat(255 - held.images[i].numpy()[..., None], 3, -1) for i in shown])
    st.image(
        pictures.tile(gray, 5, 3, gap=6),
        caption=" · ".join(
            _("{answer} (is {label})").format(answer=int(answers[i]), label=int(held.labels[i]))
            if answers[i] != held.labels[i]
            else str(int(answers[i]))
            for i in shown
        ),
        width="stretch",
    )


COMPARED = ("linear", "mlp-64x3", "mlp-128-64")


def counting(key: str) -> None:
    name = st.selectbox(_("Network"), COMPARED, format_func=lambda m: _(MODELS[m].title), key=f"{key}-model")
    model = fresh_model(name, 0)
    rows = parameter_table(model)
    st.dataframe(
        pd.DataFrame(
            [(n, " × ".join(map(str, shape)), count) for n, shape, count in rows],
            columns=[_("tensor"), _("shape"), _("numbers")],
        ),
        hide_index=True,
    )
    st.markdown(
        _("**{total:,}** numbers to learn in all.").format(total=count_parameters(model))
        + (" " + _("784 pixels × 10 digits = 7,840 weights, plus one bias per digit.") if name == "linear" else "")
    )


LESSON = Lesson(
    slug="layer",
    title=N_("A layer is weights and a bias"),
    summary=N_("How one layer turns 784 pixels into ten scores, and watching it learn."),
    tutorials=("001",),
    recipe="tutorial-mlp-adam",
    steps=(
        Step(
            title=N_("One neuron: a weighted sum plus a bias"),
            text=N_(
                "A neuron multiplies each of the 784 numbers by a weight of its own, adds the products up, and "
                "adds one more number, its bias: w·x + b. The weights say which pixels count for it and how "
                "much; the bias shifts its answer up or down."
            ),
            widget=neuron,
            guess=Guess(
                question=N_("If the bias goes up by 1, what does the neuron's output do?"),
                choices=(
                    N_("It goes up by exactly 1"),
                    N_("It goes up by 784"),
                    N_("It depends on the image"),
                ),
                answer=0,
                why=N_("The bias is added after the sum, whatever the image: move its slider and watch."),
            ),
            alt=N_("Three pictures: the digit, the neuron's weights in red and blue, and their products."),
        ),
        Step(
            title=N_("Ten neurons make a layer: watch it learn"),
            text=N_(
                "A layer of 784 -> 10 has one neuron per digit; the one with the highest score is the answer. "
                "Training nudges all 7,840 weights after every batch, and since each neuron has one weight per "
                "pixel, its weights can be drawn as a 28 x 28 picture."
            ),
            widget=training,
            guess=Guess(
                question=N_("After training, what will the weights of digit 0 look like?"),
                choices=(
                    N_("Still random noise"),
                    N_("A ring of red where a 0's ink lies, blue in its middle"),
                    N_("All red: more ink, more 0"),
                ),
                answer=1,
                why=N_("Each digit's neuron learns where its ink usually is, and where it never is."),
            ),
            alt=N_("Ten 28 by 28 pictures of weights, one per digit, in red and blue, redrawn as training goes."),
        ),
        Step(
            title=N_("How good is one layer?"),
            text=N_(
                "The real test is images the layer never trained on. One layer gets most of them right, but it "
                "can only add up ink: a digit written in an unusual place or shape fools it."
            ),
            widget=accuracy,
            guess=Guess(
                question=N_("How many held-out digits will this one layer read right?"),
                choices=(N_("About 10%"), N_("About 50%"), N_("About 85 to 90%"), N_("Over 99%")),
                answer=2,
                why=N_("Sums of weighted ink go a long way, but not as far as deeper networks."),
            ),
            alt=N_("Ten held-out digits with the layer's answer for each."),
        ),
        Step(
            title=N_("Counting the weights"),
            text=N_(
                "Everything a network learns is in its weights and biases. Counting them tells how big a network "
                "is: compare this layer with tutorial 001's and tutorial 002's networks."
            ),
            widget=counting,
            guess=Guess(
                question=N_("How many numbers does the 784 -> 10 layer learn?"),
                choices=(N_("10"), N_("794"), N_("7,850"), N_("61,440")),
                answer=2,
                why=N_("784 weights for each of the 10 digits, plus their 10 biases."),
            ),
        ),
    ),
)
