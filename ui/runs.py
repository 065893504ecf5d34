"""Training runs in the app: the server's one job queue, this session's run, how the last one ended, the saved
models."""

from __future__ import annotations

import streamlit as st

from mnist_core.classroom.jobs import Job, JobQueue
from mnist_core.data.folders import allowed_folders
from mnist_core.i18n import _
from mnist_core.store.checkpoints import Checkpoint, list_checkpoints
from mnist_core.store.collections import default_root
from ui.identity import person
from ui.server import shared_server
from ui.text import plain


@st.cache_resource
def job_queue() -> JobQueue:
    """One queue for the whole server, so a refreshed tab or another page finds the same runs."""
    return JobQueue()


def own_job() -> Job | None:
    """This session's training run: the one it started, or the one the address names (?run=) when it is this
    person's (on a learner's own computer every run is: each tab is the same person)."""
    queue = job_queue()
    job = queue.get(st.session_state.get("train_job"))
    if job is None:
        job = linked_job()
    return job if job is not None and is_mine(job) else None


def linked_job() -> Job | None:
    """The run the address names (?run=), whoever started it: a shared link shows it, read-only to others."""
    return job_queue().get(st.query_params.get("run"))


def is_mine(job: Job) -> bool:
    """Whether this session's person started `job`: on a shared server only their own browser did (the teacher
    may stop it, but it does not become theirs: their own Start stays free)."""
    return not shared_server() or (bool(job.owner) and job.owner == person().id)


def whose_run_line(job: Job) -> str:
    """For someone watching another person's run through its link: whose it is, and that they can start their own."""
    if job.owner_name:
        return _(
            "This is {name}'s run: you can watch it here, and train your own with **Start training** (the settings "
            "above are theirs; change any you like)."
        ).format(name=plain(job.owner_name, 40))
    return _(
        "This is another student's run: you can watch it here, and train your own with **Start training** (the "
        "settings above are theirs; change any you like)."
    )


def last_run_line(job: Job | None) -> str | None:
    """How the last run ended, in one line for the sidebar."""
    if job is None:
        return None
    if job.status == "failed":
        return _("Last run failed: {reason}").format(reason=plain(job.error_text or _("no reason given"), 160))
    summary = job.summary
    if summary is None or summary.accuracy is None:  # stopped before its first step: nothing to score or save
        return _("Last run: stopped before it had learned anything (nothing was saved)")
    if job.status == "stopped":
        return _("Last run: stopped early, {accuracy:.2%} test accuracy").format(accuracy=summary.accuracy)
    return _("Last run: done, {accuracy:.2%} test accuracy").format(accuracy=summary.accuracy)


def checkpoints() -> list[Checkpoint]:
    return list_checkpoints()


def replay_folders() -> tuple[str, ...] | None:
    """The folders a fine-tune may replay its parent's data from besides the app's own datasets: on a shared server
    the host's allowed folders and the My digits collections (a parent's record may come from an upload), on a
    learner's own computer any (None)."""
    if not shared_server():
        return None
    return tuple(str(p) for p in (*allowed_folders(), default_root().resolve()))
