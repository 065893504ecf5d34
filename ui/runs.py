"""Training runs in the app: the server's one job queue, this session's run, how the last one ended, the saved
models."""

from __future__ import annotations

import re

import streamlit as st

from mnist_core.classroom.jobs import Job, JobQueue
from mnist_core.i18n import _
from mnist_core.store.checkpoints import Checkpoint, list_checkpoints


@st.cache_resource
def job_queue() -> JobQueue:
    """One queue for the whole server, so a refreshed tab or another page finds the same runs."""
    return JobQueue()


def own_job() -> Job | None:
    """This session's training run: the one it started, or the one the Train page's address names (?run=)."""
    return job_queue().get(st.session_state.get("train_job") or st.query_params.get("run"))


def last_run_line(job: Job | None) -> str | None:
    """How the last run ended, in one line for the sidebar."""
    if job is None:
        return None
    if job.status == "failed":
        return _("Last run failed: {reason}").format(reason=_plain(job.error or _("no reason given"), 160))
    summary = job.summary
    if summary is None or summary.accuracy is None:  # stopped before its first step: nothing to score or save
        return _("Last run: stopped before it had learned anything (nothing was saved)")
    if job.status == "stopped":
        return _("Last run: stopped early, {accuracy:.2%} test accuracy").format(accuracy=summary.accuracy)
    return _("Last run: done, {accuracy:.2%} test accuracy").format(accuracy=summary.accuracy)


def _plain(text: str, limit: int) -> str:
    """`text` on one line, at most `limit` characters, shown as written (no Markdown)."""
    text = " ".join(text.split())
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return re.sub(r"([\\`*_[\]<>$~|])", r"\\\1", text)


def checkpoints() -> list[Checkpoint]:
    return list_checkpoints()
