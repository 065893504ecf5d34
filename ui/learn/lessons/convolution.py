"""Lesson: convolution and pooling (tutorials 003 and 004), on the learner's own drawing."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from torch import nn

from mnist_core.data.preprocess import to_input, to_mnist
from mnist_core.i18n import N_, _
from mnist_core.learning.models import build_model
from mnist_core.lessons import convolution as conv
from mnist_core.store.checkpoints import CheckpointError, list_checkpoints, load_checkpoint
from ui import charts
from ui.learn.data import learning_split
from ui.learn.lesson import Guess, Lesson, Step

DRAWING = "inside_drawing"  # where Draw keeps the learner's latest drawing (Inside reads it too)
SHARED = "convolution-choice"  # the input and filter picked on one step, so the next step starts with them
INPUTS = (N_("Your drawing"), N_("Draw one here"), N_("An MNIST digit"))
SIDE = 240  # the canvas, in screen pixels


def _choice() -> dict:
    return st.session_state.setdefault(SHARED, {})


def _carried(key: str, name: str, default):
    """Start this step's widget `name` with what the learner picked on another step."""
    st.session_state.setdefault(f"{key}-{name}", _choice().get(name, default))


def pick_image(key: str) -> np.ndarray | None:
    """The 28x28 digit the lesson works on: the learner's drawing (from Draw, or drawn here) or an MNIST digit."""
    has_drawing = st.session_state.get(DRAWING) is not None
    _carried(key, "input", INPUTS[0] if has_drawing else INPUTS[2])
    if st.session_state[f"{key}-input"] == INPUTS[0] and not has_drawing:
        st.session_state[f"{key}-input"] = INPUTS[1]
    source = st.radio(
        _("Image"),
        INPUTS,
        key=f"{key}-input",
        format_func=_,
        horizontal=True,
        help=_("Your latest drawing (from the Draw page, or drawn here), or a real handwritten digit from MNIST."),
    )
    _choice()["input"] = source
    if source == INPUTS[2]:
        split = learning_split()
        _carried(key, "index", 0)
        index = st.number_input(
            _("Image number (0 to {last:,})").format(last=len(split) - 1), 0, len(split) - 1, key=f"{key}-index"
        )
        _choice()["index"] = index
        return split.images[index].numpy()
    if source == INPUTS[1]:
        from streamlit_drawable_canvas import st_canvas  # noqa: PLC0415 (it registers itself: only in a running app)

        st.space("small")  # the canvas's toolbar floats above it: room, so it does not cover the choice above
        canvas = st_canvas(
            stroke_width=18,
            stroke_color="#FFFFFF",
            background_color="#000000",
            height=SIDE,
            width=SIDE,
            return_image_data=True,
            key=f"{key}-canvas",
        )
        drawn = canvas.image_data if canvas is not None else None
        if drawn is not None and to_mnist(drawn) is not None:
            st.session_state[DRAWING] = drawn  # your drawing from now on, here and on Inside
        else:
            st.caption(_("Draw a digit in the black square, with the mouse button held down or with your finger."))
            return None
    image28 = to_mnist(st.session_state[DRAWING])
    if image28 is None:
        st.info(_("No digit found in your drawing: draw one here, or pick an MNIST digit."), icon=":material/draw:")
    return image28


def pick_filter(key: str) -> tuple[tuple[float, ...], ...] | None:
    """The 3x3 filter: one of the classic ones, or nine numbers the learner types."""
    _carried(key, "filter", "top")
    _carried(key, "custom", "1 0 -1  2 0 -2  1 0 -1")
    choices = [*conv.FILTERS, conv.CUSTOM]
    name = st.selectbox(
        _("Filter"),
        choices,
        key=f"{key}-filter",
        format_func=lambda k: _("Type your own 9 numbers") if k == conv.CUSTOM else _(conv.FILTERS[k].title),
    )
    _choice()["filter"] = name
    if name != conv.CUSTOM:
        return conv.FILTERS[name].weights
    text = st.text_input(
        _("Nine numbers, row by row"),
        key=f"{key}-custom",
        help=_("Three rows of three numbers, separated by spaces or commas, e.g. 1 0 -1 2 0 -2 1 0 -1."),
    )
    _choice()["custom"] = text
    try:
        return conv.parse_filter(text)
    except ValueError as e:
        st.warning(str(e), icon=":material/edit:")
        return None


def grid(values: np.ndarray, title: str, key: str, signed: bool, box: tuple[int, int, int] | None = None) -> None:
    """A map as a grid of squares with each square's number on hover; `box` (row, column, size) outlines a window."""
    values = np.asarray(values, dtype=float)
    top = float(np.abs(values).max()) or 1.0
    fig = go.Figure(
        go.Heatmap(
            z=np.round(values, 3),
            colorscale="RdBu_r" if signed else "gray_r",
            zmin=-top if signed else 0,
            zmax=top if signed else max(top, 1.0),
            showscale=False,
            hovertemplate=_("row %{y}, column %{x}<br>value %{z}") + "<extra></extra>",
        )
    )
    if box is not None:
        r, c, size = box
        fig.add_shape(
            type="rect",
            x0=c - 0.5,
            x1=c + size - 0.5,
            y0=r - 0.5,
            y1=r + size - 0.5,
            line=dict(color=charts.PALETTE[1], width=3),
        )
    fig.update_yaxes(autorange="reversed", scaleanchor="x", constrain="domain")
    charts.style(fig, title, "", "", 300)
    st.plotly_chart(fig, key=key, config={"displayModeBar": False})


def filter_table(weights) -> str:
    return " · ".join("[" + " ".join(f"{w:g}" for w in row) + "]" for row in np.round(np.asarray(weights), 3))


def _inputs(key: str):
    """The image and filter, or None until both are there (the step's own widget then waits)."""
    image28 = pick_image(key)
    weights = pick_filter(key)
    return None if image28 is None or weights is None else (image28, weights)


def sliding(key: str) -> None:
    if (picked := _inputs(key)) is None:
        return
    image28, weights = picked
    fmap = conv.feature_map(image28, weights)
    st.caption(_("Filter: {weights}").format(weights=filter_table(weights)))
    left, right = st.columns(2)
    with left:
        grid(conv.ink(image28)[0, 0].numpy(), _("Input: 28 x 28 (ink from 0 to 1)"), f"{key}-input-map", False)
    with right:
        grid(fmap, _("Feature map: {h} x {w}").format(h=fmap.shape[0], w=fmap.shape[1]), f"{key}-map", True)
    st.caption(_("Red: the filter's pattern is there (a big positive sum); blue: its opposite; white: nothing."))


def one_window(key: str) -> None:
    if (picked := _inputs(key)) is None:
        return
    image28, weights = picked
    fmap = conv.feature_map(image28, weights)
    last = fmap.shape[0] - 1
    strongest = np.unravel_index(np.abs(fmap).argmax(), fmap.shape)  # start where something happens
    st.session_state.setdefault(f"{key}-row", int(strongest[0]))
    st.session_state.setdefault(f"{key}-col", int(strongest[1]))
    row = st.slider(_("Window row"), 0, last, key=f"{key}-row")
    col = st.slider(_("Window column"), 0, last, key=f"{key}-col")
    w = conv.window(image28, weights, row, col)
    left, right = st.columns(2)
    with left:
        grid(conv.ink(image28)[0, 0].numpy(), _("The window on the input"), f"{key}-input-map", False, (row, col, 3))
    with right:
        grid(fmap, _("The pixel it makes in the map"), f"{key}-map", True, (row, col, 1))
    st.table(
        pd.DataFrame(
            [[f"{p:.2f} × {k:g}" for p, k in zip(w.patch[i], np.asarray(weights)[i])] for i in range(3)],
            index=[_("row {n}").format(n=row + i) for i in range(3)],
            columns=[_("column {n}").format(n=col + j) for j in range(3)],
        )
    )
    st.markdown(
        _(
            "Ink × weight, added up: **{total:.3f}**. The feature map at row {row}, column {col}: **{value:.3f}**."
        ).format(total=w.total, row=row, col=col, value=float(fmap[row, col]))
    )


def pooling(key: str) -> None:
    if (picked := _inputs(key)) is None:
        return
    image28, weights = picked
    fmap = conv.feature_map(image28, weights)
    pooled = conv.max_pool(fmap, 2)
    left, right = st.columns(2)
    with left:
        grid(fmap, _("Feature map: {h} x {w}").format(h=fmap.shape[0], w=fmap.shape[1]), f"{key}-map", True)
    with right:
        grid(
            pooled,
            _("After 2x2 max pooling: {h} x {w}").format(h=pooled.shape[0], w=pooled.shape[1]),
            f"{key}-pooled",
            True,
        )
    st.caption(
        _(
            "{before} numbers became {after}: each one is the largest of a 2 x 2 square, so a stroke found one pixel "
            "to the side is still found."
        ).format(before=fmap.size, after=pooled.size)
    )


def reused(key: str) -> None:
    if (picked := _inputs(key)) is None:
        return
    image28, weights = picked
    stages = conv.reused_chain(image28, weights)
    for i in range(0, len(stages), 2):
        cols = st.columns(2)
        for col, n, stage in zip(cols, (i, i + 1), stages[i : i + 2]):
            with col:
                h, w = stage.values.shape
                grid(stage.values, f"{n + 1}. {_(stage.what)}: {h} x {w}", f"{key}-stage-{n}", n > 0)
    st.markdown(
        _("What is left of your image after this chain: one number, **{value:.4f}**.").format(
            value=float(stages[-1].values.ravel()[0])
        )
    )


@st.cache_resource(max_entries=2, show_spinner=False)
def _saved_model(path: str, created: str):
    return load_checkpoint(path)


def trained_filters(key: str) -> None:
    from mnist_core.insight import explain  # noqa: PLC0415 (Inside's own views of a model, reused)
    from ui import pictures  # noqa: PLC0415

    image28 = pick_image(key)
    cnns = [c for c in list_checkpoints() if _convolutional(c.record.architecture)]
    if not cnns:
        st.info(
            _(
                "There is no saved convolutional network yet. Train the tutorial's small CNN on the Train page "
                "(the link below), then come back: its filters show here."
            ),
            icon=":material/model_training:",
        )
        return
    by_id = {c.run_id: c for c in cnns}
    run_id = st.selectbox(_("Saved model"), list(by_id), key=f"{key}-model", format_func=lambda r: by_id[r].name)
    ckpt = by_id[run_id]
    try:
        model, loaded = _saved_model(str(ckpt.path), ckpt.record.created or "")
    except CheckpointError as e:
        st.error(_("This saved model cannot be used: {reason}").format(reason=e))
        return
    filters = explain.first_filters(model)
    st.markdown(f"**{filters.title}**", help=filters.help)
    st.image(
        pictures.filters_picture(filters),
        caption=_("Red weights count ink under them, blue ones count against it: no one typed these, training did."),
        alt=_("The first layer's filters: small grids of weights, red where a weight is positive, blue negative"),
    )
    if image28 is None:
        return
    config = loaded.config
    layers = explain.layer_outputs(model, to_input(image28, config.norm_mean, config.norm_std).float())
    first = next(layer for layer in layers if layer.kind == "conv")
    st.image(
        pictures.feature_maps_picture(first),
        caption=_("Their feature maps of your image ({h} x {w} each): bright where a filter found its pattern.").format(
            h=first.shape[1], w=first.shape[2]
        ),
        alt=_("What each detector of this layer found in the digit: bright where it responded strongly"),
    )


@functools.cache
def _convolutional(architecture: str) -> bool:
    """Whether the first layer that meets the image is a convolution (only those have small filters to show)."""
    model = build_model(architecture)
    return isinstance(next(m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))), nn.Conv2d)


LESSON = Lesson(
    slug="convolution",
    title=N_("Convolution and pooling"),
    summary=N_("A small filter slid over your own drawing, and the pooling that shrinks what it finds."),
    tutorials=("003", "004"),
    recipe="tutorial-cnn-small",
    steps=(
        Step(
            title=N_("A filter slides over the image"),
            text=N_(
                "A convolution takes a small grid of weights, the filter, and lays it on every 3 x 3 patch of "
                "the image in turn. At each place it multiplies ink by weight and adds the nine products up: one "
                "number of a new picture, the feature map, which is large where the patch looks like the filter."
            ),
            widget=sliding,
            guess=Guess(
                question=N_(
                    "A 3x3 filter moves one pixel at a time over a 28x28 image and never hangs over its edge. "
                    "How big is the feature map it makes?"
                ),
                choices=(N_("28 x 28"), N_("26 x 26"), N_("9 x 9"), N_("3 x 3")),
                answer=1,
                why=N_("It fits in 26 places along each side (28 - 3 + 1), so the map is 26 x 26."),
            ),
            alt=N_(
                "Two grids side by side: your digit as 28 by 28 squares of ink, and the 26 by 26 feature map the "
                "filter makes of it, red where the filter's pattern is, blue where its opposite is."
            ),
        ),
        Step(
            title=N_("One window, one sum"),
            text=N_(
                "Move the window and watch one output pixel being made: the nine ink values under the filter, each "
                "times its weight, added up. The network does exactly this at all 676 places, and it learns the "
                "nine weights instead of being given them."
            ),
            widget=one_window,
            alt=N_(
                "Your digit with an orange 3 by 3 square on it, the feature map with the one pixel that square makes "
                "outlined, and a table of the nine products."
            ),
        ),
        Step(
            title=N_("Max pooling shrinks the map"),
            text=N_(
                "Max pooling cuts the feature map into 2 x 2 squares and keeps only the largest number of "
                "each. The picture gets four times smaller, and what the filter found survives even if it moved by "
                "a pixel."
            ),
            widget=pooling,
            guess=Guess(
                question=N_("After 2x2 max pooling, how big is a 26x26 feature map?"),
                choices=(N_("24 x 24"), N_("13 x 13"), N_("26 x 26"), N_("52 x 52")),
                answer=1,
                why=N_("Each 2 x 2 square becomes one number: 26 / 2 = 13 along each side."),
            ),
            alt=N_("The 26 by 26 feature map beside its 13 by 13 max-pooled version, which keeps its bright spots."),
        ),
        Step(
            title=N_("The same filter again, then an average"),
            text=N_(
                "Tutorial 004's network applies its second convolution several times with the same weights, pools "
                "in between, and ends with a global average pool: each map becomes a single number. Here one filter "
                "does that to your image, step by step."
            ),
            widget=reused,
            guess=Guess(
                question=N_("After the global average pool, how many numbers are left of one feature map?"),
                choices=(N_("1"), N_("4"), N_("25"), N_("784")),
                answer=0,
                why=N_("It averages the whole map, whatever its size, into one number."),
            ),
            alt=N_(
                "Six grids, each smaller than the last: your image, the filter's map, pooled, filtered again, pooled "
                "again, and a single square holding the average."
            ),
        ),
        Step(
            title=N_("Filters a network learned"),
            text=N_(
                "Nobody types the filters of a real network: training finds them, starting from random numbers. "
                "Many of a trained network's first-layer filters turn out to be edge detectors, like the ones you "
                "tried."
            ),
            widget=trained_filters,
            alt=N_(
                "The first layer's filters of a saved network as small red and blue grids, and each filter's feature "
                "map of your digit."
            ),
        ),
    ),
)
