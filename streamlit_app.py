"""Digit Lab: explore MNIST, train a network and watch it learn, evaluate it, draw a digit for it."""

import streamlit as st

from mnist_core.classroom.jobs import Status
from mnist_core.data import folders
from mnist_core.i18n import _
from ui import datasets, identity, language, runs, server

st.set_page_config(page_title="Digit Lab", page_icon=":material/draw:", layout="wide")
language.use_language()
datasets.warm_up()


def home():
    st.title("Digit Lab")
    st.markdown(
        _(
            "Digit Lab lets you **look at thousands of handwritten digits, train a neural network on them and "
            "watch it learn, live**. Then see where it goes wrong, and draw your own digit for it to read."
        )
        + "\n\n"
        + _(
            "Start with **Explore** to see the data, then **Train** (the fast preset takes under a minute), "
            "**Evaluate** to inspect mistakes, and **Draw** to test it with your own handwriting. **Inside** shows "
            "what the network sees in a digit and why it answers what it answers."
        )
        + " "
        + _("New to neural networks? **Learn** takes you through them in short lessons that you do, not read.")
    )
    with st.container(horizontal=True, key="home_links"):  # as wide as their labels, wrapping on a phone
        for page, label, icon in [
            ("app_pages/learn.py", _("Learn step by step"), ":material/school:"),
            ("app_pages/explore.py", _("Explore the data"), ":material/search:"),
            ("app_pages/train.py", _("Train a model"), ":material/model_training:"),
            ("app_pages/evaluate.py", _("Evaluate it"), ":material/analytics:"),
            ("app_pages/draw.py", _("Draw a digit"), ":material/draw:"),
            ("app_pages/inside.py", _("Look inside"), ":material/neurology:"),
        ]:
            st.page_link(page, label=label, icon=icon)


def training_line() -> None:
    queue = runs.job_queue()
    jobs = queue.jobs()
    if st.session_state.get("sidebar_run_active") and not any(j.active for j in jobs):
        # The run this line was following has ended: redraw the whole page once, so its model lists show the
        # new model and this line's timer (set when the page was drawn) stops.
        st.session_state["sidebar_run_active"] = False
        st.rerun()
    running = queue.running_jobs()
    waiting = sum(j.status == Status.QUEUED for j in jobs)
    if len(running) > 1:
        st.caption(
            _("{n} runs training").format(n=len(running)) + (_(" · {n} waiting").format(n=waiting) if waiting else "")
        )
    elif running:
        running = running[0]
        last = running.last  # the step count moves at every redraw, even when the percentage cannot (long runs)
        steps = (
            _(" · step {step:,} of {total:,}").format(step=last.step, total=last.total_steps)
            if last is not None and last.total_steps
            else ""
        )
        st.progress(
            running.progress(),
            text=_("Training {model}: {percent:.0%}").format(model=running.config.model, percent=running.progress())
            + steps
            + (_(" · {n} waiting").format(n=waiting) if waiting else ""),
        )
    elif waiting:
        st.caption(_("Training starts in a moment…"))
    elif (line := runs.last_run_line(queue.last_ended())) is not None:
        st.caption(line)


train_page = st.Page("app_pages/train.py", title=_("Train"), icon=":material/model_training:")
pages = [
    st.Page(home, title=_("Home"), icon=":material/home:", default=True),
    st.Page("app_pages/learn.py", title=_("Learn"), icon=":material/school:"),
    st.Page("app_pages/explore.py", title=_("Explore"), icon=":material/search:"),
    train_page,
    st.Page("app_pages/evaluate.py", title=_("Evaluate"), icon=":material/analytics:"),
    st.Page("app_pages/draw.py", title=_("Draw"), icon=":material/draw:"),
    st.Page("app_pages/my_digits.py", title=_("My digits"), icon=":material/collections_bookmark:"),
    st.Page("app_pages/inside.py", title=_("Inside"), icon=":material/neurology:"),
]
nav = st.navigation(pages)

with st.sidebar:
    language.language_switch()
    language.translate_builtin_texts()
    choices = datasets.dataset_choices()
    if st.session_state.get("dataset") not in choices:  # e.g. a My digits collection deleted meanwhile
        st.session_state.pop("dataset", None)
    st.selectbox(
        _("Dataset"),
        choices,
        format_func=datasets.dataset_label,
        key="dataset",
        help=_(
            "Which images to explore and train on. MNIST falls back to the bundled 5,000-digit "
            "sample when it cannot be found or downloaded. Your kept drawings are listed as My digits."
        ),
    )
    if st.session_state.get("dataset") == datasets.FOLDER:
        st.text_input(
            _("Folder path"),
            key="dataset_folder",
            placeholder="/path/to/MNIST/raw",
            help=_(
                "A folder with train-images-idx3-ubyte[.gz] and/or t10k-images-idx3-ubyte[.gz] files, or one "
                "with digit folders 0/ to 9/ of images (photos, scans, drawings)."
            ),
        )
        if server.shared_server():
            st.caption(_("This server opens folders inside: ") + ", ".join(f"`{p}`" for p in folders.allowed_folders()))
    datasets.dataset_in_use_room()
    identity.who_box()
    identity.keep_cookie()
    st.caption(server.mode_line())
    st.caption(_("Computing on: **{device}**").format(device=server.device_label()))
    # Every page shows the run's state; while one is active the line redraws itself every two seconds, also
    # on pages that otherwise never rerun (Explore, Evaluate). Not beside the Train page's own live view of
    # this session's run: each redraw costs the browser a page re-render, CPU that training shares.
    active = any(j.active for j in runs.job_queue().jobs())
    own = runs.own_job()
    if nav.url_path == train_page.url_path and own is not None and own.active:
        st.caption(_("Training: your run's progress shows on this page."))
    else:
        st.session_state["sidebar_run_active"] = active
        language.fragment(run_every=2.0 if active else None)(training_line)()

# Streamlit drops the address's ?run= when the page changes: put it back on every page while this session's run
# goes on, so a refresh anywhere finds the run again (the new session reads it here, the Train page shows it).
# Only its own run (runs.own_job): a run watched through someone else's link is not carried to other pages.
if own is not None:
    st.session_state["train_job"] = own.id
    if own.active:
        st.query_params["run"] = own.id

nav.run()
