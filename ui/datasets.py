"""The dataset the sidebar chooses: its choices and labels, loading it once per server, and the line that says
which data is really in use."""

from __future__ import annotations

import threading
from contextvars import ContextVar
from pathlib import Path

import streamlit as st

from mnist_core.data.folders import allowed_folders, check_folder
from mnist_core.data.sources import DIGITS, SOURCES, DataError, Source, is_image_folder, load_source
from mnist_core.i18n import N_, _
from mnist_core.store.collections import Collection, CollectionError, collection_names
from ui.server import shared_server

FOLDER = "folder"
MY = "my:"  # a sidebar choice "my:<name>" is the My digits collection <name>
DATASET_LABELS = {**SOURCES, FOLDER: N_("A folder of MNIST files or of digit folders…")}


def folder_choice_offered() -> bool:
    """Whether the sidebar offers a folder of the server's as a dataset: always on a learner's own computer, on a
    shared server only where the host allowed folders ($DIGIT_LAB_DATA_FOLDERS)."""
    return not shared_server() or bool(allowed_folders())


def dataset_choices() -> list[str]:
    return [*SOURCES, *(MY + name for name in collection_names()), *([FOLDER] if folder_choice_offered() else [])]


def dataset_label(choice: str) -> str:
    if choice.startswith(MY):
        return _("My digits: {name}").format(name=choice[len(MY) :])
    return _(DATASET_LABELS.get(choice, choice))


@st.cache_resource(show_spinner=False, max_entries=8)
def _load(key: str, version: tuple | None) -> Source:
    # cache_resource, not cache_data: the tensors are shared, not unpickled afresh on every rerun.
    return load_source(key)


def _version(key: str) -> tuple | None:
    """A folder of digit folders changes while the server runs (drawings kept, deleted): its folders' times."""
    if key in SOURCES or not is_image_folder(key):
        return None
    return tuple((Path(key) / d).stat().st_mtime_ns if (Path(key) / d).is_dir() else 0 for d in DIGITS)


def dataset_key() -> str:
    choice = st.session_state.get("dataset", "mnist")
    if choice == FOLDER:
        return (st.session_state.get("dataset_folder") or "").strip()
    if choice.startswith(MY):
        return str(Collection(choice[len(MY) :]).path)
    return choice


# Room under the sidebar's dataset box, made afresh by every run of the app script (a script run has a thread of
# its own, so a ContextVar holds this run's room). The sidebar is drawn before the page loads the data, so the page
# fills it in: loading there too would hold up pages that need no data (Home) while a download is tried.
_in_use_room: ContextVar = ContextVar("dataset_in_use_room", default=None)


def dataset_in_use_room() -> None:
    """Keep room here (under the dataset box) for the line current_source() writes when the data differs."""
    _in_use_room.set(st.empty())


def in_use_line(choice: str, source: Source) -> str | None:
    """A line saying which data is really in use when it is not what the sidebar's box names (full MNIST chosen,
    the offline sample loaded), else None."""
    if choice not in SOURCES or source.key == choice:
        return None
    n = sum(len(part) for part in (source.train, source.test) if part is not None)
    wanted = _(DATASET_LABELS[choice]).split(" (")[0].split("（")[0]
    return ":material/cloud_off: " + _(
        "In use instead: **{title}**, {n:,} images ({wanted} could not be loaded)"
    ).format(title=_(source.title), n=n, wanted=wanted)


def split_label(name: str) -> str:
    """A split's name ("MNIST sample / test", kept in English in records) in this run's language."""
    return " / ".join(_(part) for part in name.split(" / "))


_warming = threading.Lock()  # held for good once the warm-up has started: once per server


def warm_up() -> None:
    """Load the default dataset and the charting library in the background the first time anyone opens the app,
    so that the pages showing data (Explore above all) are quick on their first visit too."""
    if _warming.acquire(blocking=False):
        threading.Thread(target=_warm, name="digit-lab-data", daemon=True).start()


def _warm() -> None:
    try:
        _load("mnist", None)
        import plotly.graph_objects as go

        go.Figure(go.Bar(x=[0], y=[0]))  # plotly builds its validators on the first figure
        import sklearn.decomposition  # noqa: F401  (Explore's PCA map)
    except Exception:  # the page that needs the data loads it again and says what is wrong
        pass


def load_dataset(key: str) -> Source:
    """A dataset by its key (see data.load_source), loaded once per server and again when its folder changes."""
    with st.spinner(_("Loading the dataset…"), show_time=False):
        return _load(key, _version(key))


def current_source() -> Source | None:
    """The dataset chosen in the sidebar, or None after showing why it cannot be used."""
    key = dataset_key()
    if not key:
        st.info(_("Type the path of a folder holding MNIST idx files in the sidebar."))
        return None
    try:
        if st.session_state.get("dataset") == FOLDER and shared_server():
            key = str(check_folder(key, allowed_folders()))
        source = load_dataset(key)
    except (DataError, CollectionError, OSError) as e:
        st.error(_("This dataset cannot be used: {reason}").format(reason=e))
        return None
    if source.notice:
        st.info(source.notice, icon=":material/cloud_off:")
    room, line = _in_use_room.get(), in_use_line(st.session_state.get("dataset", "mnist"), source)
    if room is not None and line is not None:
        room.caption(line)
    return source
