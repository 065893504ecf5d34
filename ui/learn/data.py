"""The images every lesson works on: MNIST as the sidebar loads it (the bundled sample when full MNIST cannot be
found), whatever dataset the sidebar names, since lessons are about handwritten digits."""

from __future__ import annotations

import streamlit as st

from mnist_core.data.sources import Source, Split
from ui import datasets


def lesson_source() -> Source:
    source = datasets.load_dataset("mnist")
    if source.notice:
        st.caption(":material/cloud_off: " + source.notice)
    return source


def learning_split() -> Split:
    """The images lessons train on."""
    return lesson_source().split("train" if lesson_source().train is not None else "all")


def held_out_split() -> Split:
    """Images kept apart from training, to score on."""
    source = lesson_source()
    return source.split("test" if source.test is not None else "all")
