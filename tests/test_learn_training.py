"""Learn's lessons on training (gradients, activations, batches) under AppTest, step by step, and the engine's
one-step-at-a-time trainer and ReLU helpers on real MNIST."""

from __future__ import annotations

import copy
import re

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from conftest import open_page
from mnist_core.learning.models import build_model
from mnist_core.lessons.activations import hidden_values, merged_layer
from mnist_core.lessons.stepper import Stepper, diverged, diverged_at
from ui.learn.lessons.gradients import step_config as config  # the lesson's own runs

SLOW = 180  # seconds an AppTest run that trains may take on a busy machine


# The engine: Stepper and the ReLU helpers


def test_the_gradient_is_torchs_own_on_that_batch(sample, one_cpu_thread):
    stepper = Stepper(config(), sample.train)
    assert stepper.grad is None, "no backward() has run yet"
    model = copy.deepcopy(stepper.model)
    result = stepper.step()
    # The batch as the learner sees it, normalised here by hand, through the weights as they were before the step.
    x = ((torch.from_numpy(result.images).float() / 255 - 0.1307) / 0.3081).reshape(-1, 784)
    loss = F.cross_entropy(model.out(x), torch.from_numpy(result.labels))
    (grad,) = torch.autograd.grad(loss, model.out.weight)
    assert result.loss == pytest.approx(loss.item(), rel=1e-5)
    np.testing.assert_allclose(result.grad, grad.numpy(), rtol=1e-4, atol=1e-7)
    assert result.grad.shape == (10, 784) and np.abs(result.grad).max() > 0
    assert result.images.shape == (16, 28, 28) and result.images.dtype == np.uint8


def test_plain_sgd_changes_each_weight_by_minus_lr_times_its_gradient(sample, one_cpu_thread):
    stepper = Stepper(config(lr=0.3), sample.train)
    for _ in range(3):
        result = stepper.step()
        np.testing.assert_allclose(result.change, -0.3 * result.grad, atol=1e-6)
        np.testing.assert_array_equal(result.after, stepper.model.out.weight.detach().numpy())
    assert result.step == 3 and len(stepper.losses) == 3


def test_divergence_is_detected_by_the_stated_rule(sample, one_cpu_thread):
    assert diverged_at([2.3, 2.0, 1.5]) is None
    assert diverged_at([2.3, 5.0, 23.1, 1.0]) == 3, "past 10 times the first loss"
    assert diverged_at([2.3, float("nan")]) == 2 and diverged_at([2.3, float("inf")]) == 2
    calm, wild = Stepper(config(lr=0.01), sample.train), Stepper(config(lr=10.0), sample.train)
    calm.run(30)
    wild.run(30)
    assert not calm.diverged and calm.losses[-1] < calm.losses[0]
    assert wild.diverged and diverged(wild.losses) and wild.step().diverged, "it stays diverged"


def test_steppers_with_one_seed_start_alike_and_read_the_same_batches(sample, one_cpu_thread):
    sgd, adam = Stepper(config(), sample.train), Stepper(config(optimizer="adam", lr=1e-3), sample.train)
    torch.testing.assert_close(sgd.model.out.weight, adam.model.out.weight)
    for _ in range(130):  # past the end of the first epoch of 125 batches: the reshuffle is shared too
        a, b = sgd.step(), adam.step()
        np.testing.assert_array_equal(a.labels, b.labels)
    assert sgd.epoch == 2 and sgd.steps_per_epoch == 125


def test_a_new_learning_rate_applies_from_the_next_step(sample, one_cpu_thread):
    stepper = Stepper(config(lr=0.01), sample.train)
    stepper.step()
    stepper.set_lr(1.0)
    result = stepper.step()
    assert result.lr == 1.0
    np.testing.assert_allclose(result.change, -1.0 * result.grad, atol=1e-6)


def test_relu_zeroes_the_negative_hidden_numbers_and_no_relu_merges_into_one_layer(sample):
    x = ((sample.train.images[:5].float() / 255 - 0.1307) / 0.3081).unsqueeze(1)
    torch.manual_seed(0)
    with_relu = build_model("mlp-64")
    before, after = hidden_values(with_relu, x)
    torch.testing.assert_close(after, before.clamp(min=0))
    assert 0 < int((after == 0).sum()) < after.numel()
    with pytest.raises(ValueError):
        merged_layer(with_relu)
    torch.manual_seed(0)
    plain = build_model("mlp-64-no-relu")
    weight, bias = merged_layer(plain)
    assert weight.shape == (10, 784)
    with torch.no_grad():
        torch.testing.assert_close(x.flatten(1) @ weight.T + bias, plain(x), atol=1e-5, rtol=1e-5)


# The lessons, walked step by step as a learner does


def open_step(app, slug: str, n: int):
    app.query_params["lesson"], app.query_params["step"] = slug, str(n)
    return open_page(app, "learn")


def answer(at, key: str, choice: int):
    """Pick an answer to the step's question; before that, its widget is not drawn."""
    assert "Pick an answer first" in texts(at.caption)
    at.radio(key=f"{key}-guess").set_value(choice).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def next_step(at):
    [button] = [b for b in at.button if b.label == "Next step"]
    button.click().run()
    assert not at.exception, [e.value for e in at.exception]


def click(at, key: str, timeout: float = 60):
    at.button(key=key).click().run(timeout=timeout)
    assert not at.exception, [e.value for e in at.exception]


def texts(elements) -> str:
    return " ".join(str(e.value) for e in elements)


def charts(at) -> list[dict]:
    import json

    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def captions(at) -> str:
    return " ".join(c for img in at.image for c in (img.captions or []) if c)


def test_the_gradients_lesson_step_by_step(app):
    at = open_step(app, "gradients", 1)
    answer(at, "gradients-1", 1)
    assert "Right." in texts(at.success)
    assert "model[0].weight.grad  ->  None" in texts(at.code)
    click(at, "gradients-1-backward")
    assert "128 x 784 numbers" in texts(at.markdown), "002's first layer: 784 -> 128"
    assert "on a batch of 64 digits" in texts(at.markdown)
    assert re.search(r"\d\.\d{4}", texts(at.code)), "the gradient's real numbers are printed"
    assert "first 8 of the layer's 128 units" in captions(at)

    next_step(at)
    answer(at, "gradients-2", 0)
    assert "Not quite" in texts(at.info)
    click(at, "gradients-2-step")
    table = at.dataframe[0].value
    before, grad, after = (table[c].to_numpy() for c in ("weight before", "gradient", "weight after"))
    np.testing.assert_allclose(after, before - 0.1 * grad, atol=1e-6)
    assert np.all(np.abs(grad) > 0) and np.all(np.sign(after - before) == -np.sign(grad))

    next_step(at)  # one step at a time: no question, the stepper at once
    assert "Press Step" in texts(at.caption)
    for n in (1, 2, 3):
        click(at, "gradients-3-step")
        assert at.metric[0].value == str(n)
    loss = float(at.metric[1].value)
    assert 0.1 < loss < 5, "a plausible cross-entropy of 10 digits"
    assert not at.error, "a learning rate of 0.01 does not diverge"
    assert "This step's batch; its labels:" in captions(at)
    assert len(re.findall(r"\b\d\b", captions(at).split("labels:")[1].split("The gradient")[0])) == 16
    [losses] = [c for c in charts(at) if "every step so far" in c["layout"]["title"]["text"]]
    assert len(losses["data"][0]["y"]) == 3 and losses["data"][0]["y"][-1] == pytest.approx(loss, abs=1e-3)
    at.select_slider(key="gradients-3-lr").set_value(10.0).run()
    click(at, "gradients-3-ten")
    assert at.metric[0].value == "13" and at.metric[2].value == "10"
    assert "Diverged at step" in texts(at.error), "the page says the run diverged"
    click(at, "gradients-3-reset")
    assert not at.metric and not at.error

    next_step(at)
    answer(at, "gradients-4", 2)
    click(at, "gradients-4-run")
    assert "Learning rate 0.01: the loss went from" in texts(at.success)
    assert "Learning rate 1: diverged at step" in texts(at.error)

    next_step(at)
    answer(at, "gradients-5", 0)
    click(at, "gradients-5-run")
    table = at.dataframe[0].value
    last = dict(zip(table["optimizer"], table["mean loss of the last 10 steps"]))
    assert last["SGD"] > last["SGD with momentum 0.9"] and last["SGD"] > last["Adam"]
    assert len(charts(at)[0]["data"]) == 3 and len(charts(at)[0]["data"][0]["y"]) == 60
    assert any("Train this tutorial's network" in str(p.proto.label) for p in at.get("page_link"))


def test_the_activations_lesson_step_by_step(app):
    at = open_step(app, "activations", 1)
    answer(at, "activations-1", 1)
    at.slider(key="activations-1-x").set_value(-3.0).run()
    assert at.metric[0].value == "0"
    at.slider(key="activations-1-x").set_value(2.5).run()
    assert at.metric[0].value == "2.5"

    next_step(at)
    answer(at, "activations-2", 1)
    zeros, rest = map(
        int, re.search(r"ReLU set (\d+) of the 64 numbers to 0 and passed the other (\d+)", texts(at.caption)).groups()
    )
    assert zeros + rest == 64 and 8 < zeros < 56
    bars = charts(at)[0]["data"]
    assert [min(v, 0) for v in bars[1]["y"]] == [0] * 64 and bars[1]["y"] == [max(v, 0) for v in bars[0]["y"]]

    next_step(at)
    answer(at, "activations-3", 1)
    table = at.dataframe[0].value
    np.testing.assert_allclose(table.iloc[:, 1], table.iloc[:, 2], atol=1e-4)
    assert table.iloc[:, 1].abs().max() > 0.01

    next_step(at)
    answer(at, "activations-4", 0)
    click(at, "activations-4-train", SLOW)
    [fig] = charts(at)
    assert [t["name"] for t in fig["data"]] == ["with ReLU", "without ReLU"]
    assert all(len(t["y"]) == 10 for t in fig["data"]), "after each of 10 epochs"
    relu, plain = (float(m.value.rstrip("%")) for m in at.metric)
    assert relu > plain > 70, "the ReLU network wins on held-out images"
    assert fig["data"][0]["y"][-1] == pytest.approx(relu, abs=0.05)


def test_the_batches_lesson_step_by_step(app):
    at = open_step(app, "batches", 1)
    answer(at, "batches-1", 1)
    assert at.metric[0].value == "63"  # 2,000 / 32, rounded up
    assert "the last batch holds 16" in texts(at.markdown)
    at.select_slider(key="batches-1-size").set_value(8).run()
    assert at.metric[0].value == "250"
    assert "The first batch: 8 of its 8 images" in captions(at)

    next_step(at)
    answer(at, "batches-2", 1)
    assert captions(at).count("2,000 images in all, 2,000 different") == 3
    firsts = [img.proto.imgs[0].url for img in at.image]
    assert len(set(firsts)) == 3, "each epoch starts with different images"

    next_step(at)
    answer(at, "batches-3", 0)
    click(at, "batches-3-train", SLOW)
    table = at.dataframe[0].value
    assert list(table["steps"]) == [1250, 40], "5 epochs of 2,000 images in batches of 8 and of 256"
    assert all(s > 0 for s in table["seconds"])
    fig = charts(at)[0]
    assert fig["layout"]["xaxis"]["title"]["text"] == "epoch" and len(fig["data"]) == 2
    at.radio(key="batches-3-x").set_value("seconds").run()
    at.radio(key="batches-3-y").set_value("loss").run()
    fig = charts(at)[0]
    assert fig["layout"]["xaxis"]["title"]["text"] == "seconds of training"
    assert fig["layout"]["title"]["text"] == "Held-out loss"
    assert fig["data"][0]["x"][-1] == pytest.approx(table["seconds"][0], abs=0.01)

    next_step(at)
    answer(at, "batches-4", 2)
    click(at, "batches-4-run", SLOW)
    speeds = charts(at)[0]["data"][0]["y"]
    assert len(speeds) == 4 and speeds[-1] > speeds[0], "batches of 512 go through images faster than batches of 8"
    assert "batches of 8: 250 steps" in texts(at.caption)
