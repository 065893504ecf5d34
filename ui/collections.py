"""This browser session's My digits collection, and the name a new one gets."""

from __future__ import annotations

import streamlit as st

from mnist_core.store.collections import DEFAULT_NAME, Collection, CollectionError, check_name
from ui.identity import person
from ui.server import shared_server


def my_collection() -> Collection:
    """This browser session's collection of kept drawings (named on the My digits page)."""
    try:
        return Collection(st.session_state.get("my_digits_name") or default_collection_name())
    except CollectionError:
        return Collection(default_collection_name())


def default_collection_name() -> str:
    """ "my-digits" on a learner's own computer; on a shared server one per browser (the name its student typed,
    else "my-digits-" and a few letters of its id), since a collection belongs to whoever keeps in it first."""
    if not shared_server():
        return DEFAULT_NAME
    me = person()
    try:
        return check_name(me.name) if me.name else f"{DEFAULT_NAME}-{me.id[:6]}"
    except CollectionError:
        return f"{DEFAULT_NAME}-{me.id[:6]}"
