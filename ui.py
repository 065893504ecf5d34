"""The few helpers every page shares: cached data, the job queue, the chosen dataset, chart styling.

Pages stay thin views over mnist_core; anything here is about Streamlit, never about training.
"""
from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from mnist_core.checkpoints import Checkpoint, list_checkpoints
from mnist_core.data import SOURCES, DataError, Source, load_source
from mnist_core.jobs import Job, JobQueue
from mnist_core.training import describe_device, resolve_device

FOLDER = "folder"
DATASET_LABELS = {**SOURCES, FOLDER: "A folder of MNIST idx files…"}


@st.cache_resource(show_spinner="Loading the dataset…")
def _load(key: str) -> Source:
    # cache_resource, not cache_data: the tensors are shared, not unpickled afresh on every rerun.
    return load_source(key)


@st.cache_resource
def job_queue() -> JobQueue:
    """One queue for the whole server, so a refreshed tab or another page finds the same runs."""
    return JobQueue()


@st.cache_resource
def device_label() -> str:
    return describe_device(resolve_device("auto"))


def dataset_key() -> str:
    choice = st.session_state.get("dataset", "mnist")
    if choice == FOLDER:
        return (st.session_state.get("dataset_folder") or "").strip()
    return choice


def current_source() -> Source | None:
    """The dataset chosen in the sidebar, or None after showing why it cannot be used."""
    key = dataset_key()
    if not key:
        st.info("Type the path of a folder holding MNIST idx files in the sidebar.")
        return None
    try:
        source = _load(key)
    except DataError as e:
        st.error(f"This dataset cannot be used: {e}")
        return None
    if source.notice:
        st.info(source.notice, icon=":material/cloud_off:")
    return source


def checkpoints() -> list[Checkpoint]:
    return list_checkpoints()


def style(fig: go.Figure, title: str, x: str, y: str, height: int = 320) -> go.Figure:
    """Every chart gets a title, axis labels and the same compact margins."""
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, height=height,
                      margin=dict(l=10, r=10, t=50, b=10), legend=dict(orientation="h", y=-0.25))
    return fig


# Margins for charts that are redrawn with new data (live training curves, the Draw page's probabilities):
# set once instead of measured from the tick labels, so a redraw keeps its layout and plotly skips that pass.
FIXED_MARGIN = dict(l=64, r=12, t=50, b=50)


def fixed_margins(fig: go.Figure) -> go.Figure:
    fig.update_xaxes(automargin=False)
    fig.update_yaxes(automargin=False)
    return fig.update_layout(margin=FIXED_MARGIN)


def own_job() -> Job | None:
    """This session's training run: the one it started, or the one the Train page's address names (?run=)."""
    return job_queue().get(st.session_state.get("train_job") or st.query_params.get("run"))


def owner() -> str:
    """Who started a job: this browser connection (kept with the run for the record, not as a secret)."""
    return st.context.headers.get("Sec-Websocket-Key", "")
