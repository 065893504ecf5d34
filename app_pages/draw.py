"""Draw: write a digit (or upload a photo of one) and see what a saved model reads, and what it sees."""

import time

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch
from streamlit_drawable_canvas import st_canvas

from mnist_core.classroom.jobs import Status
from mnist_core.data.preprocess import ImageError, load_image
from mnist_core.data.sources import DataError
from mnist_core.i18n import _
from mnist_core.insight.inference import predict_image
from mnist_core.learning.models import MODELS, predict_probabilities
from mnist_core.learning.recipes import recipe_config
from mnist_core.store.checkpoints import CheckpointError, load_checkpoint
from mnist_core.store.collections import CollectionError
from ui import charts, collections, datasets, identity, language, quotas, runs, server

SIDE = 280  # canvas size in screen pixels
ZOOM = 7  # the 28x28 image is shown 7x larger, one block per pixel
# The answer's bar against the other nine: the palette's vermillion on its sky blue, apart in hue and in lightness.
ANSWER, OTHERS = charts.PALETTE[5], charts.PALETTE[4]
# Draw's quick model: good enough to read most drawings, after a wait short enough to sit through on the page
# (its accuracy and time are in docs/performance.md).
QUICK = dict(epochs=3, train_size=4000, val_size=0)
# A big digit in the result. The canvas lives in a shadow DOM that page CSS cannot reach, and its hover toolbar
# sits over the top-right strip of the drawing area, swallowing strokes that start there: put a style inside it
# that pins the toolbar above the drawing area (room made with a top margin), lets clicks through its transparent
# padding and keeps only Undo/Redo (Clear is our own button). Checked by tests/test_browser_draw.py.
PAGE_FIX = """<style>.st-key-draw_result [data-testid=stMetricValue]{font-size:4.5rem;line-height:1.1}</style>
<script>(() => {
  if (window.__digitLabCanvasFix) return;
  window.__digitLabCanvasFix = true;
  const css = `.dc-root{margin-top:2.6rem}.dc-toolbar{top:-2.65rem!important;opacity:1!important;pointer-events:none}
    .dc-toolbar-card{pointer-events:auto}
    .dc-toolbar-separator,.dc-toolbar-contextual,
    .dc-icon-button:not([title=Undo]):not([title=Redo]){display:none!important}`;
  setInterval(() => document.querySelectorAll(".st-key-draw_canvas [data-testid=stBidiComponentIsolated]")
    .forEach(host => {
      const root = host.shadowRoot;
      if (root && !root.getElementById("digit-lab-fix")) {
        const style = document.createElement("style");
        style.id = "digit-lab-fix"; style.textContent = css; root.appendChild(style);
      }
    }), 200);
})();</script>"""


@st.cache_resource(max_entries=4, show_spinner=_("Loading the model…"))
def load_model(run_id: str, path: str):
    """Each saved model is read from disk once per server (keyed by its run id), not on every rerun."""
    model, ckpt = load_checkpoint(path)
    predict_probabilities(model, torch.zeros(1, 1, 28, 28))  # warm up, so the first drawing is read quickly
    return model, ckpt


@language.fragment(run_every=1)
def quick_progress(job_id: str, what: str) -> None:
    queue = runs.job_queue()
    job = queue.get(job_id)
    if job is None or not job.active:
        st.rerun()  # the whole page: the new model is in the list now
    if job.status == Status.QUEUED:
        st.progress(0.0, text=_("Waiting for a free computer: number {n} in line…").format(n=queue.position(job)))
    else:
        st.progress(job.progress(), text=_("{what}… {percent:.0%}").format(what=what, percent=job.progress()))


def offer_quick_training() -> None:
    st.info(
        _(
            "There is no saved model yet, so nothing can read your digit. Train a quick one right here "
            "(about 20 seconds), or a better one on the **Train** page."
        ),
        icon=":material/psychology:",
    )
    runs.job_queue().warm()  # start the training workers while the learner reads this
    job = runs.job_queue().get(st.session_state.get("draw_quick_job"))
    if job is not None and job.active:
        quick_progress(job.id, _("Training a quick model"))
        st.stop()
    elsewhere = runs.job_queue().running()  # e.g. started on the Train page: its model will do, wait for it
    if elsewhere is not None:
        quick_progress(
            elsewhere.id,
            _("The {model} is training (Train page); the canvas opens when it is saved").format(
                model=_(MODELS[elsewhere.config.model].title)
            ),
        )
        st.stop()
    if job is not None and job.status == Status.FAILED:
        st.error(_("The quick training run failed: {error}").format(error=job.error_text))
    if st.button(
        _("Train a quick model"),
        key="draw_quick_train",
        type="primary",
        icon=":material/bolt:",
        help=_("Teaches a small network to read digits from 4,000 examples (about 97% right) and saves it."),
    ):
        source = datasets.current_source()
        if source is None:
            st.stop()
        me = identity.person()
        try:
            job = runs.job_queue().submit(
                recipe_config("fast", **QUICK),
                source,
                source.training_split,
                owner=me.id,
                owner_name=me.name,
            )
        except (ValueError, DataError, RuntimeError) as e:  # RuntimeError: the cluster cannot be reached
            st.error(_("Cannot start training: {reason}").format(reason=e))
            st.stop()
        st.session_state["draw_quick_job"] = job.id
        st.rerun()
    st.stop()


def clear_canvas() -> None:
    """A new initial drawing wipes the canvas; until it reports back, ignore the old drawing."""
    st.session_state["draw_clears"] = st.session_state.get("draw_clears", 0) + 1
    st.session_state["draw_stale"] = st.session_state.get("draw_seen")


def keep(image: np.ndarray, digit: int) -> None:
    """Save the drawing in the learner's collection (My digits), then start a fresh canvas for the next one."""
    collection = collections.my_collection()
    refusal = quotas.drawing_refusal(identity.person())
    if refusal is not None:
        st.session_state["draw_kept"] = ("failed", refusal)
        return
    try:
        collection.keep(image, digit, by=identity.person())
    except (CollectionError, OSError) as e:
        st.session_state["draw_kept"] = ("failed", str(e))  # written out when shown: see kept_line
        return
    st.session_state["draw_kept"] = ("kept", digit, collection.name, collection.counts()[digit])
    st.session_state["draw_keep_digit"] = None
    if st.session_state.get("draw_input", "Draw") == "Draw":
        clear_canvas()


def kept_line(kept: tuple) -> str:
    """What happened to the last drawing kept, in this run's language (a callback may run before it is set)."""
    if kept[0] == "failed":
        return ":material/error: " + _("Could not keep it: {reason}").format(reason=kept[1])
    _what, digit, name, count = kept
    return ":material/check: " + _("Kept as a **{digit}** in **{name}** ({count} of that digit).").format(
        digit=digit, name=name, count=count
    )


def keep_row(image: np.ndarray, pred) -> None:
    """Keep the drawing with its right label: a few of your own digits let a model learn your handwriting."""
    with st.container(key="draw_keep", border=True):
        if pred.unsure:
            teach = _(
                "**Teach it your handwriting.** Keep this drawing with the right digit: the ones it reads wrong or "
                "is unsure about, like this one, teach it most."
            )
        else:
            teach = _(
                "**Teach it your handwriting.** Keep this drawing with the right digit: the ones it reads wrong or "
                "is unsure about teach it most."
            )
        st.markdown(teach)
        cols = st.columns([3, 2, 2], vertical_alignment="bottom")
        cols[0].button(
            _("Right, keep it as a {digit}").format(digit=pred.digit),
            key="draw_keep_right",
            icon=":material/check:",
            on_click=keep,
            args=(image, pred.digit),
        )
        actual = cols[1].selectbox(
            _("Wrong? It is a"),
            [d for d in range(10) if d != pred.digit],
            index=None,
            key="draw_keep_digit",
            placeholder=_("Choose a digit"),
        )
        cols[2].button(
            _("Keep with this digit") if actual is None else _("Keep it as a {digit}").format(digit=actual),
            key="draw_keep_fixed",
            icon=":material/edit:",
            disabled=actual is None,
            on_click=keep,
            args=(image, actual),
        )
        st.caption(
            _("Kept in **{name}**: see them, and fine-tune a model, on **My digits**.").format(
                name=collections.my_collection().name
            )
        )


def probability_chart(pred) -> go.Figure:
    colors = [ANSWER if d == pred.digit else OTHERS for d in range(10)]
    fig = go.Figure(
        go.Bar(
            x=np.arange(10),
            y=pred.probabilities * 100,
            marker_color=colors,
            hovertemplate=_("digit {digit}: {probability}%").format(digit="%{x}", probability="%{y:.1f}")
            + "<extra></extra>",
        )
    )
    fig.update_xaxes(dtick=1)
    fig.update_yaxes(range=[0, 100])
    charts.style(fig, _("How likely the model thinks each digit is"), _("digit"), _("probability (%)"), height=280)
    return charts.fixed_margins(fig)  # redrawn on every stroke


st.title(_("Draw a digit"))
st.caption(
    _(
        "Write a digit from 0 to 9 with your mouse (or finger) and a trained network reads it as you draw. "
        "Beside it you see the small 28×28 picture the network actually gets."
    )
)
saved = {c.run_id: c for c in runs.checkpoints()}
if not saved:
    offer_quick_training()
quick = runs.job_queue().get(st.session_state.pop("draw_quick_job", None))
if quick is not None and quick.summary is not None and quick.summary.accuracy is not None:
    st.toast(
        _("Your quick model is ready: it reads {accuracy:.0%} of new digits right. Draw one!").format(
            accuracy=quick.summary.accuracy
        ),
        icon=":material/celebration:",
    )
if st.session_state.get("draw_model") not in saved:
    st.session_state.pop("draw_model", None)  # it was deleted: fall back to the newest
top = st.columns([3, 3, 2])
run_id = top[0].selectbox(
    _("Model"),
    list(saved),
    key="draw_model",
    persist_state="session",  # kept across pages
    format_func=lambda r: saved[r].name,
    help=_("Which saved model reads your digit. The newest is first; train more on the Train page."),
)
mode = top[1].radio(
    _("Input"),
    ["Draw", "Upload a photo"],
    key="draw_input",
    persist_state="session",
    format_func={"Draw": _("Draw"), "Upload a photo": _("Upload a photo")}.get,
    horizontal=True,
    help=_("Draw with the mouse, or upload a photo of a digit written on paper."),
)
try:
    model, ckpt = load_model(run_id, str(saved[run_id].path))
except CheckpointError as e:
    st.error(_("This saved model cannot be used: {reason}").format(reason=e))
    st.stop()

row = st.container(horizontal=True, gap="medium")  # side by side where there is room, stacked where not
left, mid, right = row.container(width=SIDE + 4), row.container(width=28 * ZOOM + 4), row.container(width=360)
image = None
with left:
    if mode == "Draw":
        pen = st.slider(
            _("Pen width"),
            8,
            40,
            22,
            key="draw_pen",
            help=_("How thick your pen is. MNIST digits were written with a thick pen; 20-25 works well."),
        )
        clears = st.session_state.get("draw_clears", 0)  # a new value of initial_drawing empties the canvas
        canvas = st_canvas(
            stroke_width=pen,
            stroke_color="#FFFFFF",
            background_color="#000000",
            height=SIDE,
            width=SIDE,
            initial_drawing={"objects": [], "clears": clears},
            return_image_data=True,
            key="draw_canvas",
        )
        png = canvas.image_bytes
        st.session_state["draw_seen"] = hash(png) if png is not None else None
        if png is not None and st.session_state["draw_seen"] != st.session_state.get("draw_stale"):
            image = canvas.image_data
        st.button(
            _("Clear"),
            key="draw_clear",
            icon=":material/ink_eraser:",
            on_click=clear_canvas,
            help=_("Wipe the canvas and start again."),
        )
        prompt = _("Draw a digit… (0 to 9) in the black square, with the mouse button held down or with your finger.")
    else:
        upload = st.file_uploader(
            _("A photo or scan of one handwritten digit"),
            key="draw_upload",
            max_upload_size=server.PHOTO_MB,
            help=_(
                "Dark ink on light paper or light on dark both work. Crop it so the digit fills most of the picture."
            ),
        )
        prompt = _("Upload a photo of a handwritten digit… (PNG or JPEG).")
        if upload is not None:
            try:
                image = load_image(upload.getvalue())
                st.image(
                    image,
                    caption=_("Your image: {file}").format(file=upload.name),
                    width=SIDE,
                    alt=_("The photo you uploaded"),
                )
            except ImageError as e:
                st.error(_("**{file}** cannot be used: {reason}.").format(file=upload.name, reason=e))
                prompt = _("Try another file: a PNG or JPEG photo of one digit.")

started = time.perf_counter()
pred = predict_image(model, ckpt.config, image) if image is not None else None
elapsed_ms = (time.perf_counter() - started) * 1000
with mid:
    st.markdown(_("**What the model sees**"))
    seen = pred.image28 if pred is not None and pred.image28 is not None else np.zeros((28, 28), np.uint8)
    st.image(
        np.kron(seen, np.ones((ZOOM, ZOOM), np.uint8)),
        width=28 * ZOOM,
        output_format="PNG",
        caption=_("Your digit cropped, shrunk to 20 px and centred in 28×28 pixels, like every MNIST image."),
        alt=_("Your digit as the model gets it: 28×28 pixels, white ink on black, enlarged"),
    )
with right, st.container(key="draw_result"):
    if pred is None or pred.digit is None:
        # What happened to the last digit kept stays here until the next one is drawn: a toast, shown by one script
        # run, was lost when the cleared canvas's own rerun interrupted that run.
        if kept := st.session_state.get("draw_kept"):
            st.markdown(kept_line(kept))
        no_digit = pred is not None and mode != "Draw"
        st.info(
            _("No digit found in this image. {prompt}").format(prompt=prompt) if no_digit else prompt,
            icon=":material/draw:",
        )
    else:
        st.metric(
            _("Prediction"),
            str(pred.digit),
            help=_("The digit the model thinks it is: the one it gives the highest probability."),
        )
        if pred.unsure:
            st.warning(
                _(
                    "The model is unsure: its best guess is only {confidence:.0%} likely. Try a bigger, clearer digit."
                ).format(confidence=pred.confidence),
                icon=":material/help:",
            )
        st.markdown(_("**Top three:** {digits}").format(digits=" · ".join(f"{d} ({p:.1%})" for d, p in pred.top(3))))
        st.caption(_("Read in {ms:.1f} ms (preparing the image + the network).").format(ms=elapsed_ms))
        st.session_state["inside_drawing"] = image  # what the Inside page looks into
        st.page_link(
            "app_pages/inside.py",
            label=_("Look inside: how did it decide?"),
            icon=":material/neurology:",
            query_params={"from": "draw", "model": run_id},
        )
        st.plotly_chart(probability_chart(pred), key="draw_chart", config={"displayModeBar": False})
if image is not None and pred is not None and pred.digit is not None:
    keep_row(image, pred)
if pred is not None and pred.digit is not None:
    st.session_state.pop("draw_kept", None)  # a new digit on the canvas: the learner has moved on
st.html(PAGE_FIX, unsafe_allow_javascript=True)
