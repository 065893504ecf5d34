"""The Explore page under AppTest, on the real offline MNIST sample (and Fashion-MNIST where installed)."""

import base64
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import SHARED_RAW, open_page
from mnist_core.data.sources import DEBIAN_FASHION_DIR, FASHION


def charts(at) -> dict[str, dict]:
    """Every plotly chart on the page as its figure JSON, by widget key."""
    return {c.key: json.loads(c.proto.spec) for c in at.get("plotly_chart")}


def title(fig) -> str:
    return fig["layout"]["title"]["text"]


def grid(at):
    return at.get("image")[0]  # the first st.image list on the page is the sample grid


def test_page_shows_counts_grid_averages_and_charts(app):
    at = open_page(app, "explore")
    figs = charts(at)
    assert set(figs) == {"explore_counts_chart", "explore_hist_chart", "explore_zoom_chart", "explore_pca_chart"}
    for fig in figs.values():  # every chart explains itself
        assert title(fig) and fig["layout"]["xaxis"]["title"]["text"] and fig["layout"]["yaxis"]["title"]["text"]
    # class balance: one bar series per split, one bar per class, counts adding up to the split sizes
    bars = figs["explore_counts_chart"]["data"]
    assert [b["name"] for b in bars] == ["Training set", "Test set"]
    assert all(len(b["x"]) == 10 for b in bars)
    metrics = [m.value for m in at.metric]
    assert "4,000 images" in metrics and "1,000 images" in metrics
    # the grid: 40 images labelled with class names, then the 10 class averages
    images = at.get("image")
    assert len(grid(at).value) == 40 and set(grid(at).captions) <= set("0123456789")
    assert images[1].captions == list("0123456789")
    # the PCA map: one coloured series per class, hover shows the label
    series = figs["explore_pca_chart"]["data"]
    assert [s["name"] for s in series] == list("0123456789")
    assert "label" in series[3]["hovertemplate"] and "3" in series[3]["hovertemplate"]
    # every control explains the idea behind it to a non-coder
    controls = [*at.selectbox, *at.slider, *at.toggle, *at.button]
    assert controls and all(w.help for w in controls), [w.label for w in controls if not w.help]


def test_class_filter_shows_only_that_class_and_survives_a_page_change(app):
    at = open_page(app, "explore")
    box = at.selectbox(key="explore_class_w")
    assert box.options[0] == "All classes" and box.index == 0  # shown as "All classes", not an empty box
    box.set_value(7).run()
    assert not at.exception
    assert grid(at).captions == ["7"] * 40
    assert "class 7" in title(charts(at)["explore_hist_chart"])
    assert "“7”" in title(charts(at)["explore_zoom_chart"])
    at.switch_page("app_pages/draw.py").run()
    at.switch_page("app_pages/explore.py").run()
    assert not at.exception
    assert at.selectbox(key="explore_class_w").value == 7
    assert grid(at).captions == ["7"] * 40


def test_reshuffle_draws_other_images(app):
    at = open_page(app, "explore")
    before = grid(at).value
    at.button[0].click().run()
    assert not at.exception
    after = grid(at).value
    assert len(after) == 40 and after != before
    assert len(set(after) & set(before)) < 10  # mostly new images, not the same grid reordered
    at.run()  # a plain rerun keeps the same grid
    assert grid(at).value == after


def test_split_choice_and_zoomed_image(app):
    at = open_page(app, "explore")
    split = at.selectbox(key="explore_split_w")
    assert split.options[0].startswith("Training set (4,000)") and len(split.options) == 3
    split.set_value("test").run()
    assert not at.exception
    assert any("out of 1,000" in c.value for c in at.caption)
    assert "test set" in title(charts(at)["explore_hist_chart"])
    # zoom into the 5th image of the grid: the heatmap shows its 28 x 28 pixel values and its label
    at.slider(key="explore_zoom_w").set_value(5).run()
    heat = charts(at)["explore_zoom_chart"]
    assert f"Image 5 of the grid, labelled “{grid(at).captions[4]}”" in title(heat)
    z = heat["data"][0]["z"]
    pixels = np.frombuffer(base64.b64decode(z["bdata"]), dtype=z["dtype"]) if isinstance(z, dict) else np.array(z)
    assert pixels.size == 784 and pixels.max() > 200 and (pixels == 0).mean() > 0.5
    assert heat["data"][0]["texttemplate"] == "%{z}"


def test_tsne_map_appears_after_the_button(app):
    at = open_page(app, "explore")
    assert "explore_tsne_chart" not in charts(at)
    at.button(key="explore_tsne_button").click().run(timeout=300)
    assert not at.exception
    fig = charts(at)["explore_tsne_chart"]
    assert title(fig) == "t-SNE map of 1,500 images" and len(fig["data"]) == 10
    assert sum(len(s["x"]["bdata"]) if isinstance(s["x"], dict) else len(s["x"]) for s in fig["data"]) > 0
    at.run()  # stays on later reruns without recomputing
    assert "explore_tsne_chart" in charts(at)


@pytest.mark.skipif(
    not Path(DEBIAN_FASHION_DIR, "train-images-idx3-ubyte.gz").is_file(),
    reason="Debian's dataset-fashion-mnist is not installed",
)
def test_fashion_mnist_uses_its_class_names(app):
    app.session_state["dataset"] = "fashion-mnist"
    at = open_page(app, "explore")
    assert "60,000 images" in [m.value for m in at.metric]
    assert at.get("image")[1].captions == FASHION
    assert set(grid(at).captions) <= set(FASHION)
    assert [s["name"] for s in charts(at)["explore_pca_chart"]["data"]] == FASHION


@pytest.mark.skipif(not (SHARED_RAW / "t10k-images-idx3-ubyte.gz").is_file(), reason="real MNIST test set not present")
def test_a_folder_with_only_the_test_split(app):
    app.session_state["dataset"] = "folder"
    app.session_state["dataset_folder"] = str(SHARED_RAW)
    at = open_page(app, "explore")
    assert [m.value for m in at.metric][0] == "10,000 images"
    assert at.selectbox(key="explore_split_w").options == ["Test set (10,000)"]
    assert [b["name"] for b in charts(at)["explore_counts_chart"]["data"]] == ["Test set"]
    assert len(grid(at).captions) == 40 and len(charts(at)) == 4
