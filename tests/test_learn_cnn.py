"""Learn's lessons on convolution, overfitting and testing (AppTest walking every step, real data and the real
engine), and the engine parts behind them (mnist_core/lessons)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from conftest import as_drawing, open_page
from mnist_core.data.preprocess import to_mnist
from mnist_core.learning.models import build_model
from mnist_core.learning.training import train
from mnist_core.lessons import convolution as conv
from mnist_core.lessons import overfitting as of
from mnist_core.store.checkpoints import list_checkpoints

# --- the engine ------------------------------------------------------------------------------------------


def test_the_feature_map_is_torchs_conv2d_and_one_window_is_its_sum(sample):
    image = sample.train.images[0].numpy()
    weights = conv.FILTERS["left"].weights
    fmap = conv.feature_map(image, weights)
    assert fmap.shape == (26, 26) == (conv.output_size(28),) * 2
    x = torch.from_numpy(image).float()[None, None] / 255
    expected = F.conv2d(x, torch.tensor(weights).float()[None, None])[0, 0].numpy()
    np.testing.assert_allclose(fmap, expected, atol=1e-6)
    for row, col in ((0, 0), (10, 13), (25, 25)):
        w = conv.window(image, weights, row, col)
        by_hand = sum(x[0, 0, row + i, col + j].item() * weights[i][j] for i in range(3) for j in range(3))
        assert w.total == pytest.approx(by_hand, abs=1e-5) == pytest.approx(float(fmap[row, col]), abs=1e-5)
    with pytest.raises(ValueError):
        conv.window(image, weights, 26, 0)


def test_an_edge_filter_finds_the_edge_of_a_square():
    image = np.zeros((28, 28), np.uint8)
    image[10:20, 10:20] = 255
    top = conv.feature_map(image, conv.FILTERS["top"].weights)
    assert top.max() == pytest.approx(3.0) and np.unravel_index(top.argmax(), top.shape)[0] == 8  # paper, then ink
    assert conv.feature_map(image, conv.FILTERS["blur"].weights).max() == pytest.approx(1.0)


def test_pooling_halves_the_map_and_the_chain_ends_in_one_number(sample):
    image = sample.train.images[1].numpy()
    fmap = conv.feature_map(image, conv.FILTERS["sharpen"].weights)
    pooled = conv.max_pool(fmap)
    assert pooled.shape == (13, 13)
    assert pooled[3, 4] == fmap[6:8, 8:10].max()
    stages = conv.reused_chain(image, conv.FILTERS["top"].weights)
    assert [s.values.shape for s in stages] == [(28, 28), (26, 26), (13, 13), (11, 11), (5, 5), (1, 1)]
    assert stages[-1].values[0, 0] == pytest.approx(stages[-2].values.mean(), abs=1e-6)


@pytest.mark.parametrize(
    "text, ok", [("1 0 -1 2 0 -2 1 0 -1", True), ("1,0,-1;2,0,-2;1,0,-1", True), ("1 2 3", False), ("a b", False)]
)
def test_typed_filters(text, ok):
    if ok:
        assert conv.parse_filter(text) == ((1, 0, -1), (2, 0, -2), (1, 0, -1))
    else:
        with pytest.raises(ValueError):
            conv.parse_filter(text)


def test_training_can_score_its_own_images_each_epoch(sample, one_cpu_thread):
    curves = of.Curves()
    result = train(of.overfit_config(epochs=12), sample.train, sample.test, on_event=curves.add, score_train=True)
    assert curves.epochs == list(range(13)) and curves.done
    assert curves.fit[-1] == 1.0  # 500 images learned by heart
    assert curves.gap > 0.05 and curves.first_perfect() is not None
    assert all(e.fit_acc is None for e in train(of.overfit_config(epochs=1), sample.train).history)
    assert result.n_train == of.TRAIN_SIZE


def test_dropout_switches_off_about_half_the_neurons_only_while_training():
    torch.manual_seed(0)
    model = build_model("mlp-256-dropout").eval()
    x = torch.randn(1, 1, 28, 28)
    on = of.first_hidden(model, x, training=False)
    assert on.off == 0 and not on.dropped.any() and not model.dropout.training
    a, b = of.first_hidden(model, x, training=True, seed=1), of.first_hidden(model, x, training=True, seed=2)
    assert 90 < a.off < 166 and not np.array_equal(a.values, b.values)
    kept = ~a.dropped
    assert (a.values[a.dropped] == 0).all()
    np.testing.assert_allclose(a.values[kept], 2 * on.values[kept], rtol=1e-5)  # the rest are doubled
    assert not model.dropout.training


# --- the pages -------------------------------------------------------------------------------------------


def _step(at, lesson: str, n: int, answer: int | None = None):
    at.query_params["lesson"], at.query_params["step"] = lesson, str(n)
    at.run()
    guess = [r for r in at.radio if r.key == f"{lesson}-{n}-guess"]
    if guess:
        assert not at.get("plotly_chart"), "the widget waits for an answer"
        guess[0].set_value(answer if answer is not None else 0).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _figure(at, key: str) -> dict:
    chart = next(c for c in at.get("plotly_chart") if key in c.proto.id)
    return json.loads(chart.proto.spec)


def _z(figure: dict) -> np.ndarray:
    z = figure["data"][0]["z"]
    if isinstance(z, dict):  # a typed array
        import base64

        shape = [int(n) for n in str(z["shape"]).split(",")]
        return np.frombuffer(base64.b64decode(z["bdata"]), dtype=z["dtype"]).reshape(shape)
    return np.array(z, dtype=float)


def test_convolution_lesson_on_your_own_drawing(app, sample, models_with_checkpoint):
    digit = sample.test.images[3].numpy()
    app.session_state["inside_drawing"] = as_drawing(digit)  # what Draw keeps of the learner's drawing
    at = open_page(app, "learn")
    image28 = to_mnist(as_drawing(digit))
    x = torch.from_numpy(image28).float()[None, None] / 255

    _step(at, "convolution", 1, answer=1)
    assert any("26 x 26" in s.value for s in at.success)
    at.selectbox(key="convolution-1-filter").set_value("right").run()
    expected = F.conv2d(x, torch.tensor(conv.FILTERS["right"].weights).float()[None, None])[0, 0].numpy()
    np.testing.assert_allclose(_z(_figure(at, "convolution-1-map")), expected, atol=2e-3)
    assert "26 x 26" in _figure(at, "convolution-1-map")["layout"]["title"]["text"]

    _step(at, "convolution", 2)  # no question: the filter picked on step 1 is carried
    assert at.selectbox(key="convolution-2-filter").value == "right"
    at.slider(key="convolution-2-row").set_value(7).run()
    at.slider(key="convolution-2-col").set_value(12).run()
    line = next(m.value for m in at.markdown if m.value.startswith("Ink × weight"))
    assert f"**{expected[7, 12]:.3f}**" in line and "row 7, column 12" in line

    at.selectbox(key="convolution-2-filter").set_value(conv.CUSTOM).run()
    at.text_input(key="convolution-2-custom").set_value("0 0 0 0 1 0 0 0 0").run()  # the identity
    np.testing.assert_allclose(_z(_figure(at, "convolution-2-map")), x[0, 0, 1:27, 1:27].numpy(), atol=2e-3)

    _step(at, "convolution", 3, answer=1)
    pooled = _z(_figure(at, "convolution-3-pooled"))
    assert pooled.shape == (13, 13)
    np.testing.assert_allclose(pooled, F.max_pool2d(x[:, :, 1:27, 1:27], 2)[0, 0].numpy(), atol=2e-3)

    _step(at, "convolution", 4, answer=0)
    assert _z(_figure(at, "convolution-4-stage-5")).shape == (1, 1)
    assert any("one number" in m.value for m in at.markdown)

    _step(at, "convolution", 5)
    assert at.selectbox(key="convolution-5-model").value == models_with_checkpoint.iterdir().__next__().name
    assert len(at.image) == 2 and all(img.captions for img in at.image)  # filters, then their maps of the drawing
    assert any(link.proto.page == "train" for link in at.page_link)  # the ending: train tutorial 003's CNN


def test_convolution_without_a_drawing_or_a_model(app, sample):
    at = open_page(app, "learn")
    _step(at, "convolution", 1, answer=0)
    assert at.radio(key="convolution-1-input").value == "An MNIST digit"
    at.number_input(key="convolution-1-index").set_value(5).run()
    x = sample.train.images[5].float()[None, None] / 255
    expected = F.conv2d(x, torch.tensor(conv.FILTERS["top"].weights).float()[None, None])[0, 0].numpy()
    np.testing.assert_allclose(_z(_figure(at, "convolution-1-map")), expected, atol=2e-3)
    at.radio(key="convolution-1-input").set_value("Draw one here").run()  # the canvas, still empty
    assert not at.exception and any("Draw a digit in the black square" in c.value for c in at.caption)
    _step(at, "convolution", 5)
    assert any("no saved convolutional network" in i.value for i in at.info)
    [to_train] = [link for link in at.page_link if link.proto.page == "train"]  # the lesson's ending: tutorial 003
    assert to_train.proto.query_string == "recipe=tutorial-cnn-small"


def test_overfitting_lesson_trains_with_and_without_dropout(app):
    at = open_page(app, "learn")
    _step(at, "overfitting", 1, answer=0)
    at.button(key="overfitting-1-train").click().run(timeout=180)
    assert not at.exception
    line = next(m.value for m in at.markdown if "points apart" in m.value)
    assert "100% on its training images" in line
    figure = _figure(at, "overfitting-1-chart")
    assert len(figure["data"]) == 2 and len(figure["data"][0]["x"]) == of.BASE.epochs + 1

    _step(at, "overfitting", 2, answer=1)
    before = _z(_figure(at, "overfitting-2-train"))
    testing = _z(_figure(at, "overfitting-2-test"))
    assert 90 < np.isnan(before).sum() < 166 and not np.isnan(testing).any()  # switched off only while training
    at.button(key="overfitting-2-again").click().run()
    assert not np.array_equal(np.isnan(before), np.isnan(_z(_figure(at, "overfitting-2-train"))))

    _step(at, "overfitting", 3, answer=0)
    at.button(key="overfitting-3-train").click().run(timeout=240)
    assert not at.exception
    assert len(_figure(at, "overfitting-3-chart")["data"]) == 4  # train and held-out, with and without dropout
    lines = [m.value for m in at.markdown if "points apart" in m.value]
    assert len(lines) == 2 and lines[0].startswith("- Without dropout") and lines[1].startswith("- With dropout")
    assert any("dropout changed the score" in m.value for m in at.markdown)

    _step(at, "overfitting", 4, answer=1)
    at.button(key="overfitting-4-train").click().run(timeout=240)
    assert len([m for m in at.markdown if "points apart" in m.value]) == 2
    assert any(link.proto.page == "train" for link in at.page_link)


def test_testing_lesson_trains_tests_saves_and_finds_the_model(app, models_dir):
    at = open_page(app, "learn")
    _step(at, "testing", 2, answer=1)
    assert any("train one" in i.value for i in at.info)  # nothing to test yet: step 1 first

    _step(at, "testing", 1)
    at.button(key="testing-1-train").click().run(timeout=180)
    assert any("Trained in" in s.value for s in at.success)

    _step(at, "testing", 2, answer=1)
    trained, tested = (float(m.value.rstrip("%")) for m in at.metric[:2])
    assert trained > tested > 80  # its own images read better than new ones

    _step(at, "testing", 3)
    wrong = next(m.value for m in at.markdown if "test images wrong" in m.value)
    assert 0 < int(wrong.split("**")[1].replace(",", "")) < 200
    assert len(at.image) == 8 and all("read as" in img.captions[0] for img in at.image)

    _step(at, "testing", 4)
    assert not list_checkpoints(models_dir)
    at.text_input(key="testing-4-name").set_value("Lesson model").run()
    at.button(key="testing-4-save").click().run()
    [saved] = list_checkpoints(models_dir)
    assert saved.name == "Lesson model" and saved.record.owner is not None and saved.record.owner.id
    assert saved.record.architecture == "mlp-128-64" and saved.accuracy == pytest.approx(tested / 100, abs=1e-3)

    _step(at, "testing", 5)
    assert at.selectbox(key="testing-5-model").value == saved.run_id
    assert {"evaluate", "draw"} <= {link.proto.page for link in at.page_link}
    at.switch_page("app_pages/evaluate.py")
    at.run()
    assert at.selectbox(key="eval_model").value == saved.run_id  # Evaluate opens on the model just saved
    at.switch_page("app_pages/draw.py")
    at.run()
    assert at.selectbox(key="draw_model").value == saved.run_id


def test_testing_lesson_with_a_saved_model(app, models_with_checkpoint):
    at = open_page(app, "learn")
    _step(at, "testing", 1)
    at.radio(key="testing-1-way").set_value("Use a saved model").run()
    assert any("Picked" in s.value for s in at.success)
    _step(at, "testing", 2, answer=1)
    assert float(at.metric[1].value.rstrip("%")) > 90
    _step(at, "testing", 4)
    assert any("saved already" in s.value for s in at.success)
    assert len(list_checkpoints(models_with_checkpoint)) == 1  # not saved twice
