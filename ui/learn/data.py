"""The images every lesson works on: MNIST as the sidebar loads it (the bundled sample when full MNIST cannot be
found), whatever dataset the sidebar names, since lessons are about handwritten digits."""

from __future__ import annotations

import streamlit as st

from mnist_core.data.sources import Source, Split
from mnist_core.i18n import _
from ui import datasets


def lesson_source() -> Source:
    return datasets.load_dataset("mnist")


def sample_line() -> None:
    """Say once, on the lessons list, when the lessons use the bundled sample instead of full MNIST."""
    if lesson_source().key != "mnist":
        st.caption(
            ":material/cloud_off: "
            + _(
                "The lessons use the bundled sample of {n:,} real MNIST digits: full MNIST is not on this computer."
            ).format(n=sum(len(s) for s in (lesson_source().train, lesson_source().test) if s is not None))
        )


def splits() -> tuple[Split, Split]:
    """The images lessons train on, and the ones kept apart to score on."""
    source = lesson_source()
    return source.split(source.training_split), source.split("test" if source.test is not None else "all")


def learning_split() -> Split:
    return splits()[0]


def held_out_split() -> Split:
    return splits()[1]
