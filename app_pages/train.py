"""Train: pick a preset or set the knobs, start a run, watch it learn live, stop it any time."""
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

import ui
from mnist_core.config import BATCH_SIZES, EPOCH_CHOICES, LEARNING_RATES, OPTIMIZERS, ConfigError, settings_from_link
from mnist_core.history import curves, format_eta
from mnist_core.models import MODELS, count_parameters
from mnist_core.recipes import RECIPES, recipe_config
from mnist_core.runs import planned_steps

st.title("Train a model")
source = ui.current_source()
if source is None:
    st.stop()
queue = ui.job_queue()
split = "train" if source.train is not None else "all"  # sources without a train/test split train on "all"
n_train_all = len(source.split(split))
min_train = min(500, n_train_all)
# Redraws of the live view while a run goes on. Each costs the browser ~0.3 CPU-s, which on a 2-core machine
# comes out of training: every 2 s the app trained at a median 83% of the CLI's speed, every 4 s at 93.5%
# (6 and 9 runs; README, benchmarks/app_vs_cli.py).
LIVE_EVERY_S = 4.0
WIDGET_KEYS = {"model": "train_model", "epochs": "train_epochs", "batch_size": "train_batch", "lr": "train_lr",
               "optimizer": "train_optimizer", "augment": "train_augment", "seed": "train_seed", "train_size": "train_size"}


def apply_recipe(name: str) -> None:
    """Copy a preset into the widgets (runs as a callback, before the widgets are drawn)."""
    c = recipe_config(name)
    st.session_state.update(train_model=c.model, train_epochs=c.epochs, train_batch=c.batch_size,
                            train_lr=min(LEARNING_RATES, key=lambda v: abs(np.log(v / c.lr))),
                            train_optimizer=c.optimizer, train_augment=c.augment, train_recipe=name)


if "train_model" not in st.session_state:  # a new session: start from the link's settings, if it has any
    link, st.session_state["train_link_problems"] = settings_from_link(st.query_params, n_train_all, min_train)
    apply_recipe(link.pop("recipe", "fast"))
    st.session_state.update(train_seed=0, train_size=n_train_all)
    st.session_state.update({WIDGET_KEYS[k]: v for k, v in link.items()})
if st.session_state.get("train_link_problems"):
    st.warning("Some settings in this page's link could not be used, so the preset's values are shown instead:\n\n"
               + "\n".join(f"- {p}" for p in st.session_state["train_link_problems"]), icon=":material/link_off:")
# The dataset may have changed since the slider was last drawn: keep its value inside the new range.
st.session_state["train_size"] = min(max(st.session_state["train_size"], min_train), n_train_all)

st.subheader("1 · Pick a recipe")
st.caption("Each preset is a complete recipe from one of the classic PyTorch tutorials. One click fills in the "
           "controls below; change anything you like afterwards.")
cols = st.columns(len(RECIPES))
for col, (name, (text, _)) in zip(cols, RECIPES.items()):
    col.button(name, key=f"recipe_{name}", help=text, on_click=apply_recipe, args=(name,), use_container_width=True,
               type="primary" if st.session_state.get("train_recipe") == name else "secondary")
st.caption(f"Current recipe: **{st.session_state['train_recipe']}** — {RECIPES[st.session_state['train_recipe']][0]}")

st.subheader("2 · Adjust the knobs")
# persist_state="session" on every knob: they keep their values while the user visits other pages.
left, right = st.columns(2)
with left:
    model = st.selectbox("Model", list(MODELS), key="train_model", persist_state="session",
                         format_func=lambda m: MODELS[m].title,
                         help="The network's architecture: how its layers of artificial neurons are arranged.")
    st.caption(f"{MODELS[model].description} **{count_parameters(model):,} weights to learn.**")
    epochs = st.slider("Epochs", EPOCH_CHOICES[0], EPOCH_CHOICES[-1], key="train_epochs", persist_state="session",
                       help="One epoch = the model sees every training image once. More epochs, more practice.")
    batch = st.select_slider("Batch size", BATCH_SIZES, key="train_batch", persist_state="session",
                             help="How many images the model looks at before each small correction of its weights.")
    lr = st.select_slider("Learning rate", LEARNING_RATES, key="train_lr", persist_state="session",
                          format_func=lambda v: f"{v:g}",
                          help="How big each correction step is. Too small: slow learning; too big: it overshoots.")
with right:
    optimizer = st.selectbox("Optimizer", OPTIMIZERS, key="train_optimizer", persist_state="session",
                             help="The rule that turns the error into weight updates (Adam adapts the step per weight; "
                                  "SGD uses one step size with momentum).")
    size = st.slider("Training images", min_train, n_train_all, key="train_size", persist_state="session",
                     step=500 if n_train_all > 1000 else 1,
                     help="Train on fewer images to see how much the amount of data matters.")
    augment = st.toggle("Augmentation", key="train_augment", persist_state="session",
                        help="Randomly rotate, shrink and shift each image a little, so the model learns the digit, "
                             "not its exact position.")
    seed = st.number_input("Seed", 0, 2**31 - 1, key="train_seed", persist_state="session",
                           help="Starting point of the randomness: the same seed and settings give the same result.")

config = recipe_config(st.session_state["train_recipe"], model=model, epochs=epochs, batch_size=batch, lr=lr,
                       optimizer=optimizer, augment=augment, seed=int(seed),
                       train_size=0 if size >= n_train_all else int(size))
# The address bar always holds these settings: copying it shares them, and a refresh keeps them.
st.query_params.update(recipe=st.session_state["train_recipe"], model=model, epochs=epochs, batch_size=batch,
                       lr=f"{lr:g}", optimizer=optimizer, augment=int(augment), seed=int(seed), train_size=size)
st.caption("The address bar holds these settings: copy the link to share them.")

job = ui.own_job()
if job is None and "run" in st.query_params:
    st.warning(f"The training run in this link ({st.query_params['run'][:40]}) is not on this server any more: runs "
               "are kept until the server restarts. Finished runs are saved and listed below and on **Evaluate**.",
               icon=":material/link_off:")
    del st.query_params["run"]
if job is not None:  # remember it in both places: the session survives page switches, the URL a refresh
    st.session_state["train_job"] = st.query_params["run"] = job.id
busy = job is not None and job.active
st.subheader("3 · Train")
b1, b2, _ = st.columns([1, 1, 4])
if b1.button("Start training", key="train_start", icon=":material/play_arrow:", type="primary", disabled=busy,
             help="Train a fresh model with these settings. You can switch pages while it runs."):
    try:
        job = queue.submit(config, source, split, owner=ui.owner())
    except (ConfigError, ValueError) as e:
        st.error(f"Cannot start: {e}")
        st.stop()
    st.session_state["train_job"] = job.id
    st.session_state["train_link_problems"] = []
    st.query_params["run"] = job.id  # a browser refresh finds the run again through the URL
    st.rerun()
if b2.button("Stop", key="train_stop", icon=":material/stop:", disabled=not busy, help="Stop after the current batch and keep what was learned."):
    queue.stop(job.id)
    st.toast("Stopping…")


# The live charts are redrawn every LIVE_EVERY_S while the browser often shares the CPU with training, so they
# are built to be cheap to redraw (see benchmarks/app_vs_cli.py): axes fixed to the whole run (the curves fill
# in left to right and the tick labels never change), margins fixed instead of measured from the labels, legends
# inside the empty corner, and no hover or zoom layers until the run is over.
def fixed_layout(fig: go.Figure, legend_corner: str) -> go.Figure:
    top = legend_corner == "top"
    legend = dict(orientation="v", x=0.99, xanchor="right", y=0.99 if top else 0.02, yanchor="top" if top else "bottom",
                  bgcolor="rgba(255,255,255,0.7)")
    return ui.fixed_margins(fig).update_layout(legend=legend)


def loss_figure(c, total_steps: int) -> go.Figure:
    fig = go.Figure()
    fig.add_scatter(x=c.step, y=c.loss, mode="lines", name="loss per batch", line=dict(width=1, color="#c8d6e5"))
    fig.add_scatter(x=c.step, y=c.loss_smooth, mode="lines", name="smoothed", line=dict(width=2, color="#1f77b4"))
    fig.add_scatter(x=c.epoch_step[1:], y=c.epoch_loss[1:], mode="markers", name="epoch mean", marker=dict(size=9))
    ui.style(fig, "Training loss (lower is better)", "training step (batches seen)", "cross-entropy loss")
    fig.update_xaxes(range=[0, 1.02 * max(total_steps, int(c.step.max()) if len(c.step) else 1)])
    fig.update_yaxes(rangemode="tozero")
    return fixed_layout(fig, "top")  # the loss falls from the top left: the top right stays empty


def accuracy_figure(c, overlays: list, epochs: int) -> go.Figure:
    fig = go.Figure()
    for ckpt in overlays:
        o = curves(ckpt.meta.get("history", []))
        epochs = max(epochs, int(o.epoch.max()) if len(o.epoch) else 0)
        fig.add_scatter(x=o.epoch, y=o.val_acc * 100, mode="lines", name=f"earlier: {ckpt.name}",
                        line=dict(dash="dot"))
    fig.add_scatter(x=c.epoch[1:], y=c.train_acc[1:] * 100, mode="lines+markers", name="training images")
    fig.add_scatter(x=c.epoch, y=c.val_acc * 100, mode="lines+markers", name="held-out images")
    ui.style(fig, "Accuracy per epoch (epoch 0 = before training: a random guess)", "epoch", "accuracy (%)")
    fig.update_xaxes(range=[-0.3, max(epochs, 1) + 0.3], dtick=1 if epochs <= 15 else None)
    fig.update_yaxes(range=[0, 100])
    return fixed_layout(fig, "bottom")  # accuracy climbs to the top right: the bottom right stays empty


def show_charts(c, total_steps: int, epochs: int, overlays: list, key: str, static: bool) -> None:
    l, r = st.columns(2)
    chart_config = {"staticPlot": True} if static else {}
    l.plotly_chart(loss_figure(c, total_steps), key=f"loss_{key}", config=chart_config)
    r.plotly_chart(accuracy_figure(c, overlays, epochs), key=f"acc_{key}", config=chart_config)


def show_run(job_id: str, overlays: list) -> None:
    """The run's state line (queued, progress with speed and ETA, or the failure), its charts and, once it is
    over, its results."""
    j = queue.get(job_id)
    if j is None:
        return
    snap = j.snapshot()
    last, status = snap["last"] or {}, snap["status"]
    if status == "queued":
        st.info(f"Another training run is using the computer; yours is number {queue.position(j)} in line and "
                "starts by itself.", icon=":material/hourglass_top:")
    elif status == "running":
        st.progress(j.progress(), text=f"Epoch {last.get('epoch', 0)}/{last.get('epochs', config.epochs)} · "
                    f"{last.get('images_per_s', 0):,.0f} images/s · about {format_eta(last.get('eta_s'))} left")
    elif status == "failed":
        st.error(f"Training failed: {snap['error']}")
    show_charts(curves(snap["history"]), last.get("total_steps") or 0, snap["config"]["epochs"], overlays,
                key=job_id, static=j.active)  # hover and zoom once the run is over
    summary = snap["summary"]
    if summary and summary.get("accuracy") is not None:
        m1, m2, m3 = st.columns(3)
        m1.metric("Test accuracy", f"{summary['accuracy']:.2%}", help=f"Measured on {summary['evaluated_on']}, "
                  "images the model never trained on.")
        m2.metric("Training time", f"{summary['seconds']:.1f} s")
        m3.metric("Speed", f"{summary['images_per_s']:,.0f} images/s")
        st.success(("Stopped early; " if summary["stopped"] else "") + "saved as a checkpoint: open **Evaluate** "
                   "or **Draw** to use it.")
    if not j.active and st.session_state.get("train_seen_done") != job_id:
        st.session_state["train_seen_done"] = job_id
        st.rerun()  # whole page: re-enable Start, refresh the saved-model list and the sidebar


saved = ui.checkpoints()
overlay_names = st.multiselect("Compare with earlier runs", [c.run_id for c in saved], key="train_overlay",
                               persist_state="session",
                               format_func=lambda r: next(c.name for c in saved if c.run_id == r),
                               help="Draw the held-out accuracy curves of saved models on the accuracy chart.")
overlays = [c for c in saved if c.run_id in overlay_names]
if job is not None:
    # One fragment for the whole live view: every redraw is a script run that the browser pays for with a
    # re-render of the page, whatever it changes (a 1-s progress line alone cost it as much as the 2-s charts).
    st.fragment(run_every=LIVE_EVERY_S if busy else None)(show_run)(job.id, overlays)
else:  # the empty charts show what is coming (and load the chart library before training needs the CPU)
    st.info("Press **Start training** to train a model with the settings above. The charts below fill in live.")
    show_charts(curves([]), planned_steps(config, source, split), config.epochs, overlays, key="preview", static=False)

if saved:
    st.subheader("Saved models")
    st.dataframe(pd.DataFrame([{"name": c.name, "model": c.meta["architecture"], "accuracy": c.accuracy,
                                "epochs": c.config.epochs, "seconds": c.meta.get("metrics", {}).get("seconds"),
                                "created": c.meta.get("created")} for c in saved]),
                 column_config={"accuracy": st.column_config.NumberColumn(format="percent")}, hide_index=True)
