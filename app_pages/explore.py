"""Explore: how much data there is, what it looks like, and how a computer reads an image."""

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from plotly.colors import qualitative

import ui
from mnist_core import stats

GRID, MAP_POINTS, TSNE_POINTS, ZOOM = 40, 2000, 1500, 3
SPLIT_NAMES = {"train": "Training set", "test": "Test set", "all": "Both sets"}
SS = st.session_state
PALETTE = qualitative.D3  # 10 clearly different colours, one per class

st.title("Explore the data")
source = ui.current_source()
if source is None:
    st.stop()
KEY, classes = source.key, source.classes


@st.cache_resource(show_spinner=False)
def split_of(key: str, which: str, _source):
    return _source.split(which)  # "all" concatenates the tensors once, not on every rerun


@st.cache_data(show_spinner=False)
def counts(key: str, _source):
    parts = {SPLIT_NAMES[s]: getattr(_source, s).labels for s in ("train", "test") if getattr(_source, s) is not None}
    return stats.class_counts(parts, _source.classes)


@st.cache_data(show_spinner="Averaging the images of each class…")
def means(key: str, which: str, _split):
    return stats.mean_images(_split.images, _split.labels, len(classes))


@st.cache_data(show_spinner=False)
def histogram(key: str, which: str, label, skip_zero: bool, _split):
    images = _split.images if label is None else _split.images[_split.labels == label]
    return stats.pixel_histogram(images, 8, skip_zero), stats.blank_share(images)


@st.cache_resource(show_spinner="Computing the map (t-SNE takes a few seconds)…")
def map_figure(key: str, which: str, method: str, _split):
    """The finished figure is cached, not just the points: building 10 plotly traces costs more than drawing."""
    if method == "pca":
        frame, ratio = stats.pca_map(_split.images, _split.labels, MAP_POINTS)
        axes = f"main direction 1 ({ratio[0]:.0%} of variation)", f"main direction 2 ({ratio[1]:.0%} of variation)"
    else:
        frame, axes = stats.tsne_map(_split.images, _split.labels, TSNE_POINTS), ("t-SNE 1", "t-SNE 2")
    fig = go.Figure()
    for label, name in enumerate(classes):
        rows = frame[frame["label"].to_numpy() == label]
        fig.add_trace(
            go.Scatter(
                x=rows["x"].to_numpy(),
                y=rows["y"].to_numpy(),
                mode="markers",
                name=name,
                customdata=rows["index"].to_numpy(),
                marker=dict(size=5, opacity=0.75, color=PALETTE[label % len(PALETTE)]),
                hovertemplate=f"label: <b>{name}</b><br>image #%{{customdata}}<extra></extra>",
            )
        )
    title = f"{'PCA' if method == 'pca' else 't-SNE'} map of {len(frame):,} images"
    return ui.style(fig, title, *axes, height=480)


def kept(name: str, default, options) -> dict:
    """Widget kwargs whose value survives leaving the page: it lives in SS['explore_<name>']."""
    store, widget = f"explore_{name}", f"explore_{name}_w"
    if SS.get(store, default) not in options:
        SS[store] = default
    SS[widget] = SS.setdefault(store, default)
    return dict(key=widget, on_change=lambda: SS.update({store: SS[widget]}))


st.caption(
    f"**{source.title}**: every image is 28 × 28 pixels and comes with a label saying which of the "
    f"{len(classes)} classes it shows ({', '.join(classes)}). A model learns from the *training set* and is "
    "graded on the *test set*, images it has never seen."
)

# ---- How much data ----------------------------------------------------------------------------------------
st.header("How many images of each kind?")
table = counts(KEY, source)
sizes = table.groupby("split", sort=False)["count"].sum()
cols = st.columns(len(sizes) + 1)
for col, (name, size) in zip(cols, sizes.items()):
    col.metric(name, f"{size:,} images")
cols[-1].metric(
    "Share of each class",
    f"{table['share'].min():.1%} to {table['share'].max():.1%}",
    help=f"A balanced dataset has about as many images of every class (here 1/{len(classes)} = "
    f"{1 / len(classes):.0%} each), so a model cannot score well by always guessing one class.",
)
fig = go.Figure(
    [
        go.Bar(
            x=np.array(classes),
            y=part["count"].to_numpy(),
            name=name,
            customdata=part["share"].to_numpy() * 100,
            hovertemplate="%{x}: %{y:,} images (%{customdata:.1f}% of the set)<extra>" + name + "</extra>",
        )
        for name, part in table.groupby("split", sort=False)
    ]
)
fig.update_xaxes(type="category")  # every class gets its tick, even digit names
st.plotly_chart(
    ui.style(fig, "Class balance: images per class in each set", "class", "number of images"),
    key="explore_counts_chart",
)

# ---- Look at the images -----------------------------------------------------------------------------------
st.header("Look at the images")
splits = [s for s in ("train", "test") if getattr(source, s) is not None]
splits += ["all"] if len(splits) == 2 else []
c1, c2, c3 = st.columns([2, 2, 1], vertical_alignment="bottom")
which = c1.selectbox(
    "Which images",
    splits,
    format_func=lambda s: f"{SPLIT_NAMES[s]} ({len(split_of(KEY, s, source)):,})",
    help="The training set is what a model learns from; the test set is kept apart to check it "
    "on images it has never seen.",
    **kept("split", splits[0], splits),
)
choice = c2.selectbox(
    "Show only this class",
    range(-1, len(classes)),  # -1: all (None would show a placeholder)
    format_func=lambda c: "All classes" if c < 0 else classes[c],
    help="Pick one class to see how differently people draw the same thing.",
    **kept("class", -1, range(-1, len(classes))),
)
label = None if choice < 0 else choice
SS.setdefault("explore_seed", 0)
c3.button(
    "Reshuffle",
    icon=":material/shuffle:",
    help="Draw a new random handful of images from the dataset.",
    width="stretch",
    on_click=lambda: SS.update(explore_seed=SS.explore_seed + 1),
)
split = split_of(KEY, which, source)
idx = stats.sample_indices(split.labels, GRID, SS.explore_seed, label)
if len(idx) == 0:
    st.warning("There are no images of this class in this set.")
    st.stop()
shown_labels = split.labels[idx].numpy()
st.image(
    list(stats.enlarge(split.images[idx].numpy(), ZOOM)),
    caption=[classes[c] for c in shown_labels],
    width=28 * ZOOM,
    output_format="PNG",
)
st.caption(
    f"{len(idx)} random images out of {len(split):,}, each with its label underneath. "
    "These are exactly what the network is trained on: white ink on a black background."
)

# ---- Averages and brightness ------------------------------------------------------------------------------
left, right = st.columns(2, gap="large")
with left:
    st.subheader("The average image of each class")
    mean = means(KEY, which, split)
    st.image(
        list(stats.enlarge(np.rint(mean).astype(np.uint8), ZOOM)),
        caption=list(classes),
        width=28 * ZOOM,
        output_format="PNG",
    )
    st.caption(
        f"Each picture is the pixel-by-pixel average of every image of that class in the "
        f"{SPLIT_NAMES[which].lower()}. Bright where most images have ink, blurry where people "
        "draw differently."
    )
with right:
    skip = st.toggle(
        "Leave out the black background",
        **kept("skip_zero", True, (True, False)),
        help="Most pixels are pure black (value 0). Leaving them out makes the ink's brightness visible in the chart.",
    )
    hist, blank = histogram(KEY, which, label, skip, split)
    what = "all classes" if label is None else f"class {classes[label]}"
    fig = go.Figure(
        go.Bar(
            x=(hist["low"] + hist["high"]).to_numpy() / 2,
            y=hist["count"].to_numpy(),
            width=7.5,
            customdata=np.stack([hist["low"], hist["high"]], axis=1),
            hovertemplate="brightness %{customdata[0]}-%{customdata[1]}: %{y:,} pixels<extra></extra>",
        )
    )
    st.plotly_chart(
        ui.style(
            fig,
            f"Pixel brightness ({SPLIT_NAMES[which].lower()}, {what})",
            "brightness (0 = black, 255 = white)",
            "number of pixels",
        ),
        key="explore_hist_chart",
    )
    st.caption(
        f"{blank:.0%} of all pixels are pure black background; the ink is mostly near 255 (white), "
        "with soft grey edges in between."
    )

# ---- How a computer reads an image ------------------------------------------------------------------------
st.header("How a computer reads an image")
left, right = st.columns([3, 1], gap="large")
with right:
    st.markdown(
        "To a computer an image is just a **grid of numbers**: 28 rows × 28 columns = **784 pixels**, "
        "each a brightness from **0** (black) to **255** (white). A neural network never sees the "
        "picture, only these 784 numbers, and must learn which patterns of numbers mean which class."
    )
    pick = 1
    if len(idx) > 1:
        pick = st.slider(
            "Image to zoom into",
            1,
            len(idx),
            help="Pick one of the images in the grid above "
            "(counting from the top left) to see the numbers it is made of.",
            **kept("zoom", 1, range(1, len(idx) + 1)),
        )
image, image_label = split.images[idx[pick - 1]].numpy(), classes[shown_labels[pick - 1]]
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
            hovertemplate="row %{y}, column %{x}: %{z}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed", scaleanchor="x", constrain="domain")
    st.plotly_chart(
        ui.style(
            fig,
            f"Image {pick} of the grid, labelled “{image_label}”, as the computer sees it",
            "column (pixel)",
            "row (pixel)",
            height=720,
        ),
        key="explore_zoom_chart",
    )

# ---- 2-D maps ---------------------------------------------------------------------------------------------
st.header("A map of the whole dataset")
st.caption(
    "Each dot is one image, squeezed from 784 numbers down to 2 so it fits on a screen. Images that "
    "look alike land close together; the colour is the true label. Hover over a dot to see its label."
)
left, right = st.columns(2, gap="large")
with left:
    st.plotly_chart(map_figure(KEY, which, "pca", split), key="explore_pca_chart")
    st.caption("PCA keeps the two directions in which the images differ the most. Fast, but classes overlap.")
with right:
    SS.setdefault("explore_tsne", [])
    if (KEY, which) in SS.explore_tsne:
        st.plotly_chart(map_figure(KEY, which, "tsne", split), key="explore_tsne_chart")
        st.caption(
            "t-SNE places each image near the images most similar to it, so classes form islands. "
            "Its axes have no meaning of their own."
        )
    else:
        st.button(
            "Compute a t-SNE map",
            icon=":material/scatter_plot:",
            key="explore_tsne_button",
            on_click=lambda: SS.explore_tsne.append((KEY, which)),
            help=f"t-SNE is a slower method (a few seconds for {TSNE_POINTS:,} images) that arranges images "
            "so similar ones sit together; it usually separates the classes much better than PCA.",
        )
