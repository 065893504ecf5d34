"""Inside: what a saved model sees in a digit, layer by layer, why it answers what it answers, and how robust it is."""

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from mnist_core.data.preprocess import ImageError, load_image
from mnist_core.data.sources import DataError
from mnist_core.i18n import N_, _, ngettext
from mnist_core.insight import explain as ex
from mnist_core.insight import robustness as rb
from mnist_core.store.checkpoints import CheckpointError, load_checkpoint
from ui import charts, datasets, dreams, language, pictures, runs, server
from ui.evaluation import checkpoint_label
from ui.text import chart_text, plain

INPUTS = [N_("Your drawing"), N_("Upload a photo"), N_("A dataset image")]  # the radio's values; shown with _()
STEP_WORDS = [
    N_("Your input, as ink: white strokes on black."),
    N_("Cut to the ink: empty margins do not matter."),
    N_("Shrunk so its longest side is 20 pixels, smoothly."),
    N_("Centred by its weight in 28×28, like MNIST."),
]
# The answer's bar against the other nine: the palette's vermillion on its sky blue, apart in hue and in lightness.
ANSWER, OTHERS = charts.PALETTE[5], charts.PALETTE[4]
PLAY = {
    "inside_dx": 0,
    "inside_dy": 0,
    "inside_turn": 0,
    "inside_size": 1.0,
    "inside_thick": 0,
    "inside_noise": 0.0,
    "inside_erase": 0,
    "inside_erase_x": 14,
    "inside_erase_y": 14,
}


@st.cache_resource(max_entries=4, show_spinner=_("Loading the model…"))
def explainer(path: str, created: str) -> ex.Explainer:
    """One prepared model per checkpoint (folder + creation time) for the whole server."""
    model, ckpt = load_checkpoint(path)
    return ex.Explainer(model, ckpt.config)


@st.cache_resource
def measured() -> rb.RobustnessStore:
    """Robustness curves per (checkpoint folder, creation time, dataset) for the whole server, measured in the
    background: a few numbers each, and only the last few kept."""
    return rb.RobustnessStore()


def bars(y, x_title: str, y_title: str, x=None, colors=None, key: str | None = None) -> None:
    fig = go.Figure(
        go.Bar(
            x=np.arange(len(y)) if x is None else x,
            y=y,
            marker_color=colors or OTHERS,
            hovertemplate="%{x}: %{y:.2f}<extra></extra>",
        )
    )
    fig.update_xaxes(dtick=1 if len(y) <= 10 else None)
    charts.style(fig, "", x_title, y_title, height=220).update_layout(margin=dict(t=10))
    st.plotly_chart(fig, key=key, config={"displayModeBar": False})


def probability_bars(probs: np.ndarray, title: str, key: str) -> None:
    colors = [ANSWER if d == probs.argmax() else OTHERS for d in range(10)]
    fig = go.Figure(
        go.Bar(
            x=np.arange(10),
            y=probs * 100,
            marker_color=colors,
            hovertemplate=_("digit %{x}: %{y:.1f}%") + "<extra></extra>",
        )
    )
    fig.update_xaxes(dtick=1)
    fig.update_yaxes(range=[0, 100])
    st.plotly_chart(
        charts.fixed_margins(charts.style(fig, title, _("digit"), _("probability (%)"), height=260)),
        key=key,
        config={"displayModeBar": False},
    )


def arrived() -> None:
    """Draw's and Evaluate's "Look inside" links name the input and the model in the address: apply them once."""
    q = st.query_params
    if "from" in q or "image" in q:
        if q.get("model") in saved:
            st.session_state["inside_model"] = q["model"]
        if q.get("from") == "draw":
            st.session_state["inside_input"] = INPUTS[0]
        elif q.get("image", "").isdigit():
            st.session_state["inside_input"] = INPUTS[2]
            st.session_state["inside_index"] = int(q["image"])
            st.session_state["inside_split"] = q.get("split") if q.get("split") in ("train", "test", "all") else "test"
        st.query_params.clear()


@language.fragment()
def play(model: ex.Explainer, image28: np.ndarray) -> None:
    """Only this part reruns while the sliders move."""
    left, right = st.columns([3, 2])
    with left:
        c1, c2 = st.columns(2)
        dx = c1.slider(
            _("Move right (−: left)"), -8, 8, key="inside_dx", help=_("Moves the digit sideways, in pixels.")
        )
        dy = c2.slider(_("Move down (−: up)"), -8, 8, key="inside_dy", help=_("Moves the digit up or down, in pixels."))
        turn = c1.slider(
            _("Turn (degrees)"),
            -90,
            90,
            step=5,
            key="inside_turn",
            help=_("Turns the digit anticlockwise (negative: clockwise)."),
        )
        size = c2.slider(
            _("Size"), 0.4, 1.6, step=0.05, key="inside_size", help=_("Makes the digit smaller or larger.")
        )
        thick = c1.slider(
            _("Thicker (−: thinner)"),
            -2,
            3,
            key="inside_thick",
            help=_("Grows or thins every stroke by one pixel per step."),
        )
        noise = c2.slider(
            _("Noise"), 0.0, 1.0, step=0.05, key="inside_noise", help=_("Sprinkles random speckle over it.")
        )
        erase = c1.slider(
            _("Erase a square (side)"),
            0,
            16,
            key="inside_erase",
            help=_("Paints a black square over part of the digit. Place it with the two sliders beside."),
        )
        ex_, ey_ = (
            c2.slider(
                _("Square across"),
                0,
                27,
                key="inside_erase_x",
                disabled=not erase,
                help=_("Where the erased square's centre is, from the left."),
            ),
            c2.slider(
                _("Square down"),
                0,
                27,
                key="inside_erase_y",
                disabled=not erase,
                help=_("Where the erased square's centre is, from the top."),
            ),
        )
        st.button(
            _("Reset"),
            key="inside_play_reset",
            on_click=lambda: st.session_state.update(PLAY),
            icon=":material/restart_alt:",
            help=_("Put every slider back: the digit as the model first saw it."),
        )
    changed = ex.tweak(image28, ex.Tweak(dx, dy, turn, size, thick, noise, erase, ex_, ey_))
    probs = model.probabilities(changed)
    with right:
        a, b = st.columns([1, 1])
        a.image(
            pictures.ink_picture(changed, 168),
            caption=_("What the model gets now"),
            alt=_("The digit after your changes, as the model gets it"),
        )
        b.metric(
            _("It reads"),
            str(int(probs.argmax())),
            _("{p:.0%} sure").format(p=probs.max()),
            delta_color="off",
            delta_arrow="off",
            help=_("The digit with the highest probability for the changed image."),
        )
        probability_bars(probs, _("Probabilities for the changed image"), "inside_play_chart")


@language.fragment(run_every=1)
def measuring(models: list[tuple[str, tuple]]) -> None:
    """The robustness curves being measured in the background: their progress, polled every second; once all are
    over, the whole page again, to draw the curves and stop this timer."""
    store = measured()
    states = [(name, store.get(key)) for name, key in models]
    if all(state is None or state.over for _name, state in states):
        st.rerun()
    for name, state in states:
        if state is not None and not state.over:
            st.progress(
                state.done,
                text=_("Moving and turning the test images for {name}… {done:.0%}").format(
                    name=plain(name), done=state.done
                ),
            )


st.title(_("Look inside the network"))
st.caption(
    _(
        "See what a trained network does with one digit: how the image is prepared, what each layer finds, "
        "which pixels decided the answer, what fools it, and how well it copes with moved or turned digits."
    )
)
saved = {c.run_id: c for c in runs.checkpoints()}
if not saved:
    st.info(
        _("There is no saved model yet. Train one first: the fast preset takes under a minute."),
        icon=":material/model_training:",
    )
    st.page_link("app_pages/train.py", label=_("Go to the Train page"), icon=":material/model_training:")
    st.stop()
arrived()
if st.session_state.get("inside_model") not in saved:
    st.session_state.pop("inside_model", None)
if st.session_state.get("inside_input") is None:
    st.session_state["inside_input"] = INPUTS[0] if st.session_state.get("inside_drawing") is not None else INPUTS[2]
top = st.columns([3, 4])
run_id = top[0].selectbox(
    _("Model"),
    list(saved),
    key="inside_model",
    format_func=lambda r: checkpoint_label(saved[r]),
    help=_("Which saved model to look into. The newest is first."),
)
mode = top[1].radio(
    _("Input"),
    INPUTS,
    key="inside_input",
    format_func=_,
    horizontal=True,
    help=_("Your latest drawing on the Draw page, a photo of a digit, or an image of the dataset."),
)
ckpt = saved[run_id]
try:
    model = explainer(str(ckpt.path), ckpt.record.created or "")
except CheckpointError as e:
    st.error(_("This saved model cannot be used: {error}").format(error=e))
    st.stop()
dreams.section((str(ckpt.path), ckpt.record.created or ""), model.model, model.config)

image = image28 = None
if mode == INPUTS[0]:
    image = st.session_state.get("inside_drawing")
    if image is None:
        st.info(_("Draw a digit on the Draw page first, then press **Look inside** there."), icon=":material/draw:")
        st.page_link("app_pages/draw.py", label=_("Go to the Draw page"), icon=":material/draw:")
elif mode == INPUTS[1]:
    upload = st.file_uploader(
        _("A photo or scan of one handwritten digit"),
        key="inside_upload",
        max_upload_size=server.PHOTO_MB,
        help=_("Dark ink on light paper or light on dark both work."),
    )
    if upload is not None:
        try:
            image = load_image(upload.getvalue())
        except ImageError as e:
            st.error(_("**{name}** cannot be used: {error}.").format(name=upload.name, error=e))
else:
    source = datasets.current_source()
    if source is None:
        st.stop()
    split_name = st.session_state.get("inside_split", "test")
    try:
        split = source.split(split_name)
    except DataError as e:
        st.error(_("This dataset cannot be used: {error}").format(error=e))
        st.stop()
    st.session_state["inside_index"] = min(st.session_state.get("inside_index", 0), len(split) - 1)
    index = st.number_input(
        _("Image number in {split} (0 to {last:,})").format(
            split=datasets.split_label(split.name), last=len(split) - 1
        ),
        0,
        len(split) - 1,
        key="inside_index",
        help=_(
            "Any image of the dataset chosen in the sidebar; Evaluate's **Look inside** links open its mistakes here."
        ),
    )
    image28 = split.images[index].numpy()
    st.caption(_("This image is labelled **{label}**.").format(label=source.classes[int(split.labels[index])]))
if image is None and image28 is None:
    st.stop()

inside = model.look(image) if image is not None else model.look(image28=image28)
if inside.image28 is None:
    st.info(_("No digit found in this image: it looks empty. Try another drawing or photo."), icon=":material/draw:")
    st.stop()
digit, probs = inside.digit, inside.probabilities

if inside.steps is not None:
    with st.container(key="inside_steps", border=True):
        st.subheader(_("1 · From your drawing to the network's input"))
        steps = inside.steps
        cols = st.columns([1, 1, 1, 1, 0.3, 1.4])
        for col, picture, words in zip(cols, [steps.ink, steps.crop, steps.small, inside.image28], STEP_WORDS):
            col.image(pictures.ink_picture(picture), caption=_(words), width=112, alt=_(words))
        naive = inside.naive_probabilities
        cols[5].image(
            pictures.ink_picture(inside.naive28),
            width=112,
            alt=_("The digit squashed to 28×28 without these steps"),
            caption=_(
                "Squashed to 28×28 without these steps, it reads **{naive}** ({naive_p:.0%}), against **{digit}** "
                "({p:.0%}) with them."
            ).format(naive=naive.argmax(), naive_p=naive.max(), digit=digit, p=probs.max()),
        )

with st.container(key="inside_layers", border=True):
    st.subheader(_("2 · Layer by layer"))
    st.caption(_("The image flows from top to bottom: each layer turns the one before it into new numbers."))
    filters = ex.first_filters(model.model)
    st.markdown(f"**{filters.title}**", help=filters.help)
    st.image(
        pictures.filters_picture(filters),
        alt=_("The first layer's filters: small grids of weights, red where a weight is positive, blue negative"),
    )
    for i, layer in enumerate(inside.layers):
        st.markdown(f"**{layer.title}**", help=layer.help)
        if layer.kind == "conv":
            st.image(
                pictures.feature_maps_picture(layer),
                alt=_("What each detector of this layer found in the digit: bright where it responded strongly"),
            )
        elif layer.kind == "dense":
            bars(layer.values, _("neuron"), _("output"), key=f"inside_dense_{i}")
        else:
            bars(
                layer.values,
                _("digit"),
                _("score"),
                x=list(range(10)),
                key="inside_logits",
                colors=[ANSWER if d == digit else OTHERS for d in range(10)],
            )
    probability_bars(
        probs, _("Final answer: {digit}, {p:.1%} likely").format(digit=digit, p=probs.max()), "inside_probs"
    )

with st.container(key="inside_attribution", border=True):
    st.subheader(_("3 · Why this answer?"))
    st.caption(
        _(
            "For the three likeliest digits: which pixels pushed the model towards each one (red) or away "
            "from it (blue). Compare them to see, say, why it said 7 and not 1."
        )
    )
    for key, method in ex.METHODS.items():
        st.markdown(_("**{title}**: {meaning}").format(title=_(method.title), meaning=_(method.meaning)))
        scale = pictures.colour_scale([a.maps[key] for a in inside.attributions])  # one scale per row, to compare
        cols = st.columns(len(inside.attributions))
        for col, a in zip(cols, inside.attributions):
            col.image(
                pictures.heatmap(a.maps[key], inside.image28, 6, scale),
                caption=f"{a.digit} ({pictures.percent(a.probability)})",
                alt=_("Heatmap for the digit {digit}: red pixels pushed the model towards it, blue pixels away").format(
                    digit=a.digit
                ),
            )

with st.container(key="inside_play", border=True):
    st.subheader(_("4 · Try to fool it"))
    st.caption(
        _("Change the digit and watch the answer. A network that only learned centred, upright digits is easy to fool.")
    )
    for k, v in PLAY.items():
        st.session_state.setdefault(k, v)
    play(model, inside.image28)

with st.container(key="inside_robustness", border=True):
    st.subheader(_("5 · How robust is this model?"))
    with (holder := st.empty()):  # the sidebar already says which dataset is in use: no second notice here
        source = datasets.current_source()
    if source is not None and source.notice:
        holder.empty()
    test = source.test if source is not None else None
    if test is None:
        st.info(_("The dataset chosen in the sidebar has no test images to measure with."))
        st.stop()
    picked = st.multiselect(
        _("Models to compare (up to three)"),
        list(saved),
        default=[run_id],
        max_selections=3,
        key="inside_robust_models",
        placeholder=_("Choose models"),
        format_func=lambda r: checkpoint_label(saved[r]),
        help=_("For example one trained with augmentation and one without."),
    )
    store, keys = measured(), {r: (str(saved[r].path), saved[r].record.created or "", source.key) for r in picked}
    states = {r: store.get(keys[r]) for r in picked}
    for r in picked:
        if states[r] is not None and states[r].error is not None:
            st.error(
                _("**{name}** could not be measured: {error}").format(
                    name=plain(saved[r].name), error=_(states[r].error)
                )
            )
    missing = [r for r in picked if states[r] is None or states[r].error is not None]
    if missing and st.button(
        ngettext(
            "Measure {n} model on {images:,} test images", "Measure {n} models on {images:,} test images", len(missing)
        ).format(n=len(missing), images=len(test)),
        key="inside_measure",
        type="primary",
        icon=":material/speed:",
        help=_(
            "Scores each model on every test image moved and turned by several amounts: "
            "about 10 seconds per model on a laptop."
        ),
    ):
        refused = False
        for r in missing:
            try:
                net = explainer(*keys[r][:2])
            except CheckpointError as e:
                st.error(_("**{name}** cannot be used: {error}").format(name=plain(saved[r].name), error=e))
                refused = True
                continue
            states[r] = store.start(keys[r], net.model, test, saved[r].config)
        if not refused:
            st.rerun()  # drawn again with the progress in place of the button
    if any(states[r] is not None and not states[r].over for r in picked):
        measuring([(saved[r].name, keys[r]) for r in picked])
    done = [r for r in picked if states[r] is not None and states[r].result is not None]
    if done:
        halves = st.columns(2)
        for col, (what, unit, title) in zip(
            halves,
            [
                ("shifts", _("pixels moved"), _("Accuracy as the digits are moved")),
                ("angles", _("degrees turned"), _("Accuracy as the digits are turned")),
            ],
        ):
            fig = go.Figure(
                [
                    go.Scatter(
                        x=list(getattr(states[r].result, what)),
                        y=getattr(states[r].result, f"{what[:-1]}_accuracy") * 100,
                        mode="lines+markers",
                        name=chart_text(saved[r].name),
                        marker=dict(symbol=charts.SYMBOLS[i % len(charts.SYMBOLS)]),  # each model by shape too
                    )
                    for i, r in enumerate(done)
                ]
            )
            fig.update_yaxes(range=[0, 100])
            charts.style(fig, title, unit, _("accuracy (%)"), height=320)
            col.plotly_chart(fig, key=f"inside_robust_{what}", config={"displayModeBar": False})
        st.caption(
            _(
                "Each point scores all {images:,} test images of {dataset}, each moved one way (up, down, left or "
                "right) or turned one way. Models trained with augmentation usually hold up longer."
            ).format(images=len(test), dataset=source.title)
        )
