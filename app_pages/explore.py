"""Explore: how much data there is, what it looks like, and how a computer reads an image."""

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from plotly.colors import qualitative

from mnist_core import i18n
from mnist_core.i18n import N_, _
from ui import charts, datasets, stats

GRID, MAP_POINTS, TSNE_POINTS, ZOOM = 40, 2000, 1500, 3
SPLIT_NAMES = {"train": N_("Training set"), "test": N_("Test set"), "all": N_("Both sets")}  # shown with _()
SS = st.session_state
PALETTE = qualitative.Safe  # colour-blind-safe colours, one per class (each class has its own marker shape too)

st.title(_("Explore the data"))
source = datasets.current_source()
if source is None:
    st.stop()
KEY, classes = source.key, source.classes
names = [_(c) for c in classes]  # the class names as shown (Fashion-MNIST's are translated)


@st.cache_resource(show_spinner=False)
def split_of(key: str, which: str, _source):
    return _source.split(which)  # "all" concatenates the tensors once, not on every rerun


@st.cache_data(show_spinner=False)
def counts(key: str, _source):
    parts = {SPLIT_NAMES[s]: getattr(_source, s).labels for s in ("train", "test") if getattr(_source, s) is not None}
    return stats.class_counts(parts, _source.classes)


@st.cache_data(show_spinner=_("Averaging the images of each class…"))
def means(key: str, which: str, _split):
    return stats.mean_images(_split.images, _split.labels, len(classes))


@st.cache_data(show_spinner=False)
def histogram(key: str, which: str, label, skip_zero: bool, _split):
    images = _split.images if label is None else _split.images[_split.labels == label]
    return stats.pixel_histogram(images, 8, skip_zero), stats.blank_share(images)


@st.cache_resource(show_spinner=_("Computing the map (t-SNE takes a few seconds)…"))
def map_points(key: str, which: str, method: str, _split):
    """The 2-D points (and, for PCA, the share of variation each axis keeps): computed once, in any language."""
    if method == "pca":
        return stats.pca_map(_split.images, _split.labels, MAP_POINTS)
    return stats.tsne_map(_split.images, _split.labels, TSNE_POINTS), None


@st.cache_resource(show_spinner=False)
def map_figure(key: str, which: str, method: str, language: str, _split):
    """The finished figure is cached, not just the points: building 10 plotly traces costs more than drawing. Its
    texts are in `language`, so each language has a figure of its own."""
    frame, ratio = map_points(key, which, method, _split)
    if method == "pca":
        axes = (
            _("main direction {n} ({share:.0%} of variation)").format(n=1, share=ratio[0]),
            _("main direction {n} ({share:.0%} of variation)").format(n=2, share=ratio[1]),
        )
    else:
        axes = ("t-SNE 1", "t-SNE 2")
    fig = go.Figure()
    for label, name in enumerate(names):
        rows = frame[frame["label"].to_numpy() == label]
        fig.add_trace(
            go.Scatter(
                x=rows["x"].to_numpy(),
                y=rows["y"].to_numpy(),
                mode="markers",
                name=name,
                customdata=rows["index"].to_numpy(),
                marker=dict(
                    size=5,
                    opacity=0.75,
                    color=PALETTE[label % len(PALETTE)],
                    symbol=charts.SYMBOLS[label % len(charts.SYMBOLS)],  # the class by shape as well as by colour
                ),
                hovertemplate=_("label: <b>{name}</b><br>image #{number}").format(name=name, number="%{customdata}")
                + "<extra></extra>",
            )
        )
    title = _("{method} map of {n:,} images").format(method="PCA" if method == "pca" else "t-SNE", n=len(frame))
    return charts.style(fig, title, *axes, height=480)


def kept(name: str, default, options) -> dict:
    """Widget kwargs whose value survives leaving the page: it lives in SS['explore_<name>']."""
    store, widget = f"explore_{name}", f"explore_{name}_w"
    if SS.get(store, default) not in options:
        SS[store] = default
    SS[widget] = SS.setdefault(store, default)
    return dict(key=widget, on_change=lambda: SS.update({store: SS[widget]}))


st.caption(
    _(
        "**{title}**: every image is 28 × 28 pixels and comes with a label saying which of the "
        "{n} classes it shows ({classes}). A model learns from the *training set* and is "
        "graded on the *test set*, images it has never seen."
    ).format(title=_(source.title), n=len(classes), classes=_(", ").join(names))
)

# ---- How much data ----------------------------------------------------------------------------------------
st.header(_("How many images of each kind?"))
table = counts(KEY, source)
sizes = table.groupby("split", sort=False)["count"].sum()
cols = st.columns(len(sizes) + 1)
for col, (name, size) in zip(cols, sizes.items()):
    col.metric(_(name), _("{n:,} images").format(n=size))
cols[-1].metric(
    _("Share of each class"),
    _("{low:.1%} to {high:.1%}").format(low=table["share"].min(), high=table["share"].max()),
    help=_(
        "A balanced dataset has about as many images of every class (here 1/{n} = "
        "{share:.0%} each), so a model cannot score well by always guessing one class."
    ).format(n=len(classes), share=1 / len(classes)),
)
fig = go.Figure(
    [
        go.Bar(
            x=np.array(names),
            y=part["count"].to_numpy(),
            name=_(name),
            customdata=part["share"].to_numpy() * 100,
            hovertemplate=_("{x}: {y} images ({share}% of the set)").format(
                x="%{x}", y="%{y:,}", share="%{customdata:.1f}"
            )
            + "<extra>"
            + _(name)
            + "</extra>",
        )
        for name, part in table.groupby("split", sort=False)
    ]
)
fig.update_xaxes(type="category")  # every class gets its tick, even digit names
st.plotly_chart(
    charts.style(fig, _("Class balance: images per class in each set"), _("class"), _("number of images")),
    key="explore_counts_chart",
)

# ---- Look at the images -----------------------------------------------------------------------------------
st.header(_("Look at the images"))
splits = [s for s in ("train", "test") if getattr(source, s) is not None]
splits += ["all"] if len(splits) == 2 else []
c1, c2, c3 = st.columns([2, 2, 1], vertical_alignment="bottom")
which = c1.selectbox(
    _("Which images"),
    splits,
    format_func=lambda s: _("{split} ({n:,})").format(split=_(SPLIT_NAMES[s]), n=len(split_of(KEY, s, source))),
    help=_(
        "The training set is what a model learns from; the test set is kept apart to check it "
        "on images it has never seen."
    ),
    **kept("split", splits[0], splits),
)
choice = c2.selectbox(
    _("Show only this class"),
    range(-1, len(classes)),  # -1: all (None would show a placeholder)
    format_func=lambda c: _("All classes") if c < 0 else names[c],
    help=_("Pick one class to see how differently people draw the same thing."),
    **kept("class", -1, range(-1, len(classes))),
)
label = None if choice < 0 else choice
SS.setdefault("explore_seed", 0)
c3.button(
    _("Reshuffle"),
    icon=":material/shuffle:",
    help=_("Draw a new random handful of images from the dataset."),
    width="stretch",
    on_click=lambda: SS.update(explore_seed=SS.explore_seed + 1),
)
split = split_of(KEY, which, source)
idx = stats.sample_indices(split.labels, GRID, SS.explore_seed, label)
if len(idx) == 0:
    st.warning(_("There are no images of this class in this set."))
    st.stop()
shown_labels = split.labels[idx].numpy()
st.image(
    list(stats.enlarge(split.images[idx].numpy(), ZOOM)),
    caption=[names[c] for c in shown_labels],
    alt=[_("An image labelled {label}").format(label=names[c]) for c in shown_labels],
    width=28 * ZOOM,
    output_format="PNG",
)
st.caption(
    _(
        "{n} random images out of {total:,}, each with its label underneath. "
        "These are exactly what the network is trained on: white ink on a black background."
    ).format(n=len(idx), total=len(split))
)

# ---- Averages and brightness ------------------------------------------------------------------------------
left, right = st.columns(2, gap="large")
with left:
    st.subheader(_("The average image of each class"))
    mean = means(KEY, which, split)
    st.image(
        list(stats.enlarge(np.rint(mean).astype(np.uint8), ZOOM)),
        caption=list(names),
        alt=[_("The average of every image labelled {label}").format(label=name) for name in names],
        width=28 * ZOOM,
        output_format="PNG",
    )
    st.caption(
        _(
            "Each picture is the pixel-by-pixel average of every image of that class in the "
            "{split}. Bright where most images have ink, blurry where people "
            "draw differently."
        ).format(split=_(SPLIT_NAMES[which]).lower())
    )
with right:
    skip = st.toggle(
        _("Leave out the black background"),
        **kept("skip_zero", True, (True, False)),
        help=_(
            "Most pixels are pure black (value 0). Leaving them out makes the ink's brightness visible in the chart."
        ),
    )
    hist, blank = histogram(KEY, which, label, skip, split)
    split_name = _(SPLIT_NAMES[which]).lower()
    if label is None:
        hist_title = _("Pixel brightness ({split}, all classes)").format(split=split_name)
    else:
        hist_title = _("Pixel brightness ({split}, class {name})").format(split=split_name, name=names[label])
    fig = go.Figure(
        go.Bar(
            x=(hist["low"] + hist["high"]).to_numpy() / 2,
            y=hist["count"].to_numpy(),
            width=7.5,
            customdata=np.stack([hist["low"], hist["high"]], axis=1),
            hovertemplate=_("brightness {low}-{high}: {n} pixels").format(
                low="%{customdata[0]}", high="%{customdata[1]}", n="%{y:,}"
            )
            + "<extra></extra>",
        )
    )
    st.plotly_chart(
        charts.style(
            fig,
            hist_title,
            _("brightness (0 = black, 255 = white)"),
            _("number of pixels"),
        ),
        key="explore_hist_chart",
    )
    st.caption(
        _(
            "{blank:.0%} of all pixels are pure black background; the ink is mostly near 255 (white), "
            "with soft grey edges in between."
        ).format(blank=blank)
    )

# ---- How a computer reads an image ------------------------------------------------------------------------
st.header(_("How a computer reads an image"))
left, right = st.columns([3, 1], gap="large")
with right:
    st.markdown(
        _(
            "To a computer an image is just a **grid of numbers**: 28 rows × 28 columns = **784 pixels**, "
            "each a brightness from **0** (black) to **255** (white). A neural network never sees the "
            "picture, only these 784 numbers, and must learn which patterns of numbers mean which class."
        )
    )
    pick = 1
    if len(idx) > 1:
        pick = st.slider(
            _("Image to zoom into"),
            1,
            len(idx),
            help=_(
                "Pick one of the images in the grid above "
                "(counting from the top left) to see the numbers it is made of."
            ),
            **kept("zoom", 1, range(1, len(idx) + 1)),
        )
image, image_label = split.images[idx[pick - 1]].numpy(), names[shown_labels[pick - 1]]
with left:
    fig = go.Figure(
        go.Heatmap(
            z=image,
            colorscale="gray",
            zmin=0,
            zmax=255,
            texttemplate="%{z}",
            textfont=dict(size=10),
            showscale=False,
            hovertemplate=_("row {row}, column {column}: {value}").format(row="%{y}", column="%{x}", value="%{z}")
            + "<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed", scaleanchor="x", constrain="domain")
    st.plotly_chart(
        charts.style(
            fig,
            _("Image {n} of the grid, labelled “{label}”, as the computer sees it").format(n=pick, label=image_label),
            _("column (pixel)"),
            _("row (pixel)"),
            height=720,
        ),
        key="explore_zoom_chart",
    )

# ---- 2-D maps ---------------------------------------------------------------------------------------------
st.header(_("A map of the whole dataset"))
st.caption(
    _(
        "Each dot is one image, squeezed from 784 numbers down to 2 so it fits on a screen. Images that "
        "look alike land close together; the colour is the true label. Hover over a dot to see its label."
    )
)
left, right = st.columns(2, gap="large")
with left:
    st.plotly_chart(map_figure(KEY, which, "pca", i18n.current(), split), key="explore_pca_chart")
    st.caption(_("PCA keeps the two directions in which the images differ the most. Fast, but classes overlap."))
with right:
    SS.setdefault("explore_tsne", [])
    if (KEY, which) in SS.explore_tsne:
        st.plotly_chart(map_figure(KEY, which, "tsne", i18n.current(), split), key="explore_tsne_chart")
        st.caption(
            _(
                "t-SNE places each image near the images most similar to it, so classes form islands. "
                "Its axes have no meaning of their own."
            )
        )
    else:
        st.button(
            _("Compute a t-SNE map"),
            icon=":material/scatter_plot:",
            key="explore_tsne_button",
            on_click=lambda: SS.explore_tsne.append((KEY, which)),
            help=_(
                "t-SNE is a slower method (a few seconds for {n:,} images) that arranges images "
                "so similar ones sit together; it usually separates the classes much better than PCA."
            ).format(n=TSNE_POINTS),
        )
