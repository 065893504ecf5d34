"""Lesson: batch size and epochs (tutorial 003): what a batch and an epoch are, and two batch sizes trained side by
side, by epochs and by seconds."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from mnist_core.i18n import N_, _
from mnist_core.learning.training import train
from mnist_core.lessons.stepper import Stepper
from ui import charts
from ui.learn import view
from ui.learn.data import learning_split
from ui.learn.lesson import Guess, Lesson, Step
from ui.learn.lessons.gradients import batch_picture
from ui.learn.lessons.side_by_side import base_config, code_for_each, train_side_by_side

SIZES = (8, 16, 32, 64, 128, 256, 512, 1024)
IMAGES = 2000  # the lesson's training images


def a_batch(key: str) -> None:
    size = st.select_slider(_("Batch size"), SIZES, value=32, key=f"{key}-size")
    stepper = Stepper(base_config(model="linear", batch_size=size), learning_split())
    n = len(stepper.labels)
    steps = stepper.steps_per_epoch
    last = n - (steps - 1) * size
    st.metric(_("Steps in one epoch"), f"{steps:,}")
    st.markdown(
        _("{n:,} images ÷ {size} per batch = {steps:,} steps, rounded up (the last batch holds {last}).").format(
            n=n, size=size, steps=steps, last=last
        )
    )
    batch = stepper.next_batch()
    shown = batch.images[:32]
    st.image(
        batch_picture(shown),
        caption=_("The first batch: {shown} of its {size} images, labels {labels}").format(
            shown=len(shown), size=size, labels=" ".join(map(str, batch.labels[:32]))
        ),
        alt=_("The handwritten digits of the first batch."),
    )


def epochs_shuffled(key: str) -> None:
    size = 64
    stepper = Stepper(base_config(model="linear", batch_size=size), learning_split())
    rows = []
    for epoch in range(1, 4):
        first = stepper.next_batch()
        seen = [first.images]
        for _step in range(stepper.steps_per_epoch - 1):
            seen.append(stepper.next_batch().images)
        images = np.concatenate(seen)
        rows.append((epoch, first, len(images), len(np.unique(images.reshape(len(images), -1), axis=0))))
    for epoch, first, total, unique in rows:
        st.image(
            batch_picture(first.images[:8]),
            caption=_(
                "Epoch {epoch}: the first 8 images of its first batch ({total:,} images in all, {unique:,} different)"
            ).format(epoch=epoch, total=total, unique=unique),
            alt=_("The first eight digits the network sees in epoch {epoch}.").format(epoch=epoch),
        )
    st.caption(
        _("Each epoch is {steps} steps of {size} images; every epoch starts from a new shuffle.").format(
            steps=stepper.steps_per_epoch, size=size
        )
    )


def two_sizes(key: str) -> None:
    with st.container(horizontal=True):
        a = st.select_slider(_("First batch size"), SIZES, value=8, key=f"{key}-a")
        b = st.select_slider(_("Second batch size"), SIZES, value=256, key=f"{key}-b")
    with st.container(horizontal=True):
        x = st.radio(
            _("Against"),
            ("epoch", "seconds"),
            horizontal=True,
            key=f"{key}-x",
            format_func=lambda v: _("epochs") if v == "epoch" else _("seconds"),
        )
        y = st.radio(
            _("Show"),
            ("accuracy", "loss"),
            horizontal=True,
            key=f"{key}-y",
            format_func=lambda v: _("held-out accuracy") if v == "accuracy" else _("held-out loss"),
        )
    runs = [
        (_("batches of {size}").format(size=size), base_config(model="mlp-64", batch_size=size, epochs=5))
        for size in dict.fromkeys((a, b))
    ]
    curves = train_side_by_side(key, runs, _("Train both"), x, y)
    if not curves:
        st.caption(_("The same network learns from the same 2,000 images for 5 epochs, once per batch size."))
    else:
        st.dataframe(
            pd.DataFrame(
                {
                    _("run"): [c.label for c in curves],
                    _("steps"): [c.steps for c in curves],
                    _("seconds"): [round(c.seconds[-1], 2) if c.seconds else 0.0 for c in curves],
                    _("held-out accuracy"): [f"{c.accuracy[-1]:.1%}" if c.accuracy else "" for c in curves],
                }
            ),
            hide_index=True,
            key=f"{key}-table",
        )
    code_for_each(runs, key)


def images_per_second(key: str) -> None:
    state = f"{key}-speeds"
    sizes = (8, 32, 128, 512)
    if st.button(_("Time one epoch at each batch size"), type="primary", key=f"{key}-run"):
        split = learning_split()
        st.session_state[state] = [
            (size, train(base_config(model="mlp-64", batch_size=size, epochs=1, val_size=0), split)) for size in sizes
        ]
    results = st.session_state.get(state)
    for size in sizes:
        view.code_behind(base_config(model="mlp-64", batch_size=size, epochs=1, val_size=0), f"{key}-code-{size}")
    if results is None:
        st.caption(_("One epoch of the same 2,000 images through the same network, at four batch sizes."))
        return
    fig = go.Figure(
        go.Bar(
            x=[str(size) for size, _r in results],
            y=[r.images_per_s for _s, r in results],
            marker_color=charts.PALETTE[0],
            text=[f"{r.images_per_s:,.0f}" for _s, r in results],
        )
    )
    charts.style(fig, _("Images trained on per second"), _("batch size"), _("images per second"))
    st.plotly_chart(
        fig,
        key=f"{key}-chart",
        config={"displayModeBar": False},
        alt=_("A bar per batch size: how many images per second one epoch went through."),
    )
    st.caption(
        " · ".join(
            _("batches of {size}: {steps} steps in {seconds:.2f} s").format(
                size=size, steps=math.ceil(r.n_train / size), seconds=r.seconds
            )
            for size, r in results
        )
    )


LESSON = Lesson(
    slug="batches",
    title=N_("Batch size and epochs"),
    summary=N_("How many images the network reads before each correction, and how often it reads them all."),
    tutorials=("003",),
    recipe="tutorial-cnn-small",
    steps=(
        Step(
            title=N_("A batch, and the steps of an epoch"),
            text=N_(
                "The network does not correct itself after every image: it reads a **batch** of them and makes one "
                "correction from their average loss. One pass over every training image is an **epoch**, so an "
                "epoch takes as many steps as there are batches."
            ),
            widget=a_batch,
            guess=Guess(
                question=N_("2,000 images in batches of 8: how many steps make one epoch?"),
                choices=(N_("8"), N_("250"), N_("2,000")),
                answer=1,
                why=N_("2,000 ÷ 8 = 250 batches, one step each."),
            ),
            alt=N_("The handwritten digits of the first batch."),
        ),
        Step(
            title=N_("Every epoch, a new shuffle"),
            text=N_(
                "Each epoch shows the network every training image exactly once, but in a fresh random order, so "
                "its batches are never the same twice."
            ),
            widget=epochs_shuffled,
            guess=Guess(
                question=N_("Does the second epoch show the images in the same order as the first?"),
                choices=(N_("Yes, the same order"), N_("No, they are shuffled again"), N_("It skips some images")),
                answer=1,
                why=N_("Every image once per epoch, in a new order each time."),
            ),
            alt=N_("The first eight digits of three epochs: a different eight each time."),
        ),
        Step(
            title=N_("Small batches and big batches"),
            text=N_(
                "Small batches make many small, noisy corrections per epoch; big ones make few, steadier ones. "
                "Train the same network with two batch sizes and compare them by epochs, then by seconds."
            ),
            widget=two_sizes,
            guess=Guess(
                question=N_("After the same 5 epochs, which batch size scores better: 8 or 256?"),
                choices=(N_("8"), N_("256"), N_("The same")),
                answer=0,
                why=N_("With batches of 8 the network makes 32 times as many corrections in the same epochs."),
            ),
            alt=N_("Held-out accuracy or loss after each epoch for two batch sizes, by epochs or by seconds."),
        ),
        Step(
            title=N_("Bigger batches go through images faster"),
            text=N_(
                "A step has a fixed cost on top of the work per image, and a big batch pays it once for many "
                "images. So a big batch gets through an epoch sooner, even if it learns less per epoch."
            ),
            widget=images_per_second,
            guess=Guess(
                question=N_("Which batch size goes through the most images per second?"),
                choices=(N_("8"), N_("32"), N_("512")),
                answer=2,
                why=N_("Fewer steps for the same images: less fixed cost per image."),
            ),
            alt=N_("A bar per batch size: images per second over one epoch."),
        ),
    ),
)
