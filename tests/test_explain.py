"""The Inside page's engine on real digits: preprocessing steps, layer outputs for every architecture, attributions
(shape, sign, on the ink), the fooling tweaks, robustness curves, the pictures and the `explain` command."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import torch
from captum.attr import Occlusion
from PIL import Image, ImageFilter

from mnist_core.cli import main
from mnist_core.data.preprocess import to_mnist, to_mnist_steps
from mnist_core.insight import explain as ex
from mnist_core.insight import robustness as rb
from mnist_core.learning.config import TrainConfig
from mnist_core.learning.models import MODELS, build_model
from mnist_core.store.checkpoints import load_checkpoint
from ui import pictures

pytestmark = pytest.mark.usefixtures("one_cpu_thread")


@pytest.fixture(scope="module")
def trained(trained_checkpoint):
    model, ckpt = load_checkpoint(trained_checkpoint)
    return ex.Explainer(model, ckpt.config)


@pytest.fixture(scope="module")
def clear_digits(sample, trained):
    """Test digits the trained model reads right with at least 95% confidence: 'clearly drawn'."""
    images, labels = sample.test.images.numpy(), sample.test.labels.numpy()
    picked = []
    for img, label in zip(images, labels):
        probs = trained.probabilities(img)
        if probs.argmax() == label and probs.max() > 0.95 and label not in [lab for _, lab in picked]:
            picked.append((img, int(label)))
        if len(picked) == 10:
            break
    return picked


def canvas(digit28: np.ndarray, side: int = 168, top: int = 30, left: int = 80) -> np.ndarray:
    """A 280x280 RGBA drawing: the digit enlarged and placed off-centre on black, as the Draw page hands it over."""
    rgba = np.zeros((280, 280, 4), np.uint8)
    rgba[..., 3] = 255
    big = np.asarray(Image.fromarray(digit28).resize((side, side), Image.BILINEAR))
    rgba[top : top + side, left : left + side, :3] = big[..., None]
    return rgba


def test_preprocessing_steps_end_in_what_to_mnist_gives(sample):
    drawing = canvas(sample.test.images[3].numpy())
    steps = to_mnist_steps(drawing)
    assert steps.ink.shape == (280, 280)
    assert steps.crop.shape[0] < 280 and steps.crop.shape[1] < 280, "the crop is cut to the ink"
    assert max(steps.small.shape) == 20, "the longest side is 20 pixels"
    assert np.array_equal(steps.digit28, to_mnist(drawing))


def test_a_blank_drawing_gives_no_digit_and_nothing_to_explain(trained):
    blank = np.zeros((280, 280, 4), np.uint8)
    blank[..., 3] = 255
    inside = trained.look(blank)
    assert inside.image28 is None and inside.digit is None
    assert inside.layers == [] and inside.attributions == []
    assert inside.steps is not None and inside.steps.crop is None


def test_look_inside_a_drawing(trained, clear_digits):
    img, label = clear_digits[7 % len(clear_digits)]
    inside = trained.look(canvas(img))
    assert inside.digit == label
    assert [a.digit for a in inside.attributions][0] == label and len(inside.attributions) == 3
    assert inside.attributions[0].probability == pytest.approx(float(inside.probabilities.max()))
    assert inside.naive28.shape == (28, 28) and inside.naive_probabilities.shape == (10,)
    for a in inside.attributions:
        assert set(a.maps) == set(ex.METHODS)
        assert all(m.shape == (28, 28) and np.isfinite(m).all() for m in a.maps.values())


@pytest.mark.parametrize("method", list(ex.METHODS))
def test_attribution_for_the_answer_sits_on_the_ink_and_pushes_towards_it(trained, clear_digits, method):
    for img, label in clear_digits:
        attribution = trained.attribute(img, [label], method)[0]
        near_ink = np.asarray(Image.fromarray(img).filter(ImageFilter.MaxFilter(5))) > 50  # ink + 2 px
        share = np.abs(attribution)[near_ink].sum() / np.abs(attribution).sum()
        assert share > 0.8, f"{method}: only {share:.0%} of the attribution for a clear {label} lies on or by the ink"
        assert attribution.sum() > 0, f"{method}: the pixels of a clear {label} must push towards {label} on balance"


def test_integrated_gradients_add_up_to_the_score_change(trained, clear_digits):
    """Completeness: the attributions sum to score(image) - score(black image), so positive = pushed towards."""
    img, label = clear_digits[0]
    attribution = trained.attribute(img, [label], "gradients")[0]
    with torch.no_grad():
        score = trained.model(trained.input(img))[0, label] - trained.model(trained.input(np.zeros_like(img)))[0, label]
    assert attribution.sum() == pytest.approx(float(score), rel=0.1)


def test_occlusion_of_several_digits_at_once_matches_captum_one_by_one(trained, clear_digits):
    img, _ = clear_digits[1]
    targets = [3, 8, 5]
    together = trained.attribute(img, targets, "occlusion")
    x = trained.input(img)
    for k, target in enumerate(targets):
        alone = Occlusion(trained.model).attribute(
            x,
            sliding_window_shapes=(1, ex.WINDOW, ex.WINDOW),
            strides=(1, ex.STRIDE, ex.STRIDE),
            baselines=ex._background(trained.config),
            target=target,
        )
        np.testing.assert_allclose(together[k], alone[0, 0].numpy(), atol=1e-4)


def test_covering_the_most_important_patch_lowers_the_score(trained, clear_digits):
    img, label = clear_digits[2]
    attribution = trained.attribute(img, [label], "occlusion")[0]
    y, x = np.unravel_index(attribution.argmax(), attribution.shape)
    covered = ex.tweak(img, ex.Tweak(erase=ex.WINDOW, erase_x=int(x), erase_y=int(y)))
    with torch.no_grad():
        before = trained.model(trained.input(img))[0, label]
        after = trained.model(trained.input(covered))[0, label]
    assert after < before


@pytest.mark.parametrize("name", list(MODELS))
def test_every_architecture_shows_its_layers_filters_and_attributions(name, sample):
    model = build_model(name).eval()
    explainer = ex.Explainer(model, TrainConfig(model=name))
    img = sample.test.images[0].numpy()
    layers = ex.layer_outputs(model, explainer.input(img))
    with torch.no_grad():
        logits = model(explainer.input(img))[0].numpy()
    assert layers[-1].kind == "output"
    np.testing.assert_allclose(layers[-1].values, logits, atol=1e-4)
    hidden = layers[:-1]
    if name == "linear":  # pixels straight to the ten scores: nothing in between to show
        assert hidden == []
        return
    assert hidden and all((layer.values >= 0).all() for layer in hidden), "hidden layers show what the next one gets"
    assert {layer.kind for layer in hidden} <= {"conv", "dense"}
    assert all(len(layer.values) == int(layer.title.split(": ")[1].split()[0]) for layer in hidden)
    for layer in hidden:
        if layer.kind == "conv":
            picture = pictures.feature_maps_picture(layer)
            assert picture.ndim == 3 and picture.dtype == np.uint8
    filters = ex.first_filters(model)
    assert filters.weights.ndim == 3 and pictures.filters_picture(filters).dtype == np.uint8
    inside = explainer.look(image28=img)
    assert len(inside.attributions) == 3 and inside.steps is None
    with torch.no_grad():
        np.testing.assert_allclose(
            explainer.probabilities(img),
            torch.softmax(model(explainer.input(img)), 1)[0],
            atol=1e-4,
            err_msg="the fast copy must answer as the model does",
        )


def test_tweaks_move_turn_thicken_erase_and_speckle():
    bar = np.zeros((28, 28), np.uint8)
    bar[4:24, 13:15] = 255
    assert np.array_equal(ex.tweak(bar, ex.Tweak()), bar)
    moved = ex.tweak(bar, ex.Tweak(shift_x=3, shift_y=-2))
    assert np.array_equal(moved[2:22, 16:18], bar[4:24, 13:15])
    ys, xs = np.nonzero(ex.tweak(bar, ex.Tweak(rotate=30)) > 100)
    assert xs[ys.argmin()] < 13 < xs[ys.argmax()], "a positive turn is anticlockwise: the top leans left"
    assert (ex.tweak(bar, ex.Tweak(thickness=1)) > 0).sum() > (bar > 0).sum()
    assert (ex.tweak(bar, ex.Tweak(scale=0.5)) > 100).sum() < (bar > 100).sum()
    assert (ex.tweak(bar, ex.Tweak(erase=6)) > 0).sum() == (bar > 0).sum() - 12
    noisy = ex.tweak(bar, ex.Tweak(noise=0.3))
    assert (noisy[:, :10] > 0).any() and np.array_equal(noisy, ex.tweak(bar, ex.Tweak(noise=0.3)))


def test_robustness_curves_fall_as_digits_move_and_turn(trained_checkpoint, sample):
    model, ckpt = load_checkpoint(trained_checkpoint)
    seen = []
    result = rb.robustness(model, sample.test, ckpt.config, on_progress=seen.append)
    assert result.images == len(sample.test)
    assert result.shifts == rb.SHIFTS and result.angles == rb.ANGLES
    assert result.shift_accuracy[0] == result.angle_accuracy[0] > 0.9
    assert result.shift_accuracy[-1] < result.shift_accuracy[0] - 0.2, "a 6-pixel shift must hurt a plain CNN"
    assert result.angle_accuracy[-1] < result.angle_accuracy[0] - 0.1, "a 45-degree turn must hurt"
    assert seen == sorted(seen) and seen[-1] == pytest.approx(1.0)
    again = rb.robustness(model, sample.test, ckpt.config)
    np.testing.assert_array_equal(again.shift_accuracy, result.shift_accuracy)


def test_robustness_store_measures_in_the_background_and_keeps_only_the_last_few(trained_checkpoint, sample):
    model, ckpt = load_checkpoint(trained_checkpoint)
    few = sample.test.subset(torch.arange(40))
    store = rb.RobustnessStore(keep=2)
    entries = [store.start(key, model, few, ckpt.config) for key in "abc"]
    assert store.start("a", model, few, ckpt.config) is entries[0], "measured once per key"
    deadline = time.time() + 120
    while not all(e.over for e in entries) and time.time() < deadline:
        time.sleep(0.05)
    assert all(e.result is not None and e.done == pytest.approx(1.0) for e in entries), [e.error for e in entries]
    np.testing.assert_array_equal(
        entries[0].result.shift_accuracy, rb.robustness(model, few, ckpt.config).shift_accuracy
    )
    store.start("d", model, few, ckpt.config)  # three finished ones, keep=2: the least recently used goes
    assert store.get("a") is None and store.get("b") is entries[1] and store.get("c") is entries[2]
    empty = store.start("e", model, few.subset(torch.arange(0)), ckpt.config)
    while not empty.over and time.time() < deadline:
        time.sleep(0.05)
    assert empty.result is None and "no images" in empty.error  # told, not raised in a thread nobody watches
    again = store.start("e", model, sample.test, ckpt.config)
    assert again is not empty, "a failed measurement can be tried again"
    store.close()  # as at the server's exit: it stops after its current batch instead of being killed in torch
    assert again.over and again.result is None and again.error == "the server is shutting down"


def test_heatmap_colours_red_for_towards_and_blue_for_away():
    attribution = np.zeros((28, 28))
    attribution[5, 5], attribution[20, 20] = 1.0, -1.0
    picture = pictures.heatmap(attribution, np.zeros((28, 28), np.uint8), zoom=1)
    assert tuple(picture[5, 5]) == tuple(pictures.RED) and tuple(picture[20, 20]) == tuple(pictures.BLUE)
    assert tuple(picture[0, 0]) == (255, 255, 255)


def test_explain_command_prints_one_json_object_per_image(trained_checkpoint, clear_digits, tmp_path, capsys):
    img, label = clear_digits[3]
    good, blank = tmp_path / "digit.png", tmp_path / "blank.png"
    Image.fromarray(np.kron(img, np.ones((6, 6), np.uint8))).save(good)
    Image.fromarray(np.zeros((60, 60), np.uint8)).save(blank)
    other = (label + 1) % 10
    args = ["explain", "--checkpoint", str(trained_checkpoint), "--target", str(other), str(good), str(blank)]
    assert main(args) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["file"] for line in lines] == [str(good), str(blank)]
    first = lines[0]
    assert first["digit"] == label and first["method"] == "occlusion" and first["target"] == other
    assert np.array(first["image28"]).shape == (28, 28) and np.array(first["attribution"]).shape == (28, 28)
    assert len(first["probabilities"]) == 10 and first["confidence"] == max(first["probabilities"])
    assert [layer["kind"] for layer in first["layers"]][-1] == "output" and first["layers"][-1]["shape"] == [10]
    assert lines[1]["digit"] is None and lines[1]["attribution"] is None


def test_explain_command_refuses_bad_input_in_one_line(trained_checkpoint, tmp_path, capsys):
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    assert main(["explain", "--checkpoint", str(trained_checkpoint), str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "not an image" in err and "\n" not in err
    assert main(["explain", "--checkpoint", str(tmp_path / "missing"), str(bad)]) == 2
    assert capsys.readouterr().err.strip().startswith("error: no checkpoint folder")
