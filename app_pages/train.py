"""Train: pick a preset or set the knobs, start a run, watch it learn live, stop it any time."""

from dataclasses import replace

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from mnist_core import i18n
from mnist_core.classroom.jobs import Status
from mnist_core.data.sources import DataError
from mnist_core.i18n import _, ngettext
from mnist_core.learning import knobs
from mnist_core.learning.config import ConfigError
from mnist_core.learning.models import MODELS, count_parameters
from mnist_core.learning.recipes import RECIPES, recipe_config
from mnist_core.runs.train import planned_steps
from mnist_core.store.collections import Collection, CollectionError, collection_names
from ui import charts, collections, controls, datasets, identity, language, pytorch_code, quotas, runs
from ui.history import curves, format_eta
from ui.text import chart_text

st.title(_("Train a model"))
source = datasets.current_source()
if source is None:
    st.stop()
queue = runs.job_queue()
queue.warm()  # start the training workers now, so a run starts soon after Start is pressed
split = source.training_split
n_train_all = len(source.split(split))
limits = knobs.Limits(min_train_size=min(500, n_train_all), max_train_size=n_train_all)
# How often the live view redraws while a run goes on: each redraw costs the browser CPU time that, on a small
# machine, comes out of training (measured by benchmarks/app_vs_cli.py; figures in docs/performance.md).
LIVE_EVERY_S = 4.0


def apply_recipe(slug: str) -> None:
    """Copy a preset into the widgets (runs as a callback, before the widgets are drawn)."""
    preset = knobs.settings_from_config(recipe_config(slug), limits, preset_only=True)
    st.session_state.update(controls.widget_state(preset))


if controls.key(knobs.RECIPE) not in st.session_state:  # a new session: start from the link's settings, if it has any
    link, st.session_state["train_link_problems"] = knobs.settings_from_link(
        st.query_params, n_train_all, limits.min_train_size
    )
    st.session_state.update(
        controls.widget_state(knobs.settings_from_config(recipe_config(link.get("recipe", "fast")), limits))
    )
    st.session_state.update(controls.widget_state(link))
if st.session_state.get("train_link_problems"):
    st.warning(
        _("Some settings in this page's link could not be used, so the preset's values are shown instead:")
        + "\n\n"
        + "\n".join(f"- {p}" for p in st.session_state["train_link_problems"]),
        icon=":material/link_off:",
    )
for knob in knobs.KNOBS:  # the dataset may have changed since a control was last drawn: keep it inside its range
    value = st.session_state.get(controls.key(knob))
    if value is not None and knob.nearest(value, limits) != value:
        st.session_state[controls.key(knob)] = knob.nearest(value, limits)

st.subheader(_("1 · Pick a recipe"))
st.caption(
    _(
        "Each preset is a complete recipe from one of the classic PyTorch tutorials. One click fills in the "
        "controls below; change anything you like afterwards. Hover over one to read what it is."
    )
)
recipes = list(RECIPES.values())
for row in range(0, len(recipes), 3):  # three to a row: the titles show in full beside the sidebar
    for col, r in zip(st.columns(3), recipes[row : row + 3]):
        chosen = st.session_state[controls.key(knobs.RECIPE)] == r.slug
        col.button(
            _(r.title),
            key=f"recipe_{r.slug}",
            help=_(r.description),
            on_click=apply_recipe,
            args=(r.slug,),
            width="stretch",
            wrap=True,
            type="primary" if chosen else "secondary",
        )
current = RECIPES[st.session_state[controls.key(knobs.RECIPE)]]
st.caption(
    _("Current recipe: **{title}** — {description}").format(title=_(current.title), description=_(current.description))
)


def draw(knob: knobs.Knob):
    """One knob's control, as its row in mnist_core/learning/knobs.py describes it. persist_state="session": the knobs
    keep their values while the user visits other pages."""
    common = dict(key=controls.key(knob), help=_(knob.help), persist_state="session")
    allowed = knob.allowed(limits)
    label = _(knob.label)
    if knob.widget == "select":  # model titles are translated; ids such as "adamw" are not in the catalog
        return st.selectbox(label, allowed, format_func=lambda value: _(knob.show(value)), **common)
    if knob.widget == "stops":
        return st.select_slider(label, allowed, format_func=knob.show, **common)
    if knob.widget == "toggle":
        return st.toggle(label, **common)
    if knob.widget == "slider":
        return st.slider(label, allowed[0], allowed[-1], step=knob.step(limits), **common)
    return int(st.number_input(label, allowed[0], allowed[-1], **common))


st.subheader(_("2 · Adjust the knobs"))
settings = {knobs.RECIPE.name: st.session_state[controls.key(knobs.RECIPE)]}
columns = st.columns(2)
for knob in knobs.KNOBS:
    if knob.widget != "buttons":
        with columns[controls.column(knob)]:
            settings[knob.name] = draw(knob)
            if knob.name == "model":
                st.caption(
                    _("{description} **{n:,} weights to learn.**").format(
                        description=_(MODELS[settings["model"]].description), n=count_parameters(settings["model"])
                    )
                )
config = knobs.config_from_settings(settings, limits)
# The address bar always holds these settings: copying it shares them, and a refresh keeps them. In another
# language than English it also holds ?lang=, so the shared link opens in the same language.
st.query_params.update(knobs.link_params(settings, language=i18n.current()))
st.caption(_("The address bar holds these settings: copy the link to share them."))
pytorch_code.show_code(config, key="train_code")  # the run Start would train, as a script to read and run

own = runs.own_job()
job = own or runs.linked_job()  # on a shared server another's run, shown read-only: its link was shared
if job is None and "run" in st.query_params:
    st.warning(
        _(
            "The training run in this link ({run}) is not on this server any more: runs are kept until the "
            "server restarts. Finished runs are saved and listed below and on **Evaluate**."
        ).format(run=st.query_params["run"][:40]),
        icon=":material/link_off:",
    )
    del st.query_params["run"]
if own is not None:  # remember it in both places: the session survives page switches, the URL a refresh
    st.session_state["train_job"] = st.query_params["run"] = own.id
busy = own is not None and own.active  # only this person's own run keeps their Start disabled
me = identity.person()
can_stop = job is not None and job.may_stop(me)
st.subheader(_("3 · Train"))
try:
    st.caption(_("Runs train on {where}; each browser session has one run at a time.").format(where=queue.describe()))
except RuntimeError as e:  # a bad DIGIT_LAB_WORKERS: the server's setting, said plainly
    st.error(_("Training is not set up right on this server: {error}").format(error=e))
b1 = b2 = st.container(horizontal=True)  # each button as wide as its label, in any language and on a phone
if b1.button(
    _("Start training"),
    key="train_start",
    icon=":material/play_arrow:",
    type="primary",
    disabled=busy,
    help=_("Train a fresh model with these settings. You can switch pages while it runs."),
):
    refusal = quotas.model_refusal(me)
    if refusal is not None:  # a shared server's limit per student: said where Start was pressed
        st.error(refusal, icon=":material/inventory_2:")
        st.stop()
    try:
        job = queue.submit(config, source, split, owner=me.id, owner_name=me.name)
    except (ConfigError, ValueError, RuntimeError) as e:  # RuntimeError: the cluster cannot be reached
        st.error(_("Cannot start: {error}").format(error=e))
        st.stop()
    st.session_state["train_job"] = job.id
    st.session_state["train_link_problems"] = []
    st.query_params["run"] = job.id  # a browser refresh finds the run again through the URL
    st.rerun()
if job is not None and not can_stop:  # someone else's run, through its link: no Stop, and say whose it is
    st.info(runs.whose_run_line(job), icon=":material/visibility:")
elif b2.button(
    _("Stop"),
    key="train_stop",
    icon=":material/stop:",
    disabled=job is None or not job.active,
    help=_("Stop after the current batch and keep what was learned."),
):
    try:
        queue.stop(job.id, by=me)
    except ValueError as e:  # NotYoursError: the engine refuses too, whatever the page shows
        st.error(_("Cannot stop: {error}").format(error=e))


# The live charts are redrawn every LIVE_EVERY_S while the browser often shares the CPU with training, so they
# are built to be cheap to redraw (see benchmarks/app_vs_cli.py): axes fixed to the whole run (the curves fill
# in left to right and the tick labels never change), margins fixed instead of measured from the labels, legends
# inside the empty corner, and no hover or zoom layers until the run is over.
def fixed_layout(fig: go.Figure, legend_corner: str) -> go.Figure:
    top = legend_corner == "top"
    legend = dict(
        orientation="v",
        x=0.99,
        xanchor="right",
        y=0.99 if top else 0.02,
        yanchor="top" if top else "bottom",
        bgcolor="rgba(255,255,255,0.7)",
    )
    return charts.fixed_margins(fig).update_layout(legend=legend)


def loss_figure(c, total_steps: int) -> go.Figure:
    fig = go.Figure()
    fig.add_scatter(  # faint, so that the noisy line stays behind the smoothed one
        x=c.step,
        y=c.loss,
        mode="lines",
        name=_("loss per batch"),
        line=dict(width=1, color=charts.PALETTE[4]),
        opacity=0.5,
    )
    fig.add_scatter(
        x=c.step, y=c.loss_smooth, mode="lines", name=_("smoothed"), line=dict(width=2, color=charts.PALETTE[0])
    )
    fig.add_scatter(x=c.epoch_step[1:], y=c.epoch_loss[1:], mode="markers", name=_("epoch mean"), marker=dict(size=9))
    charts.style(fig, _("Training loss (lower is better)"), _("training step (batches seen)"), _("cross-entropy loss"))
    fig.update_xaxes(range=[0, 1.02 * max(total_steps, int(c.step.max()) if len(c.step) else 1)])
    fig.update_yaxes(rangemode="tozero")
    return fixed_layout(fig, "top")  # the loss falls from the top left: the top right stays empty


def accuracy_figure(c, overlays: list, epochs: int) -> go.Figure:
    fig = go.Figure()
    for ckpt in overlays:
        o = curves(ckpt.record.history)
        epochs = max(epochs, int(o.epoch.max()) if len(o.epoch) else 0)
        fig.add_scatter(
            x=o.epoch,
            y=o.val_acc * 100,
            mode="lines",
            name=chart_text(_("earlier: {name}").format(name=ckpt.name)),
            line=dict(dash="dot"),
        )
    fig.add_scatter(
        x=c.epoch[1:],
        y=c.train_acc[1:] * 100,
        mode="lines+markers",
        name=_("training images"),
        line=dict(color=charts.PALETTE[1], dash="dash"),
        marker=dict(symbol="square"),
    )
    fig.add_scatter(
        x=c.epoch,
        y=c.val_acc * 100,
        mode="lines+markers",
        name=_("held-out images"),
        line=dict(color=charts.PALETTE[0]),
    )
    charts.style(
        fig, _("Accuracy per epoch (epoch 0 = before training: a random guess)"), _("epoch"), _("accuracy (%)")
    )
    fig.update_xaxes(range=[-0.3, max(epochs, 1) + 0.3], dtick=1 if epochs <= 15 else None)
    fig.update_yaxes(range=[0, 100])
    return fixed_layout(fig, "bottom")  # accuracy climbs to the top right: the bottom right stays empty


def show_charts(c, total_steps: int, epochs: int, overlays: list, key: str, static: bool) -> None:
    left, right = st.columns(2)
    chart_config = {"staticPlot": True} if static else {}
    left.plotly_chart(loss_figure(c, total_steps), key=f"loss_{key}", config=chart_config)
    right.plotly_chart(accuracy_figure(c, overlays, epochs), key=f"acc_{key}", config=chart_config)


def show_run(job_id: str, overlays: list) -> None:
    """The run's state line (queued, progress with speed and ETA, or the failure), its charts and, once it is
    over, its results."""
    j = queue.get(job_id)
    if j is None:
        return
    snap = j.snapshot()
    last = snap.last
    if j.stopping:
        st.info(_("**Stopped.** Scoring and saving what it learned…"), icon=":material/stop_circle:")
    elif snap.status == Status.QUEUED and not runs.is_mine(j):  # someone else's run, watched through its link
        st.info(
            _("This run is number {position} in line and starts by itself as soon as a computer is free.").format(
                position=queue.position(j)
            ),
            icon=":material/hourglass_top:",
        )
    elif snap.status == Status.QUEUED:
        training = len(queue.running_jobs())
        st.info(
            ngettext(
                "{n} run training now; yours is number {position} in line and starts by itself as soon as a "
                "computer is free.",
                "{n} runs training now; yours is number {position} in line and starts by itself as soon as a "
                "computer is free.",
                training,
            ).format(n=training, position=queue.position(j)),
            icon=":material/hourglass_top:",
        )
    elif snap.status == Status.RUNNING and last is None:  # its worker is loading the data and building the model
        st.progress(0.0, text=_("Starting: loading the data and building the model…"))
    elif snap.status == Status.RUNNING:
        st.progress(
            j.progress(),
            text=_("Epoch {epoch}/{epochs} · {speed:,.0f} images/s · about {eta} left").format(
                epoch=last.epoch, epochs=snap.config.epochs, speed=last.images_per_s, eta=format_eta(last.eta_s)
            ),
        )
    elif snap.status == Status.FAILED:
        st.error(_("Training failed: {error}").format(error=snap.error_text))
    if snap.status == Status.QUEUED and (note := queue.no_workers_note()):
        st.warning(note, icon=":material/report:")
    if snap.status == Status.QUEUED and (note := queue.refused_note()):
        st.warning(note, icon=":material/report:")
    show_charts(
        curves(snap.history),
        0 if last is None else last.total_steps,
        snap.config.epochs,
        overlays,
        key=job_id,
        static=j.active,
    )  # hover and zoom once the run is over
    summary = snap.summary
    if snap.finetune is not None:
        show_finetuned(snap.finetune)
    elif summary is not None and summary.accuracy is not None:
        m1, m2, m3 = st.columns(3)
        m1.metric(
            _("Test accuracy"),
            f"{summary.accuracy:.2%}",
            help=_("Measured on {where}, images the model never trained on.").format(
                where=datasets.split_label(summary.evaluated_on or "")
            ),
        )
        m2.metric(_("Training time"), _("{seconds:.1f} s").format(seconds=summary.seconds))
        m3.metric(_("Speed"), _("{speed:,.0f} images/s").format(speed=summary.images_per_s))
        st.success(
            _("Stopped early; saved as a checkpoint: open **Evaluate** or **Draw** to use it.")
            if summary.stopped
            else _("saved as a checkpoint: open **Evaluate** or **Draw** to use it.")
        )
    if not j.active and st.session_state.get("train_seen_done") != job_id:
        st.session_state["train_seen_done"] = job_id
        st.rerun()  # whole page: re-enable Start, refresh the saved-model list and the sidebar


def show_finetuned(f) -> None:
    """A fine-tuning run's result: before and after, on the learner's drawings and on the original test images."""
    m1, m2, m3 = st.columns(3)
    m1.metric(
        _("Your drawings"),
        f"{f.personal_after:.0%}",
        delta=_("{points:+.0f} points (was {before:.0%})").format(
            points=(f.personal_after - f.personal_before) * 100, before=f.personal_before
        ),
        help=_("Measured on {n} of your drawings it did not learn from.").format(n=f.n_personal_eval),
    )
    if f.reference_after is not None:
        m2.metric(
            _("Original test images"),
            f"{f.reference_after:.2%}",
            delta=_("{points:+.2f} points (was {before:.2%})").format(
                points=(f.reference_after - f.reference_before) * 100, before=f.reference_before
            ),
            delta_color="normal",
            help=_("{reference}: what it was first tested on. Replaying its old data keeps this from falling.").format(
                reference=f.reference
            ),
        )
    m3.metric(_("Training time"), _("{seconds:.1f} s").format(seconds=f.seconds))
    if f.notice:
        st.info(f.notice)
    if f.checkpoint is not None:
        st.success(
            _(
                "Stopped early; saved as a new model (the one it started from is kept): open **Draw** to try it "
                "on your handwriting."
            )
            if f.stopped
            else _(
                "Saved as a new model (the one it started from is kept): open **Draw** to try it on your handwriting."
            )
        )


def finetune_section(saved: list, busy: bool) -> None:
    """Start from a saved model and teach it a My digits collection (mnist_core/runs/finetune.py)."""
    names = collection_names()
    wanted = st.query_params.get("finetune") or collections.my_collection().name
    with st.expander(
        _("Teach a saved model your handwriting (fine-tune)"),
        expanded="finetune" in st.query_params,
        icon=":material/school:",
    ):
        if not names or not saved:
            st.info(
                _(
                    "Fine-tuning needs a saved model and some of your own drawings: train one above, then keep a "
                    "few drawings on **Draw** (they appear on **My digits**)."
                ),
                icon=":material/draw:",
            )
            return
        c1, c2, c3 = st.columns([3, 2, 1])
        parent = c1.selectbox(
            _("Start from a saved model"),
            [c.run_id for c in saved],
            format_func=lambda r: next(c.name for c in saved if c.run_id == r),
            key="finetune_parent",
        )
        collection = c2.selectbox(
            _("Your drawings"),
            names,
            index=names.index(wanted) if wanted in names else 0,
            key="finetune_collection",
            help=_("A My digits collection."),
        )
        epochs = c3.number_input(_("Epochs"), 1, 20, 4, key="finetune_epochs")
        st.caption(
            _(
                "It learns from three quarters of your drawings, mixed with three times as many images of the data "
                "it first learned from (so it does not forget them), then is scored before and after on your other "
                "drawings and on its original test images. The result is saved as a new model."
            )
        )
        if st.button(_("Fine-tune"), key="finetune_start", icon=":material/school:", disabled=busy):
            refusal = quotas.model_refusal(me)
            if refusal is not None:
                st.error(refusal, icon=":material/inventory_2:")
                return
            ckpt = next(c for c in saved if c.run_id == parent)
            try:
                drawings = datasets.load_dataset(str(Collection(collection).path))
                job = queue.submit(
                    replace(ckpt.config, epochs=int(epochs)),
                    drawings,
                    "all",
                    owner=me.id,
                    parent=str(ckpt.path),
                    owner_name=me.name,
                    replay_folders=runs.replay_folders(),
                )
            except (ConfigError, DataError, CollectionError, ValueError, RuntimeError) as e:
                st.error(_("Cannot fine-tune: {error}").format(error=e))
                return
            st.session_state["train_job"] = st.query_params["run"] = job.id
            st.rerun()


saved = runs.checkpoints()
overlay_names = st.multiselect(
    _("Compare with earlier runs"),
    [c.run_id for c in saved],
    key="train_overlay",
    persist_state="session",
    placeholder=_("Choose saved models"),
    format_func=lambda r: next(c.name for c in saved if c.run_id == r),
    help=_("Draw the held-out accuracy curves of saved models on the accuracy chart."),
)
overlays = [c for c in saved if c.run_id in overlay_names]
if job is not None:
    # One fragment for the whole live view: every redraw is a script run that the browser pays for with a
    # re-render of the page, whatever that redraw changes, so one timer costs less than several.
    # Once Stop is pressed, a redraw every second shows the result as soon as it is saved.
    every = (1.0 if job.stopping else LIVE_EVERY_S) if job.active else None
    language.fragment(run_every=every)(show_run)(job.id, overlays)
else:  # the empty charts show what is coming (and load the chart library before training needs the CPU)
    st.info(_("Press **Start training** to train a model with the settings above. The charts below fill in live."))
    show_charts(curves([]), planned_steps(config, source, split), config.epochs, overlays, key="preview", static=False)

finetune_section(saved, busy)
if saved:
    st.subheader(_("Saved models"))
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "name": c.name,
                    "model": c.record.architecture,
                    "accuracy": c.accuracy,
                    "epochs": c.record.config.epochs,
                    "seconds": c.record.metrics.seconds,
                    "created": c.record.created,
                }
                for c in saved
            ]
        ),
        column_config={
            "name": _("name"),
            "model": _("model"),
            "accuracy": st.column_config.NumberColumn(_("accuracy"), format="percent"),
            "epochs": _("epochs"),
            "seconds": _("seconds"),
            "created": _("created"),
        },
        hide_index=True,
    )
