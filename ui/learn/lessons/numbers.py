"""Lesson: an image is a grid of numbers (tutorials 001, 002 steps 1-2, 003)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from mnist_core.i18n import N_, _
from ui import charts
from ui.learn.data import learning_split
from ui.learn.lesson import Guess, Lesson, Step

MEAN, STD = 0.1307, 0.3081  # MNIST's mean and spread of pixel values: the Normalize of tutorial 003


def digit_as_numbers(key: str) -> None:
    split = learning_split()
    index = st.slider(_("Which image"), 0, len(split) - 1, 0, key=f"{key}-image")
    image = split.images[index].numpy()
    after = (image / 255.0 - MEAN) / STD
    fig = go.Figure(
        go.Heatmap(
            z=image,
            customdata=np.round(after, 2),
            colorscale="gray_r",
            showscale=False,
            hovertemplate=_("row %{y}, column %{x}<br>value %{z}<br>after Normalize %{customdata}") + "<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed", scaleanchor="x", constrain="domain")
    charts.style(
        fig, _("A {label}: 28 x 28 = 784 numbers").format(label=int(split.labels[index])), _("column"), _("row"), 420
    )
    st.plotly_chart(fig, key=f"{key}-chart", config={"displayModeBar": False})
    st.caption(_("Hover over (or tap) a pixel to see its number: 0 is paper, 255 is full ink."))


LESSON = Lesson(
    slug="numbers",
    title=N_("An image is numbers"),
    summary=N_("What the network really gets when it looks at a digit."),
    tutorials=("001", "002", "003"),
    recipe="tutorial-mlp-adam",
    steps=(
        Step(
            title=N_("A digit is 784 numbers"),
            text=N_(
                "A computer does not see a picture: it gets a grid of 28 rows and 28 columns of numbers, one per "
                "pixel. Each number says how much ink that pixel holds, from 0 (paper) to 255 (full ink)."
            ),
            widget=digit_as_numbers,
            guess=Guess(
                question=N_("How many numbers does the network get for one MNIST digit?"),
                choices=(N_("10"), N_("28"), N_("784"), N_("70,000")),
                answer=2,
                why=N_("28 rows of 28 pixels are 784 numbers, one per pixel."),
            ),
            alt=N_("The chosen digit drawn as a 28 by 28 grid of grey squares; each square holds a pixel's number."),
        ),
    ),
)
