"""Lesson: why ReLU (tutorials 001 and 003): what it does to a number and to a real layer's outputs, why two linear
layers without it are one, and the same network trained with and without it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
import torch

from mnist_core.i18n import N_, _
from mnist_core.learning.models import build_model
from mnist_core.learning.pipeline import Pipeline
from mnist_core.lessons.activations import hidden_values, merged_layer
from ui import charts
from ui.learn.data import learning_split
from ui.learn.lesson import Guess, Lesson, Step
from ui.learn.lessons.side_by_side import base_config, code_for_each, train_side_by_side


def relu_of_a_number(key: str) -> None:
    x = st.slider(_("A number going into ReLU"), -5.0, 5.0, -1.5, 0.1, key=f"{key}-x")
    y = float(torch.relu(torch.tensor(x)))
    st.metric(_("ReLU({x})").format(x=f"{x:g}"), f"{y:g}")
    xs = np.linspace(-5, 5, 101)
    fig = go.Figure()
    fig.add_scatter(x=xs, y=torch.relu(torch.from_numpy(xs)).numpy(), mode="lines", name=_("ReLU"))
    fig.add_scatter(
        x=[x],
        y=[y],
        mode="markers",
        name=_("your number"),
        marker=dict(size=12, symbol="diamond", color=charts.PALETTE[1]),
    )
    charts.style(fig, _("ReLU: negative numbers become 0, positive ones pass"), _("in"), _("out"), 300)
    st.plotly_chart(
        fig,
        key=f"{key}-chart",
        config={"displayModeBar": False},
        alt=_("The ReLU curve: flat at 0, then a rising line."),
    )


def _model(name: str, seed: int = 0):
    with torch.random.fork_rng():  # a seeded network, leaving torch's global random state as it was
        torch.manual_seed(seed)
        return build_model(name).eval()


def _inputs(key: str) -> tuple[torch.Tensor, int, np.ndarray]:
    split = learning_split()
    index = st.slider(_("Which image"), 0, len(split) - 1, 0, key=f"{key}-image")
    config = base_config()
    x = Pipeline(torch.device("cpu"), config).inputs(split.images[index : index + 1])
    return x, int(split.labels[index]), split.images[index].numpy()


def relu_on_a_layer(key: str) -> None:
    x, label, image = _inputs(key)
    before, after = (v[0].numpy() for v in hidden_values(_model("mlp-64"), x))
    fig = go.Figure()
    units = list(range(1, len(before) + 1))
    fig.add_bar(x=units, y=before.tolist(), name=_("before ReLU"), marker_color=charts.PALETTE[0])
    fig.add_bar(
        x=units, y=after.tolist(), name=_("after ReLU"), marker_color=charts.PALETTE[1], marker_pattern_shape="/"
    )
    charts.style(
        fig, _("The 64 hidden numbers for this {label}").format(label=label), _("hidden unit"), _("value"), 340
    )
    st.image(255 - image, caption=_("The image: a {label}").format(label=label), width=84)
    st.plotly_chart(
        fig,
        key=f"{key}-chart",
        config={"displayModeBar": False},
        alt=_("Bars of the hidden layer's 64 numbers before and after ReLU: the negative ones become 0."),
    )
    zeros = int((after == 0).sum())
    st.caption(
        _("ReLU set {zeros} of the 64 numbers to 0 and passed the other {rest} unchanged.").format(
            zeros=zeros, rest=len(after) - zeros
        )
    )


def two_layers_are_one(key: str) -> None:
    x, label, _image = _inputs(key)
    model = _model("mlp-64-no-relu")
    weight, bias = merged_layer(model)
    with torch.no_grad():
        two = model(x)[0]
        one = (x.flatten(1) @ weight.T + bias)[0]
    st.dataframe(
        pd.DataFrame(
            {
                _("digit"): range(10),
                _("two layers 784-64-10, no ReLU"): two.numpy(),
                _("one merged layer 784-10"): one.numpy(),
            }
        ),
        hide_index=True,
        key=f"{key}-table",
    )
    st.caption(
        _(
            "The ten scores for this {label}. Multiplying the two layers' weights gives one layer of 784 x 10 "
            "weights whose scores differ by at most {gap:.1e}: rounding."
        ).format(label=label, gap=float((two - one).abs().max()))
    )


def with_and_without(key: str) -> None:
    runs = [
        (_("with ReLU"), base_config(model="mlp-64", epochs=10)),
        (_("without ReLU"), base_config(model="mlp-64-no-relu", epochs=10)),
    ]
    curves = train_side_by_side(key, runs, _("Train both"))
    if not curves:
        st.caption(
            _("Both learn from the same 2,000 images for 10 epochs, from the same seed, scored on 1,000 others.")
        )
    elif all(c.accuracy for c in curves):
        with st.container(horizontal=True):
            for c in curves:
                st.metric(c.label, f"{c.accuracy[-1]:.1%}", help=_("held-out accuracy after the last epoch"))
    code_for_each(runs, key)


LESSON = Lesson(
    slug="activations",
    title=N_("Why ReLU"),
    summary=N_("What the little function between two layers is for, and what the network loses without it."),
    tutorials=("001", "003"),
    recipe="tutorial-mlp-adam",
    steps=(
        Step(
            title=N_("ReLU keeps the positive numbers"),
            text=N_(
                "ReLU is the simplest activation: a negative number comes out as 0, a positive one comes out as it "
                "went in. Move the number and watch."
            ),
            widget=relu_of_a_number,
            guess=Guess(
                question=N_("What does ReLU make of −3?"),
                choices=(N_("−3"), N_("0"), N_("3")),
                answer=1,
                why=N_("Every negative number becomes 0."),
            ),
            alt=N_("The ReLU curve with your number marked on it."),
        ),
        Step(
            title=N_("ReLU on a real layer"),
            text=N_(
                "In a network, ReLU sits after a layer and acts on each of its numbers. Here is a network's first "
                "layer of 64 units reading a real digit, before and after ReLU."
            ),
            widget=relu_on_a_layer,
            guess=Guess(
                question=N_("About how many of the 64 numbers will ReLU set to 0?"),
                choices=(N_("None"), N_("About half"), N_("All of them")),
                answer=1,
                why=N_("The units that came out negative, roughly half in a fresh network, become 0."),
            ),
            alt=N_("The digit, and bars of its 64 hidden numbers before and after ReLU."),
        ),
        Step(
            title=N_("Two layers without ReLU are one"),
            text=N_(
                "A linear layer multiplies and adds. A second one on top multiplies and adds again, which is still "
                "just one multiply and add: stacking them buys nothing without something bent in between."
            ),
            widget=two_layers_are_one,
            guess=Guess(
                question=N_("Two linear layers with nothing between them can learn…"),
                choices=(
                    N_("more than one linear layer can"),
                    N_("only what one linear layer can"),
                    N_("nothing at all"),
                ),
                answer=1,
                why=N_("Their weights multiply into a single layer that gives the very same scores."),
            ),
        ),
        Step(
            title=N_("With and without ReLU, side by side"),
            text=N_(
                "The same 784-64-10 network, trained twice on the same images from the same seed: once with ReLU "
                "after its hidden layer, once without. Only the ReLU differs."
            ),
            widget=with_and_without,
            guess=Guess(
                question=N_("Which scores better on held-out images?"),
                choices=(N_("With ReLU"), N_("Without ReLU"), N_("They end up the same")),
                answer=0,
                why=N_("Without ReLU the network is one linear layer in disguise; with it, it can bend its answers."),
            ),
            alt=N_("Held-out accuracy after each epoch for the network with and without ReLU."),
        ),
    ),
)
