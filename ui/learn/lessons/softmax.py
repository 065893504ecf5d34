"""Lesson: scores become probabilities (tutorial 001's worked example, softmax of [1, 5, 3])."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from mnist_core.i18n import N_, _
from mnist_core.lessons.basics import logits, softmax
from ui import charts
from ui.learn.data import splits
from ui.learn.lesson import Guess, Lesson, Step
from ui.learn.lessons.layer import shared_linear, train_linear

TUTORIAL_SCORES = (1.0, 5.0, 3.0)  # tutorial 001's three output values
NO_MENUS = {"displayModeBar": False}


def score_sliders(key: str, n: int = 3) -> list[float]:
    return [
        st.slider(_("Score {i}").format(i=i), -10.0, 10.0, TUTORIAL_SCORES[i], 0.5, key=f"{key}-z{i}") for i in range(n)
    ]


def probability_bars(groups: dict[str, np.ndarray], title: str, alt: str, names=None) -> None:
    """One bar per class and group, labelled with its probability."""
    fig = go.Figure()
    for i, (name, p) in enumerate(groups.items()):
        fig.add_bar(
            x=names or [str(k) for k in range(len(p))],
            y=p,
            name=name,
            text=[f"{v:.3f}" for v in p],
            marker_color=charts.PALETTE[i],
        )
    fig.update_yaxes(range=[0, 1.05])
    fig.update_xaxes(type="category")  # every class labelled, none read as a number line
    fig.update_layout(showlegend=len(groups) > 1)
    charts.style(fig, title, "", _("probability"), 300)
    st.plotly_chart(fig, config=NO_MENUS, alt=alt)


def three_scores(key: str) -> None:
    z = score_sliders(key)
    p = softmax(z)
    probability_bars(
        {_("softmax"): p},
        _("torch.softmax of the scores"),
        _("Bars: the probability softmax gives each score; they add up to 1."),
        names=[_("score {i}").format(i=i) for i in range(3)],
    )
    total = sum(math.exp(v) for v in z)
    st.dataframe(
        pd.DataFrame(
            {
                _("score"): z,
                _("e to the score"): [math.exp(v) for v in z],
                _("its share of the sum"): p,
            }
        ).round(3),
        hide_index=True,
    )
    st.markdown(
        _("Sum of the e-powers: {total:.3f} · the probabilities add up to {sum:.3f}").format(
            total=total, sum=float(p.sum())
        )
    )


def shift(key: str) -> None:
    by = st.slider(_("Add to every score"), -10.0, 10.0, 10.0, 0.5, key=f"{key}-by")
    z = np.array(TUTORIAL_SCORES)
    probability_bars(
        {
            _("scores {z}").format(z=" ".join(f"{v:g}" for v in z)): softmax(z),
            _("scores {z}").format(z=" ".join(f"{v:g}" for v in z + by)): softmax(z + by),
        },
        _("Softmax before and after adding {by:g}").format(by=by),
        _("Two groups of bars, before and after the shift: they are the same heights."),
    )
    st.caption(
        _("Largest change in any probability: {d:.2g}").format(d=float(np.abs(softmax(z + by) - softmax(z)).max()))
    )


def scale(key: str) -> None:
    by = st.slider(_("Multiply every score by"), 0.0, 4.0, 2.0, 0.25, key=f"{key}-by")
    z = np.array(TUTORIAL_SCORES)
    probability_bars(
        {
            _("scores {z}").format(z=" ".join(f"{v:g}" for v in z)): softmax(z),
            _("scores {z}").format(z=" ".join(f"{v:g}" for v in z * by)): softmax(z * by),
        },
        _("Softmax before and after multiplying by {by:g}").format(by=by),
        _("Two groups of bars, before and after scaling the scores."),
    )


def real_scores(key: str) -> None:
    learn, held = splits()
    model = shared_linear()
    if model is None:
        st.info(_("This needs a trained network: press Train to train the 784 -> 10 layer of the layer lesson."))
        train_linear(key, learn, held)
        model = shared_linear()
        if model is None:
            return
    index = st.slider(_("Which held-out image"), 0, len(held) - 1, 0, key=f"{key}-image")
    label = int(held.labels[index])
    z = logits(model, held.images[index][None])[0].numpy()
    p = softmax(z)
    st.image(
        np.repeat(255 - held.images[index].numpy()[..., None], 3, -1).repeat(4, 0).repeat(4, 1),
        caption=_("A held-out {label}").format(label=label),
    )
    fig = go.Figure(go.Bar(x=[str(d) for d in range(10)], y=z, text=[f"{v:.1f}" for v in z]))
    fig.update_xaxes(type="category")
    charts.style(fig, _("The layer's ten scores (logits)"), _("digit"), _("score"), 260)
    st.plotly_chart(fig, config=NO_MENUS, alt=_("Ten bars: the network's raw score for each digit."))
    probability_bars(
        {_("softmax"): p},
        _("The same scores after softmax"),
        _("Ten bars: the probability of each digit; they add up to 1."),
    )
    answer = int(p.argmax())
    st.markdown(
        _("Its answer: **{answer}**, {p:.1%} sure. The right digit, {label}, gets {q:.1%}.").format(
            answer=answer, p=float(p[answer]), label=label, q=float(p[label])
        )
    )


LESSON = Lesson(
    slug="softmax",
    title=N_("Scores become probabilities"),
    summary=N_("How softmax turns the last layer's ten scores into how sure the network is."),
    tutorials=("001",),
    recipe="tutorial-mlp-adam",
    steps=(
        Step(
            title=N_("Softmax: scores into probabilities"),
            text=N_(
                "The last layer gives each digit a score, any number at all. Softmax raises e to each score and "
                "divides by their sum: every result lies between 0 and 1, and together they make 1. Tutorial "
                "001 does this by hand for three scores, 1, 5 and 3."
            ),
            widget=three_scores,
            guess=Guess(
                question=N_("For the scores 1, 5 and 3, about what probability does the 5 get?"),
                choices=(N_("0.56, its share of 1 + 5 + 3"), N_("0.87"), N_("1, since it is the largest")),
                answer=1,
                why=N_("e to the 5 is far bigger than e to the 1 or e to the 3, so the largest score wins by more."),
            ),
            alt=N_("Bars: the probability softmax gives each score; they add up to 1."),
        ),
        Step(
            title=N_("Only the differences count"),
            text=N_(
                "Softmax only looks at how far apart the scores are. Adding the same number to every score "
                "multiplies every e-power by the same amount, and that cancels in the division."
            ),
            widget=shift,
            guess=Guess(
                question=N_("If every score goes up by 10, what happens to the probabilities?"),
                choices=(N_("They all grow"), N_("They stay the same"), N_("They become equal")),
                answer=1,
                why=N_("e to (score + 10) is e to the score times e to the 10, in every term: it cancels."),
            ),
            alt=N_("Two groups of bars, before and after the shift: they are the same heights."),
        ),
        Step(
            title=N_("Bigger gaps, surer answers"),
            text=N_(
                "Multiplying the scores does change things: it widens the gaps between them. The largest score "
                "then takes more of the probability, and at 0 every score is equal."
            ),
            widget=scale,
            guess=Guess(
                question=N_("If every score is doubled, what happens to the largest probability?"),
                choices=(N_("It stays 0.867"), N_("It grows towards 1"), N_("It doubles")),
                answer=1,
                why=N_("The gaps double, so the winner pulls further ahead; a probability can never pass 1."),
            ),
            alt=N_("Two groups of bars, before and after scaling the scores."),
        ),
        Step(
            title=N_("Ten real scores"),
            text=N_(
                "Here are the ten scores the trained 784 -> 10 layer gives a real held-out digit, and what "
                "softmax makes of them. The network's answer is the digit with the highest probability."
            ),
            widget=real_scores,
            alt=N_("A held-out digit, the network's ten scores and their probabilities."),
        ),
    ),
)
