"""Lesson: an image is a grid of numbers (tutorials 001, 002 steps 1-2, 003)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from mnist_core.i18n import N_, _
from mnist_core.learning.config import TrainConfig
from mnist_core.learning.events import EventKind
from mnist_core.learning.models import build_model
from mnist_core.learning.training import train
from mnist_core.lessons.basics import MEAN, STD, first_linear, flat, normalized, to_tensor
from mnist_core.lessons.configs import lesson_config
from ui import charts
from ui.learn import view
from ui.learn.data import splits
from ui.learn.lesson import Guess, Lesson, Step

NO_MENUS = {"displayModeBar": False}


def _pick_image(key: str, split=None):
    split = splits()[0] if split is None else split
    index = st.slider(_("Which image"), 0, len(split) - 1, 0, key=f"{key}-image")
    return split.images[index], int(split.labels[index])


def _grid(z, title: str, hover: str, customdata=None, colours="gray_r", zmid=None, alt: str = "") -> None:
    fig = go.Figure(
        go.Heatmap(
            z=z,
            customdata=customdata,
            colorscale=colours,
            zmid=zmid,
            showscale=zmid is not None,
            hovertemplate=hover + "<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed", scaleanchor="x", constrain="domain")
    charts.style(fig, title, _("column"), _("row"), 420)
    st.plotly_chart(fig, config=NO_MENUS, alt=alt)


def digit_as_numbers(key: str) -> None:
    image, label = _pick_image(key)
    _grid(
        image.numpy(),
        _("A {label}: 28 x 28 = 784 numbers").format(label=label),
        _("row %{y}, column %{x}<br>value %{z}"),
        alt=_("The chosen digit drawn as a 28 by 28 grid of grey squares; each square holds a pixel's number."),
    )
    st.caption(_("Hover over (or tap) a pixel to see its number: 0 is paper, 255 is full ink."))


def one_row(key: str) -> None:
    image, label = _pick_image(key)
    row = st.slider(_("Which row of the grid to find in the long row"), 0, 27, 14, key=f"{key}-row")
    values = flat(image[None, None]).reshape(-1).numpy()
    position = np.arange(784)
    colours = np.where(position // 28 == row, charts.PALETTE[1], charts.PALETTE[0])
    fig = go.Figure(
        go.Bar(
            x=position,
            y=values,
            marker_color=colours,
            customdata=np.stack([position // 28, position % 28], 1),
            hovertemplate=_(
                "number %{x} of the row<br>grid row %{customdata[0]}, column %{customdata[1]}<br>value %{y}"
            )
            + "<extra></extra>",
        )
    )
    fig.update_xaxes(tickvals=list(range(0, 785, 112)))
    fig.update_layout(bargap=0)
    charts.style(fig, _("The same {label} as one row of 784 numbers").format(label=label), _("number"), _("value"), 300)
    st.plotly_chart(
        fig,
        config=NO_MENUS,
        alt=_("The 784 pixel values side by side as bars; the chosen grid row's 28 bars are in orange."),
    )
    start = row * 28
    st.markdown(
        _("Grid row {row} is numbers {start} to {end} of the row (in orange): {values}").format(
            row=row, start=start, end=start + 27, values=" ".join(str(int(v)) for v in values[start : start + 28])
        )
    )
    model = build_model("mlp-64x3")
    st.code(
        f"image.shape              # {tuple(image[None, None].shape)}\n"
        f"image.flatten(1).shape   # {tuple(flat(image[None, None]).shape)}\n"
        f"first layer              # {first_linear(model)}",
        language="python",
    )
    st.caption(
        _("The first layer of tutorial 001's network takes in_features = {n} numbers: exactly one row.").format(
            n=first_linear(model).in_features
        )
    )


def to_tensor_widget(key: str) -> None:
    image, label = _pick_image(key)
    c1, c2 = st.columns(2)
    r = c1.slider(_("Pixel row"), 0, 27, 14, key=f"{key}-r")
    c = c2.slider(_("Pixel column"), 0, 27, 14, key=f"{key}-c")
    tensor = to_tensor(image[None])[0, 0]
    value, after = int(image[r, c]), float(tensor[r, c])
    m1, m2 = st.columns(2)
    m1.metric(_("Pixel value (0 to 255)"), value)
    m2.metric(_("After ToTensor (0 to 1)"), f"{after:.4f}")
    st.markdown(_("{value} / 255 = {after:.4f}").format(value=value, after=after))
    top, left = min(max(r - 2, 0), 23), min(max(c - 2, 0), 23)
    patch = slice(top, top + 5), slice(left, left + 5)
    names = [str(i) for i in range(left, left + 5)]
    index = [str(i) for i in range(top, top + 5)]
    st.caption(_("The 5 x 5 pixels around it (rows down, columns across), before and after:"))
    p1, p2 = st.columns(2)
    p1.dataframe(pd.DataFrame(image.numpy()[patch], index=index, columns=names))
    p2.dataframe(pd.DataFrame(tensor.numpy()[patch], index=index, columns=names).round(3))
    st.caption(
        _("ToTensor also changes the type: uint8 {before} becomes float32 {after}.").format(
            before=tuple(image.shape), after=tuple(to_tensor(image[None])[0].shape)
        )
    )


def normalize_widget(key: str) -> None:
    learn, _held = splits()
    image, label = _pick_image(key, learn)
    raw = image.numpy()
    ink = to_tensor(image[None])[0, 0].numpy()
    after = normalized(image[None])[0, 0].numpy()
    _grid(
        after,
        _("A {label} after Normalize({mean}, {std})").format(label=label, mean=MEAN, std=STD),
        _(
            "row %{y}, column %{x}<br>value %{customdata[0]}<br>after ToTensor %{customdata[1]:.3f}<br>"
            "after Normalize %{z:.3f}"
        ),
        customdata=np.stack([raw, ink], -1),
        colours="RdBu_r",
        zmid=0,
        alt=_("The digit after Normalize: paper in light blue below zero, ink in red above it."),
    )
    st.caption(_("Hover over (or tap) a pixel: its number before and after Normalize."))
    batch = normalized(learn.images)
    st.markdown(
        _(
            "This digit now goes from **{lo:.4f}** (paper) to **{hi:.4f}** (full ink). Over all {n:,} training "
            "images the numbers now have mean **{mean:.3f}** and spread **{std:.3f}** (they had {raw_mean:.3f} "
            "and {raw_std:.3f} after ToTensor)."
        ).format(
            lo=float(after.min()),
            hi=float(after.max()),
            n=len(batch),
            mean=float(batch.mean()),
            std=float(batch.std()),
            raw_mean=float(batch.mean() * STD + MEAN),
            raw_std=float(batch.std() * STD),
        )
    )


# Three ways to feed the same layer the same images: the pixels as they are, ToTensor only, and ToTensor then
# Normalize. `train` always works out (x / 255 - mean) / std, so mean 0 and std 1/255 leave the pixels unchanged.
SCALINGS = {
    "raw": (N_("pixels 0 to 255"), 0.0, 1 / 255),
    "totensor": (N_("ToTensor: 0 to 1"), 0.0, 1.0),
    "normalize": (N_("ToTensor + Normalize"), MEAN, STD),
}


def scaling_config(name: str) -> TrainConfig:
    _title, mean, std = SCALINGS[name]
    return lesson_config(train_size=1000, norm_mean=mean, norm_std=std)


def why_normalize(key: str) -> None:
    with st.container(horizontal=True):
        pressed = st.button(_("Train all three"), key=f"{key}-train", type="primary", icon=":material/play_arrow:")
        st.button(_("Stop"), key=f"{key}-stop", icon=":material/stop:")
    bar = st.empty()
    learn, held = splits()
    results: dict = st.session_state.setdefault(f"{key}-results", {})
    if pressed:
        results.clear()
        for i, name in enumerate(SCALINGS):
            config = scaling_config(name)

            def on_event(event, i=i, name=name):
                if event.kind == EventKind.STEP and event.step % 4 == 0:
                    bar.progress(
                        (i + event.step / event.total_steps) / len(SCALINGS),
                        text=_("Training with {scaling}: step {step} of {total}").format(
                            scaling=_(SCALINGS[name][0]), step=event.step, total=event.total_steps
                        ),
                    )

            run = train(config, learn, held, on_event)
            last = [e for e in run.history if e.kind == EventKind.EPOCH][-1]
            results[name] = (last.val_acc, last.val_loss)
        bar.empty()
    if results:
        names = [n for n in SCALINGS if n in results]
        fig = go.Figure(
            go.Bar(
                x=[_(SCALINGS[n][0]) for n in names],
                y=[results[n][0] for n in names],
                text=[f"{results[n][0]:.1%}" for n in names],
                marker_color=charts.PALETTE[: len(names)],
            )
        )
        fig.update_yaxes(range=[0, 1], tickformat=".0%")
        charts.style(fig, _("Held-out accuracy after one epoch on 1,000 images"), "", _("accuracy"), 300)
        st.plotly_chart(
            fig, config=NO_MENUS, alt=_("Three bars: the held-out accuracy reached with each way of scaling.")
        )
        st.markdown(
            " · ".join(
                _("{scaling}: held-out loss {loss:.3g}").format(scaling=_(SCALINGS[n][0]), loss=results[n][1])
                for n in names
            )
        )
    else:
        st.caption(_("Press Train: one layer learns from the same 1,000 images three times, with the same settings."))
    view.code_behind(scaling_config("normalize"), key)


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
        Step(
            title=N_("The grid becomes one long row"),
            text=N_(
                "A fully connected layer does not know about rows and columns: it wants one list of numbers. So "
                "the grid is flattened: its 28 rows are laid end to end into a single row of 784."
            ),
            widget=one_row,
            guess=Guess(
                question=N_("In the long row, what comes right after the last pixel of the grid's first row?"),
                choices=(
                    N_("The pixel just below it"),
                    N_("The first pixel of the second row"),
                    N_("The last pixel of the second row"),
                ),
                answer=1,
                why=N_("The rows are laid one after another, so the second row starts at number 28."),
            ),
            alt=N_("The 784 pixel values side by side as bars; the chosen grid row's 28 bars are in orange."),
        ),
        Step(
            title=N_("ToTensor: from 0-255 to 0-1"),
            text=N_(
                "Before training, torchvision's ToTensor turns each image into a tensor of decimal numbers. It "
                "divides every pixel by 255, so paper stays 0 and full ink becomes 1."
            ),
            widget=to_tensor_widget,
            guess=Guess(
                question=N_("A pixel of full ink holds 255. What does ToTensor make of it?"),
                choices=(N_("0"), N_("0.5"), N_("1"), N_("255")),
                answer=2,
                why=N_("255 / 255 = 1: every pixel ends up between 0 and 1."),
            ),
        ),
        Step(
            title=N_("Normalize: centred on zero"),
            text=N_(
                "Tutorial 003 then applies Normalize(0.1307, 0.3081): from each number it takes away 0.1307, the "
                "average pixel of MNIST, and divides by 0.3081, their usual spread. Ink becomes large and "
                "positive, paper a little below zero."
            ),
            widget=normalize_widget,
            guess=Guess(
                question=N_("What does a blank pixel (0) become after Normalize?"),
                choices=(N_("0"), N_("about -0.42"), N_("0.1307"), N_("1")),
                answer=1,
                why=N_("(0 - 0.1307) / 0.3081 is about -0.42: paper is no longer zero."),
            ),
            alt=N_("The digit after Normalize: paper in light blue below zero, ink in red above it."),
        ),
        Step(
            title=N_("Why normalise (it is not regularisation)"),
            text=N_(
                "Normalising only rescales the inputs, so that every pixel reaches the network at a similar, small "
                "size and training takes sensible steps. Tutorial 003 calls it 正则化 and says it reduces the "
                "model's complexity: that is **regularisation**, a different thing (dropout, weight decay) that "
                "keeps a network from learning its training images by heart."
            ),
            widget=why_normalize,
            guess=Guess(
                question=N_("The same layer learns from the same images three times. Which inputs train best?"),
                choices=(N_("Pixels 0 to 255"), N_("ToTensor: 0 to 1"), N_("ToTensor + Normalize")),
                answer=2,
                why=N_(
                    "With 0-255 every step is far too big and the loss explodes; with 0-1 the steps are so small "
                    "that one epoch teaches little; centred inputs learn fastest."
                ),
            ),
            alt=N_("Three bars: the held-out accuracy reached with each way of scaling."),
        ),
    ),
)
